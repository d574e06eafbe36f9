package model

import (
	"context"

	"channelhub/internal/receipt"
	"channelhub/internal/shipment"
)

// ShipmentConnection is a page of shipments; TotalCount runs its query only when asked for.
type ShipmentConnection struct {
	Edges    []ShipmentEdge
	PageInfo PageInfo
	Count    func(ctx context.Context) (int, error)
}

// ShipmentEdge is one shipment in a connection.
type ShipmentEdge struct {
	Node   *shipment.Shipment
	Cursor string
}

// ShipmentSerialConnection is a page of a shipment's units.
type ShipmentSerialConnection struct {
	Edges    []ShipmentSerialEdge
	PageInfo PageInfo
}

// ShipmentSerialEdge is one unit in a connection.
type ShipmentSerialEdge struct {
	Node   *shipment.Unit
	Cursor string
}

// ClaimConnection is a page of claims.
type ClaimConnection struct {
	Edges    []ClaimEdge
	PageInfo PageInfo
}

// ClaimEdge is one claim in a connection.
type ClaimEdge struct {
	Node   *receipt.Claim
	Cursor string
}

// ReceiptPayload is receiptConfirm's answer.
type ReceiptPayload struct {
	Receipt    *receipt.Receipt
	Duplicates []string
	Errors     []ShipmentError
}

package model

import (
	"context"

	"channelhub/internal/transfer"
)

// TransferConnection is a page of transfers; TotalCount runs its query only when asked for.
type TransferConnection struct {
	Edges    []TransferEdge
	PageInfo PageInfo
	Count    func(ctx context.Context) (int, error)
}

// TransferEdge is one transfer in a connection.
type TransferEdge struct {
	Node   *transfer.Transfer
	Cursor string
}

package model

import (
	"context"

	"channelhub/internal/serial"
)

// DiversionConnection is a page of diversions; TotalCount runs its query only when asked for.
type DiversionConnection struct {
	Edges    []DiversionEdge
	PageInfo PageInfo
	Count    func(ctx context.Context) (int, error)
}

// DiversionEdge is one diversion in a connection.
type DiversionEdge struct {
	Node   *serial.Diversion
	Cursor string
}

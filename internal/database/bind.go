package database

import (
	"context"
	"strconv"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/schema"
)

// Binds collects the values of one hot statement. On PostgreSQL each value
// becomes a $n parameter, so the statement's text is the same on every call
// and it is parsed and planned once per connection (QueryCached) instead of
// on every request; on SQLite the values are inlined as bun always does.
type Binds struct {
	pg   bool
	args []any
}

// Binds starts the values of a statement for ScanBound.
func (d *DB) Binds() *Binds { return &Binds{pg: d.IsPostgres()} }

// V stands for one value.
func (b *Binds) V(v any) any {
	if !b.pg {
		return v
	}
	b.args = append(b.args, v)
	return param{n: len(b.args)}
}

// Vs stands for each of args but bun.Safe ones (names, kept in the text).
func (b *Binds) Vs(args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		if _, safe := a.(bun.Safe); safe {
			out[i] = a
		} else {
			out[i] = b.V(a)
		}
	}
	return out
}

// UUIDs stands for the list inside IN (?).
func (b *Binds) UUIDs(ids []uuid.UUID) any {
	if !b.pg {
		return bun.List(ids)
	}
	b.args = append(b.args, ids)
	return param{n: len(b.args), list: "uuid"}
}

type param struct {
	n    int
	list string // element type: the parameter is an array, unnested for IN
}

func (p param) AppendQuery(_ schema.QueryGen, b []byte) ([]byte, error) {
	if p.list != "" {
		b = append(b, "SELECT unnest($"...)
		b = strconv.AppendInt(b, int64(p.n), 10)
		return append(append(append(b, "::"...), p.list...), "[])"...), nil
	}
	return strconv.AppendInt(append(b, '$'), int64(p.n), 10), nil
}

// boundQuery is a bun query built with a Binds' values.
type boundQuery interface {
	String() string
	Scan(ctx context.Context, dest ...any) error
}

// ScanBound runs q, whose values b holds, and scans its rows into dest (the
// query's model when dest is empty, as bun's Scan does).
func (d *DB) ScanBound(ctx context.Context, q boundQuery, b *Binds, dest ...any) error {
	if !b.pg {
		return q.Scan(ctx, dest...)
	}
	rows, err := d.QueryCached(ctx, q.String(), b.args...)
	if err != nil {
		return err
	}
	if m, ok := q.(interface{ GetModel() bun.Model }); ok && len(dest) == 0 && m.GetModel() != nil {
		defer rows.Close()
		if _, err := m.GetModel().ScanRows(ctx, rows); err != nil {
			return err
		}
		return rows.Err()
	}
	return d.ScanRows(ctx, rows, dest...)
}

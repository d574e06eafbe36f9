// Package page holds keyset paging: page sizes and opaque cursors.
package page

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// Page size limits shared by every connection.
const (
	DefaultSize = 50
	MaxSize     = 100
)

// ErrInvalid means a page size or cursor the client sent cannot be used.
var ErrInvalid = errors.New("page: invalid page request")

// Request is one page: at most First items after the cursor After.
type Request struct {
	First int
	After string
}

// Size returns the validated page size.
func (r Request) Size() (int, error) {
	switch {
	case r.First == 0:
		return DefaultSize, nil
	case r.First < 1 || r.First > MaxSize:
		return 0, ErrInvalid
	}
	return r.First, nil
}

// Cursor encodes the sort key of a row as an opaque string.
func Cursor(key ...string) string {
	b, _ := json.Marshal(key)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Decode returns the n key parts of cursor c; "" decodes to nil.
func Decode(c string, n int) ([]string, error) {
	if c == "" {
		return nil, nil
	}
	if len(c) > 512 {
		return nil, ErrInvalid
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return nil, ErrInvalid
	}
	var key []string
	if err := json.Unmarshal(b, &key); err != nil || len(key) != n {
		return nil, ErrInvalid
	}
	return key, nil
}

// ByName runs q for one page in (name, id) order after the page's cursor.
// alias is the table alias of q's model, a trusted constant.
func ByName[T any](ctx context.Context, q *bun.SelectQuery, alias string, pr Request) ([]T, bool, error) {
	size, err := pr.Size()
	if err != nil {
		return nil, false, err
	}
	key, err := Decode(pr.After, 2)
	if err != nil {
		return nil, false, err
	}
	if key != nil {
		if _, err := uuid.Parse(key[1]); err != nil {
			return nil, false, ErrInvalid
		}
	}
	a := bun.Safe(alias)
	var rows []T
	q = q.Model(&rows).OrderExpr("?.name ASC, ?.id ASC", a, a).Limit(int64(size + 1))
	if key != nil {
		q = q.Where("(?.name > ? OR (?.name = ? AND ?.id > ?))", a, key[0], a, key[0], a, key[1])
	}
	if err := q.Scan(ctx); err != nil {
		return nil, false, err
	}
	if len(rows) > size {
		return rows[:size], true, nil
	}
	return rows, false, nil
}

// Newest runs q for one page in descending id order (UUIDv7 ids: newest
// first) after the page's cursor. alias is the table alias of q's model, a
// trusted constant; q may set the model's columns and joins.
func Newest[T any](ctx context.Context, q *bun.SelectQuery, alias string, pr Request) ([]T, bool, error) {
	size, err := pr.Size()
	if err != nil {
		return nil, false, err
	}
	key, err := Decode(pr.After, 1)
	if err != nil {
		return nil, false, err
	}
	a := bun.Safe(alias)
	var rows []T
	q = q.Model(&rows).OrderExpr("?.id DESC", a).Limit(int64(size + 1))
	if key != nil {
		after, err := uuid.Parse(key[0])
		if err != nil {
			return nil, false, ErrInvalid
		}
		q = q.Where("?.id < ?", a, after)
	}
	if err := q.Scan(ctx); err != nil {
		return nil, false, err
	}
	if len(rows) > size {
		return rows[:size], true, nil
	}
	return rows, false, nil
}

// MaxSearch caps a search term, in characters.
const MaxSearch = 64

// ErrSearchTooLong refuses a search term over MaxSearch characters.
var ErrSearchTooLong = errors.New("page: search term too long")

// Search limits q to rows where any of cols (trusted SQL expressions) contains
// term, case-insensitively; LIKE's wildcards in term match only themselves.
func Search(q *bun.SelectQuery, term string, cols ...string) (*bun.SelectQuery, error) {
	if term == "" {
		return q, nil
	}
	if utf8.RuneCountInString(term) > MaxSearch {
		return nil, ErrSearchTooLong
	}
	like := "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(strings.ToLower(term)) + "%"
	return q.WhereGroup(" AND ", func(q *bun.SelectQuery) *bun.SelectQuery {
		for _, c := range cols {
			q = q.WhereOr("LOWER(?) LIKE ? ESCAPE '\\'", bun.Safe(c), like)
		}
		return q
	}), nil
}

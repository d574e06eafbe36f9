// Package page holds keyset paging: page sizes and opaque cursors.
package page

import (
	"encoding/base64"
	"encoding/json"
	"errors"
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

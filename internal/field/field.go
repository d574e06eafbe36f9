// Package field ties a domain's business error to the input field that caused
// it, so the graph layer can answer each error with its field path.
package field

import "strings"

// Error is err caused by the input at Path, e.g. ["lines", "3", "qty"].
type Error struct {
	Path []string
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() + " (" + strings.Join(e.Path, ".") + ")" }

// Unwrap lets errors.Is find the domain's sentinel.
func (e *Error) Unwrap() error { return e.Err }

// FieldPath is the input field at fault.
func (e *Error) FieldPath() []string { return e.Path }

// Err wraps err with the field path.
func Err(err error, path ...string) error { return &Error{Path: path, Err: err} }

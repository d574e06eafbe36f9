// Package requestid carries the id of the HTTP request through a context, for logs and the audit trail.
package requestid

import "context"

type key struct{}

// With returns ctx carrying id.
func With(ctx context.Context, id string) context.Context { return context.WithValue(ctx, key{}, id) }

// From returns the request id in ctx, or "".
func From(ctx context.Context) string { s, _ := ctx.Value(key{}).(string); return s }

// Package migrations holds the ordered SQL migrations, one set for both dialects.
// Files are text/template: {{.UUID}}, {{.Time}}, {{.Float}} and {{.Dialect}} pick
// the column types of the database at hand.
package migrations

import "embed"

//go:embed *.sql
var FS embed.FS

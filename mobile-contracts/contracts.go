// Package contracts holds every GraphQL operation the apps send, one folder
// per app. The tests validate them against the live schema, so a schema change
// that breaks a released app fails CI.
package contracts

import "embed"

// Documents are the apps' operation documents.
//
//go:embed */*.graphql
var Documents embed.FS

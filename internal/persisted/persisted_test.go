package persisted_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"

	"channelhub/internal/persisted"
)

func canonical(t *testing.T, src, op string) string {
	t.Helper()
	doc, err := parser.ParseQuery(&ast.Source{Input: src})
	require.NoError(t, err)
	return persisted.Canonical(doc, doc.Operations.ForName(op))
}

// Layout, comments, fragment order and unused definitions do not change the
// canonical text; a different selection does.
func TestCanonical(t *testing.T) {
	t.Parallel()
	a := canonical(t, `
# the order screen
query O($id: ID!) { order(id: $id) { ...B ...A } }
fragment A on Order { id }
fragment B on Order { number ...A }
fragment Unused on Order { status }
query Other { viewer { app } }`, "O")
	b := canonical(t, `fragment B on Order {
  number
  ...A
}
query O($id: ID!) {
  order(id: $id) { ...B, ...A }
}
fragment A on Order { id }`, "O")
	require.Equal(t, a, b)
	require.Equal(t, "query O ($id: ID!) {\n  order(id: $id) {\n    ... B\n    ... A\n  }\n}\nfragment A on Order {\n  id\n}\nfragment B on Order {\n  number\n  ... A\n}\n", a)
	require.NotEqual(t, a, canonical(t, `query O($id: ID!) { order(id: $id) { ...B } } fragment A on Order { id } fragment B on Order { number ...A status }`, "O"))
}

func TestManifest(t *testing.T) {
	t.Parallel()
	body := "query A {\n  viewer {\n    app\n  }\n}\n"
	m := &persisted.Manifest{Operations: []persisted.Operation{{ID: persisted.Hash(body), Name: "A", Type: "query", Body: body}}}
	data, err := m.Marshal()
	require.NoError(t, err)
	got, err := persisted.ParseManifest(data)
	require.NoError(t, err)
	b, ok := got.Body(persisted.Hash(body))
	require.True(t, ok)
	require.Equal(t, body, b)
	require.Equal(t, 1, got.Len())

	_, err = persisted.ParseManifest([]byte(`{"format":"apollo-persisted-query-manifest","version":1,"operations":[{"id":"00","name":"A","type":"query","body":"query A { x }"}]}`))
	require.ErrorContains(t, err, "operation A: id is not the sha256 of its body")
	_, err = persisted.ParseManifest([]byte(`{"format":"other","version":1}`))
	require.Error(t, err)
}

func TestParseMode(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]persisted.Mode{"off": persisted.Off, " Allow ": persisted.Allow, "ENFORCE": persisted.Enforce} {
		got, err := persisted.ParseMode(in)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	_, err := persisted.ParseMode("strict")
	require.Error(t, err)
}

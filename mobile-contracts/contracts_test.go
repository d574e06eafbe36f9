package contracts_test

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"

	"channelhub/graph"
	"channelhub/internal/persisted"
	contracts "channelhub/mobile-contracts"
)

var (
	update         = flag.Bool("update", false, "rewrite schema.graphql and manifest.json from the live schema and the documents")
	acceptBreaking = flag.Bool("accept-breaking", false, "with -update, write a snapshot even though the change breaks released apps")
)

func live() *ast.Schema { return graph.NewExecutableSchema(graph.Config{}).Schema() }

// Every document of every app parses and validates against the executable
// schema; a failure names the app's file and the operation.
func TestDocumentsValidateAgainstTheSchema(t *testing.T) {
	t.Parallel()
	ops, probs := contracts.Check(live())
	for _, p := range probs {
		t.Error(p)
	}
	apps := map[string]int{}
	for _, op := range ops {
		apps[op.App]++
	}
	for _, app := range contracts.Apps {
		require.Positivef(t, apps[app], "no operations for the %s app", app)
	}
}

// The snapshot is what the live schema prints. -update rewrites it, but
// refuses a breaking change unless -accept-breaking says so on purpose.
func TestSchemaSnapshot(t *testing.T) {
	t.Parallel()
	got := contracts.PrintSchema(live())
	if *update {
		if old, err := loadSnapshot(); err == nil && !*acceptBreaking {
			require.Empty(t, contracts.Breaking(old, live()), "refusing to record a breaking change; rerun with -accept-breaking only if no released app uses it")
		}
		require.NoError(t, os.WriteFile("schema.graphql", []byte(got), 0o644))
	}
	want, err := os.ReadFile("schema.graphql")
	require.NoError(t, err)
	if d := firstDiff(string(want), got); d != "" {
		t.Fatalf("the schema changed: run go test ./mobile-contracts -update and commit schema.graphql\n%s", d)
	}
}

// No change since the snapshot breaks a released app.
func TestNoBreakingChange(t *testing.T) {
	t.Parallel()
	old, err := loadSnapshot()
	require.NoError(t, err)
	for _, b := range contracts.Breaking(old, live()) {
		t.Errorf("breaking change against mobile-contracts/schema.graphql: %s", b)
	}
}

// The manifest is generated from the documents.
func TestManifestUpToDate(t *testing.T) {
	t.Parallel()
	ops, probs := contracts.Check(live())
	require.Empty(t, probs)
	got, err := contracts.NewManifest(ops).Marshal()
	require.NoError(t, err)
	if *update {
		if old, err := contracts.Manifest(); err == nil && !*acceptBreaking {
			require.Empty(t, changedOperations(old, contracts.NewManifest(ops)), "released app builds send these operations' old hashes: add a new operation instead, or rerun with -accept-breaking if they were never released")
		}
		require.NoError(t, os.WriteFile("manifest.json", got, 0o644))
	}
	want, err := os.ReadFile("manifest.json")
	require.NoError(t, err)
	if d := firstDiff(string(want), string(got)); d != "" {
		t.Fatalf("the documents changed: run go test ./mobile-contracts -update and commit manifest.json\n%s", d)
	}
	m, err := contracts.Manifest()
	require.NoError(t, err)
	require.Equal(t, len(ops), m.Len())
}

// changedOperations names the operations of old whose text changed or that
// are gone in new.
func changedOperations(old, new *persisted.Manifest) []string {
	ids := map[string]string{}
	for _, op := range new.Operations {
		ids[op.Name] = op.ID
	}
	var changed []string
	for _, op := range old.Operations {
		if ids[op.Name] != op.ID {
			changed = append(changed, op.Name)
		}
	}
	return changed
}

func TestChangedOperations(t *testing.T) {
	t.Parallel()
	op := func(name, body string) persisted.Operation {
		return persisted.Operation{ID: persisted.Hash(body), Name: name, Type: "query", Body: body}
	}
	old := &persisted.Manifest{Operations: []persisted.Operation{op("A", "query A { a }"), op("B", "query B { b }"), op("C", "query C { c }")}}
	new := &persisted.Manifest{Operations: []persisted.Operation{op("A", "query A { a }"), op("B", "query B { b x }"), op("D", "query D { d }")}}
	require.Equal(t, []string{"B", "C"}, changedOperations(old, new))
}

// firstDiff shows where two texts part, with a little context; "" if equal.
func firstDiff(want, got string) string {
	if want == got {
		return ""
	}
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	i := 0
	for i < len(w) && i < len(g) && w[i] == g[i] {
		i++
	}
	lines := func(l []string) string { return strings.Join(l[max(0, i-3):min(len(l), i+4)], "\n") }
	return fmt.Sprintf("first difference at line %d\n--- committed\n%s\n+++ live\n%s", i+1, lines(w), lines(g))
}

func loadSnapshot() (*ast.Schema, error) {
	src, err := os.ReadFile("schema.graphql")
	if err != nil {
		return nil, err
	}
	s, gerr := gqlparser.LoadSchema(&ast.Source{Name: "schema.graphql", Input: string(src)})
	if gerr != nil {
		return nil, gerr
	}
	return s, nil
}

// A copy of the live schema, reloaded from its print so it can be changed.
func liveCopy(t *testing.T) *ast.Schema {
	t.Helper()
	s, err := gqlparser.LoadSchema(&ast.Source{Name: "live", Input: contracts.PrintSchema(live())})
	require.NoError(t, err)
	return s
}

// Deleting a field that documents use fails both checks, and the messages
// name the field and every document that reads it.
func TestRemovedFieldNamesTheDocuments(t *testing.T) {
	t.Parallel()
	changed := liveCopy(t)
	order := changed.Types["Order"]
	i := order.Fields.ForName("creditWarning")
	require.NotNil(t, i)
	order.Fields = removeField(order.Fields, "creditWarning")

	require.Contains(t, contracts.Breaking(liveCopy(t), changed), "field Order.creditWarning was removed without being deprecated first")
	_, probs := contracts.Check(changed)
	var msgs []string
	for _, p := range probs {
		msgs = append(msgs, p.String())
	}
	all := strings.Join(msgs, "\n")
	require.Contains(t, all, `distributor/orders.graphql: fragment DistributorOrderCard (used by `)
	require.Contains(t, all, `DistributorOrderSubmitCart`)
	require.Contains(t, all, `salesman/orders.graphql: fragment SalesmanOrderCard`)
	require.Contains(t, all, `store/orders.graphql: fragment StoreOrderDetail (used by StoreOrderSubmit, StoreOrder, StoreOrderCancel): Cannot query field "creditWarning" on type "Order".`)
	require.Len(t, probs, 4, all) // one per fragment, not one per operation using it
	require.Contains(t, all, `Cannot query field "creditWarning" on type "Order"`)
}

// A field used directly in an operation is named with that operation.
func TestRemovedRootFieldNamesTheOperation(t *testing.T) {
	t.Parallel()
	changed := liveCopy(t)
	changed.Query.Fields = removeField(changed.Query.Fields, "favourites")
	_, probs := contracts.Check(changed)
	var got []string
	for _, p := range probs {
		got = append(got, p.String())
	}
	require.ElementsMatch(t, []string{
		`distributor/cart.graphql: operation DistributorFavourites: Cannot query field "favourites" on type "Query".`,
		`store/store.graphql: operation StoreFavourites: Cannot query field "favourites" on type "Query".`,
	}, got)
}

func removeField(l ast.FieldList, name string) ast.FieldList {
	var out ast.FieldList
	for _, f := range l {
		if f.Name != name {
			out = append(out, f)
		}
	}
	return out
}

func TestBreakingRules(t *testing.T) {
	t.Parallel()
	const base = `
type Query { a(x: Int, y: ID!): String!  b: [Int!] old: Int @deprecated(reason: "use a") u: U  i: I }
interface I { id: ID! }
type T implements I { id: ID! }
type S { id: ID! }
union U = T | S
input In { p: Int q: String! gone: Int @deprecated }
enum E { ONE TWO THREE @deprecated }
type Mutation { m(in: In, e: E): Int }
`
	for _, tc := range []struct {
		name, schema string
		want         []string
	}{
		{"same", base, nil},
		{"additions and deprecated removals", `
type Query { a(x: Int, y: ID!, z: Int): String!  b: [Int!] u: U  i: I  c: Int }
interface I { id: ID! }
type T implements I { id: ID! n: Int }
type S { id: ID! }
type V { id: ID! }
union U = T | S | V
input In { p: Int q: String! r: Int s: Int! = 1 }
enum E { ONE TWO FOUR }
type Mutation { m(in: In, e: E): Int }
`, nil},
		{"safe type changes", `
type Query { a(x: Int, y: ID): String!  b: [Int!]! old: Int u: U  i: I }
interface I { id: ID! }
type T implements I { id: ID! }
type S { id: ID! }
union U = T | S
input In { p: Int q: String gone: Int }
enum E { ONE TWO THREE }
type Mutation { m(in: In, e: E): Int }
`, nil},
		{"breaking", `
type Query { a(y: ID!, z: Int!): String  b: [Int] old: String  i: I }
interface I { id: ID! }
type T { id: ID! }
input In { p: String q: String! r: Int! }
enum E { TWO }
type Mutation { m(in: In, e: E): Int }
`, []string{
			"enum value E.ONE was removed without being deprecated first",
			"input field In.p changed type from Int to String",
			"input field In.r was added as required",
			"field Query.a changed type from String! to String",
			"argument Query.a(x) was removed without being deprecated first",
			"argument Query.a(z) was added as required",
			"field Query.b changed type from [Int!] to [Int]",
			"field Query.u was removed without being deprecated first",
			"type S was removed",
			"type T no longer implements I",
			"type U was removed",
		}},
		{"input made stricter", `
type Query { a(x: Int!, y: ID!): String!  b: [Int!] old: Int u: U  i: I }
interface I { id: ID! }
type T implements I { id: ID! }
type S { id: ID! }
union U = T
input In { p: Int! q: String! }
enum E { ONE TWO }
type Mutation { m(in: In, e: [E]): Int }
`, []string{
			"input field In.p changed type from Int to Int!",
			"argument Mutation.m(e) changed type from E to [E]",
			"argument Query.a(x) changed type from Int to Int!",
			"union U no longer includes S",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := gqlparser.MustLoadSchema(&ast.Source{Input: base})
			changed := gqlparser.MustLoadSchema(&ast.Source{Input: tc.schema})
			require.Equal(t, tc.want, contracts.Breaking(old, changed))
		})
	}
}

// What enforcement costs per request for the largest contract operation: a
// hash of the text sent (the fast path), or the canonical print of the parsed
// document (a text laid out otherwise).
func BenchmarkEnforcement(b *testing.B) {
	ops, _ := contracts.Check(live())
	big := ops[0]
	for _, op := range ops {
		if len(op.Body) > len(big.Body) {
			big = op
		}
	}
	doc, err := parser.ParseQuery(&ast.Source{Input: big.Body})
	require.NoError(b, err)
	b.Run("hash", func(b *testing.B) {
		for b.Loop() {
			persisted.Hash(big.Body)
		}
	})
	b.Run("canonical", func(b *testing.B) {
		for b.Loop() {
			persisted.Hash(persisted.Canonical(doc, doc.Operations[0]))
		}
	})
}

package contracts

import (
	"io/fs"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"

	"channelhub/graph"
)

// Every document of every app parses and validates against the executable
// schema; a failure names the app, the file and the error.
func TestDocumentsValidateAgainstTheSchema(t *testing.T) {
	t.Parallel()
	schema := graph.NewExecutableSchema(graph.Config{}).Schema()
	apps := map[string]int{}
	names := map[string]string{}
	err := fs.WalkDir(Documents, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		src, err := fs.ReadFile(Documents, path)
		require.NoError(t, err)
		doc, perr := parser.ParseQuery(&ast.Source{Name: path, Input: string(src)})
		require.Nilf(t, perr, "%s: %v", path, perr)
		for _, e := range validator.ValidateWithRules(schema, doc, nil) {
			t.Errorf("%s: %s", path, e.Message)
		}
		app, _, _ := strings.Cut(path, "/")
		for _, op := range doc.Operations {
			require.NotEmptyf(t, op.Name, "%s: every operation is named", path)
			if prev, dup := names[op.Name]; dup {
				t.Errorf("%s: operation %s also in %s", path, op.Name, prev)
			}
			names[op.Name] = path
			apps[app]++
		}
		return nil
	})
	require.NoError(t, err)
	for _, app := range []string{"distributor", "store", "salesman", "console"} {
		require.Positivef(t, apps[app], "no operations for the %s app", app)
	}
}

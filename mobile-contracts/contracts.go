// Package contracts holds every GraphQL operation the apps send, one folder
// per app, the schema snapshot they were last checked against, and the
// persisted-query manifest generated from them. The tests validate them
// against the live schema, so a schema change that breaks a released app
// fails CI.
package contracts

import (
	"embed"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"

	"channelhub/internal/persisted"
)

// Documents are the apps' operation documents.
//
//go:embed */*.graphql
var Documents embed.FS

//go:embed manifest.json
var manifestJSON []byte

// Manifest is the checked-in persisted-query manifest.
func Manifest() (*persisted.Manifest, error) { return persisted.ParseManifest(manifestJSON) }

// Apps are the folders, one per app.
var Apps = []string{"distributor", "store", "salesman", "console"}

// Operation is one named operation of one app's document.
type Operation struct {
	App, File, Name string
	Type            ast.Operation
	Body            string // canonical text with its fragments: what clients send
}

// Problem is a document that does not hold against a schema.
type Problem struct {
	File      string // app/file.graphql
	Operation string // "" when the whole file is at fault
	Message   string
}

func (p Problem) String() string {
	if p.Operation == "" {
		return fmt.Sprintf("%s: %s", p.File, p.Message)
	}
	return fmt.Sprintf("%s: %s: %s", p.File, p.Operation, p.Message)
}

// Check parses every document, validates it against schema and returns its
// operations with the problems found: a parse or validation error, an
// unnamed operation, or an operation or fragment name used twice.
func Check(schema *ast.Schema) ([]Operation, []Problem) {
	var ops []Operation
	var probs []Problem
	where := map[string]string{}
	_ = fs.WalkDir(Documents, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		src, _ := fs.ReadFile(Documents, path)
		app, _, _ := strings.Cut(path, "/")
		doc, perr := parser.ParseQuery(&ast.Source{Name: path, Input: string(src)})
		if perr != nil {
			probs = append(probs, Problem{File: path, Message: perr.Error()})
			return nil
		}
		seen := map[Problem]bool{} // a fragment's error repeats for every operation using it
		for _, e := range validator.ValidateWithRules(schema, doc, nil) {
			if p := (Problem{File: path, Operation: culprit(doc, e), Message: e.Message}); !seen[p] {
				seen[p] = true
				probs = append(probs, p)
			}
		}
		for _, f := range doc.Fragments { // generated client code keeps one namespace for all apps
			if prev, dup := where["fragment "+f.Name]; dup {
				probs = append(probs, Problem{File: path, Operation: "fragment " + f.Name, Message: "name also used in " + prev})
			}
			where["fragment "+f.Name] = path
		}
		for _, op := range doc.Operations {
			if op.Name == "" {
				probs = append(probs, Problem{File: path, Operation: fmt.Sprintf("line %d", op.Position.Line), Message: "every operation is named"})
				continue
			}
			if prev, dup := where[op.Name]; dup {
				probs = append(probs, Problem{File: path, Operation: op.Name, Message: "name also used in " + prev})
			}
			where[op.Name] = path
			ops = append(ops, Operation{App: app, File: path, Name: op.Name, Type: op.Operation, Body: persisted.Canonical(doc, op)})
		}
		return nil
	})
	slices.SortFunc(ops, func(a, b Operation) int { return strings.Compare(a.Name, b.Name) })
	return ops, probs
}

// culprit names the operation (or fragment, with the operations that use it)
// holding an error's first location.
func culprit(doc *ast.QueryDocument, e *gqlerror.Error) string {
	if len(e.Locations) == 0 {
		return ""
	}
	line := e.Locations[0].Line
	best, bestLine := "", 0
	for _, op := range doc.Operations {
		if l := op.Position.Line; l <= line && l > bestLine {
			best, bestLine = "operation "+op.Name, l
		}
	}
	for _, f := range doc.Fragments {
		if l := f.Position.Line; l <= line && l > bestLine {
			best, bestLine = "fragment "+f.Name+" (used by "+strings.Join(usersOf(doc, f.Name), ", ")+")", l
		}
	}
	return best
}

// usersOf lists the operations that spread a fragment, directly or not.
func usersOf(doc *ast.QueryDocument, fragment string) []string {
	var names []string
	for _, op := range doc.Operations {
		if strings.Contains(persisted.Canonical(doc, op), "fragment "+fragment+" on ") {
			names = append(names, op.Name)
		}
	}
	return names
}

// NewManifest is the manifest of these operations.
func NewManifest(ops []Operation) *persisted.Manifest {
	m := &persisted.Manifest{Format: persisted.ManifestFormat, Version: 1}
	for _, op := range ops {
		m.Operations = append(m.Operations, persisted.Operation{
			ID: persisted.Hash(op.Body), Name: op.Name, Type: string(op.Type), Body: op.Body,
		})
	}
	return m
}

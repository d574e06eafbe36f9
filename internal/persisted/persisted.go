// Package persisted holds the persisted-query manifest: the apps' operations
// in one canonical text each, keyed by the sha256 of that text, and the mode
// that decides whether the server runs anything else.
package persisted

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/formatter"
)

// Mode is what the server does with operations outside the manifest.
type Mode string

const (
	Off     Mode = "off"     // no persisted queries at all: every request carries its text
	Allow   Mode = "allow"   // manifest and automatic persisted queries; any valid text runs
	Enforce Mode = "enforce" // only manifest operations run, by hash or by text
)

// ParseMode reads a mode name.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(strings.TrimSpace(s))); m {
	case Off, Allow, Enforce:
		return m, nil
	}
	return "", fmt.Errorf("%q is not off, allow or enforce", s)
}

// ManifestFormat names the file format, Apollo's persisted-query manifest, so
// the apps' tooling (e.g. @apollo/persisted-query-lists) reads it as it is.
const ManifestFormat = "apollo-persisted-query-manifest"

// Manifest is the list of operations the apps may send.
type Manifest struct {
	Format     string      `json:"format"`
	Version    int         `json:"version"`
	Operations []Operation `json:"operations"`

	byID map[string]string
}

// Operation is one manifest entry: ID is the sha256 of Body.
type Operation struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Type string `json:"type"`
	Body string `json:"body"`
}

// ParseManifest reads a manifest and checks that every id is its body's hash.
func ParseManifest(data []byte) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("persisted: manifest: %w", err)
	}
	if m.Format != ManifestFormat || m.Version != 1 {
		return nil, fmt.Errorf("persisted: manifest: format %q version %d, want %q version 1", m.Format, m.Version, ManifestFormat)
	}
	m.byID = make(map[string]string, len(m.Operations))
	for _, op := range m.Operations {
		if Hash(op.Body) != op.ID {
			return nil, fmt.Errorf("persisted: manifest: operation %s: id is not the sha256 of its body", op.Name)
		}
		m.byID[op.ID] = op.Body
	}
	return &m, nil
}

// Body is the text of the operation with this id.
func (m *Manifest) Body(id string) (string, bool) {
	if m == nil {
		return "", false
	}
	b, ok := m.byID[id]
	return b, ok
}

// Len is the number of operations.
func (m *Manifest) Len() int {
	if m == nil {
		return 0
	}
	return len(m.byID)
}

// Marshal renders the manifest as the checked-in file: sorted by name, so a
// change reads as a small diff.
func (m *Manifest) Marshal() ([]byte, error) {
	ops := slices.Clone(m.Operations)
	slices.SortFunc(ops, func(a, b Operation) int { return strings.Compare(a.Name, b.Name) })
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	err := enc.Encode(Manifest{Format: ManifestFormat, Version: 1, Operations: ops})
	return buf.Bytes(), err
}

// Hash is the hex sha256 of a document's text, as automatic persisted queries
// and the manifest use it.
func Hash(text string) string {
	sum := sha256.Sum256([]byte(text))
	return hex.EncodeToString(sum[:])
}

// Canonical prints one operation of a parsed document with the fragments it
// uses, sorted by name, without comments: two texts that differ only in
// layout, comments or fragment order print the same.
func Canonical(doc *ast.QueryDocument, op *ast.OperationDefinition) string {
	out := &ast.QueryDocument{Operations: ast.OperationList{op}}
	seen := map[string]bool{}
	var walk func(ast.SelectionSet, int)
	walk = func(set ast.SelectionSet, level int) {
		if level > 100 {
			return
		}
		for _, s := range set {
			switch s := s.(type) {
			case *ast.Field:
				walk(s.SelectionSet, level+1)
			case *ast.InlineFragment:
				walk(s.SelectionSet, level+1)
			case *ast.FragmentSpread:
				f := doc.Fragments.ForName(s.Name)
				if f == nil || seen[s.Name] {
					continue
				}
				seen[s.Name] = true
				out.Fragments = append(out.Fragments, f)
				walk(f.SelectionSet, level+1)
			}
		}
	}
	walk(op.SelectionSet, 0)
	slices.SortFunc(out.Fragments, func(a, b *ast.FragmentDefinition) int { return strings.Compare(a.Name, b.Name) })
	var buf bytes.Buffer
	formatter.NewFormatter(&buf, formatter.WithIndent("  ")).FormatQueryDocument(out)
	return buf.String()
}

package contracts

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/formatter"
)

// PrintSchema prints a schema as clients see it: types sorted by name, with
// descriptions, without gqlgen's @go* binding directives.
func PrintSchema(s *ast.Schema) string {
	c := *s
	c.Directives = map[string]*ast.DirectiveDefinition{}
	for name, d := range s.Directives {
		if !goDirective(name) {
			c.Directives[name] = d
		}
	}
	c.Types = make(map[string]*ast.Definition, len(s.Types))
	for name, d := range s.Types {
		d2 := *d
		d2.Directives = clean(d.Directives)
		d2.Fields = nil
		for _, f := range d.Fields {
			f2 := *f
			f2.Directives = clean(f.Directives)
			f2.Arguments = nil
			for _, a := range f.Arguments {
				a2 := *a
				a2.Directives = clean(a.Directives)
				f2.Arguments = append(f2.Arguments, &a2)
			}
			d2.Fields = append(d2.Fields, &f2)
		}
		d2.EnumValues = nil
		for _, v := range d.EnumValues {
			v2 := *v
			v2.Directives = clean(v.Directives)
			d2.EnumValues = append(d2.EnumValues, &v2)
		}
		c.Types[name] = &d2
	}
	var buf bytes.Buffer
	formatter.NewFormatter(&buf, formatter.WithIndent("  ")).FormatSchema(&c)
	// A blank line after each definition, for people reading the diff.
	var out strings.Builder
	for _, line := range strings.SplitAfter(buf.String(), "\n") {
		out.WriteString(line)
		if line == "}\n" || strings.HasPrefix(line, "directive ") || strings.HasPrefix(line, "scalar ") || strings.HasPrefix(line, "union ") {
			out.WriteString("\n")
		}
	}
	return strings.TrimSuffix(out.String(), "\n")
}

func goDirective(name string) bool { return strings.HasPrefix(name, "go") }

func clean(l ast.DirectiveList) ast.DirectiveList {
	var out ast.DirectiveList
	for _, d := range l {
		if !goDirective(d.Name) {
			out = append(out, d)
		}
	}
	return out
}

// Breaking lists the changes from old to new that can break a released app:
// a type, field, argument, input field, enum value, union member or interface
// removed, or a type changed so that an old query or an old variable no
// longer fits. What old had already deprecated may go. Additions are safe,
// except a new required argument or input field.
func Breaking(old, new *ast.Schema) []string {
	var out []string
	add := func(format string, a ...any) { out = append(out, fmt.Sprintf(format, a...)) }
	for _, name := range sortedKeys(old.Types) {
		o := old.Types[name]
		if o.BuiltIn || strings.HasPrefix(name, "__") {
			continue
		}
		n := new.Types[name]
		if n == nil {
			add("type %s was removed", name)
			continue
		}
		if n.Kind != o.Kind {
			add("type %s changed from %s to %s", name, o.Kind, n.Kind)
			continue
		}
		switch o.Kind {
		case ast.Object, ast.Interface:
			for _, i := range o.Interfaces {
				if !slices.Contains(n.Interfaces, i) {
					add("type %s no longer implements %s", name, i)
				}
			}
			for _, of := range o.Fields {
				if strings.HasPrefix(of.Name, "__") || deprecated(of.Directives) {
					continue
				}
				nf := n.Fields.ForName(of.Name)
				if nf == nil {
					add("field %s.%s was removed without being deprecated first", name, of.Name)
					continue
				}
				if !outputFits(of.Type, nf.Type) {
					add("field %s.%s changed type from %s to %s", name, of.Name, of.Type, nf.Type)
				}
				for _, oa := range of.Arguments {
					if deprecated(oa.Directives) {
						continue
					}
					na := nf.Arguments.ForName(oa.Name)
					if na == nil {
						add("argument %s.%s(%s) was removed without being deprecated first", name, of.Name, oa.Name)
					} else if !inputFits(oa.Type, na.Type) {
						add("argument %s.%s(%s) changed type from %s to %s", name, of.Name, oa.Name, oa.Type, na.Type)
					}
				}
				for _, na := range nf.Arguments {
					if of.Arguments.ForName(na.Name) == nil && na.Type.NonNull && na.DefaultValue == nil {
						add("argument %s.%s(%s) was added as required", name, of.Name, na.Name)
					}
				}
			}
		case ast.InputObject:
			for _, of := range o.Fields {
				if deprecated(of.Directives) {
					continue
				}
				nf := n.Fields.ForName(of.Name)
				if nf == nil {
					add("input field %s.%s was removed without being deprecated first", name, of.Name)
				} else if !inputFits(of.Type, nf.Type) {
					add("input field %s.%s changed type from %s to %s", name, of.Name, of.Type, nf.Type)
				}
			}
			for _, nf := range n.Fields {
				if o.Fields.ForName(nf.Name) == nil && nf.Type.NonNull && nf.DefaultValue == nil {
					add("input field %s.%s was added as required", name, nf.Name)
				}
			}
		case ast.Enum:
			for _, ov := range o.EnumValues {
				if !deprecated(ov.Directives) && n.EnumValues.ForName(ov.Name) == nil {
					add("enum value %s.%s was removed without being deprecated first", name, ov.Name)
				}
			}
		case ast.Union:
			for _, t := range o.Types {
				if !slices.Contains(n.Types, t) {
					add("union %s no longer includes %s", name, t)
				}
			}
		}
	}
	return out
}

func deprecated(l ast.DirectiveList) bool { return l.ForName("deprecated") != nil }

// outputFits: every value of the new type is one an old query could read;
// a field may become non-null, never nullable, and keeps its named type.
func outputFits(old, new *ast.Type) bool {
	if (old.Elem == nil) != (new.Elem == nil) || (old.NonNull && !new.NonNull) {
		return false
	}
	if old.Elem != nil {
		return outputFits(old.Elem, new.Elem)
	}
	return old.NamedType == new.NamedType
}

// inputFits: every old value still fits the new type; an argument may become
// nullable, never required.
func inputFits(old, new *ast.Type) bool {
	if (old.Elem == nil) != (new.Elem == nil) || (!old.NonNull && new.NonNull) {
		return false
	}
	if old.Elem != nil {
		return inputFits(old.Elem, new.Elem)
	}
	return old.NamedType == new.NamedType
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

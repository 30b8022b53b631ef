package config

import (
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// decoder fills the schema's Go types from a yaml.Node tree. Walking the tree ourselves, rather
// than letting yaml.Decode stop at the first mismatch, reports every unknown field and wrong type
// with its exact path (lists included) and line.
type decoder struct {
	problems problems
	lines    map[string]int // field path → line, to locate the validation problems found later
}

// decode stores n into v. line is where the user sees the value: the key's line for a field.
func (d *decoder) decode(n *yaml.Node, path string, line int, v reflect.Value) {
	n = resolveAlias(n)
	d.lines[path] = line
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // an empty value is the same as leaving the field out
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, path, v)
	case reflect.Slice:
		d.decodeSlice(n, path, v)
	default:
		d.decodeScalar(n, path, line, v)
	}
}

func (d *decoder) decodeStruct(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.problems.addAt(path, n.Line, "expected a mapping of fields (%s), got %s", strings.Join(fieldNames(v.Type()), ", "), describe(n))
		return
	}
	fields := fieldIndex(v.Type())
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := resolveAlias(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.problems.addAt(path, k.Line, "expected a field name, got %s", describe(k))
			continue
		}
		fp := field(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			d.problems.addAt(fp, k.Line, "given twice (first on line %d): keep one", first)
			continue
		}
		seen[k.Value] = k.Line
		f, ok := fields[k.Value]
		if !ok {
			d.problems.addAt(fp, k.Line, "%s", unknownField(k.Value, path, v.Type()))
			continue
		}
		d.decode(val, fp, k.Line, v.Field(f))
	}
}

func (d *decoder) decodeSlice(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.SequenceNode {
		d.problems.addAt(path, n.Line, "expected a list, got %s", describe(n))
		return
	}
	if len(n.Content) == 0 {
		return // nil, like an absent list, so that a config round-trips
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		d.decode(item, index(path, i), item.Line, s.Index(i))
	}
	v.Set(s)
}

func (d *decoder) decodeScalar(n *yaml.Node, path string, line int, v reflect.Value) {
	var tag, want, fix string
	switch v.Kind() {
	case reflect.String:
		tag, want, fix = "!!str", "a string", ": put it in quotes"
	case reflect.Bool:
		tag, want, fix = "!!bool", "true or false", ""
	case reflect.Int, reflect.Int64:
		tag, want, fix = "!!int", "a whole number", ": write the number without quotes"
	default:
		panic(fmt.Sprintf("config: no decoding for %s at %s", v.Type(), path)) // a schema bug
	}
	if n.Kind != yaml.ScalarNode {
		d.problems.addAt(path, n.Line, "expected %s, got %s", want, describe(n))
		return
	}
	if n.ShortTag() != tag {
		if n.ShortTag() == "!!map" || n.ShortTag() == "!!seq" || !strings.HasPrefix(n.ShortTag(), "!!") {
			fix = ""
		}
		d.problems.addAt(path, line, "expected %s, got %s%s", want, describe(n), fix)
		return
	}
	if err := n.Decode(v.Addr().Interface()); err != nil {
		d.problems.addAt(path, line, "expected %s, got %s: it does not fit a %d-bit number", want, describe(n), v.Type().Bits())
	}
}

// failed reports whether the decoder already found a problem at path or around it.
func (d *decoder) failed(path string) bool {
	for _, p := range d.problems {
		if p.Path == path || strings.HasPrefix(path, p.Path+".") || strings.HasPrefix(path, p.Path+"[") {
			return true
		}
	}
	return false
}

// locate gives p the line of its field, or of the nearest enclosing field the document has.
func (d *decoder) locate(p Problem) Problem {
	if p.Line != 0 {
		return p
	}
	for path := p.Path; path != ""; path = parentPath(path) {
		if line, ok := d.lines[path]; ok {
			p.Line = line
			return p
		}
	}
	return p // the document as a whole has no useful line
}

// resolveAlias follows *alias references to the anchored node.
func resolveAlias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// describe names what a node holds, for "expected X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
	default:
		return "an alias"
	}
	v := n.Value
	if len(v) > 40 {
		v = v[:40] + "…"
	}
	switch n.ShortTag() {
	case "!!str":
		return fmt.Sprintf("the string %q", v)
	case "!!int":
		return "the number " + v
	case "!!float":
		return "the fractional number " + v
	case "!!bool":
		return v
	case "!!null":
		return "nothing"
	default:
		return fmt.Sprintf("%q tagged %s", v, n.ShortTag())
	}
}

// fieldIndex maps each YAML field name of struct type t to its field index.
func fieldIndex(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		m[yamlName(t.Field(i))] = i
	}
	return m
}

func fieldNames(t reflect.Type) []string {
	names := make([]string, t.NumField())
	for i := range names {
		names[i] = yamlName(t.Field(i))
	}
	return names
}

func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return name
}

// unknownField explains an unknown field and, for a spelling that differs only in case or
// separators (caCert, ca-cert), names the field that was meant.
func unknownField(key, parent string, t reflect.Type) string {
	norm := func(s string) string {
		return strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(s))
	}
	for _, name := range fieldNames(t) {
		if norm(name) == norm(key) {
			return fmt.Sprintf("unknown field: did you mean %q?", name)
		}
	}
	where := "here"
	if parent != "" {
		where = "in " + parent
	}
	msg := fmt.Sprintf("unknown field: the fields %s are %s", where, strings.Join(fieldNames(t), ", "))
	switch {
	case parent == "" && key == "ignition":
		msg += " (an Ignition config must be JSON)"
	case parent == "" && key == "variant":
		msg += " (this looks like a Butane config: translate it to Ignition with butane first)"
	}
	return msg
}

package nocloud

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v3"

	"github.com/etcd-appliance/appliance/internal/platform"
)

// parseNetworkConfig reads a cloud-init network-config, version 1 or 2, bare or under a
// top-level "network:" key. An empty or null document, or "config: disabled", gives nil.
func parseNetworkConfig(b []byte) (*platform.Network, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) == 0 { // only comments
		return nil, nil
	}
	root, path := deref(doc.Content[0]), ""
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: want a mapping with version: 1 or 2, not %s", root.Line, kind(root))
	}
	if lookup(root, "version") == nil {
		if inner := lookup(root, "network"); inner != nil {
			root, path = deref(inner), "network."
			if root.Kind != yaml.MappingNode {
				return nil, fmt.Errorf("network: want a mapping with version: 1 or 2, not %s", kind(root))
			}
		}
	}
	if c := lookup(root, "config"); c != nil && c.Kind == yaml.ScalarNode && c.Value == "disabled" {
		return nil, nil
	}
	v := lookup(root, "version")
	switch {
	case v == nil:
		return nil, fmt.Errorf("%sversion: missing (want 1 or 2)", path)
	case v.Kind == yaml.ScalarNode && v.Value == "1":
		return parseV1(path, root)
	case v.Kind == yaml.ScalarNode && v.Value == "2":
		return parseV2(path, root)
	}
	return nil, fmt.Errorf("%sversion: %q is not a network-config version (want 1 or 2)", path, v.Value)
}

// lookup returns the value of key in mapping m, or nil.
func lookup(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// deref follows an alias (*name) to the node it names.
func deref(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}

func kind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "this"
}

// decode is Node.Decode with the field path in the error.
func decode(path string, n *yaml.Node, v any) error {
	if err := n.Decode(v); err != nil {
		return &decodeError{path, err}
	}
	return nil
}

// decodeError puts yaml's type errors ("line 3: cannot unmarshal !!str `big` into int") on
// one line after the path of the item that holds them.
type decodeError struct {
	path string
	err  error
}

func (e *decodeError) Error() string {
	msg := e.err.Error()
	var te *yaml.TypeError
	if errors.As(e.err, &te) {
		msg = strings.Join(te.Errors, "; ")
	}
	if e.path == "" {
		return msg
	}
	return e.path + ": " + msg
}

func (e *decodeError) Unwrap() error { return e.err }

// entries returns the key/value pairs of a mapping field (nil when absent or null).
func entries(path string, n *yaml.Node) ([][2]*yaml.Node, error) {
	if n == nil {
		return nil, nil
	}
	n = deref(n)
	switch {
	case n.Kind == yaml.ScalarNode && n.Tag == "!!null":
		return nil, nil
	case n.Kind != yaml.MappingNode:
		return nil, fmt.Errorf("%s: want a mapping of names to settings, not %s", path, kind(n))
	}
	var out [][2]*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := deref(n.Content[i])
		if k.Kind != yaml.ScalarNode || strings.TrimSpace(k.Value) == "" {
			return nil, fmt.Errorf("%s: line %d: a device name must be a non-empty string, not %s", path, k.Line, kind(k))
		}
		out = append(out, [2]*yaml.Node{k, deref(n.Content[i+1])})
	}
	return out, nil
}

// strList is a list of strings written as a YAML list or as one string of items
// separated by spaces or commas (as cloud-init accepts for nameservers and search domains).
type strList []string

func (l *strList) UnmarshalYAML(n *yaml.Node) error {
	n = deref(n)
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			*l = nil
			return nil
		}
		*l = strings.FieldsFunc(n.Value, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
		return nil
	case yaml.SequenceNode:
		var s []string
		if err := n.Decode(&s); err != nil {
			return err
		}
		*l = s
		return nil
	}
	return fmt.Errorf("line %d: want a list of strings, not %s", n.Line, kind(n))
}

package config

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Problem is one thing wrong with (or worth warning about in) a configuration, located by the
// field path a user can find in their document.
type Problem struct {
	// Path is the field path, e.g. "cluster.members[2].address"; empty for the document as a whole.
	// Inside an Ignition config it is Ignition's path, e.g. "storage.disks[0]".
	Path string
	// Line is the 1-based line of the field in its document; 0 when unknown.
	Line int
	// File is set when Path and Line refer to a document embedded in the one given to Load:
	// the appliance config carried in an Ignition config (IgnitionConfigPath).
	File string
	// Message says what is wrong, what is expected and how to fix it.
	Message string
}

// String formats the problem as "[FILE:][line N: ]PATH: MESSAGE".
func (p Problem) String() string {
	var b strings.Builder
	switch {
	case p.File != "" && p.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", p.File, p.Line)
	case p.File != "":
		b.WriteString(p.File + ": ")
	case p.Line > 0:
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Path != "" {
		b.WriteString(p.Path + ": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Errors is every problem found in a configuration, so a user can fix them all in one pass.
type Errors struct {
	Problems []Problem
}

// Error prints one problem per line.
func (e *Errors) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Warnings are problems that do not stop a node from starting but deserve attention.
type Warnings []Problem

// problems collects problems while walking a configuration.
type problems []Problem

func (ps *problems) add(path, format string, args ...any) {
	*ps = append(*ps, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

func (ps *problems) addAt(path string, line int, format string, args ...any) {
	*ps = append(*ps, Problem{Path: path, Line: line, Message: fmt.Sprintf(format, args...)})
}

// sortByLine orders problems as they appear in the document; those without a line go last.
func (ps problems) sortByLine() {
	key := func(p Problem) int {
		if p.Line == 0 {
			return math.MaxInt
		}
		return p.Line
	}
	slices.SortStableFunc(ps, func(a, b Problem) int { return cmp.Compare(key(a), key(b)) })
}

// err returns the collected problems as an *Errors, or nil when there are none.
func (ps problems) err() error {
	if len(ps) == 0 {
		return nil
	}
	return &Errors{Problems: ps}
}

// field joins a parent path and a field name.
func field(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

// index names a list element.
func index(parent string, i int) string {
	return parent + "[" + strconv.Itoa(i) + "]"
}

// parentPath drops the last field or index: "a.b[2]" → "a.b" → "a" → "".
func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}

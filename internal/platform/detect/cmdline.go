package detect

import (
	"strings"
	"unicode"
)

// Arg returns the value of key=value on a kernel command line and whether key is there at all.
// Words are split on whitespace outside double quotes and the quotes are dropped, as the
// kernel does, so both key="a b" and "key=a b" give "a b". When a key repeats, the last one
// wins. A bare key (no "=") gives "", true.
func Arg(cmdline, key string) (value string, ok bool) {
	for _, w := range words(cmdline) {
		k, v, _ := strings.Cut(w, "=")
		if k == key {
			value, ok = v, true
		}
	}
	return value, ok
}

// words splits a command line into its arguments, honouring and removing double quotes.
func words(cmdline string) []string {
	var (
		out     []string
		cur     strings.Builder
		inQuote bool
		started bool
	)
	for _, r := range cmdline {
		switch {
		case r == '"':
			inQuote = !inQuote
			started = true
		case unicode.IsSpace(r) && !inQuote:
			if started {
				out = append(out, cur.String())
				cur.Reset()
				started = false
			}
		default:
			cur.WriteRune(r)
			started = true
		}
	}
	if started {
		out = append(out, cur.String())
	}
	return out
}

// Package kcmdline reads the kernel command line (/proc/cmdline) the way the kernel splits it
// into parameters (lib/cmdline.c next_arg, kernel/params.c parse_args). The initramfs's /init
// uses it, so it depends on nothing but the strings package.
package kcmdline

import "strings"

// Param is one kernel parameter: key=value, or a bare key (a flag) without HasValue.
type Param struct {
	Key      string
	Value    string
	HasValue bool // there was an "=" (key= gives an empty Value with HasValue)
}

// String is the parameter as it would be written on a command line (without quotes).
func (p Param) String() string {
	if !p.HasValue {
		return p.Key
	}
	return p.Key + "=" + p.Value
}

// Params splits cmdline into the kernel's parameters. Words are separated by spaces, tabs
// and newlines outside double quotes. As in the kernel, a quote opening the word or the
// value, with the quote ending the word, is dropped: foo="a b" gives foo with value a b, and
// "foo=a b" the same; a quote inside a word is kept. The parameters end at a bare "--":
// what follows it is init's, not the kernel's.
func Params(cmdline string) []Param {
	var out []Param
	for s := cmdline; ; {
		s = strings.TrimLeft(s, space)
		if s == "" {
			return out
		}
		var p Param
		p, s = next(s)
		if p.Key == "--" && !p.HasValue {
			return out
		}
		out = append(out, p)
	}
}

// space is the kernel's isspace() in ASCII: a CRLF-edited bootloader file leaves \r at the end.
const space = " \t\n\v\f\r"

// next reads the parameter at the start of s (which does not start with space) and returns
// the rest of s.
func next(s string) (Param, string) {
	quoted := s[0] == '"'
	if quoted {
		s = s[1:]
	}
	inQuote := quoted
	i, eq := 0, -1
	for ; i < len(s); i++ {
		c := s[i]
		if !inQuote && strings.IndexByte(space, c) >= 0 {
			break
		}
		if eq < 0 && c == '=' {
			eq = i
		}
		if c == '"' {
			inQuote = !inQuote
		}
	}
	word, rest := s[:i], s[i:]
	// The parameter is word[:end]: a closing quote is cut off, once.
	end := len(word)
	if eq < 0 {
		if quoted && end > 0 && word[end-1] == '"' {
			end--
		}
		return Param{Key: word[:end]}, rest
	}
	v := eq + 1
	switch {
	case v < end && word[v] == '"': // key="value"
		v++
		if word[end-1] == '"' {
			end--
		}
	case quoted && word[end-1] == '"': // "key=value"
		end--
	}
	if v > end { // key=" : its one quote opened and closed the value
		v = end
	}
	return Param{Key: word[:eq], Value: word[v:end], HasValue: true}, rest
}

// Get returns the value of key on cmdline and whether key is there at all. When a key
// repeats, the last one wins, as the kernel's own parameters do. A bare key gives "", true.
func Get(cmdline, key string) (value string, ok bool) {
	for _, p := range Params(cmdline) {
		if p.Key == key {
			value, ok = p.Value, true
		}
	}
	return value, ok
}

package main

import (
	"fmt"
	"strings"
)

const defaultInit = "/usr/lib/systemd/systemd"

// bootParams is what /init takes from the kernel command line.
type bootParams struct {
	root guid   // unique partition GUID from root=PARTUUID=
	init string // program to exec on the real root
}

// parseCmdline extracts root= and init=. As in the kernel, the last occurrence wins and
// nothing after "--" is a kernel parameter.
func parseCmdline(cmdline string) (bootParams, error) {
	p := bootParams{init: defaultInit}
	root := ""
	for _, arg := range splitCmdline(cmdline) {
		if arg == "--" {
			break
		}
		key, val, _ := strings.Cut(arg, "=")
		switch key {
		case "root":
			root = val
		case "init":
			p.init = val
		}
	}
	if root == "" {
		return p, fmt.Errorf("no root= on the kernel command line")
	}
	uuid, ok := strings.CutPrefix(root, "PARTUUID=")
	if !ok {
		return p, fmt.Errorf("root=%s: only root=PARTUUID=<uuid> is supported", root)
	}
	g, err := parseGUID(uuid)
	if err != nil {
		return p, fmt.Errorf("root=%s: %w", root, err)
	}
	p.root = g
	if !strings.HasPrefix(p.init, "/") {
		return p, fmt.Errorf("init=%s: must be an absolute path", p.init)
	}
	return p, nil
}

// splitCmdline splits on whitespace; double quotes group words and are dropped, which is
// how the kernel treats param="a b".
func splitCmdline(s string) []string {
	var args []string
	var cur strings.Builder
	inQuote, inArg := false, false
	for _, r := range s {
		switch {
		case r == '"':
			inQuote = !inQuote
			inArg = true
		case !inQuote && (r == ' ' || r == '\t' || r == '\n'):
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		default:
			cur.WriteRune(r)
			inArg = true
		}
	}
	if inArg {
		args = append(args, cur.String())
	}
	return args
}

package main

import (
	"fmt"
	"strings"

	"github.com/etcd-appliance/appliance/internal/kcmdline"
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
	root, _ := kcmdline.Get(cmdline, "root")
	if v, ok := kcmdline.Get(cmdline, "init"); ok {
		p.init = v
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

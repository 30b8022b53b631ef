package main

import (
	"fmt"
	"strings"

	"github.com/etcd-appliance/appliance/internal/kcmdline"
)

const defaultInit = "/usr/lib/systemd/systemd"

// bootParams is what /init takes from the kernel command line.
type bootParams struct {
	root   guid         // unique partition GUID from root=PARTUUID=
	verity verityParams // from etcd.verity=
	init   string       // program to exec on the real root
}

// parseCmdline extracts root=, etcd.verity= and init=. There is no unverified root: a
// command line without etcd.verity= is refused. As in the kernel, the last occurrence wins and
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
	v, ok := kcmdline.Get(cmdline, "etcd.verity")
	if !ok {
		return p, fmt.Errorf("no etcd.verity= on the kernel command line: this initramfs mounts only a verified root (boot the image's UKI, or with direct kernel boot its .cmdline file)")
	}
	if p.verity, err = parseVerity(v); err != nil {
		return p, err
	}
	if !strings.HasPrefix(p.init, "/") {
		return p, fmt.Errorf("init=%s: must be an absolute path", p.init)
	}
	return p, nil
}

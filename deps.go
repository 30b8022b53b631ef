//go:build tools

// Modules the issue-3 work is being built on; this file goes once they have real importers.
package appliance

import (
	_ "github.com/coreos/ignition/v2/config/v3_5"
	_ "github.com/hashicorp/go-getter/v2"
	_ "github.com/vishvananda/netlink"
	_ "go.yaml.in/yaml/v3"
)

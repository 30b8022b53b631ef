//go:build tools

// Modules the rest of the issue-3 work (bare-metal config URLs, static network) is built on;
// this file goes once they have real importers.
package appliance

import (
	_ "github.com/hashicorp/go-getter/v2"
	_ "github.com/vishvananda/netlink"
)

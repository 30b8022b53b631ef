//go:build tools

// Modules the rest of the issue-3 work (applying static network configuration) is built on;
// this file goes once they have real importers.
package appliance

import (
	_ "github.com/vishvananda/netlink"
)

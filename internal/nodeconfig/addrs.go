package nodeconfig

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// dumpAttempts bounds re-listing addresses while they keep changing under the dump.
const dumpAttempts = 20

// LocalAddrs lists this machine's addresses that another machine could reach: global
// unicast, not tentative (IPv6 DAD still running) or deprecated.
func LocalAddrs() ([]netip.Addr, error) {
	list, err := netlink.AddrList(nil, netlink.FAMILY_ALL)
	// an address changed during the dump (DHCP, IPv6 autoconfiguration at boot): the kernel
	// flags the dump as interrupted, and the fix is to dump again
	for try := 1; errors.Is(err, netlink.ErrDumpInterrupted) && try < dumpAttempts; try++ {
		list, err = netlink.AddrList(nil, netlink.FAMILY_ALL)
	}
	if err != nil {
		return nil, fmt.Errorf("listing addresses: %w", err)
	}
	var out []netip.Addr
	for _, a := range list {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok || !ip.Unmap().IsGlobalUnicast() || a.Flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DEPRECATED|unix.IFA_F_DADFAILED) != 0 {
			continue
		}
		if ip = ip.Unmap(); !slices.Contains(out, ip) {
			out = append(out, ip)
		}
	}
	return out, nil
}

// WaitAddrs returns the local addresses once done accepts them, or what there is when ctx
// ends. It wakes on every address change (netlink), not on a timer: DHCP may take a while
// under emulation.
func WaitAddrs(ctx context.Context, done func([]netip.Addr) bool) ([]netip.Addr, error) {
	updates := make(chan netlink.AddrUpdate, 16)
	stop := make(chan struct{})
	defer close(stop)
	// subscribe before listing, so a change between the two is not missed
	if err := netlink.AddrSubscribe(updates, stop); err != nil {
		return nil, fmt.Errorf("watching addresses: %w", err)
	}
	for {
		addrs, err := LocalAddrs()
		if err != nil || done(addrs) {
			return addrs, err
		}
		select {
		case <-ctx.Done():
			return addrs, nil
		case _, ok := <-updates:
			if !ok {
				return addrs, fmt.Errorf("watching addresses: subscription closed")
			}
		}
	}
}

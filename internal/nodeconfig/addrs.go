package nodeconfig

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/etcd-appliance/appliance/config"
	"github.com/etcd-appliance/appliance/internal/timesync"
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

// addrRecheck is how often WaitAddrs asks done again without an address change.
const addrRecheck = 2 * time.Second

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
	// also look again now and then: a member's DNS name starts to resolve, or the DHCP lease
	// names the host, without any address changing
	tick := time.NewTicker(addrRecheck)
	defer tick.Stop()
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
		case <-tick.C:
		}
	}
}

// LeaseDir is where systemd-networkd keeps its DHCP leases, one file per interface index.
const LeaseDir = timesync.LeaseDir

// DHCPHostname is the host name in networkd's DHCP leases (the lowest interface index first),
// or "". networkd would apply it itself through systemd-hostnamed, which needs the D-Bus
// daemon this image does not run; reading the lease is all a bus would add.
func DHCPHostname(dir string) string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	slices.SortFunc(entries, func(a, b os.DirEntry) int {
		x, _ := strconv.Atoi(a.Name())
		y, _ := strconv.Atoi(b.Name())
		return x - y
	})
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "HOSTNAME="); ok && validHostname(v) {
				return v
			}
		}
	}
	return ""
}

// validHostname refuses what sethostname would take but no resolver could answer for, and
// what sethostname refuses (more than 64 bytes). A DHCP hostname that fails it is ignored,
// not a reason to stop: whoever answers DHCP on the link chose it.
func validHostname(h string) bool {
	return len(h) <= 64 && config.CheckHostname(h) == nil
}

// LookupHost resolves a name through the system resolver (systemd-resolved's stub on a node).
func LookupHost(ctx context.Context, host string) ([]netip.Addr, error) {
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	for i := range addrs {
		addrs[i] = addrs[i].Unmap()
	}
	return addrs, err
}

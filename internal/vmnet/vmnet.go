// Package vmnet builds a private network for test VMs: a network namespace holding a bridge,
// tap devices for qemu, and dial/listen helpers that put sockets inside it. The namespace has
// no uplink, so nothing a VM or a test sends through it can reach the host's networks or the
// outside world.
//
// Real servers, each a host program run inside the namespace from its own configuration in
// a temporary directory, make it look like a real network to a VM; all listen on the
// gateway (the bridge's first address) and are reaped by Close:
//
//   - DHCP (dnsmasq, StartDHCP): static leases with hostnames; the gateway as router with
//     Options.Router.
//   - DNS (the same dnsmasq, with Options.Domain): hostname.domain for every host, the
//     test's Options.DNSRecords, NXDOMAIN for anything else; offered by DHCP with the
//     domain as search list.
//   - NTP (chronyd, Options.NTP): the host's clock at stratum 8, never adjusting it;
//     offered by DHCP.
//   - An HTTP(S) proxy (tinyproxy, Options.Proxy) at ProxyURL, logging every request
//     (ProxyLog), resolving names through the namespace's DNS.
//
// Without those options a Net is the bridge and, after StartDHCP, DHCP alone.
package vmnet

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// BridgeName is the bridge inside every namespace; taps are attached to it.
const BridgeName = "br0"

// DefaultSubnet is used when Options.Subnet is unset.
var DefaultSubnet = netip.MustParsePrefix("10.77.0.0/24")

// Options configures New. The zero value is usable.
type Options struct {
	// Subnet is the IPv4 network of the bridge; its first address is the gateway and is
	// put on the bridge. Default DefaultSubnet.
	Subnet netip.Prefix
	// Subnet6, if set, is an IPv6 network handled the same way (first address on the
	// bridge).
	Subnet6 netip.Prefix
	// ExtraAddrs are put on the bridge as given, e.g. 169.254.169.254/16 so a fake cloud
	// metadata server can listen there. VMs reach one outside Subnet only through a route,
	// so such tests usually want Router too.
	ExtraAddrs []netip.Prefix
	// Router makes the DHCP server offer the gateway as default route.
	Router bool

	// Domain, e.g. "etcd.test", turns on DNS: StartDHCP's dnsmasq then also answers DNS on
	// port 53 of the bridge's addresses, and offers itself (the gateway) by DHCP as the DNS
	// server, with Domain as the domain name and search list. Every Host with a Hostname
	// resolves as hostname.Domain and as the bare hostname, from the start (not only once
	// it has its lease). Only local names are answered: there is no upstream, and any
	// other name is NXDOMAIN at once. Without Domain no DNS is served.
	Domain string
	// DNSRecords are further names for the DNS server to answer (A and AAAA records), e.g.
	// "restore.etcd.test": {gateway}. A name without a dot is qualified with Domain like a
	// hostname. Needs Domain.
	DNSRecords map[string][]netip.Addr

	// NTP runs an NTP server (chronyd) on the gateway, UDP port 123, serving the host's
	// clock at stratum 8 to Subnet (and Subnet6); the host's clock itself is never
	// adjusted. The DHCP server offers it (option 42) unless NTPNotOffered.
	NTP bool
	// NTPNotOffered keeps the NTP server out of DHCP, as on clouds whose NTP service is
	// at a fixed address nobody announces (AWS's 169.254.169.123, put in ExtraAddrs).
	NTPNotOffered bool
	// Proxy runs an HTTP(S) forward proxy (tinyproxy) on the gateway, port ProxyPort, for
	// Subnet (and Subnet6); CONNECT is allowed to port 443 only. See ProxyURL and
	// ProxyLog. It resolves names through the namespace's DNS server (Options.Domain), so
	// it reaches only servers inside the namespace.
	Proxy bool
	// S3 runs an S3-compatible server (versitygw) on the gateway, https on S3Port; nil:
	// none. Name it in DNSRecords for the nodes to reach it by name.
	S3 *S3
}

// normalize applies defaults and checks the options.
func (o Options) normalize() (Options, error) {
	if !o.Subnet.IsValid() {
		o.Subnet = DefaultSubnet
	}
	o.Subnet = o.Subnet.Masked()
	if !o.Subnet.Addr().Is4() || o.Subnet.Bits() > 30 {
		return o, fmt.Errorf("subnet %s: need IPv4 with room for a gateway and hosts", o.Subnet)
	}
	if o.Subnet6.IsValid() {
		o.Subnet6 = o.Subnet6.Masked()
		if !o.Subnet6.Addr().Is6() || o.Subnet6.Addr().Is4In6() || o.Subnet6.Bits() > 126 {
			return o, fmt.Errorf("subnet6 %s: need IPv6 with room for a gateway and hosts", o.Subnet6)
		}
	}
	for _, p := range o.ExtraAddrs {
		if !p.IsValid() {
			return o, fmt.Errorf("extra address %s: invalid", p)
		}
	}
	return normalizeDNS(o)
}

// Net is a network namespace with a bridge. Methods are safe for concurrent use.
type Net struct {
	name      string
	opts      Options
	gw, gw6   netip.Addr
	closeOnce sync.Once
	closeErr  error

	mu     sync.Mutex
	closed bool
	dhcp   *daemon
	ntp    *daemon
	proxy  *daemon
	s3     *daemon
	s3Dir  string // the S3 server's data, kept across StopS3 and StartS3
}

var errClosed = errors.New("vmnet: network is closed")

// counter makes namespace names unique within this process; the pid in the name makes
// them unique across processes and lets Sweep tell when their owner is gone.
var counter atomic.Uint64

const namePrefix = "etcdapp-"

var nameRE = regexp.MustCompile(`^` + namePrefix + `([0-9]+)-[0-9]+$`)

// New creates a namespace named etcdapp-<pid>-<n> with lo up and bridge BridgeName holding
// the gateway addresses. Close it to remove everything.
func New(opts Options) (_ *Net, err error) {
	opts, err = opts.normalize()
	if err != nil {
		return nil, fmt.Errorf("vmnet: %w", err)
	}
	n := &Net{opts: opts, gw: opts.Subnet.Addr().Next()}
	if opts.Subnet6.IsValid() {
		n.gw6 = opts.Subnet6.Addr().Next()
	}
	// A stale entry may carry our pid if an earlier process had it; skip such names.
	for tries := 0; ; tries++ {
		n.name = fmt.Sprintf("%s%d-%d", namePrefix, os.Getpid(), counter.Add(1)-1)
		err = createNamed(n.name)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrExist) || tries >= 10 {
			return nil, fmt.Errorf("vmnet: new namespace %s: %w", n.name, err)
		}
	}
	defer func() {
		if err != nil {
			n.Close() // stops whatever was started, deletes the namespace
		}
	}()

	addrs := []netip.Prefix{netip.PrefixFrom(n.gw, opts.Subnet.Bits())}
	if n.gw6.IsValid() {
		addrs = append(addrs, netip.PrefixFrom(n.gw6, opts.Subnet6.Bits()))
	}
	addrs = append(addrs, opts.ExtraAddrs...)
	if err := n.do(func() error { return setup(addrs) }); err != nil {
		return nil, fmt.Errorf("vmnet: set up %s: %w", n.name, err)
	}
	if opts.Domain != "" || opts.Proxy {
		if err := writeEtc(n.name, opts, n.gw); err != nil {
			return nil, fmt.Errorf("vmnet: %s: %w", n.name, err)
		}
	}
	if opts.NTP {
		if err := n.startNTP(); err != nil {
			return nil, err
		}
	}
	if opts.Proxy {
		if err := n.startProxy(); err != nil {
			return nil, err
		}
	}
	if opts.S3 != nil {
		if err := n.startS3(); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// setup runs inside the new namespace.
func setup(addrs []netip.Prefix) error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("find lo: %w", err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return fmt.Errorf("set lo up: %w", err)
	}
	if err := addBridge(BridgeName); err != nil {
		return err
	}
	br, err := netlink.LinkByName(BridgeName)
	if err != nil {
		return fmt.Errorf("find bridge: %w", err)
	}
	for _, p := range addrs {
		a := &netlink.Addr{IPNet: &net.IPNet{
			IP:   p.Addr().AsSlice(),
			Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen()),
		}}
		if p.Addr().Is6() {
			// Skip duplicate address detection: nobody else can own the address on this
			// private link, and a tentative address would make early binds fail.
			a.Flags = unix.IFA_F_NODAD
		}
		if err := netlink.AddrAdd(br, a); err != nil {
			return fmt.Errorf("add %s to %s: %w", p, BridgeName, err)
		}
	}
	if err := netlink.LinkSetUp(br); err != nil {
		return fmt.Errorf("set %s up: %w", BridgeName, err)
	}
	// The kernel installs an IPv6 address's local route from a work queue once the link is
	// up; until then a connect to the address goes out to neighbour discovery and fails with
	// "no route to host". Wait for the routes (bounded) so New returns a usable network.
	for _, p := range addrs {
		if p.Addr().Is6() {
			if err := waitLocalRoute(p.Addr(), 5*time.Second); err != nil {
				return err
			}
		}
	}
	return nil
}

// waitLocalRoute polls until the kernel routes addr to this host.
func waitLocalRoute(addr netip.Addr, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		routes, err := netlink.RouteGet(addr.AsSlice())
		if err == nil && len(routes) > 0 && routes[0].Type == unix.RTN_LOCAL {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: no local route after %s (last error %v)", addr, within, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// addBridge creates a bridge with STP off and forward delay 0, so a port forwards as soon
// as it has carrier (a VM's first DHCP packets must not vanish into a listening state).
// netlink.Bridge cannot set these attributes, hence the hand-made request.
func addBridge(name string) error {
	req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, unix.NLM_F_CREATE|unix.NLM_F_EXCL|unix.NLM_F_ACK)
	req.AddData(nl.NewIfInfomsg(unix.AF_UNSPEC))
	req.AddData(nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(name)))
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(unix.IFLA_INFO_KIND, nl.NonZeroTerminated("bridge"))
	data := info.AddRtAttr(unix.IFLA_INFO_DATA, nil)
	data.AddRtAttr(unix.IFLA_BR_STP_STATE, nl.Uint32Attr(0))
	data.AddRtAttr(unix.IFLA_BR_FORWARD_DELAY, nl.Uint32Attr(0))
	req.AddData(info)
	if _, err := req.Execute(unix.NETLINK_ROUTE, 0); err != nil {
		return fmt.Errorf("create bridge %s: %w", name, err)
	}
	return nil
}

// do runs fn on a thread inside the namespace.
func (n *Net) do(fn func() error) error {
	n.mu.Lock()
	closed := n.closed
	n.mu.Unlock()
	if closed {
		return errClosed
	}
	// A handle per call instead of one kept open: nothing to race with Close, and after
	// Close the path is gone so late calls fail instead of touching a dying namespace.
	ns, err := netns.GetFromPath(filepath.Join(runDir, n.name))
	if err != nil {
		return fmt.Errorf("open netns %s: %w", n.name, err)
	}
	defer ns.Close()
	return inNS(ns, fn)
}

// Name is the namespace name, as `ip netns` shows it.
func (n *Net) Name() string { return n.name }

// Gateway is the bridge's IPv4 address, the first of Options.Subnet.
func (n *Net) Gateway() netip.Addr { return n.gw }

// Gateway6 is the bridge's IPv6 address, or the zero Addr without Options.Subnet6.
func (n *Net) Gateway6() netip.Addr { return n.gw6 }

// Subnet is the IPv4 network of the bridge.
func (n *Net) Subnet() netip.Prefix { return n.opts.Subnet }

// checkLinkName rejects names the kernel would truncate or refuse, with a clear error.
func checkLinkName(name string) error {
	if name == "" || len(name) >= unix.IFNAMSIZ || name == "." || name == ".." {
		return fmt.Errorf("bad link name %q", name)
	}
	for _, r := range name {
		if r == '/' || r == ':' || r <= ' ' || r > '~' {
			return fmt.Errorf("bad link name %q", name)
		}
	}
	return nil
}

// AddTap creates a persistent tap device in the namespace, attached to the bridge and up.
// qemu started with Command can open it: -netdev tap,ifname=NAME,script=no,downscript=no.
// The tap has no carrier until qemu opens it.
func (n *Net) AddTap(name string) error {
	if err := checkLinkName(name); err != nil {
		return fmt.Errorf("vmnet: add tap: %w", err)
	}
	err := n.do(func() error {
		br, err := netlink.LinkByName(BridgeName)
		if err != nil {
			return fmt.Errorf("find bridge: %w", err)
		}
		attrs := netlink.NewLinkAttrs()
		attrs.Name = name
		attrs.MasterIndex = br.Attrs().Index
		// Single queue without packet info is what qemu's tap backend opens; TUN_EXCL
		// makes a duplicate name fail instead of silently reusing the existing device.
		// The device is created by the thread's /dev/net/tun open, so it lands in this
		// namespace.
		tap := &netlink.Tuntap{
			LinkAttrs: attrs,
			Mode:      netlink.TUNTAP_MODE_TAP,
			Flags:     netlink.TUNTAP_NO_PI | netlink.TUNTAP_TUN_EXCL,
		}
		if err := netlink.LinkAdd(tap); err != nil {
			return fmt.Errorf("create: %w", err)
		}
		if err := netlink.LinkSetUp(tap); err != nil {
			netlink.LinkDel(tap)
			return fmt.Errorf("set up: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("vmnet: add tap %s in %s: %w", name, n.name, err)
	}
	return nil
}

// SetLinkUp sets a link in the namespace (a tap, usually) up or down. Down on a VM's tap
// cuts the VM off the bridge, as if its cable were pulled.
func (n *Net) SetLinkUp(name string, up bool) error {
	err := n.do(func() error {
		l, err := netlink.LinkByName(name)
		if err != nil {
			return err
		}
		if up {
			return netlink.LinkSetUp(l)
		}
		return netlink.LinkSetDown(l)
	})
	if err != nil {
		return fmt.Errorf("vmnet: set %s up=%t in %s: %w", name, up, n.name, err)
	}
	return nil
}

// Close stops the servers, waiting until their processes are reaped, and deletes the
// namespace, which removes the bridge and the taps. Stop processes started with Command and
// close sockets from Dial and Listen first: each keeps the namespace (and its links) alive
// after its name is gone. Close is idempotent.
func (n *Net) Close() error {
	n.closeOnce.Do(func() {
		n.mu.Lock()
		n.closed = true
		daemons := []*daemon{n.s3, n.proxy, n.ntp, n.dhcp}
		n.mu.Unlock()
		var errs []error
		for _, d := range daemons {
			errs = append(errs, d.stop())
		}
		if n.s3Dir != "" {
			errs = append(errs, os.RemoveAll(n.s3Dir))
		}
		errs = append(errs, removeEtc(n.name))
		if err := deleteNamed(n.name); err != nil {
			errs = append(errs, err)
		}
		if err := errors.Join(errs...); err != nil {
			n.closeErr = fmt.Errorf("vmnet: close %s: %w", n.name, err)
		}
	})
	return n.closeErr
}

// Sweep deletes namespaces left by earlier processes that died without Close: those named
// etcdapp-<pid>-<n> whose pid no longer exists, with their files in /etc/netns. Processes
// still inside such a namespace (a qemu or dnsmasq that outlived its parent) are killed, as
// they would otherwise keep it alive. Namespaces of live processes, including other
// concurrent test binaries, are left alone.
func Sweep() error {
	var errs []error
	stale := map[string]bool{}
	for _, dir := range []string{runDir, etcNetnsDir} {
		entries, err := os.ReadDir(dir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
		for _, e := range entries {
			m := nameRE.FindStringSubmatch(e.Name())
			if m == nil {
				continue
			}
			if pid, err := strconv.Atoi(m[1]); err == nil && !pidAlive(pid) {
				stale[e.Name()] = true
			}
		}
	}
	for name := range stale {
		if err := killInside(filepath.Join(runDir, name)); err != nil {
			errs = append(errs, err)
		}
		if err := deleteNamed(name); err != nil {
			errs = append(errs, err)
		}
		if err := removeEtc(name); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("vmnet: sweep: %w", err)
	}
	return nil
}

// pidAlive reports whether pid exists. EPERM means it exists but is not ours to signal.
func pidAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

// killInside sends SIGKILL to every process whose network namespace is the one pinned at
// path, found like `ip netns pids` does: by comparing /proc/PID/ns/net with it.
func killInside(path string) error {
	want, err := os.Stat(path)
	if err != nil {
		return nil // not pinned: no namespace to hold processes
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return fmt.Errorf("list processes: %w", err)
	}
	var errs []error
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		fi, err := os.Stat(filepath.Join("/proc", p.Name(), "ns", "net"))
		if err != nil || !os.SameFile(fi, want) {
			continue // gone already, or elsewhere
		}
		if err := unix.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("kill %d in %s: %w", pid, path, err))
		}
	}
	return errors.Join(errs...)
}

package firewall

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netns"

	"github.com/etcd-appliance/appliance/internal/testenv"
)

// pair is two network namespaces joined by a veth: node (filtered) and world, which holds
// the addresses of a member, an outsider, a metrics scraper and a metadata server.
type pair struct {
	node, world netns.NsHandle
}

const (
	nodeAddr     = "10.77.0.1"
	memberAddr   = "10.77.0.2"
	outsiderAddr = "10.77.0.3"
	scraperAddr  = "10.77.0.4"
	metadataAddr = "169.254.169.254"
	node6        = "fd77::1"
	member6      = "fd77::2"
	outsider6    = "fd77::3"
)

func newPair(t *testing.T) pair {
	t.Helper()
	testenv.Root(t, "network namespaces and nftables")
	ip := testenv.LookPath(t, "ip")
	tag := fmt.Sprintf("fw%d", os.Getpid()%100000)
	node, world := tag+"n", tag+"w"
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(ip, args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	run("netns", "add", node)
	t.Cleanup(func() { _ = exec.Command(ip, "netns", "del", node).Run() })
	run("netns", "add", world)
	t.Cleanup(func() { _ = exec.Command(ip, "netns", "del", world).Run() })
	run("link", "add", tag+"a", "netns", node, "type", "veth", "peer", "name", tag+"b", "netns", world)
	run("-n", node, "addr", "add", nodeAddr+"/24", "dev", tag+"a")
	run("-n", node, "addr", "add", "169.254.0.1/16", "dev", tag+"a")
	run("-n", node, "addr", "add", node6+"/64", "dev", tag+"a", "nodad")
	run("-n", node, "link", "set", tag+"a", "up")
	run("-n", node, "link", "set", "lo", "up")
	for _, a := range []string{memberAddr + "/24", outsiderAddr + "/24", scraperAddr + "/24", metadataAddr + "/16"} {
		run("-n", world, "addr", "add", a, "dev", tag+"b")
	}
	for _, a := range []string{member6, outsider6} {
		run("-n", world, "addr", "add", a+"/64", "dev", tag+"b", "nodad")
	}
	run("-n", world, "link", "set", tag+"b", "up")
	var p pair
	var err error
	if p.node, err = netns.GetFromName(node); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.node.Close() })
	if p.world, err = netns.GetFromName(world); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.world.Close() })
	return p
}

// in runs f with the calling thread in ns; sockets made there stay in ns.
func in(t *testing.T, ns netns.NsHandle, f func()) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			panic(err) // a thread left in the wrong namespace would poison later tests
		}
	}()
	f()
}

// listen accepts (and closes) connections on every port in ns.
func listen(t *testing.T, ns netns.NsHandle, addr string, ports ...uint16) {
	t.Helper()
	for _, port := range ports {
		var l net.Listener
		var err error
		in(t, ns, func() { l, err = net.Listen("tcp", net.JoinHostPort(addr, fmt.Sprint(port))) })
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
	}
}

// reaches tells whether a TCP connection from (in ns) to node:port is accepted. A dropped SYN
// shows as a timeout: the filter answers nothing, as it should to strangers.
func reaches(t *testing.T, ns netns.NsHandle, from, to string, port uint16) bool {
	t.Helper()
	var c net.Conn
	var err error
	in(t, ns, func() {
		d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		c, err = d.Dial("tcp", net.JoinHostPort(to, fmt.Sprint(port)))
	})
	if err == nil {
		c.Close()
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	t.Fatalf("dialing %s:%d from %s: %v (want a connection or a timeout)", to, port, from, err)
	return false
}

func TestApplyFiltersInbound(t *testing.T) {
	p := newPair(t)
	listen(t, p.node, nodeAddr, ClientPort, PeerPort, MetricsPort, AgentMetricsPort, SSHPort)
	pol := Policy{
		Members: []netip.Addr{netip.MustParseAddr(memberAddr)},
		Clients: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")},
		Metrics: []netip.Prefix{netip.MustParsePrefix(scraperAddr + "/32")},
	}
	if err := Apply(pol, nftables.WithNetNSFd(int(p.node))); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		from string
		port uint16
		want bool
	}{
		{memberAddr, PeerPort, true},
		{memberAddr, ClientPort, true},
		{memberAddr, MetricsPort, true},
		{memberAddr, AgentMetricsPort, true},
		{memberAddr, SSHPort, false}, // no SSH keys: closed to everyone
		{outsiderAddr, PeerPort, false},
		{outsiderAddr, MetricsPort, false},
		{outsiderAddr, AgentMetricsPort, false},
		{outsiderAddr, ClientPort, true}, // clients_from anywhere (TLS still required)
		{scraperAddr, MetricsPort, true},
		{scraperAddr, PeerPort, false},
	} {
		if got := reaches(t, p.world, c.from, nodeAddr, c.port); got != c.want {
			t.Errorf("from %s to port %d: reached=%v, want %v", c.from, c.port, got, c.want)
		}
	}

	// scale-up: a new member's address is added, and an established connection survives the swap
	var kept net.Conn
	in(t, p.world, func() {
		var err error
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(outsiderAddr)}}
		if kept, err = d.Dial("tcp", nodeAddr+":2379"); err != nil {
			t.Fatal(err)
		}
	})
	defer kept.Close()
	pol.Members = append(pol.Members, netip.MustParseAddr(outsiderAddr))
	pol.SSH = []netip.Prefix{netip.MustParsePrefix(memberAddr + "/32")}
	if err := Apply(pol, nftables.WithNetNSFd(int(p.node))); err != nil {
		t.Fatal(err)
	}
	if !reaches(t, p.world, outsiderAddr, nodeAddr, PeerPort) {
		t.Error("after the new member was added, its peer traffic is still dropped")
	}
	if !reaches(t, p.world, memberAddr, nodeAddr, SSHPort) || reaches(t, p.world, scraperAddr, nodeAddr, SSHPort) {
		t.Error("ssh_from is not what reaches port 22")
	}
}

// Prefixes shorter than a host (a masked compare) and IPv6 sources.
func TestApplyPrefixesAndIPv6(t *testing.T) {
	p := newPair(t)
	listen(t, p.node, nodeAddr, ClientPort)
	listen(t, p.node, node6, PeerPort, ClientPort)
	pol := Policy{
		Members: []netip.Addr{netip.MustParseAddr(member6)},
		Clients: []netip.Prefix{netip.MustParsePrefix("10.77.0.0/30"), netip.MustParsePrefix("fd77::/127")},
	}
	if err := Apply(pol, nftables.WithNetNSFd(int(p.node))); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		from, to string
		port     uint16
		want     bool
	}{
		{memberAddr, nodeAddr, ClientPort, true},   // 10.77.0.2 in 10.77.0.0/30
		{outsiderAddr, nodeAddr, ClientPort, true}, // 10.77.0.3 too
		{scraperAddr, nodeAddr, ClientPort, false}, // 10.77.0.4 is not
		{member6, node6, PeerPort, true},
		{outsider6, node6, PeerPort, false},
		{outsider6, node6, ClientPort, false}, // fd77::3 is outside fd77::/127
	} {
		if got := reaches(t, p.world, c.from, c.to, c.port); got != c.want {
			t.Errorf("from %s to [%s]:%d: reached=%v, want %v", c.from, c.to, c.port, got, c.want)
		}
	}
}

func TestApplyKeepsMetadataForRoot(t *testing.T) {
	p := newPair(t)
	listen(t, p.world, metadataAddr, 80)
	if out, err := asNobody(t, p.node, metadataAddr, 80); err != nil {
		t.Fatalf("without the filter, user nobody cannot reach the test's metadata server: %v: %s", err, out)
	}
	if err := Apply(Policy{}, nftables.WithNetNSFd(int(p.node))); err != nil {
		t.Fatal(err)
	}
	if !reaches(t, p.node, "", metadataAddr, 80) {
		t.Fatal("root cannot reach the metadata server")
	}
	// another user is refused at once, with a reset
	if out, err := asNobody(t, p.node, metadataAddr, 80); err == nil || !strings.Contains(string(out), "refused") {
		t.Fatalf("user nobody reached the metadata server's HTTP: err=%v output=%q", err, out)
	}
}

// asNobody opens a TCP connection to addr:port from ns as user nobody (bash's /dev/tcp).
func asNobody(t *testing.T, ns netns.NsHandle, addr string, port int) ([]byte, error) {
	cmd := exec.Command(testenv.LookPath(t, "bash"), "-c", fmt.Sprintf("exec 3<>/dev/tcp/%s/%d", addr, port))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var out []byte
	var err error
	in(t, ns, func() { out, err = cmd.CombinedOutput() }) // the child starts in the thread's namespace
	return out, err
}

func TestRemove(t *testing.T) {
	p := newPair(t)
	listen(t, p.node, nodeAddr, PeerPort)
	opt := nftables.WithNetNSFd(int(p.node))
	if err := Apply(Policy{}, opt); err != nil {
		t.Fatal(err)
	}
	if reaches(t, p.world, memberAddr, nodeAddr, PeerPort) {
		t.Fatal("no members, yet the peer port is reachable")
	}
	if err := Remove(opt); err != nil {
		t.Fatal(err)
	}
	if !reaches(t, p.world, memberAddr, nodeAddr, PeerPort) {
		t.Fatal("the table is removed, yet the peer port is filtered")
	}
}

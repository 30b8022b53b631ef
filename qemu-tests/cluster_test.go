package qemutests

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcd-appliance/appliance/arch"
	"github.com/etcd-appliance/appliance/internal/bootline"
	"github.com/etcd-appliance/appliance/internal/vm"
	"github.com/etcd-appliance/appliance/internal/vmnet"
)

// clusterNode is one machine of a test cluster: its tap, fixed DHCP lease and data disk,
// which outlive the VM so that the node can be rebooted on the same disk.
type clusterNode struct {
	name string
	ip   netip.Addr
	addr string // the member's address in cluster.members: ip, or a DNS name
	mac  string
	tap  string
	disk string
	v    *vm.VM
	// kargs and qemuArgs are added to the node's next boots' kernel command line and qemu
	// arguments (a pause point, a clock).
	kargs    string
	qemuArgs []string
	// writableOS attaches the OS disk read-write (through a qcow2 overlay of the image), so
	// that only the image itself keeps its root filesystem read-only.
	writableOS bool
}

// testCluster is several amd64 VMs booted directly (kernel + initrd: no firmware) on a bridge
// in a network namespace the test made, all given the same user-data over fw_cfg.
type testCluster struct {
	t        *testing.T
	a        arch.Arch
	img      string
	format   string
	kernel   string
	initrd   string
	cmdline  string
	net      *vmnet.Net
	userData string
	nodes    []*clusterNode
	// health is a client certificate of the cluster's CA: the test network is not a member,
	// so health is asked on the client port (the metrics port is filtered)
	health *tls.Config
	// perNode, when set, is each node's own user-data (imagebuild config render), used
	// where start is given none
	perNode []string
}

// renderPerNode turns the shared document into per-node user-data with
// 'imagebuild config render' (each member's own certificate and key, no CA key), as an
// operator who keeps the CA key off the nodes would.
func (c *testCluster) renderPerNode(t *testing.T, ca *testCA, shared string) {
	t.Helper()
	ib := os.Getenv("IMAGEBUILD")
	if ib == "" {
		missing(t, "IMAGEBUILD must name the image builder (imagebuild config render)")
	}
	dir := workDir(t)
	caDir, out := filepath.Join(dir, "render-ca"), filepath.Join(dir, "render-out")
	os.MkdirAll(caDir, 0o700)
	for name, data := range map[string][]byte{"ca.crt": ca.certPEM, "ca.key": ca.keyPEM, "../shared.yaml": []byte(shared)} {
		if err := os.WriteFile(filepath.Join(caDir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if b, err := exec.Command(ib, "config", "render", "--ca", caDir, "--out", out, filepath.Join(dir, "shared.yaml")).CombinedOutput(); err != nil {
		t.Fatalf("imagebuild config render: %v\n%s", err, b)
	}
	c.perNode = nil
	for _, n := range c.nodes {
		b, err := os.ReadFile(filepath.Join(out, n.name+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "ca_key") || strings.Contains(string(b), strings.TrimSpace(string(ca.keyPEM))) {
			t.Fatalf("%s.yaml holds the CA key", n.name)
		}
		c.perNode = append(c.perNode, string(b))
	}
}

// newCA makes the cluster's CA and the client certificate the harness asks health with.
func (c *testCluster) newCA(t *testing.T, name string) *testCA {
	ca := newTestCA(t, name)
	c.health = ca.clientTLS(t, "qemu-tests-health")
	return ca
}

// needNetns skips (or fails under ETCD_APPLIANCE_STRICT=1) when network namespaces and tap
// devices cannot be made here.
// versitygw is the tests' S3 server, which the Makefile builds (VERSITYGW).
func versitygw(t *testing.T) string {
	t.Helper()
	p := os.Getenv("VERSITYGW")
	if p == "" {
		p = "versitygw"
	}
	p, err := exec.LookPath(p)
	if err != nil {
		missing(t, "no S3 server (make bin/versitygw, or VERSITYGW=path): %v", err)
	}
	return p
}

func needNetns(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		missing(t, "network namespaces need root")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		missing(t, "no /dev/net/tun: %v", err)
	}
}

func newTestCluster(t *testing.T, names ...string) *testCluster {
	t.Helper()
	return newTestClusterOn(t, clusterNet{}, names...)
}

// clusterNet is what a test cluster's network offers besides DHCP.
type clusterNet struct {
	// Domain, when set, is served by the network's DNS server (handed out by DHCP).
	Domain string
	// HostName, when set, names each node's machine in DNS: HostName(member).Domain, and the
	// members are listed by those names, not by IP address. The DHCP lease carries the
	// host name too (dnsmasq takes it from its DNS records).
	HostName func(member string) string
	// Records are more DNS names (a backup server's, say).
	Records map[string][]netip.Addr
	// Proxy runs an HTTP(S) proxy on the gateway (vmnet.Options.Proxy).
	Proxy bool
	// S3 runs an S3 server on the gateway (vmnet.Options.S3).
	S3 *vmnet.S3
}

// clusterGateway is the test network's gateway: the first address of vmnet's default subnet.
var clusterGateway = vmnet.DefaultSubnet.Addr().Next()

func newTestClusterOn(t *testing.T, cn clusterNet, names ...string) *testCluster {
	t.Helper()
	needNetns(t)
	imgs := loadImages(t)
	c := &testCluster{t: t}
	c.loadKernel(t, imgs)

	ips := make([]netip.Addr, len(names))
	ip := clusterGateway
	records := map[string][]netip.Addr{}
	for name, a := range cn.Records {
		records[name] = a
	}
	for i, name := range names {
		for range 10 {
			ip = ip.Next()
		}
		ips[i] = ip
		if cn.HostName != nil {
			records[cn.HostName(name)] = []netip.Addr{ip}
		}
	}
	opts := vmnet.Options{Domain: cn.Domain, Proxy: cn.Proxy, S3: cn.S3}
	if cn.S3 != nil {
		vmnet.VersitygwBinary = versitygw(t)
	}
	if cn.Domain != "" {
		opts.DNSRecords = records
	}
	var err error
	if c.net, err = vmnet.New(opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("dnsmasq log:\n%s", c.net.DHCPLog())
			if cn.Proxy {
				t.Logf("proxy log:\n%s", c.net.ProxyLog())
			}
			if cn.S3 != nil {
				t.Logf("S3 server log:\n%s", c.net.S3Log())
			}
		}
		if err := c.net.Close(); err != nil {
			t.Error(err)
		}
	})
	var hosts []vmnet.Host
	dir := workDir(t)
	for i, name := range names {
		n := c.addNode(name, ips[i], fmt.Sprintf("52:54:00:77:00:%02x", i+1), filepath.Join(dir, name+"-data.qcow2"))
		hw, _ := net.ParseMAC(n.mac)
		h := vmnet.Host{MAC: hw, IP: n.ip, Hostname: name}
		if cn.HostName != nil {
			h.Hostname = "" // from the DNS record
			n.addr = cn.HostName(name) + "." + cn.Domain
		}
		hosts = append(hosts, h)
	}
	if err := c.net.StartDHCP(hosts); err != nil {
		t.Fatal(err)
	}
	return c
}

// addNode gives the cluster a machine: a tap on the bridge and a blank data disk at disk.
func (c *testCluster) addNode(name string, ip netip.Addr, mac, disk string) *clusterNode {
	t := c.t
	t.Helper()
	n := &clusterNode{name: name, ip: ip, mac: mac, tap: fmt.Sprintf("tap%d", len(c.nodes)), disk: disk}
	if err := c.net.AddTap(n.tap); err != nil {
		t.Fatal(err)
	}
	if err := vm.CreateBlankDisk(t.Context(), n.disk, dataDiskSize); err != nil {
		t.Fatal(err)
	}
	c.nodes = append(c.nodes, n)
	return n
}

// checkNoEtcd checks that nothing answers on node i's metrics port: etcd was never started.
func (c *testCluster) checkNoEtcd(ctx context.Context, t *testing.T, i int) {
	t.Helper()
	if err := checkHealth(ctx, c.tlsHealthClient(), c.healthURL(i)); err == nil {
		t.Error("etcd answers although its configuration was refused")
	}
}

// loadKernel finds the amd64 image and its direct-boot kernel, initrd and command line.
func (c *testCluster) loadKernel(t *testing.T, imgs *images) {
	t.Helper()
	a, err := arch.Lookup("amd64")
	if err != nil {
		t.Fatal(err)
	}
	c.a = a
	c.img, c.format = imgs.need(t, a.Name, "raw", "qcow2")
	c.kernel, c.initrd, c.cmdline = imgs.directBoot(t, a.Name)
}

var (
	// powerDown is the kernel's last line when the machine powers off.
	powerDown = regexp.MustCompile(`reboot: Power down`)
	// stopTimedOut is systemd killing a unit that did not stop in time.
	stopTimedOut = regexp.MustCompile(`State 'stop-sigterm' timed out|Killing process .* with signal SIGKILL`)
)

// clusterVMLife bounds a cluster member's VM, in VM timeouts: more than any cluster test's own
// context (at most 6 VM timeouts).
const clusterVMLife = 8

// tcgTuning is the etcd section for clusters of emulated VMs sharing two host cores: etcd's
// defaults (100 ms heartbeats, 1 s elections) make such members elect new leaders all the
// time when one VM is starved of CPU for a second.
const tcgTuning = "etcd: {heartbeat_interval_ms: 300, election_timeout_ms: 5000}\n"

// members is the cluster.members section for the nodes.
func (c *testCluster) members() string {
	s := "  members:\n"
	for _, n := range c.nodes {
		s += fmt.Sprintf("    - {name: %s, address: %s}\n", n.name, n.memberAddr())
	}
	return s
}

// memberAddr is the node's address in cluster.members.
func (n *clusterNode) memberAddr() string {
	if n.addr != "" {
		return n.addr
	}
	return n.ip.String()
}

// start boots node i on its data disk with the cluster's user-data (or userData when given;
// "-" for none: no fw_cfg item at all).
// It does not take a slot of QEMU_TESTS_PARALLEL: the cluster's VMs must run together, and
// cluster tests are not parallel tests.
func (c *testCluster) start(i int, userData string) *vm.VM {
	return c.startWith(i, userData)
}

// startWith is start with more disks after the data disk (a seed volume, say).
func (c *testCluster) startWith(i int, userData string, more ...vm.Disk) *vm.VM {
	t := c.t
	t.Helper()
	n := c.nodes[i]
	if userData == "" && c.perNode != nil {
		userData = c.perNode[i]
	}
	if userData == "" {
		userData = c.userData
	}
	var extra []string
	if userData != "-" {
		cfgPath := filepath.Join(workDir(t), "user-data.yaml")
		if err := os.WriteFile(cfgPath, []byte(userData), 0o644); err != nil {
			t.Fatal(err)
		}
		extra = []string{"-fw_cfg", "name=opt/com.coreos/config,file=" + cfgPath}
	}
	osDisk := vm.Disk{Path: c.img, Format: c.format, ReadOnly: true}
	if n.writableOS {
		overlay := filepath.Join(workDir(t), n.name+"-os.qcow2")
		if out, err := exec.CommandContext(t.Context(), "qemu-img", "create", "-q", "-f", "qcow2", "-F", c.format, "-b", c.img, overlay).CombinedOutput(); err != nil {
			t.Fatalf("qemu-img create overlay: %v: %s", err, out)
		}
		osDisk = vm.Disk{Path: overlay, Format: "qcow2"}
	}
	v := startVM(t, vm.Config{
		Arch:      c.a,
		Kernel:    c.kernel,
		Initrd:    c.initrd,
		Cmdline:   strings.TrimSpace(c.cmdline + " " + n.kargs),
		MemoryMiB: 768,
		Disks: append([]vm.Disk{
			osDisk,
			{Path: n.disk, Format: "qcow2", Serial: dataDiskSerial},
		}, more...),
		Network:   vm.Network{Tap: n.tap, Netns: c.net.Name(), MAC: n.mac},
		ExtraArgs: append(extra, n.qemuArgs...),
		// A member lives through the whole test, which runs for several VM timeouts (its own
		// context says how long); this bound only stops a leaked qemu.
		Timeout: clusterVMLife * vmTimeout(t),
	}, false, n.name)
	n.v = v
	return v
}

// healthClient talks plain HTTP to the metrics ports inside the namespace.
func (c *testCluster) healthClient() *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: c.net.DialContext}}
}

// reaches tells whether a TCP connection from the test network to ip:port is accepted within
// a few seconds (the packet filter drops what it refuses: no answer at all).
func (c *testCluster) reaches(ctx context.Context, ip netip.Addr, port int) bool {
	dctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	conn, err := c.net.DialContext(dctx, "tcp", netip.AddrPortFrom(ip, uint16(port)).String())
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// tlsHealthClient asks etcd's client port inside the namespace with the harness's client
// certificate.
func (c *testCluster) tlsHealthClient() *http.Client {
	if c.health == nil {
		c.t.Fatal("the cluster's CA was made without c.newCA: the harness has no client certificate to ask health with")
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: c.net.DialContext, TLSClientConfig: c.health}}
}

// waitHealthy waits until every listed node reports /health true on its client port.
func (c *testCluster) waitHealthy(ctx context.Context, idx ...int) error {
	client := c.tlsHealthClient()
	for _, i := range idx {
		if err := waitHealthyWith(ctx, client, c.healthURL(i)); err != nil {
			return fmt.Errorf("%s: %w", c.nodes[i].name, err)
		}
	}
	return nil
}

// pollHealthy is waitHealthy at the bench's resolution (pollHealthy), for the timings
// TestCluster reports (make bench prints them): when etcd answers, not when the boot's last
// unit prints the boot-finished line, which comes later (the coldplug's second part starts
// with etcd and is part of the boot). It watches the nodes' consoles meanwhile, so a boot that
// finishes failed, or a VM that exits, ends the wait at once rather than at the deadline; the
// boot lines are for the caller to check afterwards (waitBooted).
func (c *testCluster) pollHealthy(ctx context.Context, idx ...int) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	failed := make(chan error, len(idx))
	for _, i := range idx {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := c.nodes[i].v.WaitConsole(ctx, bootline.Regexp)
			if err != nil {
				if ctx.Err() == nil { // qemu exited: the error carries the console's tail
					failed <- fmt.Errorf("%s: %w", c.nodes[i].name, err)
					cancel()
				}
				return // or the wait ended: healthy, or the deadline
			}
			if r, _ := bootline.Parse(m[0]); !r.Running() {
				failed <- fmt.Errorf("%s: boot finished with %s, want state=running failed=none", c.nodes[i].name, r)
				cancel()
			}
		}()
	}
	client := c.tlsHealthClient()
	client.Timeout = 2 * time.Second
	for _, i := range idx {
		if err := pollHealthy(ctx, client, c.healthURL(i)); err != nil {
			select {
			case f := <-failed:
				return f
			default:
				return fmt.Errorf("%s: %w", c.nodes[i].name, err)
			}
		}
	}
	return nil
}

func (c *testCluster) endpoint(i int) string {
	return fmt.Sprintf("https://%s:%d", c.nodes[i].ip, etcdClientPort)
}

// healthURL is node i's /health on its client port (TLS, a client certificate required).
func (c *testCluster) healthURL(i int) string { return c.endpoint(i) + "/health" }

func (c *testCluster) client(i int, tc *tls.Config) *clientv3.Client {
	return etcdClient(c.t, []string{c.endpoint(i)}, tc, c.dial)
}

// endpoints are every node's client URL.
func (c *testCluster) endpoints() []string {
	var eps []string
	for i := range c.nodes {
		eps = append(eps, c.endpoint(i))
	}
	return eps
}

// clientAll talks to every node, as a client given the whole cluster does.
func (c *testCluster) clientAll(tc *tls.Config) *clientv3.Client {
	return etcdClient(c.t, c.endpoints(), tc, c.dial)
}

func (c *testCluster) dial(ctx context.Context, addr string) (net.Conn, error) {
	return c.net.DialContext(ctx, "tcp", addr)
}

// checkSSH logs in to node i over SSH from inside the namespace with key, and checks the
// hostname the node set; then that another key is refused.
func (c *testCluster) checkSSH(ctx context.Context, t *testing.T, i int, key sshKey, hostname string) {
	t.Helper()
	inNetns := func(ctx context.Context, name string, args ...string) *exec.Cmd {
		return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", c.net.Name(), name}, args...)...)
	}
	host := c.nodes[i].ip.String()
	out, err := key.runWith(ctx, inNetns, host, sshPort, hostnameCmd)
	if err != nil {
		t.Fatalf("ssh %s with the configured key: %v\n%s", host, err, out)
	}
	if got := strings.TrimSpace(out); got != hostname {
		t.Errorf("hostname over ssh %q, want %q", got, hostname)
	}
	if out, err := newSSHKey(t).runWith(ctx, inNetns, host, sshPort, "true"); err == nil {
		t.Errorf("ssh %s with a key the node was not given logged in: %s", host, out)
	}
}

func all(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

// TestCluster: three VMs with identical user-data and their own blank data disks form one
// TLS-only cluster whose members are DNS names, served by the test network's DNS server and
// handed out by its DHCP; it keeps every key across reboots of one and of all nodes, and a
// member is replaced on a blank disk.
func TestCluster(t *testing.T) {
	if !archSelected("amd64") {
		t.Skip("amd64 not in QEMU_TESTS_ARCHES")
	}
	// the machines are node-a… in DNS, as cloud private DNS names them, so neither their
	// hostname nor anything else but DNS says which member each is
	hostName := func(member string) string { return strings.Replace(member, "etcd-", "node-", 1) }
	c := newTestClusterOn(t, clusterNet{Domain: "etcd.test", HostName: hostName}, "etcd-a", "etcd-b", "etcd-c")
	ca := c.newCA(t, "qemu-tests cluster CA")
	c.userData = "version: 1\ncluster:\n  name: qemu-tests\n" + c.members() + ca.tlsYAML() + tcgTuning
	ctx, cancel := context.WithTimeout(t.Context(), 3*vmTimeout(t))
	defer cancel()

	start := time.Now()
	for i := range c.nodes {
		c.start(i, "")
	}
	if err := c.pollHealthy(ctx, all(3)...); err != nil {
		t.Fatal(err)
	}
	t.Logf("power-on to a healthy 3-node cluster: %s", time.Since(start).Round(100*time.Millisecond))
	c.waitAllBooted(ctx)
	for _, n := range c.nodes {
		// the hostname DHCP gave is applied (networkd alone would need D-Bus for it), and the
		// node found its member by resolving the member names
		for _, line := range []string{
			`etcd-appliance: configured: hostname=` + hostName(n.name) + ` member=` + n.name + ` `,
			`etcd-appliance: member ` + n.name + ` \(name ` + regexp.QuoteMeta(n.addr) + ` resolves to ` + regexp.QuoteMeta(n.ip.String()) + `, on this machine\) of cluster qemu-tests`,
		} {
			if _, err := n.v.WaitConsole(ctx, regexp.MustCompile(line)); err != nil {
				t.Errorf("%s: %v", n.name, err)
			}
		}
	}

	good := ca.clientTLS(t, "qemu-tests")
	a, cc := c.client(0, good), c.client(2, good)
	members, err := a.MemberList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(members.Members) != 3 {
		t.Fatalf("member list %v, want 3 members", members.Members)
	}
	for _, m := range members.Members {
		if len(m.PeerURLs) != 1 || m.PeerURLs[0] != "https://"+hostName(m.Name)+".etcd.test:2380" {
			t.Errorf("member %s has peer URLs %v, want its DNS name", m.Name, m.PeerURLs)
		}
	}
	putThenGet(ctx, t, a, cc, "/cluster/first", "written through etcd-a")

	if !t.Run("plaintext refused", func(t *testing.T) {
		resp, err := c.healthClient().Get(fmt.Sprintf("http://%s:%d/health", c.nodes[0].ip, etcdClientPort))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				t.Errorf("plain HTTP to the client port answered %s", resp.Status)
			}
		}
		plain := etcdClient(t, []string{fmt.Sprintf("http://%s:%d", c.nodes[0].ip, etcdClientPort)}, nil, c.dial)
		if _, err := plain.Put(shortCtx(ctx), "/cluster/plain", "x"); err == nil {
			t.Error("a plaintext gRPC put was accepted")
		}
	}) {
		return
	}
	if !t.Run("packet filter", func(t *testing.T) {
		// the test network's gateway is not a member: the peer and metrics ports drop it, the
		// client port (clients_from: anywhere by default) lets it in, TLS still required
		ip := c.nodes[0].ip
		if !c.reaches(ctx, ip, etcdClientPort) {
			t.Fatal("the client port is not reachable from the test network: the checks below would prove nothing")
		}
		for _, port := range []int{etcdPeerPort, etcdMetricsPort, agentMetricsPort} {
			if c.reaches(ctx, ip, port) {
				t.Errorf("port %d of etcd-a accepts a connection from %s, which is not a member", port, clusterGateway)
			}
		}
		// TLS 1.2 and older: refused on both etcd ports (the peer port by its TLS, the
		// filter aside: etcd-b's view is checked through etcd-a's client port)
		old := good.Clone()
		old.MaxVersion = tls.VersionTLS12
		if _, err := c.client(1, old).Put(shortCtx(ctx), "/cluster/tls12", "x"); err == nil {
			t.Error("a TLS 1.2 client was accepted on the client port")
		}
	}) {
		return
	}
	if !t.Run("other CA refused", func(t *testing.T) {
		other := newTestCA(t, "another CA").clientTLS(t, "intruder")
		other.RootCAs = good.RootCAs // trusts the server: only the client certificate is wrong
		cli := c.client(1, other)
		if _, err := cli.Put(shortCtx(ctx), "/cluster/intruder", "x"); err == nil {
			t.Error("a put with a certificate from another CA was accepted")
		}
		noCert := good.Clone()
		noCert.Certificates = nil
		if _, err := c.client(1, noCert).Put(shortCtx(ctx), "/cluster/anonymous", "x"); err == nil {
			t.Error("a put without a client certificate was accepted")
		}
	}) {
		return
	}
	if !t.Run("reboot one", func(t *testing.T) {
		b := c.nodes[1]
		// A cloud's stop presses the power button: the node shuts down cleanly (etcd stops
		// first) and powers off by itself.
		off := time.Now()
		if err := b.v.PowerButton(ctx); err != nil {
			t.Fatal(err)
		}
		// Within systemd's 90 s stop timeout: a unit killed after it would still power off.
		select {
		case <-b.v.Done():
			t.Logf("%s powered off %s after its power button was pressed", b.name, time.Since(off).Round(100*time.Millisecond))
		case <-time.After(time.Minute):
			t.Fatalf("%s did not power off within a minute of its power button; console:\n%s", b.name, strings.Join(b.v.ConsoleTail(20), "\n"))
		}
		if err := b.v.Wait(); err != nil {
			t.Fatalf("%s after its power button: %v", b.name, err)
		}
		// powered off (not rebooted: -no-reboot ends qemu either way), no unit killed
		if _, err := b.v.WaitConsole(ctx, powerDown); err != nil {
			t.Fatal(err)
		}
		if m, _ := b.v.WaitConsole(ctx, stopTimedOut); m != nil {
			t.Fatalf("%s did not stop cleanly: %s", b.name, m[0])
		}
		b.v.Close()
		putThenGet(ctx, t, a, cc, "/cluster/while-b-down", "b was down")
		c.start(1, "")
		if err := c.pollHealthy(ctx, 1); err != nil {
			t.Fatal(err)
		}
		// a serializable read answers from b's own copy: it has caught up
		bc := c.client(1, good)
		for _, k := range []string{"/cluster/first", "/cluster/while-b-down"} {
			waitKeyEvery(ctx, t, bc, k, 100*time.Millisecond, clientv3.WithSerializable())
		}
		// A reimage's step is this reboot with another OS disk (make bench reports it).
		t.Logf("one member powered off to healthy and caught up again: %s", time.Since(off).Round(100*time.Millisecond))
		// the line may have come before the read: then this is when it was checked
		c.waitBooted(ctx, 1)
		t.Logf("its boot-finished line there by: %s", time.Since(off).Round(100*time.Millisecond))
	}) {
		return
	}
	if !t.Run("reboot all", func(t *testing.T) {
		for _, n := range c.nodes {
			n.v.Close()
		}
		for i := range c.nodes {
			c.start(i, "")
		}
		c.waitAllBooted(ctx)
		if err := c.waitHealthy(ctx, all(3)...); err != nil {
			t.Fatal(err)
		}
		cli := c.client(2, good)
		for _, k := range []string{"/cluster/first", "/cluster/while-b-down"} {
			waitKey(ctx, t, cli, k)
		}
	}) {
		return
	}
	if !t.Run("volume of another cluster refused", func(t *testing.T) {
		n := c.nodes[0]
		n.v.Close()
		other := newTestCA(t, "other cluster CA")
		before := fileSHA256(t, n.disk)
		v := c.start(0, "version: 1\ncluster:\n  name: another-cluster\n"+c.members()+other.tlsYAML())
		waitRefused(ctx, t, v, regexp.MustCompile(`etcd-appliance: data volume: .*belongs to cluster "qemu-tests"`))
		v.Close()
		if after := fileSHA256(t, n.disk); after != before {
			t.Error("the refused data disk was changed")
		}
	}) {
		return
	}
	t.Run("replace on a blank disk", func(t *testing.T) {
		// etcd-a's machine is gone with its disk: a new one, blank, takes its name
		if err := vm.CreateBlankDisk(ctx, c.nodes[0].disk, dataDiskSize); err != nil {
			t.Fatal(err)
		}
		cli := c.client(1, good)
		putThenGet(ctx, t, cli, c.client(2, good), "/cluster/while-a-gone", "a was replaced")
		v := c.start(0, "")
		if _, err := v.WaitConsole(ctx, regexp.MustCompile(`etcd-appliance: cluster: removed the stale member etcd-a`)); err != nil {
			t.Fatal(err)
		}
		c.waitBooted(ctx, 0)
		waitVoters(ctx, t, cli, "etcd-a", "etcd-b", "etcd-c")
		ac := c.client(0, good)
		for _, k := range []string{"/cluster/first", "/cluster/while-a-gone"} {
			waitKey(ctx, t, ac, k, clientv3.WithSerializable())
		}
	})
}

// waitAllBooted waits for every node's boot-finished line, concurrently.
func (c *testCluster) waitAllBooted(ctx context.Context) {
	c.waitBooted(ctx, all(len(c.nodes))...)
}

func (c *testCluster) waitBooted(ctx context.Context, idx ...int) {
	var wg sync.WaitGroup
	for _, i := range idx {
		wg.Add(1)
		go func() {
			defer wg.Done()
			waitBootedNamed(ctx, c.t, c.nodes[i].v, c.nodes[i].name)
		}()
	}
	wg.Wait()
}

// shortCtx bounds one etcd request; a refused client retries until it ends.
func shortCtx(ctx context.Context) context.Context {
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	context.AfterFunc(c, cancel)
	return c
}

// putThenGet writes through one member and reads back (linearizable) through another. A put
// that fails while the cluster elects a leader is retried: writing the same value twice is
// harmless, and a client is expected to retry then.
func putThenGet(ctx context.Context, t *testing.T, w, r *clientv3.Client, key, val string) {
	t.Helper()
	opCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		_, err := w.Put(shortCtx(opCtx), key, val)
		if err == nil {
			break
		}
		if opCtx.Err() != nil {
			t.Fatalf("put %s: %v", key, err)
		}
		t.Logf("put %s: %v (retrying)", key, err)
	}
	resp, err := r.Get(opCtx, key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != val {
		t.Fatalf("get %s = %v, want %q", key, resp.Kvs, val)
	}
}

// waitKey reads key until it exists (a member that just rejoined may still be catching up).
func waitKey(ctx context.Context, t *testing.T, cli *clientv3.Client, key string, opts ...clientv3.OpOption) {
	t.Helper()
	waitKeyEvery(ctx, t, cli, key, 500*time.Millisecond, opts...)
}

// waitKeyEvery is waitKey reading every interval (a timing's resolution).
func waitKeyEvery(ctx context.Context, t *testing.T, cli *clientv3.Client, key string, interval time.Duration, opts ...clientv3.OpOption) {
	t.Helper()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var last error
	for {
		resp, err := cli.Get(shortCtx(ctx), key, opts...)
		if err == nil && len(resp.Kvs) == 1 {
			return
		}
		last = err
		select {
		case <-ctx.Done():
			t.Fatalf("key %s not readable before the deadline (last error: %v)", key, last)
		case <-tick.C:
		}
	}
}

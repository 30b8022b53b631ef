package node

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etcd-appliance/appliance/internal/firewall"

	"github.com/etcd-appliance/appliance/internal/datavol"
	"github.com/etcd-appliance/appliance/internal/nodeconfig/nodetest"
	"github.com/etcd-appliance/appliance/internal/nodestate"
	"github.com/etcd-appliance/appliance/internal/tlstest"
)

// fakeMachine is a machine with one blank data disk whose "filesystem" is a directory.
type fakeMachine struct {
	peerNames map[string]string // host:port → the CN its peer port presents
	filters   []firewall.Policy // every policy installed, in order
	t         *testing.T
	cmdline   string
	hostname  string
	prepared  int
	started   []string
	restarted []string
	// resolver: each StartResolver call, "start" (waited for) or "queue"
	resolver []string
	// dhcpNTP: the NTP servers DHCP announced; timeSyncStarts counts StartTimeSync calls,
	// which fail with timeSyncErr
	dhcpNTP        []string
	timeSyncStarts int
	timeSyncErr    error
	onPause        func() // called when the boot reaches PrepareVolume's after-format pause
	// sysctl: the files of each ApplySysctl call, which reports sysctlNotes and fails with
	// sysctlErr; sysctlFilters: how many packet filters were installed before each call
	sysctl        [][]string
	sysctlFilters []int
	sysctlNotes   []string
	sysctlErr     error
}

func (m *fakeMachine) Cmdline() string                { return m.cmdline }
func (m *fakeMachine) SetHostname(name string) error  { m.hostname = name; return nil }
func (m *fakeMachine) Owner(string) (int, int, error) { return os.Getuid(), os.Getgid(), nil }
func (m *fakeMachine) FindVolume(req datavol.Request) (datavol.Choice, error) {
	if req.Device != "" && req.Device != "/dev/vdb" {
		return datavol.Choice{}, errors.New("data.device " + req.Device + ": no such disk")
	}
	// blank until PrepareVolume records an identity on it
	id, err := datavol.ReadIdentity(req.Dir)
	if err != nil {
		return datavol.Choice{}, err
	}
	return datavol.Choice{Path: "/dev/vdb", Reason: "the only blank disk", Format: id == nil}, nil
}

// PrepareVolume records the identity on first use and checks it later, as datavol does.
func (m *fakeMachine) PrepareVolume(ctx context.Context, o datavol.Options) (*datavol.Result, error) {
	m.prepared++
	res := &datavol.Result{Choice: datavol.Choice{Path: "/dev/vdb", Reason: "the only blank disk"}}
	id, err := datavol.ReadIdentity(o.Dir)
	if err != nil {
		return nil, err
	}
	if id == nil {
		if o.AfterFormat != nil {
			if err := o.AfterFormat(ctx); err != nil {
				return nil, err
			}
		}
		want := o.Want
		want.Created = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
		if err := datavol.WriteIdentity(o.Dir, &want); err != nil {
			return nil, err
		}
		res.Formatted, res.Identity = true, &want
		return res, nil
	}
	if err := id.Check(o.Want); err != nil {
		return nil, err
	}
	res.Identity = id
	return res, nil
}
func (m *fakeMachine) StartUnits(_ context.Context, units []string) error {
	m.started = append(m.started, units...)
	return nil
}
func (m *fakeMachine) RestartUnits(_ context.Context, units []string) error {
	m.restarted = append(m.restarted, units...)
	return nil
}
func (m *fakeMachine) StartResolver(_ context.Context, wait bool) error {
	m.resolver = append(m.resolver, map[bool]string{true: "start", false: "queue"}[wait])
	return nil
}
func (m *fakeMachine) StartTimeSync(context.Context) error {
	m.timeSyncStarts++
	return m.timeSyncErr
}
func (m *fakeMachine) ClockSynced() bool                { return m.timeSyncStarts > 0 && m.timeSyncErr == nil }
func (m *fakeMachine) DHCPTimeServers() []string        { return m.dhcpNTP }
func (m *fakeMachine) Scratch() (string, func(), error) { return m.t.TempDir(), func() {}, nil }
func (m *fakeMachine) SSHHostKey(_ context.Context, dir, link string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "ed25519_host_key"), []byte("key"), 0o600)
}
func (m *fakeMachine) ReportReady(context.Context, string) error { return nil }
func (m *fakeMachine) SettleDevices(context.Context) error       { return nil }
func (m *fakeMachine) ApplySysctl(_ context.Context, files []string) ([]string, error) {
	m.sysctl = append(m.sysctl, files)
	m.sysctlFilters = append(m.sysctlFilters, len(m.filters))
	return m.sysctlNotes, m.sysctlErr
}
func (m *fakeMachine) PeerCertName(_ context.Context, hostport string, _ *tls.Config) (string, error) {
	if cn, ok := m.peerNames[hostport]; ok {
		return cn, nil
	}
	return "", errors.New("connection refused")
}
func (m *fakeMachine) Filter(p firewall.Policy) error {
	m.filters = append(m.filters, p)
	return nil
}

// testNode is a node in a temp dir with userData over qemu's fw_cfg; its data volume
// directory is kept across boots by passing the same dataDir.
func testNode(t *testing.T, userData []byte, dataDir string, m *fakeMachine) (*Node, *console) {
	t.Helper()
	dir := t.TempDir()
	rel := filepath.Join(dir, "os-release")
	os.WriteFile(rel, []byte("IMAGE_VERSION=\"1.0\"\nBUILD_ID=\"b1\"\nETCD_VERSION=\"v3.6.16\"\nARCHITECTURE=amd64\n"), 0o644)
	out := newConsole()
	p := Paths{Root: filepath.Join(dir, "root"), OSRelease: rel, DataDir: dataDir, RunDir: filepath.Join(dir, "run")}
	m.t = t
	return &Node{Paths: p, Env: nodetest.QemuEnv(t, "root=PARTUUID=x ro etcd.platform=qemu", userData),
		Resolve: nodetest.Options(p.Root), Machine: m, Console: out, Now: time.Now}, out
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// A node given nothing forms a single-member cluster with its own CA on the data volume; the
// next boot on the same volume keeps the member, the CA and the certificates.
func TestBootSingleMember(t *testing.T) {
	data := t.TempDir()
	m := &fakeMachine{}
	n, console := testNode(t, nil, data, m)
	if err := n.Boot(context.Background()); err != nil {
		t.Fatalf("boot: %v\n%s", err, console)
	}
	for _, want := range []string{
		"etcd-appliance: image 1.0 build b1 (etcd v3.6.16, amd64)",
		"etcd-appliance: platform qemu (",
		"etcd-appliance: configured: hostname=(none) member=etcd ssh_keys=0",
		"etcd-appliance: data volume /dev/vdb (the only blank disk): formatted ext4",
		"etcd-appliance: tls: issued the server certificate (new node key)",
		"etcd-appliance: member etcd (",
		"member etcd (hostname (single-member cluster)) of a single-member cluster; clients: https://127.0.0.1:2379",
		"this single member made its own CA",
		"etcd-appliance: packet filter: inbound denied except: 2380 from ",
		"etcd-appliance: peer check: on (a new cluster)",
	} {
		if !strings.Contains(console.String(), want) {
			t.Errorf("console lacks %q:\n%s", want, console)
		}
	}
	env, err := os.ReadFile(filepath.Join(n.Paths.RunDir, "etcd.env"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ETCD_NAME=etcd", "ETCD_INITIAL_CLUSTER_STATE=new", "ETCD_PEER_CERT_ALLOWED_CN=etcd-appliance-peer", "ETCD_CLIENT_CERT_AUTH=true", "ETCD_DATA_DIR=" + filepath.Join(data, "data")} {
		if !strings.Contains(string(env), want) {
			t.Errorf("etcd.env lacks %s:\n%s", want, env)
		}
	}
	for path, want := range map[string]os.FileMode{
		filepath.Join(n.Paths.RunDir, "etcd.env"): 0o600,
		filepath.Join(data, "pki", "ca.key"):      0o600,
		filepath.Join(data, "pki", "node.key"):    0o600,
		filepath.Join(data, "pki", "etcdctl.key"): 0o600,
		filepath.Join(data, "pki", "server.crt"):  0o644,
		filepath.Join(data, "data"):               0o700,
	} {
		if got := mode(t, path); got != want {
			t.Errorf("%s: mode %v, want %v", path, got, want)
		}
	}
	st, err := nodestate.Read(n.Paths.RunDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.filters) != 1 || len(m.filters[0].SSH) != 0 || !slices.Equal(m.filters[0].Clients, firewall.Anywhere) || len(m.filters[0].Metrics) != 0 {
		t.Errorf("installed filters %+v, want one: clients from anywhere, no metrics scrapers, SSH closed", m.filters)
	}
	if !slices.Equal(st.Filter.Clients, firewall.Anywhere) {
		t.Errorf("node state's filter settings %+v do not reach the agent", st.Filter)
	}
	if st.Member != "etcd" || st.Volume != data || st.EtcdVersion != "v3.6.16" || st.Image != "1.0 b1" {
		t.Errorf("node state %+v", st)
	}
	ca1, _ := os.ReadFile(filepath.Join(data, "pki", "ca.crt"))
	id, _ := datavol.ReadIdentity(data)
	if id == nil || id.CAFingerprint == "" {
		t.Fatalf("the volume does not record its own CA: %+v", id)
	}

	// the next boot (a reboot or a reimage) on the same volume
	n2, console2 := testNode(t, nil, data, m)
	if err := n2.Boot(context.Background()); err != nil {
		t.Fatalf("second boot: %v\n%s", err, console2)
	}
	if strings.Contains(console2.String(), "issued the") || strings.Contains(console2.String(), "formatted") {
		t.Errorf("the second boot issued certificates or formatted again:\n%s", console2)
	}
	if ca2, _ := os.ReadFile(filepath.Join(data, "pki", "ca.crt")); !bytes.Equal(ca1, ca2) {
		t.Error("the second boot made a new CA")
	}
}

// Bad input stops the boot before anything is written: no disk is asked for, no file appears
// under the root, the run directory or the data volume.
func TestBootRefusesBadConfig(t *testing.T) {
	backups := tlstest.Server(t, tlstest.NewCA(t, "backups CA").Leaf(t, []string{"localhost"}),
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("snapshot")) }))
	for _, tc := range []struct {
		name, userData string
		want           []string
		metaData       string // a NoCloud seed's meta-data: the platform is nocloud
	}{
		{"a metadata hostname with a newline", "", []string{`etcd-appliance: config error: platform nocloud: metadata hostname "a\nb": contains a control character`},
			"instance-id: i-1\nlocal-hostname: \"a\\nb\"\n"},
		{"two problems", "version: 1\netcd: {heartbeat_interval_ms: 1}\nnode: {name: Bad_Name}\n",
			[]string{"etcd-appliance: config error: user-data from qemu: line 2: etcd.heartbeat_interval_ms", "line 3: node.name"}, ""},
		{"no such disk", "version: 1\ndata: {device: /dev/nope}\n",
			[]string{"etcd-appliance: data volume: data.device /dev/nope: no such disk"}, ""},
		{"a restore source whose CA is not trusted", "version: 1\nrestore: {source: '" + backups + "/etcd.db', sha256: '" + strings.Repeat("a", 64) + "'}\n",
			[]string{"etcd-appliance: restore: restore.source " + backups + "/etcd.db: tls: failed to verify certificate: x509: certificate signed by unknown authority: add the CA that signed the server's certificate to trust.ca_certs"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := t.TempDir()
			m := &fakeMachine{}
			n, console := testNode(t, []byte(tc.userData), data, m)
			if tc.metaData != "" {
				n.Env.Dir, n.Resolve.Platform = t.TempDir(), "nocloud"
				if err := os.WriteFile(filepath.Join(n.Env.Dir, "meta-data"), []byte(tc.metaData), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			err := n.Boot(context.Background())
			var stop *StopError
			if !errors.As(err, &stop) {
				t.Fatalf("boot: %v, want a refusal\n%s", err, console)
			}
			for _, w := range append(tc.want, "etcd-appliance: etcd is not started: fix this and reboot") {
				if !strings.Contains(console.String(), w) {
					t.Errorf("console lacks %q:\n%s", w, console)
				}
			}
			if m.prepared != 0 || m.hostname != "" {
				t.Errorf("a refused boot prepared the volume %d times, set hostname %q", m.prepared, m.hostname)
			}
			if !slices.Contains(m.resolver, "queue") {
				t.Errorf("a refused boot left the DNS stub unstarted (%v): the node could not resolve a name to fix it", m.resolver)
			}
			for _, dir := range []string{n.Paths.Root, n.Paths.RunDir, data} {
				if entries, _ := os.ReadDir(dir); len(entries) != 0 {
					t.Errorf("a refused boot wrote %v into %s", entries, dir)
				}
			}
		})
	}
}

// A member that left its cluster (firstboot leave) keeps etcd off on later boots.
func TestBootAfterLeave(t *testing.T) {
	data := t.TempDir()
	m := &fakeMachine{}
	n, console := testNode(t, nil, data, m)
	if err := n.Boot(context.Background()); err != nil {
		t.Fatalf("boot: %v\n%s", err, console)
	}
	id, _ := datavol.ReadIdentity(data)
	left := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	id.Left = &left
	if err := datavol.WriteIdentity(data, id); err != nil {
		t.Fatal(err)
	}
	n2, console2 := testNode(t, nil, data, m)
	if err := n2.Boot(context.Background()); err != nil {
		t.Fatalf("boot after leave: %v\n%s", err, console2)
	}
	if !strings.Contains(console2.String(), "member etcd left a single-member cluster at 2026-12-02T00:00:00Z (firstboot leave): etcd is not started") {
		t.Errorf("console:\n%s", console2)
	}
	if _, err := os.Stat(filepath.Join(n2.Paths.RunDir, "etcd.env")); err == nil {
		t.Error("etcd.env written for a member that left: etcd would start")
	}
	if _, err := nodestate.Read(n2.Paths.RunDir); err != nil {
		t.Errorf("no node state for status after a leave: %v", err)
	}
	// no etcd, so no agent waiting for it to start the DNS stub: the boot queues it
	if !slices.Equal(m.resolver, []string{"queue"}) {
		t.Errorf("DNS stub after a leave: %v, want [queue]", m.resolver)
	}
}

// The power-cut tests' pause points stop the boot at the named step until it is cancelled.
func TestBootPauses(t *testing.T) {
	for _, tc := range []struct {
		point    string
		wantData bool // the volume was recorded
		wantTLS  bool
	}{
		{"before-volume", false, false},
		{"after-format", false, false},
		{"before-tls", true, false},
		{"after-tls", true, true},
	} {
		t.Run(tc.point, func(t *testing.T) {
			data := t.TempDir()
			m := &fakeMachine{cmdline: "etcd.test.pause=" + tc.point}
			n, console := testNode(t, nil, data, m)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- n.Boot(ctx) }()
			waitFor(t, console, "paused at "+tc.point)
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Fatalf("boot: %v, want context.Canceled\n%s", err, console)
			}
			id, _ := datavol.ReadIdentity(data)
			if (id != nil) != tc.wantData {
				t.Errorf("identity recorded: %v, want %v", id != nil, tc.wantData)
			}
			if _, err := os.Stat(filepath.Join(data, "pki", "server.crt")); (err == nil) != tc.wantTLS {
				t.Errorf("certificates written: %v, want %v", err == nil, tc.wantTLS)
			}
			if _, err := os.Stat(filepath.Join(n.Paths.RunDir, "etcd.env")); err == nil {
				t.Error("etcd.env written before the boot finished")
			}
		})
	}
}

// console is the boot's output, read while the boot writes it.
type console struct {
	mu      sync.Mutex
	b       bytes.Buffer
	written chan struct{} // a token after each write
}

func newConsole() *console { return &console{written: make(chan struct{}, 1)} }

func (c *console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case c.written <- struct{}{}:
	default:
	}
	return c.b.Write(p)
}

func (c *console) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.b.String()
}

// waitFor returns once the console says s.
func waitFor(t *testing.T, c *console, s string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for !strings.Contains(c.String(), s) {
		select {
		case <-c.written:
		case <-timeout:
			t.Fatalf("console never said %q:\n%s", s, c)
		}
	}
}

func TestImageLine(t *testing.T) {
	rel := "NAME=\"etcd appliance\"\nIMAGE_VERSION=\"1.2.0\"\nBUILD_ID=\"abc\"\nETCD_VERSION=\"v3.6.16\"\nARCHITECTURE=arm64\n"
	if got, want := imageLine([]byte(rel)), "etcd-appliance: image 1.2.0 build abc (etcd v3.6.16, arm64)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

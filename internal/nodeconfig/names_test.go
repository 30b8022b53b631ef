package nodeconfig_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etcd-appliance/appliance/internal/nodeconfig"
	"github.com/etcd-appliance/appliance/internal/nodeconfig/nodetest"
	"github.com/etcd-appliance/appliance/internal/pki"
)

// namedCluster is a three-member config whose members are DNS names.
func namedCluster(t *testing.T) []byte {
	t.Helper()
	caPEM, caKey, err := pki.NewCA("test CA", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return []byte(fmt.Sprintf(`version: 1
cluster:
  name: named
  members:
    - {name: etcd-a, address: etcd-a.etcd.test}
    - {name: etcd-b, address: etcd-b.etcd.test}
    - {name: etcd-c, address: 192.0.2.12}
tls: {ca_cert: %s, ca_key: %s}
`, strconv.Quote(string(caPEM)), strconv.Quote(string(caKey))))
}

// zone answers lookups from a map; a name missing from it fails as a DNS server would.
type zone struct {
	mu      sync.Mutex
	records map[string][]netip.Addr
	asked   map[string]int
}

func (z *zone) lookup(_ context.Context, host string) ([]netip.Addr, error) {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.asked[host]++
	if a, ok := z.records[host]; ok {
		return a, nil
	}
	return nil, errors.New("no such host")
}

func TestResolveMembersByName(t *testing.T) {
	here := nodetest.Addr // the fake machine's one address
	for _, tc := range []struct {
		name       string
		records    map[string][]netip.Addr
		dhcpHost   string
		wantMember string
		wantHost   string
		wantErr    []string
		wantLog    string
	}{
		{name: "own name resolves to this machine",
			records:    map[string][]netip.Addr{"etcd-a.etcd.test": {netip.MustParseAddr("192.0.2.99")}, "etcd-b.etcd.test": {here}},
			wantMember: "etcd-b"},
		{name: "DHCP hostname names the member while DNS is silent",
			dhcpHost: "etcd-a", wantMember: "etcd-a", wantHost: "etcd-a"},
		{name: "nothing resolves: refused naming the names",
			wantErr: []string{"these names did not resolve: etcd-a.etcd.test, etcd-b.etcd.test"},
			wantLog: "member names to resolve: etcd-a.etcd.test (no such host); etcd-b.etcd.test (no such host)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			env := nodetest.QemuEnv(t, "", namedCluster(t))
			z := &zone{records: tc.records, asked: map[string]int{}}
			opts := nodetest.Options(root)
			opts.Lookup = z.lookup
			opts.DHCPHostname = func() string { return tc.dhcpHost }
			var log []string
			opts.Log = func(f string, a ...any) { log = append(log, fmt.Sprintf(f, a...)) }
			// the fake machine's Addrs asks once, as a real wait that ends at once would
			opts.Addrs = func(ctx context.Context, done func([]netip.Addr) bool) ([]netip.Addr, error) {
				a := []netip.Addr{here}
				done(a)
				return a, nil
			}
			r, err := nodeconfig.Resolve(context.Background(), env, opts)
			if len(tc.wantErr) > 0 {
				for _, w := range tc.wantErr {
					if err == nil || !strings.Contains(err.Error(), w) {
						t.Errorf("err = %v, want it to contain %q", err, w)
					}
				}
				if got := strings.Join(log, "\n"); !strings.Contains(got, tc.wantLog) {
					t.Errorf("console %q, want %q", got, tc.wantLog)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Member.Name != tc.wantMember || r.Hostname != tc.wantHost {
				t.Errorf("member %q hostname %q (%s), want %q and %q", r.Member.Name, r.Hostname, r.Member.Reason, tc.wantMember, tc.wantHost)
			}
			if z.asked["192.0.2.12"] != 0 {
				t.Error("an IP address member was looked up")
			}
		})
	}
}

func TestDHCPHostname(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got := nodeconfig.DHCPHostname(filepath.Join(dir, "missing")); got != "" {
		t.Errorf("no lease dir: %q", got)
	}
	write("10", "# This is private data. Do not parse.\nADDRESS=10.77.0.12\nHOSTNAME=etcd-b\n")
	write("2", "ADDRESS=10.0.0.5\nHOSTNAME=bad_name!\n") // lower index, unusable name: skipped
	if got := nodeconfig.DHCPHostname(dir); got != "etcd-b" {
		t.Errorf("got %q, want etcd-b", got)
	}
	write("3", "ADDRESS=10.0.1.5\nHOSTNAME=etcd-a.etcd.test\n")
	if got := nodeconfig.DHCPHostname(dir); got != "etcd-a.etcd.test" {
		t.Errorf("got %q, want the lowest interface's etcd-a.etcd.test", got)
	}
}

// A single member is named after the metadata's hostname, never DHCP's: its name is on its
// data volume, and images before DHCP hostnames were read named it "etcd".
func TestSingleMemberIgnoresDHCPHostname(t *testing.T) {
	opts := nodetest.Options(t.TempDir())
	opts.DHCPHostname = func() string { return "dhcp-name" }
	opts.Addrs = func(ctx context.Context, done func([]netip.Addr) bool) ([]netip.Addr, error) {
		a := []netip.Addr{nodetest.Addr}
		done(a)
		return a, nil
	}
	r, err := nodeconfig.Resolve(context.Background(), nodetest.QemuEnv(t, "", nil), opts)
	if err != nil {
		t.Fatal(err)
	}
	if r.Hostname != "dhcp-name" || r.HostnameFrom != "dhcp" || r.Member.Name != "etcd" {
		t.Errorf("hostname %q from %q, member %q: want the DHCP hostname applied and the member still etcd", r.Hostname, r.HostnameFrom, r.Member.Name)
	}
}

// network.dns is in effect before the member names are looked up: they may be served only by
// the servers it names.
func TestServicesBeforeLookups(t *testing.T) {
	cfg := strings.Replace(string(namedCluster(t)), "version: 1\n", "version: 1\nnetwork: {dns: {servers: [192.0.2.53]}}\n", 1)
	opts := nodetest.Options(t.TempDir())
	applied := false
	opts.Services = func(_ context.Context, files []nodeconfig.ServiceFile) error {
		applied = len(files) == 1 && strings.Contains(string(files[0].Data), "DNS=192.0.2.53")
		return nil
	}
	opts.Lookup = func(_ context.Context, host string) ([]netip.Addr, error) {
		if !applied {
			t.Errorf("%s looked up before network.dns was applied", host)
		}
		if host == "etcd-a.etcd.test" {
			return []netip.Addr{nodetest.Addr}, nil
		}
		return []netip.Addr{netip.MustParseAddr("192.0.2.99")}, nil
	}
	opts.Addrs = func(ctx context.Context, done func([]netip.Addr) bool) ([]netip.Addr, error) {
		return []netip.Addr{nodetest.Addr}, nil // never calls done: as inspect on the node
	}
	r, err := nodeconfig.Resolve(context.Background(), nodetest.QemuEnv(t, "", []byte(cfg)), opts)
	if err != nil {
		t.Fatal(err)
	}
	// found by name although the address source never asked: the names are looked up once more
	if r.Member.Name != "etcd-a" || !strings.HasPrefix(r.Member.Reason, "name etcd-a.etcd.test resolves to") {
		t.Errorf("member %+v", r.Member)
	}
}

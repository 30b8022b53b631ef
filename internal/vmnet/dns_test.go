package vmnet

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNormalizeDNS(t *testing.T) {
	a := netip.MustParseAddr("10.77.0.1")
	tests := []struct {
		name    string
		opts    Options
		wantErr string
		domain  string
		records []string // names after normalisation
	}{
		{name: "none"},
		{name: "domain", opts: Options{Domain: "Etcd.Test."}, domain: "etcd.test"},
		{
			name:    "records",
			opts:    Options{Domain: "etcd.test", DNSRecords: map[string][]netip.Addr{"Restore.etcd.test.": {a}, "bare": {a}}},
			domain:  "etcd.test",
			records: []string{"bare", "restore.etcd.test"},
		},
		{name: "records without domain", opts: Options{DNSRecords: map[string][]netip.Addr{"a.b": {a}}}, wantErr: "need a Domain"},
		{name: "bad domain", opts: Options{Domain: "etcd_test"}, wantErr: "bad label"},
		{name: "empty label", opts: Options{Domain: "etcd..test"}, wantErr: "bad label"},
		{name: "bad record name", opts: Options{Domain: "t", DNSRecords: map[string][]netip.Addr{"a b": {a}}}, wantErr: "bad label"},
		{name: "record twice", opts: Options{Domain: "t", DNSRecords: map[string][]netip.Addr{"a.t": {a}, "A.t.": {a}}}, wantErr: "twice"},
		{name: "no address", opts: Options{Domain: "t", DNSRecords: map[string][]netip.Addr{"a.t": nil}}, wantErr: "no addresses"},
		{name: "invalid address", opts: Options{Domain: "t", DNSRecords: map[string][]netip.Addr{"a.t": {{}}}}, wantErr: "bad address"},
		{name: "zoned address", opts: Options{Domain: "t", DNSRecords: map[string][]netip.Addr{"a.t": {netip.MustParseAddr("fe80::1%br0")}}}, wantErr: "bad address"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := normalizeDNS(tc.opts)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Domain != tc.domain {
				t.Errorf("domain %q, want %q", got.Domain, tc.domain)
			}
			var names []string
			for n := range got.DNSRecords {
				names = append(names, n)
			}
			slices.Sort(names)
			if !slices.Equal(names, tc.records) {
				t.Errorf("records %q, want %q", names, tc.records)
			}
		})
	}
}

func TestDNSHosts(t *testing.T) {
	mac := net.HardwareAddr{0x52, 0x54, 0, 0, 0, 1}
	mac2 := net.HardwareAddr{0x52, 0x54, 0, 0, 0, 2}
	ip := netip.MustParseAddr("10.77.0.10")
	gw := netip.MustParseAddr("10.77.0.1")
	v6 := netip.MustParseAddr("fd77::1")
	opts, err := Options{Domain: "etcd.test", DNSRecords: map[string][]netip.Addr{
		"restore.etcd.test": {gw, v6},
		"proxy":             {gw},
	}}.normalize()
	if err != nil {
		t.Fatal(err)
	}
	got, err := dnsHosts(opts, []Host{{MAC: mac, IP: ip, Hostname: "Node1"}, {MAC: mac2, IP: ip.Next()}})
	if err != nil {
		t.Fatal(err)
	}
	want := "10.77.0.10 node1.etcd.test node1\n" +
		"10.77.0.1 proxy.etcd.test proxy\n" +
		"10.77.0.1 restore.etcd.test\n" +
		"fd77::1 restore.etcd.test\n"
	if string(got) != want {
		t.Errorf("hosts file:\n%s\nwant:\n%s", got, want)
	}

	clash := opts
	clash.DNSRecords = map[string][]netip.Addr{"node1.etcd.test": {gw}}
	if _, err := dnsHosts(clash, []Host{{MAC: mac, IP: ip, Hostname: "node1"}}); err == nil {
		t.Error("a record named like a host was accepted")
	}
	if _, err := dnsHosts(opts, []Host{{MAC: mac, IP: ip, Hostname: "a"}, {MAC: mac2, IP: ip.Next(), Hostname: "A"}}); err == nil {
		t.Error("two hosts of the same name were accepted")
	}
}

func TestDnsmasqArgsDNS(t *testing.T) {
	opts, err := Options{Domain: "etcd.test"}.normalize()
	if err != nil {
		t.Fatal(err)
	}
	gw := opts.Subnet.Addr().Next()
	hosts := []Host{{MAC: net.HardwareAddr{0x52, 0x54, 0, 0, 0, 1}, IP: gw.Next(), Hostname: "node1"}}
	args, err := dnsmasqArgs(opts, gw, "/tmp/x", hosts)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{
		"--no-resolv", "--conf-file=/dev/null", "--no-hosts", "--addn-hosts=/tmp/x/hosts",
		"--domain=etcd.test", "--local=/etcd.test/", "--address=/#/",
		"--dhcp-option=option:dns-server,10.77.0.1", "--dhcp-option=option:domain-search,etcd.test",
	} {
		if !slices.Contains(args, w) {
			t.Errorf("missing %s in %q", w, args)
		}
	}
	for _, a := range args {
		if strings.HasPrefix(a, "--port") || strings.HasPrefix(a, "--server") || strings.HasPrefix(a, "--resolv-file") {
			t.Errorf("unexpected %s: DNS must be served, and never forwarded", a)
		}
	}
}

// resolver asks the DNS server on n's gateway, from inside the namespace.
func resolver(n *Net) *net.Resolver {
	server := netip.AddrPortFrom(n.Gateway(), 53).String()
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return n.DialContext(ctx, network, server)
		},
	}
}

// TestDNS queries the DNS server the way a VM would, over the bridge at the gateway.
func TestDNS(t *testing.T) {
	subnet := freeSubnet(t)
	gw := subnet.Addr().Next()
	extra := netip.MustParseAddr("10.200.0.7")
	v6 := netip.MustParseAddr("fd77::7")
	n := newNet(t, Options{
		Subnet: subnet,
		Domain: "etcd.test",
		DNSRecords: map[string][]netip.Addr{
			"restore.etcd.test": {gw},
			"multi":             {extra, gw, v6},
			"backups.example":   {extra}, // outside the domain, answered all the same
		},
	})
	host := Host{MAC: net.HardwareAddr{0x52, 0x54, 0, 0x77, 0, 0x0a}, IP: gw.Next().Next(), Hostname: "node1"}
	if err := n.StartDHCP([]Host{host, {MAC: net.HardwareAddr{0x52, 0x54, 0, 0x77, 0, 0x0b}, IP: host.IP.Next()}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("dnsmasq log:\n%s", n.DHCPLog())
		}
	})
	r := resolver(n)

	for _, tc := range []struct {
		name string
		want []netip.Addr
	}{
		{"node1.etcd.test.", []netip.Addr{host.IP}},
		{"NODE1.etcd.test.", []netip.Addr{host.IP}},
		{"node1.", []netip.Addr{host.IP}},
		{"restore.etcd.test.", []netip.Addr{gw}},
		{"multi.etcd.test.", []netip.Addr{extra, gw, v6}},
		{"multi.", []netip.Addr{extra, gw, v6}},
		{"backups.example.", []netip.Addr{extra}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			got, err := r.LookupNetIP(ctx, "ip", tc.name)
			if err != nil {
				t.Fatal(err)
			}
			slices.SortFunc(got, netip.Addr.Compare)
			want := slices.SortedFunc(slices.Values(tc.want), netip.Addr.Compare)
			if !slices.Equal(got, want) {
				t.Errorf("%s = %v, want %v", tc.name, got, want)
			}
		})
	}

	t.Run("reverse", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		names, err := r.LookupAddr(ctx, host.IP.String())
		if err != nil || len(names) == 0 || names[0] != "node1.etcd.test." {
			t.Errorf("reverse of %s: %q, %v; want node1.etcd.test.", host.IP, names, err)
		}
	})

	// Names nobody defined: NXDOMAIN from the server itself, at once, never a timeout
	// waiting for an upstream that does not exist.
	for _, name := range []string{"nobody.etcd.test.", "example.com.", "deb.debian.org.", "nobody."} {
		t.Run("unknown "+name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			start := time.Now()
			got, err := r.LookupNetIP(ctx, "ip", name)
			var de *net.DNSError
			if !errors.As(err, &de) || !de.IsNotFound {
				t.Errorf("%s = %v, %v; want not found", name, got, err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("%s took %s to fail", name, d)
			}
		})
	}
	// dnsmasq may log a query after answering it.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.WaitDHCPLog(ctx, "query[A] example.com from"); err != nil {
		t.Errorf("DNS queries are not logged: %v", err)
	}
}

// TestDHCPOfferDNS checks what a VM learns by DHCP when DNS is on: the gateway as DNS
// server, the domain name and search list, and its hostname.
func TestDHCPOfferDNS(t *testing.T) {
	subnet := freeSubnet(t)
	n := newNet(t, Options{Subnet: subnet, Domain: "etcd.test"})
	host := Host{MAC: net.HardwareAddr{0x52, 0x54, 0, 0x77, 0, 0x0a}, IP: subnet.Addr().Next().Next(), Hostname: "node1"}
	if err := n.StartDHCP([]Host{host}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("dnsmasq log:\n%s", n.DHCPLog())
		}
	})
	client := anonNS(t)
	plugClient(t, n, client, "vc0", host.MAC)
	offer := discover(t, client, "vc0", host.MAC)

	if got := offer.opts[6]; !bytes.Equal(got, n.Gateway().AsSlice()) {
		t.Errorf("DNS servers %v, want %s", got, n.Gateway())
	}
	if got := string(offer.opts[15]); got != "etcd.test" {
		t.Errorf("domain name %q", got)
	}
	if got, want := offer.opts[119], []byte("\x04etcd\x04test\x00"); !bytes.Equal(got, want) {
		t.Errorf("domain search %q, want %q", got, want)
	}
	if got := string(offer.opts[12]); got != "node1" {
		t.Errorf("hostname %q", got)
	}
	if got, ok := offer.opts[42]; ok {
		t.Errorf("NTP server offered without Options.NTP: %v", got)
	}
}

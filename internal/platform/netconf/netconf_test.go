package netconf

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/etcd-appliance/appliance/internal/platform"
)

func TestPrefix(t *testing.T) {
	for _, tc := range []struct {
		addr, mask string
		want       string // prefix, or the error text
		wantErr    bool
	}{
		{"10.0.0.5/24", "", "10.0.0.5/24", false},
		{"10.0.0.5", "255.255.255.0", "10.0.0.5/24", false},
		{"10.0.0.5", "24", "10.0.0.5/24", false},
		{"10.0.0.5", "/23", "10.0.0.5/23", false},
		{"10.0.0.5/24", "255.255.255.0", "10.0.0.5/24", false},
		{"2001:db8::5", "ffff:ffff:ffff:ffff::", "2001:db8::5/64", false},
		{"2001:db8::5", "64", "2001:db8::5/64", false},
		{" 192.0.2.1/32 ", "", "192.0.2.1/32", false},
		{"::ffff:192.0.2.1/24", "", "192.0.2.1/24", false},
		{"10.0.0.300", "255.255.255.0", `a: "10.0.0.300" is not an IP address`, true},
		{"10.0.0.5/33", "", `a: "10.0.0.5/33": prefix length "33" is out of range (0-32)`, true},
		{"10.0.0.5/x", "", `a: "10.0.0.5/x": prefix length "x" is out of range (0-32)`, true},
		{"fe80::1%eth0/64", "", `a: "fe80::1%eth0/64" is not an IP address`, true},
		{"10.0.0.5", "", `a: "10.0.0.5" has no prefix length: write it as 10.0.0.5/N or give m`, true},
		{"10.0.0.5", "255.0.255.0", `m: netmask 255.0.255.0 is not contiguous`, true},
		{"10.0.0.5", "ffff::", `m: netmask ffff:: does not fit address 10.0.0.5 (other IP family)`, true},
		{"10.0.0.5", "33", `m: prefix length 33 is out of range for 10.0.0.5 (0-32)`, true},
		{"10.0.0.5", "mask", `m: "mask" is not a netmask`, true},
		{"10.0.0.5/24", "255.255.0.0", `a: "10.0.0.5/24" disagrees with m "255.255.0.0"`, true},
	} {
		got, err := Prefix("a", tc.addr, "m", tc.mask)
		switch {
		case tc.wantErr && err == nil:
			t.Errorf("Prefix(%q, %q) = %v, want error %s", tc.addr, tc.mask, got, tc.want)
		case tc.wantErr && err.Error() != tc.want:
			t.Errorf("Prefix(%q, %q) error\n got %s\nwant %s", tc.addr, tc.mask, err, tc.want)
		case !tc.wantErr && err != nil:
			t.Errorf("Prefix(%q, %q): %v", tc.addr, tc.mask, err)
		case !tc.wantErr && got.String() != tc.want:
			t.Errorf("Prefix(%q, %q) = %v, want %s", tc.addr, tc.mask, got, tc.want)
		}
	}
}

func TestNetwork(t *testing.T) {
	for _, tc := range []struct{ addr, mask, want string }{
		{"0.0.0.0", "0.0.0.0", "0.0.0.0/0"},
		{"::", "::", "::/0"},
		{"10.1.2.3/8", "", "10.0.0.0/8"},
		{"192.168.0.0", "255.255.0.0", "192.168.0.0/16"},
	} {
		got, err := Network("a", tc.addr, "m", tc.mask)
		if err != nil || got.String() != tc.want {
			t.Errorf("Network(%q, %q) = %v, %v; want %s", tc.addr, tc.mask, got, err, tc.want)
		}
	}
}

func TestMAC(t *testing.T) {
	m, err := MAC("x", "3C:ec:EF:e0:45:28")
	if err != nil || m.String() != "3c:ec:ef:e0:45:28" {
		t.Errorf("MAC = %v, %v", m, err)
	}
	if _, err := MAC("x.mac", "3c:ec:ef"); err == nil || err.Error() != `x.mac: "3c:ec:ef" is not a MAC address` {
		t.Errorf("bad MAC error %v", err)
	}
}

func TestDefaultRoute(t *testing.T) {
	for _, tc := range []struct{ via, want string }{
		{"192.0.2.1", "0.0.0.0/0"},
		{"2001:db8::1", "::/0"},
	} {
		via := netip.MustParseAddr(tc.via)
		r := DefaultRoute(via)
		if r.To.String() != tc.want || r.Via != via {
			t.Errorf("DefaultRoute(%s) = %+v", via, r)
		}
	}
}

func TestAttachRouteAndAddresses(t *testing.T) {
	n := &platform.Network{Interfaces: []platform.Interface{
		{Name: "eth0", DHCP4: true},
		{Name: "eth1", Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.5/24"), netip.MustParsePrefix("2001:db8::5/64")}},
		{Name: "eth2", Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.5/24")}},
	}}
	r := platform.Route{To: netip.MustParsePrefix("172.16.0.0/12"), Via: netip.MustParseAddr("10.0.0.1")}
	if !AttachRoute(n, r) || len(n.Interfaces[1].Routes) != 1 || len(n.Interfaces[2].Routes) != 0 {
		t.Errorf("route not attached to eth1 alone: %+v", n.Interfaces)
	}
	if AttachRoute(n, platform.Route{To: r.To, Via: netip.MustParseAddr("192.0.2.1")}) {
		t.Error("route via an unknown subnet attached")
	}
	want := []netip.Addr{netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("2001:db8::5")}
	if got := Addresses(n); !reflect.DeepEqual(got, want) {
		t.Errorf("Addresses = %v, want %v", got, want)
	}
	if OrNil(&platform.Network{}) != nil || OrNil(n) != n || Addresses(nil) != nil {
		t.Error("OrNil/Addresses(nil)")
	}
}

func TestAppendUnique(t *testing.T) {
	got := AppendUnique([]string{"a"}, "b", "a", "c", "b")
	if !reflect.DeepEqual(got, []string{"a", "b", "c"}) {
		t.Errorf("AppendUnique = %v", got)
	}
}

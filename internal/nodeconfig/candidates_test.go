package nodeconfig

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/etcd-appliance/appliance/config"
	"github.com/etcd-appliance/appliance/internal/platform"
)

// dhcp fakes Options.Addrs on a node: the machine's addresses as they come, one list after
// another, each shown to done until it accepts one; the last list when none is (the wait ended).
type dhcp struct {
	lists    [][]netip.Addr
	accepted int // the index of the list done accepted, -1 for none
	calls    int
}

func (d *dhcp) addrs(_ context.Context, done func([]netip.Addr) bool) ([]netip.Addr, error) {
	d.calls++
	d.accepted = -1
	for i, l := range d.lists {
		if done(l) {
			d.accepted = i
			return l, nil
		}
	}
	return d.lists[len(d.lists)-1], nil
}

func addrs(s ...string) []netip.Addr {
	out := []netip.Addr{}
	for _, x := range s {
		out = append(out, netip.MustParseAddr(x))
	}
	return out
}

// Which member a node is when a member is listed by an address NAT'd to it (AWS public or
// elastic IP, GCP external IP, …), and which one firstboot inspect says off the node.
func TestIdentifyByPublicAddress(t *testing.T) {
	// a and c are private addresses, b is another machine's public one
	members := []config.Member{{Name: "a", Address: "10.0.0.5"}, {Name: "b", Address: "203.0.113.7"}, {Name: "c", Address: "10.0.0.7"}}
	for _, tc := range []struct {
		name         string
		members      []config.Member
		md           platform.Metadata
		local        [][]netip.Addr // the machine's addresses as DHCP brings them
		fromMetadata bool
		wantMember   string
		wantAddress  string
		wantAccepted int          // which of local the wait accepted (-1: none)
		wantAddrs    []netip.Addr // Resolved.Addresses
		wantErr      string
	}{
		{
			name: "listed by its public address: waits for a local address, not for the public one",
			md:   platform.Metadata{PublicAddresses: addrs("203.0.113.7")}, members: members,
			local:      [][]netip.Addr{{}, addrs("10.0.0.6")},
			wantMember: "b", wantAddress: "203.0.113.7", wantAccepted: 1, wantAddrs: addrs("10.0.0.6"),
		},
		{
			name: "listed by a local address, another public one",
			md:   platform.Metadata{PublicAddresses: addrs("198.51.100.9")}, members: members,
			local:      [][]netip.Addr{{}, addrs("10.0.0.6"), addrs("10.0.0.6", "10.0.0.5")},
			wantMember: "a", wantAddress: "10.0.0.5", wantAccepted: 2, wantAddrs: addrs("10.0.0.6", "10.0.0.5"),
		},
		{
			name: "public address of no member",
			md:   platform.Metadata{PublicAddresses: addrs("198.51.100.9")}, members: members,
			local:   [][]netip.Addr{addrs("10.0.0.9")},
			wantErr: "its addresses (10.0.0.9, 198.51.100.9) and hostname (none) match none of cluster.members",
		},
		{
			name: "its private and public addresses are two members",
			md:   platform.Metadata{PublicAddresses: addrs("203.0.113.7")}, members: members,
			local:   [][]netip.Addr{addrs("10.0.0.7")},
			wantErr: "several members (b, c)",
		},
		{
			name:       "a single member advertises a local address, not a public one",
			md:         platform.Metadata{PublicAddresses: addrs("203.0.113.7")},
			local:      [][]netip.Addr{{}, addrs("2001:db8::5")},
			wantMember: "etcd", wantAddress: "2001:db8::5", wantAccepted: 1, wantAddrs: addrs("2001:db8::5"),
		},
		{
			name: "off the node: the metadata's addresses, not the host's",
			md:   platform.Metadata{Addresses: addrs("10.0.0.7")}, members: members, fromMetadata: true,
			local:      [][]netip.Addr{addrs("10.0.0.5")}, // the host's: member a
			wantMember: "c", wantAddress: "10.0.0.7", wantAccepted: -1, wantAddrs: addrs("10.0.0.7"),
		},
		{
			name: "off the node: the metadata's public address",
			md:   platform.Metadata{Addresses: addrs("10.0.0.6"), PublicAddresses: addrs("203.0.113.7")}, members: members, fromMetadata: true,
			local:      [][]netip.Addr{addrs("10.0.0.5")},
			wantMember: "b", wantAddress: "203.0.113.7", wantAccepted: -1, wantAddrs: addrs("10.0.0.6"),
		},
		{
			name: "off the node, a single member: the metadata's address is advertised",
			md:   platform.Metadata{Addresses: addrs("192.0.2.20"), PublicAddresses: addrs("203.0.113.7")}, fromMetadata: true,
			local:      [][]netip.Addr{addrs("10.0.0.5")},
			wantMember: "etcd", wantAddress: "192.0.2.20", wantAccepted: -1, wantAddrs: addrs("192.0.2.20"),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			md := tc.md
			r := &Resolved{Platform: "test", Metadata: &md, Config: &config.Config{Version: 1, Cluster: config.Cluster{Name: "c", Members: tc.members}}}
			d := &dhcp{lists: tc.local}
			err := r.plan(context.Background(), Options{Addrs: d.addrs, AddrsFromMetadata: tc.fromMetadata})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Member.Name != tc.wantMember || r.Member.Address != tc.wantAddress {
				t.Errorf("member %s at %q, want %s at %q", r.Member.Name, r.Member.Address, tc.wantMember, tc.wantAddress)
			}
			// a member found by a public address says so, not "on this machine"
			if public := strings.HasPrefix(tc.wantAddress, "203.0.113."); public != strings.HasPrefix(r.Member.Reason, "public address "+tc.wantAddress+" is NATed to this machine") {
				t.Errorf("reason %q for member address %s", r.Member.Reason, tc.wantAddress)
			}
			if !slices.Equal(r.Addresses, tc.wantAddrs) {
				t.Errorf("addresses %v, want %v", r.Addresses, tc.wantAddrs)
			}
			if tc.fromMetadata {
				if d.calls != 0 {
					t.Errorf("the host's addresses were read %d times", d.calls)
				}
			} else if d.accepted != tc.wantAccepted {
				t.Errorf("the wait accepted address list %d, want %d", d.accepted, tc.wantAccepted)
			}
			// the certificates name the member's address, public or not
			if !slices.Contains(r.CertIdentity().IPs, netip.MustParseAddr(tc.wantAddress)) {
				t.Errorf("certificate IPs %v lack the member address %s", r.CertIdentity().IPs, tc.wantAddress)
			}
		})
	}
}

func TestCandidateAddrs(t *testing.T) {
	for _, tc := range []struct {
		name          string
		local, public []netip.Addr
		listed        bool
		want          []netip.Addr
	}{
		{"members listed: local, then public", addrs("10.0.0.5", "2001:db8::5"), addrs("203.0.113.7"), true, addrs("10.0.0.5", "2001:db8::5", "203.0.113.7")},
		{"no members: local only", addrs("10.0.0.5"), addrs("203.0.113.7"), false, addrs("10.0.0.5")},
		{"no local address yet", nil, addrs("203.0.113.7"), true, addrs("203.0.113.7")},
		{"once each, unmapped", addrs("10.0.0.5"), addrs("::ffff:10.0.0.5", "203.0.113.7", "203.0.113.7"), true, addrs("10.0.0.5", "203.0.113.7")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			local := slices.Clone(tc.local)
			got := candidateAddrs(tc.local, tc.public, tc.listed)
			if !slices.Equal(got, tc.want) {
				t.Errorf("candidateAddrs = %v, want %v", got, tc.want)
			}
			if !slices.Equal(tc.local, local) {
				t.Errorf("local changed to %v", tc.local)
			}
		})
	}
}

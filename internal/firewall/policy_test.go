package firewall

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestPolicyString(t *testing.T) {
	for _, c := range []struct {
		name string
		p    Policy
		want string
	}{
		{"nothing", Policy{}, "inbound denied except: 2380 from 0 members; 2379 from 0 members; 2381,2382 from 0 members; 22 closed; metadata HTTP for root only"},
		{"cluster", Policy{
			Members: addrs("192.0.2.10", "192.0.2.11", "192.0.2.10", "::ffff:192.0.2.12"),
			Clients: prefixList("0.0.0.0/0", "::/0"),
			Metrics: prefixList("10.0.2.2/32"),
			SSH:     prefixList("198.51.100.0/24"),
		}, "inbound denied except: 2380 from 3 members; 2379 from 3 members, 0.0.0.0/0,::/0; 2381,2382 from 3 members, 10.0.2.2/32; 22 from 198.51.100.0/24; metadata HTTP for root only"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := c.p.String(); got != c.want {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
		})
	}
}

func TestAllowsEachPairOnce(t *testing.T) {
	p := Policy{Members: addrs("192.0.2.10", "192.0.2.10"), Clients: prefixList("192.0.2.10/32", "0.0.0.0/0")}
	got := p.Allows()
	seen := map[Allow]bool{}
	for _, a := range got {
		if seen[a] {
			t.Errorf("%v listed twice", a)
		}
		seen[a] = true
	}
	// members: 4 ports; clients adds 0.0.0.0/0 on 2379 only
	if len(got) != 5 {
		t.Errorf("got %d allows, want 5: %v", len(got), got)
	}
}

func TestParsePrefixes(t *testing.T) {
	for _, c := range []struct {
		in      string
		want    string
		wantErr string
	}{
		{"192.0.2.7", "192.0.2.7/32", ""},
		{"2001:db8::1", "2001:db8::1/128", ""},
		{"192.0.2.7/24", "192.0.2.0/24", ""},
		{"0.0.0.0/0", "0.0.0.0/0", ""},
		{"::ffff:192.0.2.7", "192.0.2.7/32", ""},
		{"etcd.example", "", `net.clients_from[0]: "etcd.example" is not an address or CIDR`},
		{"192.0.2.0/33", "", "is not an address or CIDR"},
		{"fe80::1%eth0", "", "is not an address or CIDR"},
	} {
		got, err := ParsePrefixes("net.clients_from", []string{c.in})
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%q: err=%v, want %q", c.in, err, c.wantErr)
			}
			continue
		}
		if err != nil || len(got) != 1 || got[0].String() != c.want {
			t.Errorf("%q: got %v, %v; want %s", c.in, got, err, c.want)
		}
	}
}

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

func prefixList(s ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range s {
		out = append(out, netip.MustParsePrefix(p))
	}
	return out
}

func TestSettingsPolicy(t *testing.T) {
	s := Settings{Hosts: []string{"192.0.2.10", "node-b.etcd.test", "gone.etcd.test"}, Metrics: prefixList("10.0.2.2/32")}
	lookup := func(_ context.Context, h string) ([]netip.Addr, error) {
		if h == "node-b.etcd.test" || h == "node-c.etcd.test" {
			return addrs("192.0.2.11", "2001:db8::11"), nil
		}
		return nil, errors.New("no such host")
	}
	p, unresolved := s.Policy(t.Context(), lookup, URLHosts([]string{"https://node-c.etcd.test:2380", "https://[2001:db8::12]:2380", "https://192.0.2.10:2379"}), addrs("192.0.2.99"))
	want := addrs("192.0.2.10", "192.0.2.11", "192.0.2.99", "2001:db8::11", "2001:db8::12")
	if !slices.Equal(p.Members, want) {
		t.Errorf("members %v, want %v", p.Members, want)
	}
	if !slices.Equal(unresolved, []string{"gone.etcd.test"}) {
		t.Errorf("unresolved %v, want gone.etcd.test", unresolved)
	}
	if !slices.Equal(p.Metrics, s.Metrics) {
		t.Errorf("metrics %v, want %v", p.Metrics, s.Metrics)
	}
}

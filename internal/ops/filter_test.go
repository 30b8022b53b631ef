package ops

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/etcd-appliance/appliance/internal/firewall"
	"github.com/etcd-appliance/appliance/internal/pki"
	"github.com/etcd-appliance/appliance/internal/status"
)

// The agent follows etcd's member list: a new member is let in, an unchanged list installs
// nothing, and a round without the list (etcd down) keeps every member allowed before.
func TestFilterRoundFollowsMembership(t *testing.T) {
	n, _, console := testNode(t, nil)
	var installed []firewall.Policy
	n.Filter = func(p firewall.Policy) error { installed = append(installed, p); return nil }
	n.State.Filter = firewall.Settings{Hosts: []string{"192.0.2.10", "192.0.2.11"}, Clients: firewall.Anywhere}
	a := &agent{n: n}
	round := func(hosts ...string) {
		a.filterRound(t.Context(), &status.Status{MemberHosts: hosts})
	}
	members := func(p firewall.Policy) string {
		var s []string
		for _, m := range p.Members {
			s = append(s, m.String())
		}
		return strings.Join(s, " ")
	}

	round("192.0.2.10", "192.0.2.11")
	round("192.0.2.10", "192.0.2.11")
	if len(installed) != 1 || members(installed[0]) != "192.0.2.10 192.0.2.11" {
		t.Fatalf("installed %v, want one policy for the two members", installed)
	}
	round("192.0.2.10", "192.0.2.11", "192.0.2.12") // scale-up: member add lists the new peer URL
	if len(installed) != 2 || members(installed[1]) != "192.0.2.10 192.0.2.11 192.0.2.12" {
		t.Fatalf("after a member add, installed %v", installed)
	}
	round() // etcd down: nothing learnt, nothing removed
	if len(installed) != 2 {
		t.Errorf("a round without the member list changed the filter: %v", installed[len(installed)-1])
	}
	// the agent restarts (or the node reboots) while etcd is down: the hosts of the last member
	// list come from the data volume
	restarted := &agent{n: n}
	restarted.filterRound(t.Context(), &status.Status{})
	if got := members(installed[len(installed)-1]); got != "192.0.2.10 192.0.2.11 192.0.2.12" {
		t.Errorf("after a restart with etcd down, members %s, want the last list's", got)
	}

	// scale-down removes 192.0.2.12; a member known by name keeps its address while its name
	// does not resolve, and only that name's
	resolves := true
	n.Lookup = func(_ context.Context, h string) ([]netip.Addr, error) {
		if h == "node-d.etcd.test" && resolves {
			return []netip.Addr{netip.MustParseAddr("192.0.2.13")}, nil
		}
		return nil, errors.New("no such host")
	}
	round("192.0.2.10", "192.0.2.11", "node-d.etcd.test")
	resolves = false
	round("192.0.2.10", "192.0.2.11", "node-d.etcd.test")
	if got := members(installed[len(installed)-1]); got != "192.0.2.10 192.0.2.11 192.0.2.13" {
		t.Errorf("after removing 192.0.2.12 with node-d not resolving, members %s", got)
	}

	b, err := os.ReadFile(filepath.Join(n.RunDir, FilterFile))
	if err != nil || !strings.Contains(string(b), "2380 from 3 members") { // the last line written
		t.Errorf("%s: %q, %v", FilterFile, b, err)
	}
	if !strings.Contains(console.String(), "etcd-appliance: packet filter: inbound denied except: 2380 from 3 members") {
		t.Errorf("the change is not on the console:\n%s", console)
	}
	if !slices.Equal(installed[1].Clients, firewall.Anywhere) {
		t.Errorf("clients %v", installed[1].Clients)
	}
}

// The agent records the peer check on the volume only once the member ran with it in a healthy
// cluster.
func TestRecordPeerCheck(t *testing.T) {
	for _, c := range []struct {
		name    string
		env     string
		healthy bool
		want    bool
	}{
		{"on and healthy", "ETCD_NAME=etcd-a\nETCD_PEER_CERT_ALLOWED_CN=etcd-appliance-peer\n", true, true},
		{"on, no quorum", "ETCD_NAME=etcd-a\nETCD_PEER_CERT_ALLOWED_CN=etcd-appliance-peer\n", false, false},
		{"off", "ETCD_NAME=etcd-a\n", true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			n, _, _ := testNode(t, nil)
			os.WriteFile(filepath.Join(n.RunDir, "etcd.env"), []byte(c.env), 0o600)
			os.MkdirAll(filepath.Join(n.State.Volume, "pki"), 0o755)
			st := &status.Status{Role: status.Follower, Voters: 3, Healthy: 1}
			if c.healthy {
				st.Healthy = 3
			}
			n.recordPeerCheck(st)
			_, err := os.Stat(filepath.Join(n.State.Volume, "pki", pki.PeerCheckFile))
			if (err == nil) != c.want {
				t.Errorf("marker written = %v, want %v", err == nil, c.want)
			}
		})
	}
}

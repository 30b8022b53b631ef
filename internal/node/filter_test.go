package node

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/etcd-appliance/appliance/config"
	"github.com/etcd-appliance/appliance/internal/firewall"
)

func TestFilterSettings(t *testing.T) {
	members := []config.Member{{Name: "a", Address: "192.0.2.10"}, {Name: "b", Address: "node-b.etcd.test"}}
	for _, c := range []struct {
		name    string
		network config.Network
		ssh     bool
		want    firewall.Settings
	}{
		{"defaults", config.Network{}, false,
			firewall.Settings{Hosts: []string{"192.0.2.10", "node-b.etcd.test"}, Clients: firewall.Anywhere}},
		{"ssh keys open 22 to anywhere", config.Network{}, true,
			firewall.Settings{Hosts: []string{"192.0.2.10", "node-b.etcd.test"}, Clients: firewall.Anywhere, SSH: firewall.Anywhere}},
		{"ssh_from without keys keeps 22 closed", config.Network{SSHFrom: []string{"198.51.100.0/24"}}, false,
			firewall.Settings{Hosts: []string{"192.0.2.10", "node-b.etcd.test"}, Clients: firewall.Anywhere}},
		{"every list given", config.Network{ClientsFrom: []string{"10.0.0.0/8"}, MetricsFrom: []string{"10.0.2.2"}, SSHFrom: []string{"198.51.100.7"}}, true,
			firewall.Settings{Hosts: []string{"192.0.2.10", "node-b.etcd.test"}, Clients: prefixes("10.0.0.0/8"), Metrics: prefixes("10.0.2.2/32"), SSH: prefixes("198.51.100.7/32")}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := filterSettings(&config.Config{Cluster: config.Cluster{Members: members}, Network: c.network}, c.ssh)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Hosts, c.want.Hosts) || !slices.Equal(got.Clients, c.want.Clients) ||
				!slices.Equal(got.Metrics, c.want.Metrics) || !slices.Equal(got.SSH, c.want.SSH) {
				t.Errorf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func prefixes(s ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range s {
		out = append(out, netip.MustParsePrefix(p))
	}
	return out
}

package node

import (
	"context"
	"net/netip"
	"strings"

	"github.com/etcd-appliance/appliance/config"
	"github.com/etcd-appliance/appliance/internal/firewall"
	"github.com/etcd-appliance/appliance/internal/ops"
)

// filter installs the packet filter once every input is checked and the data volume is
// mounted (it remembers the members the agent saw last), before anything listens: etcd and the
// SSH server start after firstboot. Without it the node does not start etcd (secure by default: fail closed).
func (b *boot) filter(ctx context.Context) error {
	set, err := filterSettings(b.c, len(b.r.SSHKeys) > 0)
	if err != nil {
		return b.refuse("config error", err.Error())
	}
	b.filterOn = set
	// with the members the agent saw last (added since the configuration was written)
	p, unresolved := set.Policy(ctx, b.Resolve.Lookup, ops.MemberHosts(b.Paths.DataDir), nil)
	if err := b.m.Filter(p); err != nil {
		return b.refuse("packet filter", err.Error()+": etcd is not started without its packet filter")
	}
	if err := ops.WriteFilterLine(b.Paths.RunDir, p); err != nil {
		return err
	}
	b.say("packet filter: %s", p)
	if len(unresolved) > 0 {
		b.say("packet filter: members %s do not resolve yet: the agent allows them once they do", strings.Join(unresolved, ", "))
	}
	return nil
}

// filterSettings are the packet filter's inputs from the configuration (already validated).
func filterSettings(c *config.Config, ssh bool) (firewall.Settings, error) {
	var s firewall.Settings
	for _, m := range c.Cluster.Members {
		s.Hosts = append(s.Hosts, m.Address)
	}
	var err error
	if s.Clients, err = prefixesOr("network.clients_from", c.Network.ClientsFrom, firewall.Anywhere); err != nil {
		return s, err
	}
	if s.Metrics, err = prefixesOr("network.metrics_from", c.Network.MetricsFrom, nil); err != nil {
		return s, err
	}
	if ssh {
		if s.SSH, err = prefixesOr("network.ssh_from", c.Network.SSHFrom, firewall.Anywhere); err != nil {
			return s, err
		}
	}
	return s, nil
}

func prefixesOr(field string, list []string, def []netip.Prefix) ([]netip.Prefix, error) {
	if len(list) == 0 {
		return def, nil
	}
	return firewall.ParsePrefixes(field, list)
}

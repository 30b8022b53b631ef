package ops

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/etcd-appliance/appliance/internal/atomicfile"
	"github.com/etcd-appliance/appliance/internal/firewall"
	"github.com/etcd-appliance/appliance/internal/status"
)

// FilterFile in the run directory is the packet filter in force, in one line, for `status`.
const FilterFile = "filter.txt"

// WriteFilterLine records the filter in force for `status`.
func WriteFilterLine(runDir string, p firewall.Policy) error {
	return atomicfile.WriteAll(filepath.Join(runDir, FilterFile), []byte(p.String()+"\n"), 0o644)
}

// filterRound keeps the packet filter in step with the cluster: the configured members plus
// every member in etcd's member list (added, replaced or removed), names resolved again each
// round. When etcd cannot be asked, the member hosts of the last list stay allowed (kept on
// the data volume across reboots): a member is never shut out because this node's etcd is
// down. A name that does not resolve keeps the addresses it resolved to last.
func (a *agent) filterRound(ctx context.Context, st *status.Status) {
	n := a.n
	if n.Filter == nil {
		return
	}
	if a.filterHosts == nil {
		a.filterHosts = MemberHosts(n.State.Volume)
	}
	hosts := st.MemberHosts
	if len(hosts) == 0 {
		hosts = a.filterHosts
	}
	p, unresolved := n.State.Filter.Policy(ctx, a.lookup, hosts, nil)
	line := p.String()
	if !slices.Equal(hosts, a.filterHosts) {
		if err := writeHosts(n.State.Volume, hosts); err != nil {
			fmt.Fprintf(n.Console, "etcd-appliance: packet filter: %v\n", err)
		}
		a.filterHosts = hosts
	}
	if slices.Equal(p.Allows(), a.filter.Allows()) && a.filterSet {
		st.Filter = line
		return
	}
	if err := n.Filter(p); err != nil {
		fmt.Fprintf(n.Console, "etcd-appliance: packet filter: %v; keeping the rules in force\n", err)
		return
	}
	a.filter, a.filterSet = p, true
	st.Filter = line
	if err := WriteFilterLine(n.RunDir, p); err != nil {
		fmt.Fprintf(n.Console, "etcd-appliance: packet filter: %v\n", err)
	}
	msg := "etcd-appliance: packet filter: " + line
	if len(unresolved) > 0 {
		msg += " (not resolving: " + strings.Join(unresolved, ", ") + ")"
	}
	fmt.Fprintln(n.Console, msg)
}

// lookup resolves host with n.Lookup (bounded by firewall.LookupTimeout in Settings.Policy),
// remembering the answer: a name that fails this round keeps the addresses it had.
func (a *agent) lookup(ctx context.Context, host string) ([]netip.Addr, error) {
	if a.n.Lookup == nil {
		return nil, errors.New("no resolver")
	}
	addrs, err := a.n.Lookup(ctx, host)
	if err == nil && len(addrs) > 0 {
		if a.resolved == nil {
			a.resolved = map[string][]netip.Addr{}
		}
		a.resolved[host] = addrs
		return addrs, nil
	}
	if old := a.resolved[host]; len(old) > 0 {
		return old, nil
	}
	return nil, err
}

// hostsFile, on the data volume, is the member hosts of the last member list the agent saw.
func hostsFile(volume string) string { return filepath.Join(volume, "appliance", "member-hosts") }

// MemberHosts are the member hosts the agent saw last on the volume mounted at volume.
func MemberHosts(volume string) []string {
	b, err := os.ReadFile(hostsFile(volume))
	if err != nil {
		return []string{}
	}
	return strings.Fields(string(b))
}

func writeHosts(volume string, hosts []string) error {
	return atomicfile.WriteAll(hostsFile(volume), []byte(strings.Join(hosts, "\n")+"\n"), 0o644)
}

package ops

import (
	"context"
	"fmt"
	"net/netip"
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
// round. When etcd cannot be asked, the hosts allowed before stay allowed: a member is never
// shut out because this node's etcd is down.
func (a *agent) filterRound(ctx context.Context, st *status.Status) {
	n := a.n
	if n.Filter == nil {
		return
	}
	hosts := st.MemberHosts
	if len(hosts) == 0 {
		hosts = a.filterHosts
	}
	p, unresolved := n.State.Filter.Policy(ctx, n.Lookup, hosts, nil)
	// a name that does not resolve this round keeps the addresses it had
	if len(unresolved) > 0 {
		p.Members = append(p.Members, a.filter.Members...)
		p.Members = slices.Compact(sortedAddrs(p.Members))
	}
	line := p.String()
	if slices.Equal(p.Allows(), a.filter.Allows()) && a.filterSet {
		st.Filter = line
		return
	}
	if err := n.Filter(p); err != nil {
		fmt.Fprintf(n.Console, "etcd-appliance: packet filter: %v; keeping the rules in force\n", err)
		return
	}
	a.filter, a.filterSet, a.filterHosts = p, true, hosts
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

func sortedAddrs(a []netip.Addr) []netip.Addr {
	slices.SortFunc(a, func(x, y netip.Addr) int { return x.Compare(y) })
	return a
}

// Package membership decides how a node takes its place in a running etcd cluster and when
// a member may go away: joining as a learner, replacing a stale member of the same name,
// and the quorum arithmetic behind leave, remove and upgrade-check. The decisions are pure
// functions of a member list; Cluster carries them out against real etcd.
package membership

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Member is one etcd member as the cluster lists it.
type Member struct {
	ID         uint64   `json:"id"`
	Name       string   `json:"name"` // "" until the member has started once
	PeerURLs   []string `json:"peer_urls"`
	ClientURLs []string `json:"client_urls,omitempty"`
	Learner    bool     `json:"learner,omitempty"`
}

// Started tells whether the member has ever run: a member publishes its client URLs when it
// first starts (members of the initial cluster have names before that, added ones do not).
func (m Member) Started() bool { return len(m.ClientURLs) > 0 }

// IDString is the member ID the way etcdctl prints it.
func IDString(id uint64) string { return strconv.FormatUint(id, 16) }

// Label names a member for messages: its name, else its peer URL.
func (m Member) Label() string {
	if m.Name != "" {
		return m.Name
	}
	if len(m.PeerURLs) > 0 {
		return "unstarted " + m.PeerURLs[0]
	}
	return "member " + IDString(m.ID)
}

// Quorum is how many voting members must agree in a cluster of n voters.
func Quorum(n int) int { return n/2 + 1 }

// Voters are the members that vote (not learners).
func Voters(ms []Member) []Member {
	var v []Member
	for _, m := range ms {
		if !m.Learner {
			v = append(v, m)
		}
	}
	return v
}

// Self is how this node appears in a member list.
type Self struct {
	Name    string
	PeerURL string
}

// Find returns the member that is self: the one with self's peer URL, else the one with
// self's name.
func Find(ms []Member, self Self) (Member, bool) {
	for _, m := range ms {
		if slices.Contains(m.PeerURLs, self.PeerURL) {
			return m, true
		}
	}
	for _, m := range ms {
		if m.Name != "" && m.Name == self.Name {
			return m, true
		}
	}
	return Member{}, false
}

// Action is what a node with a blank data volume does about a running cluster.
type Action int

const (
	// Start: the cluster lists this node and it never started (a member of the initial
	// cluster that came up late, or a join whose add went through before a crash).
	Start Action = iota
	// Add: the cluster does not list this node: it is added as a learner.
	Add
	// Replace: the cluster lists a started member with this node's name or peer URL, but this
	// node's volume is blank: that member's data is lost, so it is removed and this node is
	// added again.
	Replace
)

func (a Action) String() string {
	return [...]string{"start", "add", "replace"}[a]
}

// Plan is the decision for a blank node, with the member it is about (for Start and Replace).
type Plan struct {
	Action Action
	Member Member
}

// Decide what a node with a blank data volume does, given the running cluster's members.
func Decide(ms []Member, self Self) Plan {
	m, ok := Find(ms, self)
	switch {
	case !ok:
		return Plan{Action: Add}
	case !m.Started():
		return Plan{Action: Start, Member: m}
	default:
		return Plan{Action: Replace, Member: m}
	}
}

// InitialCluster is etcd's --initial-cluster for a member starting with
// initial-cluster-state existing: every member the cluster lists, by peer URL (etcd matches
// members by peer URLs and count; names only need to be distinct). Unstarted members are
// named from names (peer URL → configured name), else by their ID.
func InitialCluster(ms []Member, self Self, names map[string]string) string {
	var parts []string
	for _, m := range ms {
		name := m.Name
		if slices.Contains(m.PeerURLs, self.PeerURL) {
			name = self.Name
		}
		for _, u := range m.PeerURLs {
			if name == "" {
				name = names[u]
			}
		}
		if name == "" {
			name = "unstarted-" + IDString(m.ID)
		}
		for _, u := range m.PeerURLs {
			parts = append(parts, name+"="+u)
		}
	}
	return strings.Join(parts, ",")
}

// Health is which members answered a status request.
type Health map[uint64]bool

// CheckDown says whether the cluster keeps quorum while member id is down (not removed):
// the pre-flight of a reboot or reimage.
func CheckDown(ms []Member, h Health, id uint64) error {
	voters := Voters(ms)
	self, ok := find(ms, id)
	if !ok {
		return fmt.Errorf("member %s is not in the cluster", IDString(id))
	}
	if self.Learner {
		return nil
	}
	healthy, down := 0, []string{}
	for _, m := range voters {
		switch {
		case m.ID == id:
		case h[m.ID]:
			healthy++
		default:
			down = append(down, m.Label())
		}
	}
	if need := Quorum(len(voters)); healthy < need {
		return fmt.Errorf("with %s down, %d of %d voting members would be healthy and quorum needs %d%s", self.Label(), healthy, len(voters), need, downList(down))
	}
	return nil
}

// CheckRemove says whether removing member id keeps the cluster able to work: the remaining
// voters must still have a healthy quorum, and the last member is never removed.
func CheckRemove(ms []Member, h Health, id uint64) error {
	m, ok := find(ms, id)
	if !ok {
		return fmt.Errorf("member %s is not in the cluster", IDString(id))
	}
	if m.Learner {
		return nil
	}
	voters := Voters(ms)
	if len(voters) == 1 {
		return fmt.Errorf("%s is the cluster's last voting member: removing it would end the cluster", m.Label())
	}
	healthy, down := 0, []string{}
	for _, v := range voters {
		switch {
		case v.ID == id:
		case h[v.ID]:
			healthy++
		default:
			down = append(down, v.Label())
		}
	}
	// the removal itself is committed by the voters as they are now
	now := healthy
	if h[id] {
		now++
	}
	if need := Quorum(len(voters)); now < need {
		return fmt.Errorf("removing %s needs %d healthy voting members to agree and %d of %d are%s", m.Label(), need, now, len(voters), downList(down))
	}
	if need := Quorum(len(voters) - 1); healthy < need {
		return fmt.Errorf("after removing %s, %d of %d voting members would be healthy and quorum needs %d%s", m.Label(), healthy, len(voters)-1, need, downList(down))
	}
	return nil
}

func downList(down []string) string {
	if len(down) == 0 {
		return ""
	}
	return " (down: " + strings.Join(down, ", ") + ")"
}

func find(ms []Member, id uint64) (Member, bool) {
	for _, m := range ms {
		if m.ID == id {
			return m, true
		}
	}
	return Member{}, false
}

// ByName finds a member by name, or by ID in hex as etcdctl prints it.
func ByName(ms []Member, name string) (Member, bool) {
	for _, m := range ms {
		if m.Name == name || IDString(m.ID) == strings.ToLower(name) {
			return m, true
		}
	}
	return Member{}, false
}

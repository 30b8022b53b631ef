// Package etcdversion decides whether a member may be moved to another etcd version: the
// upgrade and downgrade rules etcd sets (one minor at a time, downgrades enabled first, v3.5.26
// before v3.6) applied to the cluster version and each member's versions. It only decides;
// internal/ops fetches what it decides on.
package etcdversion

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/coreos/go-semver/semver"
)

// Parse reads an etcd version as etcd and the image manifests write it: "3.6.16", "v3.6.16",
// "3.6.0". go-semver does the parsing (etcd's own choice); a leading v is dropped first.
func Parse(s string) (semver.Version, error) {
	v, err := semver.NewVersion(strings.TrimPrefix(strings.TrimSpace(s), "v"))
	if err != nil {
		return semver.Version{}, fmt.Errorf("etcd version %q: want MAJOR.MINOR.PATCH such as 3.6.16", s)
	}
	return *v, nil
}

// Line is a minor release line, 3.6: what etcd's compatibility rules are about.
type Line struct{ Major, Minor int64 }

// LineOf is v's release line.
func LineOf(v semver.Version) Line { return Line{v.Major, v.Minor} }

func (l Line) String() string { return fmt.Sprintf("%d.%d", l.Major, l.Minor) }

// Next is the line after l.
func (l Line) Next() Line { return Line{l.Major, l.Minor + 1} }

// minZombieSafe is the oldest v3.5 that may be upgraded to v3.6: earlier ones can bring removed
// members back as zombies when the cluster moves to v3.6
// (https://etcd.io/blog/2025/zombie_members_upgrade/; v3.5.20 fixed the earlier learner issue,
// v3.5.26 supersedes it).
var minZombieSafe = semver.Version{Major: 3, Minor: 5, Patch: 26}

// Member is one member as the check sees it.
type Member struct {
	Name    string
	Self    bool   // the member about to be moved to the target
	Server  string // its etcd's version; "" when it did not answer
	Storage string // its data's storage version; "" when not reported (v3.5 does not)
	Healthy bool
	// Downgrade is the downgrade target it reports, "" when no downgrade is enabled.
	Downgrade string
}

// Roll is a proposed move of the Self member to etcd Target.
type Roll struct {
	Cluster string // the cluster version, "3.6.0"
	Members []Member
	Target  string
}

// Check tells whether the Self member may be moved to the target now. The lines describe what
// was checked (cluster version, every member, the target) and end with the verdict; the error,
// when not nil, is the refusal and says what to do instead.
func Check(r Roll) ([]string, error) {
	lines := []string{"cluster version: " + orUnknown(r.Cluster)}
	var self *Member
	for i, m := range r.Members {
		lines = append(lines, describe(m))
		if m.Self {
			self = &r.Members[i]
		}
	}
	downgrade := ""
	for _, m := range r.Members {
		if m.Downgrade != "" {
			downgrade = m.Downgrade
		}
	}
	if downgrade != "" {
		lines = append(lines, "downgrade: enabled, to "+downgrade)
	}
	lines = append(lines, "target: "+r.Target)
	verdict, err := decide(r, self, downgrade)
	if err != nil {
		return append(lines, "verdict: refused"), err
	}
	return append(lines, "verdict: "+verdict), nil
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func describe(m Member) string {
	s := "member " + m.Name
	if m.Self {
		s += " (this node)"
	}
	if m.Server == "" {
		return s + ": does not answer"
	}
	s += ": " + m.Server
	if m.Storage != "" {
		s += ", storage " + m.Storage
	}
	if !m.Healthy {
		s += ", not healthy"
	}
	return s
}

func decide(r Roll, self *Member, downgrade string) (string, error) {
	target, err := Parse(r.Target)
	if err != nil {
		return "", err
	}
	cv, err := Parse(r.Cluster)
	if err != nil {
		return "", fmt.Errorf("the cluster version: %w", err)
	}
	if self == nil {
		return "", errors.New("this node's member is not among the members checked")
	}
	// a member moved while another is down or silent may cost the quorum, and a silent
	// member's version is unknown: every rule below needs all of them
	var sick []string
	for _, m := range r.Members {
		switch {
		case m.Server == "":
			sick = append(sick, m.Name+" does not answer")
		case !m.Healthy:
			sick = append(sick, m.Name+" is not healthy")
		}
	}
	if len(sick) > 0 {
		return "", fmt.Errorf("%s: a change of etcd version needs every member healthy; wait until `firstboot status` says healthy on every member", strings.Join(sick, ", "))
	}
	servers := map[string]semver.Version{}
	for _, m := range r.Members {
		v, err := Parse(m.Server)
		if err != nil {
			return "", fmt.Errorf("member %s: %w", m.Name, err)
		}
		servers[m.Name] = v
	}

	from, to := LineOf(cv), LineOf(target)
	if downgrade != "" {
		// etcd lowers the cluster version to the downgrade's target a few seconds after the
		// enable; until then the check would read the old line as the cluster's
		dv, err := Parse(downgrade)
		if err != nil {
			return "", fmt.Errorf("the enabled downgrade's target: %w", err)
		}
		if LineOf(dv) != from {
			return "", fmt.Errorf("a downgrade to %s is enabled but the cluster version is still %s: etcd lowers it within seconds; ask again", LineOf(dv), from)
		}
	}
	if from.Major != to.Major {
		return "", fmt.Errorf("etcd %s → %s changes the major version; etcd has no such upgrade path", from, to)
	}
	d := to.Minor - from.Minor
	switch {
	case d < -1 || (d == -1 && downgrade != ""):
		if downgrade != "" {
			return "", fmt.Errorf("etcd %s is more than one minor version below the cluster's %s (a downgrade to %s is enabled): etcd downgrades one minor version at a time; finish the downgrade to %s first", to, from.Next(), from, from)
		}
		return "", fmt.Errorf("etcd %s → %s is more than one minor version down: etcd downgrades one minor version at a time", from, to)
	case d == -1:
		return "", fmt.Errorf("etcd %s → %s is a downgrade: enable it first with `firstboot downgrade enable v%s` (etcdctl downgrade enable %s), then wait until this member's storage version shows %s", from, to, to, to, to)
	}
	// members on two lines are a roll under way; the target may not bring in a third
	lines := []Line{to}
	for _, m := range r.Members {
		if l := LineOf(servers[m.Name]); !slices.Contains(lines, l) {
			lines = append(lines, l)
		}
	}
	if len(lines) > 2 {
		slices.SortFunc(lines, func(a, b Line) int { return int(a.Minor - b.Minor) })
		var on []string
		for _, l := range lines {
			on = append(on, l.String())
		}
		return "", fmt.Errorf("the members and the target would run three minor versions (%s): finish the roll under way first, every member on one minor version", strings.Join(on, ", "))
	}
	switch {
	case d > 1:
		return "", fmt.Errorf("etcd %s → %s skips %s: etcd upgrades one minor version at a time; roll every member to a v%s image first", from, to, from.Next(), from.Next())
	case d == 1 && downgrade != "":
		return "", fmt.Errorf("a downgrade to %s is in progress: cancel it first with `firstboot downgrade cancel` (etcdctl downgrade cancel) before upgrading to %s", downgrade, to)
	}
	for _, m := range r.Members {
		if l := LineOf(servers[m.Name]); l != from && l != from.Next() {
			return "", fmt.Errorf("member %s runs etcd %s, which the cluster version %s does not allow: fix that member first", m.Name, servers[m.Name], from)
		}
	}

	if to == from.Next() {
		if from == (Line{3, 5}) {
			var old []string
			for _, m := range r.Members {
				if v := servers[m.Name]; LineOf(v) == from && v.LessThan(minZombieSafe) {
					old = append(old, fmt.Sprintf("%s runs %s", m.Name, v))
				}
			}
			if len(old) > 0 {
				return "", fmt.Errorf("%s: etcd requires v%s or later on every member before upgrading to v3.6 (removed members could come back, https://etcd.io/blog/2025/zombie_members_upgrade/); roll every member to an image with etcd v%s or later first", strings.Join(old, ", "), minZombieSafe, minZombieSafe)
			}
		}
		moved := 0
		for _, m := range r.Members {
			if LineOf(servers[m.Name]) == to {
				moved++
			}
		}
		if moved == 0 {
			return fmt.Sprintf("upgrade %s → %s may start", from, to), nil
		}
		return fmt.Sprintf("upgrade %s → %s under way (%d of %d members on %s) may go on", from, to, moved, len(r.Members), to), nil
	}

	// the same line as the cluster version: a patch change, a member brought back from a roll
	// not finished, or the next step of an enabled downgrade
	if downgrade != "" && LineOf(servers[self.Name]) != to {
		if self.Storage == "" {
			return "", fmt.Errorf("a downgrade to %s is enabled but %s reports no storage version: wait until it shows %s", to, self.Name, to)
		}
		sv, err := Parse(self.Storage)
		if err != nil {
			return "", fmt.Errorf("member %s's storage version: %w", self.Name, err)
		}
		if LineOf(sv) != to {
			return "", fmt.Errorf("storage version still %s; etcd migrates it after the downgrade is enabled; wait until it shows %s", LineOf(sv), to)
		}
		return fmt.Sprintf("downgrade to %s enabled and %s's storage version is %s: it may move to %s", to, self.Name, LineOf(sv), target), nil
	}
	if LineOf(servers[self.Name]) == to {
		return fmt.Sprintf("patch change %s → %s within %s", servers[self.Name], target, to), nil
	}
	return fmt.Sprintf("%s → %s: back to the cluster version's %s (the roll to %s is not finished)", servers[self.Name], target, to, to.Next()), nil
}

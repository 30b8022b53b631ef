// Package status holds a node's health report: what `firstboot status --json` prints, and
// the one-line summary shown on the console, in the journal and in the login banner, e.g.
//
//	etcd-a: leader · cluster healthy 3/3 · db 12 MiB of 2 GiB · certificates valid 364 days · image 1.2.0
package status

import (
	"fmt"
	"strings"
	"time"
)

// Member is one member's health as this node saw it.
type Member struct {
	Name    string `json:"name"`
	ID      string `json:"id"`
	Healthy bool   `json:"healthy"` // answered a status request with a leader and no errors
	Learner bool   `json:"learner,omitempty"`
	Leader  bool   `json:"leader,omitempty"`
	DBSize  int64  `json:"db_size,omitempty"`
	Version string `json:"version,omitempty"`
}

// Alarm is an etcd alarm raised by a member.
type Alarm struct {
	Member string `json:"member"`
	Alarm  string `json:"alarm"` // NOSPACE or CORRUPT
}

// Roles of this node's member.
const (
	Leader    = "leader"
	Follower  = "follower"
	Learner   = "learner"
	Down      = "down"      // etcd on this node does not answer
	NotMember = "no member" // etcd is not run here (refused config, or the member left)
)

// Status is a node's health report.
type Status struct {
	Time         time.Time `json:"time"`
	Member       string    `json:"member"`
	MemberID     string    `json:"member_id,omitempty"`
	Cluster      string    `json:"cluster,omitempty"`
	ClusterID    string    `json:"cluster_id,omitempty"`
	Role         string    `json:"role"`
	Leader       string    `json:"leader,omitempty"`
	Healthy      int       `json:"healthy"` // healthy voting members
	Voters       int       `json:"voters"`
	Learners     int       `json:"learners"`
	Members      []Member  `json:"members"`
	DBSize       int64     `json:"db_size"`
	DBInUse      int64     `json:"db_in_use"`
	Quota        int64     `json:"quota"`
	Alarms       []Alarm   `json:"alarms"`
	CertNotAfter time.Time `json:"cert_not_after,omitzero"`
	Image        string    `json:"image"`
	EtcdVersion  string    `json:"etcd_version,omitempty"`
	Errors       []string  `json:"errors,omitempty"`
	Summary      string    `json:"summary"`
}

// Quorum is how many healthy voters the cluster needs.
func (s *Status) Quorum() int { return s.Voters/2 + 1 }

// Line is the one-line summary. Alarms and a lost quorum come first and in capitals: they
// are what an operator must act on.
func (s *Status) Line() string {
	var parts []string
	for _, a := range s.Alarms {
		parts = append(parts, fmt.Sprintf("ALARM %s on %s", a.Alarm, a.Member))
	}
	role := s.Role
	if s.Role == Down {
		role = "etcd DOWN here"
	}
	parts = append(parts, s.Member+": "+role)
	if s.Voters > 0 {
		word := "healthy"
		switch {
		case s.Healthy < s.Quorum():
			word = "NO QUORUM"
		case s.Healthy < s.Voters:
			word = "degraded"
		}
		c := fmt.Sprintf("cluster %s %d/%d", word, s.Healthy, s.Voters)
		if s.Learners > 0 {
			c += fmt.Sprintf(" + %d learner", s.Learners)
		}
		parts = append(parts, c)
	}
	if s.DBSize > 0 {
		db := "db " + Size(s.DBSize)
		if s.Quota > 0 {
			db += " of " + Size(s.Quota)
		}
		parts = append(parts, db)
	}
	if !s.CertNotAfter.IsZero() {
		left := s.CertNotAfter.Sub(s.Time)
		if left <= 0 {
			parts = append(parts, "certificates EXPIRED "+s.CertNotAfter.Format(time.DateOnly))
		} else {
			parts = append(parts, fmt.Sprintf("certificates valid %d days", int(left.Hours()/24)))
		}
	}
	if s.Image != "" {
		parts = append(parts, "image "+s.Image)
	}
	return strings.Join(parts, " · ")
}

// Size prints bytes in binary units, rounded to whole units.
func Size(n int64) string {
	const k = 1024
	switch {
	case n >= k*k*k:
		return trim(float64(n)/(k*k*k)) + " GiB"
	case n >= k*k:
		return fmt.Sprintf("%d MiB", (n+k*k/2)/(k*k))
	case n >= k:
		return fmt.Sprintf("%d KiB", (n+k/2)/k)
	}
	return fmt.Sprintf("%d B", n)
}

func trim(f float64) string {
	s := fmt.Sprintf("%.1f", f)
	return strings.TrimSuffix(s, ".0")
}

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
	// StorageVersion is the member's storage version ("3.7.0"; none from etcd v3.5).
	StorageVersion string `json:"storage_version,omitempty"`
}

// Alarm is an etcd alarm raised by a member.
type Alarm struct {
	Member string `json:"member"`
	Alarm  string `json:"alarm"` // NOSPACE or CORRUPT
}

// Skew is how far a member's clock is from this node's: its clock minus this one's.
type Skew struct {
	Member  string        `json:"member"`
	Offset  time.Duration `json:"-"`
	Seconds float64       `json:"offset_seconds"`
}

// SkewLimit is the clock difference reported as skew. etcd warns from 1 s, but the clocks are
// compared through HTTP Date headers, which have whole seconds.
const SkewLimit = 5 * time.Second

// FullAt is the share of the data volume in use from which the summary warns.
const FullAt = 0.9

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
	VolumeSize   int64     `json:"volume_size,omitempty"`
	VolumeFree   int64     `json:"volume_free,omitempty"`
	ClockSkew    []Skew    `json:"clock_skew,omitempty"` // members whose clock is SkewLimit or more from this one
	Clock        *Clock    `json:"clock,omitempty"`      // this node's time synchronisation; nil: not known
	Image        string    `json:"image"`
	// EtcdVersion is the version this member's etcd reports ("v3.7.3"), or, when it does not
	// answer, the image's. StorageVersion is the version of its data ("3.7.0"; none from etcd
	// v3.5, or when it does not answer), and Downgrade the target of an enabled downgrade.
	EtcdVersion    string   `json:"etcd_version,omitempty"`
	StorageVersion string   `json:"storage_version,omitempty"`
	Downgrade      string   `json:"downgrade_target,omitempty"`
	Errors         []string `json:"errors,omitempty"`
	Filter         string   `json:"filter,omitempty"` // the packet filter in force, in one line
	Backup         *Backup  `json:"backup,omitempty"` // off-node backups; nil: not configured
	// MemberHosts are the hosts of every member's URLs in etcd's member list (for the filter).
	MemberHosts []string `json:"-"`
	// Since is when the reporting agent started: with no backup yet, backups are stale from it.
	Since   time.Time `json:"-"`
	Summary string    `json:"summary"`
}

// Backup is the state of the cluster's off-node backups. The record part is kept in etcd by
// the member that uploads, so that every member reports the same.
type Backup struct {
	URL      string  `json:"url"`
	Interval float64 `json:"interval_seconds"`
	Record
}

// Record is the last backup, failure and restore drill, as the uploader wrote them.
type Record struct {
	// Store and ClusterID say whose record it is: one restored from another cluster's backup,
	// or left by another store, says nothing of this cluster's backups (Fits).
	Store       string    `json:"store,omitempty"`
	ClusterID   string    `json:"cluster_id,omitempty"`
	Last        time.Time `json:"last,omitzero"` // the last successful upload
	Key         string    `json:"key,omitempty"`
	Revision    int64     `json:"revision,omitempty"`
	Size        int64     `json:"size,omitempty"`
	Member      string    `json:"member,omitempty"` // who uploaded it
	TookSeconds float64   `json:"took_seconds,omitempty"`
	Failed      time.Time `json:"failed,omitzero"` // the last failed attempt
	Error       string    `json:"error,omitempty"`
	// the restore drill (firstboot backup verify, or backup.verify_interval)
	Verified         time.Time `json:"verified,omitzero"`
	VerifiedKey      string    `json:"verified_key,omitempty"`
	VerifiedRevision int64     `json:"verified_revision,omitempty"` // last verified restorable revision
	VerifySeconds    float64   `json:"verify_seconds,omitempty"`
	VerifyFailed     time.Time `json:"verify_failed,omitzero"`
	VerifyError      string    `json:"verify_error,omitempty"`
}

// Fits tells whether r is a record of backups to store by the cluster clusterID (either
// unknown: it fits).
func (r Record) Fits(store, clusterID string) bool {
	return (r.Store == "" || r.Store == store) && (r.ClusterID == "" || clusterID == "" || r.ClusterID == clusterID)
}

// Stale tells whether the last successful backup (or, with none yet, since) is older than
// twice the interval at now.
func (b *Backup) Stale(now, since time.Time) bool {
	last := b.Last
	if last.IsZero() {
		last = since // zero too when not known: then only a backup's age counts
	}
	return !last.IsZero() && now.Sub(last) > 2*time.Duration(b.Interval*float64(time.Second))
}

// Failing tells whether the last attempt failed.
func (b *Backup) Failing() bool { return b.Failed.After(b.Last) }

// Part is the backup's piece of the summary line; since is when this node began watching
// (a cluster with no backup yet is stale from then).
func (b *Backup) Part(now, since time.Time) string {
	last := "none yet"
	if !b.Last.IsZero() {
		last = "last " + Ago(now.Sub(b.Last))
	}
	switch {
	case b.Stale(now, since) && b.Failing():
		return fmt.Sprintf("BACKUP STALE (%s, to %s; failing: %s)", last, b.URL, b.Error)
	case b.Stale(now, since):
		return fmt.Sprintf("BACKUP STALE (%s, to %s)", last, b.URL)
	case b.Failing():
		return fmt.Sprintf("backup %s to %s, BACKUP FAILING: %s", last, b.URL, b.Error)
	}
	return fmt.Sprintf("backup %s to %s", last, b.URL)
}

// Ago is a duration rounded for people: 42s, 5m, 3h, 2d.
func Ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(max(d, 0).Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

// Clock is this node's time synchronisation, as systemd-timesyncd reports it.
type Clock struct {
	Synchronized bool     `json:"synchronized"`
	Source       string   `json:"source,omitempty"`  // the NTP server last contacted
	Servers      []string `json:"servers,omitempty"` // the servers firstboot and DHCP gave
}

// Line is the clock's report line.
func (c *Clock) Line() string {
	servers := "none configured: no NTP server from DHCP, the platform or time.servers"
	if len(c.Servers) > 0 {
		servers = strings.Join(c.Servers, " ")
	}
	switch {
	case c.Synchronized && c.Source != "":
		return "clock: synchronised, from " + c.Source
	case c.Synchronized:
		return "clock: synchronised"
	case c.Source != "":
		return "clock: NOT synchronised (last server contacted " + c.Source + "; servers " + servers + ")"
	}
	return "clock: NOT synchronised (servers " + servers + ")"
}

// Quorum is how many healthy voters the cluster needs.
func (s *Status) Quorum() int { return s.Voters/2 + 1 }

// VolumeFull tells whether FullAt or more of the data volume is in use.
func (s *Status) VolumeFull() bool {
	return s.VolumeSize > 0 && float64(s.VolumeSize-s.VolumeFree) >= FullAt*float64(s.VolumeSize)
}

// Line is the one-line summary. Alarms and a lost quorum come first and in capitals: they
// are what an operator must act on.
func (s *Status) Line() string {
	var parts []string
	for _, a := range s.Alarms {
		parts = append(parts, fmt.Sprintf("ALARM %s on %s", a.Alarm, a.Member))
	}
	if s.VolumeFull() {
		parts = append(parts, fmt.Sprintf("DATA VOLUME %d%% FULL (%s free)", (100*(s.VolumeSize-s.VolumeFree)+s.VolumeSize/2)/s.VolumeSize, Size(s.VolumeFree)))
	}
	if len(s.ClockSkew) > 0 {
		var ps []string
		for _, k := range s.ClockSkew {
			dir, d := "ahead", k.Offset
			if d < 0 {
				dir, d = "behind", -d
			}
			ps = append(ps, fmt.Sprintf("%s %s %s", k.Member, d.Round(time.Second), dir))
		}
		parts = append(parts, "CLOCK SKEW vs this node: "+strings.Join(ps, ", "))
	}
	if s.Backup != nil && s.Backup.Stale(s.Time, s.Since) {
		parts = append(parts, s.Backup.Part(s.Time, s.Since))
	}
	if c := s.Clock; c != nil && !c.Synchronized && len(c.Servers) > 0 {
		parts = append(parts, "CLOCK NOT SYNCHRONISED")
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
		switch {
		case left <= 0:
			parts = append(parts, "certificates EXPIRED "+s.CertNotAfter.Format(time.DateOnly))
		case left < CertWarning:
			parts = append(parts, fmt.Sprintf("CERTIFICATES EXPIRE IN %d DAYS (%s): reboot to renew them from the CA key, or give new ones", int(left.Hours()/24), s.CertNotAfter.Format(time.DateOnly)))
		default:
			parts = append(parts, fmt.Sprintf("certificates valid %d days", int(left.Hours()/24)))
		}
	}
	if s.Backup != nil && !s.Backup.Stale(s.Time, s.Since) {
		parts = append(parts, s.Backup.Part(s.Time, s.Since))
	}
	if s.Image != "" {
		parts = append(parts, "image "+s.Image)
	}
	return strings.Join(parts, " · ")
}

// CertWarning is how long before its certificates expire a member's status warns.
const CertWarning = 30 * 24 * time.Hour

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

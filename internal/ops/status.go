package ops

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/etcd-appliance/appliance/internal/firewall"

	"go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/etcd-appliance/appliance/internal/membership"
	"github.com/etcd-appliance/appliance/internal/pki"
	"github.com/etcd-appliance/appliance/internal/status"
)

// Status asks etcd, on this node and on every member, how the cluster is. It never fails:
// what it could not learn is in Errors, and a silent local etcd is role "down".
func (n *Node) Status(ctx context.Context, now time.Time) *status.Status {
	s := n.State
	st := &status.Status{Time: now, Member: s.Member, Cluster: s.Cluster, Quota: s.Quota, Image: s.Image,
		EtcdVersion: s.EtcdVersion, Role: status.Down, Members: []status.Member{}, Alarms: []status.Alarm{}}
	defer func() {
		if b := st.Backup; b != nil && !b.Record.Fits(b.URL, st.ClusterID) {
			b.Record = status.Record{} // restored from another cluster's backup: not ours
		}
		st.Summary = st.Line()
	}()
	if n.Clock != nil {
		st.Clock = n.Clock(ctx)
	}
	if b := s.Backup; b != nil {
		st.Backup, st.Since = &status.Backup{URL: b.URL, Interval: b.IntervalDuration().Seconds()}, n.Started
		if n.BackupRecord != nil {
			rec, err := n.BackupRecord(ctx)
			if err != nil {
				st.Errors = append(st.Errors, "backup: "+err.Error())
			}
			st.Backup.Record = rec
		}
	}
	if b, err := os.ReadFile(filepath.Join(n.RunDir, FilterFile)); err == nil {
		st.Filter = strings.TrimSpace(string(b))
	}
	if na, err := certNotAfter(s.ServerCert); err == nil {
		st.CertNotAfter = na
	} else {
		st.Errors = append(st.Errors, err.Error())
	}
	if size, free, err := n.Usage(s.Volume); err == nil {
		st.VolumeSize, st.VolumeFree = size, free
	} else {
		st.Errors = append(st.Errors, "data volume: "+err.Error())
	}
	if _, err := os.Stat(filepath.Join(n.RunDir, "etcd.env")); err != nil {
		st.Role = status.NotMember // boot refused, or the member left: etcd is not run here
		return st
	}
	endpoints := append([]string{s.Local}, s.Endpoints...)
	cli, err := n.Dial(slices.Compact(endpoints)...)
	if err != nil {
		st.Errors = append(st.Errors, err.Error())
		return st
	}
	defer cli.Close()
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	// serializable: any member answers, even without a quorum
	ms, err := cli.LocalMembers(lctx)
	if err != nil {
		st.Errors = append(st.Errors, err.Error())
		return st
	}
	for _, m := range ms {
		st.MemberHosts = append(st.MemberHosts, firewall.URLHosts(append(slices.Clone(m.PeerURLs), m.ClientURLs...))...)
	}
	self, ok := membership.Find(ms, s.Self())
	skews := make(chan []status.Skew, 1)
	go func() { skews <- n.ClockSkews(ctx, ms, self.ID) }() // alongside Statuses: both wait on the network
	statuses := cli.Statuses(ctx, askSelfLocally(ms, self.ID, s.Local), 3*time.Second)
	st.ClockSkew = <-skews
	health := membership.HealthOf(statuses)
	names := map[uint64]string{}
	var leader uint64
	for _, m := range ms {
		names[m.ID] = m.Label()
		sm := status.Member{Name: m.Label(), ID: membership.IDString(m.ID), Healthy: health[m.ID], Learner: m.Learner}
		if r := statuses[m.ID]; r != nil {
			sm.DBSize, sm.Version, sm.StorageVersion = r.DbSize, r.Version, r.StorageVersion
			if r.Leader != 0 {
				leader = r.Leader
			}
		}
		if m.Learner {
			st.Learners++
		} else {
			st.Voters++
			if sm.Healthy {
				st.Healthy++
			}
		}
		st.Members = append(st.Members, sm)
	}
	for i := range st.Members {
		st.Members[i].Leader = st.Members[i].ID == membership.IDString(leader)
	}
	st.Leader = names[leader]
	if !ok {
		st.Role = status.NotMember
		st.Errors = append(st.Errors, fmt.Sprintf("the cluster does not list member %s (%s)", s.Member, s.PeerURL))
		return st
	}
	st.MemberID = membership.IDString(self.ID)
	if r := statuses[self.ID]; r != nil {
		st.ClusterID = membership.IDString(r.Header.ClusterId)
		st.DBSize, st.DBInUse = r.DbSize, r.DbSizeInUse
		if r.Version != "" {
			st.EtcdVersion = "v" + r.Version // the running etcd's, in the image's form
		}
		st.StorageVersion = r.StorageVersion
		if d := r.DowngradeInfo; d != nil && d.Enabled {
			st.Downgrade = shortVersion(d.TargetVersion)
		}
		switch {
		case r.IsLearner:
			st.Role = status.Learner
		case r.Leader == self.ID:
			st.Role = status.Leader
		default:
			st.Role = status.Follower
		}
		st.Errors = append(st.Errors, r.Errors...)
	}
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if ar, err := cli.AlarmList(actx); err != nil {
		st.Errors = append(st.Errors, "listing alarms: "+err.Error())
	} else {
		for _, a := range ar.Alarms {
			name := names[a.MemberID]
			if name == "" {
				name = membership.IDString(a.MemberID)
			}
			st.Alarms = append(st.Alarms, status.Alarm{Member: name, Alarm: etcdserverpb.AlarmType_name[int32(a.Alarm)]})
		}
	}
	return st
}

func certNotAfter(path string) (time.Time, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return time.Time{}, fmt.Errorf("server certificate: %w", err)
	}
	certs, err := pki.ParseCertificates(b)
	if err != nil {
		return time.Time{}, fmt.Errorf("server certificate %s: %w", path, err)
	}
	return certs[0].NotAfter, nil
}

// Healthy is the exit status a monitor wants: this member serves, the cluster has a quorum,
// and no alarm is raised.
func Healthy(st *status.Status) bool {
	return (st.Role == status.Leader || st.Role == status.Follower || st.Role == status.Learner) &&
		st.Healthy >= st.Quorum() && len(st.Alarms) == 0
}

// Report prints st for `firstboot status`: the summary with the errors below it, or the
// whole report as JSON.
func Report(w io.Writer, st *status.Status, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	fmt.Fprintln(w, st.Summary)
	if st.StorageVersion != "" {
		fmt.Fprintf(w, "  etcd %s, storage version %s\n", st.EtcdVersion, shortVersion(st.StorageVersion))
	}
	if st.Downgrade != "" {
		fmt.Fprintf(w, "  DOWNGRADE to %s enabled: firstboot downgrade status\n", st.Downgrade)
	}
	if st.Clock != nil {
		fmt.Fprintln(w, "  "+st.Clock.Line())
	}
	if st.Filter != "" {
		fmt.Fprintln(w, "  packet filter: "+st.Filter)
	}
	if b := st.Backup; b != nil {
		fmt.Fprintln(w, "  "+backupLine(b, st.Time, st.Since))
		if b.Failing() {
			fmt.Fprintf(w, "  backup: last attempt failed %s: %s\n", status.Ago(st.Time.Sub(b.Failed)), b.Error)
		}
		switch {
		case b.VerifyFailed.After(b.Verified):
			fmt.Fprintf(w, "  restore drill: FAILED %s: %s\n", status.Ago(st.Time.Sub(b.VerifyFailed)), b.VerifyError)
		case !b.Verified.IsZero():
			fmt.Fprintf(w, "  restore drill: passed %s; last verified restorable revision %d (%s, restored in %.1fs)\n", status.Ago(st.Time.Sub(b.Verified)), b.VerifiedRevision, b.VerifiedKey, b.VerifySeconds)
		default:
			fmt.Fprintln(w, "  restore drill: none yet (firstboot backup verify)")
		}
	}
	for _, e := range st.Errors {
		fmt.Fprintln(w, "  "+e)
	}
	return nil
}

// backupLine is the backup's line of the full report.
func backupLine(b *status.Backup, now, since time.Time) string {
	line := b.Part(now, since)
	if !b.Last.IsZero() {
		line += fmt.Sprintf(" (%s, revision %d, %s, by %s)", b.Key, b.Revision, status.Size(b.Size), b.Member)
	}
	return line
}

// certState is ok, expiring (within status.CertWarning) or expired.
func certState(st *status.Status) string {
	switch left := st.CertNotAfter.Sub(st.Time); {
	case left <= 0:
		return "expired"
	case left < status.CertWarning:
		return "expiring"
	}
	return "ok"
}

// changeKey is what makes the agent print the summary again: not the db size, which changes
// with every write.
func changeKey(st *status.Status) string {
	var alarms []string
	for _, a := range st.Alarms {
		alarms = append(alarms, a.Member+"/"+a.Alarm)
	}
	var skewed []string
	for _, k := range st.ClockSkew {
		skewed = append(skewed, k.Member)
	}
	synced := st.Clock == nil || st.Clock.Synchronized
	var backup string
	if b := st.Backup; b != nil {
		backup = fmt.Sprintf("%v/%v/%s", b.Stale(st.Time, st.Since), b.Failing(), b.Key)
	}
	return fmt.Sprintf("%s %s %d/%d+%d %s %v %s %v %v %s", st.Role, st.Leader, st.Healthy, st.Voters, st.Learners, strings.Join(alarms, ","),
		certState(st), strings.Join(skewed, ","), st.VolumeFull(), synced, backup)
}

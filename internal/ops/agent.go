package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/etcd-appliance/appliance/internal/firewall"
	"github.com/etcd-appliance/appliance/internal/pki"

	"github.com/etcd-appliance/appliance/internal/atomicfile"
	"github.com/etcd-appliance/appliance/internal/datavol"
	"github.com/etcd-appliance/appliance/internal/membership"
	"github.com/etcd-appliance/appliance/internal/status"
)

// Agent intervals: quick while something is in motion (a learner catching up, etcd starting),
// relaxed once the member is healthy.
const (
	agentBusy   = 3 * time.Second
	agentIdle   = 15 * time.Second
	agentRepeat = 10 * time.Minute // the summary is logged this often even when nothing changed
	alarmRepeat = time.Minute      // and this often while an alarm is raised
	// resolverDelay bounds how long the DNS stub's start waits for etcd to answer.
	resolverDelay = 30 * time.Second
)

// agent is the watch loop's memory between rounds.
type agent struct {
	n         *Node
	lastKey   string    // changeKey of the summary printed last
	lastPrint time.Time // when it was printed
	// snapshotFailed is when the last scheduled snapshot failed: the next try waits snapshotRetry.
	snapshotFailed time.Time
	// the packet filter installed last, and the member hosts it came from
	filter      firewall.Policy
	filterSet   bool
	filterHosts []string                // member hosts from the last member list (nil: not read yet)
	resolved    map[string][]netip.Addr // each name's last answer
	counters    backupCounters
	last        *status.Status // the last round's report, for the metrics
	// resolverQueued: the DNS stub's start is queued (queueResolver)
	resolverQueued bool
	lastMu         sync.Mutex
}

// Agent is etcd-agent.service: it watches this node's member until ctx ends. It promotes this
// member once it is a learner that has caught up, records the cluster and member IDs on the
// data volume, keeps status.{json,txt} in the run directory current for `status` and the
// login banner, prints the one-line summary to the journal and console when it changes, and
// takes the scheduled snapshots.
func (n *Node) Agent(ctx context.Context) error {
	a := &agent{n: n}
	n.Started = n.Now().UTC()
	if n.State.Backup != nil {
		go a.backups(ctx)
	}
	go a.serveMetrics(ctx)
	for {
		wait := a.round(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// round is one look at the member; it returns how long to wait for the next.
func (a *agent) round(ctx context.Context) time.Duration {
	n := a.n
	now := n.Now().UTC()
	st := n.Status(ctx, now)
	if st.Role == status.Learner {
		if err := n.promoteSelf(ctx); err != nil {
			fmt.Fprintf(n.Console, "etcd-appliance: cluster: %v; retrying\n", err)
		} else {
			fmt.Fprintf(n.Console, "etcd-appliance: cluster: promoted learner %s to a voting member\n", st.MemberID)
			st = n.Status(ctx, n.Now().UTC())
		}
	}
	n.recordIDs(st)
	a.queueResolver(ctx, st, now)
	a.filterRound(ctx, st)
	n.recordPeerCheck(st)
	if st.Role == status.Leader || st.Role == status.Follower {
		a.scheduledSnapshot(ctx, now)
	}
	a.lastMu.Lock()
	a.last = st
	a.lastMu.Unlock()
	if err := writeStatus(n.RunDir, st); err != nil {
		fmt.Fprintf(n.Console, "etcd-appliance: status: %v\n", err)
	}
	key := changeKey(st)
	if key != a.lastKey || now.Sub(a.lastPrint) >= agentRepeat || (len(st.Alarms) > 0 && now.Sub(a.lastPrint) >= alarmRepeat) {
		fmt.Fprintln(n.Console, "etcd-appliance: status: "+st.Summary)
		for _, al := range st.Alarms {
			fmt.Fprintln(n.Console, "etcd-appliance: "+alarmAdvice(al))
		}
		a.lastKey, a.lastPrint = key, now
	}
	if !Healthy(st) || st.Role == status.Learner {
		return agentBusy
	}
	return agentIdle
}

// queueResolver starts the DNS stub (internal/dnsstub) once etcd answers, or after
// resolverDelay when it does not (a forming cluster may wait minutes for its peers, and they
// may be names the config did not list). firstboot leaves it to the agent so that its start
// does not share the vCPU with etcd's; a lookup before then starts it at once.
func (a *agent) queueResolver(ctx context.Context, st *status.Status, now time.Time) {
	n := a.n
	if a.resolverQueued || n.QueueResolver == nil || (st.Role == status.Down && now.Sub(n.Started) < resolverDelay) {
		return
	}
	a.resolverQueued = true
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := n.QueueResolver(qctx); err != nil {
		fmt.Fprintf(n.Console, "etcd-appliance: warning: DNS resolver not started: %v\n", err)
	}
}

func alarmAdvice(a status.Alarm) string {
	switch a.Alarm {
	case "NOSPACE":
		return fmt.Sprintf("ALARM NOSPACE on %s: the database reached its quota and the cluster accepts no writes: delete keys, `etcdctl compact` and `etcdctl defrag`, or raise etcd.quota_backend_bytes, then `etcdctl alarm disarm`", a.Member)
	case "CORRUPT":
		return fmt.Sprintf("ALARM CORRUPT on %s: its data differs from the other members': replace that member (boot it on a blank data disk) and `etcdctl alarm disarm`", a.Member)
	}
	return fmt.Sprintf("ALARM %s on %s", a.Alarm, a.Member)
}

// promoteSelf asks the voting members (a learner serves no such request) to promote this
// member; etcd refuses until the learner has caught up with the leader.
func (n *Node) promoteSelf(ctx context.Context) error {
	cli, err := n.Dial()
	if err != nil {
		return err
	}
	defer cli.Close()
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ms, err := cli.LocalMembers(lctx) // a learner answers this one itself
	if err != nil {
		return err
	}
	self, ok := membership.Find(ms, n.State.Self())
	if !ok {
		return fmt.Errorf("the cluster does not list member %s", n.State.Member)
	}
	var voters []string
	for _, m := range membership.Voters(ms) {
		voters = append(voters, m.ClientURLs...)
	}
	vc, err := n.Dial(voters...)
	if err != nil {
		return err
	}
	defer vc.Close()
	return vc.Promote(lctx, self.ID)
}

// recordPeerCheck records on the data volume that this member ran with the peer check on in
// a healthy cluster (firstboot turned it on for this boot): every member holds a current peer
// certificate, so later boots keep it on without asking the peers again.
func (n *Node) recordPeerCheck(st *status.Status) {
	if !Healthy(st) {
		return
	}
	marker := filepath.Join(n.State.Volume, "pki", pki.PeerCheckFile)
	if _, err := os.Stat(marker); err == nil {
		return
	}
	env, err := os.ReadFile(filepath.Join(n.RunDir, "etcd.env"))
	if err != nil || !bytes.Contains(env, []byte("\nETCD_PEER_CERT_ALLOWED_CN=")) {
		return
	}
	if err := atomicfile.Write(marker, []byte("on\n"), 0o644); err != nil {
		fmt.Fprintf(n.Console, "etcd-appliance: peer check: recording it on the data volume: %v\n", err)
	}
}

// recordIDs writes etcd's cluster and member IDs into the volume's identity record once
// they are known, so that a reimaged node can be checked against them.
func (n *Node) recordIDs(st *status.Status) {
	if st.MemberID == "" || st.ClusterID == "" {
		return
	}
	id, err := datavol.ReadIdentity(n.State.Volume)
	if err != nil || id == nil || (id.MemberID == st.MemberID && id.ClusterID == st.ClusterID) {
		return
	}
	id.MemberID, id.ClusterID = st.MemberID, st.ClusterID
	if err := datavol.WriteIdentity(n.State.Volume, id); err != nil {
		fmt.Fprintf(n.Console, "etcd-appliance: status: recording member %s of cluster %s: %v\n", st.MemberID, st.ClusterID, err)
	}
}

// writeStatus keeps the last report where `status` falls back and the login banner reads it.
func writeStatus(runDir string, st *status.Status) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(runDir, "status.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(runDir, "status.txt"), []byte(st.Summary+"\n"), 0o644)
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"

	"github.com/etcd-appliance/appliance/internal/datavol"
	"github.com/etcd-appliance/appliance/internal/membership"
	"github.com/etcd-appliance/appliance/internal/pki"
	"github.com/etcd-appliance/appliance/internal/status"
)

// Agent intervals: quick while something is in motion (a learner catching up, etcd starting),
// relaxed once the member is healthy.
const (
	agentBusy   = 3 * time.Second
	agentIdle   = 15 * time.Second
	agentRepeat = 10 * time.Minute // the summary is logged this often even when nothing changed
	alarmRepeat = time.Minute      // and this often while an alarm is raised
)

// agent is etcd-agent.service: it watches this node's member for as long as the node runs.
// It promotes this member once it is a learner that has caught up, records the cluster and
// member IDs on the data volume, keeps /run/etcd-appliance/status.{json,txt} current for
// `status` and the login banner, prints the one-line summary to the journal and console
// when it changes, and takes the scheduled snapshots.
func agent(ctx context.Context, runDir string) error {
	s, err := readNodeState(runDir)
	if err != nil {
		return err
	}
	var lastKey string
	var lastPrint time.Time
	for {
		now := time.Now().UTC()
		st := collectStatus(ctx, s, runDir, now)
		if st.Role == status.Learner {
			if err := promoteSelf(ctx, s); err != nil {
				fmt.Printf("etcd-appliance: cluster: %v; retrying\n", err)
			} else {
				fmt.Printf("etcd-appliance: cluster: promoted learner %s to a voting member\n", st.MemberID)
				st = collectStatus(ctx, s, runDir, time.Now().UTC())
			}
		}
		recordIDs(s, st)
		if st.Role == status.Leader || st.Role == status.Follower {
			scheduledSnapshot(ctx, s, now)
		}
		if err := writeStatus(runDir, st); err != nil {
			fmt.Printf("etcd-appliance: status: %v\n", err)
		}
		key := changeKey(st)
		if key != lastKey || now.Sub(lastPrint) >= agentRepeat || (len(st.Alarms) > 0 && now.Sub(lastPrint) >= alarmRepeat) {
			fmt.Println("etcd-appliance: status: " + st.Summary)
			for _, a := range st.Alarms {
				fmt.Println("etcd-appliance: " + alarmAdvice(a))
			}
			lastKey, lastPrint = key, now
		}
		wait := agentIdle
		if !healthy(st) || st.Role == status.Learner {
			wait = agentBusy
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
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
func promoteSelf(ctx context.Context, s nodeState) error {
	cli, err := s.client()
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
	self, ok := membership.Find(ms, s.self())
	if !ok {
		return fmt.Errorf("the cluster does not list member %s", s.Member)
	}
	var voters []string
	for _, m := range membership.Voters(ms) {
		voters = append(voters, m.ClientURLs...)
	}
	vc, err := s.client(voters...)
	if err != nil {
		return err
	}
	defer vc.Close()
	return vc.Promote(lctx, self.ID)
}

// recordIDs writes etcd's cluster and member IDs into the volume's identity record once
// they are known, so that a reimaged node can be checked against them.
func recordIDs(s nodeState, st *status.Status) {
	if st.MemberID == "" || st.ClusterID == "" {
		return
	}
	id, err := datavol.ReadIdentity(s.Volume)
	if err != nil || id == nil || (id.MemberID == st.MemberID && id.ClusterID == st.ClusterID) {
		return
	}
	id.MemberID, id.ClusterID = st.MemberID, st.ClusterID
	if err := datavol.WriteIdentity(s.Volume, id); err != nil {
		fmt.Printf("etcd-appliance: status: recording member %s of cluster %s: %v\n", st.MemberID, st.ClusterID, err)
	}
}

// writeStatus keeps the last report where `status` falls back and the login banner reads it.
func writeStatus(runDir string, st *status.Status) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := pki.WriteFile(filepath.Join(runDir, "status.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	return pki.WriteFile(filepath.Join(runDir, "status.txt"), []byte(st.Summary+"\n"), 0o644)
}

package node

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcd-appliance/appliance/config"
	"github.com/etcd-appliance/appliance/internal/member"
	"github.com/etcd-appliance/appliance/internal/membership"
	"github.com/etcd-appliance/appliance/internal/pki"
)

// The peer check turns on only when no peer would be refused, and then stays on.
func TestPeerCheck(t *testing.T) {
	now := time.Now()
	caPEM, caKey, err := pki.NewCA("cluster CA", now)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.LoadCA(caPEM, caKey, now)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{Cluster: config.Cluster{Name: "c", Members: []config.Member{
		{Name: "etcd-a", Address: "192.0.2.10"}, {Name: "etcd-b", Address: "192.0.2.11"}, {Name: "etcd-c", Address: "192.0.2.12"}}}}
	const b, c, d = "192.0.2.11:2380", "192.0.2.12:2380", "192.0.2.13:2380"
	defer func(d time.Duration) { peerAskFor = d }(peerAskFor)
	peerAskFor = 0 // a peer that does not answer is not asked again here
	for _, tc := range []struct {
		name       string
		newCluster bool
		marker     bool
		peers      map[string]string
		ownOld     bool   // this member's certificate is a pre-issued one, not named PeerCN
		addedD     string // the CN etcd-d (in the member list, not in the configuration) presents
		wantOn     bool
		wantLine   string
	}{
		{"new cluster", true, false, nil, false, "", true, "peer check: on (a new cluster)"},
		{"marker", false, true, nil, false, "", true, "peer check: on (every member held a peer certificate before)"},
		{"every peer current", false, false, map[string]string{b: pki.PeerCN, c: pki.PeerCN}, false, "", true, "peer check: on (every other member presents a peer certificate)"},
		{"one older peer", false, false, map[string]string{b: pki.PeerCN, c: "etcd-c"}, false, "", false, `etcd-c https://192.0.2.12:2380 presents "etcd-c"`},
		{"one peer down", false, false, map[string]string{b: pki.PeerCN}, false, "", false, "etcd-c https://192.0.2.12:2380: connection refused"},
		{"one peer added but never started", false, false, map[string]string{b: pki.PeerCN}, false, "", true, "peer check: on (every other member presents a peer certificate)"},
		{"a member added since the configuration, older", false, false, map[string]string{b: pki.PeerCN, c: pki.PeerCN, d: "etcd-d"}, false, "etcd-d", false, `etcd-d https://192.0.2.13:2380 presents "etcd-d"`},
		{"own certificate pre-issued", true, false, nil, true, "", false, "peer check: off: this member's pre-issued certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			files := newPKIFiles(dir)
			key, err := pki.NewKey()
			if err != nil {
				t.Fatal(err)
			}
			id := pki.Identity{Name: "etcd-a"}
			issue := ca.IssuePeer
			if tc.ownOld {
				issue = ca.IssueServer // CN etcd-a, as a pre-issued node certificate
			}
			cert, err := issue(id, key.Public(), now)
			if err != nil {
				t.Fatal(err)
			}
			keyPEM, _ := pki.EncodeKey(key)
			for path, data := range map[string][]byte{files.peer: cert, files.key: keyPEM, files.ca: caPEM} {
				if err := os.WriteFile(path, data, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if tc.marker {
				os.WriteFile(filepath.Join(dir, pki.PeerCheckFile), nil, 0o644)
			}
			out := newConsole()
			bt := &boot{Node: &Node{Console: out}, m: &fakeMachine{t: t, peerNames: tc.peers}, files: files, newCluster: tc.newCluster,
				spec: member.Spec{Self: member.Self{Name: "etcd-a", Address: "192.0.2.10"}, Config: cfg}}
			// the running cluster's member list: etcd-c never started in the joining case, and
			// etcd-d was added since the configuration was written
			started := []string{"https://192.0.2.12:2379"}
			if strings.Contains(tc.name, "never started") {
				started = nil
			}
			bt.listMembers = func(context.Context) ([]membership.Member, error) {
				ms := []membership.Member{
					{Name: "etcd-a", PeerURLs: []string{"https://192.0.2.10:2380"}, ClientURLs: []string{"https://192.0.2.10:2379"}},
					{Name: "etcd-b", PeerURLs: []string{"https://192.0.2.11:2380"}, ClientURLs: []string{"https://192.0.2.11:2379"}},
					{Name: "etcd-c", PeerURLs: []string{"https://192.0.2.12:2380"}, ClientURLs: started},
				}
				if tc.addedD != "" {
					ms = append(ms, membership.Member{Name: "etcd-d", PeerURLs: []string{"https://192.0.2.13:2380"}, ClientURLs: []string{"https://192.0.2.13:2379"}})
				}
				return ms, nil
			}
			if err := bt.peerCheck(context.Background()); err != nil {
				t.Fatal(err)
			}
			if on := bt.spec.PeerAllowedCN == pki.PeerCN; on != tc.wantOn {
				t.Errorf("check on = %v, want %v\n%s", on, tc.wantOn, out)
			}
			if !strings.Contains(out.String(), tc.wantLine) {
				t.Errorf("console lacks %q:\n%s", tc.wantLine, out)
			}
			if _, err := os.Stat(filepath.Join(dir, pki.PeerCheckFile)); (err == nil) != tc.marker {
				t.Errorf("firstboot changed the marker (the agent writes it once the member is healthy)")
			}
		})
	}
}

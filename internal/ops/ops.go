// Package ops holds a node's day-2 operations on its etcd member: status, upgrade-check,
// leave, remove-member, snapshots and the agent that watches the member. They run against
// the Cluster interface, which the etcd client satisfies, and reach the machine (systemd,
// the data volume's filesystem, the clock) through a Node's fields, so that each decision is
// tested with fakes, without a VM.
package ops

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/etcd-appliance/appliance/internal/firewall"
	"github.com/etcd-appliance/appliance/internal/nodeconfig"

	clientv3 "go.etcd.io/etcd/client/v3"
	clientsnap "go.etcd.io/etcd/client/v3/snapshot"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/etcd-appliance/appliance/internal/datavol"
	"github.com/etcd-appliance/appliance/internal/dnsstub"
	"github.com/etcd-appliance/appliance/internal/membership"
	"github.com/etcd-appliance/appliance/internal/nodestate"
	"github.com/etcd-appliance/appliance/internal/sdjob"
	"github.com/etcd-appliance/appliance/internal/snapshot"
	"github.com/etcd-appliance/appliance/internal/status"
)

// Cluster is what the operations use of an etcd client; *membership.Client satisfies it.
type Cluster interface {
	Members(ctx context.Context) ([]membership.Member, error)
	LocalMembers(ctx context.Context) ([]membership.Member, error)
	Statuses(ctx context.Context, ms []membership.Member, timeout time.Duration) map[uint64]*clientv3.StatusResponse
	Status(ctx context.Context, endpoint string) (*clientv3.StatusResponse, error)
	Versions(ctx context.Context, clientURL string) (membership.Versions, error)
	AlarmList(ctx context.Context) (*clientv3.AlarmResponse, error)
	Remove(ctx context.Context, id uint64) error
	Promote(ctx context.Context, id uint64) error
	Close() error
}

var _ Cluster = (*membership.Client)(nil)

// Dialer makes a Cluster client for endpoints, all configured members when none are given.
type Dialer func(endpoints ...string) (Cluster, error)

// Node is this node's member as the operations see it: what boot recorded, the run
// directory, and the machine effects. New fills every field with the real one.
type Node struct {
	State  nodestate.State
	RunDir string // etcd.env (etcd runs only with it), status.{json,txt}

	Dial Dialer
	// StopEtcd and StartEtcd stop and start etcd.service and wait for the job.
	StopEtcd  func(ctx context.Context) error
	StartEtcd func(ctx context.Context) error
	// Usage is the size and free bytes of the filesystem holding dir.
	Usage func(dir string) (size, free int64, err error)
	// SameFS tells whether a and b are on one filesystem; false when either cannot be looked at.
	SameFS func(a, b string) bool
	// Save streams a snapshot from the member at endpoint into path and returns etcd's version.
	Save func(ctx context.Context, endpoint, path string) (etcdVersion string, err error)
	// Describe reads a saved snapshot's revision and key count.
	Describe func(ctx context.Context, path string) (snapshot.Status, error)
	// ClockSkews are the members whose clock is status.SkewLimit or more from this node's.
	ClockSkews func(ctx context.Context, ms []membership.Member, self uint64) []status.Skew
	// Clock is this node's time synchronisation; nil leaves it out of the status.
	Clock func(ctx context.Context) *status.Clock
	Now   func() time.Time
	// Filter installs the packet filter and Lookup resolves members' names for it; a nil
	// Filter leaves the filter alone. On a node it only applies the table: firstboot loaded
	// the modules, and the agent's unit hides them (ProtectKernelModules).
	Filter func(firewall.Policy) error
	Lookup firewall.LookupFunc
	// QueueResolver queues the DNS stub's start (the agent's, once etcd answers); nil: nothing.
	QueueResolver func(ctx context.Context) error
	// BackupRecord reads the uploader's record of the last backup; nil leaves it out.
	BackupRecord func(ctx context.Context) (status.Record, error)
	// Started is when the agent began: with no backup yet, backups are stale from then.
	Started time.Time
	// Console gets the agent's lines (journal and console through its unit).
	Console io.Writer
}

// New is the node for s with the real machine: etcd over TLS, systemd, statfs, etcdutl.
func New(s nodestate.State, runDir string) *Node {
	n := &Node{State: s, RunDir: runDir, Usage: datavol.Usage, SameFS: sameFS, ClockSkews: clockSkews, Clock: cachedClock(clockSync, clockCacheFor),
		Filter: func(p firewall.Policy) error { return firewall.Apply(p) }, Lookup: nodeconfig.LookupHost,
		QueueResolver: dnsstub.Queue, Now: func() time.Time { return time.Now().UTC() }, Console: os.Stdout}
	n.Dial = func(endpoints ...string) (Cluster, error) {
		c, err := n.State.Client(endpoints...)
		if err != nil {
			return nil, err // not a typed nil inside the interface
		}
		return c, nil
	}
	n.StopEtcd = func(ctx context.Context) error { return sdjob.RunJob(ctx, sdjob.Stop, "etcd.service") }
	n.StartEtcd = func(ctx context.Context) error { return sdjob.RunJob(ctx, sdjob.Start, "etcd.service") }
	n.Save = func(ctx context.Context, endpoint, path string) (string, error) {
		tc, err := n.State.TLSConfig()
		if err != nil {
			return "", err
		}
		cfg := clientv3.Config{Endpoints: []string{endpoint}, TLS: tc, DialTimeout: 10 * time.Second, Logger: zap.NewNop()}
		return clientsnap.SaveWithVersion(ctx, zap.NewNop(), cfg, path)
	}
	n.BackupRecord = func(ctx context.Context) (status.Record, error) {
		cli, err := n.localEtcd()
		if err != nil {
			return status.Record{}, err
		}
		defer cli.Close()
		return ReadBackupRecord(ctx, cli)
	}
	n.Describe = func(ctx context.Context, path string) (snapshot.Status, error) {
		return snapshot.Describe(ctx, "etcdutl", path)
	}
	return n
}

func sameFS(a, b string) bool {
	var as, bs unix.Stat_t
	return unix.Stat(a, &as) == nil && unix.Stat(b, &bs) == nil && as.Dev == bs.Dev
}

// view is the member list and who answered, as seen through the configured members.
type view struct {
	members  []membership.Member
	statuses map[uint64]*clientv3.StatusResponse // who answered, and what
	health   membership.Health
	self     membership.Member
	inList   bool
}

// view asks for the member list linearizably: what a decision to go down or remove a member
// rests on must come from a quorum.
func (n *Node) view(ctx context.Context) (*view, error) {
	cli, err := n.Dial()
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	lctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	ms, err := cli.Members(lctx)
	if err != nil {
		return nil, fmt.Errorf("%w (the cluster needs a quorum to answer)", err)
	}
	v := &view{members: ms}
	v.self, v.inList = membership.Find(ms, n.State.Self())
	v.statuses = statuses(ctx, cli, askSelfLocally(ms, v.self.ID, n.State.Local))
	v.health = membership.HealthOf(v.statuses)
	return v, nil
}

// askSelfLocally is ms with this member asked at local (loopback) first: a member advertised
// at a public address its platform NATs to it may not reach itself there (clouds rarely
// hairpin), and its own status must not depend on that. The advertised URLs stay, for a
// pre-issued certificate that does not name 127.0.0.1.
func askSelfLocally(ms []membership.Member, self uint64, local string) []membership.Member {
	if self == 0 || local == "" {
		return ms
	}
	out := slices.Clone(ms)
	for i := range out {
		if out[i].ID == self {
			out[i].ClientURLs = append([]string{local}, out[i].ClientURLs...)
		}
	}
	return out
}

// statusTimeout bounds a member's first answer to a status request. Each request opens a new
// TLS connection to that member, which a busy machine (or five VMs on two emulated cores) may
// not finish in time.
const statusTimeout = 5 * time.Second

// statuses asks every member for its status, and asks those that did not answer once more,
// for twice as long, before they count as down: a refusal to leave or go down for want of a
// quorum should rest on members that are down, not on one slow handshake.
func statuses(ctx context.Context, cli Cluster, ms []membership.Member) map[uint64]*clientv3.StatusResponse {
	st := cli.Statuses(ctx, ms, statusTimeout)
	var silent []membership.Member
	for _, m := range ms {
		if st[m.ID] == nil && m.Started() {
			silent = append(silent, m)
		}
	}
	if len(silent) > 0 && ctx.Err() == nil {
		for id, r := range cli.Statuses(ctx, silent, 2*statusTimeout) {
			st[id] = r
		}
	}
	return st
}

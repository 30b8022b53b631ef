// Package node is the boot of an etcd appliance node: named steps, from resolving the
// configuration to etcd's environment file, over a small Machine interface so that a unit test
// runs a whole boot against a temp dir. Everything that depends on input is checked before
// anything is written: bad input leaves the disks as they were, prints every problem on the
// console, and fails, so etcd.service (which requires firstboot) stays stopped. The one thing
// applied early is a parsed config's DNS and NTP servers (drop-ins in the tmpfs /etc), which
// the rest of the checks need to look names up.
package node

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/etcd-appliance/appliance/internal/backup"
	"github.com/etcd-appliance/appliance/internal/firewall"
	"github.com/etcd-appliance/appliance/internal/membership"

	"github.com/etcd-appliance/appliance/config"
	"github.com/etcd-appliance/appliance/internal/atomicfile"
	"github.com/etcd-appliance/appliance/internal/datavol"
	"github.com/etcd-appliance/appliance/internal/dnsstub"
	"github.com/etcd-appliance/appliance/internal/member"
	"github.com/etcd-appliance/appliance/internal/nodeconfig"
	"github.com/etcd-appliance/appliance/internal/nodestate"
	"github.com/etcd-appliance/appliance/internal/ops"
	"github.com/etcd-appliance/appliance/internal/pki"
	"github.com/etcd-appliance/appliance/internal/platform/detect"
	"github.com/etcd-appliance/appliance/internal/status"
)

// Paths are where a boot reads and writes; tests point them into a temp dir.
type Paths struct {
	Root      string // where Ignition files, hostname and SSH keys are written
	OSRelease string
	DataDir   string // the data volume's mount point
	RunDir    string // etcd.env and node.json go here (tmpfs: rewritten every boot)
	Owner     string // the user etcd runs as
}

// DefaultPaths are a node's.
func DefaultPaths() Paths {
	return Paths{Root: "/", OSRelease: "/usr/lib/os-release", DataDir: "/var/lib/etcd", RunDir: nodestate.RunDir, Owner: "etcd"}
}

// Node is one boot's inputs.
type Node struct {
	Paths   Paths
	Env     detect.Env         // where the platform is detected and its metadata read
	Resolve nodeconfig.Options // how the configuration is resolved (nodeconfig.NodeOptions on a node)
	Machine Machine
	Console io.Writer // the lines operators read on the serial console and in the journal
	Now     func() time.Time
}

// New is the node firstboot boots.
func New(env detect.Env) *Node {
	p := DefaultPaths()
	return &Node{Paths: p, Env: env, Resolve: nodeconfig.NodeOptions(""), Machine: Host{ScratchDir: filepath.Join(p.RunDir, "restore")},
		Console: os.Stdout, Now: time.Now}
}

// fetchTimeout bounds waiting for a metadata server or config URL at boot.
const fetchTimeout = 5 * time.Minute

// StopError is a refusal already explained on the console: firstboot fails, etcd stays off.
type StopError struct{ What string }

func (e *StopError) Error() string { return e.What }

// errFinished ends a boot early without an error: the member left its cluster.
var errFinished = errors.New("finished")

// boot is one boot's state, filled in step by step.
type boot struct {
	*Node
	m       Machine
	pause   pauser
	release []func()

	rel    []byte // os-release
	r      *nodeconfig.Resolved
	c      *config.Config
	req    datavol.Request
	choice datavol.Choice
	snap   string // the snapshot to restore, fetched and verified
	// fromStore is a restore from the backup store, checked before anything was written
	fromStore *backup.Source
	want      datavol.Identity
	uid, gid  int
	vol       *datavol.Result
	files     pkiFiles
	ca        *caMaterial
	spec      member.Spec
	filterOn  firewall.Settings
	// newCluster: this boot forms a new cluster (blank data, no running cluster found)
	newCluster bool
	// etcdEnvWritten: etcd starts after this boot (the agent then starts the DNS stub)
	etcdEnvWritten bool
	// unstarted are the peer URLs of members that never ran, seen when joining
	unstarted map[string]bool
	// listMembers reads the running cluster's member list (tests replace it)
	listMembers func(ctx context.Context) ([]membership.Member, error)
}

// step is one named stage of a boot; the power-cut tests pause between some of them.
type step struct {
	name string
	run  func(ctx context.Context) error
}

func (b *boot) steps() []step {
	return []step{
		{"image", b.image},
		{"devices", b.devices},
		{"resolve", b.resolve},
		{"clock", b.clock},
		{"check-volume", b.checkVolume},
		{"fetch-restore", b.fetchRestoreEarly},
		{"apply-config", b.applyConfig},
		{"before-volume", b.pauseAt("before-volume")},
		{"prepare-volume", b.prepareVolume},
		{"check-storage", b.checkStorage},
		{"filter", b.filter},
		{"sysctl", b.sysctl},
		{"before-tls", b.pauseAt("before-tls")},
		{"tls", b.tls},
		{"after-tls", b.pauseAt("after-tls")},
		{"record", b.record},
		{"cluster", b.cluster},
		{"peer-check", b.peerCheck},
		{"etcd-env", b.etcdEnv},
		{"ssh", b.ssh},
		{"report-ready", b.reportReady},
	}
}

// Boot prepares this boot's etcd member from the platform's configuration.
func (n *Node) Boot(ctx context.Context) error {
	b := &boot{Node: n, m: n.Machine}
	defer func() {
		for _, f := range b.release {
			f()
		}
	}()
	err := b.run(ctx)
	// The DNS stub is not started with the boot (internal/dnsstub). When etcd starts, the
	// agent starts it once etcd answers; otherwise (a refusal, a member that left) it is
	// queued now: the node needs it from here on. Queued, not waited for.
	if err != nil || !b.etcdEnvWritten {
		qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if qerr := b.m.StartResolver(qctx, false); qerr != nil {
			b.say("warning: DNS resolver (%s) not started: %v", dnsstub.Unit, qerr)
		}
	}
	return err
}

func (b *boot) run(ctx context.Context) error {
	for _, s := range b.steps() {
		err := s.run(ctx)
		if errors.Is(err, errFinished) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return ctx.Err()
}

// say prints one console line.
func (b *boot) say(format string, args ...any) {
	fmt.Fprintf(b.Console, "etcd-appliance: "+format+"\n", args...)
}

// refuse prints each problem as one console line and returns the error that fails the unit.
func (b *boot) refuse(kind string, problems ...string) error {
	for _, line := range problems {
		b.say("%s: %s", kind, line)
	}
	return b.stop(kind)
}

// stop ends a refusal whose lines are already on the console: etcd stays off, the unit fails.
func (b *boot) stop(kind string) error {
	b.say("etcd is not started: fix this and reboot (firstboot inspect shows what this node sees)")
	return &StopError{What: kind}
}

func (b *boot) pauseAt(point string) func(context.Context) error {
	return func(ctx context.Context) error { return b.pause.at(ctx, point, b.Console) }
}

func (b *boot) image(context.Context) error {
	if rel, err := os.ReadFile(b.Paths.OSRelease); err == nil {
		b.rel = rel
		fmt.Fprintln(b.Console, imageLine(rel))
	}
	return nil
}

// devices waits for udev to have loaded the drivers of this machine's disks before the
// platform's labels and the data volume are looked for. A failure only costs that wait.
func (b *boot) devices(ctx context.Context) error {
	start := time.Now()
	if err := b.m.SettleDevices(ctx); err != nil {
		b.say("devices: %v; looking for disks as they are", err)
		return nil
	}
	if d := time.Since(start); d > time.Second {
		b.say("devices: waited %s for udev to load the drivers of this machine's devices", d.Round(100*time.Millisecond))
	}
	return nil
}

func (b *boot) resolve(ctx context.Context) error {
	fetchCtx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	opts := b.Resolve
	if opts.Log == nil {
		opts.Log = b.say
	}
	if opts.Services == nil {
		opts.Services = b.networkServices
	}
	r, err := nodeconfig.Resolve(fetchCtx, b.Env, opts)
	if err != nil {
		var ce *nodeconfig.ConfigError
		if errors.As(err, &ce) {
			return b.refuse("config error", ce.Problems()...)
		}
		return b.refuse("config error", err.Error())
	}
	b.say("platform %s (%s)", orNone(r.Platform), r.Detection)
	for _, w := range r.Warnings {
		b.say("config warning: %s", w)
	}
	b.r, b.c = r, r.Config
	return nil
}

// checkVolume finds the data volume the way PrepareVolume will, so that a missing or
// ambiguous disk stops the boot before anything is written; and what the volume must record.
func (b *boot) checkVolume(context.Context) error {
	b.req = datavol.Request{Device: b.c.Data.Device, Wipe: b.c.Data.Wipe, Dir: b.Paths.DataDir}
	var err error
	if b.choice, err = b.m.FindVolume(b.req); err != nil {
		return b.refuse("data volume", err.Error())
	}
	b.want = datavol.Identity{Cluster: b.c.Cluster.Name, Member: b.r.Member.Name, Image: imageVersion(b.rel)}
	if b.c.TLS.CACert != "" {
		// the volume records the first certificate, and accepts any of the bundle (a rotation)
		if b.want.CATrusted, err = pki.Fingerprints([]byte(b.c.TLS.CACert)); err != nil {
			return b.refuse("tls", "tls.ca_cert: "+err.Error())
		}
		b.want.CAFingerprint = b.want.CATrusted[0]
	}
	return nil
}

// fetchRestoreEarly fetches and verifies a snapshot to restore onto a blank disk before
// anything is written.
func (b *boot) fetchRestoreEarly(ctx context.Context) error {
	if b.c.Restore.Source == "" || !b.choice.Format {
		return nil
	}
	var err error
	if config.IsStoreURL(b.c.Restore.Source) {
		b.fromStore, err = b.checkStoreRestore(ctx, b.c.Restore)
	} else {
		b.snap, err = b.fetchRestore(ctx, b.c.Restore)
	}
	if err != nil {
		return b.refuse("restore", err.Error())
	}
	return nil
}

func (b *boot) applyConfig(ctx context.Context) error {
	r := b.r
	if err := r.Apply(b.Paths.Root); err != nil {
		return err
	}
	if r.Hostname != "" {
		if err := b.m.SetHostname(r.Hostname); err != nil {
			return fmt.Errorf("setting hostname %q: %w", r.Hostname, err)
		}
	}
	if reload, start := r.UnitsToStart(); reload {
		if err := b.m.StartUnits(ctx, start); err != nil {
			return err
		}
	}
	b.say("configured: hostname=%s member=%s ssh_keys=%d files=%d units=%d",
		orNone(r.Hostname), r.Member.Name, len(r.SSHKeys), len(r.Files), len(r.Units))
	var err error
	if b.uid, b.gid, err = b.m.Owner(b.Paths.Owner); err != nil {
		return err
	}
	b.pause = newPauser(b.m.Cmdline(), b.Console)
	return nil
}

func (b *boot) prepareVolume(ctx context.Context) error {
	vol, err := b.m.PrepareVolume(ctx, datavol.Options{Request: b.req, Want: b.want,
		AfterFormat: b.pauseAt("after-format")})
	if ctx.Err() != nil {
		return ctx.Err() // stopped (at a pause point): no refusal to explain
	}
	if err != nil {
		return b.refuse("data volume", err.Error())
	}
	b.vol = vol
	b.say("%s", describeVolume(vol, b.Paths.DataDir))
	// a CA rotation: the volume's CA is still trusted, and tls.ca_cert now starts with another
	if id := vol.Identity; id != nil && id.CAFingerprint != "" && b.want.CAFingerprint != "" && id.CAFingerprint != b.want.CAFingerprint {
		b.say("data volume: its cluster CA is now %s (was %s, still trusted by tls.ca_cert)", b.want.CAFingerprint, id.CAFingerprint)
		id.CAFingerprint = b.want.CAFingerprint
		if err := datavol.WriteIdentity(b.Paths.DataDir, id); err != nil {
			return err
		}
	}
	return b.fitQuota()
}

// fitQuota lowers etcd's backend quota to what the data volume can hold (member.FitQuota), so
// that a growing database meets the NOSPACE alarm instead of a full disk.
func (b *boot) fitQuota() error {
	c := b.c
	size, _, err := datavol.Usage(b.Paths.DataDir)
	if err != nil {
		return err
	}
	var db int64
	if fi, err := os.Stat(filepath.Join(b.dataDir(), "member", "snap", "db")); err == nil {
		db = fi.Size()
	}
	q, lowered := member.FitQuota(c.Etcd.QuotaBackendBytes, size, db)
	if lowered {
		b.say("etcd: quota %s lowered to %s for this member's %s data volume (a quarter of it, or the database's %s and 64 MiB), so that the NOSPACE alarm comes before a full disk (etcd stops on a full disk); grow the volume for more",
			status.Size(c.Etcd.QuotaBackendBytes), status.Size(q), status.Size(size), status.Size(db))
		c.Etcd.QuotaBackendBytes = q
	}
	return nil
}

func (b *boot) dataDir() string { return filepath.Join(b.Paths.DataDir, "data") }

func (b *boot) tls(context.Context) error {
	now := b.Now()
	b.files = newPKIFiles(filepath.Join(b.Paths.DataDir, "pki"))
	ca, err := clusterCA(b.c.TLS, b.files, now)
	if err != nil {
		return b.refuse("tls", err.Error())
	}
	b.ca = ca
	if ca.own && b.vol.Identity.CAFingerprint == "" {
		// a single member's own CA is made on its volume: record it there
		if b.vol.Identity.CAFingerprint, err = pki.Fingerprint(ca.certPEM); err != nil {
			return err
		}
		if err := datavol.WriteIdentity(b.Paths.DataDir, b.vol.Identity); err != nil {
			return err
		}
	}
	did, err := ensureTLS(b.c.TLS, ca, b.files, b.r.CertIdentity(), now, b.uid, b.gid)
	if err != nil {
		return b.refuse("tls", err.Error())
	}
	for _, d := range did {
		b.say("tls: %s", d)
	}
	return nil
}

// record writes etcdctl's environment and the node's state for the on-node commands, and ends
// the boot of a member that left its cluster.
func (b *boot) record(context.Context) error {
	b.spec = member.Spec{Self: b.r.Member, Config: b.c, Files: b.files.member(b.dataDir())}
	cert, key := etcdctlCreds(b.files, b.ca)
	if err := writeEnvFile(filepath.Join(b.Paths.RunDir, "etcdctl.env"), member.EtcdctlEnv(b.spec, cert, key)); err != nil {
		return err
	}
	if err := nodestate.Write(b.Paths.RunDir, b.state()); err != nil {
		return err
	}
	if left := b.vol.Identity.Left; left != nil {
		b.say("member %s left %s at %s (firstboot leave): etcd is not started; to join again, boot this node on a blank data disk",
			b.r.Member.Name, clusterLine(b.c), left.Format(time.RFC3339))
		return errFinished
	}
	return nil
}

func (b *boot) state() nodestate.State {
	spec := b.spec
	cert, key := etcdctlCreds(b.files, b.ca)
	return nodestate.State{
		Member: spec.Self.Name, PeerURL: spec.PeerURL(), Cluster: spec.Config.Cluster.Name,
		Endpoints: member.Endpoints(spec), Local: member.URL("127.0.0.1", member.ClientPort),
		CA: b.files.ca, Cert: cert, Key: key, ServerCert: b.files.server,
		Quota: spec.Config.Etcd.QuotaBackendBytes, Volume: b.Paths.DataDir, DataDir: spec.Files.DataDir,
		Image: imageVersion(b.rel), EtcdVersion: osReleaseFields(b.rel)["ETCD_VERSION"],
		SnapshotMinutes: spec.Config.Snapshots.IntervalMinutes, SnapshotKeep: spec.Config.Snapshots.Keep,
		Filter: b.filterOn,
		Backup: nodestate.NewBackup(spec.Config.Backup, b.r.Platform, b.r.Trust),
	}
}

// cluster decides how this member starts: from its own data, by joining the running cluster,
// from a snapshot, or forming a new cluster.
func (b *boot) cluster(ctx context.Context) error {
	c := b.c
	if hasMemberData(b.dataDir()) {
		if c.Restore.Source != "" && !restoredFrom(b.vol.Identity.Restored, c.Restore) {
			return b.refuse("restore", fmt.Sprintf("restore.source: the data volume already holds etcd data of member %s; a restore seeds a NEW cluster on blank data volumes: remove restore from the user-data to keep this data, or give this node a blank disk", b.r.Member.Name))
		}
		return nil
	}
	cli, err := b.probeCluster(ctx, b.spec, b.files, b.ca)
	if err != nil {
		return b.refuse("cluster", err.Error())
	}
	b.newCluster = cli == nil
	switch {
	case cli != nil:
		if c.Restore.Source != "" {
			b.say("restore: cluster %s is running: joining it instead of restoring (a restore seeds only a new cluster)", c.Cluster.Name)
		}
		err = b.joinCluster(ctx, &b.spec, cli)
		cli.Close()
		if err != nil {
			return b.refuse("cluster", err.Error())
		}
		if c.Restore.Source != "" {
			// later boots with the same user-data keep this member's data (restoredFrom)
			b.vol.Identity.Restored = cmp.Or(c.Restore.SHA256, "joined")
			if err := datavol.WriteIdentity(filepath.Dir(b.dataDir()), b.vol.Identity); err != nil {
				return err
			}
		}
		return b.pause.at(ctx, "after-member-add", b.Console)
	case c.Restore.Source != "":
		sum := c.Restore.SHA256
		if config.IsStoreURL(c.Restore.Source) {
			if b.fromStore == nil {
				if b.fromStore, err = b.checkStoreRestore(ctx, c.Restore); err != nil {
					return b.refuse("restore", err.Error())
				}
			}
			if b.snap, err = b.stageStoreRestore(ctx, b.fromStore); err != nil {
				return b.refuse("restore", err.Error())
			}
			sum = b.fromStore.Meta.SHA256
		} else if b.snap == "" {
			if b.snap, err = b.fetchRestore(ctx, c.Restore); err != nil {
				return b.refuse("restore", err.Error())
			}
		}
		if err := b.restoreMember(ctx, b.spec, b.snap, sum, b.dataDir(), b.vol, b.uid, b.gid); err != nil {
			return b.refuse("restore", err.Error())
		}
	}
	return nil
}

// restoredFrom tells whether a volume that records a restore of the snapshot with sha256
// restored is what r restores: the same snapshot, or any backup of a store source (its
// latest moves on as the restored cluster backs up).
func restoredFrom(restored string, r config.Restore) bool {
	if config.IsStoreURL(r.Source) {
		return restored != ""
	}
	return restored == r.SHA256
}

// etcdEnv prepares etcd's data directory and writes its environment file: from here
// etcd.service starts.
func (b *boot) etcdEnv(ctx context.Context) error {
	data := b.spec.Files.DataDir
	if err := os.MkdirAll(data, 0o700); err != nil {
		return fmt.Errorf("creating etcd data directory: %w", err)
	}
	if err := os.Chown(data, b.uid, b.gid); err != nil {
		return fmt.Errorf("giving %s to %s: %w", data, b.Paths.Owner, err)
	}
	env := member.Env(b.spec)
	if err := writeEnvFile(filepath.Join(b.Paths.RunDir, "etcd.env"), env); err != nil {
		return err
	}
	b.etcdEnvWritten = true
	// etcd resolves its members' names as it starts (those of its config, and on a restart
	// those of its member list, which the agent recorded): the stub must answer by then.
	hosts := append(ops.MemberHosts(b.Paths.DataDir), env["ETCD_INITIAL_CLUSTER"], env["ETCD_INITIAL_ADVERTISE_PEER_URLS"], env["ETCD_ADVERTISE_CLIENT_URLS"])
	if dnsstub.NamesIn(hosts...) {
		if err := b.m.StartResolver(ctx, true); err != nil {
			b.say("warning: DNS resolver (%s) not started: %v; etcd cannot resolve its members' names", dnsstub.Unit, err)
		}
	}
	b.say("member %s (%s) of %s; clients: %s (TLS, client certificate required); health: http://<this host>:%d/health",
		b.r.Member.Name, b.r.Member.Reason, clusterLine(b.c), strings.Join(member.Endpoints(b.spec), ","), member.MetricsPort)
	if b.ca.own {
		b.say("this single member made its own CA (%s); client certificates come from it", b.files.ca)
	}
	return nil
}

func (b *boot) ssh(ctx context.Context) error {
	if len(b.r.SSHKeys) == 0 {
		return nil
	}
	if err := b.m.SSHHostKey(ctx, filepath.Join(b.Paths.DataDir, "ssh"), filepath.Join(b.Paths.RunDir, "ssh_host_ed25519_key")); err != nil {
		b.say("warning: no SSH server: %s", err.Error())
	}
	return nil
}

func (b *boot) reportReady(ctx context.Context) error {
	if err := b.m.ReportReady(ctx, b.r.Platform); err != nil {
		b.say("warning: %s", err.Error())
	}
	return nil
}

// describeVolume is the console line about the data volume.
func describeVolume(v *datavol.Result, dir string) string {
	s := fmt.Sprintf("data volume %s (%s)", v.Choice.Path, v.Choice.Reason)
	if v.Formatted {
		s += ": formatted ext4, label " + datavol.Label
	}
	if v.Grew {
		s += ", grown to fill its disk"
	}
	return s + ", mounted at " + dir
}

// clusterLine describes the cluster for the console.
func clusterLine(c *config.Config) string {
	if len(c.Cluster.Members) == 0 {
		return "a single-member cluster"
	}
	var ms []string
	for _, m := range c.Cluster.Members {
		ms = append(ms, m.Name)
	}
	return fmt.Sprintf("cluster %s (%s)", c.Cluster.Name, strings.Join(ms, ", "))
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// writeEnvFile writes an environment file readable by root only (it names key files).
func writeEnvFile(path string, env map[string]string) error {
	b, err := member.Render(env)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return atomicfile.WriteAll(path, b, 0o600)
}

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/etcd-appliance/appliance/config"
	"github.com/etcd-appliance/appliance/internal/datavol"
	"github.com/etcd-appliance/appliance/internal/member"
	"github.com/etcd-appliance/appliance/internal/nodestate"
	"github.com/etcd-appliance/appliance/internal/pki"
	"github.com/etcd-appliance/appliance/internal/platform"
	"github.com/etcd-appliance/appliance/internal/platform/azure"
	"github.com/etcd-appliance/appliance/internal/platform/detect"
	"github.com/etcd-appliance/appliance/internal/status"
)

// paths are where boot reads and writes; tests point them into a temp dir.
type paths struct {
	root      string // where Ignition files, hostname and SSH keys are written
	osRelease string
	dataDir   string // the data volume's mount point
	runDir    string // etcd.env goes here (tmpfs: rewritten every boot)
	owner     string // the user etcd runs as
}

func defaultPaths() paths {
	return paths{root: "/", osRelease: "/usr/lib/os-release", dataDir: "/var/lib/etcd", runDir: "/run/etcd-appliance", owner: "etcd"}
}

// fetchTimeout bounds waiting for a metadata server or config URL at boot.
const fetchTimeout = 5 * time.Minute

// stopError is a refusal already explained on the console: firstboot fails, etcd stays off.
type stopError struct{ what string }

func (e *stopError) Error() string { return e.what }

// refuse prints each problem as one console line and returns the error that fails the unit.
func refuse(kind string, problems []string) error {
	for _, line := range problems {
		fmt.Printf("etcd-appliance: %s: %s\n", kind, line)
	}
	fmt.Println("etcd-appliance: etcd is not started: fix this and reboot (firstboot inspect shows what this node sees)")
	return &stopError{what: kind}
}

// boot prepares this boot's etcd member from the platform's configuration. Everything that
// depends on input is checked before anything is written: bad input leaves the machine and
// its disks as they were, prints every problem on the console, and fails, so etcd.service
// (which requires this unit) stays stopped.
func boot(ctx context.Context, p paths, env detect.Env) error {
	rel, err := os.ReadFile(p.osRelease)
	if err == nil {
		fmt.Println(imageLine(rel))
	}
	fetchCtx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	r, err := resolve(fetchCtx, env, nodeResolveOptions(""))
	if err != nil {
		var ce *configError
		if errors.As(err, &ce) {
			return refuse("config error", ce.problems())
		}
		return refuse("config error", []string{err.Error()})
	}
	fmt.Printf("etcd-appliance: platform %s (%s)\n", orNone(r.Platform), r.Detection)
	for _, w := range r.Warnings {
		fmt.Println("etcd-appliance: config warning: " + w)
	}
	c := r.Config

	// the data volume: chosen and checked before anything is written
	req := datavol.Request{Device: c.Data.Device, Wipe: c.Data.Wipe, Dir: p.dataDir}
	choice, err := checkVolume(req)
	if err != nil {
		return refuse("data volume", []string{err.Error()})
	}
	// a snapshot to restore onto a blank disk is fetched and verified before anything is written
	var snap string
	if c.Restore.Source != "" && choice.Format {
		if snap, err = fetchRestore(ctx, c.Restore); err != nil {
			return refuse("restore", []string{err.Error()})
		}
		defer unix.Unmount(restoreDir, 0) // also when the boot is refused later
	}
	want := datavol.Identity{Cluster: c.Cluster.Name, Member: r.Member.Name, Image: imageVersion(rel)}
	if c.TLS.CACert != "" {
		if want.CAFingerprint, err = pki.Fingerprint([]byte(c.TLS.CACert)); err != nil {
			return refuse("tls", []string{"tls.ca_cert: " + err.Error()})
		}
	}

	if err := r.apply(p.root); err != nil {
		return err
	}
	if r.Hostname != "" {
		if err := unix.Sethostname([]byte(r.Hostname)); err != nil {
			return fmt.Errorf("setting hostname %q: %w", r.Hostname, err)
		}
	}
	if r.ignition != nil {
		if err := startUnits(ctx, r.ignition); err != nil {
			return err
		}
	}
	fmt.Printf("etcd-appliance: configured: hostname=%s member=%s ssh_keys=%d files=%d units=%d\n",
		orNone(r.Hostname), r.Member.Name, len(r.SSHKeys), len(r.Files), len(r.Units))

	uid, gid, err := lookupIDs(p.owner)
	if err != nil {
		return err
	}
	pause := newPauser(cmdline())
	if err := pause.at(ctx, "before-volume"); err != nil {
		return err
	}
	now := time.Now()
	files := newPKIFiles(filepath.Join(p.dataDir, "pki"))
	vol, err := datavol.Prepare(ctx, datavol.Options{Request: req, Root: "/", Want: want,
		AfterFormat: func(ctx context.Context) error { return pause.at(ctx, "after-format") }})
	if ctx.Err() != nil {
		return ctx.Err() // stopped (at a pause point): no refusal to explain
	}
	if err != nil {
		return refuse("data volume", []string{err.Error()})
	}
	fmt.Println("etcd-appliance: " + describeVolume(vol, p.dataDir))
	if err := fitQuota(c, p.dataDir, filepath.Join(p.dataDir, "data")); err != nil {
		return err
	}
	if err := pause.at(ctx, "before-tls"); err != nil {
		return err
	}
	ca, err := clusterCA(c.TLS, files, now)
	if err != nil {
		return refuse("tls", []string{err.Error()})
	}
	if ca.own && vol.Identity.CAFingerprint == "" {
		// a single member's own CA is made on its volume: record it there
		if vol.Identity.CAFingerprint, err = pki.Fingerprint(ca.certPEM); err != nil {
			return err
		}
		if err := datavol.WriteIdentity(p.dataDir, vol.Identity); err != nil {
			return err
		}
	}
	did, err := ensureTLS(c.TLS, ca, files, r.identity(), now, uid, gid)
	if err != nil {
		return refuse("tls", []string{err.Error()})
	}
	for _, d := range did {
		fmt.Println("etcd-appliance: tls: " + d)
	}
	if err := pause.at(ctx, "after-tls"); err != nil {
		return err
	}

	dataDir := filepath.Join(p.dataDir, "data")
	spec := member.Spec{Self: r.Member, Config: c, Files: files.member(dataDir)}
	cert, key := etcdctlCreds(files, ca)
	if err := writeEnvFile(filepath.Join(p.runDir, "etcdctl.env"), member.EtcdctlEnv(spec, cert, key)); err != nil {
		return err
	}
	if err := nodestate.Write(p.runDir, nodestate.State{
		Member: spec.Self.Name, PeerURL: spec.PeerURL(), Cluster: spec.Config.Cluster.Name,
		Endpoints: member.Endpoints(spec), Local: member.URL("127.0.0.1", member.ClientPort),
		CA: files.ca, Cert: cert, Key: key, ServerCert: files.server,
		Quota: spec.Config.Etcd.QuotaBackendBytes, Volume: p.dataDir, DataDir: spec.Files.DataDir,
		Image: imageVersion(rel), EtcdVersion: osReleaseFields(rel)["ETCD_VERSION"],
		SnapshotMinutes: spec.Config.Snapshots.IntervalMinutes, SnapshotKeep: spec.Config.Snapshots.Keep,
	}); err != nil {
		return err
	}
	if left := vol.Identity.Left; left != nil {
		fmt.Printf("etcd-appliance: member %s left %s at %s (firstboot leave): etcd is not started; to join again, boot this node on a blank data disk\n",
			r.Member.Name, clusterLine(c, r.Member), left.Format(time.RFC3339))
		return nil
	}
	switch {
	case hasMemberData(dataDir):
		if c.Restore.Source != "" && vol.Identity.Restored != c.Restore.SHA256 {
			return refuse("restore", []string{fmt.Sprintf("restore.source: the data volume already holds etcd data of member %s; a restore seeds a NEW cluster on blank data volumes: remove restore from the user-data to keep this data, or give this node a blank disk", r.Member.Name)})
		}
	default:
		cli, err := probeCluster(ctx, spec, files, ca)
		if err != nil {
			return refuse("cluster", []string{err.Error()})
		}
		switch {
		case cli != nil:
			if c.Restore.Source != "" {
				fmt.Printf("etcd-appliance: restore: cluster %s is running: joining it instead of restoring (a restore seeds only a new cluster)\n", c.Cluster.Name)
			}
			err = joinCluster(ctx, &spec, cli)
			cli.Close()
			if err != nil {
				return refuse("cluster", []string{err.Error()})
			}
			if err := pause.at(ctx, "after-member-add"); err != nil {
				return err
			}
		case c.Restore.Source != "":
			if snap == "" {
				if snap, err = fetchRestore(ctx, c.Restore); err != nil {
					return refuse("restore", []string{err.Error()})
				}
				defer unix.Unmount(restoreDir, 0)
			}
			if err := restoreMember(ctx, spec, snap, dataDir, vol, uid, gid); err != nil {
				return refuse("restore", []string{err.Error()})
			}
		}
	}
	if err := writeMemberEnv(p, spec, uid, gid); err != nil {
		return err
	}
	fmt.Printf("etcd-appliance: member %s (%s) of %s; clients: %s (TLS, client certificate required); health: http://<this host>:%d/health\n",
		r.Member.Name, r.Member.Reason, clusterLine(c, r.Member), strings.Join(member.Endpoints(spec), ","), member.MetricsPort)
	if ca.own {
		fmt.Printf("etcd-appliance: this single member made its own CA (%s); client certificates come from it\n", files.ca)
	}
	if len(r.SSHKeys) > 0 {
		if err := sshHostKey(ctx, filepath.Join(p.dataDir, "ssh"), filepath.Join(p.runDir, "ssh_host_ed25519_key")); err != nil {
			fmt.Println("etcd-appliance: warning: no SSH server: " + err.Error())
		}
	}
	if r.Platform == azure.Name {
		// Azure waits for this report; without it the VM ends as OSProvisioningTimedOut
		if err := azure.ReportReady(ctx, azure.WireServer, platform.HTTPGetter{}); err != nil {
			fmt.Println("etcd-appliance: warning: " + err.Error())
		}
	}
	return ctx.Err()
}

// checkVolume finds the data volume the way datavol.Prepare will, so that a missing or
// ambiguous disk stops the boot before anything is written.
func checkVolume(req datavol.Request) (datavol.Choice, error) {
	disks, err := datavol.Scan("/")
	if err != nil {
		return datavol.Choice{}, err
	}
	return datavol.Select(disks, req)
}

// fitQuota lowers etcd's backend quota to what the data volume can hold (member.FitQuota), so
// that a growing database meets the NOSPACE alarm instead of a full disk.
func fitQuota(c *config.Config, volume, dataDir string) error {
	size, _, err := datavol.Usage(volume)
	if err != nil {
		return err
	}
	var db int64
	if fi, err := os.Stat(filepath.Join(dataDir, "member", "snap", "db")); err == nil {
		db = fi.Size()
	}
	q, lowered := member.FitQuota(c.Etcd.QuotaBackendBytes, size, db)
	if lowered {
		fmt.Printf("etcd-appliance: etcd: quota %s lowered to %s for this member's %s data volume (a quarter of it, or the database's %s and 64 MiB), so that the NOSPACE alarm comes before a full disk (etcd stops on a full disk); grow the volume for more\n",
			status.Size(c.Etcd.QuotaBackendBytes), status.Size(q), status.Size(size), status.Size(db))
		c.Etcd.QuotaBackendBytes = q
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

// sshHostKey makes the SSH server's host key on the data volume once, so that it survives
// reboots and reimages, and links it where dropbear.service looks (it starts only then).
func sshHostKey(ctx context.Context, dir, link string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	key := filepath.Join(dir, "ed25519_host_key")
	if _, err := os.Stat(key); errors.Is(err, fs.ErrNotExist) {
		if out, err := exec.CommandContext(ctx, "dropbearkey", "-t", "ed25519", "-f", key).CombinedOutput(); err != nil {
			return fmt.Errorf("dropbearkey: %v: %s", err, bytes.TrimSpace(out))
		}
	}
	_ = os.Remove(link)
	return os.Symlink(key, link)
}

// clusterLine describes the cluster for the console.
func clusterLine(c *config.Config, self member.Self) string {
	if len(c.Cluster.Members) == 0 {
		return "a single-member cluster"
	}
	var ms []string
	for _, m := range c.Cluster.Members {
		ms = append(ms, m.Name)
	}
	return fmt.Sprintf("cluster %s (%s)", c.Cluster.Name, strings.Join(ms, ", "))
}

// identity is what the member's certificates must name.
func (r *resolved) identity() pki.Identity {
	id := pki.Identity{Name: r.Member.Name}
	add := func(a netip.Addr) {
		if a.IsValid() && !slices.Contains(id.IPs, a) {
			id.IPs = append(id.IPs, a)
		}
	}
	for _, a := range r.Addresses {
		add(a)
	}
	for _, a := range r.Metadata.Addresses {
		add(a)
	}
	if ip, err := netip.ParseAddr(r.Member.Address); err == nil {
		add(ip.Unmap())
	} else if r.Member.Address != "" {
		id.Hostnames = append(id.Hostnames, r.Member.Address)
	}
	if h := r.Hostname; h != "" && !slices.Contains(id.Hostnames, h) {
		id.Hostnames = append(id.Hostnames, h)
	}
	return id
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// writeMemberEnv prepares etcd's data directory and writes its environment file.
func writeMemberEnv(p paths, spec member.Spec, uid, gid int) error {
	data := spec.Files.DataDir
	if err := os.MkdirAll(data, 0o700); err != nil {
		return fmt.Errorf("creating etcd data directory: %w", err)
	}
	if err := os.Chown(data, uid, gid); err != nil {
		return fmt.Errorf("giving %s to %s: %w", data, p.owner, err)
	}
	return writeEnvFile(filepath.Join(p.runDir, "etcd.env"), member.Env(spec))
}

// writeEnvFile writes an environment file readable by root only (it names key files).
func writeEnvFile(path string, env map[string]string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return pki.WriteFile(path, member.Render(env), 0o600)
}

func lookupIDs(name string) (int, int, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return 0, 0, fmt.Errorf("user %s: %w", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return uid, gid, nil
}

// imageVersion is IMAGE_VERSION and BUILD_ID from os-release, recorded on the data volume.
func imageVersion(osRelease []byte) string {
	f := osReleaseFields(osRelease)
	return strings.TrimSpace(f["IMAGE_VERSION"] + " " + f["BUILD_ID"])
}

func osReleaseFields(b []byte) map[string]string {
	f := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			f[k] = strings.Trim(v, `"`)
		}
	}
	return f
}

// imageLine names the running image from os-release, e.g.
// "etcd-appliance: image 1.2.0 build 02d83e0a6f51c949 (etcd v3.6.16, arm64)".
func imageLine(osRelease []byte) string {
	f := osReleaseFields(osRelease)
	return fmt.Sprintf("etcd-appliance: image %s build %s (etcd %s, %s)", f["IMAGE_VERSION"], f["BUILD_ID"], f["ETCD_VERSION"], f["ARCHITECTURE"])
}

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/etcd-appliance/appliance/config"
	"github.com/etcd-appliance/appliance/internal/platform/detect"
)

// paths are where boot reads and writes; tests point them into a temp dir.
type paths struct {
	root      string // where Ignition files, hostname and SSH keys are written
	osRelease string
	dataDir   string // the etcd data volume mount point
	runDir    string // etcd.env goes here (tmpfs: rewritten every boot)
	owner     string // the user etcd runs as
}

func defaultPaths() paths {
	return paths{root: "/", osRelease: "/usr/lib/os-release", dataDir: "/var/lib/etcd", runDir: "/run/etcd-appliance", owner: "etcd"}
}

// fetchTimeout bounds waiting for a metadata server or config URL at boot.
const fetchTimeout = 5 * time.Minute

// Ports are the appliance's contract (DESIGN.md).
const (
	clientPort  = 2379
	peerPort    = 2380
	metricsPort = 2381
)

// memberEnv is the environment etcd.service starts etcd with, for a single-member cluster.
// Until the TLS and clustering work lands, the client port is plain HTTP and the peer port
// listens on loopback only (a single member has no peers).
func memberEnv(name, dataDir string, c *config.Config) map[string]string {
	peer := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	env := map[string]string{
		"ETCD_NAME":                        name,
		"ETCD_DATA_DIR":                    filepath.Join(dataDir, "data"),
		"ETCD_LISTEN_CLIENT_URLS":          fmt.Sprintf("http://0.0.0.0:%d", clientPort),
		"ETCD_ADVERTISE_CLIENT_URLS":       fmt.Sprintf("http://127.0.0.1:%d", clientPort),
		"ETCD_LISTEN_PEER_URLS":            peer,
		"ETCD_INITIAL_ADVERTISE_PEER_URLS": peer,
		"ETCD_INITIAL_CLUSTER":             name + "=" + peer,
		"ETCD_INITIAL_CLUSTER_STATE":       "new",
		"ETCD_LISTEN_METRICS_URLS":         fmt.Sprintf("http://0.0.0.0:%d", metricsPort),
		"ETCD_HEARTBEAT_INTERVAL":          strconv.Itoa(c.Etcd.HeartbeatIntervalMS),
		"ETCD_ELECTION_TIMEOUT":            strconv.Itoa(c.Etcd.ElectionTimeoutMS),
		"ETCD_QUOTA_BACKEND_BYTES":         strconv.FormatInt(c.Etcd.QuotaBackendBytes, 10),
		"ETCD_SNAPSHOT_COUNT":              strconv.FormatInt(c.Etcd.SnapshotCount, 10),
	}
	if c.Cluster.Name != "" {
		env["ETCD_INITIAL_CLUSTER_TOKEN"] = c.Cluster.Name
	}
	return env
}

// renderEnv writes an EnvironmentFile in a stable order.
func renderEnv(env map[string]string) []byte {
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("# written by firstboot at every boot; edits are lost\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s\n", k, env[k])
	}
	return []byte(b.String())
}

// memberName is the etcd member name when the config names none: the host's short name
// unless it is a placeholder.
func memberName(hostname string) string {
	if hostname == "" {
		hostname, _ = os.Hostname()
	}
	h := strings.ToLower(strings.SplitN(hostname, ".", 2)[0])
	if h == "" || h == "localhost" || h == "(none)" {
		return "etcd"
	}
	return h
}

// boot prepares this boot's etcd member from the platform's configuration. Everything is
// checked before anything is written: bad input leaves the machine as it was, prints every
// problem on the console, and fails, so etcd.service (which requires this unit) stays stopped.
func boot(ctx context.Context, p paths, env detect.Env) error {
	if rel, err := os.ReadFile(p.osRelease); err == nil {
		fmt.Println(imageLine(rel))
	}
	fetchCtx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	r, err := resolve(fetchCtx, env, "")
	if err != nil {
		var ce *configError
		if errors.As(err, &ce) {
			for _, line := range ce.problems() {
				fmt.Println("etcd-appliance: config error: " + line)
			}
		} else {
			fmt.Println("etcd-appliance: config error: " + err.Error())
		}
		fmt.Println("etcd-appliance: etcd is not started: fix the configuration and reboot (firstboot inspect shows what this node sees)")
		return errors.New("configuration refused")
	}
	fmt.Printf("etcd-appliance: platform %s (%s)\n", orNone(r.Platform), r.Detection)
	for _, w := range r.Warnings {
		fmt.Println("etcd-appliance: config warning: " + w)
	}
	if err := r.apply(p.root); err != nil {
		return err
	}
	if r.Hostname != "" {
		if err := unix.Sethostname([]byte(r.Hostname)); err != nil {
			return fmt.Errorf("setting hostname %q: %w", r.Hostname, err)
		}
	}
	if err := writeMemberEnv(p, memberEnv(r.Member, p.dataDir, r.Config)); err != nil {
		return err
	}
	fmt.Printf("etcd-appliance: configured: hostname=%s member=%s ssh_keys=%d files=%d\n", orNone(r.Hostname), r.Member, len(r.SSHKeys), len(r.Files))
	fmt.Printf("etcd-appliance: single-member etcd %q; client http://<this host>:%d, health http://<this host>:%d/health\n",
		r.Member, clientPort, metricsPort)
	return ctx.Err()
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// writeMemberEnv prepares etcd's data directory and writes its environment file.
func writeMemberEnv(p paths, env map[string]string) error {
	uid, gid, err := lookupIDs(p.owner)
	if err != nil {
		return err
	}
	data := env["ETCD_DATA_DIR"]
	if err := os.MkdirAll(data, 0o700); err != nil {
		return fmt.Errorf("creating etcd data directory: %w", err)
	}
	for _, d := range []string{p.dataDir, data} {
		if err := os.Chown(d, uid, gid); err != nil {
			return fmt.Errorf("giving %s to %s: %w", d, p.owner, err)
		}
	}
	if err := os.MkdirAll(p.runDir, 0o755); err != nil {
		return err
	}
	tmp := filepath.Join(p.runDir, ".etcd.env")
	if err := os.WriteFile(tmp, renderEnv(env), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(p.runDir, "etcd.env"))
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

// imageLine names the running image from os-release, e.g.
// "etcd-appliance: image 1.2.0 build 02d83e0a6f51c949 (etcd v3.6.16, arm64)".
func imageLine(osRelease []byte) string {
	f := map[string]string{}
	for _, line := range strings.Split(string(osRelease), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			f[k] = strings.Trim(v, `"`)
		}
	}
	return fmt.Sprintf("etcd-appliance: image %s build %s (etcd %s, %s)", f["IMAGE_VERSION"], f["BUILD_ID"], f["ETCD_VERSION"], f["ARCHITECTURE"])
}

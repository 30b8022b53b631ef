package main

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// paths are where boot reads and writes; tests point them into a temp dir.
type paths struct {
	osRelease string
	dataDir   string // the etcd data volume mount point
	runDir    string // etcd.env goes here (tmpfs: rewritten every boot)
	owner     string // the user etcd runs as
}

func defaultPaths() paths {
	return paths{osRelease: "/usr/lib/os-release", dataDir: "/var/lib/etcd", runDir: "/run/etcd-appliance", owner: "etcd"}
}

// Ports are the appliance's contract (DESIGN.md).
const (
	clientPort  = 2379
	peerPort    = 2380
	metricsPort = 2381
)

// memberEnv is the environment etcd.service starts etcd with, for a single-member cluster.
// Until the TLS and clustering work lands, the client port is plain HTTP and the peer port
// listens on loopback only (a single member has no peers).
func memberEnv(name, dataDir string) map[string]string {
	peer := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	return map[string]string{
		"ETCD_NAME":                        name,
		"ETCD_DATA_DIR":                    filepath.Join(dataDir, "data"),
		"ETCD_LISTEN_CLIENT_URLS":          fmt.Sprintf("http://0.0.0.0:%d", clientPort),
		"ETCD_ADVERTISE_CLIENT_URLS":       fmt.Sprintf("http://127.0.0.1:%d", clientPort),
		"ETCD_LISTEN_PEER_URLS":            peer,
		"ETCD_INITIAL_ADVERTISE_PEER_URLS": peer,
		"ETCD_INITIAL_CLUSTER":             name + "=" + peer,
		"ETCD_INITIAL_CLUSTER_STATE":       "new",
		"ETCD_LISTEN_METRICS_URLS":         fmt.Sprintf("http://0.0.0.0:%d", metricsPort),
	}
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

// memberName is the etcd member name: the host name unless it is a placeholder.
func memberName() string {
	h, err := os.Hostname()
	if err != nil || h == "" || h == "localhost" || h == "(none)" {
		return "etcd"
	}
	return strings.SplitN(h, ".", 2)[0]
}

func boot(ctx context.Context, p paths) error {
	if rel, err := os.ReadFile(p.osRelease); err == nil {
		fmt.Println(imageLine(rel))
	}
	name := memberName()
	env := memberEnv(name, p.dataDir)
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
	if err := os.Rename(tmp, filepath.Join(p.runDir, "etcd.env")); err != nil {
		return err
	}
	fmt.Printf("etcd-appliance: single-member etcd %q; client http://<this host>:%d, health http://<this host>:%d/health\n",
		name, clientPort, metricsPort)
	return ctx.Err()
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

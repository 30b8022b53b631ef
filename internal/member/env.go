package member

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/etcd-appliance/appliance/config"
)

// Ports are the appliance's contract (DESIGN.md).
const (
	ClientPort  = 2379
	PeerPort    = 2380
	MetricsPort = 2381
)

// Files are where etcd finds its data and TLS material on the data volume.
type Files struct {
	DataDir string
	CA      string // the cluster CA certificate: trusted for clients and peers
	Key     string // the node key, used by both certificates
	Server  string // client-facing certificate
	Peer    string // peer certificate (serverAuth + clientAuth)
}

// Spec is everything etcd's configuration depends on.
type Spec struct {
	Self   Self
	Config *config.Config
	Files  Files
	// State is "new" for a member bootstrapping the initial cluster, "existing" for one joining
	// a running cluster. etcd ignores it once the data directory holds a member.
	State string
	// InitialCluster overrides the configured members for a member joining a running cluster:
	// etcd needs the running cluster's member list then (membership.InitialCluster).
	InitialCluster string
	// PeerAllowedCN, when set, is the only certificate common name etcd accepts on the peer
	// port (--peer-cert-allowed-cn): client bundles of the same CA are refused there.
	PeerAllowedCN string
}

// PeerURL is the peer URL this member advertises.
func (s Spec) PeerURL() string { return URL(s.advertiseHost(), PeerPort) }

// InitialClusterFlag is etcd's --initial-cluster for this member: name=peerURL for the static
// cluster, or just this member, unless InitialCluster overrides it.
func (s Spec) InitialClusterFlag() string {
	if s.InitialCluster != "" {
		return s.InitialCluster
	}
	members := s.Config.Cluster.Members
	if len(members) == 0 {
		members = []config.Member{{Name: s.Self.Name, Address: s.advertiseHost()}}
	}
	var parts []string
	for _, m := range members {
		parts = append(parts, m.Name+"="+URL(m.Address, PeerPort))
	}
	return strings.Join(parts, ",")
}

func (s Spec) advertiseHost() string {
	if s.Self.Address == "" {
		return "127.0.0.1" // a single member with no network still works locally
	}
	return s.Self.Address
}

// listenHost is the wildcard for the member's address family: "::" listens dual-stack.
func (s Spec) listenHost() string {
	if a, err := netip.ParseAddr(s.Self.Address); err == nil && a.Is6() && !a.Is4In6() {
		return "::"
	}
	return "0.0.0.0"
}

// TLSMinVersion is the only TLS version etcd's client and peer ports accept: every etcd,
// Kubernetes and Go client in use speaks 1.3, and it leaves no CBC or non-ECDHE suites to
// choose from (etcd refuses --cipher-suites with it, so there is no list to get wrong).
const TLSMinVersion = "TLS1.3"

// Env is etcd.service's environment. Every etcd port but metrics requires TLS 1.3 with a
// certificate from the cluster CA; the metrics port serves only health and metrics. Every
// variable is the appliance's: the config's etcd section tunes only the values it names.
func Env(s Spec) map[string]string {
	c, f := s.Config, s.Files
	host, listen := s.advertiseHost(), s.listenHost()
	state := s.State
	if state == "" {
		state = "new"
	}
	env := map[string]string{
		"ETCD_NAME":                        s.Self.Name,
		"ETCD_DATA_DIR":                    f.DataDir,
		"ETCD_LISTEN_CLIENT_URLS":          URL(listen, ClientPort),
		"ETCD_ADVERTISE_CLIENT_URLS":       URL(host, ClientPort),
		"ETCD_LISTEN_PEER_URLS":            URL(listen, PeerPort),
		"ETCD_INITIAL_ADVERTISE_PEER_URLS": URL(host, PeerPort),
		"ETCD_INITIAL_CLUSTER":             s.InitialClusterFlag(),
		"ETCD_INITIAL_CLUSTER_STATE":       state,
		"ETCD_LISTEN_METRICS_URLS":         "http://" + net.JoinHostPort(listen, strconv.Itoa(MetricsPort)),
		"ETCD_CERT_FILE":                   f.Server,
		"ETCD_KEY_FILE":                    f.Key,
		"ETCD_TRUSTED_CA_FILE":             f.CA,
		"ETCD_CLIENT_CERT_AUTH":            "true",
		"ETCD_PEER_CERT_FILE":              f.Peer,
		"ETCD_PEER_KEY_FILE":               f.Key,
		"ETCD_PEER_TRUSTED_CA_FILE":        f.CA,
		"ETCD_PEER_CLIENT_CERT_AUTH":       "true",
		"ETCD_TLS_MIN_VERSION":             TLSMinVersion,
		"ETCD_HEARTBEAT_INTERVAL":          strconv.Itoa(c.Etcd.HeartbeatIntervalMS),
		"ETCD_ELECTION_TIMEOUT":            strconv.Itoa(c.Etcd.ElectionTimeoutMS),
		"ETCD_QUOTA_BACKEND_BYTES":         strconv.FormatInt(c.Etcd.QuotaBackendBytes, 10),
		"ETCD_SNAPSHOT_COUNT":              strconv.FormatInt(c.Etcd.SnapshotCount, 10),
	}
	if c.Cluster.Name != "" {
		env["ETCD_INITIAL_CLUSTER_TOKEN"] = c.Cluster.Name
	}
	if s.PeerAllowedCN != "" {
		env["ETCD_PEER_CERT_ALLOWED_CN"] = s.PeerAllowedCN
	}
	return env
}

// Endpoints are the client URLs etcdctl on a node talks to: every member, or this one.
func Endpoints(s Spec) []string {
	if len(s.Config.Cluster.Members) == 0 {
		return []string{URL("127.0.0.1", ClientPort)}
	}
	var eps []string
	for _, m := range s.Config.Cluster.Members {
		eps = append(eps, URL(m.Address, ClientPort))
	}
	return eps
}

// EtcdctlEnv is the environment a login shell on the node gets, so etcdctl works as is.
func EtcdctlEnv(s Spec, cert, key string) map[string]string {
	return map[string]string{
		"ETCDCTL_API":       "3",
		"ETCDCTL_ENDPOINTS": strings.Join(Endpoints(s), ","),
		"ETCDCTL_CACERT":    s.Files.CA,
		"ETCDCTL_CERT":      cert,
		"ETCDCTL_KEY":       key,
	}
}

// Render writes an environment file in a stable order. It is read by systemd
// (EnvironmentFile=) and by sh (etcdctl.env), so a value that either would read differently
// from what it says is refused rather than written: a line break or NUL (a second variable),
// quotes, a backslash, '$' or '`'. Config and metadata are checked long before this; it is the
// last line of defence.
func Render(env map[string]string) ([]byte, error) {
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("# written by firstboot at every boot; edits are lost\n")
	for _, k := range keys {
		if !envKey.MatchString(k) {
			return nil, fmt.Errorf("environment variable name %q: expected upper-case letters, digits and '_'", k)
		}
		if i := strings.IndexFunc(env[k], unsafeEnvRune); i >= 0 {
			return nil, fmt.Errorf("environment variable %s=%q: %q at byte %d would change what systemd or sh reads: refusing to write it", k, env[k], env[k][i], i)
		}
		fmt.Fprintf(&b, "%s=%s\n", k, env[k])
	}
	return []byte(b.String()), nil
}

var envKey = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)

func unsafeEnvRune(r rune) bool {
	return unicode.IsControl(r) || strings.ContainsRune("\"'\\$`", r)
}

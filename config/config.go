package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the cluster configuration, version 1. The same document is given to every node.
type Config struct {
	Version           int       `yaml:"version" json:"version"`
	Cluster           Cluster   `yaml:"cluster,omitempty" json:"cluster,omitzero"`
	Node              Node      `yaml:"node,omitempty" json:"node,omitzero"`
	TLS               TLS       `yaml:"tls,omitempty" json:"tls,omitzero"`
	Data              Data      `yaml:"data,omitempty" json:"data,omitzero"`
	Etcd              Etcd      `yaml:"etcd,omitempty" json:"etcd,omitzero"`
	Restore           Restore   `yaml:"restore,omitempty" json:"restore,omitzero"`
	Snapshots         Snapshots `yaml:"snapshots,omitempty" json:"snapshots,omitzero"`
	Backup            Backup    `yaml:"backup,omitempty" json:"backup,omitzero"`
	Network           Network   `yaml:"network,omitempty" json:"network,omitzero"`
	Trust             Trust     `yaml:"trust,omitempty" json:"trust,omitzero"`
	Time              Time      `yaml:"time,omitempty" json:"time,omitzero"`
	SSHAuthorizedKeys []string  `yaml:"ssh_authorized_keys,omitempty" json:"ssh_authorized_keys,omitempty"`
}

// Cluster is the static initial cluster; empty for a single-node cluster.
type Cluster struct {
	// Name is the initial cluster token.
	Name    string   `yaml:"name,omitempty" json:"name,omitempty"`
	Members []Member `yaml:"members,omitempty" json:"members,omitempty"`
}

// Member is one etcd member; its URLs are https://Address:2379 (client) and :2380 (peer).
type Member struct {
	Name    string `yaml:"name" json:"name"`
	Address string `yaml:"address" json:"address"`
}

// Node says which member this machine is, when it cannot be found from its addresses.
type Node struct {
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
}

// TLS holds PEM-encoded certificates and keys. Empty means the node makes its own CA
// (single-node clusters only).
type TLS struct {
	CACert   string `yaml:"ca_cert,omitempty" json:"ca_cert,omitempty"`
	CAKey    string `yaml:"ca_key,omitempty" json:"ca_key,omitempty"`
	NodeCert string `yaml:"node_cert,omitempty" json:"node_cert,omitempty"`
	NodeKey  string `yaml:"node_key,omitempty" json:"node_key,omitempty"`
}

// Data selects the data volume.
type Data struct {
	// Device is an absolute /dev path; empty selects the data disk automatically.
	Device string `yaml:"device,omitempty" json:"device,omitempty"`
	Wipe   bool   `yaml:"wipe,omitempty" json:"wipe,omitempty"`
}

// Etcd is the tuning a user may set; every field has a default (see doc.go).
type Etcd struct {
	QuotaBackendBytes   int64 `yaml:"quota_backend_bytes,omitempty" json:"quota_backend_bytes,omitempty"`
	HeartbeatIntervalMS int   `yaml:"heartbeat_interval_ms,omitempty" json:"heartbeat_interval_ms,omitempty"`
	ElectionTimeoutMS   int   `yaml:"election_timeout_ms,omitempty" json:"election_timeout_ms,omitempty"`
	SnapshotCount       int64 `yaml:"snapshot_count,omitempty" json:"snapshot_count,omitempty"`
}

// Restore seeds a new cluster from an etcd snapshot.
type Restore struct {
	// Source is an http, https or file URL of the snapshot (internal/snapshot.Fetch), or an
	// object store URL in backup's store: a prefix (its latest backup) or one backup object.
	Source string `yaml:"source,omitempty" json:"source,omitempty"`
	// SHA256 is the hex digest the fetched snapshot must have; a store's backups carry theirs.
	SHA256 string `yaml:"sha256,omitempty" json:"sha256,omitempty"`
	// AgeIdentity decrypts backups made with backup.encrypt_to (AGE-SECRET-KEY-1…).
	AgeIdentity string `yaml:"age_identity,omitempty" json:"age_identity,omitempty"`
}

// Backup sends snapshots of the cluster to an object store: one member, chosen by an etcd
// election, uploads one every Interval.
type Backup struct {
	// URL is s3://bucket/prefix (AWS and S3-compatible stores) or azblob://container/prefix.
	URL string `yaml:"url,omitempty" json:"url,omitempty"`
	// Endpoint is the store's base URL: empty for AWS; https://ACCOUNT.blob.core.windows.net
	// for azblob.
	Endpoint  string `yaml:"endpoint,omitempty" json:"endpoint,omitempty"`
	PathStyle bool   `yaml:"path_style,omitempty" json:"path_style,omitempty"`
	Region    string `yaml:"region,omitempty" json:"region,omitempty"`
	// Static credentials; without them the platform's instance identity is used (AWS
	// instance role, Azure managed identity). azblob: secret_access_key is the account key.
	AccessKeyID     string `yaml:"access_key_id,omitempty" json:"access_key_id,omitempty"`
	SecretAccessKey string `yaml:"secret_access_key,omitempty" json:"secret_access_key,omitempty"`
	// Interval between backups, a Go duration such as 1h.
	Interval string `yaml:"interval,omitempty" json:"interval,omitempty"`
	// Keep is how many of the newest backups retention keeps (besides one a day for a week).
	Keep int `yaml:"keep,omitempty" json:"keep,omitempty"`
	// EncryptTo are age recipients (public keys); empty: backups are not encrypted.
	EncryptTo []string `yaml:"encrypt_to,omitempty" json:"encrypt_to,omitempty"`
	// VerifyInterval schedules the restore drill on the uploader; empty: only on demand.
	VerifyInterval string `yaml:"verify_interval,omitempty" json:"verify_interval,omitempty"`
}

// IntervalDuration is backup.interval, validated (defaults applied).
func (b Backup) IntervalDuration() time.Duration { d, _ := time.ParseDuration(b.Interval); return d }

// VerifyDuration is backup.verify_interval; 0: no scheduled drill.
func (b Backup) VerifyDuration() time.Duration {
	d, _ := time.ParseDuration(b.VerifyInterval)
	return d
}

// Snapshots are scheduled snapshots each member keeps on its own data volume.
type Snapshots struct {
	// IntervalMinutes between snapshots; 0 (the default) takes none.
	IntervalMinutes int `yaml:"interval_minutes,omitempty" json:"interval_minutes,omitempty"`
	// Keep is how many scheduled snapshots are kept; older ones are deleted.
	Keep int `yaml:"keep,omitempty" json:"keep,omitempty"`
}

// Network is what the node needs from the network beyond DHCP and the platform's metadata.
type Network struct {
	DNS DNS `yaml:"dns,omitempty" json:"dns,omitzero"`
	// Proxy is an http:// or https:// proxy URL for every fetch the node makes after its
	// configuration is read (Ignition remote sources, restores); empty: no proxy.
	Proxy string `yaml:"proxy,omitempty" json:"proxy,omitempty"`
	// Who may reach the node's ports besides the members (addresses or CIDRs). ClientsFrom
	// (2379, TLS still required) and SSHFrom (22, only with SSH keys) default to anywhere;
	// MetricsFrom (2381, 2382) to nobody.
	ClientsFrom []string `yaml:"clients_from,omitempty" json:"clients_from,omitempty"`
	MetricsFrom []string `yaml:"metrics_from,omitempty" json:"metrics_from,omitempty"`
	SSHFrom     []string `yaml:"ssh_from,omitempty" json:"ssh_from,omitempty"`
}

// DNS adds resolvers and search domains to those DHCP and the platform hand out.
type DNS struct {
	Servers []string `yaml:"servers,omitempty" json:"servers,omitempty"` // IP addresses
	Search  []string `yaml:"search,omitempty" json:"search,omitempty"`   // domains
}

// Trust adds certificate authorities to the image's public roots for the node's fetches.
type Trust struct {
	CACerts []string `yaml:"ca_certs,omitempty" json:"ca_certs,omitempty"` // PEM, one or more certificates each
}

// Time adds NTP servers to those DHCP and the platform hand out.
type Time struct {
	Servers []string `yaml:"servers,omitempty" json:"servers,omitempty"` // host names or IP addresses
}

// Defaults and bounds; doc.go explains each choice.
// MinQuotaBackendBytes is the smallest etcd.quota_backend_bytes accepted: smaller databases
// hit NOSPACE at once.
const MinQuotaBackendBytes = 64 << 20

const (
	defaultHeartbeatIntervalMS = 100     // etcd's default
	defaultElectionTimeoutMS   = 1000    // etcd's default
	defaultSnapshotCount       = 10000   // etcd 3.6's default
	defaultQuotaBackendBytes   = 2 << 30 // etcd's default, 2 GiB
	minHeartbeatIntervalMS     = 10      // below this, ticks cost more than they detect
	maxHeartbeatIntervalMS     = 5000    // keeps the election bound below reachable
	maxElectionTimeoutMS       = 50000   // etcd refuses more
	electionPerHeartbeat       = 5       // etcd refuses an election timeout below 5 heartbeats
	maxQuotaBackendBytes       = 8 << 30 // etcd's suggested maximum
	minSnapshotMinutes         = 5       // a snapshot streams the whole database
	maxSnapshotMinutes         = 7 * 24 * 60
	defaultSnapshotKeep        = 7
	maxSnapshotKeep            = 1000
	defaultBackupInterval      = "1h"
	minBackupInterval          = 10 * time.Second // tests; a real cluster wants minutes or hours
	maxBackupInterval          = 7 * 24 * time.Hour
	defaultBackupKeep          = 24
	maxBackupKeep              = 10000
)

// MaxSize bounds the user-data Load reads: far above any cluster configuration and above
// what clouds accept as user-data (AWS 16 KiB, Azure 64 KiB, GCP 256 KiB), so that a wrong
// file (a disk image, a log) is refused at once instead of parsed.
const MaxSize = 1 << 20

// Version is the configuration version this package understands.
const Version = 1

// Parse reads a version-1 configuration in YAML or JSON (JSON is YAML), applies defaults and
// validates it. Unknown fields, wrong types, several documents and an empty document are errors.
// All problems are returned together as an *Errors; warnings are returned even then.
func Parse(data []byte) (*Config, Warnings, error) {
	root, p := parseDocument(data)
	if p != nil {
		return nil, nil, &Errors{Problems: []Problem{*p}}
	}
	d := decoder{lines: map[string]int{}}
	var c Config
	d.decode(root, "", root.Line, reflect.ValueOf(&c).Elem())

	// Another version has another schema: its other problems would only be noise.
	if c.Version != 0 && c.Version != Version {
		return nil, nil, &Errors{Problems: []Problem{{Path: "version", Line: d.lines["version"],
			Message: fmt.Sprintf("unsupported version %d: this image understands version %d", c.Version, Version)}}}
	}

	c.applyDefaults()
	errs, warns := c.validate()
	ps := d.problems
	for _, p := range errs {
		if !d.failed(p.Path) { // the decoder already said what is wrong there
			ps = append(ps, d.locate(p))
		}
	}
	for i := range warns {
		warns[i] = d.locate(warns[i])
	}
	ps.sortByLine()
	if err := ps.err(); err != nil {
		return nil, warns, err
	}
	return &c, warns, nil
}

// applyDefaults is the one place defaults are set. Zero means "not given" for every tuning field.
// An empty data.device stays empty: the node agent selects the disk.
func (c *Config) applyDefaults() {
	if c.Etcd.HeartbeatIntervalMS == 0 {
		c.Etcd.HeartbeatIntervalMS = defaultHeartbeatIntervalMS
	}
	if c.Etcd.ElectionTimeoutMS == 0 {
		c.Etcd.ElectionTimeoutMS = defaultElectionTimeoutMS
	}
	if c.Etcd.SnapshotCount == 0 {
		c.Etcd.SnapshotCount = defaultSnapshotCount
	}
	if c.Etcd.QuotaBackendBytes == 0 {
		c.Etcd.QuotaBackendBytes = defaultQuotaBackendBytes
	}
	if c.Snapshots.IntervalMinutes != 0 && c.Snapshots.Keep == 0 {
		c.Snapshots.Keep = defaultSnapshotKeep
	}
	if c.Backup.URL != "" && c.Backup.Interval == "" {
		c.Backup.Interval = defaultBackupInterval
	}
	if c.Backup.URL != "" && c.Backup.Keep == 0 {
		c.Backup.Keep = defaultBackupKeep
	}
}

// Load reads user-data: an Ignition config (JSON with an "ignition" key) goes to FromIgnition,
// anything else to Parse. extras is nil for a plain configuration.
func Load(data []byte) (cfg *Config, extras *IgnitionExtras, warns Warnings, err error) {
	if len(data) > MaxSize {
		return nil, nil, nil, &Errors{Problems: []Problem{{Message: fmt.Sprintf(
			"the user-data is %d bytes, more than the %d (%d KiB) this appliance reads: is it the right file? Ignition files can come from remote sources instead of inline",
			len(data), MaxSize, MaxSize>>10)}}}
	}
	if isIgnition(data) {
		return FromIgnition(data)
	}
	cfg, warns, err = Parse(data)
	return cfg, nil, warns, err
}

func isIgnition(data []byte) bool {
	var top map[string]json.RawMessage
	if json.Unmarshal(data, &top) != nil {
		return false
	}
	_, ok := top["ignition"]
	return ok
}

// parseDocument returns the top-level mapping of the one YAML document in data.
func parseDocument(data []byte) (*yaml.Node, *Problem) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true) // moot for a yaml.Node; the schema walk in decode.go does the checking

	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Problem{Message: "empty document: expected a configuration starting with \"version: 1\""}
		}
		return nil, syntaxProblem(err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, syntaxProblem(err)
	default:
		return nil, &Problem{Line: next.Line, Message: "a second YAML document: give exactly one document (remove the --- separator and what follows)"}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, &Problem{Message: "empty document: expected a configuration starting with \"version: 1\""}
	}
	root := resolveAlias(doc.Content[0])
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return nil, &Problem{Line: root.Line, Message: "empty document: expected a configuration starting with \"version: 1\""}
	}
	if root.Kind != yaml.MappingNode {
		return nil, &Problem{Line: root.Line, Message: fmt.Sprintf("expected a mapping of fields (version, cluster, tls, …), got %s", describe(root))}
	}
	return root, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxProblem turns a YAML syntax error into a problem with its line.
func syntaxProblem(err error) *Problem {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Problem{Line: line, Message: "not valid YAML or JSON: " + m[2]}
	}
	return &Problem{Message: "not valid YAML or JSON: " + strings.TrimPrefix(msg, "yaml: ")}
}

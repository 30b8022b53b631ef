package config

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

const threeMembers = `version: 1
cluster:
  name: prod-etcd
  members:
    - {name: etcd-a, address: 192.0.2.10}
    - {name: etcd-b, address: "2001:db8::11"}
    - {name: etcd-c, address: etcd-c.example.com}
node:
  name: etcd-a
tls:
  ca_cert: {{ca}}
  ca_key: {{ca_key}}
data:
  device: /dev/disk/by-id/virtio-etcd-data
  wipe: true
etcd:
  quota_backend_bytes: 8589934592
  heartbeat_interval_ms: 50
  election_timeout_ms: 500
  snapshot_count: 5000
restore:
  source: https://backups.example/etcd-2026-11-20.db
  sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
ssh_authorized_keys:
  - {{ssh}}
`

const threeMembersJSON = `{
  "version": 1,
  "cluster": {"name": "prod-etcd", "members": [
    {"name": "etcd-a", "address": "192.0.2.10"},
    {"name": "etcd-b", "address": "2001:db8::11"},
    {"name": "etcd-c", "address": "etcd-c.example.com"}]},
  "node": {"name": "etcd-a"},
  "tls": {"ca_cert": {{ca}}, "ca_key": {{ca_key}}},
  "data": {"device": "/dev/disk/by-id/virtio-etcd-data", "wipe": true},
  "etcd": {"quota_backend_bytes": 8589934592, "heartbeat_interval_ms": 50, "election_timeout_ms": 500, "snapshot_count": 5000},
  "restore": {"source": "https://backups.example/etcd-2026-11-20.db",
    "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
  "ssh_authorized_keys": [{{ssh}}]
}`

// members is a valid cluster section plus TLS, for cases about other fields.
const members = `cluster:
  name: c
  members: [{name: a, address: 192.0.2.1}, {name: b, address: 192.0.2.2}, {name: c, address: 192.0.2.3}]
`

// An age key pair (age-keygen), and a backup section the store restores use.
const (
	ageIdentity  = "AGE-SECRET-KEY-1GP3GCQ3ZQX6H8TDUMSH76N7ECU0GYCWNN70PRVUJ23QG3SRSY9FQ2XAF4E"
	ageRecipient = "age184x0lhg6mge09vya7twkn75fqmplhkzek6zw52lxm3fjvyky53rsaasr5c"
	backupS3     = "backup: {url: s3://etcd-backups/prod, endpoint: 'https://minio.example:9000', path_style: true, access_key_id: AK, secret_access_key: SK}\n"
)

// sha is a well-formed restore.sha256.
const sha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

const caAndKey = "tls: {ca_cert: {{ca}}, ca_key: {{ca_key}}}\n"

func defaults() Etcd {
	return Etcd{QuotaBackendBytes: 2 << 30, HeartbeatIntervalMS: 100, ElectionTimeoutMS: 1000, SnapshotCount: 10000}
}

func TestParseGood(t *testing.T) {
	pki := testPKI(t)
	tests := []struct {
		name  string
		doc   string
		check func(t *testing.T, c *Config)
	}{
		{"minimal", "version: 1\n", func(t *testing.T, c *Config) {
			if want := (Config{Version: 1, Etcd: defaults()}); !reflect.DeepEqual(*c, want) {
				t.Errorf("got %+v, want %+v", *c, want)
			}
		}},
		{"scheduled snapshots keep 7 by default", "version: 1\nsnapshots: {interval_minutes: 360}\n", func(t *testing.T, c *Config) {
			if c.Snapshots != (Snapshots{IntervalMinutes: 360, Keep: 7}) {
				t.Errorf("snapshots %+v", c.Snapshots)
			}
		}},
		{"minimal JSON", `{"version": 1}`, func(t *testing.T, c *Config) {
			if want := (Config{Version: 1, Etcd: defaults()}); !reflect.DeepEqual(*c, want) {
				t.Errorf("got %+v, want %+v", *c, want)
			}
		}},
		{"empty sections are absent", "version: 1\ncluster:\nnode: {}\ntls:\nssh_authorized_keys: []\netcd: {heartbeat_interval_ms: 0}\n", func(t *testing.T, c *Config) {
			if want := (Config{Version: 1, Etcd: defaults()}); !reflect.DeepEqual(*c, want) {
				t.Errorf("got %+v, want %+v", *c, want)
			}
		}},
		{"network, trust and time", "version: 1\nnetwork: {dns: {servers: [192.0.2.53, '2001:db8::53'], search: [etcd.example]}, proxy: 'http://proxy.example:3128'}\ntrust: {ca_certs: [{{ca}}]}\ntime: {servers: [ntp.example, 192.0.2.123]}\n", func(t *testing.T, c *Config) {
			want := Network{DNS: DNS{Servers: []string{"192.0.2.53", "2001:db8::53"}, Search: []string{"etcd.example"}}, Proxy: "http://proxy.example:3128"}
			if !reflect.DeepEqual(c.Network, want) || len(c.Trust.CACerts) != 1 || !reflect.DeepEqual(c.Time.Servers, []string{"ntp.example", "192.0.2.123"}) {
				t.Errorf("network %+v, trust %d certs, time %+v", c.Network, len(c.Trust.CACerts), c.Time)
			}
		}},
		{"three members", threeMembers, func(t *testing.T, c *Config) {
			if len(c.Cluster.Members) != 3 || c.Cluster.Members[2] != (Member{"etcd-c", "etcd-c.example.com"}) {
				t.Errorf("members = %+v", c.Cluster.Members)
			}
			if want := (Etcd{8 << 30, 50, 500, 5000}); c.Etcd != want {
				t.Errorf("etcd = %+v, want %+v", c.Etcd, want)
			}
			if !c.Data.Wipe || c.Node.Name != "etcd-a" || len(c.SSHAuthorizedKeys) != 1 || c.Restore.Source == "" {
				t.Errorf("config = %+v", c)
			}
		}},
		{"single node with some tuning", "version: 1\netcd:\n  snapshot_count: 100\nnode: {name: solo}\n", func(t *testing.T, c *Config) {
			want := defaults()
			want.SnapshotCount = 100
			if c.Etcd != want || c.Node.Name != "solo" {
				t.Errorf("got %+v", c)
			}
		}},
		{"pre-issued node certificate", "version: 1\n" + members + "tls: {ca_cert: {{ca}}, node_cert: {{node}}, node_key: {{node_key}}}\n", nil},
		{"PKCS#8 CA key", "version: 1\n" + members + "tls: {ca_cert: {{ca}}, ca_key: {{ca_key_pkcs8}}}\n", nil},
		// the node's pki.LoadCA reads the same key: one parser (pki.ParseKey) for both
		{"openssl ecparam CA key, EC PARAMETERS first", "version: 1\n" + members + "tls: {ca_cert: {{openssl_ca}}, ca_key: {{openssl_ecparam_key}}}\n", nil},
		{"CA key with node certificate", "version: 1\n" + members + "tls: {ca_cert: {{ca}}, ca_key: {{ca_key}}, node_cert: {{node}}, node_key: {{node_key}}}\n", nil},
		{"restore from a file URL", "version: 1\nrestore: {source: 'file:///mnt/backup/etcd.db', sha256: " + sha + "}\n", nil},
		{"restore over http", "version: 1\nrestore: {source: 'HTTP://backups.example:8080/etcd.db?x=1', sha256: " + sha + "}\n", nil},
		{"backup to s3 with defaults", "version: 1\nbackup: {url: s3://etcd-backups/prod}\n", func(t *testing.T, c *Config) {
			if c.Backup.IntervalDuration() != time.Hour || c.Backup.Keep != 24 || c.Backup.VerifyDuration() != 0 {
				t.Errorf("backup defaults: %+v", c.Backup)
			}
		}},
		{"encrypted backups and a restore of the latest", "version: 1\n" + backupS3 + "restore: {source: s3://etcd-backups/prod, age_identity: " + ageIdentity + "}\n", nil},
		{"backup to azblob", "version: 1\nbackup: {url: azblob://etcd/prod, endpoint: 'https://acct.blob.core.windows.net', interval: 30s, keep: 3, verify_interval: 24h}\n", func(t *testing.T, c *Config) {
			if c.Backup.IntervalDuration() != 30*time.Second || c.Backup.VerifyDuration() != 24*time.Hour {
				t.Errorf("backup: %+v", c.Backup)
			}
		}},
		{"anchors", "version: 1\ncluster:\n  name: &n c\n  members: [{name: *n, address: 192.0.2.1}]\n" + caAndKey, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, warns, err := Parse([]byte(pki.Replace(tt.doc)))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(warns) > 0 {
				t.Errorf("warnings: %v", warns)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func TestParseJSONEqualsYAML(t *testing.T) {
	pki := testPKI(t)
	y, _, err := Parse([]byte(pki.Replace(threeMembers)))
	if err != nil {
		t.Fatal(err)
	}
	j, _, err := Parse([]byte(pki.Replace(threeMembersJSON)))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(y, j) {
		t.Errorf("YAML and JSON forms differ:\n%+v\n%+v", y, j)
	}
}

func TestParseErrors(t *testing.T) {
	pki := testPKI(t)
	v1 := "version: 1\n"
	tests := []struct {
		name  string
		doc   string
		paths []string // every problem's path, in order
		msg   string   // in the first problem's message
	}{
		// the document
		{"empty", "", []string{""}, "empty document"},
		{"only comments", "# nothing\n", []string{""}, "empty document"},
		{"null document", "---\n", []string{""}, "empty document"},
		{"two documents", v1 + "---\nversion: 1\n", []string{""}, "a second YAML document"},
		{"syntax", v1 + "cluster: [\n", []string{""}, "not valid YAML or JSON"},
		{"bad JSON", `{"version": 1`, []string{""}, "not valid YAML or JSON"},
		{"not a mapping", "- version: 1\n", []string{""}, "expected a mapping"},
		{"version missing", "cluster: {}\n", []string{"version"}, "required"},
		{"version 2", "version: 2\nwhatever: true\n", []string{"version"}, "unsupported version 2: this image understands version 1"},

		// unknown fields and types
		{"unknown top-level", v1 + "clutser: {}\n", []string{"clutser"}, "unknown field"},
		{"unknown nested", v1 + members + "tls:\n  ca_cert: {{ca}}\n  ca_key: {{ca_key}}\n  extra: 1\n", []string{"tls.extra"}, "fields in tls are ca_cert, ca_key"},
		{"unknown member field", v1 + "cluster:\n  name: c\n  members:\n    - {name: a, address: 192.0.2.1}\n    - {name: b, address: 192.0.2.2}\n    - {name: c, adress: 192.0.2.3}\n" + caAndKey,
			[]string{"cluster.members[2].adress", "cluster.members[2].address"}, "unknown field"},
		{"camel case", v1 + "tls: {caCert: x}\n", []string{"tls.caCert"}, `did you mean "ca_cert"?`},
		{"butane", "variant: fcos\nversion: 1.5.0\n", []string{"variant", "version"}, "Butane"},
		{"duplicate key", v1 + "node: {name: a}\nnode: {name: b}\n", []string{"node"}, "given twice (first on line 2)"},
		{"version as string", `version: "1"` + "\n", []string{"version"}, `expected a whole number, got the string "1": write the number without quotes`},
		{"version fractional", "version: 1.0\n", []string{"version"}, "expected a whole number"},
		{"string as number", v1 + "cluster: {name: 123}\n", []string{"cluster.name"}, "put it in quotes"},
		{"bool as string", v1 + "data: {device: /dev/vdb, wipe: \"yes\"}\n", []string{"data.wipe"}, "expected true or false"},
		{"members not a list", v1 + "cluster: {name: c, members: {name: a}}\n", []string{"cluster.members"}, "expected a list, got a mapping"},
		{"member not a mapping", v1 + "cluster: {name: c, members: [a]}\n" + caAndKey, []string{"cluster.members[0]"}, "expected a mapping of fields (name, address)"},
		{"section not a mapping", v1 + "etcd: 5\n", []string{"etcd"}, "expected a mapping"},
		{"key list", v1 + "ssh_authorized_keys: {{ssh}}\n", []string{"ssh_authorized_keys"}, "expected a list"},
		{"overflow", v1 + "etcd: {quota_backend_bytes: 99999999999999999999}\n", []string{"etcd.quota_backend_bytes"}, "expected a whole number"},

		// cluster
		{"cluster name required", v1 + "cluster:\n  members: [{name: a, address: 192.0.2.1}]\n" + caAndKey, []string{"cluster.name"}, "initial cluster token"},
		{"cluster name invalid", v1 + "cluster: {name: Prod_etcd}\n", []string{"cluster.name"}, "not a valid cluster name"},
		{"member name", v1 + "cluster:\n  name: c\n  members: [{name: A, address: 192.0.2.1}, {address: 192.0.2.2}, {name: -x, address: 192.0.2.3}]\n" + caAndKey,
			[]string{"cluster.members[0].name", "cluster.members[1].name", "cluster.members[2].name"}, "not a valid member name"},
		{"member name too long", v1 + "cluster: {name: c, members: [{name: " + strings.Repeat("a", 64) + ", address: 192.0.2.1}]}\n" + caAndKey,
			[]string{"cluster.members[0].name"}, "not a valid member name"},
		{"duplicate member names", v1 + "cluster: {name: c, members: [{name: a, address: 192.0.2.1}, {name: a, address: 192.0.2.2}, {name: b, address: 192.0.2.3}]}\n" + caAndKey,
			[]string{"cluster.members[1].name"}, `"a" is already the name of cluster.members[0]`},
		{"duplicate addresses", v1 + "cluster: {name: c, members: [{name: a, address: \"2001:db8::1\"}, {name: b, address: \"2001:0db8:0::1\"}, {name: c, address: Etcd.example}, {name: d, address: etcd.EXAMPLE}, {name: e, address: 192.0.2.5}]}\n" + caAndKey,
			[]string{"cluster.members[1].address", "cluster.members[3].address"}, "is already the address of cluster.members[0]"},
		{"bad addresses", v1 + `cluster:
  name: c
  members:
    - {name: a, address: 192.0.2.300}
    - {name: b, address: "etcd-b:2380"}
    - {name: c, address: "https://etcd-c"}
    - {name: d, address: "[2001:db8::1]"}
    - {name: e, address: 0.0.0.0}
    - {name: f, address: "fe80::1%eth0"}
    - {name: g, address: "under_score.example"}
    - {name: h}
` + caAndKey, []string{"cluster.members[0].address", "cluster.members[1].address", "cluster.members[2].address",
			"cluster.members[3].address", "cluster.members[4].address", "cluster.members[5].address",
			"cluster.members[6].address", "cluster.members[7].address"}, "neither an IP address nor a DNS name"},
		{"node not a member", v1 + members + caAndKey + "node: {name: d}\n", []string{"node.name"}, `"d" is not one of cluster.members (a, b, c)`},
		{"node name invalid", v1 + "node: {name: Solo}\n", []string{"node.name"}, "not a valid member name"},

		// tls
		{"members without tls", v1 + members, []string{"tls.ca_cert"}, "required when cluster.members is set: every member must trust the same CA"},
		{"tls without ca_cert", v1 + "tls: {ca_key: {{ca_key}}}\n", []string{"tls.ca_cert"}, "required when any tls field is set"},
		{"ca_cert not PEM", v1 + "tls: {ca_cert: /etc/ca.pem, ca_key: {{ca_key}}}\n", []string{"tls.ca_cert"}, "is not PEM"},
		{"ca_cert is a leaf", v1 + "tls: {ca_cert: {{node}}, node_cert: {{node}}, node_key: {{node_key}}}\n", []string{"tls.ca_cert"}, "not a CA certificate"},
		{"ca_cert holds a key", v1 + "tls: {ca_cert: {{ca_key}}, ca_key: {{ca_key}}}\n", []string{"tls.ca_cert"}, `is a "EC PRIVATE KEY"`},
		{"ca_key not matching", v1 + "tls: {ca_cert: {{ca}}, ca_key: {{other_key}}}\n", []string{"tls.ca_key"}, "does not belong to tls.ca_cert"},
		{"ca_key not a key", v1 + "tls: {ca_cert: {{ca}}, ca_key: {{ca}}}\n", []string{"tls.ca_key"}, `holds a PEM "CERTIFICATE" block, not a private key`},
		{"ca_key encrypted", v1 + "tls: {ca_cert: {{ca}}, ca_key: \"-----BEGIN ENCRYPTED PRIVATE KEY-----\\nAQID\\n-----END ENCRYPTED PRIVATE KEY-----\\n\"}\n", []string{"tls.ca_key"}, "the key is encrypted"},
		{"ca_key with text after", v1 + "tls: {ca_cert: {{ca}}, ca_key: {{ca_key_then_text}}}\n", []string{"tls.ca_key"}, "has text after the last PEM block"},
		{"CA without certSign", v1 + "tls: {ca_cert: {{nosign_ca}}, ca_key: {{nosign_key}}}\n", []string{"tls.ca_cert"}, "lacks key usage certSign, so nodes cannot issue their certificates from it"},
		{"neither ca_key nor node pair", v1 + "tls: {ca_cert: {{ca}}}\n", []string{"tls.node_cert", "tls.node_key"}, "required without tls.ca_key"},
		{"node_cert alone", v1 + "tls: {ca_cert: {{ca}}, ca_key: {{ca_key}}, node_cert: {{node}}}\n", []string{"tls.node_key"}, "required with tls.node_cert"},
		{"node_key alone", v1 + "tls: {ca_cert: {{ca}}, ca_key: {{ca_key}}, node_key: {{node_key}}}\n", []string{"tls.node_cert"}, "required with tls.node_key"},
		{"node_cert from another CA", v1 + "tls: {ca_cert: {{ca}}, node_cert: {{stranger}}, node_key: {{node_key}}}\n", []string{"tls.node_cert", "tls.node_key"}, "is not signed by tls.ca_cert"},
		{"node_key not matching", v1 + "tls: {ca_cert: {{ca}}, node_cert: {{node}}, node_key: {{spare_key}}}\n", []string{"tls.node_key"}, "does not belong to tls.node_cert"},
		{"client-only node_cert", v1 + "tls: {ca_cert: {{ca}}, node_cert: {{client}}, node_key: {{node_key}}}\n", []string{"tls.node_cert", "tls.node_key"}, "serverAuth and clientAuth"},

		// data, etcd, restore
		{"relative device", v1 + "data: {device: sdb}\n", []string{"data.device"}, "expected an absolute path under /dev/"},
		{"device escapes /dev", v1 + "data: {device: /dev/../etc/passwd}\n", []string{"data.device"}, "not a device path"},
		{"bare /dev/", v1 + "data: {device: /dev/}\n", []string{"data.device"}, "not a device path"},
		{"wipe without device", v1 + "data: {wipe: true}\n", []string{"data.wipe"}, "requires data.device"},
		{"heartbeat low", v1 + "etcd: {heartbeat_interval_ms: 5}\n", []string{"etcd.heartbeat_interval_ms"}, "expected 10 to 5000 milliseconds"},
		{"heartbeat high", v1 + "etcd: {heartbeat_interval_ms: 6000, election_timeout_ms: 40000}\n", []string{"etcd.heartbeat_interval_ms"}, "out of range"},
		{"election below 5 heartbeats", v1 + "etcd: {heartbeat_interval_ms: 200, election_timeout_ms: 999}\n", []string{"etcd.election_timeout_ms"}, "expected 1000 (5 heartbeat intervals) to 50000"},
		{"election high", v1 + "etcd: {election_timeout_ms: 50001}\n", []string{"etcd.election_timeout_ms"}, "out of range"},
		{"quota low", v1 + "etcd: {quota_backend_bytes: 1024}\n", []string{"etcd.quota_backend_bytes"}, "64 MiB"},
		{"quota high", v1 + "etcd: {quota_backend_bytes: 8589934593}\n", []string{"etcd.quota_backend_bytes"}, "8 GiB"},
		{"negative snapshot count", v1 + "etcd: {snapshot_count: -1}\n", []string{"etcd.snapshot_count"}, "expected at least 1"},
		{"restore without sha256", v1 + "restore: {source: https://b.example/s.db}\n", []string{"restore.sha256"}, "required with restore.source"},
		{"sha256 without source", v1 + "restore: {sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08}\n", []string{"restore.source"}, "required with restore.sha256"},
		{"restore from s3 without a backup section", v1 + "restore: {source: s3://bucket/etcd}\n", []string{"restore.source"},
			"an s3 source is reached with backup's endpoint and credentials: add a backup section"},
		{"restore from s3 with a bad pin", v1 + backupS3 + "restore: {source: s3://etcd-backups/prod, sha256: abc}\n", []string{"restore.sha256"},
			"expected 64 hex digits (the sha256 firstboot backup list shows)"},
		{"restore from another bucket", v1 + backupS3 + "restore: {source: s3://other-bucket/prod}\n", []string{"restore.source"},
			"s3://other-bucket/prod is not in backup.url's bucket etcd-backups"},
		{"restore with a bad age identity", v1 + backupS3 + "restore: {source: s3://etcd-backups/prod, age_identity: AGE-SECRET-KEY-1XYZ}\n", []string{"restore.age_identity"},
			"give the age secret keys (AGE-SECRET-KEY-1…) the backups were encrypted to"},
		{"age identity for an https restore", v1 + "restore: {source: https://b.example/s.db, sha256: " + sha + ", age_identity: " + ageIdentity + "}\n", []string{"restore.age_identity"},
			"only for a restore from an object store"},
		{"restore from gs", v1 + "restore: {source: gs://bucket/etcd.db, sha256: " + sha + "}\n", []string{"restore.source"},
			"gs URLs are not supported: use s3://bucket/prefix with backup.endpoint https://storage.googleapis.com and HMAC keys"},

		// backup
		{"backup fields without url", v1 + "backup: {interval: 1h}\n", []string{"backup.url"}, "required with the other backup fields"},
		{"backup to ftp", v1 + "backup: {url: ftp://b.example/x}\n", []string{"backup.url"}, "expected s3://bucket/prefix"},
		{"backup bucket name", v1 + "backup: {url: s3://B_ad/x}\n", []string{"backup.url"}, "is not a valid bucket name"},
		{"backup URL with a key", v1 + "backup: {url: 's3://AKIA:secret@etcd-backups/x'}\n", []string{"backup.url"}, "credentials go in access_key_id"},
		{"backup endpoint with a path", v1 + "backup: {url: s3://etcd-backups/x, endpoint: 'https://minio.example/bucket'}\n", []string{"backup.endpoint"}, "expected the store's base URL"},
		{"azblob without endpoint", v1 + "backup: {url: azblob://etcd-backups/x}\n", []string{"backup.endpoint"}, "required for azblob"},
		{"half a key pair", v1 + "backup: {url: s3://etcd-backups/x, access_key_id: AKIA}\n", []string{"backup.secret_access_key"}, "go together"},
		{"backup interval not a duration", v1 + "backup: {url: s3://etcd-backups/x, interval: daily}\n", []string{"backup.interval"}, "is not a duration"},
		{"backup interval too short", v1 + "backup: {url: s3://etcd-backups/x, interval: 1s}\n", []string{"backup.interval"}, "out of range: expected 10s to 168h0m0s"},
		{"backup keep negative", v1 + "backup: {url: s3://etcd-backups/x, keep: -1}\n", []string{"backup.keep"}, "out of range"},
		{"backup to a private key", v1 + "backup: {url: s3://etcd-backups/x, encrypt_to: [" + ageIdentity + "]}\n", []string{"backup.encrypt_to[0]"}, "this is an age secret key: give its public key"},
		{"drill of encrypted backups", v1 + "backup: {url: s3://etcd-backups/x, verify_interval: 24h, encrypt_to: [" + ageRecipient + "]}\n", []string{"backup.verify_interval"}, "encrypted backups cannot be drilled on the nodes"},
		{"verify interval", v1 + "backup: {url: s3://etcd-backups/x, verify_interval: soon}\n", []string{"backup.verify_interval"}, "is not a duration"},
		{"restore from ftp", v1 + "restore: {source: ftp://backups.example/etcd.db, sha256: " + sha + "}\n", []string{"restore.source"},
			"ftp URLs are not supported: restore.source accepts http, https and file URLs, e.g. https://backups.example/etcd.db or file:///mnt/backup/etcd.db"},
		{"restore with a forced getter", v1 + "restore: {source: 'git::https://x.example/r.git', sha256: " + sha + "}\n", []string{"restore.source"}, "forced-getter syntax"},
		{"restore without host", v1 + "restore: {source: 'https:///etcd.db', sha256: " + sha + "}\n", []string{"restore.source"}, "has no host"},
		{"restore file URL with a host", v1 + "restore: {source: 'file://backups/etcd.db', sha256: " + sha + "}\n", []string{"restore.source"}, "a file URL needs an absolute path and no host"},
		{"restore not a URL", v1 + "restore: {source: 'etcd.db', sha256: " + sha + "}\n", []string{"restore.source"}, `"etcd.db" is not a URL: restore.source accepts`},
		{"short sha256", v1 + "restore: {source: https://b.example/s.db, sha256: abc}\n", []string{"restore.sha256"}, "expected 64 hex digits"},
		{"snapshots too often", v1 + "snapshots: {interval_minutes: 1}\n", []string{"snapshots.interval_minutes"}, "expected 5 to 10080 minutes"},
		{"keep without interval", v1 + "snapshots: {keep: 3}\n", []string{"snapshots.keep"}, "needs snapshots.interval_minutes"},
		{"negative keep", v1 + "snapshots: {interval_minutes: 60, keep: -1}\n", []string{"snapshots.keep"}, "expected 1 to 1000"},

		// network, trust, time
		{"dns server not an address", v1 + "network: {dns: {servers: [ns1.example, 192.0.2.53], search: [etcd.example, 'bad domain']}}\n",
			[]string{"network.dns.servers[0]", "network.dns.search[1]"}, "is not a unicast IP address"},
		{"proxy without scheme", v1 + "network: {proxy: 'proxy.example:3128'}\n", []string{"network.proxy"}, "expected an http or https proxy URL"},
		{"proxy with a path", v1 + "network: {proxy: 'http://proxy.example:3128/x'}\n", []string{"network.proxy"}, "has a path or query"},
		{"trust not PEM", v1 + "trust: {ca_certs: [/etc/ssl/ca.pem]}\n", []string{"trust.ca_certs[0]"}, "PEM"},
		{"trust a leaf certificate", v1 + "trust: {ca_certs: [{{node}}]}\n", []string{"trust.ca_certs[0]"}, "is not a CA certificate"},
		{"time server with a port", v1 + "time: {servers: [ntp.example, 'ntp.example:123', 'udp://x']}\n", []string{"time.servers[1]", "time.servers[2]"}, "is neither a unicast IP address nor a DNS name"},

		// ssh
		{"ssh keys", v1 + "ssh_authorized_keys:\n  - ssh-foo AAAA\n  - ssh-ed25519 !!!notbase64\n  - \"" + sshKey(t, "ssh-rsa", "ssh-ed25519") + "\"\n  - \"ssh-ed25519 AAAA\\nssh-rsa AAAA\"\n  - ssh-dss AAAAB3NzaC1kc3MAAACB\n  - ssh-ed25519\n  - \"\"\n",
			[]string{"ssh_authorized_keys[0]", "ssh_authorized_keys[1]", "ssh_authorized_keys[2]", "ssh_authorized_keys[3]",
				"ssh_authorized_keys[4]", "ssh_authorized_keys[5]", "ssh_authorized_keys[6]"}, "expected a public key line starting with its type"},
		{"ssh key with options", v1 + "ssh_authorized_keys:\n  - 'from=\"10.0.0.0/8,host name\",no-pty " + sshKey(t, "ssh-ed25519", "ssh-ed25519") + " me'\n  - 'no-pty ssh-rsa AAAA'\n",
			[]string{"ssh_authorized_keys[1]"}, "key data is too short"},

		// everything at once
		{"many problems", "version: 1\ncluster:\n  name: Bad\n  members:\n    - {name: a, address: 192.0.2.1}\n    - {name: a, address: 192.0.2.1}\netcd: {heartbeat_interval_ms: oops}\nextra: 1\n",
			[]string{"cluster.name", "cluster.members[1].name", "cluster.members[1].address", "etcd.heartbeat_interval_ms", "extra", "tls.ca_cert"}, "not a valid cluster name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := Parse([]byte(pki.Replace(tt.doc)))
			var errs *Errors
			if !errors.As(err, &errs) {
				t.Fatalf("Parse = %+v, %v; want *Errors", c, err)
			}
			if c != nil {
				t.Errorf("config returned with errors: %+v", c)
			}
			var got []string
			for _, p := range errs.Problems {
				got = append(got, p.Path)
			}
			if !slices.Equal(got, tt.paths) {
				t.Errorf("paths = %q, want %q\n%v", got, tt.paths, err)
			}
			if !strings.Contains(errs.Problems[0].Message, tt.msg) {
				t.Errorf("first message %q does not contain %q", errs.Problems[0].Message, tt.msg)
			}
		})
	}
}

func TestParseLines(t *testing.T) {
	doc := `version: 1
cluster:
  name: c
  members:
    - name: a
      address: 192.0.2.1
    - name: b
      address: 192.0.2.1
etcd:
  heartbeat_interval_ms: "100"
  unknown: 1
`
	_, _, err := Parse([]byte(doc))
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("err = %v", err)
	}
	want := []Problem{
		{Path: "cluster.members[1].address", Line: 8},
		{Path: "etcd.heartbeat_interval_ms", Line: 10},
		{Path: "etcd.unknown", Line: 11},
		{Path: "tls.ca_cert", Line: 0},
	}
	if len(errs.Problems) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(errs.Problems), len(want), err)
	}
	for i, w := range want {
		if p := errs.Problems[i]; p.Path != w.Path || p.Line != w.Line {
			t.Errorf("problem %d = %s (line %d), want %s (line %d)", i, p.Path, p.Line, w.Path, w.Line)
		}
	}
	if !strings.Contains(err.Error(), "line 8: cluster.members[1].address: ") {
		t.Errorf("Error() = %q", err)
	}
}

func TestWarnings(t *testing.T) {
	pki := testPKI(t)
	cluster := func(n int) string {
		s := "version: 1\n" + caAndKey + "cluster:\n  name: c\n  members:\n"
		for i := range n {
			s += "    - {name: m" + string(rune('a'+i)) + ", address: 192.0.2." + string(rune('1'+i)) + "}\n"
		}
		return s
	}
	tests := []struct {
		members int
		want    []string
	}{
		{1, nil},
		{3, nil},
		{4, []string{"4 members tolerate no more failures than 3: use an odd number"}},
		{7, nil},
		{8, []string{"8 members tolerate no more failures than 7: use an odd number", "etcd recommends at most 7 voting members: more slow down every write"}},
		{9, []string{"etcd recommends at most 7 voting members: more slow down every write"}},
	}
	for _, tt := range tests {
		_, warns, err := Parse([]byte(pki.Replace(cluster(tt.members))))
		if err != nil {
			t.Fatalf("%d members: %v", tt.members, err)
		}
		var got []string
		for _, w := range warns {
			got = append(got, w.Message)
			if w.Path != "cluster.members" || w.Line != 5 {
				t.Errorf("%d members: warning at %s line %d", tt.members, w.Path, w.Line)
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%d members: warnings %q, want %q", tt.members, got, tt.want)
		}
	}
}

func TestLoadPlain(t *testing.T) {
	c, x, _, err := Load([]byte(`{"version": 1}`))
	if err != nil || c == nil || x != nil {
		t.Fatalf("Load = %v, %v, %v", c, x, err)
	}
}

// Sources older configs use stay valid: a node that booted with them must boot again.
func TestRestoreSourcesAccepted(t *testing.T) {
	sha := strings.Repeat("ab", 32)
	for _, src := range []string{
		"https://backups.example/etcd.db",
		"http://192.0.2.5:8080/etcd.db?x=1",
		"https://[2001:db8::10]/etcd.db",
		"https://backups.example/a::b.db",
		"file:///mnt/backup/etcd.db",
		"/mnt/backup/etcd.db",
	} {
		if _, _, _, err := Load([]byte("version: 1\nrestore: {source: '" + src + "', sha256: " + sha + "}\n")); err != nil {
			t.Errorf("restore.source %s: %v", src, err)
		}
	}
}

package nodeconfig_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/etcd-appliance/appliance/config"
	"github.com/etcd-appliance/appliance/internal/ignitiontest"
	"github.com/etcd-appliance/appliance/internal/nodeconfig"
	"github.com/etcd-appliance/appliance/internal/nodeconfig/nodetest"
	"github.com/etcd-appliance/appliance/internal/tlstest"
)

func TestResolve(t *testing.T) {
	key := ignitiontest.SSHKey(t, "test@host")
	for _, tc := range []struct {
		name       string
		userData   []byte
		wantErr    []string // substrings of a *configError
		wantMember string
		wantHost   string
		wantKeys   int
		wantFiles  []string
	}{
		{name: "no user-data: single member named after the host", wantMember: "etcd"}, // no metadata hostname: a name that does not change between boots
		{
			name:       "ignition with config, hostname and key",
			userData:   nil, // set below
			wantMember: "etcd-q", wantHost: "qemu-node-1", wantKeys: 1, wantFiles: []string{"/etc/hostname"},
		},
		{
			name:     "plain YAML with two problems",
			userData: []byte("version: 1\netcd: {heartbeat_interval_ms: 1}\nnode: {name: Bad_Name}\n"),
			wantErr:  []string{"etcd.heartbeat_interval_ms", "node.name"},
		},
		{
			name:     "members without a CA",
			userData: []byte("version: 1\ncluster: {name: c, members: [{name: a, address: 192.0.2.1}]}\n"),
			wantErr:  []string{"tls.ca_cert: required when cluster.members is set"},
		},
		{
			name:     "enabled ignition unit without an install section",
			userData: []byte(`{"ignition":{"version":"3.4.0"},"systemd":{"units":[{"name":"x.service","enabled":true,"contents":"[Service]\nExecStart=/bin/true\n"}]}}`),
			wantErr:  []string{"systemd.units[0].contents: x.service is enabled, but its contents have no [Install] WantedBy="},
		},
		{
			name:     "restore without its checksum",
			userData: []byte("version: 1\nrestore: {source: 'https://backups.example/s.db'}\n"),
			wantErr:  []string{"restore.sha256: required with restore.source"},
		},
		{
			name:     "broken JSON Ignition",
			userData: []byte(`{"ignition":{"version":"3.4.0"},`),
			wantErr:  []string{"user-data from qemu"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ud := tc.userData
			if tc.wantHost != "" {
				ud = ignitiontest.Config(t, "version: 1\nnode: {name: etcd-q}\n", map[string]string{"/etc/hostname": "qemu-node-1\n"}, key)
			}
			env := nodetest.QemuEnv(t, "root=PARTUUID=x ro etcd.platform=qemu", ud)
			r, err := nodeconfig.Resolve(context.Background(), env, nodetest.Options(t.TempDir()))
			if len(tc.wantErr) > 0 {
				var ce *nodeconfig.ConfigError
				if !errors.As(err, &ce) {
					t.Fatalf("error %v, want a config error", err)
				}
				all := strings.Join(ce.Problems(), "\n")
				for _, w := range tc.wantErr {
					if !strings.Contains(all, w) {
						t.Errorf("problems %q do not mention %q", all, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Platform != "qemu" || r.Member.Name != tc.wantMember || r.Hostname != tc.wantHost || len(r.SSHKeys) != tc.wantKeys || strings.Join(r.Files, ",") != strings.Join(tc.wantFiles, ",") {
				t.Errorf("resolved platform=%s member=%s hostname=%q keys=%d files=%v", r.Platform, r.Member.Name, r.Hostname, len(r.SSHKeys), r.Files)
			}
		})
	}
}

func TestApply(t *testing.T) {
	key := ignitiontest.SSHKey(t, "test@host")
	env := nodetest.QemuEnv(t, "etcd.platform=qemu", ignitiontest.Config(t, "version: 1\n", map[string]string{"/etc/hostname": "n1\n", "/var/lib/app/x.conf": "x=1\n"}, key))
	root := t.TempDir()
	r, err := nodeconfig.Resolve(context.Background(), env, nodetest.Options(root))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Apply(root); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]struct {
		data string
		mode os.FileMode
	}{
		"etc/hostname":                 {"n1\n", 0o644},
		"var/lib/app/x.conf":           {"x=1\n", 0o644},
		"etc/ssh/authorized_keys/root": {key + "\n", 0o600},
		// the single member advertises the fake machine's one address
		"etc/hosts": {"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" + nodetest.Addr.String() + "\tn1\n", 0o644},
	} {
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		st, _ := os.Stat(filepath.Join(root, p))
		if string(b) != want.data || st.Mode().Perm() != want.mode {
			t.Errorf("%s: %q mode %v, want %q mode %v", p, b, st.Mode().Perm(), want.data, want.mode)
		}
	}
	// the appliance config itself is not written out: it is read from the platform each boot
	if _, err := os.Stat(filepath.Join(root, "etc/etcd-appliance/config.yaml")); err == nil {
		t.Error("the appliance config was written to disk")
	}
}

func TestInspectRedacts(t *testing.T) {
	r := &nodeconfig.Resolved{Config: mustParse(t, "version: 1\n")}
	r.Config.TLS.CAKey = "-----BEGIN EC PRIVATE KEY-----"
	if got := r.Redacted().Config.TLS.CAKey; got != "(redacted)" {
		t.Errorf("ca_key printed as %q", got)
	}
	r.Config.Network.Proxy = "http://user:s3cret@proxy.example:3128"
	if got := r.Redacted().Config.Network.Proxy; strings.Contains(got, "s3cret") {
		t.Errorf("network.proxy printed as %q", got)
	}
	if r.Config.TLS.CAKey == "(redacted)" || !strings.Contains(r.Config.Network.Proxy, "s3cret") {
		t.Error("redacting changed the original config")
	}
}

// Remote Ignition contents are fetched, on a node, with trust.ca_certs and Ignition's CAs
// beside the system's roots, through network.proxy.
func TestResolveTrust(t *testing.T) {
	ca, other := tlstest.NewCA(t, "files CA"), tlstest.NewCA(t, "other CA")
	base := tlstest.Server(t, ca.Leaf(t, []string{"localhost"}), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("remote\n"))
	}))
	proxy := tlstest.NewProxy(t)
	inline := func(s string) map[string]any { return map[string]any{"source": "data:," + url.PathEscape(s)} }
	ign := func(appliance map[string]any, cas ...string) []byte {
		appliance["version"] = 1
		cfg, _ := json.Marshal(appliance)
		var caList []any
		for _, c := range cas {
			caList = append(caList, inline(c))
		}
		b, err := json.Marshal(map[string]any{
			"ignition": map[string]any{"version": "3.4.0", "security": map[string]any{"tls": map[string]any{"certificateAuthorities": caList}}},
			"storage": map[string]any{"files": []any{
				map[string]any{"path": config.IgnitionConfigPath, "contents": inline(string(cfg))},
				map[string]any{"path": "/etc/remote.txt", "contents": map[string]any{"source": base + "/remote.txt"}},
			}},
		})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		name     string
		userData []byte
		wantErr  string
		roots    int // extra roots
		proxied  bool
	}{
		{name: "trust.ca_certs", userData: ign(map[string]any{"trust": map[string]any{"ca_certs": []string{ca.PEM}}}), roots: 1},
		{name: "Ignition's certificateAuthorities", userData: ign(map[string]any{}, ca.PEM), roots: 1},
		{name: "both", userData: ign(map[string]any{"trust": map[string]any{"ca_certs": []string{other.PEM}}}, ca.PEM), roots: 2},
		{name: "through network.proxy", userData: ign(map[string]any{"trust": map[string]any{"ca_certs": []string{ca.PEM}}, "network": map[string]any{"proxy": proxy.URL.String()}}),
			roots: 1, proxied: true},
		{name: "system roots only", userData: ign(map[string]any{}),
			wantErr: "ignition file /etc/remote.txt: GET " + base + "/remote.txt: tls: failed to verify certificate: x509: certificate signed by unknown authority: add the CA that signed the server's certificate to trust.ca_certs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(proxy.Seen())
			env := nodetest.QemuEnv(t, "etcd.platform=qemu", tc.userData)
			opts := nodetest.Options(t.TempDir())
			opts.Fetch = nodeconfig.NodeOptions("").Fetch // the node's own fetch
			r, err := nodeconfig.Resolve(context.Background(), env, opts)
			if tc.wantErr != "" {
				var ce *nodeconfig.ConfigError
				if !errors.As(err, &ce) || !strings.Contains(strings.Join(ce.Problems(), "\n"), tc.wantErr) {
					t.Fatalf("err = %v, want a config error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(r.Files, "/etc/remote.txt") || len(r.Trust.RootCAs) != tc.roots {
				t.Errorf("files %v, %d extra roots, want %d", r.Files, len(r.Trust.RootCAs), tc.roots)
			}
			seen := proxy.Seen()[before:]
			if want := "CONNECT " + strings.TrimPrefix(base, "https://"); tc.proxied != slices.Contains(seen, want) {
				t.Errorf("the proxy saw %q; through it: %v", seen, tc.proxied)
			}
		})
	}
}

func mustParse(t *testing.T, text string) *config.Config {
	t.Helper()
	c, _, err := config.Parse([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A hostname from the platform or Ignition that is not an RFC 1123 name stops the resolve with
// a config error naming where it came from; nothing reaches /etc/hostname or /etc/hosts.
func TestResolveRefusesBadHostnames(t *testing.T) {
	for _, tc := range []struct {
		name     string
		metaData string // a NoCloud seed's meta-data (platform nocloud), "" for qemu
		ignHost  string // Ignition's /etc/hostname, "" for none
		want     string
	}{
		{"a hostname with a newline", "instance-id: i-1\nlocal-hostname: \"a\\nb\"\n", "",
			`platform nocloud: metadata hostname "a\nb": contains a control character`},
		{"an injected hosts line", "instance-id: i-1\nlocal-hostname: \"node\\n10.0.0.1 evil\"\n", "",
			`metadata hostname "node\n10.0.0.1 evil": contains a control character`},
		{"an underscore", "instance-id: i-1\nlocal-hostname: etcd_a\n", "",
			`metadata hostname "etcd_a": label "etcd_a" has characters other than letters, digits and '-'`},
		{"an SSH key with two lines", "instance-id: i-1\npublic-keys: [\"ssh-ed25519 AAAA a\\rssh-ed25519 BBBB b\"]\n", "",
			`metadata SSH key 0 "ssh-ed25519 AAAA a\rssh-ed25519 BBBB b": contains a line break`},
		{"ignition hostname with two lines", "", "node-a\nnode-b\n",
			`storage.files[1].contents.source: hostname "node-a\nnode-b": contains a control character`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ud []byte
			if tc.ignHost != "" {
				ud = ignitiontest.Config(t, "version: 1\n", map[string]string{"/etc/hostname": tc.ignHost})
			}
			env := nodetest.QemuEnv(t, "root=PARTUUID=x ro etcd.platform=qemu", ud)
			root := t.TempDir()
			opts := nodetest.Options(root)
			if tc.metaData != "" {
				env.Dir = t.TempDir()
				if err := os.WriteFile(filepath.Join(env.Dir, "meta-data"), []byte(tc.metaData), 0o644); err != nil {
					t.Fatal(err)
				}
				opts.Platform = "nocloud"
			}
			r, err := nodeconfig.Resolve(context.Background(), env, opts)
			var ce *nodeconfig.ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("Resolve = %+v, %v; want a config error", r, err)
			}
			if all := strings.Join(ce.Problems(), "\n"); !strings.Contains(all, tc.want) {
				t.Errorf("problems:\n%s\nwant %q", all, tc.want)
			}
			if entries, _ := os.ReadDir(root); len(entries) != 0 {
				t.Errorf("a refused resolve wrote %v", entries)
			}
		})
	}
}

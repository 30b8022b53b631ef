package nodeconfig_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcd-appliance/appliance/config"
	"github.com/etcd-appliance/appliance/internal/ignitiontest"
	"github.com/etcd-appliance/appliance/internal/nodeconfig"
	"github.com/etcd-appliance/appliance/internal/nodeconfig/nodetest"
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
	if r.Config.TLS.CAKey == "(redacted)" {
		t.Error("redacting changed the original config")
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

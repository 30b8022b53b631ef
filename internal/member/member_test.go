package member

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/etcd-appliance/appliance/config"
)

// mustConfig parses yaml; three, a static cluster, is spliced in as Go values so the test
// needs no TLS material (config validation requires a CA with members).
func mustConfig(t *testing.T, yaml string) *config.Config {
	t.Helper()
	withThree := strings.HasPrefix(yaml, three)
	c, _, err := config.Parse([]byte(strings.Replace(yaml, three, "version: 1\n", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if withThree {
		c.Cluster = config.Cluster{Name: "prod", Members: []config.Member{
			{Name: "etcd-a", Address: "10.77.0.11"}, {Name: "etcd-b", Address: "10.77.0.12"}, {Name: "etcd-c", Address: "etcd-c.example.net"}}}
	}
	return c
}

const three = "three-members\n"

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

func TestIdentify(t *testing.T) {
	tests := []struct {
		name     string
		yaml     string
		local    []netip.Addr
		resolved map[string][]netip.Addr
		hostname string
		want     Self
		err      string
	}{
		{"by address", three, addrs("127.0.0.1", "10.77.0.12", "fe80::1"), nil, "whatever",
			Self{Name: "etcd-b", Address: "10.77.0.12", Reason: "address 10.77.0.12 is on this machine"}, ""},
		{"address wins over hostname", three, addrs("10.77.0.11"), nil, "etcd-b",
			Self{Name: "etcd-a", Address: "10.77.0.11", Reason: "address 10.77.0.11 is on this machine"}, ""},
		{"by hostname as name", three, addrs("192.0.2.1"), nil, "ETCD-B.example.net",
			Self{Name: "etcd-b", Address: "10.77.0.12", Reason: "hostname ETCD-B.example.net"}, ""},
		{"by hostname as DNS address", three, nil, nil, "etcd-c.example.net",
			Self{Name: "etcd-c", Address: "etcd-c.example.net", Reason: "hostname etcd-c.example.net"}, ""},
		{"node.name", three + "node: {name: etcd-c}\n", addrs("10.77.0.11"), nil, "",
			Self{Name: "etcd-c", Address: "etcd-c.example.net", Reason: "node.name"}, ""},
		{"by DNS name", three, addrs("10.77.0.13"), map[string][]netip.Addr{"etcd-c.example.net": addrs("2001:db8::9", "10.77.0.13")}, "",
			Self{Name: "etcd-c", Address: "etcd-c.example.net", Reason: "name etcd-c.example.net resolves to 10.77.0.13, on this machine"}, ""},
		{"DNS name elsewhere, address here", three, addrs("10.77.0.11"), map[string][]netip.Addr{"etcd-c.example.net": addrs("10.77.0.13")}, "",
			Self{Name: "etcd-a", Address: "10.77.0.11", Reason: "address 10.77.0.11 is on this machine"}, ""},
		{"DNS name not resolved yet", three, addrs("10.77.0.13"), nil, "", Self{},
			"these names did not resolve: etcd-c.example.net"},
		{"nothing matches", three, addrs("192.0.2.7"), map[string][]netip.Addr{"etcd-c.example.net": addrs("10.77.0.13")}, "other", Self{},
			"its addresses (192.0.2.7) and hostname other match none of cluster.members (etcd-a=10.77.0.11, etcd-b=10.77.0.12, etcd-c=etcd-c.example.net); set node.name"},
		{"no addresses yet", three, nil, nil, "", Self{}, "its addresses (none) and hostname (none)"},
		{"single member from hostname", "version: 1\n", addrs("fe80::2", "2001:db8::5", "10.0.2.15"), nil, "Node1.lan",
			Self{Name: "node1", Address: "10.0.2.15", Reason: "hostname (single-member cluster)"}, ""},
		{"single member placeholder hostname", "version: 1\n", nil, nil, "localhost",
			Self{Name: "etcd", Reason: "hostname (single-member cluster)"}, ""},
		{"single member named", "version: 1\nnode: {name: solo}\n", addrs("2001:db8::5"), nil, "x",
			Self{Name: "solo", Address: "2001:db8::5", Reason: "node.name"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Identify(mustConfig(t, tc.yaml), tc.local, tc.resolved, tc.hostname)
			if tc.err != "" {
				var nf *NotFoundError
				if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.As(err, &nf) {
					t.Fatalf("err = %v, want a NotFoundError containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestEnv(t *testing.T) {
	files := Files{DataDir: "/var/lib/etcd/data", CA: "/p/ca.crt", Key: "/p/node.key", Server: "/p/server.crt", Peer: "/p/peer.crt"}
	tests := []struct {
		name string
		spec Spec
		want map[string]string
	}{
		{"static cluster", Spec{Self: Self{Name: "etcd-b", Address: "10.77.0.12"}, Config: mustConfig(t, three), Files: files},
			map[string]string{
				"ETCD_NAME":                        "etcd-b",
				"ETCD_LISTEN_CLIENT_URLS":          "https://0.0.0.0:2379",
				"ETCD_ADVERTISE_CLIENT_URLS":       "https://10.77.0.12:2379",
				"ETCD_LISTEN_PEER_URLS":            "https://0.0.0.0:2380",
				"ETCD_INITIAL_ADVERTISE_PEER_URLS": "https://10.77.0.12:2380",
				"ETCD_INITIAL_CLUSTER":             "etcd-a=https://10.77.0.11:2380,etcd-b=https://10.77.0.12:2380,etcd-c=https://etcd-c.example.net:2380",
				"ETCD_INITIAL_CLUSTER_TOKEN":       "prod",
				"ETCD_INITIAL_CLUSTER_STATE":       "new",
				"ETCD_LISTEN_METRICS_URLS":         "http://0.0.0.0:2381",
				"ETCD_CLIENT_CERT_AUTH":            "true",
				"ETCD_PEER_CLIENT_CERT_AUTH":       "true",
				"ETCD_TRUSTED_CA_FILE":             "/p/ca.crt",
				"ETCD_PEER_TRUSTED_CA_FILE":        "/p/ca.crt",
				"ETCD_CERT_FILE":                   "/p/server.crt",
				"ETCD_PEER_CERT_FILE":              "/p/peer.crt",
				"ETCD_KEY_FILE":                    "/p/node.key",
				"ETCD_PEER_KEY_FILE":               "/p/node.key",
				"ETCD_TLS_MIN_VERSION":             "TLS1.3",
				"ETCD_HEARTBEAT_INTERVAL":          "100",
			}},
		{"single IPv6 member", Spec{Self: Self{Name: "solo", Address: "2001:db8::5"}, Config: mustConfig(t, "version: 1\n"), Files: files, State: "new"},
			map[string]string{
				"ETCD_LISTEN_CLIENT_URLS":    "https://[::]:2379",
				"ETCD_ADVERTISE_CLIENT_URLS": "https://[2001:db8::5]:2379",
				"ETCD_INITIAL_CLUSTER":       "solo=https://[2001:db8::5]:2380",
				"ETCD_LISTEN_METRICS_URLS":   "http://[::]:2381",
				"ETCD_INITIAL_CLUSTER_TOKEN": "",
			}},
		{"single member without network", Spec{Self: Self{Name: "etcd"}, Config: mustConfig(t, "version: 1\n"), Files: files},
			map[string]string{"ETCD_INITIAL_CLUSTER": "etcd=https://127.0.0.1:2380", "ETCD_ADVERTISE_CLIENT_URLS": "https://127.0.0.1:2379"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := Env(tc.spec)
			for k, v := range tc.want {
				if env[k] != v {
					t.Errorf("%s=%q, want %q", k, env[k], v)
				}
			}
			for k, v := range env {
				if strings.HasPrefix(v, "http://") && k != "ETCD_LISTEN_METRICS_URLS" {
					t.Errorf("%s=%s: only the metrics port may be plain HTTP", k, v)
				}
			}
		})
	}
}

func TestEtcdctlEnv(t *testing.T) {
	s := Spec{Self: Self{Name: "etcd-a"}, Config: mustConfig(t, three), Files: Files{CA: "/p/ca.crt"}}
	env := EtcdctlEnv(s, "/p/etcdctl.crt", "/p/etcdctl.key")
	if got, want := env["ETCDCTL_ENDPOINTS"], "https://10.77.0.11:2379,https://10.77.0.12:2379,https://etcd-c.example.net:2379"; got != want {
		t.Errorf("endpoints %q, want %q", got, want)
	}
	b, err := Render(env)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	if !strings.Contains(text, "\nETCDCTL_CACERT=/p/ca.crt\nETCDCTL_CERT=/p/etcdctl.crt\n") {
		t.Errorf("not sorted or incomplete:\n%s", text)
	}
}

// The TLS floor is the appliance's: nothing in the config's etcd section reaches it.
func TestEnvTLSOnly13(t *testing.T) {
	c := mustConfig(t, "version: 1\netcd: {heartbeat_interval_ms: 50, election_timeout_ms: 5000, quota_backend_bytes: 8589934592, snapshot_count: 5}\n")
	env := Env(Spec{Self: Self{Name: "etcd"}, Config: c})
	if got := env["ETCD_TLS_MIN_VERSION"]; got != "TLS1.3" {
		t.Errorf("ETCD_TLS_MIN_VERSION=%q, want TLS1.3", got)
	}
	if _, ok := env["ETCD_CIPHER_SUITES"]; ok {
		t.Error("ETCD_CIPHER_SUITES set: etcd refuses it with TLS 1.3")
	}
}

// The env-file writer refuses what systemd or sh would read as more than the value: a second
// line is a second variable.
func TestRenderRefuses(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		wantErr string // "" for accepted
	}{
		{"plain values", map[string]string{"ETCD_NAME": "etcd-a", "ETCD_INITIAL_CLUSTER": "a=https://[2001:db8::1]:2380,b=https://b.example:2380"}, ""},
		{"a newline", map[string]string{"ETCD_NAME": "a\nETCD_TLS_MIN_VERSION=TLS1.0"}, `ETCD_NAME="a\nETCD_TLS_MIN_VERSION=TLS1.0": '\n' at byte 1`},
		{"a carriage return", map[string]string{"ETCD_NAME": "a\rb"}, `'\r' at byte 1`},
		{"NUL", map[string]string{"ETCD_NAME": "a\x00"}, `'\x00' at byte 1`},
		{"a quote", map[string]string{"ETCD_NAME": `a"b`}, `'"' at byte 1`},
		{"a dollar", map[string]string{"ETCDCTL_ENDPOINTS": "$(reboot)"}, `'$' at byte 0`},
		{"a backtick", map[string]string{"ETCDCTL_ENDPOINTS": "`reboot`"}, "at byte 0"},
		{"a bad name", map[string]string{"ETCD_NAME=X": "a"}, `environment variable name "ETCD_NAME=X"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Render(tc.env)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Render = %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Render = %q, %v; want an error with %q", b, err, tc.wantErr)
			case tc.wantErr != "" && b != nil:
				t.Errorf("Render returned %q with its error", b)
			}
		})
	}
}

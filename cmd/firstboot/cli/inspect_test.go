package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcd-appliance/appliance/internal/nodeconfig/nodetest"
	"github.com/etcd-appliance/appliance/internal/pki"
	"github.com/etcd-appliance/appliance/internal/platform"
	"github.com/etcd-appliance/appliance/internal/platform/platformtest"
)

// inspect --dir and --endpoint read a seed directory or a metadata server the operator points
// at, and print what the node would do with it.
func TestInspectSources(t *testing.T) {
	seed := t.TempDir()
	for _, f := range []string{"meta-data", "network-config"} {
		os.WriteFile(filepath.Join(seed, f), platformtest.Read(t, "nocloud/v2/"+f), 0o644)
	}
	os.WriteFile(filepath.Join(seed, "user-data"), []byte("version: 1\nnode: {name: from-seed}\n"), 0o644)

	do := platformtest.Read(t, "digitalocean/metadata-v1.json")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/metadata/v1.json":
			w.Write(do)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	for _, tc := range []struct {
		name     string
		args     []string
		platform string
		wantErr  string
		check    func(t *testing.T, r map[string]any)
	}{
		{name: "seed directory", args: []string{"--dir", seed}, platform: "nocloud", check: func(t *testing.T, r map[string]any) {
			if m := r["member"].(map[string]any); m["name"] != "from-seed" {
				t.Errorf("member %v, want from-seed from the seed's user-data", m)
			}
			if files, _ := r["network_files"].([]any); len(files) == 0 {
				t.Error("no network files from the seed's network-config")
			}
		}},
		{name: "metadata endpoint", args: []string{"--platform", "digitalocean", "--endpoint", srv.URL}, platform: "digitalocean", check: func(t *testing.T, r map[string]any) {
			if md := r["metadata"].(map[string]any); md["instance_id"] == "" || md["instance_id"] == nil {
				t.Errorf("metadata %v has no instance id", md)
			}
		}},
		{name: "endpoint without platform", args: []string{"--endpoint", srv.URL}, wantErr: "--endpoint needs --platform"},
		{name: "directory of nothing", args: []string{"--dir", t.TempDir()}, wantErr: "holds neither a NoCloud seed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := nodetest.QemuEnv(t, "root=PARTUUID=x ro", nil)
			env.HTTP = platform.HTTPGetter{Attempts: 1}
			var out bytes.Buffer
			err := inspect(context.Background(), tc.args, env, &out)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var r map[string]any
			if err := json.Unmarshal(out.Bytes(), &r); err != nil {
				t.Fatalf("%v: %s", err, out.Bytes())
			}
			if r["platform"] != tc.platform {
				t.Errorf("platform %v, want %s", r["platform"], tc.platform)
			}
			tc.check(t, r)
		})
	}
}

// inspect --endpoint says which member the machine behind the metadata is, by the metadata's
// addresses (its interface's and its Reserved IP), whatever the host running inspect has.
func TestInspectMemberFromMetadata(t *testing.T) {
	caCert, caKey, err := pki.NewCA("test CA", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pem := func(b []byte) string { q, _ := json.Marshal(string(b)); return string(q) }
	doc := func(members string) []byte {
		ud := "version: 1\ncluster:\n  name: prod\n  members: " + members + "\n" +
			"tls: {ca_cert: " + pem(caCert) + ", ca_key: " + pem(caKey) + "}\n"
		b, err := json.Marshal(map[string]any{
			"droplet_id": 42, "hostname": "droplet-42", "user_data": ud,
			"interfaces": map[string]any{"public": []any{map[string]any{
				"mac": "12:2f:49:0c:eb:c0", "ipv4": map[string]any{"ip_address": "198.51.100.10", "netmask": "255.255.255.0", "gateway": "198.51.100.1"},
			}}},
			"reserved_ip": map[string]any{"ipv4": map[string]any{"active": true, "ip_address": "203.0.113.7"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		name, members, want, wantAddr string
	}{
		{"by the interface address", "[{name: a, address: 192.0.2.200}, {name: b, address: 198.51.100.10}]", "b", "198.51.100.10"},
		{"by the Reserved IP", "[{name: a, address: 203.0.113.7}, {name: b, address: 198.51.100.99}]", "a", "203.0.113.7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := doc(tc.members)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/metadata/v1.json" {
					http.NotFound(w, r)
					return
				}
				w.Write(body)
			}))
			defer srv.Close()
			env := nodetest.QemuEnv(t, "root=PARTUUID=x ro", nil)
			env.HTTP = platform.HTTPGetter{Attempts: 1}
			var out bytes.Buffer
			if err := inspect(context.Background(), []string{"--platform", "digitalocean", "--endpoint", srv.URL}, env, &out); err != nil {
				t.Fatal(err)
			}
			var r struct {
				Addresses []string `json:"addresses"`
				Member    struct{ Name, Address string }
			}
			if err := json.Unmarshal(out.Bytes(), &r); err != nil {
				t.Fatalf("%v: %s", err, out.Bytes())
			}
			if r.Member.Name != tc.want || r.Member.Address != tc.wantAddr {
				t.Errorf("member %+v, want %s at %s", r.Member, tc.want, tc.wantAddr)
			}
			if strings.Join(r.Addresses, ",") != "198.51.100.10" {
				t.Errorf("addresses %v, want the metadata's 198.51.100.10, not this host's", r.Addresses)
			}
		})
	}
}

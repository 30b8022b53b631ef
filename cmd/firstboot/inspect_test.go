package main

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

	"github.com/etcd-appliance/appliance/internal/nodeconfig/nodetest"
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

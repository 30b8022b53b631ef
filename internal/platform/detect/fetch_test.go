package detect

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcd-appliance/appliance/arch"
	"github.com/etcd-appliance/appliance/internal/platform/metal"
	"github.com/etcd-appliance/appliance/internal/tlstest"
)

func TestFetchNone(t *testing.T) {
	md, err := Env{}.Fetch(context.Background(), "", Facts{})
	if err != nil {
		t.Fatal(err)
	}
	if md == nil || md.Platform != "" || md.UserData != nil {
		t.Errorf("metadata = %+v", md)
	}
}

func TestFetchQEMU(t *testing.T) {
	r := fakeRoots(t)
	write(t, filepath.Join(r.SysRoot, "firmware/qemu_fw_cfg/by_name/opt/com.coreos/config/raw"), "version: 1\n")
	a, err := arch.Lookup("amd64")
	if err != nil {
		t.Fatal(err)
	}
	md, err := Env{Arch: a, Reader: r}.Fetch(context.Background(), "qemu", Facts{})
	if err != nil {
		t.Fatal(err)
	}
	if md.Platform != "qemu" || string(md.UserData) != "version: 1\n" {
		t.Errorf("metadata = %+v (%q)", md, md.UserData)
	}
}

func TestFetchMetal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "etcd.yaml")
	if err := os.WriteFile(path, []byte("version: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := Env{Metal: metal.Options{Backoff: time.Millisecond, TempDir: t.TempDir()}}
	md, err := e.Fetch(context.Background(), "metal", Facts{Cmdline: `quiet etcd.config.url="file://` + path + `"`})
	if err != nil {
		t.Fatal(err)
	}
	if md.Platform != "metal" || string(md.UserData) != "version: 1\n" {
		t.Errorf("metadata = %+v (%q)", md, md.UserData)
	}
}

// etcd.config.ca_sha256= on the command line pins the config server's CA.
func TestFetchMetalPinned(t *testing.T) {
	ca := tlstest.NewCA(t, "config CA")
	// the pinned certificate must be among those the server sends
	base := tlstest.Server(t, ca.Leaf(t, []string{"localhost"}, ca), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("version: 1\n"))
	}))
	e := Env{Metal: metal.Options{Backoff: time.Millisecond, TempDir: t.TempDir()}}
	cmdline := "etcd.config.url=" + base + "/c.yaml etcd.config.ca_sha256="
	md, err := e.Fetch(context.Background(), "metal", Facts{Cmdline: cmdline + ca.SHA256()})
	if err != nil || string(md.UserData) != "version: 1\n" {
		t.Fatalf("pinned to its CA: %v", err)
	}
	_, err = e.Fetch(context.Background(), "metal", Facts{Cmdline: cmdline + tlstest.NewCA(t, "other CA").SHA256()})
	if err == nil || !strings.Contains(err.Error(), "fails etcd.config.ca_sha256=") {
		t.Fatalf("pinned to another CA: err = %v", err)
	}
}

func TestFetchErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		platform string
		f        Facts
		wantErr  string
	}{
		{"metal without a URL", "metal", Facts{Cmdline: "etcd.platform=metal"}, "needs etcd.config.url=<URL>"},
		{"metal with an empty pin", "metal", Facts{Cmdline: "etcd.config.url=https://cfg.example/c.yaml etcd.config.ca_sha256="}, "etcd.config.ca_sha256=: expected the 64 hex digits"},
		{"nocloud without a seed", "nocloud", Facts{Labels: []string{"config-2"}}, "no filesystem labelled cidata or CIDATA"},
		{"unknown", "vmware", Facts{}, "use one of qemu, nocloud"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Env{}.Fetch(context.Background(), tc.platform, tc.f)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestMountPoint(t *testing.T) {
	if got, want := (Env{}).mountPoint("cidata"), "/run/etcd-appliance/media/cidata"; got != want {
		t.Errorf("mountPoint = %s, want %s", got, want)
	}
	if got, want := (Env{MountDir: "/tmp/m"}).mountPoint("config-2"), "/tmp/m/config-2"; got != want {
		t.Errorf("mountPoint = %s, want %s", got, want)
	}
}

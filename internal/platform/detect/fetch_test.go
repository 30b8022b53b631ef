package detect

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
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

// With etcd.platform=P only P's own sources count: a seed or config drive attached beside it
// is neither chosen nor read, unless P is the platform that reads it.
func TestPlatformOwnsItsSources(t *testing.T) {
	both := []string{"cidata", "config-2", "CIDATA", "CONFIG-2"}
	for _, p := range Names() {
		t.Run(p, func(t *testing.T) {
			got, _, err := Choose(Facts{Cmdline: "quiet etcd.platform=" + p, Labels: both, DMI: map[string]string{"sys_vendor": "QEMU"}})
			if err != nil || got != p {
				t.Fatalf("Choose = %q, %v; want %q", got, err, p)
			}
			labels := MediaLabels(p)
			switch p {
			case "nocloud":
				if !slices.Equal(labels, []string{"cidata", "CIDATA"}) {
					t.Errorf("labels %q", labels)
				}
			case "openstack":
				if !slices.Equal(labels, []string{"config-2", "CONFIG-2"}) {
					t.Errorf("labels %q", labels)
				}
			default:
				if len(labels) != 0 {
					t.Errorf("%s reads media labelled %q: only nocloud and openstack read media", p, labels)
				}
			}
		})
	}
}

// A directory standing in for a medium (inspect --dir) is read as a mounted medium is:
// confined to it and within the limits.
func TestFetchDirConfined(t *testing.T) {
	for _, tc := range []struct {
		name, platform, file string
		link                 string // the file is a symlink to this, else it is oversized
		want                 string
	}{
		{"nocloud user-data to /etc/passwd", "nocloud", "user-data", "/etc/passwd", "user-data is a symlink to /etc/passwd, which leaves the medium: refused"},
		{"nocloud meta-data too big", "nocloud", "meta-data", "", "meta-data is 1048577 bytes, over the limit of 1048576 (1 MiB)"},
		{"openstack user_data to /etc/passwd", "openstack", "openstack/latest/user_data", "/etc/passwd", "openstack/latest/user_data is a symlink to /etc/passwd, which leaves the medium"},
		{"openstack user_data too big", "openstack", "openstack/latest/user_data", "", "openstack/latest/user_data is 16777217 bytes, over the limit of 16777216 (16 MiB)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, filepath.Join(dir, "meta-data"), "instance-id: i-1\n")
			write(t, filepath.Join(dir, "openstack/latest/meta_data.json"), `{"uuid": "u-1"}`)
			p := filepath.Join(dir, tc.file)
			os.Remove(p)
			if tc.link != "" {
				if err := os.Symlink(tc.link, p); err != nil {
					t.Fatal(err)
				}
			} else {
				limit := 1 << 20
				if strings.HasSuffix(tc.file, "user_data") {
					limit = 16 << 20
				}
				write(t, p, strings.Repeat("x", limit+1))
			}
			_, err := Env{Dir: dir}.Fetch(context.Background(), tc.platform, Facts{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

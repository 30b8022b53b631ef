package image

import (
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/etcd-appliance/appliance/overlays"
)

// The overlay's timers start what the boot leaves for later (the agent, the coldplug's second
// part, timesyncd) when etcd is not up soon; one that is not enabled never fires, and the unit
// would wait for an etcd that may not come (overlays' tests check each has an [Install] section).
func TestOverlayTimersEnabled(t *testing.T) {
	timers, err := fs.Glob(overlays.RootFS(), "usr/lib/systemd/system/*.timer")
	if err != nil || len(timers) == 0 {
		t.Fatalf("no timers in the overlay (%v)", err)
	}
	for _, timer := range timers {
		if name := path.Base(timer); !slices.Contains(enabledUnits, name) {
			t.Errorf("%s is in the overlay but not in enabledUnits", name)
		}
	}
}

// dropLine takes out exactly one line; a rule file without the line, or with it twice, fails
// the build rather than shipping udev rules nobody looked at.
func TestDropLine(t *testing.T) {
	const rules = "# comment\nA==\"1\", RUN+=\"/x --prefix=/net/\"\nB==\"2\"\n"
	for _, tc := range []struct {
		name, in, substr, want, wantErr string
	}{
		{"one line", rules, `RUN+="/x --prefix=/net/`, "# comment\nB==\"2\"\n", ""},
		{"last line without newline", "a\nb", "b", "a\n", ""},
		{"absent", rules, "RUN+=\"/y", "", "0 lines contain"},
		{"twice", rules + rules, `RUN+="/x`, "", "2 lines contain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "99-x.rules")
			if err := os.WriteFile(p, []byte(tc.in), 0o644); err != nil {
				t.Fatal(err)
			}
			err := dropLine(p, tc.substr)
			got, _ := os.ReadFile(p)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if string(got) != tc.in {
					t.Errorf("file changed on error: %q", got)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// With 99-systemd.rules' per-interface systemd-sysctl dropped, a sysctl.d key naming an
// interface (or all by a glob) would silently never apply: the build refuses it.
func TestCheckInterfaceSysctl(t *testing.T) {
	for _, tc := range []struct {
		name, conf, wantErr string
	}{
		{"the image's own", "vm.swappiness = 0\nkernel.panic = 10\n", ""},
		{"all and default", "net.ipv4.conf.all.rp_filter = 2\nnet.ipv6.conf.default.accept_ra=0\n-net.ipv4.neigh.default.gc_thresh1 = 1\n", ""},
		{"global net keys", "net.core.somaxconn = 4096\nnet.ipv4.tcp_syncookies = 1\n", ""},
		{"comments", "# net.ipv4.conf.eth0.rp_filter = 1\n; net.ipv4.conf.*.rp_filter = 1\n", ""},
		{"a glob", "net.ipv4.conf.*.rp_filter = 2\n", `"net.ipv4.conf.*.rp_filter" names network interfaces`},
		{"an interface, slashes", "-net/ipv6/conf/eth0/accept_ra = 0\n", `"net/ipv6/conf/eth0/accept_ra"`},
		{"neigh", "net.ipv4.neigh.eth0.gc_stale_time=60\n", "names network interfaces"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			d := filepath.Join(dir, "usr/lib/sysctl.d")
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(d, "50-x.conf"), []byte(tc.conf), 0o644); err != nil {
				t.Fatal(err)
			}
			// Debian's dangling link when procps is not installed
			if err := os.MkdirAll(filepath.Join(dir, "etc/sysctl.d"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("../sysctl.conf", filepath.Join(dir, "etc/sysctl.d/99-sysctl.conf")); err != nil {
				t.Fatal(err)
			}
			err := checkInterfaceSysctl(dir)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

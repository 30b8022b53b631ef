package nodeconfig

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcd-appliance/appliance/config"
)

func ptr[T any](v T) *T { return &v }

func gz(t *testing.T, s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func sha512Hex(s string) string {
	sum := sha512.Sum512([]byte(s))
	return "sha512-" + hex.EncodeToString(sum[:])
}

func TestIgnitionPlanAndApply(t *testing.T) {
	remote := map[string][]byte{
		"https://files.example/motd.gz": nil, // set below
		"https://files.example/tool":    []byte("#!/bin/sh\necho tool\n"),
	}
	remote["https://files.example/motd.gz"] = gz(t, "hello from remote\n")
	fetch := func(_ context.Context, url string) ([]byte, error) {
		if b, ok := remote[url]; ok {
			return b, nil
		}
		return nil, errors.New("404 Not Found")
	}
	unit := "[Unit]\nDescription=x\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n"
	x := &config.IgnitionExtras{
		Directories: []config.IgnitionDirectory{{Path: "/var/lib/app", Mode: 0o750}},
		Files: []config.IgnitionFile{
			{Path: "/etc/motd", Mode: 0o644, Overwrite: true, Contents: config.IgnitionContent{Remote: &config.IgnitionRemote{
				URL: "https://files.example/motd.gz", Compression: "gzip", Hash: sha512Hex("hello from remote\n")}}},
			{Path: "/var/lib/app/tool", Mode: 0o755, Contents: config.IgnitionContent{Remote: &config.IgnitionRemote{URL: "https://files.example/tool"}}},
			{Path: "/etc/app.conf", Mode: 0o600, Contents: config.IgnitionContent{Inline: []byte("a=1\n")},
				Append: []config.IgnitionContent{{Inline: []byte("b=2\n")}}},
		},
		Links: []config.IgnitionLink{{Path: "/etc/app-link", Target: "/etc/app.conf"}},
		Units: []config.IgnitionUnit{
			{Name: "app.service", Contents: ptr(unit), Enabled: ptr(true),
				Dropins: []config.IgnitionDropin{{Name: "10-env.conf", Contents: ptr("[Service]\nEnvironment=A=1\n")}}},
			{Name: "systemd-timesyncd.service", Mask: true},
		},
	}
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "etc/motd"), []byte("image motd\n"), 0o644)
	p, problems := planIgnition(context.Background(), x, root, fetch)
	if len(problems) > 0 {
		t.Fatalf("problems: %v", problems)
	}
	if err := p.apply(root); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"etc/motd":                       "hello from remote\n",
		"var/lib/app/tool":               "#!/bin/sh\necho tool\n",
		"etc/app.conf":                   "a=1\nb=2\n",
		"etc/systemd/system/app.service": unit,
		"etc/systemd/system/app.service.d/10-env.conf": "[Service]\nEnvironment=A=1\n",
	} {
		b, err := os.ReadFile(filepath.Join(root, path))
		if err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", path, b, err, want)
		}
	}
	if fi, _ := os.Stat(filepath.Join(root, "etc/app.conf")); fi == nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("etc/app.conf mode %v, want 0600", fi)
	}
	for link, target := range map[string]string{
		"etc/systemd/system/multi-user.target.wants/app.service": "/etc/systemd/system/app.service",
		"etc/systemd/system/systemd-timesyncd.service":           "/dev/null",
		"etc/app-link": "/etc/app.conf",
	} {
		if got, err := os.Readlink(filepath.Join(root, link)); err != nil || got != target {
			t.Errorf("%s -> %q, %v; want %s", link, got, err, target)
		}
	}
	if strings.Join(p.start, ",") != "app.service" {
		t.Errorf("units to start %v, want app.service", p.start)
	}
}

func TestIgnitionPlanRefuses(t *testing.T) {
	fetch := func(_ context.Context, url string) ([]byte, error) {
		if url == "https://files.example/x" {
			return []byte("tampered"), nil
		}
		return nil, fmt.Errorf("GET %s: connection refused", url)
	}
	for _, tc := range []struct {
		name string
		x    config.IgnitionExtras
		want string
	}{
		{"wrong hash", config.IgnitionExtras{Files: []config.IgnitionFile{{Path: "/etc/x", Contents: config.IgnitionContent{Remote: &config.IgnitionRemote{
			URL: "https://files.example/x", Hash: sha512Hex("original")}}}}}, "ignition file /etc/x: https://files.example/x: contents do not match verification.hash"},
		{"unreachable", config.IgnitionExtras{Files: []config.IgnitionFile{{Path: "/etc/y", Contents: config.IgnitionContent{Remote: &config.IgnitionRemote{
			URL: "https://files.example/y"}}}}}, "ignition file /etc/y: GET https://files.example/y: connection refused"},
		{"existing file without overwrite", config.IgnitionExtras{Files: []config.IgnitionFile{{Path: "/etc/motd", Contents: config.IgnitionContent{Inline: []byte("x")}}}},
			"ignition file /etc/motd: it exists in the image and overwrite is not set"},
		{"existing link target", config.IgnitionExtras{Links: []config.IgnitionLink{{Path: "/etc/motd", Target: "/etc/other"}}},
			"ignition link /etc/motd: something else exists there"},
		{"enabled unit not in the image", config.IgnitionExtras{Units: []config.IgnitionUnit{{Name: "nothere.service", Enabled: ptr(true)}}},
			"ignition unit nothere.service: enabled, but it has no contents and is not in the image"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			os.MkdirAll(filepath.Join(root, "etc"), 0o755)
			os.WriteFile(filepath.Join(root, "etc/motd"), []byte("image motd\n"), 0o644)
			_, problems := planIgnition(context.Background(), &tc.x, root, fetch)
			if len(problems) != 1 || !strings.Contains(problems[0], tc.want) {
				t.Errorf("problems %q, want one containing %q", problems, tc.want)
			}
			if b, _ := os.ReadFile(filepath.Join(root, "etc/motd")); string(b) != "image motd\n" {
				t.Error("planning changed a file")
			}
		})
	}
}

func TestSysctlFiles(t *testing.T) {
	for _, tc := range []struct {
		files []string
		want  string
	}{
		{nil, ""},
		{[]string{"/etc/motd", "/etc/sysctl.d/README", "/etc/sysctl.d/sub/x.conf", "/etc/sysctl.confx"}, ""},
		// by file name, as systemd-sysctl reads sysctl.d; /etc/sysctl.conf as its link 99-sysctl.conf
		{[]string{"/etc/sysctl.d/99-z.conf", "/etc/sysctl.d/90-net.conf", "/etc/hostname", "/etc/sysctl.conf", "/etc/sysctl.d/10-vm.conf"},
			"/etc/sysctl.d/10-vm.conf,/etc/sysctl.d/90-net.conf,/etc/sysctl.conf,/etc/sysctl.d/99-z.conf"},
	} {
		if got := strings.Join(sysctlFiles(tc.files), ","); got != tc.want {
			t.Errorf("sysctlFiles(%q) = %q, want %q", tc.files, got, tc.want)
		}
	}
}

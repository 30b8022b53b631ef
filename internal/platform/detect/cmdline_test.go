package detect

import (
	"slices"
	"testing"
)

func TestArg(t *testing.T) {
	for _, tc := range []struct {
		name, cmdline, key string
		want               string
		wantOK             bool
	}{
		{"simple", "console=ttyS0 etcd.platform=aws ro", "etcd.platform", "aws", true},
		{"absent", "console=ttyS0 ro", "etcd.platform", "", false},
		{"prefix is not the key", "etcd.platformx=aws xetcd.platform=gcp", "etcd.platform", "", false},
		{"bare key", "etcd.config.url quiet", "etcd.config.url", "", true},
		{"empty value", "etcd.config.url= quiet", "etcd.config.url", "", true},
		{"value with =", "etcd.config.url=https://h/c.yaml?checksum=sha256:ab&x=1", "etcd.config.url", "https://h/c.yaml?checksum=sha256:ab&x=1", true},
		{"quoted value", `root=/dev/vda2 etcd.config.url="file:///boot/my config.yaml" quiet`, "etcd.config.url", "file:///boot/my config.yaml", true},
		{"quoted whole argument", `"etcd.platform=qemu" quiet`, "etcd.platform", "qemu", true},
		{"last wins", "etcd.platform=aws etcd.platform=gcp", "etcd.platform", "gcp", true},
		{"tabs and newline", "BOOT_IMAGE=/vmlinuz\tetcd.platform=hetzner\n", "etcd.platform", "hetzner", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Arg(tc.cmdline, tc.key)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("Arg(%q, %q) = %q, %v; want %q, %v", tc.cmdline, tc.key, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestWords(t *testing.T) {
	got := words(`  a "b c"  d="e f" "" g  `)
	want := []string{"a", "b c", "d=e f", "", "g"}
	if !slices.Equal(got, want) {
		t.Errorf("words = %q, want %q", got, want)
	}
}

package node

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/etcd-appliance/appliance/internal/nodeconfig"
)

// TestSysctlStep: Ignition's sysctl files are applied by the boot (systemd-sysctl.service ran
// before they were written), and a setting the kernel refuses is a warning that does not stop
// the boot.
func TestSysctlStep(t *testing.T) {
	for _, tc := range []struct {
		name     string
		files    []string
		err      error
		applied  string // the files of the one ApplySysctl call, or "" for none
		wantLine string
	}{
		{name: "no sysctl files", files: []string{"/etc/motd"}},
		{name: "applied", files: []string{"/etc/motd", "/etc/sysctl.d/90-net.conf"}, applied: "/etc/sysctl.d/90-net.conf",
			wantLine: "etcd-appliance: sysctl: applied /etc/sysctl.d/90-net.conf\n"},
		{name: "refused by the kernel", files: []string{"/etc/sysctl.d/90-net.conf"}, applied: "/etc/sysctl.d/90-net.conf",
			err:      errors.New(`systemd-sysctl /etc/sysctl.d/90-net.conf: exit status 1: Couldn't write 'x' to 'net/ipv4/nope'`),
			wantLine: "etcd-appliance: warning: sysctl: systemd-sysctl /etc/sysctl.d/90-net.conf: exit status 1: Couldn't write"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := newConsole()
			m := &fakeMachine{t: t, sysctlErr: tc.err}
			b := &boot{Node: &Node{Console: out}, m: m, r: &nodeconfig.Resolved{Files: tc.files}}
			if err := b.sysctl(context.Background()); err != nil {
				t.Fatalf("sysctl step: %v, want the boot to go on", err)
			}
			if got := fmt.Sprint(m.sysctl); (tc.applied == "" && len(m.sysctl) != 0) || (tc.applied != "" && got != "[["+tc.applied+"]]") {
				t.Errorf("ApplySysctl calls %s, want %q", got, tc.applied)
			}
			if tc.wantLine == "" && out.String() != "" {
				t.Errorf("console %q, want nothing", out.String())
			}
			if !strings.Contains(out.String(), tc.wantLine) {
				t.Errorf("console %q, want %q", out.String(), tc.wantLine)
			}
		})
	}
}

package node

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/etcd-appliance/appliance/internal/ignitiontest"
	"github.com/etcd-appliance/appliance/internal/nodeconfig"
)

// TestSysctlStep: Ignition's sysctl files are applied by the boot (systemd-sysctl.service ran
// before they were written); what systemd-sysctl reports is a warning, and neither a skipped
// key nor a refused value stops the boot.
func TestSysctlStep(t *testing.T) {
	unknown := "Couldn't write '1' to 'net/ipv4/nope', ignoring: No such file or directory"
	for _, tc := range []struct {
		name    string
		files   []string
		notes   []string
		err     error
		applied string   // the files of the one ApplySysctl call, or "" for none
		want    []string // console lines, in order
	}{
		{name: "no sysctl files", files: []string{"/etc/motd"}},
		{name: "applied", files: []string{"/etc/motd", "/etc/sysctl.d/90-net.conf"}, applied: "/etc/sysctl.d/90-net.conf",
			want: []string{"etcd-appliance: sysctl: applied /etc/sysctl.d/90-net.conf"}},
		{name: "a key this kernel lacks", files: []string{"/etc/sysctl.d/90-net.conf"}, applied: "/etc/sysctl.d/90-net.conf",
			notes: []string{unknown},
			want:  []string{"etcd-appliance: warning: sysctl: " + unknown, "etcd-appliance: sysctl: applied /etc/sysctl.d/90-net.conf"}},
		{name: "a value the kernel refuses", files: []string{"/etc/sysctl.d/90-net.conf"}, applied: "/etc/sysctl.d/90-net.conf",
			notes: []string{"Couldn't write 'x' to 'vm/swappiness': Invalid argument"},
			err:   errors.New("systemd-sysctl /etc/sysctl.d/90-net.conf: exit status 1"),
			want: []string{"etcd-appliance: warning: sysctl: Couldn't write 'x' to 'vm/swappiness': Invalid argument",
				"etcd-appliance: warning: sysctl: systemd-sysctl /etc/sysctl.d/90-net.conf: exit status 1 (see the lines above)"}},
		{name: "systemd-sysctl did not run", files: []string{"/etc/sysctl.d/90-net.conf"}, applied: "/etc/sysctl.d/90-net.conf",
			err:  errors.New("systemd-sysctl /etc/sysctl.d/90-net.conf: signal: killed"),
			want: []string{"etcd-appliance: warning: sysctl: /etc/sysctl.d/90-net.conf not applied: systemd-sysctl /etc/sysctl.d/90-net.conf: signal: killed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := newConsole()
			m := &fakeMachine{t: t, sysctlNotes: tc.notes, sysctlErr: tc.err}
			b := &boot{Node: &Node{Console: out}, m: m, r: &nodeconfig.Resolved{Files: tc.files}}
			if err := b.sysctl(context.Background()); err != nil {
				t.Fatalf("sysctl step: %v, want the boot to go on", err)
			}
			if got := fmt.Sprint(m.sysctl); (tc.applied == "" && len(m.sysctl) != 0) || (tc.applied != "" && got != "[["+tc.applied+"]]") {
				t.Errorf("ApplySysctl calls %s, want %q", got, tc.applied)
			}
			want := ""
			for _, l := range tc.want {
				want += l + "\n"
			}
			if out.String() != want {
				t.Errorf("console:\n%s\nwant:\n%s", out, want)
			}
			if strings.Contains(out.String(), "sysctl: applied") && tc.err != nil {
				t.Error("a failed systemd-sysctl reported as applied")
			}
		})
	}
}

// TestBootAppliesIgnitionSysctl: a boot whose Ignition config writes sysctl files applies them
// once, in file-name order, after the packet filter (whose modules own the conntrack keys).
func TestBootAppliesIgnitionSysctl(t *testing.T) {
	m := &fakeMachine{}
	ign := ignitiontest.Config(t, "version: 1\n", map[string]string{
		"/etc/sysctl.d/90-b.conf": "net.core.somaxconn = 4096\n",
		"/etc/motd":               "hello\n",
		"/etc/sysctl.d/10-a.conf": "vm.swappiness = 1\n",
	})
	n, console := testNode(t, ign, t.TempDir(), m)
	if err := n.Boot(context.Background()); err != nil {
		t.Fatalf("boot: %v\n%s", err, console)
	}
	if got := fmt.Sprint(m.sysctl); got != "[[/etc/sysctl.d/10-a.conf /etc/sysctl.d/90-b.conf]]" {
		t.Errorf("ApplySysctl calls %s, want one with both files in name order", got)
	}
	if fmt.Sprint(m.sysctlFilters) != "[1]" {
		t.Errorf("packet filters installed before ApplySysctl: %v, want [1]", m.sysctlFilters)
	}
	if !strings.Contains(console.String(), "etcd-appliance: sysctl: applied /etc/sysctl.d/10-a.conf, /etc/sysctl.d/90-b.conf\n") {
		t.Errorf("console lacks the sysctl line:\n%s", console)
	}
}

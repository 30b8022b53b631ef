package overlays

import (
	"io/fs"
	"slices"
	"strings"
	"testing"
)

// The coldplug's two parts must split udev's devices between them: what the first replays
// (subsystems matched) is what the second leaves out (subsystems not matched), or a device
// would be replayed twice or never.
func TestColdplugParts(t *testing.T) {
	subsystems := func(file, flag string) []string {
		b, err := fs.ReadFile(RootFS(), file)
		if err != nil {
			t.Fatal(err)
		}
		var trigger []string
		lines := strings.Split(string(b), "\n")
		if flag == "--subsystem-match" && !slices.Contains(lines, "ExecStart=") {
			// without the reset, Debian's own full coldplug would run first, as before
			t.Errorf("%s does not reset Debian's ExecStart= before its own", file)
		}
		for _, line := range lines {
			if strings.HasPrefix(line, "ExecStart=-udevadm trigger ") {
				if trigger != nil {
					t.Fatalf("%s: more than one udevadm trigger", file)
				}
				trigger = strings.Fields(line)
			}
		}
		var got []string
		for _, f := range trigger {
			if s, ok := strings.CutPrefix(f, flag+"="); ok {
				got = append(got, s)
			}
		}
		if len(got) == 0 {
			t.Fatalf("%s: no %s in %q", file, flag, trigger)
		}
		slices.Sort(got)
		return got
	}
	first := subsystems("usr/lib/systemd/system/systemd-udev-trigger.service.d/appliance.conf", "--subsystem-match")
	late := subsystems("usr/lib/systemd/system/udev-trigger-late.service", "--subsystem-nomatch")
	if !slices.Equal(first, late) {
		t.Errorf("the coldplug's first part replays %q, its second leaves out %q", first, late)
	}
	// the buses that carry disks and NICs on every platform (platform: arm64's virtio-mmio, and
	// Hyper-V's VMBus driver, found through ACPI's platform device; vio: ppc64le's pseries),
	// SCSI (disk and CD-ROM drivers), and the disks and interfaces themselves
	for _, need := range []string{"pci", "virtio", "vmbus", "xen", "vio", "platform", "scsi", "net", "block"} {
		if !slices.Contains(first, need) {
			t.Errorf("the coldplug's first part leaves out %s: firstboot would look for disks, or networkd for links, before their drivers load", need)
		}
	}
}

// unitValues are the values of key= under section in a unit file of the overlay, in order.
func unitValues(t *testing.T, file, section, key string) []string {
	t.Helper()
	b, err := fs.ReadFile(RootFS(), file)
	if err != nil {
		t.Fatal(err)
	}
	var values []string
	cur := ""
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "[") {
			cur = line
		}
		if v, ok := strings.CutPrefix(line, key+"="); ok {
			if cur != section {
				t.Errorf("%s: %s= under %q, where systemd ignores it; it belongs under %s", file, key, cur, section)
			}
			values = append(values, v)
		}
	}
	return values
}

// timesyncd must stop before networkd and resolved: stopped beside them, it lost DHCP's NTP
// servers as networkd dropped the lease, began connecting again and held the power-off ~5 s.
// Stop order is the reverse of start order, so After= is what says it.
func TestTimesyncdStopsFirst(t *testing.T) {
	const file = "usr/lib/systemd/system/systemd-timesyncd.service.d/appliance.conf"
	after := strings.Fields(strings.Join(unitValues(t, file, "[Unit]", "After"), " "))
	for _, u := range []string{"systemd-networkd.service", "systemd-resolved.service"} {
		if !slices.Contains(after, u) {
			t.Errorf("%s: After= lacks %s (has %q)", file, u, after)
		}
	}
}

// What etcd.service starts once etcd is up, off the boot's path, must also start when etcd is
// not up soon (a member waiting for its peers, a node that left): each such unit has a timer
// of the overlay that starts it, with an [Install] section (enabling a unit without one only
// warns; image's tests check that the timers are enabled).
func TestStartedOnceEtcdIsUp(t *testing.T) {
	const dir = "usr/lib/systemd/system/"
	var started []string
	for _, v := range unitValues(t, dir+"etcd.service", "[Service]", "ExecStartPost") {
		if rest, ok := strings.CutPrefix(v, "-+/usr/bin/systemctl --no-block start "); ok {
			started = append(started, strings.Fields(rest)...)
		}
	}
	for _, need := range []string{"etcd-agent.service", "udev-trigger-late.service", "timesyncd-late.service"} {
		if !slices.Contains(started, need) {
			t.Errorf("etcd.service does not start %s once etcd is up (starts %q)", need, started)
		}
	}
	// timesyncd-late.service is that start, so that a masked timesyncd fails nothing
	if got := unitValues(t, dir+"timesyncd-late.service", "[Service]", "ExecStart"); !slices.Equal(got, []string{"-/usr/bin/systemctl --no-block start systemd-timesyncd.service"}) {
		t.Errorf("timesyncd-late.service runs %q, want it to start systemd-timesyncd.service, its failure ignored", got)
	}
	timers, err := fs.Glob(RootFS(), dir+"*.timer")
	if err != nil {
		t.Fatal(err)
	}
	var timed []string
	for _, timer := range timers {
		timed = append(timed, unitValues(t, timer, "[Timer]", "Unit")...)
		if len(unitValues(t, timer, "[Install]", "WantedBy")) == 0 {
			t.Errorf("%s: no [Install] WantedBy=: enabling it would do nothing", timer)
		}
	}
	for _, u := range started {
		if !slices.Contains(timed, u) {
			t.Errorf("no timer of the overlay starts %s: a node whose etcd is not up never would", u)
		}
	}
}

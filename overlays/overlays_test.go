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

// timesyncd must stop before networkd and resolved: stopped beside them, it lost DHCP's NTP
// servers as networkd dropped the lease, began connecting again and held the power-off ~5 s.
// Stop order is the reverse of start order, so After= is what says it.
func TestTimesyncdStopsFirst(t *testing.T) {
	const file = "usr/lib/systemd/system/systemd-timesyncd.service.d/appliance.conf"
	b, err := fs.ReadFile(RootFS(), file)
	if err != nil {
		t.Fatal(err)
	}
	var after []string
	section := ""
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "[") {
			section = line
		}
		if v, ok := strings.CutPrefix(line, "After="); ok {
			if section != "[Unit]" {
				t.Errorf("%s: After= under %q, where systemd ignores it; it belongs under [Unit]", file, section)
			}
			after = append(after, strings.Fields(v)...)
		}
	}
	for _, u := range []string{"systemd-networkd.service", "systemd-resolved.service"} {
		if !slices.Contains(after, u) {
			t.Errorf("%s: After= lacks %s (has %q)", file, u, after)
		}
	}
}

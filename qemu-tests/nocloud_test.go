package qemutests

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/etcd-appliance/appliance/arch"
	"github.com/etcd-appliance/appliance/internal/vm"
	"github.com/etcd-appliance/appliance/internal/vmnet"
)

// seedISO writes a NoCloud seed: an ISO 9660 volume labelled cidata holding files.
func seedISO(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(workDir(t), "seed")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	iso := dir + ".iso"
	if out, err := exec.Command("xorriso", "-as", "mkisofs", "-quiet", "-V", "cidata", "-J", "-R", "-o", iso, dir).CombinedOutput(); err != nil {
		t.Fatalf("xorriso: %v: %s", err, out)
	}
	return iso
}

// TestNoCloudSeed boots amd64 with a NoCloud seed ISO (found by its label, no etcd.platform)
// on a network with no DHCP server: the node is reachable only if it applied the seed's
// static network-config. A second node's seed has broken user-data.
func TestNoCloudSeed(t *testing.T) {
	if !archSelected("amd64") {
		t.Skip("amd64 not in QEMU_TESTS_ARCHES")
	}
	needNetns(t)
	c := &testCluster{t: t}
	c.loadKernel(t, loadImages(t))
	n, err := vmnet.New(vmnet.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c.net = n
	t.Cleanup(func() { n.Close() })
	ca := c.newCA(t, "qemu-tests nocloud CA")
	key := newSSHKey(t)

	userData := map[string]string{
		"seed-a": "version: 1\nnode: {name: seed-a}\nssh_authorized_keys: ['" + key.public + "']\n" + ca.tlsYAML(),
		"seed-b": "version: 1\nnode: {name: seed-b}\netcd: [not, a, mapping]\n",
	}
	for i, name := range []string{"seed-a", "seed-b"} {
		ip := netip.AddrFrom4([4]byte{10, 77, 0, byte(41 + i)})
		mac := fmt.Sprintf("52:54:00:77:02:%02x", i+1)
		c.addNode(name, ip, mac, filepath.Join(workDir(t), "data.qcow2"))
		iso := seedISO(t, map[string]string{
			"meta-data":      fmt.Sprintf("instance-id: %s-1\nlocal-hostname: %s\n", name, name),
			"user-data":      userData[name],
			"network-config": fmt.Sprintf("version: 2\nethernets:\n  nic0:\n    match: {macaddress: '%s'}\n    addresses: [%s/24]\n", mac, ip),
		})
		c.startWith(i, "-", vm.Disk{Path: iso, Format: "raw", ReadOnly: true})
	}
	ctx, cancel := context.WithTimeout(t.Context(), vmTimeout(t))
	defer cancel()

	t.Run("applied", func(t *testing.T) {
		v := c.nodes[0].v
		if _, err := v.WaitConsole(ctx, regexp.MustCompile(`etcd-appliance: platform nocloud \(.*cidata`)); err != nil {
			t.Fatal(err)
		}
		if _, err := v.WaitConsole(ctx, regexp.MustCompile(`etcd-appliance: configured: hostname=seed-a member=seed-a ssh_keys=1 `)); err != nil {
			t.Fatal(err)
		}
		waitBootedNamed(ctx, t, v, "seed-a")
		// no DHCP server exists: the address comes from the seed's network-config
		if err := c.waitHealthy(ctx, 0); err != nil {
			t.Fatal(err)
		}
		cli := c.client(0, ca.clientTLS(t, "qemu-tests"))
		putThenGet(ctx, t, cli, cli, "/nocloud/key", "from the seed")
		c.checkSSH(ctx, t, 0, key, "seed-a")
	})
	t.Run("refused", func(t *testing.T) {
		v := c.nodes[1].v
		waitRefused(ctx, t, v, regexp.MustCompile(`etcd-appliance: config error: user-data from nocloud: .*etcd`))
		c.checkNoEtcd(ctx, t, 1)
	})
}

// TestDataVolumeRefused boots a node whose only data disk holds somebody's ext4 filesystem:
// the node must refuse it, say why on the console, not start etcd, and leave the disk as it
// was, files and all.
func TestDataVolumeRefused(t *testing.T) {
	imgs := loadImages(t)
	forEachArch(t, []string{"amd64"}, func(t *testing.T, a arch.Arch) {
		img, format := imgs.need(t, a.Name, "qcow2", "raw")
		dir := workDir(t)
		disk := filepath.Join(dir, "scratch.raw")
		note := filepath.Join(dir, "note.txt")
		if err := os.WriteFile(note, []byte("precious\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(disk)
		if err == nil {
			err = f.Truncate(256 << 20)
			f.Close()
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, argv := range [][]string{
			{"mkfs.ext4", "-q", "-F", "-L", "scratch", disk},
			{"debugfs", "-w", "-R", "write " + note + " note.txt", disk},
		} {
			if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
				t.Fatalf("%v: %v: %s", argv, err, out)
			}
		}
		before := fileSHA256(t, disk)
		ctx, cancel := context.WithTimeout(t.Context(), vmTimeout(t))
		defer cancel()
		v := bootVM(t, vm.Config{
			Arch:  a,
			Disks: []vm.Disk{{Path: img, Format: format, ReadOnly: true}, {Path: disk, Format: "raw", Serial: dataDiskSerial}},
		})
		waitRefused(ctx, t, v, regexp.MustCompile(`etcd-appliance: data volume: .*/dev/vdb holds an ext4 filesystem labelled "scratch"`))
		v.Close()
		if fileSHA256(t, disk) != before {
			t.Error("the refused disk was changed")
		}
		out, err := exec.Command("debugfs", "-R", "cat note.txt", disk).Output()
		if err != nil || string(out) != "precious\n" {
			t.Errorf("the file on the refused disk reads %q (%v)", out, err)
		}
	})
}

// TestDataVolumeGrown: a data disk that grew while the node was off (a resized cloud volume)
// is grown in place at the next boot, and the member's data is still there.
func TestDataVolumeGrown(t *testing.T) {
	imgs := loadImages(t)
	forEachArch(t, []string{"amd64"}, func(t *testing.T, a arch.Arch) {
		img, format := imgs.need(t, a.Name, "qcow2", "raw")
		disk := filepath.Join(workDir(t), "data.qcow2")
		if err := vm.CreateBlankDisk(t.Context(), disk, dataDiskSize); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 2*vmTimeout(t))
		defer cancel()
		boot := func() *vm.VM {
			return bootVM(t, vm.Config{Arch: a, Disks: []vm.Disk{{Path: img, Format: format, ReadOnly: true}, {Path: disk, Format: "qcow2", Serial: dataDiskSerial}}})
		}
		v := boot()
		if _, err := v.WaitConsole(ctx, regexp.MustCompile(`etcd-appliance: data volume /dev/vdb .*formatted ext4`)); err != nil {
			t.Fatal(err)
		}
		waitBooted(ctx, t, v)
		v.Close()
		if out, err := exec.CommandContext(ctx, "qemu-img", "resize", "-q", disk, fmt.Sprint(2*dataDiskSize)).CombinedOutput(); err != nil {
			t.Fatalf("qemu-img resize: %v: %s", err, out)
		}
		v = boot()
		m, err := v.WaitConsole(ctx, regexp.MustCompile(`etcd-appliance: data volume /dev/vdb .*`))
		if err != nil {
			t.Fatal(err)
		}
		if regexp.MustCompile(`formatted`).MatchString(m[0]) || !regexp.MustCompile(`grown to fill its disk`).MatchString(m[0]) {
			t.Errorf("second boot: %q, want the volume kept and grown", m[0])
		}
		waitBooted(ctx, t, v)
	})
}

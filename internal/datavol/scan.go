package datavol

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Disk is a whole disk or one of its partitions, as the kernel reports it.
type Disk struct {
	Name       string // vdb, vdb1
	Path       string // /dev/vdb (under the root Scan was given)
	Size       int64  // bytes
	Serial     string // the virtio/SCSI/NVMe serial, if the kernel knows one
	ReadOnly   bool
	Removable  bool     // removable media (USB stick, CD drive); partitions inherit it
	Mounts     []string // where this device itself is mounted
	InUse      string   // why it must not be touched, e.g. "vda2 mounted at /"; "" when free
	Partitions []Disk   // for a whole disk, its partitions in kernel order
	Contents   Contents
}

// skipDisk reports names in /sys/block that are not disks a data volume could be on: virtual
// devices stacked on disks (dm, md) or backed by memory or files (loop, ram, zram).
func skipDisk(name string) bool {
	for _, prefix := range []string{"loop", "ram", "zram", "dm-", "md"} {
		if strings.HasPrefix(name, prefix) {
			return true
		}
	}
	return false
}

// Scan lists the machine's whole disks with their partitions, what they hold and whether they
// are in use. root is "/" on a node: Scan reads root/sys/block, root/proc/self/mountinfo,
// root/proc/swaps and the device nodes root/dev/<name>. A disk whose size is zero (an empty
// CD drive, an unconnected nbd) is left out. A device that cannot be read is listed with
// KindUnreadable contents rather than failing the scan: it is never chosen either way.
func Scan(root string) ([]Disk, error) {
	u, err := readUsers(root)
	if err != nil {
		return nil, err
	}
	blockDir := filepath.Join(root, "sys/block")
	entries, err := os.ReadDir(blockDir)
	if err != nil {
		return nil, fmt.Errorf("listing disks: %w", err)
	}
	var disks []Disk
	for _, e := range entries {
		if skipDisk(e.Name()) {
			continue
		}
		d, err := scanDisk(root, filepath.Join(blockDir, e.Name()), u)
		if err != nil {
			return nil, err
		}
		if d.Size > 0 {
			disks = append(disks, d)
		}
	}
	return disks, nil
}

func scanDisk(root, dir string, u users) (Disk, error) {
	d, err := scanDevice(root, dir, u)
	if err != nil || d.Size == 0 {
		return d, err
	}
	d.Removable, err = readFlag(filepath.Join(dir, "removable"), false)
	if err != nil {
		return Disk{}, err
	}
	// virtio-blk publishes the serial on the disk, SCSI and NVMe on the device below it.
	for _, f := range []string{"serial", "device/serial"} {
		if b, err := os.ReadFile(filepath.Join(dir, f)); err == nil {
			d.Serial = strings.TrimSpace(string(b))
			break
		}
	}
	d.Partitions, err = scanPartitions(root, dir, u)
	if err != nil {
		return Disk{}, err
	}
	var reasons []string
	if d.InUse != "" {
		reasons = append(reasons, d.InUse)
	}
	for i := range d.Partitions {
		p := &d.Partitions[i]
		p.ReadOnly = p.ReadOnly || d.ReadOnly
		p.Removable = d.Removable
		p.Serial = d.Serial
		if p.InUse != "" {
			reasons = append(reasons, p.Name+" "+p.InUse)
		}
	}
	d.InUse = strings.Join(reasons, "; ")
	return d, nil
}

// scanPartitions reads the partitions of a disk: its subdirectories with a "partition" file.
func scanPartitions(root, dir string, u users) ([]Disk, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("listing partitions: %w", err)
	}
	type numbered struct {
		n int
		d Disk
	}
	var parts []numbered
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "partition"))
		if err != nil {
			continue // not a partition (holders, queue, device, …)
		}
		n, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			return nil, fmt.Errorf("%s: partition number %q: %w", filepath.Join(dir, e.Name()), b, err)
		}
		p, err := scanDevice(root, filepath.Join(dir, e.Name()), u)
		if err != nil {
			return nil, err
		}
		parts = append(parts, numbered{n, p})
	}
	// By number, not name: vda10 comes after vda9.
	sort.Slice(parts, func(i, j int) bool { return parts[i].n < parts[j].n })
	var out []Disk
	for _, p := range parts {
		out = append(out, p.d)
	}
	return out, nil
}

// scanDevice reads what disks and partitions have in common: size, read-only flag, users and
// contents.
func scanDevice(root, dir string, u users) (Disk, error) {
	name := filepath.Base(dir)
	d := Disk{Name: name, Path: filepath.Join(root, "dev", name)}
	sectors, err := readInt(filepath.Join(dir, "size"))
	if err != nil {
		return Disk{}, err
	}
	d.Size = sectors * 512 // sysfs counts 512-byte sectors whatever the logical block size
	if d.Size == 0 {
		return d, nil
	}
	if d.ReadOnly, err = readFlag(filepath.Join(dir, "ro"), true); err != nil {
		return Disk{}, err
	}
	dev, err := os.ReadFile(filepath.Join(dir, "dev"))
	if err != nil {
		return Disk{}, fmt.Errorf("device number of %s: %w", name, err)
	}
	d.Mounts = u.mounts[strings.TrimSpace(string(dev))]
	holders, err := os.ReadDir(filepath.Join(dir, "holders"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Disk{}, fmt.Errorf("holders of %s: %w", name, err)
	}
	var reasons []string
	if len(d.Mounts) > 0 {
		reasons = append(reasons, mountedReason(d.Mounts))
	}
	if len(holders) > 0 {
		names := make([]string, len(holders))
		for i, h := range holders {
			names[i] = h.Name()
		}
		reasons = append(reasons, "has holders "+strings.Join(names, ", "))
	}
	if u.swaps[name] {
		reasons = append(reasons, "in use as swap")
	}
	d.InUse = strings.Join(reasons, "; ")
	if d.Contents, err = Probe(d.Path); err != nil {
		d.Contents = Contents{Kind: KindUnreadable, Error: err.Error()}
	}
	return d, nil
}

func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return n, nil
}

// readFlag reads a sysfs 0/1 attribute; an absent optional one is false.
func readFlag(path string, required bool) (bool, error) {
	n, err := readInt(path)
	if !required && errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return n != 0, err
}

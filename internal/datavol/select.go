package datavol

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Request is what the config says about the data volume.
type Request struct {
	Device string // data.device; "" selects the volume automatically
	// Wipe is data.wipe: Device may be erased and formatted unless it is already ours. Whether
	// an existing volume of ours is this node's is decided later, from its identity record.
	Wipe bool
	// Dir is the mount point. A volume of ours already mounted there (the agent ran before in
	// this boot) is chosen as it is instead of being reported as in use.
	Dir string
	// Resolve follows symlinks in Device (/dev/disk/by-id/…); nil means filepath.EvalSymlinks.
	Resolve func(string) (string, error)
}

// Choice is the device Select picked, and what to do with it.
type Choice struct {
	Disk    Disk   // the whole disk or the partition
	Path    string // its device node
	Format  bool   // make a new filesystem: the device is blank, or Wipe allows erasing it
	Wipe    bool   // data.wipe applies to this device: it may be erased, even if it is ours
	Mounted bool   // already mounted at Request.Dir
	Reason  string // why this device, for the boot log
}

// Select picks the data volume among disks (from Scan) by the rules in the package doc. It only
// decides; nothing is read or written.
func Select(disks []Disk, r Request) (Choice, error) {
	if r.Dir != "" {
		r.Dir = filepath.Clean(r.Dir)
	}
	if r.Device != "" {
		return selectDevice(disks, r)
	}
	return selectAuto(disks, r)
}

func selectDevice(disks []Disk, r Request) (Choice, error) {
	resolve := r.Resolve
	if resolve == nil {
		resolve = filepath.EvalSymlinks
	}
	path, err := resolve(r.Device)
	if err != nil {
		return Choice{}, fmt.Errorf("data.device %s: %w", r.Device, err)
	}
	d, ok := find(disks, path)
	if !ok {
		shown := r.Device
		if path != r.Device {
			shown += " (" + path + ")"
		}
		return Choice{}, fmt.Errorf("data.device %s is not a disk or partition of this machine; its disks are %s", shown, paths(disks))
	}
	ch := Choice{Disk: d, Path: d.Path, Wipe: r.Wipe, Reason: "data.device " + r.Device}
	switch {
	case d.Contents.Ours() && mountedOnlyAt(d, r.Dir):
		ch.Mounted = true
	case d.InUse != "":
		return Choice{}, fmt.Errorf("data.device %s: %s is in use (%s); refusing to use it as the data volume", r.Device, d.Path, d.InUse)
	case d.ReadOnly:
		return Choice{}, fmt.Errorf("data.device %s: %s is read-only", r.Device, d.Path)
	case d.Contents.Ours():
	case d.Contents.Blank, r.Wipe:
		ch.Format = true
	default:
		hint := ""
		if p, ok := oursAmong(d.Partitions); ok {
			hint = fmt.Sprintf(" Its partition %s is an etcd-data volume: set data.device to that to use it.", p.Path)
		}
		return Choice{}, fmt.Errorf("%s holds %s%s; refusing to format it. Set data.device to another disk, or set data.wipe: true to erase it.%s",
			d.Path, d.Contents, notOurs(d.Contents), hint)
	}
	return ch, nil
}

func selectAuto(disks []Disk, r Request) (Choice, error) {
	var ours []Disk
	for _, d := range disks {
		for _, x := range append([]Disk{d}, d.Partitions...) {
			if x.Contents.Ours() {
				ours = append(ours, x)
			}
		}
	}
	switch {
	case len(ours) > 1:
		return Choice{}, fmt.Errorf("%s are all labelled %s; set data.device to the one this node should use", paths(ours), Label)
	case len(ours) == 1:
		d := ours[0]
		ch := Choice{Disk: d, Path: d.Path, Reason: "labelled " + Label}
		switch {
		case mountedOnlyAt(d, r.Dir):
			ch.Mounted = true
		case d.InUse != "":
			return Choice{}, fmt.Errorf("%s is labelled %s but in use (%s); refusing to use it as the data volume", d.Path, Label, d.InUse)
		case d.ReadOnly:
			return Choice{}, fmt.Errorf("%s is labelled %s but read-only", d.Path, Label)
		}
		return ch, nil
	}
	var blank []Disk
	for _, d := range disks {
		if d.InUse == "" && !d.ReadOnly && !d.Removable && d.Contents.Blank {
			blank = append(blank, d)
		}
	}
	switch len(blank) {
	case 1:
		return Choice{Disk: blank[0], Path: blank[0].Path, Format: true, Reason: "the only blank disk besides the OS disk"}, nil
	case 0:
		if len(disks) == 0 {
			return Choice{}, fmt.Errorf("no data volume: this machine has no disks; attach a blank disk for the data volume")
		}
		seen := make([]string, len(disks))
		for i, d := range disks {
			seen[i] = describe(d)
		}
		return Choice{}, fmt.Errorf("no data volume: %s. Attach a blank disk, or set data.device (and data.wipe: true to erase what it holds)", strings.Join(seen, "; "))
	default:
		return Choice{}, fmt.Errorf("%s are all blank; set data.device to the one to format as the data volume", paths(blank))
	}
}

// describe says why a disk was not taken automatically.
func describe(d Disk) string {
	switch {
	case d.InUse != "":
		return fmt.Sprintf("%s is in use (%s)", d.Path, d.InUse)
	case d.ReadOnly:
		return fmt.Sprintf("%s is read-only and holds %s", d.Path, d.Contents)
	case d.Removable:
		return fmt.Sprintf("%s is removable media holding %s", d.Path, d.Contents)
	}
	return fmt.Sprintf("%s holds %s%s", d.Path, d.Contents, notOurs(d.Contents))
}

// notOurs explains why an ext filesystem is not taken as the data volume.
func notOurs(c Contents) string {
	switch {
	case c.Label == Label && c.Kind != KindExt4:
		return " (labelled " + Label + ", but not ext4)"
	case c.Kind == KindExt2 || c.Kind == KindExt3 || c.Kind == KindExt4:
		return " (not " + Label + ")"
	}
	return ""
}

// mountedOnlyAt reports whether d's only use is being mounted at dir.
func mountedOnlyAt(d Disk, dir string) bool {
	return dir != "" && d.InUse == mountedReason([]string{dir})
}

func mountedReason(points []string) string { return "mounted at " + strings.Join(points, ", ") }

// find looks path up among the disks and their partitions.
func find(disks []Disk, path string) (Disk, bool) {
	for _, d := range disks {
		if d.Path == path {
			return d, true
		}
		for _, p := range d.Partitions {
			if p.Path == path {
				return p, true
			}
		}
	}
	return Disk{}, false
}

func oursAmong(parts []Disk) (Disk, bool) {
	for _, p := range parts {
		if p.Contents.Ours() {
			return p, true
		}
	}
	return Disk{}, false
}

func paths(disks []Disk) string {
	p := make([]string, len(disks))
	for i, d := range disks {
		p[i] = d.Path
	}
	return strings.Join(p, ", ")
}

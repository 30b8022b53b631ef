package image

import (
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
)

// Contents is what one arch's image is made of, in manifest.json, for `make bench`'s size
// table: the compressed root filesystem and the boot files, and the root tree's biggest
// contributors uncompressed.
type Contents struct {
	Arch   string `json:"arch"`
	RootFS int64  `json:"rootfs"` // the squashfs
	// VerityTree is the dm-verity hash tree after the squashfs on the root partition.
	VerityTree int64 `json:"verity_tree"`
	Kernel     int64 `json:"kernel"` // the kernel image booted (also inside the UKI)
	Initrd     int64 `json:"initrd"`
	// Tree is the root tree's bytes (uncompressed) by contributor, biggest first.
	Tree []Part `json:"tree"`
}

// Part is one contributor to the root tree.
type Part struct {
	Name  string `json:"name"`
	Bytes int64  `json:"bytes"`
}

// contributor names the part of the image a root-tree path (relative, slash-separated)
// belongs to.
func contributor(rel string) string {
	base := filepath.Base(rel)
	switch {
	case strings.HasPrefix(rel, "usr/lib/modules/"):
		return "kernel modules"
	case rel == "usr/bin/etcd":
		return "etcd (also etcdctl, etcdutl; firstboot where linked in)"
	case rel == "usr/bin/firstboot":
		return "firstboot"
	case strings.HasPrefix(rel, "usr/lib/systemd/") || strings.HasPrefix(rel, "usr/bin/systemd") ||
		strings.HasPrefix(base, "libsystemd") || strings.HasPrefix(rel, "usr/lib/udev/") ||
		base == "systemctl" || base == "journalctl" || base == "udevadm" || base == "networkctl":
		return "systemd"
	case strings.HasPrefix(rel, "etc/ssl/"):
		return "CA certificates"
	case strings.HasPrefix(rel, "usr/lib/firmware/"):
		return "firmware"
	case strings.HasPrefix(rel, "usr/share/"):
		return "usr/share"
	case strings.Contains(rel, "/lib/") && strings.Contains(base, ".so"):
		return "other libraries"
	}
	return "everything else"
}

// treeContributors sums the regular files under root by contributor, biggest first.
func treeContributors(root string) ([]Part, error) {
	sums := map[string]int64{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		sums[contributor(filepath.ToSlash(rel))] += info.Size()
		return nil
	})
	if err != nil {
		return nil, err
	}
	var parts []Part
	for n, b := range sums {
		parts = append(parts, Part{n, b})
	}
	slices.SortFunc(parts, func(a, b Part) int {
		if a.Bytes != b.Bytes {
			return int(b.Bytes - a.Bytes)
		}
		return strings.Compare(a.Name, b.Name)
	})
	return parts, nil
}

// Package qemu reads the config a qemu guest is given the way Ignition expects it, so the
// tooling people already use for Fedora CoreOS and Flatcar works unchanged: the fw_cfg item
// opt/com.coreos/config where the machine has fw_cfg (amd64 q35, arm64 virt), else a virtio-blk
// disk with serial "ignition" (ppc64le pseries). Which one an arch uses is arch.Arch.QEMUConfig.
package qemu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/etcd-appliance/appliance/arch"
	"github.com/etcd-appliance/appliance/internal/platform"
)

// Name is the platform's name on the kernel command line (etcd.platform=qemu).
const Name = "qemu"

const (
	// FwCfgName is the fw_cfg item Ignition reads (qemu -fw_cfg name=opt/com.coreos/config,file=…).
	FwCfgName = "opt/com.coreos/config"
	// DiskSerial is the serial of the virtio-blk disk holding the config where there is no
	// fw_cfg (qemu -device virtio-blk-pci,…,serial=ignition); udev links it as
	// /dev/disk/by-id/virtio-ignition.
	DiskSerial = "ignition"

	fwCfgDir = "firmware/qemu_fw_cfg" // under SysfsRoot
	maxBytes = 16 << 20               // a config larger than this is a mistake
)

// Source reads the config of a qemu guest. Zero roots mean the real /sys and /dev.
type Source struct {
	Arch      arch.Arch
	SysfsRoot string // default "/sys"
	DevRoot   string // default "/dev"
}

// Fetch returns the guest's config as UserData; no config item (or no config disk) is nil
// UserData, not an error. qemu publishes no hostname or instance ID.
func (s Source) Fetch(ctx context.Context) (*platform.Metadata, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var (
		data []byte
		err  error
	)
	switch s.Arch.QEMUConfig {
	case arch.FwCfg:
		data, err = s.readFwCfg()
	case arch.BlockDev:
		data, err = s.readBlockDev()
	default:
		return nil, fmt.Errorf("qemu: arch %q has no QEMUConfig in the arch table (want %q or %q)", s.Arch.Name, arch.FwCfg, arch.BlockDev)
	}
	if err != nil {
		return nil, fmt.Errorf("qemu: %w", err)
	}
	return &platform.Metadata{Platform: Name, UserData: data}, nil
}

// FwCfgPath is where the kernel's qemu_fw_cfg module exposes the config item.
func (s Source) FwCfgPath() string {
	return filepath.Join(orDefault(s.SysfsRoot, "/sys"), fwCfgDir, "by_name", FwCfgName, "raw")
}

// DiskPath finds the config disk by its virtio serial in sysfs, as the kernel reports it
// (/sys/block/<name>/serial), rather than by udev's /dev/disk/by-id link: firstboot runs early
// and must not depend on udev having processed the disk yet. "" means no such disk.
func (s Source) DiskPath() (string, error) {
	sys := orDefault(s.SysfsRoot, "/sys")
	disks, err := os.ReadDir(filepath.Join(sys, "block"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("listing block devices: %w", err)
	}
	for _, d := range disks {
		serial, err := os.ReadFile(filepath.Join(sys, "block", d.Name(), "serial"))
		if err == nil && strings.TrimSpace(string(serial)) == DiskSerial {
			return filepath.Join(orDefault(s.DevRoot, "/dev"), d.Name()), nil
		}
	}
	return "", nil
}

func (s Source) readFwCfg() ([]byte, error) {
	dir := filepath.Join(orDefault(s.SysfsRoot, "/sys"), fwCfgDir)
	if _, err := os.Stat(dir); err != nil {
		// No fw_cfg interface at all: either not qemu, or the module is missing. Saying
		// "no user-data" here would silently form a single-member cluster.
		return nil, fmt.Errorf("no fw_cfg interface at %s: the image must load the qemu_fw_cfg kernel module before reading the config (%w)", dir, err)
	}
	data, err := readLimited(s.FwCfgPath(), false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fw_cfg item %s: %w", FwCfgName, err)
	}
	return data, nil
}

func (s Source) readBlockDev() ([]byte, error) {
	path, err := s.DiskPath()
	if err != nil || path == "" {
		return nil, err
	}
	data, err := readLimited(path, true)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("config disk (serial %q): %w", DiskSerial, err)
	}
	return TrimBlockConfig(data), nil
}

// TrimBlockConfig returns the config stored on a block device: its content up to the first NUL
// byte (the device is padded to whole blocks with NULs, as Ignition's tooling writes it).
// Nothing before the first NUL is nil.
func TrimBlockConfig(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	if len(b) == 0 {
		return nil
	}
	return b
}

// readLimited reads path up to maxBytes. With untilNUL it stops after the first NUL byte (a
// disk is read only as far as its config goes, not to its end).
func readLimited(path string, untilNUL bool) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []byte
	buf := make([]byte, 64<<10)
	for {
		n, err := f.Read(buf)
		chunk := buf[:n]
		if untilNUL {
			if i := bytes.IndexByte(chunk, 0); i >= 0 {
				return append(out, chunk[:i+1]...), nil
			}
		}
		out = append(out, chunk...)
		if len(out) > maxBytes {
			return nil, fmt.Errorf("%s: config larger than %d bytes", path, maxBytes)
		}
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

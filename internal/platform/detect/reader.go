package detect

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/etcd-appliance/appliance/internal/datavol"
)

// Reader gathers Facts from the running system. Zero roots mean the real /proc, /sys, /dev.
type Reader struct {
	ProcRoot string // default "/proc"
	SysRoot  string // default "/sys"
	DevRoot  string // default "/dev"
}

func (r Reader) proc() string { return orDefault(r.ProcRoot, "/proc") }
func (r Reader) sys() string  { return orDefault(r.SysRoot, "/sys") }
func (r Reader) dev() string  { return orDefault(r.DevRoot, "/dev") }

// Facts reads the kernel command line, the DMI strings, the filesystem labels udev published
// and the device-tree model. A file or directory that does not exist is left empty (no DMI on
// pseries, no labels without udev); any other read error is returned.
func (r Reader) Facts() (Facts, error) {
	var f Facts
	cmdline, err := readOptional(filepath.Join(r.proc(), "cmdline"))
	if err != nil {
		return Facts{}, err
	}
	f.Cmdline = strings.TrimSpace(cmdline)

	f.DMI = map[string]string{}
	for _, k := range DMIKeys() {
		v, err := readOptional(filepath.Join(r.sys(), "class", "dmi", "id", k))
		if err != nil {
			return Facts{}, err
		}
		if v = strings.TrimSpace(v); v != "" {
			f.DMI[k] = v
		}
	}

	if f.Labels, err = r.labels(); err != nil {
		return Facts{}, err
	}

	model, err := readOptional(filepath.Join(r.proc(), "device-tree", "model"))
	if err != nil {
		return Facts{}, err
	}
	f.DeviceTreeModel = strings.TrimRight(model, "\x00 \n")
	compat, err := readOptional(filepath.Join(r.proc(), "device-tree", "compatible"))
	if err != nil {
		return Facts{}, err
	}
	for _, c := range strings.Split(compat, "\x00") {
		if c = strings.TrimSpace(c); c != "" {
			f.DeviceTreeCompatible = append(f.DeviceTreeCompatible, c)
		}
	}
	return f, nil
}

// LabelDevice is the device holding the filesystem with this label: udev's link when udev has
// made one, else the device found by reading the disks themselves.
func (r Reader) LabelDevice(label string) string {
	link := filepath.Join(r.dev(), "disk", "by-label", escapeLabel(label))
	if _, err := os.Stat(link); err == nil {
		return link
	}
	if dev, ok := r.probeLabels()[label]; ok {
		return dev
	}
	return link
}

// labels lists the filesystem labels of seed and config-drive volumes: the names in
// /dev/disk/by-label (undoing udev's \xNN escapes) and the ISO 9660 and FAT labels read from
// the disks directly. firstboot runs early in boot, possibly before udev has made its links;
// the disks themselves are there, because the initramfs loaded their drivers.
func (r Reader) labels() ([]string, error) {
	var labels []string
	dir := filepath.Join(r.dev(), "disk", "by-label")
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("listing filesystem labels: %w", err)
	}
	for _, e := range entries {
		labels = append(labels, unescapeLabel(e.Name()))
	}
	for l := range r.probeLabels() {
		if !slices.Contains(labels, l) {
			labels = append(labels, l)
		}
	}
	slices.Sort(labels)
	return labels, nil
}

// probeLabels maps the labels of ISO 9660 and FAT filesystems on the machine's disks and
// partitions to their device nodes. Devices that cannot be read are skipped.
func (r Reader) probeLabels() map[string]string {
	found := map[string]string{}
	disks, err := os.ReadDir(filepath.Join(r.sys(), "block"))
	if err != nil {
		return found
	}
	probe := func(name string) {
		dev := filepath.Join(r.dev(), name)
		c, err := datavol.Probe(dev)
		if err == nil && c.Label != "" && (c.Kind == datavol.KindISO9660 || c.Kind == datavol.KindVFAT) {
			if _, dup := found[c.Label]; !dup {
				found[c.Label] = dev
			}
		}
	}
	for _, d := range disks {
		name := d.Name()
		if strings.HasPrefix(name, "loop") || strings.HasPrefix(name, "ram") || strings.HasPrefix(name, "zram") {
			continue
		}
		probe(name)
		parts, _ := os.ReadDir(filepath.Join(r.sys(), "block", name))
		for _, p := range parts {
			if _, err := os.Stat(filepath.Join(r.sys(), "block", name, p.Name(), "partition")); err == nil {
				probe(p.Name())
			}
		}
	}
	return found
}

func readOptional(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading platform facts: %w", err)
	}
	return string(b), nil
}

// unescapeLabel undoes udev's escaping of link names ("my\x20disk" → "my disk").
func unescapeLabel(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x' {
			if n, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// escapeLabel is udev's escaping of a label in a link name (encode_devnode_name): ASCII
// letters, digits and #+-.:=@_ stay, as do UTF-8 bytes; anything else becomes \xNN.
func escapeLabel(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		plain := c >= 0x80 || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || strings.IndexByte("#+-.:=@_", c) >= 0
		if !plain {
			fmt.Fprintf(&b, `\x%02x`, c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

package detect

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/etcd-appliance/appliance/arch"
	"github.com/etcd-appliance/appliance/internal/kcmdline"
	"github.com/etcd-appliance/appliance/internal/platform"
	"github.com/etcd-appliance/appliance/internal/platform/aws"
	"github.com/etcd-appliance/appliance/internal/platform/azure"
	"github.com/etcd-appliance/appliance/internal/platform/digitalocean"
	"github.com/etcd-appliance/appliance/internal/platform/gcp"
	"github.com/etcd-appliance/appliance/internal/platform/hetzner"
	"github.com/etcd-appliance/appliance/internal/platform/metal"
	"github.com/etcd-appliance/appliance/internal/platform/nocloud"
	"github.com/etcd-appliance/appliance/internal/platform/openstack"
	"github.com/etcd-appliance/appliance/internal/platform/qemu"
)

// Env is what fetching from a platform needs from the machine.
type Env struct {
	Arch   arch.Arch
	Reader Reader              // its roots are also where qemu and the volume mounts look
	HTTP   platform.HTTPGetter // for the metadata services
	// MountDir is where config drives and NoCloud seeds are mounted, one directory per label;
	// "": /run/etcd-appliance/media.
	MountDir string
	// Metal tunes the etcd.config.url= fetch (zero: production backoff).
	Metal metal.Options
	// Endpoint, if set, replaces the platform's metadata service address (and the
	// etcd.config.url= of metal): firstboot inspect --endpoint points at a test server or a
	// proxy with it.
	Endpoint string
	// Dir, if set, is a directory standing in for a NoCloud seed or an OpenStack config drive
	// (firstboot inspect --dir).
	Dir string
}

// base is the metadata service address to use: Endpoint when set, else def.
func (e Env) base(def string) string {
	if e.Endpoint != "" {
		return strings.TrimSuffix(e.Endpoint, "/")
	}
	return def
}

// DirPlatform names the platform whose layout a directory has: a NoCloud seed (meta-data) or
// an OpenStack config drive (openstack/latest), or "" if neither.
func DirPlatform(dir string) string {
	for name, marker := range map[string]string{nocloud.Name: "meta-data", openstack.Name: "openstack/latest"} {
		if _, err := os.Stat(filepath.Join(dir, marker)); err == nil {
			return name
		}
	}
	return ""
}

// MediaLabels are the filesystem labels of the attached media platform name reads: a NoCloud
// seed for nocloud, a config drive for openstack, none for the others. Fetch mounts nothing
// else, so with etcd.platform=aws a disk labelled cidata or config-2 (which anyone able to
// attach a volume could add) is never read; only detection without etcd.platform= looks at
// labels to choose (Choose).
func MediaLabels(name string) []string {
	switch name {
	case nocloud.Name:
		return nocloud.SeedLabels
	case openstack.Name:
		return openstack.ConfigDriveLabels
	}
	return nil
}

// Fetch reads the metadata of platform name ("" for none: empty Metadata). f supplies the
// kernel command line (etcd.config.url=) and the filesystem labels present.
func (e Env) Fetch(ctx context.Context, name string, f Facts) (*platform.Metadata, error) {
	switch name {
	case "":
		return &platform.Metadata{}, nil
	case qemu.Name:
		if e.Dir != "" || e.Endpoint != "" {
			return nil, fmt.Errorf("%s reads fw_cfg or its config disk: --dir and --endpoint do not apply", qemu.Name)
		}
		return qemu.Source{Arch: e.Arch, SysfsRoot: e.Reader.SysRoot, DevRoot: e.Reader.DevRoot}.Fetch(ctx)
	case metal.Name:
		u, ok := kcmdline.Get(f.Cmdline, metal.KernelArg)
		if e.Endpoint != "" {
			u, ok = e.Endpoint, true
		}
		if !ok {
			return nil, fmt.Errorf("%s=%s needs %s=<URL> on the kernel command line: add it, or choose another platform", PlatformArg, metal.Name, metal.KernelArg)
		}
		m := e.Metal
		if pin, ok := kcmdline.Get(f.Cmdline, metal.CAArg); ok {
			if _, err := metal.ParseCAPin(pin); err != nil { // also an empty one: not silently unpinned
				return nil, err
			}
			m.CASHA256 = pin
		}
		return m.Fetch(ctx, u)
	case aws.Name:
		if e.Endpoint != "" {
			return aws.Fetch(ctx, e.base(aws.DefaultBase), e.HTTP)
		}
		return aws.FetchAny(ctx, e.HTTP)
	case gcp.Name:
		return gcp.Fetch(ctx, e.base(gcp.DefaultBase), e.HTTP)
	case azure.Name:
		return azure.Fetch(ctx, e.base(azure.DefaultBase), e.HTTP)
	case digitalocean.Name:
		return digitalocean.Fetch(ctx, e.base(digitalocean.DefaultBase), e.HTTP)
	case hetzner.Name:
		return hetzner.Fetch(ctx, e.base(hetzner.DefaultBase), e.HTTP)
	case openstack.Name:
		if e.Dir != "" {
			return fromDir(e.Dir, openstack.FromConfigDrive)
		}
		if e.Endpoint != "" {
			return openstack.FromService(ctx, e.base(openstack.ServiceURL), e.HTTP)
		}
		if label, ok := firstLabel(f.Labels, MediaLabels(name)); ok {
			return e.fromVolume(label, openstack.FromConfigDrive)
		}
		return openstack.FromService(ctx, openstack.ServiceURL, e.HTTP)
	case nocloud.Name:
		if e.Dir != "" {
			return fromDir(e.Dir, nocloud.FromDir)
		}
		label, ok := firstLabel(f.Labels, MediaLabels(name))
		if !ok {
			return nil, fmt.Errorf("%s: no filesystem labelled %s: attach a NoCloud seed (ISO9660 or vfat with meta-data and user-data), or choose another platform",
				nocloud.Name, strings.Join(nocloud.SeedLabels, " or "))
		}
		return e.fromVolume(label, nocloud.FromDir)
	default:
		return nil, fmt.Errorf("unknown platform %q: use one of %s", name, strings.Join(Names(), ", "))
	}
}

// fromVolume mounts the filesystem labelled label read-only, parses it with read, unmounts it.
func (e Env) fromVolume(label string, read func(fs.FS) (*platform.Metadata, error)) (*platform.Metadata, error) {
	dev := e.Reader.LabelDevice(label)
	var md *platform.Metadata
	err := withVolume(dev, e.mountPoint(label), VolumeTypes(), func(fsys fs.FS) error {
		var err error
		md, err = read(fsys)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("volume labelled %s: %w", label, err)
	}
	return md, nil
}

// fromDir reads a directory standing in for a medium as the medium itself is read: confined
// to it.
func fromDir(dir string, read func(fs.FS) (*platform.Metadata, error)) (*platform.Metadata, error) {
	root, err := platform.OpenMedium(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	return read(root.FS())
}

// mountPoint is the directory a volume is mounted on.
func (e Env) mountPoint(label string) string {
	return filepath.Join(orDefault(e.MountDir, "/run/etcd-appliance/media"), escapeLabel(label))
}

package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/template"

	"github.com/etcd-appliance/appliance/arch"
	"github.com/etcd-appliance/appliance/overlays"
)

// rootModules are the kernel modules kept in the image (with their dependencies): what cloud
// and virtual machines need for disks, network and the filesystems the appliance uses. Those
// the arch's kernel lacks are skipped (arch.Arch.KernelPackage says which); requiredModules
// are not.
var rootModules = []string{
	"virtio_pci", "virtio_mmio", "virtio_blk", "virtio_scsi", "virtio_net", "virtio_console", "virtio_rng", "virtio_balloon",
	"nvme", "ahci", "sd_mod", "e1000", "e1000e",
	"ext4", "squashfs", "overlay", "dm-mod", "dm-verity", "vfat", "nls_cp437", "nls_iso8859-1",
	"autofs4", // systemd mounts automount points with it
	// the power button a cloud's stop presses (internal/powerbutton): ACPI's, gpio-keys on
	// arm64's device tree, and the input event devices they report through
	"button", "gpio_keys", "evdev",
	// ext4 metadata checksums get crc32c through the crypto API at mount time: a
	// soft dependency the module closure does not follow, and mount fails without it
	"crc32c_generic",
	// first-boot configuration sources: qemu's fw_cfg, NoCloud seeds and config drives on
	// CD-ROM (iso9660) or FAT
	"qemu_fw_cfg", "isofs", "sr_mod", "cdrom", "nls_utf8",
	// the packet filter (internal/firewall): nftables, connection tracking for "established",
	// and TCP resets for users other than root who try the metadata service
	"nf_tables", "nft_ct", "nft_reject_inet",
}

// initramfsModules are always loaded by the initramfs: the root and overlay filesystems,
// dm-verity, through which alone the root is opened, and the generic code of its hash
// (verityHash: a module in Debian's kernels, not built in as SHA-256 is).
var initramfsModules = []string{"squashfs", "overlay", "dm-mod", "dm-verity", "sha512_generic"}

// initramfsDrivers are the disk drivers of every platform, most common first. The initramfs
// loads them (then the arch's Modules) in this order only until the root partition appears;
// udev loads the rest from the root by modalias (docs/PERFORMANCE.md).
var initramfsDrivers = []string{
	"virtio_pci", "virtio_mmio", "virtio_blk", "virtio_scsi", "sd_mod", "nvme", "ahci",
	"xen-blkfront", "hv_vmbus", "hv_storvsc", "ibmvscsi",
}

// requiredModules must exist (as a module or built in) or the image cannot boot anywhere.
var requiredModules = []string{"virtio_blk", "squashfs", "overlay", "dm-verity", "sha512_generic"}

// pruneDirs are removed from the root tree: documentation, translations and files only a
// mutable, package-managed system uses.
var pruneDirs = []string{
	"boot", "usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale", "usr/share/lintian",
	"usr/share/bug", "usr/share/bash-completion", "usr/share/zsh", "usr/share/initramfs-tools",
	"usr/lib/udev/hwdb.d", "etc/kernel", "etc/initramfs", "usr/lib/kernel", "var/cache", "var/lib/apt",
	"usr/share/gcc", "usr/share/gdb", "usr/share/menu", "usr/share/common-licenses",
}

// enabledUnits are enabled at build time, as a preset would on a package-managed system.
// systemd-resolved is not: the node's first lookup starts it, or the agent once etcd answers
// (internal/dnsstub), so that its start is off etcd's path when nothing needs a name. Nor is
// systemd-timesyncd: firstboot starts it when the node has NTP servers, etcd.service once etcd
// is up.
var enabledUnits = []string{"systemd-networkd.service",
	"systemd-network-generator.service", // ip= on the kernel command line; a drop-in skips it without
	"firstboot.service", "etcd.service", "boot-report.service", "dropbear.service",
	// etcd.service starts these units once etcd is up; their timers when it is not up soon
	"etcd-agent.timer",        // etcd-agent.service
	"udev-trigger-late.timer", // udev-trigger-late.service, the coldplug's second part
	"timesyncd-late.timer"}    // timesyncd-late.service, which starts systemd-timesyncd

// unusedGenerators are systemd generators for features the image lacks (encrypted, verity,
// integrity or auto-discovered partitions, hibernation, SysV scripts, rc.local, offline
// updates, gettys, an fstab: the image has none). systemd runs every generator before it
// starts any unit, and each costs a few hundred milliseconds under TCG. debug (systemd.mask=
// and systemd.wants= on the kernel command line, an operator's way in) stays.
var unusedGenerators = []string{
	"systemd-cryptsetup-generator", "systemd-gpt-auto-generator", "systemd-hibernate-resume-generator",
	"systemd-integritysetup-generator", "systemd-veritysetup-generator", "systemd-rc-local-generator",
	"systemd-run-generator", "systemd-system-update-generator", "systemd-sysv-generator", "systemd-getty-generator",
	"systemd-fstab-generator",
}

// unusedUdevFiles are udev rules and helpers for hardware and features the image has no use
// for (input, sound, video, cameras, seats, device mapper, btrfs, tapes, …). udevd reads every
// rule for every device at coldplug, on the vCPU firstboot and networkd need then. Block
// devices, network naming, driver loading and systemd's device units keep their rules.
var unusedUdevFiles = []string{
	"rules.d/55-dm.rules", "rules.d/60-autosuspend.rules", "rules.d/60-cdrom_id.rules", "rules.d/60-drm.rules",
	"rules.d/60-evdev.rules", "rules.d/60-fido-id.rules", "rules.d/60-infiniband.rules", "rules.d/60-input-id.rules",
	"rules.d/60-persistent-alsa.rules", "rules.d/60-persistent-input.rules", "rules.d/60-persistent-storage-dm.rules",
	"rules.d/60-persistent-storage-tape.rules", "rules.d/60-persistent-v4l.rules", "rules.d/60-sensor.rules",
	"rules.d/60-serial.rules", "rules.d/64-btrfs.rules", "rules.d/70-camera.rules", "rules.d/70-joystick.rules",
	"rules.d/70-memory.rules", "rules.d/70-mouse.rules", "rules.d/70-touchpad.rules", "rules.d/70-uaccess.rules",
	"rules.d/71-seat.rules", "rules.d/73-seat-late.rules", "rules.d/75-probe_mtd.rules", "rules.d/78-sound-card.rules",
	"rules.d/95-dm-notify.rules", "rules.d/96-e2scrub.rules",
	"cdrom_id", "dmi_memory_id", "fido_id", "mtd_probe", "v4l_id",
}

// maskedUnits cannot do anything useful on a read-only, package-less image whose /etc and /var
// start empty at every boot; most of them would still run a program on the one boot CPU.
var maskedUnits = []string{
	"ldconfig.service",                     // no ldconfig: Debian's ld.so finds libraries in the multiarch dirs
	"systemd-hwdb-update.service",          // no hwdb sources are shipped
	"getty.target",                         // no passwords exist, so no console logins
	"systemd-networkd-wait-online.service", // firstboot decides what it waits for
	"systemd-sysusers.service",             // the users are made at build time (configureRoot)
	"systemd-random-seed.service",          // no seed survives a boot: /var is a tmpfs
	"systemd-journal-flush.service",        // /var/log is a tmpfs too: the journal stays in /run
	"systemd-remount-fs.service",           // no fstab; the root is read-only by design
	"systemd-modules-load.service",         // no modules-load.d entries; firstboot loads what it needs
	"systemd-update-utmp.service",          // no login records: root over SSH keys only
	"systemd-update-utmp-runlevel.service",
	"systemd-user-sessions.service", // only removes /run/nologin, which is not made (image/prune.go)
	"systemd-logind.service",        // needs D-Bus; its program is pruned
	// TPM measurements (need libtss2, never shipped) and backlights: their programs are pruned
	"systemd-pcrphase.service", "systemd-pcrphase-sysinit.service", "systemd-backlight@.service",
	// kernel filesystems and modules for what etcd does not use: huge pages, POSIX queues,
	// debugfs, tracing, foreign binaries, device mapper, FUSE, loop devices
	"dev-hugepages.mount", "dev-mqueue.mount", "sys-kernel-debug.mount", "sys-kernel-tracing.mount",
	"proc-sys-fs-binfmt_misc.automount", "kmod-static-nodes.service",
	"modprobe@configfs.service", "modprobe@dm_mod.service", "modprobe@fuse.service", "modprobe@loop.service",
	// only sets the modes of device nodes for sound, KVM, FUSE, loop and tun devices, which
	// the image neither has nor uses; a program start before udevd may start
	"systemd-tmpfiles-setup-dev.service",
	// sockets and paths PID 1 sets up before any service: SysV's /dev/initctl (telinit is
	// systemctl here, which asks PID 1 directly), the kernel's audit records (audit is off: no
	// audit=1, no auditd), and password prompts (no encrypted volumes)
	"systemd-initctl.socket", "systemd-journald-audit.socket",
	"systemd-ask-password-console.path", "systemd-ask-password-wall.path",
}

// droppedUdevLines are lines taken out of Debian's udev rules, each by a substring that must
// match exactly one line of its file (under usr/lib/udev), so that a changed package fails the
// build rather than keeping the line. 99-systemd.rules starts systemd-sysctl for every network
// interface that appears, to apply sysctl.d keys naming it; the image has no such keys (its
// own are kernel.* and vm.*), and the program start came as firstboot started.
var droppedUdevLines = map[string]string{
	"rules.d/99-systemd.rules": "RUN+=\"/lib/systemd/systemd-sysctl --prefix=/net/",
}

// rootTree is the assembled root directory of one arch and what was taken out of it.
type rootTree struct {
	dir         string
	kver        string
	kernel      string   // the kernel image, taken out of /boot
	initrdFiles []string // module files the initramfs always loads, relative to the modules dir
	initrdProbe []string // disk drivers it loads until the root appears, relative likewise
	modulesDir  string
}

// unpackRoot lays the merged-/usr skeleton and unpacks the root packages into dir.
func unpackRoot(ctx context.Context, debs []string, dir string) error {
	for _, d := range []string{"usr/bin", "usr/sbin", "usr/lib", "usr/lib64"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	for _, l := range []string{"bin", "sbin", "lib", "lib64"} {
		if err := os.Symlink("usr/"+l, filepath.Join(dir, l)); err != nil {
			return err
		}
	}
	for _, deb := range debs {
		if err := Extract(ctx, deb, dir); err != nil {
			return err
		}
	}
	return nil
}

// takeKernel moves the kernel out of the tree, keeps only the needed modules and records the
// initramfs module set.
func takeKernel(ctx context.Context, a arch.Arch, rt *rootTree, work string) error {
	mods, err := os.ReadDir(filepath.Join(rt.dir, "usr/lib/modules"))
	if err != nil || len(mods) != 1 {
		return fmt.Errorf("expected exactly one kernel in usr/lib/modules (err=%v, found %d)", err, len(mods))
	}
	rt.kver = mods[0].Name()
	rt.modulesDir = filepath.Join(rt.dir, "usr/lib/modules", rt.kver)
	rt.kernel = filepath.Join(work, "kernel")
	if err := copyFile(filepath.Join(rt.dir, "boot", a.KernelImage+"-"+rt.kver), rt.kernel, 0o644); err != nil {
		return err
	}
	if err := depmod(ctx, rt.dir, rt.kver); err != nil {
		return err
	}
	dep, err := os.ReadFile(filepath.Join(rt.modulesDir, "modules.dep"))
	if err != nil {
		return err
	}
	builtin, err := os.ReadFile(filepath.Join(rt.modulesDir, "modules.builtin"))
	if err != nil {
		return err
	}
	keepNames := append(append([]string{}, rootModules...), a.Modules...)
	keepNames = append(append(keepNames, initramfsModules...), initramfsDrivers...)
	keep, missing, err := InitramfsModules(dep, builtin, keepNames)
	if err != nil {
		return err
	}
	for _, m := range requiredModules {
		for _, x := range missing {
			if normModName(x) == normModName(m) {
				return fmt.Errorf("kernel %s has no %s module and does not build it in: the image could not boot", rt.kver, m)
			}
		}
	}
	rt.initrdFiles, _, err = InitramfsModules(dep, builtin, initramfsModules)
	if err != nil {
		return err
	}
	// The closure of everything starts with the closure of initramfsModules (it is visited
	// first), so the drivers' list is what follows: no module is in both.
	all, _, err := InitramfsModules(dep, builtin, slices.Concat(initramfsModules, initramfsDrivers, a.Modules))
	if err != nil {
		return err
	}
	if !slices.Equal(all[:len(rt.initrdFiles)], rt.initrdFiles) {
		return fmt.Errorf("initramfs modules: the drivers' closure does not start with the filesystems' (%q)", all[:len(rt.initrdFiles)])
	}
	rt.initrdProbe = all[len(rt.initrdFiles):]
	if err := pruneModules(filepath.Join(rt.modulesDir, "kernel"), rt.modulesDir, keep); err != nil {
		return err
	}
	return depmod(ctx, rt.dir, rt.kver)
}

func normModName(s string) string { return strings.ReplaceAll(s, "-", "_") }

func depmod(ctx context.Context, root, kver string) error {
	if b, err := exec.CommandContext(ctx, "depmod", "-b", root, kver).CombinedOutput(); err != nil {
		return fmt.Errorf("depmod %s: %w\n%s", kver, err, b)
	}
	return nil
}

// pruneModules deletes every module file under dir that is not in keep (paths relative to base).
func pruneModules(dir, base string, keep []string) error {
	keepSet := map[string]bool{}
	for _, k := range keep {
		keepSet[k] = true
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(base, p)
		if !keepSet[rel] {
			return os.Remove(p)
		}
		return nil
	})
}

// osRelease holds the values filled into the os-release template.
type osRelease struct {
	Version, BuildID, EtcdVersion, Arch string
}

// configureRoot turns the unpacked packages into the appliance's root: pruned, with our files,
// binaries, users and enabled units.
func configureRoot(ctx context.Context, dir string, bins map[string]string, links []string, rel osRelease, epoch int64) error {
	// some exist on some arches only (dmi_memory_id and its rules: not on ppc64le)
	for _, prune := range []struct {
		under string
		names []string
	}{{".", pruneDirs}, {"usr/lib/systemd/system-generators", unusedGenerators}, {"usr/lib/udev", unusedUdevFiles}} {
		for _, n := range prune.names {
			if err := os.RemoveAll(filepath.Join(dir, prune.under, n)); err != nil {
				return err
			}
		}
	}
	for file, substr := range droppedUdevLines {
		if err := dropLine(filepath.Join(dir, "usr/lib/udev", file), substr); err != nil {
			return err
		}
	}
	if err := copyFS(overlays.RootFS(), dir); err != nil {
		return fmt.Errorf("laying overlays: %w", err)
	}
	if err := checkInterfaceSysctl(dir); err != nil {
		return err
	}
	for name, src := range bins {
		if err := copyFile(src, filepath.Join(dir, "usr/bin", name), 0o755); err != nil {
			return err
		}
	}
	for _, l := range links {
		if err := os.Symlink("etcd", filepath.Join(dir, "usr/bin", l)); err != nil {
			return err
		}
	}
	tmpl, err := overlays.Template("os-release")
	if err != nil {
		return err
	}
	t, err := template.New("os-release").Option("missingkey=error").Parse(tmpl)
	if err != nil {
		return fmt.Errorf("os-release template: %w", err)
	}
	f, err := os.Create(filepath.Join(dir, "usr/lib/os-release"))
	if err != nil {
		return err
	}
	if err := t.Execute(f, rel); err != nil {
		f.Close()
		return fmt.Errorf("os-release template: %w", err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := writeCABundle(dir); err != nil {
		return err
	}
	if err := linkResolvConf(dir); err != nil {
		return err
	}
	_ = os.Remove(filepath.Join(dir, "etc/os-release"))
	if err := os.Symlink("../usr/lib/os-release", filepath.Join(dir, "etc/os-release")); err != nil {
		return err
	}
	// Mount points and the few directories systemd expects on a root it did not install itself
	// (boot and efi: where systemd's gpt-auto generator may automount the ESP).
	for d, mode := range map[string]os.FileMode{"dev": 0o755, "proc": 0o555, "sys": 0o555, "run": 0o755,
		"tmp": 0o1777, "var/tmp": 0o1777, "root": 0o700, "home": 0o755, "mnt": 0o755, "var/lib/etcd": 0o700,
		"var/log": 0o755, "etc/systemd/system": 0o755, "srv": 0o755, "opt": 0o755, "boot": 0o755, "efi": 0o755} {
		p := filepath.Join(dir, d)
		if err := os.MkdirAll(p, 0o755); err != nil {
			return err
		}
		if err := os.Chmod(p, mode); err != nil {
			return err
		}
	}
	// An empty machine-id: systemd makes one at boot (in the /etc overlay).
	if err := os.WriteFile(filepath.Join(dir, "etc/machine-id"), nil, 0o444); err != nil {
		return err
	}
	env := append(os.Environ(), "SOURCE_DATE_EPOCH="+strconv.FormatInt(epoch, 10), "SYSTEMD_OFFLINE=1")
	cmds := [][]string{
		{"systemd-sysusers", "--root=" + dir},
		append([]string{"systemctl", "--root=" + dir, "enable"}, enabledUnits...),
		{"systemctl", "--root=" + dir, "set-default", "multi-user.target"},
		append([]string{"systemctl", "--root=" + dir, "mask"}, maskedUnits...),
	}
	for _, c := range cmds {
		cmd := exec.CommandContext(ctx, c[0], c[1:]...)
		cmd.Env = env
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w\n%s", strings.Join(c, " "), err, b)
		}
	}
	if err := rootSSHLogin(dir); err != nil {
		return err
	}
	// etcd's data directory belongs to the etcd user (uid given by sysusers above).
	uid, gid, err := lookupUser(filepath.Join(dir, "etc/passwd"), "etcd")
	if err != nil {
		return err
	}
	return os.Chown(filepath.Join(dir, "var/lib/etcd"), uid, gid)
}

// checkInterfaceSysctl fails when a sysctl.d file of the root tree (dir) names a network
// interface, or all of them by a glob, in a net.ipv4/ipv6 conf or neigh key: such a key reached
// interfaces that appear after systemd-sysctl.service only through the udev line
// droppedUdevLines takes out. "all" and "default" keys still apply (new interfaces start from
// "default").
func checkInterfaceSysctl(dir string) error {
	for _, d := range []string{"usr/lib/sysctl.d", "etc/sysctl.d"} {
		files, err := filepath.Glob(filepath.Join(dir, d, "*.conf"))
		if err != nil {
			return err
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if errors.Is(err, fs.ErrNotExist) { // a dangling link, as etc/sysctl.d/99-sysctl.conf without procps
				continue
			} else if err != nil {
				return err
			}
			for _, line := range strings.Split(string(b), "\n") {
				line = strings.TrimSpace(line)
				key, _, ok := strings.Cut(strings.TrimPrefix(line, "-"), "=")
				if !ok || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";") {
					continue
				}
				key = strings.TrimSpace(key)
				p := strings.FieldsFunc(key, func(r rune) bool { return r == '.' || r == '/' })
				if len(p) >= 4 && p[0] == "net" && (p[1] == "ipv4" || p[1] == "ipv6") && (p[2] == "conf" || p[2] == "neigh") &&
					p[3] != "all" && p[3] != "default" {
					return fmt.Errorf("%s: %q names network interfaces, which the image does not apply it to (droppedUdevLines): use all or default, or keep the udev line", f, key)
				}
			}
		}
	}
	return nil
}

// dropLine removes the one line of file that contains substr; none or several is an error.
func dropLine(file, substr string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var kept []string
	lines := strings.SplitAfter(string(b), "\n")
	for _, l := range lines {
		if !strings.Contains(l, substr) {
			kept = append(kept, l)
		}
	}
	if n := len(lines) - len(kept); n != 1 {
		return fmt.Errorf("%s: %d lines contain %q, want exactly one to drop (did the package change?)", file, n, substr)
	}
	return os.WriteFile(file, []byte(strings.Join(kept, "")), 0o644)
}

// rootSSHLogin makes root an account SSH keys can log in to, and nothing else can:
//   - its shell is /bin/sh (sysusers gives Debian's /bin/bash, which the image does not have);
//   - its password field is "*", no password matches it; sysusers' "!*" marks the account
//     locked, and dropbear refuses locked accounts even with a valid key;
//   - ~/.ssh/authorized_keys links to /etc/ssh/authorized_keys/root, which firstboot writes
//     at every boot (/root is on the read-only root).
func rootSSHLogin(dir string) error {
	edit := func(file string, field int, value string) error {
		path := filepath.Join(dir, file)
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		lines := strings.Split(string(b), "\n")
		found := false
		for i, line := range lines {
			f := strings.Split(line, ":")
			if len(f) > field && f[0] == "root" {
				f[field], found = value, true
				lines[i] = strings.Join(f, ":")
			}
		}
		if !found {
			return fmt.Errorf("%s: no root entry", file)
		}
		fi, err := os.Stat(path)
		if err != nil {
			return err
		}
		return os.WriteFile(path, []byte(strings.Join(lines, "\n")), fi.Mode().Perm())
	}
	if err := edit("etc/passwd", 6, "/bin/sh"); err != nil {
		return err
	}
	if err := edit("etc/shadow", 1, "*"); err != nil {
		return err
	}
	ssh := filepath.Join(dir, "root/.ssh")
	if err := os.MkdirAll(ssh, 0o700); err != nil {
		return err
	}
	return os.Symlink("/etc/ssh/authorized_keys/root", filepath.Join(ssh, "authorized_keys"))
}

// lookupUser reads uid and gid of name from a passwd file.
func lookupUser(passwd, name string) (int, int, error) {
	b, err := os.ReadFile(passwd)
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ":")
		if len(f) >= 4 && f[0] == name {
			uid, err1 := strconv.Atoi(f[2])
			gid, err2 := strconv.Atoi(f[3])
			if err1 != nil || err2 != nil {
				return 0, 0, fmt.Errorf("%s: bad ids for %s", passwd, name)
			}
			return uid, gid, nil
		}
	}
	return 0, 0, fmt.Errorf("%s: no user %s", passwd, name)
}

// makeSquashfs packs the root tree read-only and compressed, with every timestamp at epoch.
// zstd level 15, not xz: xz (with its x86 filter) is 6 MiB smaller on the amd64 root (24.2
// against 30.5 MiB) but packs 5x slower, and every page the VM reads decompresses several
// times slower. Level 19 is 2.8 MiB smaller and boots as fast, but packs ~8 s longer per
// arch: the cached rebuild goes over its goal (docs/PERFORMANCE.md, "Tried and dropped").
// 128 KiB blocks, not 1 MiB: the kernel decompresses a whole block into the page cache for
// any page of it, so a program touching a few pages of a library paid for a megabyte; and
// zstd at level 15 compresses these blocks tighter (it picks stronger settings for small
// inputs), so the image is smaller too (docs/PERFORMANCE.md, Cuts).
func makeSquashfs(ctx context.Context, dir, out string, epoch int64) error {
	e := strconv.FormatInt(epoch, 10)
	cmd := exec.CommandContext(ctx, "mksquashfs", dir, out, "-noappend", "-quiet", "-no-progress",
		"-comp", "zstd", "-Xcompression-level", "15", "-b", "128K", "-no-xattrs", "-mkfs-time", e, "-all-time", e)
	// mksquashfs refuses SOURCE_DATE_EPOCH together with the explicit times above.
	cmd.Env = withoutEnv(os.Environ(), "SOURCE_DATE_EPOCH")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("mksquashfs: %w\n%s", err, b)
	}
	return nil
}

// copyFS copies an fs.FS tree into dir: directories 0755, files 0644, owned by root.
func copyFS(src fs.FS, dir string) error {
	return fs.WalkDir(src, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, p)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := fs.ReadFile(src, p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chmod(dst, mode)
}

// withoutEnv returns env without the named variable.
func withoutEnv(env []string, name string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}

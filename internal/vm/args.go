package vm

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// consoleFD is the descriptor qemu inherits for the serial console (ExtraFiles[0]).
const consoleFD = 3

// layout is every file and port qemu is pointed at, decided before it starts.
type layout struct {
	dir          string   // the VM's private temp dir
	firmwareCode string   // read-only pflash unit 0; "" for the machine's own firmware
	firmwareVars string   // writable copy, pflash unit 1
	disks        []string // what each Config.Disks entry is attached as (overlay or the image)
	diskFormats  []string
	console      string           // path the console chardev writes to
	forwards     map[int]int      // guest port -> host port
	fwdOrder     []int            // guest ports in Config order, for a stable argv
	steps        []step           // file preparation, in order
	unsafeCache  map[int]struct{} // disks whose writes may be lost: throwaway overlays
}

// step is one file-preparation action, runnable and printable as shell.
type step struct {
	shell string
	run   func(ctx context.Context) error
}

// diskFormats are the qemu block drivers a Disk may name: vpc reads VHD files (fixed or
// dynamic), vmdk every VMDK subformat, streamOptimized included.
var diskFormats = []string{"raw", "qcow2", "vpc", "vmdk"}

// plan decides the files qemu needs in dir. It only reads (stat); the returned steps
// create the files.
func plan(cfg Config, dir string, forwards map[int]int) (layout, error) {
	l := layout{dir: dir, forwards: forwards, unsafeCache: map[int]struct{}{}}
	for _, f := range cfg.HostForwards {
		l.fwdOrder = append(l.fwdOrder, f.GuestPort)
	}
	q := cfg.Arch.QEMU
	if cfg.Kernel == "" && q.FirmwareCode != "" {
		// direct kernel boot skips UEFI: the kernel is loaded by qemu itself
		code, err := firmwareCopy(&l, q.FirmwareCode, filepath.Join(dir, "firmware-code.fd"), q.FirmwareSize, false)
		if err != nil {
			return layout{}, err
		}
		l.firmwareCode = code
		if q.FirmwareVars != "" {
			vars, err := firmwareCopy(&l, q.FirmwareVars, filepath.Join(dir, "firmware-vars.fd"), q.FirmwareSize, true)
			if err != nil {
				return layout{}, err
			}
			l.firmwareVars = vars
		}
	}
	for i, d := range cfg.Disks {
		if d.Path == "" {
			if d.Size <= 0 {
				return layout{}, fmt.Errorf("disk %d: neither a path nor a size", i)
			}
			// a blank scratch disk lives in dir, so Command can recreate it too
			blank := filepath.Join(dir, fmt.Sprintf("disk%d-blank.qcow2", i))
			l.steps = append(l.steps, qemuImgStep(blankDiskArgv(blank, d.Size)))
			l.disks = append(l.disks, blank)
			l.diskFormats = append(l.diskFormats, "qcow2")
			continue
		}
		if d.Size != 0 {
			return layout{}, fmt.Errorf("disk %s: a size is only for blank disks", d.Path)
		}
		format := d.Format
		if format == "" {
			format = "raw"
		}
		if !slices.Contains(diskFormats, format) {
			return layout{}, fmt.Errorf("disk %s: unsupported format %q (want %s)", d.Path, format, strings.Join(diskFormats, ", "))
		}
		abs, err := filepath.Abs(d.Path)
		if err != nil {
			return layout{}, fmt.Errorf("disk %s: %w", d.Path, err)
		}
		if _, err := os.Stat(abs); err != nil {
			return layout{}, fmt.Errorf("disk: %w", err)
		}
		if !d.Snapshot || d.ReadOnly {
			l.disks = append(l.disks, abs)
			l.diskFormats = append(l.diskFormats, format)
			continue
		}
		// a qcow2 overlay takes all writes, so the image file is never modified
		overlay := filepath.Join(dir, fmt.Sprintf("disk%d-overlay.qcow2", i))
		l.steps = append(l.steps, qemuImgStep([]string{"qemu-img", "create", "-q", "-f", "qcow2", "-F", format, "-b", abs, overlay}))
		l.disks = append(l.disks, overlay)
		l.diskFormats = append(l.diskFormats, "qcow2")
		l.unsafeCache[i] = struct{}{}
	}
	return l, nil
}

func blankDiskArgv(path string, size int64) []string {
	return []string{"qemu-img", "create", "-q", "-f", "qcow2", path, strconv.FormatInt(size, 10)}
}

func qemuImgStep(argv []string) step {
	return step{
		shell: shellJoin(argv),
		run: func(ctx context.Context) error {
			out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
			if err != nil {
				return fmt.Errorf("%s: %w: %s", shellJoin(argv), err, strings.TrimSpace(string(out)))
			}
			return nil
		},
	}
}

// firmwareCopy returns the pflash path to use for src. Writable images (UEFI variables) are
// always copied, read-only ones only when they must be padded to size.
func firmwareCopy(l *layout, src, dst string, size int64, writable bool) (string, error) {
	fi, err := os.Stat(src)
	if err != nil {
		return "", fmt.Errorf("firmware: %w", err)
	}
	if size > 0 && fi.Size() > size {
		return "", fmt.Errorf("firmware %s: %d bytes, larger than the pflash size %d", src, fi.Size(), size)
	}
	pad := size > 0 && fi.Size() < size
	if !writable && !pad {
		return src, nil
	}
	sh := shellJoin([]string{"cp", src, dst})
	if pad {
		sh += " && " + shellJoin([]string{"truncate", "-s", strconv.FormatInt(size, 10), dst})
	}
	l.steps = append(l.steps, step{shell: sh, run: func(context.Context) error { return copyPadded(src, dst, size) }})
	return dst, nil
}

// copyPadded copies src to a new file dst and extends it with zeros to size (if larger).
func copyPadded(src, dst string, size int64) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copy firmware: %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("copy firmware: %w", err)
	}
	defer func() {
		if cerr := out.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("copy firmware to %s: %w", dst, cerr)
		}
	}()
	n, err := io.Copy(out, in)
	if err != nil {
		return fmt.Errorf("copy firmware %s to %s: %w", src, dst, err)
	}
	if n < size {
		if err := out.Truncate(size); err != nil {
			return fmt.Errorf("pad firmware %s: %w", dst, err)
		}
	}
	return nil
}

// qemuArgs builds the qemu argv (including the binary) for cfg with files placed per l.
func qemuArgs(cfg Config, l layout) []string {
	q := cfg.Arch.QEMU
	machine := q.Machine + ",accel=tcg"
	if q.MachineOpts != "" {
		machine += "," + q.MachineOpts
	}
	mem, cpus := cfg.MemoryMiB, cfg.CPUs
	if mem <= 0 {
		mem = DefaultMemoryMiB
	}
	if cpus <= 0 {
		cpus = 1
	}
	var args []string
	if ns := cfg.Network.Netns; ns != "" {
		// ip execs qemu in place: the pid, process group and parent-death signal stay qemu's
		args = append(args, "ip", "netns", "exec", ns)
	}
	args = append(args, q.Binary, "-machine", machine)
	if q.CPU != "" {
		args = append(args, "-cpu", q.CPU)
	}
	args = append(args, "-m", strconv.Itoa(mem), "-smp", strconv.Itoa(cpus))
	args = append(args, q.Extra...)
	// only the devices below: no VGA, default NIC, monitor or serial nobody reads
	if !slices.Contains(q.Extra, "-nodefaults") {
		args = append(args, "-nodefaults")
	}
	// no window; a guest reboot or panic ends qemu instead of looping
	args = append(args, "-display", "none", "-no-reboot", "-no-user-config")

	if l.firmwareCode != "" {
		args = append(args, "-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+optEscape(l.firmwareCode))
		if l.firmwareVars != "" {
			args = append(args, "-drive", "if=pflash,format=raw,unit=1,file="+optEscape(l.firmwareVars))
		}
	}
	if cfg.Kernel != "" {
		args = append(args, "-kernel", cfg.Kernel)
		if cfg.Initrd != "" {
			args = append(args, "-initrd", cfg.Initrd)
		}
		// the .cmdline artefact is a text file: its trailing newline is not part of it
		if c := strings.TrimSpace(cfg.Cmdline); c != "" {
			args = append(args, "-append", c)
		}
	}

	for i, path := range l.disks {
		drive := fmt.Sprintf("if=none,id=disk%d,format=%s,file=%s", i, l.diskFormats[i], optEscape(path))
		if _, ok := l.unsafeCache[i]; ok {
			drive += ",cache=unsafe" // the overlay is thrown away anyway
		}
		if cfg.Disks[i].ReadOnly {
			drive += ",readonly=on"
		}
		dev := fmt.Sprintf("%s,drive=disk%d", q.Disk, i)
		if s := cfg.Disks[i].Serial; s != "" {
			dev += ",serial=" + optEscape(s)
		}
		if i == 0 && cfg.Kernel == "" {
			dev += ",bootindex=0" // firmware tries the first disk before anything else
		}
		args = append(args, "-drive", drive, "-device", dev)
	}

	netdev := "user,id=net0,restrict=on" // the guest reaches nothing; forwards still work
	for _, g := range l.fwdOrder {
		netdev += fmt.Sprintf(",hostfwd=tcp:127.0.0.1:%d-:%d", l.forwards[g], g)
	}
	if n := cfg.Network; n.Tap != "" {
		netdev = "tap,id=net0,ifname=" + optEscape(n.Tap) + ",script=no,downscript=no"
	}
	// romfile= drops the iPXE option ROM: the firmware has its own virtio-net driver
	nic := q.NIC + ",netdev=net0,romfile="
	if cfg.Network.MAC != "" {
		nic += ",mac=" + cfg.Network.MAC
	}
	args = append(args, "-netdev", netdev, "-device", nic)

	// -serial maps to each machine's first console: 16550 on q35, PL011 on virt,
	// spapr-vty on pseries
	args = append(args, "-chardev", "file,id=console,path="+optEscape(l.console), "-serial", "chardev:console")
	// the monitor protocol, for PowerButton; a socket path must fit sockaddr_un
	if sock := qmpSocket(l.dir); len(sock) < maxSocketPath {
		args = append(args, "-qmp", "unix:"+optEscape(sock)+",server=on,wait=off")
	}
	return append(args, cfg.ExtraArgs...)
}

// optEscape escapes a value inside a qemu -option list, where "," separates options.
func optEscape(s string) string { return strings.ReplaceAll(s, ",", ",,") }

// shellJoin quotes argv for a POSIX shell.
func shellJoin(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=+,./:@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

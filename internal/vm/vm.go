// Package vm boots a disk image in qemu under TCG and watches its serial console. It is the
// one place that knows how to invoke qemu; per-arch facts come from package arch.
package vm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/etcd-appliance/appliance/arch"
)

// DefaultMemoryMiB is the guest memory when Config.MemoryMiB is 0.
const DefaultMemoryMiB = 1024

// Disk is a block device attached as virtio-blk, in Config order (the first is booted).
type Disk struct {
	Path string
	// Format is qemu's name for the file's format: "raw" (default), "qcow2", "vpc" (VHD) or
	// "vmdk". A streamOptimized VMDK cannot take random writes: attach it ReadOnly or Snapshot.
	Format string
	// Size, with an empty Path, makes a blank sparse qcow2 disk of Size bytes in the VM's
	// temp dir (a scratch data disk, gone after Close).
	Size int64
	// Snapshot sends all writes to a temporary qcow2 overlay so Path is never modified.
	Snapshot bool
	// ReadOnly attaches Path as a read-only device: the guest cannot write it at all (a
	// stronger promise than Snapshot, for disks the guest must never change).
	ReadOnly bool
	// Serial is the virtio-blk serial: the guest sees /dev/disk/by-id/virtio-<Serial>.
	Serial string
}

// Forward exposes a guest TCP port on 127.0.0.1 of the host.
type Forward struct {
	GuestPort int
	HostPort  int // 0: pick a free port
}

// Network selects the guest's network backend. The zero value is qemu user-mode networking
// with restrict=on: DHCP works, the guest reaches nothing, HostForwards are the only way in.
// With Tap set, the NIC is attached to that existing tap device instead (several VMs on one
// bridge, e.g. in a network namespace a test made with package vmnet).
type Network struct {
	// Tap names an existing tap device; qemu opens it, so it must exist in Netns.
	Tap string
	// Netns runs qemu inside this named network namespace (ip netns exec), where Tap lives.
	Netns string
	// MAC is the NIC's address ("52:54:00:…"); "" lets qemu pick. Tests set it to hand out
	// fixed DHCP leases.
	MAC string
}

// Config describes one VM.
type Config struct {
	Arch  arch.Arch
	Disks []Disk
	// Kernel, when set, boots Kernel/Initrd/Cmdline directly instead of through firmware.
	Kernel, Initrd, Cmdline string
	MemoryMiB               int // 0: DefaultMemoryMiB
	CPUs                    int // 0: 1
	Network                 Network
	HostForwards            []Forward
	// ConsoleLog receives the raw serial console (created or truncated); "" for none.
	ConsoleLog string
	// ConsoleFunc, if set, is called with each clean console line from a single goroutine.
	// It is never called after Close returns.
	ConsoleFunc func(line string)
	// Timeout kills qemu this long after Start, even if nobody calls Close. 0: no limit.
	Timeout   time.Duration
	ExtraArgs []string
	// TempDir is where the VM's private temp dir (overlays, firmware copies) is made;
	// "" for os.TempDir().
	TempDir string
}

// VM is a running (or finished) qemu process.
type VM struct {
	argv    []string // as executed
	command string   // shell rendering for humans
	dir     string
	fwd     map[int]int
	console *console
	stderr  *tailBuffer
	proc    *os.Process
	done    chan struct{}
	stop    func() bool // detaches the context watcher
	timer   *time.Timer

	mu     sync.Mutex
	reaped bool
	reason string // why we killed qemu; "" if it exited by itself
	err    error  // qemu's exit error, set before done is closed

	closeOnce sync.Once
	closeErr  error
}

// Start prepares the VM's files, starts qemu and returns once it runs. Cancelling ctx kills
// qemu, like exec.CommandContext. qemu runs in its own process group and gets SIGKILL if the
// calling process dies.
func Start(ctx context.Context, cfg Config) (_ *VM, err error) {
	if cfg.Arch.QEMU.Binary == "" {
		return nil, errors.New("vm: arch has no qemu binary")
	}
	if cfg.Network.Tap != "" && len(cfg.HostForwards) > 0 {
		return nil, errors.New("vm: host forwards need user-mode networking, not a tap device")
	}
	if cfg.Kernel == "" && (cfg.Initrd != "" || cfg.Cmdline != "") {
		return nil, errors.New("vm: initrd or cmdline without kernel")
	}
	fwd, err := pickPorts(cfg.HostForwards)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(cfg.TempDir, "vm-"+cfg.Arch.Name+"-")
	if err != nil {
		return nil, fmt.Errorf("vm: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	l, err := plan(cfg, dir, fwd)
	if err != nil {
		return nil, fmt.Errorf("vm: %w", err)
	}
	for _, s := range l.steps {
		if err := s.run(ctx); err != nil {
			return nil, fmt.Errorf("vm: %w", err)
		}
	}

	v := &VM{dir: dir, fwd: fwd, stderr: &tailBuffer{max: 16 << 10}, done: make(chan struct{})}
	l.console = fmt.Sprintf("/dev/fd/%d", consoleFD)
	v.argv = qemuArgs(cfg, l)
	l.console = "/dev/stdout" // whoever pastes Command wants to watch the console
	shown := append([]string{"mkdir -p " + shellQuote(dir)}, stepShells(l.steps)...)
	v.command = strings.Join(append(shown, shellJoin(qemuArgs(cfg, l))), " && ")

	var logFile *os.File
	v.console = newConsole(nil, cfg.ConsoleFunc)
	if cfg.ConsoleLog != "" {
		if logFile, err = os.Create(cfg.ConsoleLog); err != nil {
			return nil, fmt.Errorf("vm: console log: %w", err)
		}
		v.console.log = logFile
	}
	closeLog := func() error {
		if logFile == nil {
			return nil
		}
		return logFile.Close()
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		closeLog()
		return nil, fmt.Errorf("vm: console pipe: %w", err)
	}

	cmd := exec.Command(v.argv[0], v.argv[1:]...)
	cmd.Stderr = v.stderr
	cmd.ExtraFiles = []*os.File{pw}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}

	started := make(chan error, 1)
	reaped := make(chan struct{})
	go func() {
		// Pdeathsig fires when the thread that forked qemu exits, not the process. Keep this
		// goroutine on its thread until qemu is reaped; a locked goroutine's exit then ends
		// the thread, which is harmless once qemu is gone.
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		v.proc = cmd.Process
		started <- nil
		err := cmd.Wait()
		v.mu.Lock()
		v.reaped = true
		v.err = err
		v.mu.Unlock()
		close(reaped)
	}()
	startErr := <-started
	pw.Close() // qemu holds its own copy; EOF on pr now means qemu is gone
	if startErr != nil {
		pr.Close()
		closeLog()
		return nil, fmt.Errorf("vm: start %s: %w", v.argv[0], startErr)
	}

	consoleDone := make(chan error, 1)
	go func() {
		err := v.console.run(pr)
		pr.Close()
		if cerr := closeLog(); err == nil && cerr != nil {
			err = fmt.Errorf("console log: %w", cerr)
		}
		consoleDone <- err
	}()
	if cfg.Timeout > 0 {
		v.timer = time.AfterFunc(cfg.Timeout, func() { v.kill(fmt.Sprintf("timeout %s", cfg.Timeout)) })
	}
	v.stop = context.AfterFunc(ctx, func() { v.kill("context: " + context.Cause(ctx).Error()) })

	go func() {
		// console EOF comes when qemu and everything holding the pipe is gone
		logErr := <-consoleDone
		<-reaped
		if v.timer != nil {
			v.timer.Stop()
		}
		v.stop()
		rmErr := os.RemoveAll(v.dir)
		v.closeErr = errors.Join(logErr, rmErr)
		close(v.done)
	}()
	return v, nil
}

func stepShells(steps []step) []string {
	var s []string
	for _, st := range steps {
		s = append(s, st.shell)
	}
	return s
}

// kill sends SIGKILL to qemu's process group unless it has been reaped already.
func (v *VM) kill(reason string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.reaped {
		return
	}
	if v.reason == "" {
		v.reason = reason
	}
	// the group is qemu and anything it forked; the pgid cannot be reused before reaping
	_ = syscall.Kill(-v.proc.Pid, syscall.SIGKILL)
}

// Close kills qemu, waits for it and removes the VM's temp files. It is idempotent and
// safe to call concurrently; the error is from writing the console log or removing files.
func (v *VM) Close() error {
	v.closeOnce.Do(func() { v.kill("closed") })
	<-v.done
	return v.closeErr
}

// Done is closed when qemu has exited and the VM's temp files are gone.
func (v *VM) Done() <-chan struct{} { return v.done }

// Wait blocks until qemu exits and reports how: nil for a clean exit (guest powered off).
func (v *VM) Wait() error {
	<-v.done
	return v.exitError()
}

func (v *VM) exitError() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	switch {
	case v.reason != "":
		return fmt.Errorf("qemu killed (%s)", v.reason)
	case v.err != nil:
		return fmt.Errorf("qemu exited: %w", v.err)
	default:
		return nil
	}
}

// WaitConsole waits until a complete console line printed since Start matches re and
// returns its submatches (an unterminated line only counts once qemu has exited). It fails early when qemu exits, with the
// last console lines and qemu's stderr in the error.
func (v *VM) WaitConsole(ctx context.Context, re *regexp.Regexp) ([]string, error) {
	next := 0
	for {
		m, n, changed := v.console.match(re, next)
		if m != nil {
			return m, nil
		}
		next = n
		select {
		case <-changed:
		case <-v.done:
			// all output is in once done is closed: look once more
			if m, _, _ := v.console.match(re, next); m != nil {
				return m, nil
			}
			err := v.exitError()
			if err == nil {
				err = errors.New("qemu exited")
			}
			return nil, v.describe(fmt.Errorf("waiting for console /%s/: %w", re, err))
		case <-ctx.Done():
			return nil, v.describe(fmt.Errorf("waiting for console /%s/: %w", re, context.Cause(ctx)))
		}
	}
}

// describe adds qemu's stderr and the console tail to err.
func (v *VM) describe(err error) error {
	var b strings.Builder
	if s := strings.TrimSpace(v.stderr.String()); s != "" {
		fmt.Fprintf(&b, "\nqemu stderr:\n%s", s)
	}
	if t := v.ConsoleTail(20); len(t) > 0 {
		fmt.Fprintf(&b, "\nlast console lines:\n%s", strings.Join(t, "\n"))
	}
	if b.Len() == 0 {
		return err
	}
	return fmt.Errorf("%w%s", err, b.String())
}

// HostPort is the 127.0.0.1 port forwarded to guestPort, or 0 if there is none.
func (v *VM) HostPort(guestPort int) int { return v.fwd[guestPort] }

// Command is a shell command line that recreates the VM's files and runs the same qemu with
// the serial console on stdout. It reuses the VM's temp paths: paste it after Close.
func (v *VM) Command() string { return v.command }

// ConsoleTail returns up to n of the last clean console lines.
func (v *VM) ConsoleTail(n int) []string { return v.console.tail(n) }

// Pid is qemu's process id.
func (v *VM) Pid() int { return v.proc.Pid }

// pickPorts resolves forwards to host ports, choosing free ones on 127.0.0.1 for 0.
// The listeners stay open until all are chosen so no port is picked twice; another process
// could still take one before qemu binds it, which qemu then reports on stderr.
func pickPorts(fwds []Forward) (map[int]int, error) {
	m := make(map[int]int, len(fwds))
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for _, f := range fwds {
		if f.GuestPort <= 0 || f.GuestPort > 65535 {
			return nil, fmt.Errorf("vm: bad guest port %d", f.GuestPort)
		}
		if _, dup := m[f.GuestPort]; dup {
			return nil, fmt.Errorf("vm: guest port %d forwarded twice", f.GuestPort)
		}
		if f.HostPort != 0 {
			m[f.GuestPort] = f.HostPort
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("vm: pick a host port: %w", err)
		}
		ls = append(ls, l)
		m[f.GuestPort] = l.Addr().(*net.TCPAddr).Port
	}
	return m, nil
}

// tailBuffer is an io.Writer keeping the last max bytes written.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append([]byte(nil), t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

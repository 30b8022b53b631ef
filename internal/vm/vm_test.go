package vm

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etcd-appliance/appliance/arch"
	"github.com/etcd-appliance/appliance/internal/testenv"
)

// fakeQemu returns an arch whose "qemu" is a shell script: it ignores its arguments and
// writes to the console descriptor like qemu's serial would.
func fakeQemu(t *testing.T, script string) arch.Arch {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fake-qemu")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+script+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return arch.Arch{Name: "fake", QEMU: arch.QEMU{Binary: path, Machine: "none", NIC: "virtio-net-pci", Disk: "virtio-blk-pci"}}
}

// alive reports whether pid is a live process (zombies count as gone: the container's
// init may be slow to reap re-parented children).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// gone waits until pid has exited. A killed process closes its files (the console pipe's EOF,
// which Close waits for) a moment before it finishes exiting: poll /proc for that moment.
func gone(pid int, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for alive(pid) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

func startT(t *testing.T, cfg Config) *VM {
	t.Helper()
	if cfg.TempDir == "" {
		cfg.TempDir = t.TempDir()
	}
	v, err := Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

var never = regexp.MustCompile(`this line never appears`)

func TestConsoleAndExit(t *testing.T) {
	tests := []struct {
		name       string
		script     string
		want       string // regexp the console must show
		wantExit   bool   // Wait returns nil
		errContain []string
	}{
		{
			name:     "clean poweroff",
			script:   `printf 'firmware\r\n\033[0;32mOK\033[0m\r\netcd-appliance: boot finished: state=running failed=none\r\n' >&3`,
			want:     `boot finished: state=(\w+) failed=(\S+)`,
			wantExit: true, errContain: []string{"qemu exited", "boot finished"},
		},
		{
			name:       "qemu error",
			script:     `echo 'console line' >&3; echo 'qemu-system-x: bad option' >&2; exit 1`,
			want:       `console line`,
			errContain: []string{"exit status 1", "bad option", "console line"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logPath := filepath.Join(t.TempDir(), "console.log")
			var mu sync.Mutex
			var lines []string
			v := startT(t, Config{Arch: fakeQemu(t, tc.script), ConsoleLog: logPath, ConsoleFunc: func(l string) {
				mu.Lock()
				lines = append(lines, l)
				mu.Unlock()
			}})
			if _, err := v.WaitConsole(t.Context(), regexp.MustCompile(tc.want)); err != nil {
				t.Fatal(err)
			}
			_, err := v.WaitConsole(t.Context(), never)
			if err == nil {
				t.Fatal("WaitConsole after exit succeeded")
			}
			for _, s := range tc.errContain {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			if werr := v.Wait(); (werr == nil) != tc.wantExit {
				t.Errorf("Wait() = %v", werr)
			}
			raw, err := os.ReadFile(logPath)
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(lines) == 0 || !strings.Contains(string(raw), lines[0]) {
				t.Errorf("console log %q, callback lines %q", raw, lines)
			}
		})
	}
}

func TestCloseKillsProcessGroup(t *testing.T) {
	// the child inherits the console descriptor: Close must kill it too or never return
	v := startT(t, Config{Arch: fakeQemu(t, `sleep 600 & echo "child=$!" >&3; wait`)})
	m, err := v.WaitConsole(t.Context(), regexp.MustCompile(`child=(\d+)`))
	if err != nil {
		t.Fatal(err)
	}
	child, _ := strconv.Atoi(m[1])
	if !alive(v.Pid()) || !alive(child) {
		t.Fatal("processes not running before Close")
	}
	dir := v.dir
	var wg sync.WaitGroup
	for range 3 { // concurrent and repeated Close
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := v.Close(); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range []int{v.Pid(), child} {
		if !gone(pid, 5*time.Second) {
			t.Errorf("pid %d still alive after Close", pid)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temp dir %s not removed: %v", dir, err)
	}
	if err := v.Wait(); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Wait() = %v, want killed (closed)", err)
	}
}

func TestTimeoutAndContext(t *testing.T) {
	tests := []struct {
		name    string
		timeout time.Duration
		cancel  bool
		want    string
	}{
		{name: "timeout", timeout: 200 * time.Millisecond, want: "timeout 200ms"},
		{name: "context", cancel: true, want: "context canceled"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			v, err := Start(ctx, Config{Arch: fakeQemu(t, `echo up >&3; exec sleep 600`), Timeout: tc.timeout, TempDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			defer v.Close()
			if _, err := v.WaitConsole(t.Context(), regexp.MustCompile(`^up$`)); err != nil {
				t.Fatal(err)
			}
			if tc.cancel {
				cancel()
			}
			// no Close: the VM must end by itself
			_, err = v.WaitConsole(t.Context(), never)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("WaitConsole = %v, want %q", err, tc.want)
			}
			<-v.Done()
			if alive(v.Pid()) {
				t.Errorf("pid %d alive", v.Pid())
			}
		})
	}
}

func TestStartErrors(t *testing.T) {
	a := mustArch(t, "amd64")
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no binary", Config{}, "no qemu binary"},
		{"tap with forwards", Config{Arch: a, Network: Network{Tap: "tap0"}, HostForwards: []Forward{{GuestPort: 22}}}, "user-mode"},
		{"missing disk", Config{Arch: a, Disks: []Disk{{Path: "/nonexistent.raw"}}}, "nonexistent.raw"},
		{"disk without path or size", Config{Arch: a, Disks: []Disk{{Serial: "x"}}}, "neither a path nor a size"},
		{"bad format", Config{Arch: a, Disks: []Disk{{Path: "/dev/null", Format: "vhd"}}}, "unsupported format"},
		{"cmdline without kernel", Config{Arch: a, Cmdline: "x"}, "without kernel"},
		{"duplicate forward", Config{Arch: a, HostForwards: []Forward{{GuestPort: 1}, {GuestPort: 1}}}, "twice"},
		{"binary not found", Config{Arch: arch.Arch{QEMU: arch.QEMU{Binary: "/nonexistent/qemu"}}}, "start"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.TempDir = t.TempDir()
			v, err := Start(t.Context(), tc.cfg)
			if err == nil {
				v.Close()
				t.Fatal("Start succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if ents, _ := os.ReadDir(tc.cfg.TempDir); len(ents) != 0 {
				t.Errorf("temp files left: %v", ents)
			}
		})
	}
}

func TestPickPorts(t *testing.T) {
	m, err := pickPorts([]Forward{{GuestPort: 2379}, {GuestPort: 2381}, {GuestPort: 22, HostPort: 2222}})
	if err != nil {
		t.Fatal(err)
	}
	if m[22] != 2222 || m[2379] == 0 || m[2381] == 0 || m[2379] == m[2381] {
		t.Fatalf("ports = %v", m)
	}
}

// realQemu skips under -short, and unless the arch's qemu is installed (a failure under
// ETCD_APPLIANCE_STRICT=1); these tests boot real firmware.
func realQemu(t *testing.T, name string) arch.Arch {
	t.Helper()
	if testing.Short() {
		t.Skip("boots qemu")
	}
	a := mustArch(t, name)
	testenv.LookPath(t, a.QEMU.Binary)
	return a
}

// TestRealQemu boots firmware without a disk: it proves the console plumbing, the argv
// qemu accepts for each firmware kind, and that Close and Timeout leave no qemu behind.
func TestRealQemu(t *testing.T) {
	tests := []struct {
		arch    string
		console string // what the firmware prints early
		timeout time.Duration
	}{
		// OVMF's first complete line is only screen-control escapes: any line will do
		{arch: "amd64", console: `^`},
		{arch: "arm64", console: `UEFI firmware`},
		{arch: "ppc64le", console: `SLOF`, timeout: 5 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.arch, func(t *testing.T) {
			a := realQemu(t, tc.arch)
			cfg := Config{
				Arch: a, Timeout: tc.timeout, MemoryMiB: 512,
				HostForwards: []Forward{{GuestPort: 2381}},
				ConsoleLog:   filepath.Join(t.TempDir(), "console.log"),
			}
			v := startT(t, cfg)
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			if _, err := v.WaitConsole(ctx, regexp.MustCompile(tc.console)); err != nil {
				t.Fatalf("%v\n%s", err, v.Command())
			}
			if tc.timeout > 0 {
				_, err := v.WaitConsole(ctx, never)
				if err == nil || !strings.Contains(err.Error(), "timeout") {
					t.Fatalf("WaitConsole = %v, want timeout", err)
				}
			}
			if err := v.Close(); err != nil {
				t.Fatal(err)
			}
			if alive(v.Pid()) {
				t.Errorf("qemu pid %d alive after Close", v.Pid())
			}
			if b, err := os.ReadFile(cfg.ConsoleLog); err != nil || len(b) == 0 {
				t.Errorf("console log: %d bytes, %v", len(b), err)
			}
			if _, err := os.Stat(v.dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("temp dir left: %v", err)
			}
		})
	}
}

func TestSnapshotLeavesImageUntouched(t *testing.T) {
	a := realQemu(t, "amd64")
	dir := t.TempDir()
	img := filepath.Join(dir, "data.qcow2")
	if err := CreateBlankDisk(t.Context(), img, 64<<20); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	// the guest cannot write without an OS, so check the overlay chain qemu opened instead
	v := startT(t, Config{Arch: a, Disks: []Disk{{Path: img, Format: "qcow2", Snapshot: true}}, Timeout: time.Minute})
	out, err := exec.Command("qemu-img", "info", "--force-share", "--backing-chain", filepath.Join(v.dir, "disk0-overlay.qcow2")).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !strings.Contains(string(out), "backing file: "+img) {
		t.Errorf("overlay does not use the image as backing file:\n%s", out)
	}
	v.Close()
	after, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	if string(before) != string(after) {
		t.Error("image modified")
	}
}

package qemutests

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/etcd-appliance/appliance/internal/vm"
	"github.com/etcd-appliance/appliance/internal/vmnet"
)

// running holds every VM and work dir the tests made so an interrupt can stop the VMs and
// remove the files (qemu itself would also die with the test binary through its death
// signal, but t.TempDir is not cleaned up on os.Exit).
var running = newRegistry()

// slots bounds the VMs booted at once: TCG is CPU-bound.
var slots = make(chan struct{}, envInt("QEMU_TESTS_PARALLEL", 2))

func TestMain(m *testing.M) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sigs
		n := running.closeAll()
		fmt.Fprintf(os.Stderr, "qemu-tests: %v: stopped %d VM(s)\n", s, n)
		os.Exit(1)
	}()
	// namespaces left by a test binary that was killed (their owner pid is gone)
	if err := vmnet.Sweep(); err != nil {
		fmt.Fprintf(os.Stderr, "qemu-tests: removing stale test namespaces: %v\n", err)
	}
	os.Exit(m.Run())
}

type registry struct {
	mu       sync.Mutex
	vms      map[*vm.VM]struct{}
	dirs     map[string]struct{}
	shutdown bool
}

func newRegistry() *registry {
	return &registry{vms: map[*vm.VM]struct{}{}, dirs: map[string]struct{}{}}
}

// workDir is t.TempDir that an interrupt also removes.
func workDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "qemu-tests-")
	if err != nil {
		t.Fatal(err)
	}
	running.mu.Lock()
	running.dirs[dir] = struct{}{}
	running.mu.Unlock()
	t.Cleanup(func() {
		running.mu.Lock()
		delete(running.dirs, dir)
		running.mu.Unlock()
		if err := os.RemoveAll(dir); err != nil {
			t.Error(err)
		}
	})
	return dir
}

// add registers v; false means an interrupt is being handled and v must not be used.
func (r *registry) add(v *vm.VM) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.shutdown {
		return false
	}
	r.vms[v] = struct{}{}
	return true
}

func (r *registry) remove(v *vm.VM) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.vms, v)
}

// closeAll stops every registered VM, removes the work dirs and refuses new VMs.
func (r *registry) closeAll() int {
	r.mu.Lock()
	r.shutdown = true
	vms := make([]*vm.VM, 0, len(r.vms))
	for v := range r.vms {
		vms = append(vms, v)
	}
	r.mu.Unlock()
	for _, v := range vms {
		v.Close()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for d := range r.dirs {
		os.RemoveAll(d)
	}
	return len(vms)
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// vmTimeout is the hard limit for one VM, boot and checks included.
func vmTimeout(t testing.TB) time.Duration {
	s := os.Getenv("QEMU_TESTS_TIMEOUT")
	if s == "" {
		return 6 * time.Minute
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		t.Fatalf("QEMU_TESTS_TIMEOUT=%q: want a positive Go duration such as 6m", s)
	}
	return d
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// archSelected applies QEMU_TESTS_ARCHES.
func archSelected(name string) bool {
	sel := os.Getenv("QEMU_TESTS_ARCHES")
	if sel == "" {
		return true
	}
	for _, a := range strings.Split(sel, ",") {
		if strings.TrimSpace(a) == name {
			return true
		}
	}
	return false
}

// bootVM starts cfg with the test's limits and logging, and arranges that on failure the
// console tail and qemu command are printed and the console log is kept.
func bootVM(t *testing.T, cfg vm.Config) *vm.VM {
	t.Helper()
	return startVM(t, cfg, true, "")
}

// startVM is bootVM; slot false skips the QEMU_TESTS_PARALLEL bound (for VMs that must run
// together, from tests that are not parallel), and label names the VM in logs.
func startVM(t *testing.T, cfg vm.Config, slot bool, label string) *vm.VM {
	t.Helper()
	if label != "" {
		label += " "
	}
	if slot {
		slots <- struct{}{}
		t.Cleanup(func() { <-slots })
	}

	dir := workDir(t)
	cfg.TempDir = dir
	cfg.ConsoleLog = filepath.Join(dir, "console.log")
	if cfg.Timeout == 0 {
		cfg.Timeout = vmTimeout(t)
	}
	if os.Getenv("QEMU_TESTS_VERBOSE") == "1" {
		cfg.ConsoleFunc = func(line string) { t.Log(label + "console: " + line) }
	}
	v, err := vm.Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !running.add(v) {
		v.Close()
		t.Fatal("interrupted")
	}
	t.Cleanup(func() {
		failed := t.Failed()
		if failed {
			t.Logf("%slast console lines:\n%s", label, strings.Join(v.ConsoleTail(80), "\n"))
		}
		if err := v.Close(); err != nil {
			t.Errorf("close VM: %v", err)
		}
		running.remove(v)
		if failed {
			keepLogs(t, label, cfg.ConsoleLog, v.Command())
		}
	})
	return v
}

// keepLogs copies the console log and the qemu command to QEMU_TESTS_LOGDIR.
func keepLogs(t *testing.T, label, consoleLog, command string) {
	dir := envOr("QEMU_TESTS_LOGDIR", filepath.Join("..", "out", "test-logs"))
	base := filepath.Join(dir, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()+label))
	err := os.MkdirAll(dir, 0o755)
	if err == nil {
		var b []byte
		if b, err = os.ReadFile(consoleLog); err == nil {
			err = os.WriteFile(base+".console.log", b, 0o644)
		}
	}
	if err == nil {
		err = os.WriteFile(base+".qemu.sh", []byte("#!/bin/sh\n"+command+"\n"), 0o755)
	}
	if err != nil {
		t.Logf("keeping the console log: %v", err)
		return
	}
	abs, _ := filepath.Abs(base)
	t.Logf("console log: %s.console.log\nqemu command (also in %s.qemu.sh):\n%s", abs, abs, command)
}

package qemutests

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/etcd-appliance/appliance/arch"
	"github.com/etcd-appliance/appliance/internal/bench"
	"github.com/etcd-appliance/appliance/internal/bootline"
	"github.com/etcd-appliance/appliance/internal/ignitiontest"
	"github.com/etcd-appliance/appliance/internal/vm"
)

// BenchmarkBootTimeline boots each selected arch BENCH_RUNS times (default 3) three ways, one
// VM at a time: the floor (the image's kernel with an initramfs whose init powers off at
// once), direct kernel boot of the image (kernel + initrd + the image as root disk), and
// firmware boot of the image. It records power-on → kernel → systemd → firstboot start →
// firstboot done → etcd /health true, and firstboot's own steps from the console's kernel
// timestamps, and writes
// every run to BENCH_DIR/boot.json (internal/bench/report renders it), next to each run's
// console. `make bench` runs it with -benchtime 1x.
func BenchmarkBootTimeline(b *testing.B) {
	out := os.Getenv("BENCH_DIR")
	if out == "" {
		out = b.TempDir()
	}
	n := envInt("BENCH_RUNS", 3)
	im := loadImages(b)
	var runs []bench.Run
	for _, name := range arch.Names() {
		if !archSelected(name) {
			continue
		}
		a, err := arch.Lookup(name)
		if err != nil {
			b.Fatal(err)
		}
		img, format := im.need(b, name, "raw", "qcow2")
		kernel, initrd, cmdline := im.directBoot(b, name)
		floor := floorInitrd(b, a)
		for i := 0; i < b.N*n; i++ {
			for _, mode := range []string{"floor", "direct", "firmware"} {
				cfg := vm.Config{Arch: a, TempDir: workDir(b), Timeout: vmTimeout(b),
					ConsoleLog: filepath.Join(out, fmt.Sprintf("console-%s-%s-%d.log", name, mode, i+1))}
				switch mode {
				case "floor":
					cfg.Kernel, cfg.Initrd, cfg.Cmdline = kernel, floor, cmdline
				case "direct":
					cfg.Kernel, cfg.Initrd, cfg.Cmdline = kernel, initrd, cmdline
					fallthrough
				default:
					cfg.Disks = []vm.Disk{{Path: img, Format: format, ReadOnly: true}, dataDisk()}
					cfg.HostForwards = []vm.Forward{{GuestPort: etcdMetricsPort}}
					// the host polls /health from qemu's user network: let it in
					withIgnition(b, &cfg, ignitiontest.Config(b, "version: 1\n"+userNetMetrics, nil))
				}
				r, err := timeline(b, cfg, mode == "floor")
				if err != nil {
					b.Fatalf("%s %s run %d: %v", name, mode, i+1, err)
				}
				run := r.Run(name, mode)
				b.Logf("%s %s run %d: %v; firstboot %s", name, mode, i+1, run.At, run.Firstboot.Round(time.Millisecond))
				runs = append(runs, run)
			}
		}
	}
	js, _ := json.MarshalIndent(runs, "", "  ")
	if err := os.WriteFile(filepath.Join(out, "boot.json"), js, 0o644); err != nil {
		b.Fatal(err)
	}
	b.Logf("%s\nwrote %s", bench.BootTables(runs), filepath.Join(out, "boot.json"))
}

// timeline boots cfg and records its milestones: until it powers itself off (the floor), or
// until etcd's /health is true.
func timeline(b *testing.B, cfg vm.Config, untilOff bool) (*bench.Recorder, error) {
	return recordBoot(b, cfg, func(ctx context.Context, v *vm.VM, r *bench.Recorder) error {
		if untilOff {
			select {
			case <-v.Done():
				r.Mark(bench.PowerOff)
				return nil
			case <-ctx.Done():
				return fmt.Errorf("the floor did not power off: %w", ctx.Err())
			}
		}
		if err := markHealthy(ctx, v, r, etcdMetricsPort); err != nil {
			return err
		}
		// firstboot's run is read from the console: wait for its last line to have arrived
		_, err := v.WaitConsole(ctx, bootline.Regexp)
		return err
	})
}

// recordBoot starts cfg with a Recorder on its console, runs until on it within one VM
// timeout, and closes the VM.
func recordBoot(b *testing.B, cfg vm.Config, until func(ctx context.Context, v *vm.VM, r *bench.Recorder) error) (*bench.Recorder, error) {
	ctx, cancel := context.WithTimeout(b.Context(), vmTimeout(b))
	defer cancel()
	r := bench.NewRecorder()
	cfg.ConsoleFunc = r.Line
	if cfg.CPUs == 0 {
		// One by default, as the bench has always booted; issue 20 stated its goals with two.
		cfg.CPUs = envInt("BENCH_CPUS", 1)
	}
	v, err := vm.Start(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if !running.add(v) {
		v.Close()
		return nil, fmt.Errorf("interrupted")
	}
	defer func() { v.Close(); running.remove(v) }()
	if err := until(ctx, v, r); err != nil {
		return nil, err
	}
	return r, nil
}

// markHealthy waits for etcd's /health on guestPort (forwarded to the host) and marks it.
func markHealthy(ctx context.Context, v *vm.VM, r *bench.Recorder, guestPort int) error {
	client := &http.Client{Timeout: 2 * time.Second}
	if err := pollHealthy(ctx, client, fmt.Sprintf("http://127.0.0.1:%d/health", v.HostPort(guestPort))); err != nil {
		return err
	}
	r.Mark(bench.Healthy)
	return nil
}

// pollHealthy is waitHealthy at the bench's resolution: a new GET every healthPoll, without
// waiting for the ones still open. Until the guest's network is up, qemu's user network
// accepts the host's connection and retries its SYN to the guest for seconds, so one GET at a
// time would let a stalled one hide the moment etcd became healthy. client's timeout (2 s
// where the bench and TestCluster call it: longer than a booting guest takes to answer) bounds
// how many stall at once.
func pollHealthy(ctx context.Context, client *http.Client, url string) error {
	const healthPoll = 100 * time.Millisecond
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ok := make(chan struct{}, 1)
	var lastErr atomic.Pointer[error]
	tick := time.NewTicker(healthPoll)
	defer tick.Stop()
	for {
		go func() {
			if err := checkHealth(ctx, client, url); err != nil {
				if ctx.Err() == nil { // not the deadline's own error
					lastErr.Store(&err)
				}
				return
			}
			select {
			case ok <- struct{}{}:
			default:
			}
		}()
		select {
		case <-ok:
			return nil
		case <-ctx.Done():
			err := errors.New("no answer yet")
			if last := lastErr.Load(); last != nil {
				err = *last
			}
			return fmt.Errorf("GET %s: not healthy before the deadline: last error: %w", url, err)
		case <-tick.C:
		}
	}
}

// floorInitrd builds the floor's init for a and packs it as the only file of an initramfs.
func floorInitrd(b *testing.B, a arch.Arch) string {
	dir := workDir(b)
	bin := filepath.Join(dir, "floorinit-"+a.Name)
	cmd := exec.CommandContext(b.Context(), "go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "github.com/etcd-appliance/appliance/internal/bench/floorinit")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+a.Name)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("building the floor's init: %v\n%s", err, out)
	}
	init, err := os.ReadFile(bin)
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, "floor-"+a.Name+".cpio")
	if err := os.WriteFile(path, bench.Initramfs(init), 0o644); err != nil {
		b.Fatal(err)
	}
	return path
}

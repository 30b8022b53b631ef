package qemutests

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/etcd-appliance/appliance/arch"
	"github.com/etcd-appliance/appliance/internal/bench"
	"github.com/etcd-appliance/appliance/internal/ignitiontest"
	"github.com/etcd-appliance/appliance/internal/vm"
)

// BenchmarkPeer boots our amd64 image and the peer side by side, one VM at a time, runs
// alternating, BENCH_RUNS times (default 3): our firmware boot with a blank data disk, its
// reboot on the same disks, then the peer's first boot and its reboot. The peer is a
// conventional Debian cloud image with cloud-init and Debian's etcd (plaintext), built by
// scripts/peer-image.sh into PEER_DIR; it gets the same firmware, vCPU, memory and disk bus,
// and its configuration from a NoCloud seed. Each run records power-on → kernel → etcd /health
// true; the runs go to BENCH_DIR/peer.json (internal/bench/report peer renders them), next to
// each run's console. `make bench` runs it with -benchtime 1x.
func BenchmarkPeer(b *testing.B) {
	peerDir := os.Getenv("PEER_DIR")
	if peerDir == "" {
		missing(b, "PEER_DIR is not set: build the peer with scripts/peer-image.sh DIR and set PEER_DIR=DIR (make bench does both)")
	}
	peerImg, peerSeed := filepath.Join(peerDir, "peer-amd64.qcow2"), filepath.Join(peerDir, "peer-seed-amd64.img")
	for _, f := range []string{peerImg, peerSeed} {
		if _, err := os.Stat(f); err != nil {
			missing(b, "the peer: %v: run scripts/peer-image.sh %s", err, peerDir)
		}
	}
	out := os.Getenv("BENCH_DIR")
	if out == "" {
		out = b.TempDir()
	}
	a, err := arch.Lookup("amd64")
	if err != nil {
		b.Fatal(err)
	}
	img, format := loadImages(b).need(b, "amd64", "raw", "qcow2")
	ign := ignitiontest.Config(b, "version: 1\n"+userNetMetrics, nil)
	var runs []bench.Run
	record := func(r *bench.Recorder, mode string, i int) {
		run := r.Run("amd64", mode)
		b.Logf("%s run %d: %v", mode, i+1, run.At)
		runs = append(runs, run)
	}
	for i := 0; i < b.N*envInt("BENCH_RUNS", 3); i++ {
		dir := workDir(b)
		data := filepath.Join(dir, "data.qcow2")
		if err := vm.CreateBlankDisk(b.Context(), data, dataDiskSize); err != nil {
			b.Fatal(err)
		}
		cfg := vm.Config{Arch: a, TempDir: dir, Timeout: vmTimeout(b),
			Disks:        []vm.Disk{{Path: img, Format: format, ReadOnly: true}, {Path: data, Format: "qcow2", Serial: dataDiskSerial}},
			HostForwards: []vm.Forward{{GuestPort: etcdMetricsPort}}}
		withIgnition(b, &cfg, ign)
		// The reboot follows a power cut (timeline kills qemu): a node of ours keeps nothing
		// but its data volume, whose etcd fsyncs what it acknowledged.
		for _, mode := range []string{bench.ModeFirstBoot, bench.ModeReboot} {
			cfg.ConsoleLog = filepath.Join(out, fmt.Sprintf("console-%s-%d.log", mode, i+1))
			r, err := timeline(b, cfg, false)
			if err != nil {
				b.Fatalf("%s run %d: %v", mode, i+1, err)
			}
			record(r, mode, i)
		}

		osDisk := filepath.Join(dir, "peer.qcow2")
		if out, err := exec.CommandContext(b.Context(), "qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", peerImg, osDisk).CombinedOutput(); err != nil {
			b.Fatalf("qemu-img create: %v\n%s", err, out)
		}
		pcfg := vm.Config{Arch: a, TempDir: dir, Timeout: vmTimeout(b),
			Disks:        []vm.Disk{{Path: osDisk, Format: "qcow2"}, {Path: peerSeed, Format: "raw", ReadOnly: true}},
			HostForwards: []vm.Forward{{GuestPort: etcdClientPort}}}
		// The peer is shut down cleanly (the ACPI power button, as a cloud's stop does):
		// cloud-init's and Debian's state on its root must reach the disk before the reboot.
		for _, mode := range []string{bench.ModePeer, bench.ModePeerReboot} {
			pcfg.ConsoleLog = filepath.Join(out, fmt.Sprintf("console-%s-%d.log", mode, i+1))
			r, err := peerTimeline(b, pcfg)
			if err != nil {
				b.Fatalf("%s run %d: %v", mode, i+1, err)
			}
			record(r, mode, i)
		}
	}
	js, _ := json.MarshalIndent(runs, "", "  ")
	if err := os.WriteFile(filepath.Join(out, "peer.json"), js, 0o644); err != nil {
		b.Fatal(err)
	}
	b.Logf("%s\nwrote %s", bench.PeerTable(runs), filepath.Join(out, "peer.json"))
}

// cloudInitFinished is cloud-init's last console line of a boot.
var cloudInitFinished = regexp.MustCompile(`Cloud-init v\. \S+ finished at`)

// peerTimeline boots the peer until its etcd's /health is true, lets cloud-init finish, then
// presses its power button and waits for it to power off.
func peerTimeline(b *testing.B, cfg vm.Config) (*bench.Recorder, error) {
	return recordBoot(b, cfg, func(ctx context.Context, v *vm.VM, r *bench.Recorder) error {
		if err := markHealthy(ctx, v, r, etcdClientPort); err != nil {
			return err
		}
		// cloud-init's later stages still run: let them finish, or the reboot redoes them
		if _, err := v.WaitConsole(ctx, cloudInitFinished); err != nil {
			return err
		}
		if err := v.PowerButton(ctx); err != nil {
			return err
		}
		select {
		case <-v.Done():
			return nil
		case <-ctx.Done():
			return fmt.Errorf("the peer did not power off after its power button was pressed: %w", ctx.Err())
		}
	})
}

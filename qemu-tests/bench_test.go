package qemutests

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/etcd-appliance/appliance/arch"
	"github.com/etcd-appliance/appliance/internal/vm"
)

// BenchmarkBootToHealthy boots each arch's image through its firmware (as TestFirmwareBoot
// does) and reports seconds from starting qemu to the boot-finished console line and to etcd
// answering /health. Run by `make bench` with -benchtime 1x; one VM at a time, so the numbers
// are not shared-CPU numbers.
func BenchmarkBootToHealthy(b *testing.B) {
	im := loadImages(b)
	for _, name := range arch.Names() {
		b.Run(name, func(b *testing.B) {
			if !archSelected(name) {
				b.Skipf("%s not in QEMU_TESTS_ARCHES", name)
			}
			a, err := arch.Lookup(name)
			if err != nil {
				b.Fatal(err)
			}
			img, format := im.need(b, name, "qcow2", "raw")
			var toBoot, toHealthy time.Duration
			for i := 0; i < b.N; i++ {
				boot, healthy, err := timeBoot(b, a, img, format)
				if err != nil {
					b.Fatal(err)
				}
				toBoot += boot
				toHealthy += healthy
			}
			b.ReportMetric(toBoot.Seconds()/float64(b.N), "s-to-boot-finished")
			b.ReportMetric(toHealthy.Seconds()/float64(b.N), "s-to-healthy")
		})
	}
}

func timeBoot(b *testing.B, a arch.Arch, img, format string) (boot, healthy time.Duration, err error) {
	ctx, cancel := context.WithTimeout(b.Context(), vmTimeout(b))
	defer cancel()
	start := time.Now()
	v, err := vm.Start(ctx, vm.Config{
		Arch: a, TempDir: workDir(b), Timeout: vmTimeout(b),
		Disks:        []vm.Disk{{Path: img, Format: format, ReadOnly: true}, dataDisk()},
		HostForwards: []vm.Forward{{GuestPort: etcdMetricsPort}},
	})
	if err != nil {
		return 0, 0, err
	}
	if !running.add(v) {
		v.Close()
		return 0, 0, fmt.Errorf("interrupted")
	}
	defer func() { v.Close(); running.remove(v) }()
	if _, err := v.WaitConsole(ctx, bootFinished); err != nil {
		return 0, 0, err
	}
	boot = time.Since(start)
	if err := waitHealthy(ctx, fmt.Sprintf("http://127.0.0.1:%d/health", v.HostPort(etcdMetricsPort))); err != nil {
		return 0, 0, err
	}
	return boot, time.Since(start), nil
}

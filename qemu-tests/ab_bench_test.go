package qemutests

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcd-appliance/appliance/arch"
	"github.com/etcd-appliance/appliance/internal/bench"
	"github.com/etcd-appliance/appliance/internal/ignitiontest"
	"github.com/etcd-appliance/appliance/internal/vm"
)

// BenchmarkAB compares boot cuts, the way docs/PERFORMANCE.md measures them: each variant of
// AB_VARIANTS ("name=IMAGE_DIR" or "name=IMAGE_DIR|extra kernel arguments", separated by ";")
// is booted AB_RUNS times (default 3) by direct kernel boot, a first boot on a blank data disk
// and then a reboot of the same disks after a power cut, one VM at a time and round-robin, so
// that the host's drift falls on every variant alike. It logs each boot's milestones and per
// variant the medians of power-on → healthy and of firstboot's last line → healthy; consoles go
// to BENCH_DIR. AB_ARCH picks the arch (default amd64). Not part of make bench: run it by hand,
// e.g. AB_VARIANTS='before=out-a;after=out-b;masked=out-a|systemd.mask=etcd-agent.service'
// go test -v -run '^$' -bench BenchmarkAB -benchtime 1x -timeout 60m ./qemu-tests/ (-v: without it
// Go trims a benchmark's log to its first 10 lines, and the summary table is lost)
func BenchmarkAB(b *testing.B) {
	type variant struct {
		name, kargs string
		im          *images
	}
	if os.Getenv("AB_VARIANTS") == "" {
		b.Skip("AB_VARIANTS is not set: name=IMAGE_DIR[|kernel arguments];… (an A/B comparison run by hand)")
	}
	var variants []variant
	for _, s := range strings.Split(os.Getenv("AB_VARIANTS"), ";") {
		name, rest, ok := strings.Cut(s, "=")
		if !ok || name == "" || rest == "" {
			b.Fatalf("AB_VARIANTS: %q is not name=IMAGE_DIR[|kernel arguments]", s)
		}
		dir, kargs, _ := strings.Cut(rest, "|")
		variants = append(variants, variant{name: name, kargs: kargs, im: loadImagesFrom(b, dir)})
	}
	archName := os.Getenv("AB_ARCH")
	if archName == "" {
		archName = "amd64"
	}
	a, err := arch.Lookup(archName)
	if err != nil {
		b.Fatal(err)
	}
	out := os.Getenv("BENCH_DIR")
	if out == "" {
		out = b.TempDir()
	}
	healthy := map[string][]time.Duration{}
	etcdStart := map[string][]time.Duration{}
	for i := 0; i < b.N*envInt("AB_RUNS", 3); i++ {
		for _, v := range variants {
			img, format := v.im.need(b, archName, "raw", "qcow2")
			kernel, initrd, cmdline := v.im.directBoot(b, archName)
			dir := workDir(b)
			data := filepath.Join(dir, "data.qcow2")
			if err := vm.CreateBlankDisk(b.Context(), data, dataDiskSize); err != nil {
				b.Fatal(err)
			}
			cfg := vm.Config{Arch: a, TempDir: dir, Timeout: vmTimeout(b),
				Kernel: kernel, Initrd: initrd, Cmdline: strings.TrimSpace(cmdline + " " + v.kargs),
				Disks:        []vm.Disk{{Path: img, Format: format, ReadOnly: true}, {Path: data, Format: "qcow2", Serial: dataDiskSerial}},
				HostForwards: []vm.Forward{{GuestPort: etcdMetricsPort}}}
			withIgnition(b, &cfg, ignitiontest.Config(b, "version: 1\n"+userNetMetrics, nil))
			for _, mode := range []string{"first", "reboot"} {
				cfg.ConsoleLog = filepath.Join(out, fmt.Sprintf("console-%s-%s-%d.log", v.name, mode, i+1))
				r, err := timeline(b, cfg, false)
				if err != nil {
					b.Fatalf("%s %s run %d: %v", v.name, mode, i+1, err)
				}
				h, fb := r.At[bench.Healthy], r.At[bench.Firstboot]
				healthy[v.name] = append(healthy[v.name], h)
				etcdStart[v.name] = append(etcdStart[v.name], h-fb)
				b.Logf("%s %s run %d: firstboot started %.2f s, done %.2f s, healthy %.2f s", v.name, mode, i+1,
					r.At[bench.Started].Seconds(), fb.Seconds(), h.Seconds())
			}
		}
	}
	var t strings.Builder
	t.WriteString("| variant | boots | power-on → healthy, median (range) | firstboot's last line → healthy, median (range) |\n|---|---|---|---|\n")
	for _, v := range variants {
		h, e := bench.Summarize(healthy[v.name]), bench.Summarize(etcdStart[v.name])
		fmt.Fprintf(&t, "| %s | %d | %.2f (%.2f–%.2f) | %.2f (%.2f–%.2f) |\n", v.name, h.N,
			h.Median.Seconds(), h.Min.Seconds(), h.Max.Seconds(), e.Median.Seconds(), e.Min.Seconds(), e.Max.Seconds())
	}
	b.Logf("\n%s", t.String())
}

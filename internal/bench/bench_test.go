package bench

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"
	"time"
)

// console is a boot as the serial console shows it (amd64, direct kernel boot).
var console = strings.Split(`[    0.000000] Linux version 6.1.0-28-amd64 (debian-kernel@lists.debian.org)
[    2.114401] systemd[1]: systemd 252.33-1~deb12u1 running in system mode (+PAM …)
         Starting firstboot.service…liance first-boot configuration...
[   21.427748] firstboot[157]: etcd-appliance: image dev build 0c40449b6f58e2f9 (etcd v3.6.16, amd64)
[   21.790595] firstboot[157]: etcd-appliance: platform qemu (DMI sys_vendor "QEMU")
[   21.943112] firstboot[157]: etcd-appliance: configured: hostname=(none) member=etcd-a ssh_keys=1 files=0 units=0
[   23.527470] firstboot[157]: etcd-appliance: data volume /dev/vdb (labelled etcd-data), mounted at /var/lib/etcd
[   23.848454] firstboot[157]: etcd-appliance: tls: issued the server certificate (expired on 2027-11-21)
[   23.875745] firstboot[157]: etcd-appliance: member etcd-a (address 10.77.0.11 is on this machine) of cluster small (etcd-a); clients: https://10.77.0.11:2379 (TLS, client certificate required); health: http://<this host>:2381/health
[   29.556932] firstboot[190]: etcd-appliance: status: etcd-a: etcd DOWN here · image dev
[   36.378928] firstboot[202]: etcd-appliance: boot finished: state=running failed=none`, "\n")

func TestFirstbootSteps(t *testing.T) {
	steps, total := FirstbootSteps(console)
	if want := 2448 * time.Millisecond; total.Round(time.Millisecond) != want {
		t.Errorf("total %s, want %s", total, want)
	}
	want := []struct {
		prefix string
		ms     int64
	}{{"platform qemu", 363}, {"configured:", 153}, {"data volume", 1584}, {"tls:", 321}, {"member etcd-a", 27}}
	if len(steps) != len(want) {
		t.Fatalf("steps %+v, want %d", steps, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(steps[i].Line, w.prefix) || steps[i].Duration.Round(time.Millisecond).Milliseconds() != w.ms {
			t.Errorf("step %d = %q %s, want %q %d ms", i, steps[i].Line, steps[i].Duration, w.prefix, w.ms)
		}
	}
	if _, total := FirstbootSteps([]string{"no firstboot here"}); total != 0 {
		t.Errorf("total without firstboot lines: %s", total)
	}
}

func TestRecorder(t *testing.T) {
	now := time.Unix(100, 0)
	r := &Recorder{start: now, now: func() time.Time { return now }, At: map[string]time.Duration{}}
	for i, l := range console {
		now = time.Unix(100+int64(i), 0)
		r.Line(l)
	}
	now = time.Unix(150, 0)
	r.Mark(Healthy)
	want := map[string]time.Duration{Kernel: 0, Systemd: time.Second, Started: 2 * time.Second, Firstboot: 8 * time.Second,
		Finished: 10 * time.Second, Healthy: 50 * time.Second}
	for k, v := range want {
		if r.At[k] != v {
			t.Errorf("%s at %s, want %s (all: %v)", k, r.At[k], v, r.At)
		}
	}
	// firstboot's run is from its unit's start (host clock), the time before its first line
	// being a step of its own
	run := r.Run("amd64", "direct")
	if run.Firstboot != 6*time.Second {
		t.Errorf("firstboot's run %s, want 6s", run.Firstboot)
	}
	if len(run.Steps) != 6 || run.Steps[0].Line != StartupStep || run.Steps[0].Duration.Round(time.Millisecond) != 3552*time.Millisecond {
		t.Errorf("steps %+v, want the startup step of 3.552s first", run.Steps)
	}
}

func TestSummarize(t *testing.T) {
	s := func(ds ...int) []time.Duration {
		var out []time.Duration
		for _, d := range ds {
			out = append(out, time.Duration(d)*time.Second)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		runs []time.Duration
		want Summary
	}{
		{"none", nil, Summary{}},
		{"odd", s(30, 10, 20), Summary{N: 3, Median: 20 * time.Second, Min: 10 * time.Second, Max: 30 * time.Second}},
		{"even", s(10, 40, 20, 30), Summary{N: 4, Median: 25 * time.Second, Min: 10 * time.Second, Max: 40 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Summarize(tc.runs); got != tc.want {
				t.Errorf("Summarize = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func sampleRuns() []Run {
	sec := func(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }
	full := func(arch, mode string, k, h float64) Run {
		return Run{Arch: arch, Mode: mode, At: map[string]time.Duration{Kernel: sec(k), Systemd: sec(k + 2), Started: sec(h - 9), Firstboot: sec(h - 6), Healthy: sec(h)},
			Firstboot: sec(2.5), Steps: []Step{{"data volume /dev/vdb", sec(1.6)}, {"tls: issued", sec(0.3)}, {"member etcd-a", sec(0.1)}}}
	}
	return []Run{
		full("amd64", "firmware", 9, 40), full("amd64", "direct", 0.1, 30), full("amd64", "direct", 0.1, 32), full("amd64", "direct", 0.1, 31),
		{Arch: "amd64", Mode: "floor", At: map[string]time.Duration{PowerOff: sec(10)}},
		{Arch: "amd64", Mode: "floor", At: map[string]time.Duration{PowerOff: sec(12)}},
	}
}

func TestBootTables(t *testing.T) {
	got := BootTables(sampleRuns())
	for _, want := range []string{
		"| amd64 | direct | 3 | 0.1 | 2.1 | 22.0 (21.0–23.0) | 25.0 (24.0–26.0) | 31.0 (30.0–32.0) | 11.0 (10.0–12.0) | 2.82 (met) |",
		"| amd64 | firmware | 1 | 9.0 | 11.0 | 31.0 | 34.0 | 40.0 | 11.0 (10.0–12.0) | – |",
		"| amd64 | direct | 2.5 | 8 % | 1.6 s until `data volume /dev/vdb`; 0.3 s until `tls: issued`; 0.1 s until `member etcd-a` |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("tables lack\n%s\ngot\n%s", want, got)
		}
	}
	if strings.Index(got, "| amd64 | direct | 3 |") > strings.Index(got, "| amd64 | firmware | 1 |") {
		t.Errorf("direct should come before firmware:\n%s", got)
	}
}

// The ratio to the floor is judged unrounded, against the goal of its arch: the amd64 and
// ppc64le rows below both print 3.00; arm64 has no goal.
func TestBootTablesFloorGoal(t *testing.T) {
	sec := func(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }
	var runs []Run
	for arch, healthy := range map[string]float64{"amd64": 30.04, "ppc64le": 29.96, "arm64": 50} {
		runs = append(runs, Run{Arch: arch, Mode: "direct", At: map[string]time.Duration{Healthy: sec(healthy)}},
			Run{Arch: arch, Mode: "floor", At: map[string]time.Duration{PowerOff: sec(10)}})
	}
	got := BootTables(runs)
	for _, want := range []string{"| amd64 | direct | 1 | – | – | – | – | 30.0 | 10.0 | 3.00 (not met) |",
		"| ppc64le | direct | 1 | – | – | – | – | 30.0 | 10.0 | 3.00 (met) |", "| arm64 | direct | 1 | – | – | – | – | 50.0 | 10.0 | 5.00 |"} {
		if !strings.Contains(got, want) {
			t.Errorf("tables lack %q:\n%s", want, got)
		}
	}
}

func TestTimelineSVG(t *testing.T) {
	svg := TimelineSVG(sampleRuns())
	if err := xml.Unmarshal([]byte(svg), new(struct{})); err != nil {
		t.Fatalf("not well-formed XML: %v\n%s", err, svg)
	}
	// three rows (direct, firmware, floor): five stretches each for the boots, one for the floor
	if n := strings.Count(svg, "<rect x=") - len(segments); n != 5+5+1 {
		t.Errorf("%d bars' segments, want 11\n%s", n, svg)
	}
	for _, label := range []string{">amd64 direct<", ">amd64 firmware<", ">amd64 floor<", ">31.0<", ">11.0<"} {
		if !strings.Contains(svg, label) {
			t.Errorf("chart lacks %s", label)
		}
	}
}

func TestInitramfs(t *testing.T) {
	data := []byte("#!hello")
	a := Initramfs(data)
	if len(a)%4 != 0 {
		t.Errorf("length %d is not a multiple of 4", len(a))
	}
	// first entry: 110-byte header, "init\0" padded to 116, data padded to 124
	h := string(a[:110])
	if h[:6] != "070701" || h[14:22] != "000081ED" || h[54:62] != "00000007" || h[94:102] != "00000005" {
		t.Errorf("header %q", h)
	}
	if string(a[110:115]) != "init\x00" || string(a[116:123]) != "#!hello" {
		t.Errorf("entry %q", a[110:124])
	}
	if !bytes.Contains(a[124:], []byte("TRAILER!!!\x00")) {
		t.Error("no trailer")
	}
}

func TestSizeTables(t *testing.T) {
	got := SizeTables([]SizeRow{
		{Arch: "amd64", RawAllocated: 48 << 20, QCOW2: 50462720, RootFS: 37 << 20, VerityTree: 296 << 10, Kernel: 8 << 20, Initrd: 2 << 20, QCOW2Goal: 48 << 20,
			Tree: []Part{{"etcd, etcdctl, etcdutl", 60 << 20}, {"kernel modules", 20 << 20}}},
		{Arch: "ppc64le", QCOW2: 40 << 20, QCOW2Goal: 64 << 20, Tree: []Part{{"kernel modules", 30 << 20}, {"firstboot", 20 << 20}}},
	})
	for _, want := range []string{
		"| amd64 | 48.1 | ≤ 48.0 (over by 0.1) | 48.0 | 37.0 | 0.3 | 8.0 | 2.0 |",
		"| ppc64le | 40.0 | ≤ 64.0 (met) |",
		"| arch | etcd, etcdctl, etcdutl | kernel modules | firstboot | total |",
		"| amd64 | 60.0 | 20.0 | 0.0 | 80.0 |",
		"| ppc64le | 0.0 | 30.0 | 20.0 | 50.0 |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("size tables lack\n%s\ngot\n%s", want, got)
		}
	}
}

func TestPeerTable(t *testing.T) {
	at := func(kernel, healthy float64) map[string]time.Duration {
		return map[string]time.Duration{Kernel: seconds(kernel), Healthy: seconds(healthy)}
	}
	runs := []Run{
		{Arch: "amd64", Mode: ModeFirstBoot, At: at(9, 30)},
		{Arch: "amd64", Mode: ModeReboot, At: at(9, 20)},
		{Arch: "amd64", Mode: ModePeer, At: at(8, 80)},
		{Arch: "amd64", Mode: ModePeerReboot, At: at(8, 50)},
		{Arch: "amd64", Mode: ModeFirstBoot, At: at(10, 34)},
		{Arch: "amd64", Mode: ModePeer, At: at(8, 90)},
	}
	got := PeerTable(runs)
	for _, want := range []string{
		"| first boot (blank data) | 2 + 2 | 9.5 (9.0–10.0) | 32.0 (30.0–34.0) | 8.0 | 85.0 (80.0–90.0) | 0.38 | ≤ 0.40 (met) |",
		"| reboot (same disks) | 1 + 1 | 9.0 | 20.0 | 8.0 | 50.0 | 0.40 | ≤ 0.35 (not met) |",
	} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("table lacks\n%s\ngot\n%s", want, got)
		}
	}
	if got := PeerTable(runs[:1]); !strings.Contains(got, "| – | ≤ 0.40 |") {
		t.Errorf("without peer runs the ratio is –; got\n%s", got)
	}
}

// Package bench holds what `make bench` measures and how it is reported: the milestones of a
// boot read from the serial console, statistics over runs, and the Markdown tables and SVG
// chart of BENCHMARKS.md. Measuring (qemu, builds) is done by qemu-tests and scripts/bench.sh;
// this package is pure.
package bench

import (
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/etcd-appliance/appliance/internal/bootline"
)

// Milestones of a boot, in order. Power-on is qemu's start (zero); healthy is the first time
// etcd's /health answered true to the host.
const (
	Kernel    = "kernel"          // the kernel's first line (Linux version …)
	Systemd   = "systemd"         // systemd (PID 1) started
	Started   = "firstboot-start" // systemd starts firstboot.service (its status line)
	Firstboot = "firstboot"       // firstboot's last line: the member is prepared, etcd starts next
	Healthy   = "healthy"         // /health true
	PowerOff  = "power-off"       // the floor's trivial init powered the VM off
	Finished  = "boot-ended"      // systemd reached its default target (the report line)
)

// Order is the milestones of a full boot as they happen.
var Order = []string{Kernel, Systemd, Started, Firstboot, Healthy}

// consoleMilestones are the console lines that mark a milestone; the first match counts.
var consoleMilestones = []struct {
	name string
	re   *regexp.Regexp
}{
	{Kernel, regexp.MustCompile(`Linux version \d`)},
	{Systemd, regexp.MustCompile(`systemd\[1\]: systemd \d+\S* running`)},
	// systemd's status line, which has no kernel timestamp: "Starting firstboot.service…"
	{Started, regexp.MustCompile(`Starting firstboot\.service`)},
	{Firstboot, regexp.MustCompile(`etcd-appliance: member \S+ \(.*\) of .*; clients: `)},
	{Finished, bootline.Regexp},
}

// Recorder notes when console lines that mark a milestone arrive, and keeps the lines. Line
// and Mark may be called from different goroutines (the console's and the test's).
type Recorder struct {
	start time.Time
	now   func() time.Time
	mu    sync.Mutex
	At    map[string]time.Duration
	lines []string
}

// NewRecorder starts the clock: power-on is now.
func NewRecorder() *Recorder {
	return &Recorder{start: time.Now(), now: time.Now, At: map[string]time.Duration{}}
}

// Line records line's milestone, if it marks one not seen yet.
func (r *Recorder) Line(line string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, line)
	for _, m := range consoleMilestones {
		if _, seen := r.At[m.name]; !seen && m.re.MatchString(line) {
			r.At[m.name] = r.now().Sub(r.start)
		}
	}
}

// Mark records a milestone seen by other means (health, qemu exiting) at the present time.
func (r *Recorder) Mark(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.At[name] = r.now().Sub(r.start)
}

// Run is what was recorded, as one run of arch booted in mode.
func (r *Recorder) Run(arch, mode string) Run {
	r.mu.Lock()
	defer r.mu.Unlock()
	run := Run{Arch: arch, Mode: mode, At: maps.Clone(r.At)}
	run.Steps, run.Firstboot = FirstbootSteps(r.lines)
	// The steps start at firstboot's first line. What comes before it (reading the binary
	// off the root filesystem, starting the runtime, sharing the one vCPU with udev and
	// networkd) is firstboot's too: from the unit's start, by the host's clock.
	start, ok1 := r.At[Started]
	done, ok2 := r.At[Firstboot]
	if ok1 && ok2 && done-start > run.Firstboot {
		run.Steps = append([]Step{{Line: StartupStep, Duration: done - start - run.Firstboot}}, run.Steps...)
		run.Firstboot = done - start
	}
	return run
}

// StartupStep names the stretch from systemd starting firstboot.service to firstboot's first
// line.
const StartupStep = "(firstboot.service started → its first line)"

// Step is one stretch of firstboot: from the console line before to the line that ends it.
type Step struct {
	Line     string // the line that ends the step, without the prefix
	Duration time.Duration
}

// firstbootLine is a firstboot console line with the kernel's timestamp:
// "[   21.427748] firstboot[157]: etcd-appliance: image dev …".
var firstbootLine = regexp.MustCompile(`^\[\s*(\d+\.\d+)\] firstboot\[\d+\]: etcd-appliance: (.*)$`)

// FirstbootSteps reads `firstboot boot`'s own run from a console log: each of its lines, with
// the time since its previous line (by the guest's kernel clock, unaffected by the host). The
// first line (the image line) opens the run; the run ends at the member line. Lines of other
// firstboot commands (the agent's status lines) are left out.
func FirstbootSteps(lines []string) (steps []Step, total time.Duration) {
	var first, prev float64
	started := false
	for _, l := range lines {
		m := firstbootLine.FindStringSubmatch(strings.TrimSpace(l))
		if m == nil {
			continue
		}
		t, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			continue
		}
		msg := m[2]
		if !started {
			if !strings.HasPrefix(msg, "image ") {
				continue
			}
			started, first, prev = true, t, t
			continue
		}
		if strings.HasPrefix(msg, "status: ") {
			continue
		}
		steps = append(steps, Step{Line: msg, Duration: seconds(t - prev)})
		prev = t
		if strings.HasPrefix(msg, "member ") {
			return steps, seconds(t - first)
		}
	}
	return steps, seconds(prev - first)
}

func seconds(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

// Summary is the median and spread of one measure over runs.
type Summary struct {
	N                int
	Median, Min, Max time.Duration
}

// Summarize sums up the runs (none: the zero Summary).
func Summarize(runs []time.Duration) Summary {
	if len(runs) == 0 {
		return Summary{}
	}
	s := slices.Clone(runs)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Summary{N: len(s), Median: med, Min: s[0], Max: s[len(s)-1]}
}

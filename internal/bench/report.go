package bench

import (
	"fmt"
	"html"
	"slices"
	"strings"
	"time"
)

// Run is one measured boot: its milestones since power-on and, for full boots, firstboot's
// own run read from the console.
type Run struct {
	Arch      string                   `json:"arch"`
	Mode      string                   `json:"mode"` // "direct" (kernel + initrd), "firmware", "floor"
	At        map[string]time.Duration `json:"at"`
	Firstboot time.Duration            `json:"firstboot,omitempty"`
	Steps     []Step                   `json:"steps,omitempty"`
}

// Key groups runs: one row of the tables per arch and mode.
type Key struct{ Arch, Mode string }

// Group collects the runs by arch and mode, in a stable order (arches as given, then direct,
// firmware, floor).
func Group(runs []Run) ([]Key, map[Key][]Run) {
	g := map[Key][]Run{}
	var keys []Key
	for _, r := range runs {
		k := Key{r.Arch, r.Mode}
		if _, ok := g[k]; !ok {
			keys = append(keys, k)
		}
		g[k] = append(g[k], r)
	}
	modes := []string{"direct", "firmware", "floor"}
	arches := []string{}
	for _, k := range keys {
		if !slices.Contains(arches, k.Arch) {
			arches = append(arches, k.Arch)
		}
	}
	slices.SortStableFunc(keys, func(a, b Key) int {
		if a.Arch != b.Arch {
			return slices.Index(arches, a.Arch) - slices.Index(arches, b.Arch)
		}
		return slices.Index(modes, a.Mode) - slices.Index(modes, b.Mode)
	})
	return keys, g
}

// milestone sums up one milestone over runs.
func milestone(runs []Run, name string) Summary {
	var ds []time.Duration
	for _, r := range runs {
		if d, ok := r.At[name]; ok {
			ds = append(ds, d)
		}
	}
	return Summarize(ds)
}

func (s Summary) cell() string {
	if s.N == 0 {
		return "–"
	}
	if s.N == 1 || s.Min == s.Max {
		return secs(s.Median)
	}
	return fmt.Sprintf("%s (%s–%s)", secs(s.Median), secs(s.Min), secs(s.Max))
}

func secs(d time.Duration) string { return fmt.Sprintf("%.1f", d.Seconds()) }

// floorGoals are issue 20's goals for a direct boot's power-on → healthy over the floor's, by
// arch. arm64's ratio is reported only: its floor has no firmware at all.
var floorGoals = map[string]float64{"amd64": 3, "ppc64le": 3}

// verdict marks a ratio against its goal, judged unrounded: " (met)" or " (not met)".
func verdict(ratio, goal float64) string {
	if ratio <= goal {
		return " (met)"
	}
	return " (not met)"
}

// BootTables renders the boot measurements as Markdown: milestones per arch and mode (median
// and spread, seconds since power-on), the floor and the ratio to it, and firstboot's share.
func BootTables(runs []Run) string {
	keys, g := Group(runs)
	var b strings.Builder
	b.WriteString("| arch | boot | runs | kernel | systemd | firstboot start | firstboot done | etcd healthy | floor | healthy ÷ floor (goal ≤ 3 on amd64 and ppc64le) |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, k := range keys {
		if k.Mode == "floor" {
			continue
		}
		rs := g[k]
		floor := milestone(g[Key{k.Arch, "floor"}], PowerOff)
		healthy := milestone(rs, Healthy)
		ratio := "–"
		if floor.N > 0 && healthy.N > 0 && k.Mode == "direct" {
			q := healthy.Median.Seconds() / floor.Median.Seconds()
			ratio = fmt.Sprintf("%.2f", q)
			if goal, ok := floorGoals[k.Arch]; ok {
				ratio += verdict(q, goal)
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s |\n", k.Arch, k.Mode, len(rs),
			milestone(rs, Kernel).cell(), milestone(rs, Systemd).cell(), milestone(rs, Started).cell(),
			milestone(rs, Firstboot).cell(), healthy.cell(), floor.cell(), ratio)
	}
	b.WriteString("\n| arch | boot | firstboot's run (median) | share of power-on → healthy (goal ≤ 10 %) | its longest steps (median run) |\n")
	b.WriteString("|---|---|---|---|---|\n")
	for _, k := range keys {
		if k.Mode == "floor" {
			continue
		}
		rs := g[k]
		var fb []time.Duration
		for _, r := range rs {
			fb = append(fb, r.Firstboot)
		}
		s := Summarize(fb)
		healthy := milestone(rs, Healthy)
		share := "–"
		if healthy.N > 0 && healthy.Median > 0 {
			share = fmt.Sprintf("%.0f %%", 100*s.Median.Seconds()/healthy.Median.Seconds())
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", k.Arch, k.Mode, s.cell(), share, longestSteps(medianRun(rs, func(r Run) time.Duration { return r.Firstboot }), 3))
	}
	return b.String()
}

// medianRun is the run whose measure is the median (the lower one of an even count).
func medianRun(rs []Run, by func(Run) time.Duration) Run {
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b Run) int { return int(by(a) - by(b)) })
	return s[(len(s)-1)/2]
}

// longestSteps names the n longest steps of firstboot in r, longest first.
func longestSteps(r Run, n int) string {
	st := slices.Clone(r.Steps)
	slices.SortStableFunc(st, func(a, b Step) int { return int(b.Duration - a.Duration) })
	var parts []string
	for _, s := range st[:min(n, len(st))] {
		line := s.Line
		if len(line) > 60 {
			line = line[:57] + "…"
		}
		parts = append(parts, fmt.Sprintf("%s s until `%s`", secs(s.Duration), strings.ReplaceAll(line, "|", "\\|")))
	}
	return strings.Join(parts, "; ")
}

// segment colours of the chart, one per stretch between milestones.
var segments = []struct{ from, to, label, colour string }{
	{"", Kernel, "firmware, boot loader, kernel load", "#b0b0b0"},
	{Kernel, Systemd, "kernel, initramfs", "#6baed6"},
	{Systemd, Started, "systemd to firstboot start", "#fdd0a2"},
	{Started, Firstboot, "firstboot", "#fd8d3c"},
	{Firstboot, Healthy, "etcd start to healthy", "#74c476"},
	{"", PowerOff, "floor: kernel + init that powers off", "#9e9ac8"},
}

// TimelineSVG draws each arch and mode's median boot as a bar of its stretches, with the floor
// below it, on one time axis.
func TimelineSVG(runs []Run) string {
	keys, g := Group(runs)
	type bar struct {
		label string
		at    map[string]time.Duration
	}
	var bars []bar
	var longest time.Duration
	for _, k := range keys {
		rs := g[k]
		end := Healthy
		if k.Mode == "floor" {
			end = PowerOff
		}
		at := map[string]time.Duration{}
		for _, name := range append(slices.Clone(Order), PowerOff) {
			if s := milestone(rs, name); s.N > 0 {
				at[name] = s.Median
			}
		}
		if at[end] > longest {
			longest = at[end]
		}
		bars = append(bars, bar{fmt.Sprintf("%s %s", k.Arch, k.Mode), at})
	}
	const left, width, rowH, top = 150, 600, 26, 30
	scale := float64(width) / max(longest.Seconds(), 1)
	height := top + rowH*len(bars) + 40 + 18*len(segments)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", left+width+60, height)
	fmt.Fprintf(&b, `<text x="%d" y="18" font-weight="bold">Power-on to etcd healthy, median (qemu TCG, seconds)</text>`+"\n", left)
	for i, br := range bars {
		y := top + i*rowH
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", left-8, y+15, html.EscapeString(br.label))
		for _, sg := range segments {
			to, ok := br.at[sg.to]
			if !ok {
				continue
			}
			from := br.at[sg.from] // "" is power-on: zero
			if sg.from != "" {
				if _, ok := br.at[sg.from]; !ok {
					continue
				}
			}
			fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="18" fill="%s"><title>%s: %s–%s s</title></rect>`+"\n",
				left+from.Seconds()*scale, y, max((to-from).Seconds()*scale, 0.5), sg.colour, html.EscapeString(sg.label), secs(from), secs(to))
		}
		end := br.at[Healthy]
		if e, ok := br.at[PowerOff]; ok {
			end = e
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%d">%s</text>`+"\n", left+end.Seconds()*scale+4, y+14, secs(end))
	}
	axisY := top + rowH*len(bars) + 4
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", left, axisY, left+width, axisY)
	step := tickStep(longest)
	for t := time.Duration(0); t <= longest; t += step {
		x := left + t.Seconds()*scale
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="black"/><text x="%.1f" y="%d" text-anchor="middle">%.0f</text>`+"\n", x, axisY, x, axisY+4, x, axisY+16, t.Seconds())
	}
	for i, sg := range segments {
		y := axisY + 30 + 18*i
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n", left, y-10, sg.colour, left+18, y, html.EscapeString(sg.label))
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// tickStep is a round axis step giving at most about ten ticks.
func tickStep(longest time.Duration) time.Duration {
	for _, s := range []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 20 * time.Second, 30 * time.Second, time.Minute} {
		if longest/s <= 10 {
			return s
		}
	}
	return 2 * time.Minute
}

// SizeRow is one arch's image sizes, in bytes.
type SizeRow struct {
	Arch                   string
	RawAllocated, QCOW2    int64
	RootFS, Kernel, Initrd int64
	VerityTree             int64  // the root's dm-verity hash tree
	Tree                   []Part // the root tree uncompressed, biggest first
	QCOW2Goal              int64  // 0: none
}

// Part is one contributor to the root tree (image.Part, restated to keep this package free of
// the builder).
type Part struct {
	Name  string
	Bytes int64
}

func mib(n int64) string { return fmt.Sprintf("%.1f", float64(n)/(1<<20)) }

// SizeTables renders image sizes per arch, then the root tree's biggest contributors.
func SizeTables(rows []SizeRow) string {
	var b strings.Builder
	b.WriteString("| arch | qcow2 | goal | raw allocated | root filesystem (squashfs) | verity tree | kernel | initrd |\n|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		goal := "–"
		if r.QCOW2Goal > 0 {
			mark := "met"
			if r.QCOW2 > r.QCOW2Goal {
				mark = "over by " + mib(r.QCOW2-r.QCOW2Goal)
			}
			goal = fmt.Sprintf("≤ %s (%s)", mib(r.QCOW2Goal), mark)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", r.Arch, mib(r.QCOW2), goal, mib(r.RawAllocated), mib(r.RootFS), mib(r.VerityTree), mib(r.Kernel), mib(r.Initrd))
	}
	b.WriteString("\nRoot tree before compression, MiB, biggest contributors:\n\n| arch | ")
	var names []string
	for _, r := range rows {
		for _, p := range r.Tree {
			if !slices.Contains(names, p.Name) {
				names = append(names, p.Name)
			}
		}
	}
	b.WriteString(strings.Join(names, " | ") + " | total |\n|---|" + strings.Repeat("---|", len(names)+1) + "\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s |", r.Arch)
		var total int64
		for _, n := range names {
			var v int64
			for _, p := range r.Tree {
				if p.Name == n {
					v = p.Bytes
				}
			}
			total += v
			fmt.Fprintf(&b, " %s |", mib(v))
		}
		fmt.Fprintf(&b, " %s |\n", mib(total))
	}
	return b.String()
}

// Modes of BenchmarkPeer's runs: our image's firmware boot with a blank data disk and its
// reboot on the same disks, and the same two of the peer (a conventional Debian cloud image
// with cloud-init and Debian's etcd, scripts/peer-image.sh).
const (
	ModeFirstBoot  = "firmware"
	ModeReboot     = "reboot"
	ModePeer       = "peer"
	ModePeerReboot = "peer-reboot"
)

// peerGoals are issue 20's goals for the appliance ÷ peer ratio of power-on → healthy.
var peerGoals = map[string]float64{ModeFirstBoot: 0.4, ModeReboot: 0.35}

// PeerTable renders the comparison with the peer as Markdown: power-on → kernel and → etcd
// healthy for both, first boot and reboot, and the ratio of the medians against its goal.
func PeerTable(runs []Run) string {
	by := map[string][]Run{}
	for _, r := range runs {
		by[r.Mode] = append(by[r.Mode], r)
	}
	var b strings.Builder
	b.WriteString("| boot | runs | appliance: kernel | appliance: etcd healthy | peer: kernel | peer: etcd healthy | appliance ÷ peer | goal |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, row := range []struct{ label, ours, peer string }{
		{"first boot (blank data)", ModeFirstBoot, ModePeer},
		{"reboot (same disks)", ModeReboot, ModePeerReboot},
	} {
		ours, peer := milestone(by[row.ours], Healthy), milestone(by[row.peer], Healthy)
		ratio, goal := "–", fmt.Sprintf("≤ %.2f", peerGoals[row.ours])
		if ours.N > 0 && peer.N > 0 {
			q := ours.Median.Seconds() / peer.Median.Seconds()
			ratio = fmt.Sprintf("%.2f", q)
			goal += verdict(q, peerGoals[row.ours])
		}
		fmt.Fprintf(&b, "| %s | %d + %d | %s | %s | %s | %s | %s | %s |\n", row.label, len(by[row.ours]), len(by[row.peer]),
			milestone(by[row.ours], Kernel).cell(), ours.cell(), milestone(by[row.peer], Kernel).cell(), peer.cell(), ratio, goal)
	}
	return b.String()
}

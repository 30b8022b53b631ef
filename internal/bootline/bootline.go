// Package bootline is the console line that says a node's boot is over, a contract between
// the node agent (which prints it once systemd has finished starting up) and whatever reads
// the serial console: operators, `imagebuild run`, the qemu tests and the boot benchmark.
//
//	etcd-appliance: boot finished: state=running failed=none
//	etcd-appliance: boot finished: state=degraded failed=etcd.service,firstboot.service
package bootline

import (
	"regexp"
	"slices"
	"strings"
)

// Prefix starts the line.
const Prefix = "etcd-appliance: boot finished: "

// none stands for an empty list of failed units (a unit name always has a suffix such as
// .service, so no unit is called "none").
const none = "none"

// Pattern matches the line anywhere in a console line (after the kernel's timestamp and the
// journal's "firstboot[123]: ", say). Group 1 is the state, group 2 the failed units as
// printed: "none" or names separated by commas.
const Pattern = `etcd-appliance: boot finished: state=(\S+) failed=(\S+)`

// Regexp is Pattern compiled, for waiting on a console.
var Regexp = regexp.MustCompile(Pattern)

// Result is what the line says: systemd's SystemState once startup was over ("running",
// "degraded", …) and the units that had failed, sorted.
type Result struct {
	State  string
	Failed []string
}

// Running is whether the boot ended well: state running and no unit failed.
func (r Result) Running() bool { return r.State == "running" && len(r.Failed) == 0 }

// String is the result as the line prints it: "state=running failed=none".
func (r Result) String() string {
	f := none
	if len(r.Failed) > 0 {
		f = strings.Join(r.Failed, ",")
	}
	return "state=" + r.State + " failed=" + f
}

// Format is the line for state and the failed units (in any order; failed is not changed).
func Format(state string, failed []string) string {
	failed = slices.Clone(failed)
	slices.Sort(failed)
	return Prefix + Result{State: state, Failed: failed}.String()
}

// Parse reads the line from a console line that holds it; ok is false when line does not.
func Parse(line string) (r Result, ok bool) {
	m := Regexp.FindStringSubmatch(line)
	if m == nil {
		return Result{}, false
	}
	r.State = m[1]
	if m[2] != none {
		r.Failed = strings.Split(m[2], ",")
	}
	return r, true
}

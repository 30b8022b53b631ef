// Package testenv decides what a test does when the host lacks something it needs: a tool,
// root, a loop or tun device, qemu. By default the test is skipped, so that `go test ./...`
// works on a developer's machine; with ETCD_APPLIANCE_STRICT=1 in the environment it fails
// instead, so that `make test` and CI cannot pass while quietly testing less.
//
// Only what the host may lack goes through here. A skip that is a choice (testing.Short, an
// arch left out of QEMU_TESTS_ARCHES) stays a plain t.Skip.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// StrictVar is the environment variable that turns Missing's skips into failures when "1".
const StrictVar = "ETCD_APPLIANCE_STRICT"

// Strict reports whether ETCD_APPLIANCE_STRICT=1.
func Strict() bool { return os.Getenv(StrictVar) == "1" }

// Missing ends the test because something it needs is missing, described by format and args
// (e.g. "sgdisk not installed"): a failure when Strict, else a skip.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	why := fmt.Sprintf(format, args...)
	if Strict() {
		t.Fatalf("%s: required because %s=1", why, StrictVar)
	}
	t.Skipf("%s (%s=1 makes this a failure)", why, StrictVar)
}

// LookPath returns the path of the host program name, or ends the test through Missing.
func LookPath(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, "%s not installed (make host-deps)", name)
	}
	return p
}

// Root ends the test through Missing unless it runs as root; what says what root is for.
func Root(t testing.TB, what string) {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "needs root for %s", what)
	}
}

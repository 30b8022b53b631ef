package node

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/etcd-appliance/appliance/internal/kcmdline"
)

// pauseArg on the kernel command line stops `firstboot boot` at one of pausePoints and waits
// there for ever, so that the power-cut tests can kill the VM at a known step instead of at
// a random moment. Nothing sets it in production; an unknown point is reported and ignored.
const pauseArg = "etcd.test.pause"

// pausePoints are the steps of boot where a power cut leaves a different state on the disk
// or in the cluster, in boot's order.
var pausePoints = []string{
	"before-volume",    // nothing written yet
	"after-format",     // a new filesystem, without its identity record
	"before-tls",       // the volume mounted and recorded, no certificates
	"after-tls",        // certificates on the volume, the cluster not asked yet
	"after-member-add", // this node listed in the cluster (as a learner), etcd not started
}

// pauser is the point this boot stops at, if any.
type pauser string

func newPauser(cmdline string, w io.Writer) pauser {
	p, ok := kcmdline.Get(cmdline, pauseArg)
	if !ok {
		return ""
	}
	if !slices.Contains(pausePoints, p) {
		fmt.Fprintf(w, "etcd-appliance: warning: %s=%s is not one of %v: ignored\n", pauseArg, p, pausePoints)
		return ""
	}
	return pauser(p)
}

// at blocks at point if this boot pauses there, until ctx ends (the VM is killed first).
func (p pauser) at(ctx context.Context, point string, w io.Writer) error {
	if string(p) != point {
		return nil
	}
	fmt.Fprintf(w, "etcd-appliance: paused at %s (%s): waiting for the power to be cut\n", point, pauseArg)
	<-ctx.Done()
	return ctx.Err()
}

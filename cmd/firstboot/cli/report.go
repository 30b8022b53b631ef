package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/etcd-appliance/appliance/internal/bootline"
	"github.com/etcd-appliance/appliance/internal/sdjob"
)

// report waits until systemd has finished starting up and prints the one-line boot result
// that operators and the qemu tests read on the serial console:
//
//	etcd-appliance: boot finished: state=running failed=none
func report(ctx context.Context, w io.Writer) error {
	sd, err := sdjob.Connect(ctx)
	if err != nil {
		return err
	}
	defer sd.Close()
	state, failed, err := sd.Startup(ctx, 250*time.Millisecond)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, bootline.Format(state, failed))
	return nil
}

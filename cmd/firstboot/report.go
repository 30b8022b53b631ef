package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/dbus"
)

// report waits until systemd has finished starting up and prints the one-line boot result
// that operators and the qemu tests read on the serial console:
//
//	etcd-appliance: boot finished: state=running failed=none
func report(ctx context.Context, w io.Writer) error {
	conn, err := dbus.NewSystemdConnectionContext(ctx)
	if err != nil {
		return fmt.Errorf("connecting to systemd: %w", err)
	}
	defer conn.Close()
	var state string
	// systemd signals StartupFinished only on the bus daemon; polling the private socket's
	// SystemState property works without one.
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		v, err := conn.GetManagerProperty("SystemState")
		if err != nil {
			return fmt.Errorf("reading SystemState: %w", err)
		}
		state = strings.Trim(v, `"`)
		if state != "initializing" && state != "starting" {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	units, err := conn.ListUnitsFilteredContext(ctx, []string{"failed"})
	if err != nil {
		return fmt.Errorf("listing failed units: %w", err)
	}
	var failed []string
	for _, u := range units {
		failed = append(failed, u.Name)
	}
	fmt.Fprintln(w, bootLine(state, failed))
	return nil
}

// bootLine formats the boot result line (a contract: tests and operators match on it).
func bootLine(state string, failed []string) string {
	f := "none"
	if len(failed) > 0 {
		sort.Strings(failed)
		f = strings.Join(failed, ",")
	}
	return fmt.Sprintf("etcd-appliance: boot finished: state=%s failed=%s", state, f)
}

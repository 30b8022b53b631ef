// Package sdjob runs systemd jobs over systemd's private socket (the image runs no D-Bus
// daemon) and waits for them.
package sdjob

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/dbus"
)

// Op is a job type.
type Op string

const (
	Start   Op = "start"
	Stop    Op = "stop"
	Restart Op = "restart"
)

// Systemd is a connection to the service manager.
type Systemd struct{ conn *dbus.Conn }

// Connect opens systemd's private socket.
func Connect(ctx context.Context) (*Systemd, error) {
	conn, err := dbus.NewSystemdConnectionContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("connecting to systemd: %w", err)
	}
	return &Systemd{conn: conn}, nil
}

func (s *Systemd) Close() { s.conn.Close() }

// Run queues op on unit (mode "replace") and waits until the job is done.
func (s *Systemd) Run(ctx context.Context, op Op, unit string) error {
	done := make(chan string, 1)
	var err error
	switch op {
	case Start:
		_, err = s.conn.StartUnitContext(ctx, unit, "replace", done)
	case Stop:
		_, err = s.conn.StopUnitContext(ctx, unit, "replace", done)
	case Restart:
		_, err = s.conn.RestartUnitContext(ctx, unit, "replace", done)
	default:
		return fmt.Errorf("%s %s: unknown job type", op, unit)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", op, unit, err)
	}
	select {
	case r := <-done:
		if r != "done" {
			return fmt.Errorf("%s %s: job %s", op, unit, r)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Queue starts unit without waiting for the job: a unit ordered after the caller's own would
// wait for the caller.
func (s *Systemd) Queue(ctx context.Context, unit string) error {
	if _, err := s.conn.StartUnitContext(ctx, unit, "replace", nil); err != nil {
		return fmt.Errorf("start %s: %w", unit, err)
	}
	return nil
}

// PowerOff queues the shutdown as `systemctl poweroff` does: poweroff.target, in a job no
// later request can cancel. Units stop in reverse order of their start, etcd among them.
func (s *Systemd) PowerOff(ctx context.Context) error {
	if _, err := s.conn.StartUnitContext(ctx, "poweroff.target", "replace-irreversibly", nil); err != nil {
		return fmt.Errorf("start poweroff.target: %w", err)
	}
	return nil
}

// Reload makes systemd read unit files again (daemon-reload).
func (s *Systemd) Reload(ctx context.Context) error {
	if err := s.conn.ReloadContext(ctx); err != nil {
		return fmt.Errorf("reloading systemd units: %w", err)
	}
	return nil
}

// RunJob connects, runs one job and disconnects.
func RunJob(ctx context.Context, op Op, unit string) error {
	s, err := Connect(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	return s.Run(ctx, op, unit)
}

// Startup waits until the system has finished starting (SystemState is neither initializing
// nor starting) and returns that state with the failed units, sorted. systemd signals
// StartupFinished only on the bus daemon; polling the property works on the private socket.
func (s *Systemd) Startup(ctx context.Context, poll time.Duration) (state string, failed []string, err error) {
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		v, err := s.conn.GetManagerProperty("SystemState")
		if err != nil {
			return "", nil, fmt.Errorf("reading SystemState: %w", err)
		}
		state = strings.Trim(v, `"`)
		if state != "initializing" && state != "starting" {
			break
		}
		select {
		case <-ctx.Done():
			return "", nil, ctx.Err()
		case <-tick.C:
		}
	}
	units, err := s.conn.ListUnitsFilteredContext(ctx, []string{"failed"})
	if err != nil {
		return "", nil, fmt.Errorf("listing failed units: %w", err)
	}
	for _, u := range units {
		failed = append(failed, u.Name)
	}
	slices.Sort(failed)
	return state, failed, nil
}

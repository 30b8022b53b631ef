package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/etcd-appliance/appliance/internal/powerbutton"
	"github.com/etcd-appliance/appliance/internal/sdjob"
)

// powerButton waits for a press of the power button on one input device, then powers the
// node off through systemd, so etcd stops cleanly before the machine goes down.
func powerButton(ctx context.Context, args []string) error {
	if len(args) != 1 {
		return errors.New("usage: firstboot powerbutton DEVICE (an input device such as /dev/input/event0)")
	}
	f, err := os.Open(args[0])
	if err != nil {
		return err
	}
	defer f.Close()
	go func() { <-ctx.Done(); f.Close() }() // a stop of the unit ends the read
	if err := powerbutton.Wait(f); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("%s: %w", args[0], err)
	}
	fmt.Printf("etcd-appliance: power button pressed (%s): shutting down\n", args[0])
	// The shutdown stops this unit (SIGTERM cancels ctx) perhaps before systemd's reply: the
	// request must not fail for that.
	jobCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	s, err := sdjob.Connect(jobCtx)
	if err != nil {
		return err
	}
	defer s.Close()
	return s.PowerOff(jobCtx)
}

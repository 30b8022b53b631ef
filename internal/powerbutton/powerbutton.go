// Package powerbutton turns a press of the machine's power button into a clean shutdown. A
// cloud's stop (and qemu's system_powerdown) presses the ACPI power button; on a Debian system
// systemd-logind acts on it, and the image runs no logind (it needs a D-Bus daemon). Without
// this a stopped node waits out the cloud's timeout and then loses power with etcd running.
package powerbutton

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// From linux/input-event-codes.h and linux/input.h.
const (
	evKey    = 0x01
	keyPower = 116
	// EventSize is struct input_event on 64-bit kernels: a struct timeval (16 bytes), then
	// type and code (2 bytes each) and value (4 bytes). Every arch of the image is 64-bit.
	EventSize = 24
)

// Pressed reports whether one input_event record (EventSize bytes, host byte order) is the
// power key going down; auto-repeat (value 2) and release (0) are not.
func Pressed(rec []byte) bool {
	if len(rec) < EventSize {
		return false
	}
	typ := binary.NativeEndian.Uint16(rec[16:])
	code := binary.NativeEndian.Uint16(rec[18:])
	value := int32(binary.NativeEndian.Uint32(rec[20:]))
	return typ == evKey && code == keyPower && value == 1
}

// Wait reads input events from r (an evdev device) until the power key is pressed.
func Wait(r io.Reader) error {
	rec := make([]byte, EventSize)
	for {
		if _, err := io.ReadFull(r, rec); err != nil {
			if errors.Is(err, io.EOF) {
				return errors.New("the input device went away before its power key was pressed")
			}
			return fmt.Errorf("reading input events: %w", err)
		}
		if Pressed(rec) {
			return nil
		}
	}
}

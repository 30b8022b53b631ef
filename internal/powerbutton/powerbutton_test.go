package powerbutton

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
)

func event(typ, code uint16, value int32) []byte {
	b := make([]byte, EventSize)
	binary.NativeEndian.PutUint64(b[0:], 1796400534) // seconds
	binary.NativeEndian.PutUint64(b[8:], 646766)     // microseconds
	binary.NativeEndian.PutUint16(b[16:], typ)
	binary.NativeEndian.PutUint16(b[18:], code)
	binary.NativeEndian.PutUint32(b[20:], uint32(value))
	return b
}

func TestPressed(t *testing.T) {
	tests := []struct {
		name string
		rec  []byte
		want bool
	}{
		{"power key down", event(evKey, keyPower, 1), true},
		{"power key up", event(evKey, keyPower, 0), false},
		{"power key repeat", event(evKey, keyPower, 2), false},
		{"another key", event(evKey, 30, 1), false},
		{"sync event", event(0, 0, 0), false},
		{"short record", event(evKey, keyPower, 1)[:20], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Pressed(tt.rec); got != tt.want {
				t.Errorf("Pressed = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestWait(t *testing.T) {
	// what the ACPI power button sends: key down, sync, key up, sync
	press := bytes.Join([][]byte{event(evKey, 30, 1), event(0, 0, 0), event(evKey, keyPower, 1), event(0, 0, 0), event(evKey, keyPower, 0)}, nil)
	if err := Wait(bytes.NewReader(press)); err != nil {
		t.Errorf("Wait on a press: %v", err)
	}
	if err := Wait(bytes.NewReader(event(evKey, keyPower, 0))); err == nil || !strings.Contains(err.Error(), "went away") {
		t.Errorf("Wait without a press: %v, want the device gone", err)
	}
}

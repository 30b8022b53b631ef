package image

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

func TestZeroPETimestamp(t *testing.T) {
	// a minimal PE: MZ header pointing at a PE header at 0x40, COFF header, optional header
	b := make([]byte, 0x40+4+20+96+10)
	copy(b, "MZ")
	binary.LittleEndian.PutUint32(b[0x3c:], 0x40)
	copy(b[0x40:], "PE\x00\x00")
	binary.LittleEndian.PutUint32(b[0x40+8:], 0x12345678) // timestamp
	b[len(b)-1] = 0x7f
	path := filepath.Join(t.TempDir(), "x.efi")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := zeroPETimestamp(path); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if ts := binary.LittleEndian.Uint32(got[0x40+8:]); ts != 0 {
		t.Errorf("timestamp %#x left in place", ts)
	}
	sumOff := 0x40 + 4 + 20 + 64
	if sum := binary.LittleEndian.Uint32(got[sumOff:]); sum != peChecksum(got, sumOff) || sum == 0 {
		t.Errorf("checksum %#x, want %#x", sum, peChecksum(got, sumOff))
	}
}

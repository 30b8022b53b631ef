package image

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/etcd-appliance/appliance/arch"
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

func TestKernelCmdline(t *testing.T) {
	amd64, err := arch.Lookup("amd64")
	if err != nil {
		t.Fatal(err)
	}
	ppc, err := arch.Lookup("ppc64le")
	if err != nil {
		t.Fatal(err)
	}
	const verity = "etcd.verity=sha256:ab:6:cd"
	for _, tc := range []struct {
		name     string
		a        arch.Arch
		platform string
		want     string
	}{
		{"detected platform", amd64, "", "root=PARTUUID=R " + verity + " ro console=ttyS0,115200n8 cryptomgr.notests"},
		{"platform chosen at build", amd64, "aws", "root=PARTUUID=R " + verity + " ro console=ttyS0,115200n8 cryptomgr.notests etcd.platform=aws"},
		{"ppc64le's console", ppc, "", "root=PARTUUID=R " + verity + " ro console=hvc0 cryptomgr.notests"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := kernelCmdline("R", verity, tc.a, tc.platform); got != tc.want {
				t.Errorf("kernelCmdline = %q, want %q", got, tc.want)
			}
		})
	}
}

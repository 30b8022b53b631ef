package datavol

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/etcd-appliance/appliance/internal/testenv"
)

// requireTools ends the test through testenv.Missing when a host tool it needs is missing.
func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		testenv.LookPath(t, tool)
	}
}

// run runs a host command and fails the test with its output if it fails.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// sparseFile creates a zero-filled file of size bytes that takes no space.
func sparseFile(t *testing.T, path string, size int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
}

// extImage is the start of a device holding an ext4 superblock (4 KiB blocks, extents) with
// the given label: enough for Probe, without mkfs.
func extImage(label string, blocks uint32) []byte {
	b := make([]byte, 64<<10)
	sb := b[1024:]
	binary.LittleEndian.PutUint32(sb[4:], blocks)
	binary.LittleEndian.PutUint32(sb[24:], 2) // 1024 << 2
	binary.LittleEndian.PutUint16(sb[56:], 0xEF53)
	binary.LittleEndian.PutUint32(sb[92:], 0x4)  // has_journal
	binary.LittleEndian.PutUint32(sb[96:], 0x42) // filetype, extents
	copy(sb[104:], bytes.Repeat([]byte{0xab}, 16))
	copy(sb[120:], label)
	return b
}

// withBytes returns a zero image of size bytes with data written at each offset.
func withBytes(size int, at map[int]string) []byte {
	b := make([]byte, size)
	for off, s := range at {
		copy(b[off:], s)
	}
	return b
}

package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// fakeSys lays out a /sys/block and /dev with one GPT disk "vda" (partitions vda1, vda3 for
// GPT slots 0 and 2) plus a loop device that must be ignored.
func fakeSys(t *testing.T, sector int64, withParts bool, entries []gptEntry) (sysBlock, dev string) {
	t.Helper()
	dir := t.TempDir()
	sysBlock, dev = filepath.Join(dir, "sys", "block"), filepath.Join(dir, "dev")
	write := func(p, s string) {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(sysBlock, "vda", "queue", "logical_block_size"), strconv.FormatInt(sector, 10)+"\n")
	write(filepath.Join(sysBlock, "vda", "size"), "20480\n")
	if withParts {
		write(filepath.Join(sysBlock, "vda", "vda1", "partition"), "1\n")
		write(filepath.Join(sysBlock, "vda", "vda3", "partition"), "3\n")
	}
	write(filepath.Join(sysBlock, "loop0", "queue", "logical_block_size"), "512\n")
	write(filepath.Join(dev, "vda"), string(buildGPT(sector, 128, 128, entries)))
	write(filepath.Join(sysBlock, "vdb", "queue", "logical_block_size"), "512\n")
	write(filepath.Join(dev, "vdb"), strings.Repeat("\x00", 4096))
	return sysBlock, dev
}

func TestFindRoot(t *testing.T) {
	rootUUID := mustGUID(t, "6A4F8C3E-1B2D-4E5F-8A9B-0C1D2E3F4A5B")
	other := mustGUID(t, "01234567-89AB-CDEF-0123-456789ABCDEF")
	typ := mustGUID(t, "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709")
	entries := []gptEntry{
		{Index: 0, Type: typ, Unique: other, FirstLBA: 34, LastLBA: 100},
		{Index: 2, Type: typ, Unique: rootUUID, FirstLBA: 101, LastLBA: 200},
	}
	tests := []struct {
		name      string
		sector    int64
		withParts bool
		want      guid
		wantDev   string
		wantNotes string
	}{
		{"found", 512, true, rootUUID, "vda3", ""},
		{"found 4k", 4096, true, rootUUID, "vda3", ""},
		{"partitions not added yet", 512, false, rootUUID, "", "vda (GPT entry 3 matches but the kernel has no partition 3), vdb (no GPT signature)"},
		{"absent", 512, true, mustGUID(t, "00000000-0000-0000-0000-000000000001"), "", "vda, vdb (no GPT signature)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sysBlock, dev := fakeSys(t, tt.sector, tt.withParts, entries)
			got, notes := findRoot(sysBlock, dev, tt.want)
			wantDev := ""
			if tt.wantDev != "" {
				wantDev = filepath.Join(dev, tt.wantDev)
			}
			if got != wantDev {
				t.Errorf("dev = %q, want %q", got, wantDev)
			}
			if n := strings.Join(notes, ", "); n != tt.wantNotes {
				t.Errorf("notes = %q, want %q", n, tt.wantNotes)
			}
		})
	}
}

func TestRemoveContents(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"init", "etc/modules.load", "lib/modules/a.ko"} {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/nonexistent", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	if err := removeContents(dir, uint64(st.Dev)); err != nil {
		t.Fatal(err)
	}
	left, _ := os.ReadDir(dir)
	if len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}

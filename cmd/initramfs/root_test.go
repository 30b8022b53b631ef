package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

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
		wantDevs  []string
		wantNotes string
	}{
		{"found", 512, true, rootUUID, []string{"vda3"}, "vdb (no GPT signature)"},
		{"found 4k", 4096, true, rootUUID, []string{"vda3"}, "vdb (no GPT signature)"},
		{"partitions not added yet", 512, false, rootUUID, nil, "vda (GPT entry 3 matches but the kernel has no partition 3), vdb (no GPT signature)"},
		{"absent", 512, true, mustGUID(t, "00000000-0000-0000-0000-000000000001"), nil, "vda, vdb (no GPT signature)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sysBlock, dev := fakeSys(t, tt.sector, tt.withParts, entries)
			got, notes := findRoots(sysBlock, dev, tt.want)
			var wantDevs []string
			for _, d := range tt.wantDevs {
				wantDevs = append(wantDevs, filepath.Join(dev, d))
			}
			if !slices.Equal(got, wantDevs) {
				t.Errorf("devs = %q, want %q", got, wantDevs)
			}
			if n := strings.Join(notes, ", "); n != tt.wantNotes {
				t.Errorf("notes = %q, want %q", n, tt.wantNotes)
			}
		})
	}
}

// TestWaitForRoot: with two disks carrying the root GUID (the OS disk and a copy), the first
// that verifies is the root; one that fails verification is never returned.
func TestWaitForRoot(t *testing.T) {
	rootUUID := mustGUID(t, "6A4F8C3E-1B2D-4E5F-8A9B-0C1D2E3F4A5B")
	typ := mustGUID(t, "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709")
	entries := []gptEntry{{Index: 2, Type: typ, Unique: rootUUID, FirstLBA: 101, LastLBA: 200}}
	bad := fmt.Errorf("%w: block at byte 4096 does not match the root hash", errVerification)
	const timeout, grace = 5 * time.Second, 200 * time.Millisecond
	tests := []struct {
		name    string
		results map[string]error // by partition; absent: verifies
		late    bool             // vdb's copy appears only 50 ms after vda3 is refused
		want    string           // mapped device, or "" for an error
		wantErr string
		tried   []string
	}{
		{"first verifies", nil, false, "dm(vda3)", "", []string{"vda3"}},
		{"copy sorts first and is refused", map[string]error{"vda3": bad}, false, "dm(vdb3)", "", []string{"vda3", "vdb3"}},
		{"OS disk appears within the grace after a refusal", map[string]error{"vda3": bad}, true, "dm(vdb3)", "", []string{"vda3", "vdb3"}},
		{"every copy refused", map[string]error{"vda3": bad, "vdb3": bad}, false, "", "OS disk failed verification", []string{"vda3", "vdb3"}},
		{"other error stops", map[string]error{"vda3": errors.New("no dm-mod")}, false, "", "opening root", []string{"vda3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sysBlock, dev := fakeSys(t, 512, true, entries)
			// vdb: a copy with the same GPT, now or once vda3 was refused
			addCopy := func() {
				gpt, err := os.ReadFile(filepath.Join(dev, "vda"))
				if err == nil {
					err = os.MkdirAll(filepath.Join(sysBlock, "vdb", "vdb3"), 0o755)
				}
				if err == nil {
					err = os.WriteFile(filepath.Join(sysBlock, "vdb", "vdb3", "partition"), []byte("3\n"), 0o644)
				}
				if err == nil {
					err = os.WriteFile(filepath.Join(dev, "vdb"), gpt, 0o644)
				}
				if err != nil {
					t.Error(err)
				}
			}
			if !tt.late {
				addCopy()
			}
			oldSys, oldDev, oldGrace := sysBlockDir, devNodes, refusedGrace
			sysBlockDir, devNodes, refusedGrace = sysBlock, dev, grace
			t.Cleanup(func() { sysBlockDir, devNodes, refusedGrace = oldSys, oldDev, oldGrace })

			var tried []string
			start := time.Now()
			got, err := waitForRoot(&logger{}, rootUUID, timeout, time.Millisecond, func(part string) (string, error) {
				name := filepath.Base(part)
				tried = append(tried, name)
				if tt.late && name == "vda3" {
					time.AfterFunc(50*time.Millisecond, addCopy)
				}
				if err := tt.results[name]; err != nil {
					return "", err
				}
				return "dm(" + name + ")", nil
			})
			took := time.Since(start)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
			} else if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
			if took >= timeout/2 {
				t.Errorf("took %s: a refusal must end the wait after the grace (%s), not the timeout (%s)", took, grace, timeout)
			}
			if !slices.Equal(tried, tt.tried) {
				t.Errorf("tried %q, want %q (each candidate once)", tried, tt.tried)
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

package main

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/etcd-appliance/appliance/internal/testenv"
)

func mustGUID(t *testing.T, s string) guid {
	t.Helper()
	g, err := parseGUID(s)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestParseGUID(t *testing.T) {
	tests := []struct {
		in   string
		want guid // on-disk bytes
		ok   bool
	}{
		// The ESP type GUID as it appears on disk (UEFI spec example).
		{"C12A7328-F81F-11D2-BA4B-00A0C93EC93B", guid{0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9, 0x3b}, true},
		{"c12a7328-f81f-11d2-ba4b-00a0c93ec93b", guid{0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9, 0x3b}, true},
		{"C12A7328F81F11D2BA4B00A0C93EC93B", guid{}, false},
		{"C12A7328-F81F-11D2-BA4B-00A0C93EC93", guid{}, false},
		{"G12A7328-F81F-11D2-BA4B-00A0C93EC93B", guid{}, false},
		{"", guid{}, false},
	}
	for _, tt := range tests {
		got, err := parseGUID(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("parseGUID(%q) error = %v, want ok=%v", tt.in, err, tt.ok)
			continue
		}
		if got != tt.want {
			t.Errorf("parseGUID(%q) = % x, want % x", tt.in, got[:], tt.want[:])
		}
		if tt.ok && got.String() != strings.ToUpper(tt.in) {
			t.Errorf("String() = %s, want %s", got, strings.ToUpper(tt.in))
		}
	}
}

// buildGPT returns a disk image with a primary GPT (header at LBA 1, entries from LBA 2).
func buildGPT(sector int64, slots int, entrySize int, entries []gptEntry) []byte {
	arraySectors := (int64(slots*entrySize) + sector - 1) / sector
	disk := make([]byte, (2+arraySectors+8)*sector)
	array := disk[2*sector:][:slots*entrySize]
	for _, e := range entries {
		b := array[e.Index*entrySize:][:entrySize]
		copy(b[0:16], e.Type[:])
		copy(b[16:32], e.Unique[:])
		binary.LittleEndian.PutUint64(b[32:40], e.FirstLBA)
		binary.LittleEndian.PutUint64(b[40:48], e.LastLBA)
		for i, c := range utf16.Encode([]rune(e.Name)) {
			binary.LittleEndian.PutUint16(b[56+2*i:], c)
		}
	}
	h := disk[sector:][:92]
	copy(h[0:8], "EFI PART")
	binary.LittleEndian.PutUint32(h[8:12], 0x00010000)
	binary.LittleEndian.PutUint32(h[12:16], 92)
	binary.LittleEndian.PutUint64(h[24:32], 1)
	binary.LittleEndian.PutUint64(h[72:80], 2)
	binary.LittleEndian.PutUint32(h[80:84], uint32(slots))
	binary.LittleEndian.PutUint32(h[84:88], uint32(entrySize))
	binary.LittleEndian.PutUint32(h[88:92], crc32.ChecksumIEEE(array))
	binary.LittleEndian.PutUint32(h[16:20], crc32.ChecksumIEEE(h))
	return disk
}

func TestParseGPT(t *testing.T) {
	esp := mustGUID(t, "C12A7328-F81F-11D2-BA4B-00A0C93EC93B")
	rootType := mustGUID(t, "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709")
	want := []gptEntry{
		{Index: 0, Type: esp, Unique: mustGUID(t, "01234567-89AB-CDEF-0123-456789ABCDEF"), FirstLBA: 2048, LastLBA: 4095, Name: "esp"},
		{Index: 2, Type: rootType, Unique: mustGUID(t, "FEDCBA98-7654-3210-FEDC-BA9876543210"), FirstLBA: 4096, LastLBA: 9999, Name: "root-é"},
	}
	corruptHeader := func(d []byte, s int64) { d[s+40] ^= 1 }
	corruptArray := func(d []byte, s int64) { d[2*s+20] ^= 1 }
	noSig := func(d []byte, s int64) { d[s] = 'X' }

	tests := []struct {
		name      string
		sector    int64
		slots     int
		entrySize int
		damage    func([]byte, int64)
		wantErr   string
	}{
		{"512 byte sectors", 512, 128, 128, nil, ""},
		{"4k sectors", 4096, 128, 128, nil, ""},
		{"large entries", 512, 8, 256, nil, ""},
		{"no signature", 512, 128, 128, noSig, "no GPT"},
		{"bad header crc", 512, 128, 128, corruptHeader, "header CRC"},
		{"bad array crc", 512, 128, 128, corruptArray, "array CRC"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			disk := buildGPT(tt.sector, tt.slots, tt.entrySize, want)
			if tt.damage != nil {
				tt.damage(disk, tt.sector)
			}
			got, err := parseGPT(bytes.NewReader(disk), tt.sector)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestParseGPTTruncated(t *testing.T) {
	disk := buildGPT(512, 128, 128, nil)
	if _, err := parseGPT(bytes.NewReader(disk[:512*3]), 512); err == nil {
		t.Fatal("want error for a truncated entry array")
	}
}

// TestParseGPTSgdisk checks our reading of GUIDs against an independent GPT writer.
func TestParseGPTSgdisk(t *testing.T) {
	sgdisk := testenv.LookPath(t, "sgdisk")
	img := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 16<<20); err != nil {
		t.Fatal(err)
	}
	const uuid = "6a4f8c3e-1b2d-4e5f-8a9b-0c1d2e3f4a5b"
	out, err := exec.Command(sgdisk,
		"-n", "1:2048:+1M", "-t", "1:C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "-c", "1:esp",
		"-n", "3:0:+2M", "-t", "3:4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709", "-u", "3:"+uuid, "-c", "3:root",
		img).CombinedOutput()
	if err != nil {
		t.Fatalf("sgdisk: %v\n%s", err, out)
	}
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	entries, err := parseGPT(f, 512)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Fatalf("got %d entries, want 2: %+v", len(entries), entries)
	}
	root := entries[1]
	if root.Index != 2 || root.Unique != mustGUID(t, uuid) || root.Name != "root" || root.FirstLBA != 4096 || root.LastLBA != 4096+4096-1 {
		t.Errorf("root entry = %+v (unique %s)", root, root.Unique)
	}
	if entries[0].Type.String() != "C12A7328-F81F-11D2-BA4B-00A0C93EC93B" {
		t.Errorf("ESP type = %s", entries[0].Type)
	}
}

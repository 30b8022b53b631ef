package main

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"strings"
	"unicode/utf16"
)

// guid is a GUID in GPT on-disk byte order: the first three fields are little-endian, the
// last eight bytes are stored as written.
type guid [16]byte

// parseGUID parses the canonical text form (any letter case) into on-disk byte order.
func parseGUID(s string) (guid, error) {
	var g guid
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return g, fmt.Errorf("%q is not a GUID (want xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", s)
	}
	b, err := hex.DecodeString(s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:36])
	if err != nil {
		return g, fmt.Errorf("%q is not a GUID: %w", s, err)
	}
	binary.LittleEndian.PutUint32(g[0:4], binary.BigEndian.Uint32(b[0:4]))
	binary.LittleEndian.PutUint16(g[4:6], binary.BigEndian.Uint16(b[4:6]))
	binary.LittleEndian.PutUint16(g[6:8], binary.BigEndian.Uint16(b[6:8]))
	copy(g[8:], b[8:])
	return g, nil
}

func (g guid) String() string {
	return fmt.Sprintf("%08X-%04X-%04X-%s-%s",
		binary.LittleEndian.Uint32(g[0:4]), binary.LittleEndian.Uint16(g[4:6]),
		binary.LittleEndian.Uint16(g[6:8]),
		strings.ToUpper(hex.EncodeToString(g[8:10])), strings.ToUpper(hex.EncodeToString(g[10:16])))
}

// gptEntry is one used slot of a GPT partition entry array.
type gptEntry struct {
	Index    int // 0-based slot; the kernel numbers the partition Index+1
	Type     guid
	Unique   guid
	FirstLBA uint64
	LastLBA  uint64
	Name     string
}

// errNoGPT means the disk has no (primary) GPT; callers skip such disks quietly.
var errNoGPT = errors.New("no GPT signature")

const (
	gptMinHeaderSize = 92
	gptMinEntrySize  = 128
	// gptMaxArray bounds what a corrupt header can make us allocate.
	gptMaxArray = 4 << 20
)

// parseGPT reads the primary GPT (header at LBA 1) and returns its used entries in slot
// order. Both CRCs are checked: the kernel ignores a table whose CRCs are wrong, so we must too.
func parseGPT(r io.ReaderAt, sectorSize int64) ([]gptEntry, error) {
	if sectorSize < 512 || sectorSize&(sectorSize-1) != 0 {
		return nil, fmt.Errorf("bad sector size %d", sectorSize)
	}
	hdr := make([]byte, sectorSize)
	if err := readAt(r, hdr, sectorSize); err != nil {
		return nil, fmt.Errorf("reading GPT header: %w", err)
	}
	if string(hdr[0:8]) != "EFI PART" {
		return nil, errNoGPT
	}
	hdrSize := binary.LittleEndian.Uint32(hdr[12:16])
	if hdrSize < gptMinHeaderSize || int64(hdrSize) > sectorSize {
		return nil, fmt.Errorf("GPT header size %d out of range", hdrSize)
	}
	check := append([]byte(nil), hdr[:hdrSize]...)
	clear(check[16:20])
	if got, want := crc32.ChecksumIEEE(check), binary.LittleEndian.Uint32(hdr[16:20]); got != want {
		return nil, fmt.Errorf("GPT header CRC %08x, want %08x", got, want)
	}

	arrayLBA := binary.LittleEndian.Uint64(hdr[72:80])
	count := binary.LittleEndian.Uint32(hdr[80:84])
	entrySize := binary.LittleEndian.Uint32(hdr[84:88])
	if entrySize < gptMinEntrySize || entrySize%8 != 0 {
		return nil, fmt.Errorf("GPT entry size %d invalid", entrySize)
	}
	arraySize := uint64(count) * uint64(entrySize)
	if arraySize > gptMaxArray {
		return nil, fmt.Errorf("GPT entry array of %d bytes too large", arraySize)
	}
	if arrayLBA > math.MaxInt64/uint64(sectorSize) {
		return nil, fmt.Errorf("GPT entry array LBA %d out of range", arrayLBA)
	}
	array := make([]byte, arraySize)
	if err := readAt(r, array, int64(arrayLBA)*sectorSize); err != nil {
		return nil, fmt.Errorf("reading GPT entries at LBA %d: %w", arrayLBA, err)
	}
	if got, want := crc32.ChecksumIEEE(array), binary.LittleEndian.Uint32(hdr[88:92]); got != want {
		return nil, fmt.Errorf("GPT entry array CRC %08x, want %08x", got, want)
	}

	var entries []gptEntry
	for i := range int(count) {
		e := array[i*int(entrySize):][:entrySize]
		var typ guid
		copy(typ[:], e[0:16])
		if typ == (guid{}) {
			continue // unused slot
		}
		entry := gptEntry{
			Index:    i,
			Type:     typ,
			FirstLBA: binary.LittleEndian.Uint64(e[32:40]),
			LastLBA:  binary.LittleEndian.Uint64(e[40:48]),
			Name:     decodeUTF16Name(e[56:128]),
		}
		copy(entry.Unique[:], e[16:32])
		entries = append(entries, entry)
	}
	return entries, nil
}

// decodeUTF16Name decodes a NUL-terminated UTF-16LE partition name.
func decodeUTF16Name(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}

// readAt fills p from off; a short read is an error even if the reader said io.EOF.
func readAt(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

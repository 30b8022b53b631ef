package image

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

const (
	mib = 1 << 20
	// DiskSize is the virtual size of every image: GCE wants a whole number of GiB, Azure a whole
	// number of MiB, and the sparse raw file only allocates what the partitions hold.
	DiskSize = 1 << 30
)

// partition is one GPT partition and the file that fills it.
type partition struct {
	name     string // GPT partition name
	typeGUID string
	file     string
	size     int64 // 0: the file's size rounded up to a MiB
	start    int64 // set by layout
}

// stableGUID derives a GUID from the build ID and a name: the same build gives the same disk,
// a different build gives different partition GUIDs (a version-4 style, random-looking GUID).
func stableGUID(buildID, name string) string {
	h := sha256.Sum256([]byte(buildID + "/" + name))
	h[6] = h[6]&0x0f | 0x40
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%X-%X-%X-%X-%X", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// layout gives each partition its start (1 MiB aligned, from 1 MiB) and size.
func layout(parts []partition) error {
	next := int64(mib)
	for i := range parts {
		p := &parts[i]
		if p.size == 0 {
			st, err := os.Stat(p.file)
			if err != nil {
				return err
			}
			p.size = (st.Size() + mib - 1) / mib * mib
		}
		p.start = next
		next += p.size
	}
	if next > DiskSize-mib {
		return fmt.Errorf("partitions need %d MiB, more than the %d MiB disk", next/mib, DiskSize/mib)
	}
	return nil
}

// makeDisk writes a sparse raw GPT disk image holding parts. GUIDs come from buildID so two
// builds of the same inputs are identical.
func makeDisk(ctx context.Context, out, buildID string, parts []partition) error {
	if err := layout(parts); err != nil {
		return err
	}
	_ = os.Remove(out)
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if err := f.Truncate(DiskSize); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	args := []string{"--clear", "--disk-guid=" + stableGUID(buildID, "disk")}
	for i, p := range parts {
		n := i + 1
		first, last := p.start/512, (p.start+p.size)/512-1
		args = append(args,
			fmt.Sprintf("--new=%d:%d:%d", n, first, last),
			fmt.Sprintf("--typecode=%d:%s", n, p.typeGUID),
			fmt.Sprintf("--change-name=%d:%s", n, p.name),
			fmt.Sprintf("--partition-guid=%d:%s", n, PartUUID(buildID, p.name)))
	}
	args = append(args, out)
	if b, err := exec.CommandContext(ctx, "sgdisk", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("sgdisk: %w\n%s", err, b)
	}
	f, err = os.OpenFile(out, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, p := range parts {
		if err := writeSparse(f, p.file, p.start); err != nil {
			return fmt.Errorf("writing partition %s: %w", p.name, err)
		}
	}
	return f.Close()
}

// PartUUID is the unique GUID of the named partition in the build's disk image.
func PartUUID(buildID, name string) string {
	return strings.ToLower(stableGUID(buildID, "part/"+name))
}

// writeSparse copies src into dst at off, seeking over all-zero blocks so the raw image only
// allocates what the partitions really hold.
func writeSparse(dst *os.File, src string, off int64) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	buf := make([]byte, 64<<10)
	zero := make([]byte, len(buf))
	for {
		n, err := io.ReadFull(in, buf)
		if n > 0 && !bytes.Equal(buf[:n], zero[:n]) {
			if _, werr := dst.WriteAt(buf[:n], off); werr != nil {
				return werr
			}
		}
		off += int64(n)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

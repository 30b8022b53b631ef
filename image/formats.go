package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Formats are the disk image formats a build can write, with their file extension.
var Formats = map[string]string{
	"raw":   "raw",
	"qcow2": "qcow2",
	"vhd":   "vhd",    // fixed VHD, as Azure requires
	"vmdk":  "vmdk",   // streamOptimized, as vSphere and OVA imports expect
	"gce":   "tar.gz", // disk.raw inside a gzip'd tar, as GCE image import expects
	// kernel writes the direct-boot files: .kernel, .initrd, .cmdline
	"kernel": "kernel",
}

// QEMUFormat is the qemu block driver that opens an output format as a disk ("vpc" reads
// the VHD), or "" for outputs qemu cannot attach: gce is a tarball (its disk.raw is raw once
// unpacked) and kernel is the direct-boot files.
func QEMUFormat(format string) string {
	switch format {
	case "raw", "qcow2", "vmdk":
		return format
	case "vhd":
		return "vpc"
	}
	return ""
}

// convert writes one output format from the raw image.
func convert(ctx context.Context, format, raw, out, buildID string, epoch int64) error {
	qemuImg := func(args ...string) error {
		if b, err := exec.CommandContext(ctx, "qemu-img", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("qemu-img %s: %w\n%s", strings.Join(args, " "), err, b)
		}
		return nil
	}
	_ = os.Remove(out)
	switch format {
	case "qcow2":
		return qemuImg("convert", "-f", "raw", "-O", "qcow2", "-c", raw, out)
	case "vhd":
		if err := qemuImg("convert", "-f", "raw", "-O", "vpc", "-o", "subformat=fixed,force_size=on", raw, out); err != nil {
			return err
		}
		return stabiliseVHD(out, buildID, epoch)
	case "vmdk":
		if err := qemuImg("convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized", raw, out); err != nil {
			return err
		}
		return stabiliseVMDK(out, buildID)
	case "gce":
		return gceTarball(raw, out, epoch)
	}
	return fmt.Errorf("unknown format %q", format)
}

// stabiliseVHD replaces the random UUID and the creation time qemu-img puts in the VHD footer,
// so the same build gives the same file, and fixes the footer checksum.
func stabiliseVHD(path, buildID string, epoch int64) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	footer := make([]byte, 512)
	off := st.Size() - 512
	if _, err := f.ReadAt(footer, off); err != nil {
		return err
	}
	if string(footer[:8]) != "conectix" {
		return fmt.Errorf("%s: no VHD footer", path)
	}
	vhdEpoch := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	binary.BigEndian.PutUint32(footer[24:28], uint32(max(epoch-vhdEpoch, 0)))
	id := sha256.Sum256([]byte(buildID + "/vhd"))
	copy(footer[68:84], id[:16])
	binary.BigEndian.PutUint32(footer[64:68], 0)
	var sum uint32
	for _, b := range footer {
		sum += uint32(b)
	}
	binary.BigEndian.PutUint32(footer[64:68], ^sum)
	if _, err := f.WriteAt(footer, off); err != nil {
		return err
	}
	return f.Close()
}

// stabiliseVMDK replaces the random content ID in the embedded descriptor (same length).
func stabiliseVMDK(path, buildID string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	head := make([]byte, 64<<10)
	n, err := f.ReadAt(head, 0)
	if err != nil && err != io.EOF {
		return err
	}
	i := bytes.Index(head[:n], []byte("\nCID="))
	if i < 0 {
		return fmt.Errorf("%s: no CID in the VMDK descriptor", path)
	}
	id := sha256.Sum256([]byte(buildID + "/vmdk"))
	if _, err := f.WriteAt([]byte(fmt.Sprintf("%08x", binary.BigEndian.Uint32(id[:4]))), int64(i+5)); err != nil {
		return err
	}
	return f.Close()
}

// gceTarball writes disk.raw into a gzip'd GNU tar, with fixed times and owners.
func gceTarball(raw, out string, epoch int64) error {
	in, err := os.Open(raw)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	zw, err := gzip.NewWriterLevel(f, gzip.BestSpeed)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(zw)
	hdr := &tar.Header{Name: "disk.raw", Mode: 0o644, Size: st.Size(), ModTime: time.Unix(epoch, 0), Format: tar.FormatGNU, Typeflag: tar.TypeReg}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if _, err := io.Copy(tw, in); err != nil {
		return fmt.Errorf("gce tarball: %w", err)
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return f.Close()
}

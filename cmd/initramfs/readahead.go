package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// rootReadAheadKB is the verified root's read-ahead. A page fault in a program on the root reads
// around the faulting page, 128 KiB by the kernel's default, and Go's package initialisation
// faults much of the 33 MiB etcd binary in at its first start (firstboot's). With 16 MiB each
// fault reads many squashfs blocks (still one synchronous read and decompression per block), so a
// program takes far fewer faults, at the price of decompressing some pages never used. Measured,
// not derived: etcd started ~0.6 s sooner on average in amd64 direct boots under TCG
// (docs/PERFORMANCE.md). Only the root's reads: the data volume keeps its own.
const rootReadAheadKB = 16384

// setReadAhead sets the read-ahead of block device dev (/dev/NAME) through sysBlock
// (/sys/block). Files opened later take it from there. Call it after the device-mapper table is
// loaded and resumed: a table load sets the device's read-ahead back to the default.
func setReadAhead(sysBlock, dev string, kb int) error {
	p := filepath.Join(sysBlock, filepath.Base(dev), "queue", "read_ahead_kb")
	f, err := os.OpenFile(p, os.O_WRONLY, 0) // never created: sysfs has it, or the device is not there
	if err == nil {
		_, err = f.WriteString(strconv.Itoa(kb))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("setting the read-ahead of %s to %d KiB: %w", dev, kb, err)
	}
	return nil
}

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// rootReadAheadKB is the verified root's read-ahead. A page fault in a program on the root reads
// around the faulting page, and the kernel's default of 128 KiB makes that one squashfs block per
// synchronous trip through the disk, dm-verity's worker and the decompressor: at boot, Go's package
// initialisation alone faults in the 33 MiB etcd binary that way, a block at a time. 16 MiB
// (a program's whole binary and libraries in a few trips) trades decompressing some pages never
// used for far fewer trips: etcd started ~1 s sooner in amd64 direct boots under TCG
// (docs/PERFORMANCE.md), and a cloud's network disk, where each request is a round trip, gets
// fewer of them. Only the root's reads: the data volume keeps its own.
const rootReadAheadKB = 16384

// setReadAhead sets the read-ahead of block device dev (/dev/NAME) through sysBlock
// (/sys/block). Files opened later take it from there: the root's are all opened after this.
func setReadAhead(sysBlock, dev string, kb int) error {
	p := filepath.Join(sysBlock, filepath.Base(dev), "queue", "read_ahead_kb")
	if err := os.WriteFile(p, []byte(strconv.Itoa(kb)), 0); err != nil {
		return fmt.Errorf("setting the read-ahead of %s to %d KiB: %w", dev, kb, err)
	}
	return nil
}

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// findRoots looks once through every whole disk for GPT partitions whose unique GUID is
// want. A copy of the image carries the same GUIDs, so there may be several; they come in
// /sys/block order. It also returns one note per disk without one, for the error message if
// no root turns up.
func findRoots(sysBlock, devDir string, want guid) (devs []string, notes []string) {
	disks, err := os.ReadDir(sysBlock)
	if err != nil {
		return nil, []string{fmt.Sprintf("(reading %s: %v)", sysBlock, err)}
	}
	for _, d := range disks {
		name := d.Name()
		if skipDisk(name) {
			continue
		}
		part, err := findPartition(filepath.Join(sysBlock, name), filepath.Join(devDir, name), want)
		switch {
		case err != nil:
			notes = append(notes, fmt.Sprintf("%s (%v)", name, err))
		case part == "":
			notes = append(notes, name)
		default:
			devs = append(devs, filepath.Join(devDir, part))
		}
	}
	return devs, notes
}

// skipDisk leaves out RAM-backed block devices, which never hold the root.
func skipDisk(name string) bool {
	for _, p := range []string{"loop", "ram", "zram"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// findPartition returns the kernel name of the partition of one disk with unique GUID want,
// or "" if the disk has no such partition.
func findPartition(sysDisk, devDisk string, want guid) (string, error) {
	if size, err := readInt(filepath.Join(sysDisk, "size")); err == nil && size == 0 {
		return "", errors.New("empty")
	}
	sector, err := readInt(filepath.Join(sysDisk, "queue", "logical_block_size"))
	if err != nil {
		return "", err
	}
	f, err := os.Open(devDisk)
	if err != nil {
		return "", err
	}
	defer f.Close()
	entries, err := parseGPT(f, sector)
	if errors.Is(err, errNoGPT) {
		return "", errNoGPT
	}
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		if e.Unique == want {
			return partitionByNumber(sysDisk, e.Index+1)
		}
	}
	return "", nil
}

// partitionByNumber finds the child of a disk in sysfs whose "partition" file holds num.
// The GPT can be readable before the kernel has added the partitions, so "not yet" is an
// error the caller's polling retries.
func partitionByNumber(sysDisk string, num int) (string, error) {
	children, err := os.ReadDir(sysDisk)
	if err != nil {
		return "", err
	}
	for _, c := range children {
		n, err := readInt(filepath.Join(sysDisk, c.Name(), "partition"))
		if err == nil && n == int64(num) {
			return c.Name(), nil
		}
	}
	return "", fmt.Errorf("GPT entry %d matches but the kernel has no partition %d", num, num)
}

func readInt(file string) (int64, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// sysBlockDir and devNodes are where disks are looked for, and refusedGrace how long the OS
// disk may take to appear once a copy was refused (tests change them).
var (
	sysBlockDir, devNodes = "/sys/block", "/dev"
	refusedGrace          = 10 * time.Second
)

// openFunc opens a candidate root partition through verity and returns the device to
// mount; an error wrapping errVerification means this partition cannot be the verified root
// (its content, or its size, is not the image's): the next is tried. Any other error is the
// initramfs's own (no device-mapper) and stops the boot.
type openFunc func(dev string) (string, error)

// waitForRoot polls findRoots until a partition with the root GUID opens: drivers probe
// devices asynchronously after their modules load. Each candidate is tried once; one that
// fails verification is skipped with a console line and never mounted, so a disk that only
// copies the image's GUIDs cannot stand in for the OS disk.
func waitForRoot(l *logger, want guid, timeout, interval time.Duration, open openFunc) (string, error) {
	l.printf("waiting up to %s for root PARTUUID=%s", timeout, want)
	start := time.Now()
	nextReport := start.Add(10 * time.Second)
	tried := map[string]bool{}
	var refused []string
	var refusedAt time.Time
	disks := -1
	for {
		devs, notes := findRoots(sysBlockDir, devNodes, want)
		// The grace restarts whenever a disk appears: a slow controller still gets its turn.
		if n := len(devs) + len(notes); n != disks {
			disks = n
			if refused != nil {
				refusedAt = time.Now()
			}
		}
		for _, dev := range devs {
			if tried[dev] {
				continue
			}
			tried[dev] = true
			mapped, err := open(dev)
			if err == nil {
				l.printf("root is %s, verified as %s (after %s)", dev, mapped, time.Since(start).Round(time.Millisecond))
				return mapped, nil
			}
			if errors.Is(err, errVerification) {
				l.alert("OS DISK FAILED VERIFICATION: %s has the root partition's PARTUUID but %v; not mounting it", dev, err)
				if refused == nil {
					refusedAt = time.Now()
				}
				refused = append(refused, dev)
				continue
			}
			return "", fmt.Errorf("opening root %s: %w", dev, err)
		}
		now := time.Now()
		// After a refusal the real OS disk gets a short grace to turn up, not the whole wait:
		// a node with an altered copy attached stops soon, with the reason on the console.
		if now.Sub(start) >= timeout || (refused != nil && now.Sub(refusedAt) >= refusedGrace) {
			if len(refused) > 0 {
				return "", fmt.Errorf("OS disk failed verification: no partition with PARTUUID=%s matches the root hash on the kernel command line (refused: %s); reinstall the image on the OS disk and detach disks that copy it", want, strings.Join(refused, ", "))
			}
			seen := "none"
			if len(notes) > 0 {
				seen = strings.Join(notes, ", ")
			}
			return "", fmt.Errorf("root partition PARTUUID=%s not found on any disk after %s (disks seen: %s)", want, timeout, seen)
		}
		if now.After(nextReport) {
			l.printf("still waiting for root; disks without it: %s", strings.Join(notes, ", "))
			nextReport = now.Add(10 * time.Second)
		}
		time.Sleep(interval)
	}
}

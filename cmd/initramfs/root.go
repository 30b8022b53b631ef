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

// findRoot looks once through every whole disk for the GPT partition whose unique GUID is
// want. It returns the partition's device path, or "" if it is not (yet) there, plus one
// note per disk looked at for the error message if the root never turns up.
func findRoot(sysBlock, devDir string, want guid) (dev string, notes []string) {
	disks, err := os.ReadDir(sysBlock)
	if err != nil {
		return "", []string{fmt.Sprintf("(reading %s: %v)", sysBlock, err)}
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
			return filepath.Join(devDir, part), nil
		}
	}
	return "", notes
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

// waitForRoot polls findRoot until the root partition appears: drivers probe devices
// asynchronously after their modules load.
func waitForRoot(l *logger, want guid, timeout, interval time.Duration) (string, error) {
	l.printf("waiting up to %s for root PARTUUID=%s", timeout, want)
	start := time.Now()
	nextReport := start.Add(10 * time.Second)
	for {
		dev, notes := findRoot("/sys/block", "/dev", want)
		if dev != "" {
			l.printf("root is %s (after %s)", dev, time.Since(start).Round(time.Millisecond))
			return dev, nil
		}
		seen := "none"
		if len(notes) > 0 {
			seen = strings.Join(notes, ", ")
		}
		now := time.Now()
		if now.Sub(start) >= timeout {
			return "", fmt.Errorf("root partition PARTUUID=%s not found on any disk after %s (disks seen: %s)", want, timeout, seen)
		}
		if now.After(nextReport) {
			l.printf("still waiting for root; disks seen: %s", seen)
			nextReport = now.Add(10 * time.Second)
		}
		time.Sleep(interval)
	}
}

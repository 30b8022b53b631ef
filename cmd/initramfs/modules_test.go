package main

import (
	"fmt"
	"reflect"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseModuleList(t *testing.T) {
	in := "# storage\nlib/modules/virtio.ko\n\n  lib/modules/virtio_ring.ko  \nlib/modules/virtio_blk.ko.xz"
	want := []string{"lib/modules/virtio.ko", "lib/modules/virtio_ring.ko", "lib/modules/virtio_blk.ko.xz"}
	if got := parseModuleList([]byte(in)); !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestLoadOutcome(t *testing.T) {
	tests := []struct {
		err    error
		failed bool
	}{
		{nil, false},
		{unix.EEXIST, false},
		{unix.ENODEV, false},
		{fmt.Errorf("wrapped: %w", unix.ENXIO), false},
		{unix.ENOEXEC, true},
		{unix.ENOENT, true},
	}
	for _, tt := range tests {
		if _, failed := loadOutcome(tt.err); failed != tt.failed {
			t.Errorf("loadOutcome(%v) failed = %v, want %v", tt.err, failed, tt.failed)
		}
	}
}

func TestModuleName(t *testing.T) {
	for in, want := range map[string]string{
		"lib/modules/virtio_blk.ko":      "virtio_blk",
		"lib/modules/xen-blkfront.ko.xz": "xen-blkfront",
		"plain":                          "plain",
	} {
		if got := moduleName(in); got != want {
			t.Errorf("moduleName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLoadUntil(t *testing.T) {
	// The files do not exist: each load fails with ENOENT, which loadUntil logs and passes.
	paths := []string{"a.ko", "b.ko", "c.ko"}
	tests := []struct {
		name       string
		presentAt  int // checks before the root shows; -1: never
		wantLoaded int
		wantRest   []string
	}{
		{"root already there (built-in driver)", 0, 0, paths},
		{"root after the second driver", 2, 2, paths[2:]},
		{"root after the last driver", 3, 3, nil},
		{"root never seen", -1, 3, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checks := 0
			rest := loadUntil(&logger{}, t.TempDir(), paths, func() bool {
				present := tt.presentAt >= 0 && checks >= tt.presentAt
				checks++
				return present
			})
			if !reflect.DeepEqual(rest, tt.wantRest) {
				t.Errorf("rest = %q, want %q", rest, tt.wantRest)
			}
			if loaded := len(paths) - len(rest); loaded != tt.wantLoaded {
				t.Errorf("loaded %d drivers, want %d", loaded, tt.wantLoaded)
			}
		})
	}
}

func TestLoadRestOnRefusal(t *testing.T) {
	rest := []string{"lib/modules/nvme.ko", "lib/modules/ahci.ko"}
	var loads [][]string
	load := func(p []string) { loads = append(loads, p) }
	results := map[string]error{
		"/dev/vda2":      fmt.Errorf("reading byte 4096: %w", errVerification), // an altered copy
		"/dev/vdb2":      fmt.Errorf("too small: %w", errVerification),
		"/dev/nvme0n1p2": nil,
	}
	open := loadRestOnRefusal(&logger{}, rest, func(part string) (string, error) {
		if err := results[part]; err != nil {
			return "", err
		}
		return "/dev/dm-0", nil
	}, load)
	if _, err := open("/dev/vda2"); err == nil {
		t.Fatal("an altered copy opened")
	}
	if len(loads) != 1 || !reflect.DeepEqual(loads[0], rest) {
		t.Fatalf("after the first refusal, loads = %q, want the rest once", loads)
	}
	open("/dev/vdb2")
	if dev, err := open("/dev/nvme0n1p2"); err != nil || dev != "/dev/dm-0" {
		t.Fatalf("the OS disk: %q, %v", dev, err)
	}
	if len(loads) != 1 {
		t.Errorf("the rest were loaded %d times, want once", len(loads))
	}

	// nothing left out: a refusal loads nothing
	loads = nil
	none := loadRestOnRefusal(&logger{}, nil, func(string) (string, error) { return "", errVerification }, load)
	none("/dev/vda2")
	if loads != nil {
		t.Errorf("loads = %q, want none", loads)
	}
}

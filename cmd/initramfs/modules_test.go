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

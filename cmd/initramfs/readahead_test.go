package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSetReadAhead(t *testing.T) {
	for _, tc := range []struct {
		name, dev string
		wantErr   bool
	}{
		{name: "the verity device's queue", dev: "/dev/dm-0"},
		{name: "a device sysfs does not list", dev: "/dev/dm-7", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sysBlock := filepath.Join(t.TempDir(), "block")
			queue := filepath.Join(sysBlock, "dm-0", "queue")
			if err := os.MkdirAll(queue, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(queue, "read_ahead_kb"), []byte("128\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			err := setReadAhead(sysBlock, tc.dev, 16384)
			if (err != nil) != tc.wantErr {
				t.Fatalf("setReadAhead(%s) = %v, want error %v", tc.dev, err, tc.wantErr)
			}
			got, _ := os.ReadFile(filepath.Join(queue, "read_ahead_kb"))
			if want := map[bool]string{false: "16384", true: "128\n"}[tc.wantErr]; string(got) != want {
				t.Errorf("dm-0's read_ahead_kb = %q, want %q", got, want)
			}
		})
	}
}

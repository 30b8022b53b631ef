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
		want      string // dm-0's read_ahead_kb afterwards
	}{
		{name: "the verity device's queue", dev: "/dev/dm-0", want: "16384"},
		{name: "a device sysfs does not list", dev: "/dev/dm-7", wantErr: true, want: "128\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sysBlock := filepath.Join(t.TempDir(), "block")
			queue := filepath.Join(sysBlock, "dm-0", "queue")
			// dm-7's queue directory exists without the file: it must not be created
			for _, d := range []string{queue, filepath.Join(sysBlock, "dm-7", "queue")} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(queue, "read_ahead_kb"), []byte("128\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			err := setReadAhead(sysBlock, tc.dev, 16384)
			if (err != nil) != tc.wantErr {
				t.Fatalf("setReadAhead(%s) = %v, want error %v", tc.dev, err, tc.wantErr)
			}
			got, err := os.ReadFile(filepath.Join(queue, "read_ahead_kb"))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("dm-0's read_ahead_kb = %q, want %q", got, tc.want)
			}
			if _, err := os.Stat(filepath.Join(sysBlock, "dm-7", "queue", "read_ahead_kb")); err == nil {
				t.Errorf("setReadAhead created dm-7's read_ahead_kb")
			}
		})
	}
}

package atomicfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		mode os.FileMode
		data string
	}{
		{"key", 0o600, "secret"},
		{"cert", 0o644, "public"},
		{"key", 0o600, "replaced"},     // over an existing file
		{"key", 0o644, "public now"},   // and its mode with it
		{"key", 0o600, "secret again"}, // back to private
	}
	for _, c := range cases {
		p := filepath.Join(dir, c.name)
		if err := Write(p, []byte(c.data), c.mode); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil || string(b) != c.data {
			t.Fatalf("%s = %q, %v; want %q", c.name, b, err, c.data)
		}
		fi, _ := os.Stat(p)
		if fi.Mode().Perm() != c.mode {
			t.Errorf("%s mode %v, want %v", c.name, fi.Mode().Perm(), c.mode)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("temporary files left: %v", entries)
	}
}

func TestWriteAllAndErrors(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a", "b", "f")
	if err := Write(p, []byte("x"), 0o644); err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("Write into a missing directory: err = %v, want one naming %s", err, p)
	}
	if err := WriteAll(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "x" {
		t.Fatalf("read %q", b)
	}
}

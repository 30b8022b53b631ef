package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The signing flags are checked before any build work: these fail at once, with the flag's
// name, without a repository to build from. image.TestLoadSigner checks the keys themselves.
func TestBuildSigningFlags(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nothing.pem")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--signing-key", missing}, "--signing-key needs --signing-cert"},
		{[]string{"--signing-cert", missing}, "--signing-cert needs --signing-key"},
		{[]string{"--signing-key", missing, "--signing-cert", missing}, "--signing-key: open " + missing + ": no such file or directory"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			err := build(context.Background(), append(tc.args, "--src", t.TempDir()))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("build %v: %v, want %q", tc.args, err, tc.want)
			}
		})
	}
}

// The source digest changes with an uncommitted edit, an untracked file and a file's mode,
// not with an ignored file or a rebuild of the same tree: a build ID that names its sources.
func TestSourceID(t *testing.T) {
	dir := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@example"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	write := func(name, body string, mode os.FileMode) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), mode); err != nil {
			t.Fatal(err)
		}
	}
	id := func() string {
		t.Helper()
		s, err := sourceID(dir)
		if err != nil || len(s) != 16 {
			t.Fatalf("sourceID = %q, %v", s, err)
		}
		return s
	}
	git("init", "-q")
	write(".gitignore", "out/\n", 0o644)
	write("main.go", "package main\n", 0o644)
	git("add", ".")
	git("commit", "-q", "-m", "c")
	committed := id()
	if again := id(); again != committed {
		t.Errorf("the same tree digested twice: %s, %s", committed, again)
	}
	os.MkdirAll(filepath.Join(dir, "out"), 0o755)
	write("out/image.raw", "ignored", 0o644)
	if got := id(); got != committed {
		t.Errorf("an ignored file changed the digest: %s → %s", committed, got)
	}
	seen := map[string]string{committed: "committed"}
	for _, step := range []struct {
		name string
		do   func()
	}{
		{"an uncommitted edit", func() { write("main.go", "package main // edited\n", 0o644) }},
		{"an untracked file", func() { write("new.go", "package main\n", 0o644) }},
		{"an executable bit", func() { os.Chmod(filepath.Join(dir, "new.go"), 0o755) }},
		{"a deleted file", func() { os.Remove(filepath.Join(dir, "main.go")) }},
	} {
		step.do()
		got := id()
		if prev, ok := seen[got]; ok {
			t.Errorf("%s: digest %s, the same as after %s", step.name, got, prev)
		}
		seen[got] = step.name
	}
	if s, err := sourceID(t.TempDir()); err != nil || s != "" {
		t.Errorf("outside a git checkout: sourceID = %q, %v; want empty, no error", s, err)
	}
}

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

// The source digest changes with an uncommitted edit, an untracked file, git's executable bit
// and a file turned into a link; not with an ignored file, the output directory, the umask's
// other bits or a rebuild of the same tree: a build ID that names its sources.
func TestSourceID(t *testing.T) {
	// no user or system git config, and no repository above the temp directory
	t.Setenv("GIT_CONFIG_GLOBAL", os.DevNull)
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	t.Setenv("GIT_CEILING_DIRECTORIES", filepath.Dir(t.TempDir()))
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
		os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), mode); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "images")
	id := func() string {
		t.Helper()
		s, err := sourceID(dir, out)
		if err != nil || len(s) != 16 {
			t.Fatalf("sourceID = %q, %v", s, err)
		}
		return s
	}
	git("init", "-q")
	write(".gitignore", "/out/\n", 0o644)
	write("main.go", "package main\n", 0o644)
	write("run.sh", "#!/bin/sh\n", 0o755)
	git("add", ".")
	git("commit", "-q", "-m", "c")
	committed := id()
	for _, step := range []struct {
		name string
		do   func()
	}{
		{"the same tree again", func() {}},
		{"an ignored file", func() { write("out/image.raw", "ignored", 0o644) }},
		{"a file in the output directory, which .gitignore does not name", func() { write("images/disk.raw", "an image", 0o644) }},
		{"a script's other mode bits (another umask)", func() { os.Chmod(filepath.Join(dir, "run.sh"), 0o700) }},
	} {
		step.do()
		if got := id(); got != committed {
			t.Errorf("%s changed the digest: %s → %s", step.name, committed, got)
		}
	}
	seen := map[string]string{committed: "committed"}
	for _, step := range []struct {
		name string
		do   func()
	}{
		{"an uncommitted edit", func() { write("main.go", "package main // edited\n", 0o644) }},
		{"an untracked file", func() { write("new.go", "package main\n", 0o644) }},
		{"an executable bit", func() { os.Chmod(filepath.Join(dir, "new.go"), 0o755) }},
		{"a file turned into a link", func() {
			os.Remove(filepath.Join(dir, "new.go"))
			os.Symlink("main.go", filepath.Join(dir, "new.go"))
		}},
		{"a deleted file", func() { os.Remove(filepath.Join(dir, "run.sh")) }},
	} {
		step.do()
		got := id()
		if prev, ok := seen[got]; ok {
			t.Errorf("%s: digest %s, the same as after %s", step.name, got, prev)
		}
		seen[got] = step.name
	}
	// the output directory is left out however the two paths are spelled
	link := filepath.Join(t.TempDir(), "src")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	if got, err := sourceID(link, filepath.Join(dir, "images")); err != nil || got != id() {
		t.Errorf("through a link to the tree: sourceID = %q, %v; want %s", got, err, id())
	}
	if s, err := sourceID(t.TempDir()); err != nil || s != "" {
		t.Errorf("outside a git checkout: sourceID = %q, %v; want empty, no error", s, err)
	}
	// a tree unpacked inside another repository is not a checkout of its own
	write("vendor/tree/go.mod", "module x\n", 0o644)
	if s, err := sourceID(filepath.Join(dir, "vendor", "tree")); err != nil || s != "" {
		t.Errorf("a tree inside another repository: sourceID = %q, %v; want empty, no error", s, err)
	}
}

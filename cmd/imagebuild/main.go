// Command imagebuild builds etcd appliance disk images and helps around them.
//
//	imagebuild build --arch amd64,arm64 --format raw,qcow2 --out out/ [--signing-key K --signing-cert C]
//	imagebuild lock [--arch ...]     re-resolve packages.lock against the Debian mirror
//	imagebuild run --arch amd64      boot a built image in qemu with a data disk
//	imagebuild ca init --dir ca      make a cluster CA (and client credentials from it)
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/etcd-appliance/appliance/arch"
	"github.com/etcd-appliance/appliance/image"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "build":
		err = build(ctx, os.Args[2:])
	case "lock":
		err = lock(ctx, os.Args[2:])
	case "run":
		err = run(ctx, os.Args[2:])
	case "config":
		err = configCmd(ctx, os.Args[2:])
	case "ca":
		err = caCmd(ctx, os.Args[2:])
	case "-h", "--help", "help":
		usage()
	default:
		fmt.Fprintf(os.Stderr, "imagebuild: unknown command %q\n", os.Args[1])
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "imagebuild %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, `usage: imagebuild <command> [flags]
  build   build disk images (imagebuild build -h for flags)
  lock    re-resolve packages.lock from the Debian mirror
  run     boot a built image locally in qemu with a data disk
  config  validate FILE: check a cluster configuration (YAML, JSON or Ignition; - for stdin)
  ca      init|client|config --dir DIR: make a cluster CA, client credential tarballs, the config's tls section`)
	os.Exit(2)
}

func build(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("build", flag.ExitOnError)
	arches := fs.String("arch", "amd64", "architectures, comma-separated: "+strings.Join(arch.Names(), ", "))
	formats := fs.String("format", "raw,qcow2", "output formats, comma-separated: raw, qcow2, vhd, vmdk, gce, kernel")
	out := fs.String("out", "out", "output directory")
	platform := fs.String("platform", "", "etcd.platform= kernel argument baked into the image (default: detect at boot)")
	etcdVersion := fs.String("etcd-version", "", "etcd version to build (default: the version pinned in etcdsrc/go.mod)")
	version := fs.String("version", "", "image version (default: git describe)")
	src := fs.String("src", "", "repository root (default: found from the working directory)")
	keep := fs.Bool("keep-work", false, "keep the work directory (root tree, boot files) for inspection")
	signKey := fs.String("signing-key", "", "unencrypted RSA private key (PEM) signing the UKI for Secure Boot and SHA256SUMS; needs --signing-cert")
	signCert := fs.String("signing-cert", "", "the signing key's X.509 certificate (PEM), the one to enrol in the firmware's db; needs --signing-key")
	fs.Parse(args)

	// checked before any work; Build reads them again
	if _, err := image.LoadSigner(*signKey, *signCert); err != nil {
		return err
	}

	srcDir, err := repoRoot(*src)
	if err != nil {
		return err
	}
	archList, err := parseArches(*arches)
	if err != nil {
		return err
	}
	o := image.Options{
		SrcDir: srcDir, OutDir: *out, CacheDir: cacheDir(), Arches: archList,
		Formats: splitList(*formats), Platform: *platform, EtcdVersion: *etcdVersion,
		Version: *version, KeepWork: *keep, Progress: os.Stderr,
		SigningKey: *signKey, SigningCert: *signCert,
	}
	if o.Version == "" {
		o.Version = gitVersion(srcDir)
	}
	if o.SourceID, err = sourceID(srcDir, absOr(*out)); err != nil {
		return err
	}
	if o.Epoch, err = sourceDateEpoch(srcDir); err != nil {
		return err
	}
	_, err = image.Build(ctx, o)
	return err
}

func lock(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("lock", flag.ExitOnError)
	arches := fs.String("arch", strings.Join(arch.Names(), ","), "architectures to re-resolve")
	src := fs.String("src", "", "repository root")
	fs.Parse(args)
	srcDir, err := repoRoot(*src)
	if err != nil {
		return err
	}
	archList, err := parseArches(*arches)
	if err != nil {
		return err
	}
	l := &image.Lock{}
	if b, err := os.ReadFile(image.LockPath(srcDir)); err == nil {
		if l, err = image.ParseLock(b); err != nil {
			return fmt.Errorf("%s: %w", image.LockPath(srcDir), err)
		}
	}
	for _, a := range archList {
		pkgs, err := image.Resolve(ctx, a, cacheDir())
		if err != nil {
			return err
		}
		l.Replace(a.DebianArch, pkgs)
		fmt.Fprintf(os.Stderr, "%s: %d packages\n", a.Name, len(pkgs))
	}
	return os.WriteFile(image.LockPath(srcDir), l.Bytes(), 0o644)
}

func parseArches(s string) ([]arch.Arch, error) {
	var out []arch.Arch
	for _, n := range splitList(s) {
		a, err := arch.Lookup(n)
		if err != nil {
			return nil, fmt.Errorf("--arch: %w", err)
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, errors.New("--arch: name at least one architecture")
	}
	return out, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// repoRoot finds the repository root: the flag, or the nearest parent holding etcdsrc/.
func repoRoot(flagValue string) (string, error) {
	if flagValue != "" {
		return filepath.Abs(flagValue)
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "etcdsrc", "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no etcd appliance repository above %s: run in the repository or pass --src", dir)
		}
	}
}

// cacheDir holds downloaded packages across builds.
func cacheDir() string {
	if d := os.Getenv("ETCD_APPLIANCE_CACHE"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "etcd-appliance")
	}
	return filepath.Join(os.TempDir(), "etcd-appliance-cache")
}

func gitVersion(dir string) string {
	out, err := gitOutput(dir, "describe", "--tags", "--always", "--dirty")
	if err != nil {
		return "dev"
	}
	return strings.TrimSpace(out)
}

// sourceID digests the source tree when dir is the top of a git checkout: every file git
// tracks, and every untracked one the tree's .gitignore files do not name (not the builder's
// own excludes: the ID must not depend on who builds), by path, type, git's executable bit
// (not the umask's other bits) and contents as they are on disk, so uncommitted edits count.
// Files under skip (the output directory, when it is inside the tree but not the tree itself)
// are left out. Without a .git at dir (not a checkout: a source archive, or a tree inside
// another repository), or without git, it is empty and the build ID leaves it out; a git
// failure in a checkout is an error, not a silent fallback.
func sourceID(dir string, skip ...string) (string, error) {
	dir = realPath(dir)
	if _, err := os.Lstat(filepath.Join(dir, ".git")); errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	out, err := gitOutput(dir, "ls-files", "-z", "--cached", "--others", "--exclude-per-directory=.gitignore")
	if errors.Is(err, exec.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("source digest: %w", err)
	}
	var rel []string
	for _, s := range skip {
		r, err := filepath.Rel(dir, realPath(s))
		if err == nil && r != "." && r != ".." && !strings.HasPrefix(r, "../") {
			rel = append(rel, filepath.ToSlash(r)+"/")
		}
	}
	paths := strings.Split(strings.TrimSuffix(out, "\x00"), "\x00")
	slices.Sort(paths)
	paths = slices.Compact(paths)
	h := sha256.New()
	for _, p := range paths {
		if p == "" || slices.ContainsFunc(rel, func(r string) bool { return strings.HasPrefix(p, r) }) {
			continue
		}
		kind, sum, err := digestFile(filepath.Join(dir, p))
		if err != nil {
			return "", fmt.Errorf("source digest: %w", err)
		}
		if kind != "" {
			fmt.Fprintf(h, "%s\x00%s\x00%s\n", p, kind, sum)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// digestFile is a file's type ("f" a file, "x" an executable one, "l" a symbolic link) and the
// SHA-256 of its contents (a link's target); "" for a path that is gone (deleted, not yet
// committed) or a directory (a submodule).
func digestFile(path string) (kind, sum string, err error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return "", "", nil
	}
	if err != nil {
		return "", "", err
	}
	h := sha256.New()
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		t, err := os.Readlink(path)
		if err != nil {
			return "", "", err
		}
		kind = "l"
		h.Write([]byte(t))
	case fi.Mode().IsRegular():
		f, err := os.Open(path)
		if err != nil {
			return "", "", err
		}
		defer f.Close()
		if _, err := io.Copy(h, f); err != nil {
			return "", "", err
		}
		kind = "f"
		if fi.Mode()&0o100 != 0 {
			kind = "x"
		}
	default:
		return "", "", nil
	}
	return kind, hex.EncodeToString(h.Sum(nil)), nil
}

// gitOutput runs git in dir and returns its output; an error carries git's message.
func gitOutput(dir string, args ...string) (string, error) {
	var stderr strings.Builder
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LANGUAGE=") // messages as documented
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// sourceDateEpoch is SOURCE_DATE_EPOCH, else the last commit's time: every timestamp in the
// image comes from it, so a rebuild of a commit is bit-identical.
func sourceDateEpoch(dir string) (int64, error) {
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		e, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a number of seconds", s)
		}
		return e, nil
	}
	out, err := gitOutput(dir, "log", "-1", "--format=%ct")
	if err != nil || len(strings.TrimSpace(out)) == 0 {
		return 0, nil
	}
	return strconv.ParseInt(strings.TrimSpace(out), 10, 64)
}

// absOr is path made absolute, or path itself if that fails.
func absOr(path string) string {
	if a, err := filepath.Abs(path); err == nil {
		return a
	}
	return path
}

// realPath is path absolute with its symbolic links resolved, as far as it exists (an output
// directory may not exist yet), so two spellings of one directory compare equal.
func realPath(path string) string {
	path = absOr(path)
	if r, err := filepath.EvalSymlinks(path); err == nil {
		return r
	}
	if parent := filepath.Dir(path); parent != path {
		return filepath.Join(realPath(parent), filepath.Base(path))
	}
	return path
}

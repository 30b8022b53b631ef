package image

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/etcd-appliance/appliance/arch"
)

// RootPackages go into every image's root tree; apt adds their dependencies, and the arch's
// kernel package is added per arch. Everything else a node needs is our own Go code.
var RootPackages = []string{"systemd", "systemd-sysv", "udev", "dash", "e2fsprogs", "dropbear-bin",
	"systemd-resolved",  // DNS: /etc/resolv.conf points at its stub, fed by networkd and firstboot
	"systemd-timesyncd", // NTP: servers from DHCP, the platform and the config
	"ca-certificates",   // public roots; the builder writes the bundle its maintainer script would
}

// notInImage are packages that dependencies drag in only for what dpkg does on a mutable
// system (maintainer scripts, package management, initramfs generation). The resolver treats
// them as already installed so they never reach the lock or the image.
var notInImage = map[string]string{
	"dpkg":            "packages are unpacked by the builder; the image has no package manager",
	"debconf":         "no maintainer scripts run",
	"adduser":         "users come from systemd-sysusers at build time",
	"passwd":          "users come from systemd-sysusers at build time",
	"tar":             "only dpkg needs it",
	"linux-base":      "kernel maintainer-script helpers",
	"initramfs-tools": "the builder writes its own initramfs",
	"perl-base":       "only maintainer scripts need it",
	"openssl":         "only ca-certificates' maintainer script needs it: the builder writes the bundle",
	"dbus":            "the image runs no D-Bus daemon: resolved and timesyncd work without one",
}

// Mirror is where packages come from. The lock records full URLs, so a build fetches exactly
// the locked files; this is only used when re-resolving the lock.
var Mirror = []string{
	"http://deb.debian.org/debian bookworm main",
	"http://deb.debian.org/debian bookworm-updates main",
	"http://deb.debian.org/debian-security bookworm-security main",
}

// LockedPackage is one line of the package lock.
type LockedPackage struct {
	Arch    string // Debian arch of the image (amd64, arm64, ppc64el)
	Name    string
	Version string
	PkgArch string // the package's own arch ("all" or the image arch)
	SHA256  string
	Size    int64
	URL     string
}

// Lock is the package lock for all arches: the exact .deb files a build installs.
type Lock struct {
	Packages []LockedPackage
}

const lockHeader = `# etcd appliance package lock. Written by 'imagebuild lock' (make lock); do not edit by hand.
# A build installs exactly these files and verifies each sha256.
# image-arch name version package-arch sha256 size url
`

// ParseLock reads a lock file's text.
func ParseLock(data []byte) (*Lock, error) {
	l := &Lock{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 7 {
			return nil, fmt.Errorf("line %d: want 7 fields (arch name version package-arch sha256 size url), got %d", n, len(f))
		}
		size, err := strconv.ParseInt(f[5], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: size %q: %w", n, f[5], err)
		}
		if len(f[4]) != 64 {
			return nil, fmt.Errorf("line %d: sha256 %q is not 64 hex digits", n, f[4])
		}
		l.Packages = append(l.Packages, LockedPackage{f[0], f[1], f[2], f[3], f[4], size, f[6]})
	}
	return l, sc.Err()
}

// Bytes renders the lock in its canonical, sorted form.
func (l *Lock) Bytes() []byte {
	pkgs := append([]LockedPackage(nil), l.Packages...)
	sort.Slice(pkgs, func(i, j int) bool {
		if pkgs[i].Arch != pkgs[j].Arch {
			return pkgs[i].Arch < pkgs[j].Arch
		}
		return pkgs[i].Name < pkgs[j].Name
	})
	var b bytes.Buffer
	b.WriteString(lockHeader)
	for _, p := range pkgs {
		fmt.Fprintf(&b, "%s %s %s %s %s %d %s\n", p.Arch, p.Name, p.Version, p.PkgArch, p.SHA256, p.Size, p.URL)
	}
	return b.Bytes()
}

// ForArch returns the locked packages of one Debian arch.
func (l *Lock) ForArch(debArch string) []LockedPackage {
	var out []LockedPackage
	for _, p := range l.Packages {
		if p.Arch == debArch {
			out = append(out, p)
		}
	}
	return out
}

// Replace swaps one arch's packages for a new resolution.
func (l *Lock) Replace(debArch string, pkgs []LockedPackage) {
	kept := l.Packages[:0:0]
	for _, p := range l.Packages {
		if p.Arch != debArch {
			kept = append(kept, p)
		}
	}
	l.Packages = append(kept, pkgs...)
}

// Resolve asks apt, in a private directory that leaves the host's apt untouched, for the
// dependency closure of the image's packages for one arch, and returns it as lock entries.
func Resolve(ctx context.Context, a arch.Arch, cacheDir string) ([]LockedPackage, error) {
	root := filepath.Join(cacheDir, "apt", a.DebianArch)
	for _, d := range []string{"etc/apt/apt.conf.d", "etc/apt/preferences.d", "etc/apt/sources.list.d",
		"var/lib/apt/lists/partial", "var/cache/apt/archives/partial", "var/lib/dpkg"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return nil, err
		}
	}
	var sources strings.Builder
	for _, m := range Mirror {
		uri, suite, _ := strings.Cut(m, " ")
		fmt.Fprintf(&sources, "deb [arch=%s signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s\n", a.DebianArch, uri, suite)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/apt/sources.list"), []byte(sources.String()), 0o644); err != nil {
		return nil, err
	}
	// The status file claims the excluded packages are installed, at a version that satisfies
	// any versioned dependency on them.
	var status strings.Builder
	names := make([]string, 0, len(notInImage))
	for n := range notInImage {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		prov := ""
		switch n {
		case "initramfs-tools":
			prov = "Provides: linux-initramfs-tool\n"
		case "dbus":
			prov = "Provides: default-dbus-system-bus, dbus-system-bus\n"
		}
		fmt.Fprintf(&status, "Package: %s\nVersion: 99999\nArchitecture: all\nStatus: install ok installed\n%sDescription: kept out of the image: %s\n\n", n, prov, notInImage[n])
	}
	statusFile := filepath.Join(root, "var/lib/dpkg/status")
	if err := os.WriteFile(statusFile, []byte(status.String()), 0o644); err != nil {
		return nil, err
	}
	opts := []string{"-o", "Dir=" + root, "-o", "Dir::State::status=" + statusFile,
		"-o", "Dir::Etc::Parts=" + filepath.Join(root, "etc/apt/apt.conf.d"),
		"-o", "APT::Architecture=" + a.DebianArch, "-o", "APT::Architectures::=" + a.DebianArch,
		"-o", "Debug::NoLocking=1", "-o", "APT::Sandbox::User=root", "-o", "Acquire::Retries=3", "-o", "APT::Install-Recommends=0", "-o", "APT::Install-Suggests=0"}
	if out, err := exec.CommandContext(ctx, "apt-get", append(opts, "-qq", "update")...).CombinedOutput(); err != nil {
		// A mirror caught mid-sync fails one suite's index; resolve from the suites that
		// downloaded (and say so) rather than not at all. A missing package still fails below.
		lists, _ := filepath.Glob(filepath.Join(root, "var/lib/apt/lists/*_Packages*"))
		if len(lists) == 0 {
			return nil, fmt.Errorf("apt-get update for %s: %w\n%s", a.DebianArch, err, out)
		}
		fmt.Fprintf(os.Stderr, "warning: apt-get update for %s failed in part; resolving from the indexes that downloaded "+
			"(run 'make lock' again later to pick up what was missed):\n%s", a.DebianArch, out)
	}
	want := append(append([]string{}, RootPackages...), a.KernelPackage)
	want = append(want, a.BootPackages...)
	args := append(opts, "-qq", "--print-uris", "install")
	out, err := exec.CommandContext(ctx, "apt-get", append(args, want...)...).Output()
	if err != nil {
		msg := ""
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			msg = string(ee.Stderr)
		}
		return nil, fmt.Errorf("apt-get resolving %s for %s: %w\n%s", strings.Join(want, " "), a.DebianArch, err, msg)
	}
	pkgs, err := parsePrintURIs(a.DebianArch, out)
	if err != nil {
		return nil, err
	}
	// --print-uris prints whichever hash apt prefers; the lock wants the SHA256 from the signed
	// index, which apt-cache shows.
	query := []string{"show"}
	for _, p := range pkgs {
		query = append(query, p.Name+":"+p.PkgArch+"="+p.Version)
	}
	show, err := exec.CommandContext(ctx, "apt-cache", append(opts, query...)...).Output()
	if err != nil {
		return nil, fmt.Errorf("apt-cache show for %s: %w", a.DebianArch, err)
	}
	sums := parseIndexSHA256(show)
	for i, p := range pkgs {
		sum, ok := sums[p.Name+" "+p.Version+" "+p.PkgArch]
		if !ok {
			return nil, fmt.Errorf("no SHA256 for %s %s (%s) in the package index", p.Name, p.Version, p.PkgArch)
		}
		pkgs[i].SHA256 = sum
	}
	return pkgs, nil
}

// parseIndexSHA256 maps "name version arch" to SHA256 from Packages-index stanzas.
func parseIndexSHA256(index []byte) map[string]string {
	sums := map[string]string{}
	for _, stanza := range strings.Split(string(index), "\n\n") {
		fields := map[string]string{}
		for _, line := range strings.Split(stanza, "\n") {
			if k, v, ok := strings.Cut(line, ": "); ok && !strings.HasPrefix(line, " ") {
				fields[k] = v
			}
		}
		if fields["SHA256"] != "" {
			sums[fields["Package"]+" "+fields["Version"]+" "+fields["Architecture"]] = fields["SHA256"]
		}
	}
	return sums
}

// parsePrintURIs reads apt-get --print-uris lines: 'URL' name_version_arch.deb size HASH
func parsePrintURIs(debArch string, out []byte) ([]LockedPackage, error) {
	var pkgs []LockedPackage
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || len(f) > 4 {
			return nil, fmt.Errorf("unexpected apt-get --print-uris line %q", line)
		}
		file, err := url.PathUnescape(strings.TrimSuffix(f[1], ".deb"))
		if err != nil {
			return nil, fmt.Errorf("file name %q: %w", f[1], err)
		}
		parts := strings.Split(file, "_")
		if len(parts) != 3 {
			return nil, fmt.Errorf("file name %q is not name_version_arch.deb", f[1])
		}
		size, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("size in %q: %w", line, err)
		}
		pkgs = append(pkgs, LockedPackage{Arch: debArch, Name: parts[0], Version: parts[1], PkgArch: parts[2],
			Size: size, URL: strings.Trim(f[0], "'")})
	}
	return pkgs, nil
}

// Fetch makes sure every package is in the download cache with the locked sha256 and returns
// the local paths in the order given. Downloads run a few at a time.
func Fetch(ctx context.Context, pkgs []LockedPackage, cacheDir string) ([]string, int, error) {
	dir := filepath.Join(cacheDir, "debs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, 0, err
	}
	paths := make([]string, len(pkgs))
	errs := make([]error, len(pkgs))
	downloaded := make([]bool, len(pkgs))
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i, p := range pkgs {
		paths[i] = filepath.Join(dir, p.SHA256[:16]+"_"+filepath.Base(p.URL))
		wg.Add(1)
		go func(i int, p LockedPackage) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			downloaded[i], errs[i] = fetchOne(ctx, p, paths[i])
		}(i, p)
	}
	wg.Wait()
	n := 0
	for i := range pkgs {
		if downloaded[i] {
			n++
		}
	}
	return paths, n, errors.Join(errs...)
}

func fetchOne(ctx context.Context, p LockedPackage, path string) (downloaded bool, err error) {
	if sum, err := fileSHA256(path); err == nil && sum == p.SHA256 {
		return false, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL, nil)
	if err != nil {
		return false, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, fmt.Errorf("download %s %s: %w", p.Name, p.Version, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return false, fmt.Errorf("package %s %s (%s) is no longer on the mirror (Debian replaces superseded versions): "+
			"refresh the lock with 'make lock' (imagebuild lock) and commit packages.lock", p.Name, p.Version, p.Arch)
	}
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("download %s: %s", p.URL, resp.Status)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".part-*")
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tmp, h), resp.Body); err != nil {
		tmp.Close()
		return false, fmt.Errorf("download %s: %w", p.URL, err)
	}
	if err := tmp.Close(); err != nil {
		return false, err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != p.SHA256 {
		return false, fmt.Errorf("package %s %s: sha256 %s, lock says %s: the mirror served a different file; refresh the lock with 'make lock'",
			p.Name, p.Version, got, p.SHA256)
	}
	return true, os.Rename(tmp.Name(), path)
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Extract unpacks a .deb's files into dir. dir's top-level bin, sbin and lib entries are
// symlinks into usr (merged /usr), which tar must keep rather than replace.
func Extract(ctx context.Context, deb, dir string) error {
	dpkg := exec.CommandContext(ctx, "dpkg-deb", "--fsys-tarfile", deb)
	tar := exec.CommandContext(ctx, "tar", "-x", "--keep-directory-symlink", "--numeric-owner", "-C", dir)
	pipe, err := dpkg.StdoutPipe()
	if err != nil {
		return err
	}
	tar.Stdin = pipe
	var dErr, tErr bytes.Buffer
	dpkg.Stderr, tar.Stderr = &dErr, &tErr
	if err := dpkg.Start(); err != nil {
		return err
	}
	if err := tar.Run(); err != nil {
		_ = dpkg.Wait()
		return fmt.Errorf("unpack %s: %w: %s", filepath.Base(deb), err, tErr.String())
	}
	if err := dpkg.Wait(); err != nil {
		return fmt.Errorf("dpkg-deb %s: %w: %s", filepath.Base(deb), err, dErr.String())
	}
	return nil
}

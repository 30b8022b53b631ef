package image

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// GoModule is one module compiled into a binary of the image (for the manifest).
type GoModule struct {
	Path    string `json:"path"`
	Version string `json:"version"`
}

// goBuild compiles one main package for the target GOARCH, reproducibly: no cgo, no build
// paths, no VCS stamp, no build ID.
func goBuild(ctx context.Context, moduleDir, goarch, out, pkg string, extraLdflags ...string) error {
	ldflags := append([]string{"-s", "-w", "-buildid="}, extraLdflags...)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags="+strings.Join(ldflags, " "), "-o", out, pkg)
	cmd.Dir = moduleDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch, "GOFLAGS=-mod=readonly")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s for %s: %w\n%s", pkg, goarch, err, b)
	}
	return nil
}

// etcdModules are the etcd modules etcdsrc/main.go builds etcd, etcdctl and etcdutl from;
// the first one's version is etcd's.
var etcdModules = []string{"go.etcd.io/etcd/server/v3", "go.etcd.io/etcd/etcdctl/v3", "go.etcd.io/etcd/etcdutl/v3"}

// etcdLinks are the names that run the etcd binary as its other commands; firstboot too on
// the lines that link it in (etcdLine.Firstboot).
var etcdLinks = []string{"etcdctl", "etcdutl"}

// Where a line links firstboot in, its go.mod replaces this repository's module with the
// directory above etcdsrc (applianceReplace). The build directory is elsewhere, so there it
// points at a link to the repository instead, by a name that is the same on every machine:
// the path is written into the binary's build info.
const (
	applianceModule  = "github.com/etcd-appliance/appliance"
	applianceReplace = "replace " + applianceModule + " => ../\n"
	applianceLink    = "appliance"
)

// etcdSource assembles a module directory that builds the requested etcd version from its
// line's files (etcdlines.go), and returns it with the line; a version other than the line's
// pinned one is re-resolved through the Go module proxy.
func etcdSource(ctx context.Context, srcDir, version, tmp string) (string, etcdLine, error) {
	e, err := lineOf(version)
	if err != nil {
		return "", e, err
	}
	pinned, err := pinnedIn(srcDir, e)
	if err != nil {
		return "", e, err
	}
	dir := filepath.Join(tmp, "etcdsrc-"+version)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", e, err
	}
	files := map[string]string{"go.mod": e.Mod, "go.sum": e.Sum, "store.go": e.Code}
	for _, f := range etcdCommon {
		files[f] = f
	}
	if e.Firstboot {
		files["firstboot.go"] = "firstboot.go"
	}
	for to, from := range files {
		b, err := os.ReadFile(filepath.Join(srcDir, "etcdsrc", from))
		if err != nil {
			return "", e, fmt.Errorf("etcd %s source: %w", e.Line, err)
		}
		if to == "go.mod" && e.Firstboot {
			if b, err = replaceAppliance(b, filepath.Join(srcDir, "etcdsrc", from)); err != nil {
				return "", e, err
			}
		}
		if err := os.WriteFile(filepath.Join(dir, to), b, 0o644); err != nil {
			return "", e, err
		}
	}
	if e.Firstboot {
		if err := linkAppliance(srcDir, filepath.Join(dir, applianceLink)); err != nil {
			return "", e, err
		}
	}
	if version == pinned {
		return dir, e, nil
	}
	mods, err := etcdModulesIn(filepath.Join(dir, "go.mod"), pinned)
	if err != nil {
		return "", e, err
	}
	args := []string{"get"}
	for _, m := range mods {
		args = append(args, m+"@"+sameRelease(m, version))
	}
	for _, a := range [][]string{args, {"mod", "tidy"}} {
		cmd := exec.CommandContext(ctx, "go", a...)
		cmd.Dir = dir
		if b, err := cmd.CombinedOutput(); err != nil {
			return "", e, fmt.Errorf("--etcd-version %s: go %s: %w\n%s", version, strings.Join(a, " "), err, b)
		}
	}
	return dir, e, nil
}

// replaceAppliance points a go.mod's replacement of this repository's module at applianceLink.
func replaceAppliance(goMod []byte, name string) ([]byte, error) {
	if !bytes.Contains(goMod, []byte(applianceReplace)) {
		return nil, fmt.Errorf("%s: the line links firstboot in but has no %q", name, strings.TrimSpace(applianceReplace))
	}
	return bytes.Replace(goMod, []byte(applianceReplace), []byte("replace "+applianceModule+" => ./"+applianceLink+"\n"), 1), nil
}

// linkAppliance makes link point at the repository (srcDir), replacing an earlier link.
func linkAppliance(srcDir, link string) error {
	abs, err := filepath.Abs(srcDir)
	if err != nil {
		return err
	}
	if err := os.Remove(link); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return os.Symlink(abs, link)
}

// BuildEtcd compiles etcd at version into binDir. The binary is also etcdctl and etcdutl and,
// on lines that link it in, firstboot: links are those names.
func BuildEtcd(ctx context.Context, srcDir, version, goarch, binDir, tmp string) (links []string, err error) {
	dir, e, err := etcdSource(ctx, srcDir, version, tmp)
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(binDir, "etcd")
	if err := goBuild(ctx, dir, goarch, bin, ".", "-X", "go.etcd.io/etcd/api/v3/version.GitSHA="+version); err != nil {
		return nil, err
	}
	if err := checkEtcdModules(bin, version); err != nil {
		return nil, err
	}
	links = slices.Clone(etcdLinks)
	if e.Firstboot {
		links = append(links, "firstboot")
	}
	return links, nil
}

// etcdModulesIn lists the go.etcd.io/etcd modules a go.mod requires at the pinned release
// (client/v2 at its own numbering of it): all of them move to another patch together, or the
// binary mixes releases and reports the wrong version (api/v3/version holds it).
func etcdModulesIn(goMod, pinned string) ([]string, error) {
	b, err := os.ReadFile(goMod)
	if err != nil {
		return nil, err
	}
	var mods []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "require "))
		if len(f) >= 2 && strings.HasPrefix(f[0], "go.etcd.io/etcd/") && f[1] == sameRelease(f[0], pinned) {
			mods = append(mods, f[0])
		}
	}
	return mods, nil
}

// sameRelease is module m's version for etcd release v ("v3.5.36"): etcd numbers client/v2
// v2.305.36 for v3.5.36.
func sameRelease(m, v string) string {
	var minor, patch int
	if _, err := fmt.Sscanf(v, "v3.%d.%d", &minor, &patch); err == nil && strings.HasSuffix(m, "/v2") {
		return fmt.Sprintf("v2.3%02d.%d", minor, patch)
	}
	return v
}

// checkEtcdModules checks that every etcd module compiled into bin is of release version.
func checkEtcdModules(bin, version string) error {
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		return fmt.Errorf("reading build info of %s: %w", bin, err)
	}
	for _, d := range info.Deps {
		if strings.HasPrefix(d.Path, "go.etcd.io/etcd/") && d.Version != sameRelease(d.Path, version) {
			return fmt.Errorf("etcd %s: the binary holds %s %s: every etcd module must be of one release", version, d.Path, d.Version)
		}
	}
	return nil
}

// binaryModules lists the modules compiled into Go binaries.
func binaryModules(paths ...string) ([]GoModule, error) {
	seen := map[GoModule]bool{}
	for _, p := range paths {
		info, err := buildinfo.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("reading build info of %s: %w", p, err)
		}
		if info.Main.Version != "" && info.Main.Version != "(devel)" {
			seen[GoModule{info.Main.Path, info.Main.Version}] = true
		}
		for _, d := range info.Deps {
			if d.Path == applianceModule {
				continue // this repository's code, linked into etcd: the image's own version
			}
			if d.Replace != nil {
				d = d.Replace
			}
			seen[GoModule{d.Path, d.Version}] = true
		}
	}
	mods := make([]GoModule, 0, len(seen))
	for m := range seen {
		mods = append(mods, m)
	}
	sort.Slice(mods, func(i, j int) bool {
		if mods[i].Path != mods[j].Path {
			return mods[i].Path < mods[j].Path
		}
		return mods[i].Version < mods[j].Version
	})
	return mods, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

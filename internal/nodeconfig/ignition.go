package nodeconfig

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/etcd-appliance/appliance/config"
	"github.com/etcd-appliance/appliance/internal/atomicfile"
	"github.com/etcd-appliance/appliance/internal/fetch"
	"github.com/etcd-appliance/appliance/internal/sdjob"
)

// unitDir is where Ignition's units go: /etc is a tmpfs overlay, rewritten every boot.
const unitDir = "/etc/systemd/system"

// ignitionPlan is what an Ignition config writes, with remote contents fetched and verified
// and every overwrite rule checked, so applying it cannot fail on bad input halfway.
type ignitionPlan struct {
	dirs  []config.IgnitionDirectory
	files []plannedFile
	links []config.IgnitionLink
	units []config.IgnitionUnit
	start []string // enabled units to start once systemd has reloaded
}

type plannedFile struct {
	path string
	mode fs.FileMode
	data []byte
}

// FetchFunc gets a remote source's bytes (http and https; retried while the network comes up)
// with the roots and proxy of trust. Its error names the URL.
type FetchFunc func(ctx context.Context, trust fetch.Trust, url string) ([]byte, error)

// planIgnition checks Ignition's files, links and units against the machine under root and
// fetches remote contents. What needs no machine (source schemes, unit names, an enabled
// unit's [Install] section) config.Load has checked already, on the host as on the node. Every problem is returned, one line each. An empty root skips the
// checks against the machine: after boot the files are there because firstboot wrote them
// (inspect and client-credentials re-read the config then).
func planIgnition(ctx context.Context, x *config.IgnitionExtras, root string, get func(ctx context.Context, url string) ([]byte, error)) (*ignitionPlan, []string) {
	p := &ignitionPlan{dirs: x.Directories, links: x.Links}
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	planned := map[string]bool{}
	for _, d := range x.Directories {
		planned[d.Path] = true
	}
	content := func(what string, c config.IgnitionContent) ([]byte, bool) {
		if c.Remote == nil {
			return c.Inline, true
		}
		raw, err := get(ctx, c.Remote.URL)
		if err != nil {
			bad("ignition %s: %v%s", what, err, untrustedHint(err))
			return nil, false
		}
		data, err := c.Remote.Decode(raw)
		if err != nil {
			bad("ignition %s: %s: %v", what, c.Remote.URL, err)
			return nil, false
		}
		return data, true
	}
	for _, f := range x.Files {
		if f.Path == config.IgnitionConfigPath {
			continue
		}
		data, ok := content("file "+f.Path, f.Contents)
		for i, a := range f.Append {
			more, ok2 := content(fmt.Sprintf("file %s append[%d]", f.Path, i), a)
			data, ok = append(bytes.Clone(data), more...), ok && ok2
		}
		if !ok {
			continue
		}
		if root != "" && exists(filepath.Join(root, f.Path)) && !f.Overwrite && len(f.Append) == 0 {
			bad("ignition file %s: it exists in the image and overwrite is not set: set overwrite: true to replace it", f.Path)
			continue
		}
		if root != "" && len(f.Append) > 0 && f.Contents.Remote == nil && f.Contents.Inline == nil {
			// append without contents adds to the image's file, as Ignition does
			if old, err := os.ReadFile(filepath.Join(root, f.Path)); err == nil {
				data = append(old, data...)
			}
		}
		planned[f.Path] = true
		p.files = append(p.files, plannedFile{path: f.Path, mode: f.Mode, data: data})
	}
	for _, l := range x.Links {
		if fi, err := os.Lstat(filepath.Join(root, l.Path)); root != "" && err == nil && !l.Overwrite {
			if t, _ := os.Readlink(filepath.Join(root, l.Path)); fi.Mode()&fs.ModeSymlink == 0 || t != l.Target {
				bad("ignition link %s: something else exists there and overwrite is not set: set overwrite: true to replace it", l.Path)
			}
		}
		if root != "" && l.Hard && !planned[l.Target] && !exists(filepath.Join(root, l.Target)) {
			bad("ignition link %s: hard link target %s does not exist", l.Path, l.Target)
		}
	}
	for _, u := range x.Units {
		if u.Enabled != nil && *u.Enabled && !u.Mask {
			body := u.Contents
			if body == nil {
				if b, err := readUnit(root, u.Name); err == nil {
					s := string(b)
					body = &s
				}
			}
			targets, err := installTargets(body)
			if err != nil {
				bad("ignition unit %s: enabled, but %v", u.Name, err)
				continue
			}
			if len(targets) == 0 {
				bad("ignition unit %s: enabled, but it has no [Install] WantedBy= or RequiredBy=: add one (e.g. WantedBy=multi-user.target)", u.Name)
				continue
			}
			p.start = append(p.start, u.Name)
		}
		p.units = append(p.units, u)
	}
	return p, problems
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

func readUnit(root, name string) ([]byte, error) {
	for _, d := range []string{unitDir, "/usr/lib/systemd/system"} {
		if b, err := os.ReadFile(filepath.Join(root, d, name)); err == nil {
			return b, nil
		}
	}
	return nil, fs.ErrNotExist
}

// installTargets lists the wants/requires directories an enabled unit is linked into.
func installTargets(body *string) ([]string, error) {
	if body == nil {
		return nil, errors.New("it has no contents and is not in the image")
	}
	return config.InstallTargets(*body)
}

// apply writes the plan under root. Only I/O errors can stop it now.
func (p *ignitionPlan) apply(root string) error {
	for _, d := range p.dirs {
		if err := os.MkdirAll(filepath.Join(root, d.Path), orMode(d.Mode, 0o755)); err != nil {
			return fmt.Errorf("ignition directory %s: %w", d.Path, err)
		}
	}
	for _, f := range p.files {
		if err := atomicfile.WriteAll(filepath.Join(root, f.path), f.data, orMode(f.mode, 0o644)); err != nil {
			return fmt.Errorf("ignition file %s: %w", f.path, err)
		}
	}
	for _, l := range p.links {
		dst := filepath.Join(root, l.Path)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		_ = os.Remove(dst) // overwrite was checked in the plan
		var err error
		if l.Hard {
			err = os.Link(filepath.Join(root, l.Target), dst)
		} else {
			err = os.Symlink(l.Target, dst)
		}
		if err != nil {
			return fmt.Errorf("ignition link %s: %w", l.Path, err)
		}
	}
	dir := filepath.Join(root, unitDir)
	for _, u := range p.units {
		file := filepath.Join(dir, u.Name)
		if u.Contents != nil {
			if err := atomicfile.WriteAll(file, []byte(*u.Contents), 0o644); err != nil {
				return fmt.Errorf("ignition unit %s: %w", u.Name, err)
			}
		}
		for _, d := range u.Dropins {
			if d.Contents == nil {
				continue
			}
			if err := atomicfile.WriteAll(filepath.Join(dir, u.Name+".d", d.Name), []byte(*d.Contents), 0o644); err != nil {
				return fmt.Errorf("ignition unit %s drop-in %s: %w", u.Name, d.Name, err)
			}
		}
		if u.Mask {
			_ = os.Remove(file)
			if err := os.Symlink("/dev/null", file); err != nil {
				return fmt.Errorf("masking %s: %w", u.Name, err)
			}
			continue
		}
		if u.Enabled == nil || !*u.Enabled {
			continue
		}
		target := filepath.Join(unitDir, u.Name)
		if u.Contents == nil && !exists(file) {
			target = filepath.Join("/usr/lib/systemd/system", u.Name)
		}
		body, err := readUnit(root, u.Name)
		if err != nil {
			return fmt.Errorf("ignition unit %s: %w", u.Name, err)
		}
		s := string(body)
		wants, _ := installTargets(&s) // checked in the plan
		for _, w := range wants {
			link := filepath.Join(dir, w, u.Name)
			if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
				return err
			}
			_ = os.Remove(link)
			if err := os.Symlink(target, link); err != nil {
				return fmt.Errorf("enabling %s: %w", u.Name, err)
			}
		}
	}
	return nil
}

// StartUnits makes systemd see the new units and starts the enabled ones. The boot
// transaction was computed before they existed, so enabling alone would wait for the next
// boot — which, with /etc on tmpfs, never sees them.
func StartUnits(ctx context.Context, units []string) error {
	sd, err := sdjob.Connect(ctx)
	if err != nil {
		return err
	}
	defer sd.Close()
	if err := sd.Reload(ctx); err != nil {
		return err
	}
	for _, name := range units {
		// no wait: a unit ordered after etcd.service would wait for this very unit
		if err := sd.Queue(ctx, name); err != nil {
			return err
		}
	}
	return nil
}

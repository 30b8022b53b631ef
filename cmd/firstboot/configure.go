package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/etcd-appliance/appliance/arch"
	"github.com/etcd-appliance/appliance/config"
	"github.com/etcd-appliance/appliance/internal/platform"
	"github.com/etcd-appliance/appliance/internal/platform/detect"
	"github.com/etcd-appliance/appliance/internal/platform/qemu"
)

// resolved is this boot's configuration: everything firstboot will apply, worked out (and
// validated) before anything is changed. firstboot inspect prints it as JSON.
type resolved struct {
	Platform  string             `json:"platform"`
	Detection string             `json:"detection"`
	Metadata  *platform.Metadata `json:"metadata"`
	Hostname  string             `json:"hostname,omitempty"`
	Member    string             `json:"member"`
	Config    *config.Config     `json:"config"`
	Warnings  []string           `json:"warnings,omitempty"`
	SSHKeys   []string           `json:"ssh_authorized_keys,omitempty"`
	Files     []string           `json:"files,omitempty"` // from Ignition, applied under /etc and /var
	extras    *config.IgnitionExtras
}

// configError is bad user-data: every problem is printed, etcd is not started.
type configError struct {
	source string
	err    error
}

func (e *configError) Error() string { return e.source + ": " + e.err.Error() }
func (e *configError) Unwrap() error { return e.err }

// problems lists the individual problems of a config error, one line each.
func (e *configError) problems() []string {
	var errs *config.Errors
	if errors.As(e.err, &errs) {
		var out []string
		for _, p := range errs.Problems {
			out = append(out, e.source+": "+p.String())
		}
		return out
	}
	return []string{e.Error()}
}

// resolve finds the platform, fetches its metadata and checks the configuration. It changes
// nothing on the machine except loading the kernel module that exposes qemu's fw_cfg.
func resolve(ctx context.Context, env detect.Env, platformOverride string) (*resolved, error) {
	facts, err := env.Reader.Facts()
	if err != nil {
		return nil, fmt.Errorf("reading platform facts: %w", err)
	}
	name, reason := platformOverride, "chosen with --platform"
	if name == "" {
		if name, reason, err = detect.Choose(facts); err != nil {
			return nil, err
		}
	}
	if name == qemu.Name && env.Arch.QEMUConfig == arch.FwCfg && env.Reader.SysRoot == "" {
		// fw_cfg appears in sysfs only with this module (only on the real /sys, not in tests);
		// qemu.Source says so if it is still missing
		_ = exec.CommandContext(ctx, "modprobe", "-q", "qemu_fw_cfg").Run()
	}
	md, err := env.Fetch(ctx, name, facts)
	if err != nil {
		return nil, fmt.Errorf("fetching the configuration (platform %q: %s): %w", name, reason, err)
	}
	md.Platform = name
	r := &resolved{Platform: name, Detection: reason, Metadata: md}
	var warns config.Warnings
	if len(bytes.TrimSpace(md.UserData)) > 0 {
		if r.Config, r.extras, warns, err = config.Load(md.UserData); err != nil {
			return nil, &configError{source: "user-data from " + name, err: err}
		}
	}
	if r.Config == nil { // no user-data, or Ignition without the appliance file
		if r.Config, _, err = config.Parse([]byte("version: 1\n")); err != nil {
			return nil, err
		}
	}
	for _, w := range warns {
		r.Warnings = append(r.Warnings, w.String())
	}
	if err := r.plan(); err != nil {
		return nil, &configError{source: "user-data from " + name, err: err}
	}
	return r, nil
}

// plan decides hostname, member name, keys and files, and refuses what this image cannot do
// yet rather than ignoring it.
func (r *resolved) plan() error {
	c := r.Config
	var unsupported []string
	if len(c.Cluster.Members) > 0 {
		unsupported = append(unsupported, "cluster.members: this image forms single-member clusters only (static clusters come with the TLS and clustering work); remove cluster.members")
	}
	if c.Restore.Source != "" {
		unsupported = append(unsupported, "restore: restoring from a snapshot is not supported by this image yet; remove restore")
	}
	if c.Data.Device != "" || c.Data.Wipe {
		unsupported = append(unsupported, "data: this image keeps etcd's data in memory and does not use a data volume yet; remove data")
	}
	if c.TLS.CACert != "" {
		r.Warnings = append(r.Warnings, "tls: ignored: this image serves plain HTTP until the TLS work lands")
	}
	r.Hostname = r.Metadata.Hostname
	r.SSHKeys = appendUnique(nil, c.SSHAuthorizedKeys...)
	r.SSHKeys = appendUnique(r.SSHKeys, r.Metadata.SSHKeys...)
	if x := r.extras; x != nil {
		r.SSHKeys = appendUnique(r.SSHKeys, x.SSHAuthorizedKeys...)
		if len(x.Units) > 0 {
			unsupported = append(unsupported, "ignition systemd.units: not applied by this image yet; remove them")
		}
		if len(x.Links) > 0 {
			unsupported = append(unsupported, "ignition storage.links: not applied by this image yet; remove them")
		}
		for _, f := range x.Files {
			if f.Path == config.IgnitionConfigPath {
				continue
			}
			if f.Contents.Remote != nil || len(f.Append) > 0 {
				unsupported = append(unsupported, fmt.Sprintf("ignition storage.files %s: only inline data: contents are applied by this image yet", f.Path))
				continue
			}
			r.Files = append(r.Files, f.Path)
			if f.Path == "/etc/hostname" {
				r.Hostname = strings.TrimSpace(string(f.Contents.Inline))
			}
		}
	}
	if len(unsupported) > 0 {
		return errors.New(strings.Join(unsupported, "\n"))
	}
	r.Member = c.Node.Name
	if r.Member == "" {
		r.Member = memberName(r.Hostname)
	}
	return nil
}

// apply writes what resolve planned, under root ("/" on a node).
func (r *resolved) apply(root string) error {
	if x := r.extras; x != nil {
		for _, d := range x.Directories {
			if err := os.MkdirAll(filepath.Join(root, d.Path), orMode(d.Mode, 0o755)); err != nil {
				return fmt.Errorf("ignition directory %s: %w", d.Path, err)
			}
		}
		for _, f := range x.Files {
			if !slices.Contains(r.Files, f.Path) {
				continue
			}
			p := filepath.Join(root, f.Path)
			if _, err := os.Stat(p); err == nil && !f.Overwrite {
				return fmt.Errorf("ignition file %s exists and overwrite is not set", f.Path)
			}
			if err := writeFile(p, f.Contents.Inline, orMode(f.Mode, 0o644)); err != nil {
				return fmt.Errorf("ignition file %s: %w", f.Path, err)
			}
		}
	}
	if r.Hostname != "" && !slices.Contains(r.Files, "/etc/hostname") {
		if err := writeFile(filepath.Join(root, "etc/hostname"), []byte(r.Hostname+"\n"), 0o644); err != nil {
			return fmt.Errorf("hostname: %w", err)
		}
	}
	if len(r.SSHKeys) > 0 {
		// /root is on the read-only root: keys live in /etc, where sshd is pointed
		keys := strings.Join(r.SSHKeys, "\n") + "\n"
		if err := writeFile(filepath.Join(root, "etc/ssh/authorized_keys/root"), []byte(keys), 0o600); err != nil {
			return fmt.Errorf("ssh keys: %w", err)
		}
	}
	return nil
}

func writeFile(p string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(path.Dir(p), 0o755); err != nil {
		return err
	}
	tmp := p + ".firstboot"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

func orMode(m, def os.FileMode) os.FileMode {
	if m == 0 {
		return def
	}
	return m
}

func appendUnique(list []string, add ...string) []string {
	for _, s := range add {
		if s = strings.TrimSpace(s); s != "" && !slices.Contains(list, s) {
			list = append(list, s)
		}
	}
	return list
}

// redacted is the config with private keys replaced, for printing.
func (r *resolved) redacted() *resolved {
	c := *r
	cfg := *r.Config
	for _, k := range []*string{&cfg.TLS.CAKey, &cfg.TLS.NodeKey} {
		if *k != "" {
			*k = "(redacted)"
		}
	}
	c.Config = &cfg
	return &c
}

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/dbus"

	"github.com/etcd-appliance/appliance/arch"
	"github.com/etcd-appliance/appliance/config"
	"github.com/etcd-appliance/appliance/internal/member"
	"github.com/etcd-appliance/appliance/internal/networkd"
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
	// Addresses are this machine's reachable addresses when the configuration was resolved.
	Addresses []netip.Addr   `json:"addresses"`
	Member    member.Self    `json:"member"`
	Config    *config.Config `json:"config"`
	Warnings  []string       `json:"warnings,omitempty"`
	SSHKeys   []string       `json:"ssh_authorized_keys,omitempty"`
	Files     []string       `json:"files,omitempty"` // from Ignition, applied under /etc and /var
	Units     []string       `json:"units,omitempty"` // from Ignition
	Network   []string       `json:"network_files,omitempty"`
	extras    *config.IgnitionExtras
	ignition  *ignitionPlan
	netFiles  networkd.Files
}

// resolveOptions are what resolve needs from the machine; tests replace them.
type resolveOptions struct {
	platform string // --platform: skip detection
	root     string // where files will be written: Ignition's overwrite rules are checked there
	fetch    fetchFunc
	// addrs returns the local addresses once done accepts them (or what there is when ctx
	// ends); on a node it waits for DHCP.
	addrs func(ctx context.Context, done func([]netip.Addr) bool) ([]netip.Addr, error)
	// network, if set, applies the platform's static network configuration before waiting
	// for addresses: on such platforms there are none until it is applied.
	network func(ctx context.Context, files networkd.Files) error
}

func nodeResolveOptions(platformName string) resolveOptions {
	return resolveOptions{
		platform: platformName,
		root:     "/",
		fetch: func(ctx context.Context, url string) ([]byte, error) {
			return platform.HTTPGetter{}.Get(ctx, url, nil)
		},
		addrs:   waitAddrs,
		network: applyNetwork,
	}
}

// applyNetwork writes networkd files to /run/systemd/network (tmpfs: the platform's
// configuration is applied afresh every boot) and restarts networkd so it applies them. A
// restart, not `networkctl reload`: that needs the D-Bus daemon, which the image does not run;
// systemd's private socket is always there.
func applyNetwork(ctx context.Context, files networkd.Files) error {
	if err := networkd.Write("/run/systemd/network", files); err != nil {
		return fmt.Errorf("network configuration: %w", err)
	}
	conn, err := dbus.NewSystemdConnectionContext(ctx)
	if err != nil {
		return fmt.Errorf("network configuration: connecting to systemd: %w", err)
	}
	defer conn.Close()
	done := make(chan string, 1)
	if _, err := conn.RestartUnitContext(ctx, "systemd-networkd.service", "replace", done); err != nil {
		return fmt.Errorf("network configuration: restarting systemd-networkd: %w", err)
	}
	select {
	case res := <-done:
		if res != "done" {
			return fmt.Errorf("network configuration: restarting systemd-networkd: %s", res)
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
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
func resolve(ctx context.Context, env detect.Env, opts resolveOptions) (*resolved, error) {
	platformOverride := opts.platform
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
	if err := r.plan(ctx, opts); err != nil {
		return nil, &configError{source: "user-data from " + name, err: err}
	}
	return r, nil
}

// addrWait bounds waiting for the addresses that tell which member this node is: a
// single member starts without a network after a short wait, a cluster member waits longer
// (DHCP under emulation, a slow metadata network).
const (
	addrWaitSingle  = 20 * time.Second
	addrWaitCluster = 3 * time.Minute
)

// plan decides hostname, member, keys, files, units and network files, and refuses what this
// image cannot do rather than ignoring it. Nothing is written.
func (r *resolved) plan(ctx context.Context, opts resolveOptions) error {
	c := r.Config
	var problems []string
	r.Hostname = r.Metadata.Hostname
	r.SSHKeys = appendUnique(nil, c.SSHAuthorizedKeys...)
	r.SSHKeys = appendUnique(r.SSHKeys, r.Metadata.SSHKeys...)
	if x := r.extras; x != nil {
		r.SSHKeys = appendUnique(r.SSHKeys, x.SSHAuthorizedKeys...)
		plan, ps := planIgnition(ctx, x, opts.root, opts.fetch)
		problems = append(problems, ps...)
		r.ignition = plan
		for _, f := range plan.files {
			r.Files = append(r.Files, f.path)
			if f.path == "/etc/hostname" {
				r.Hostname = strings.TrimSpace(string(f.data))
			}
		}
		for _, u := range plan.units {
			r.Units = append(r.Units, u.Name)
		}
	}
	if n := r.Metadata.Network; n != nil {
		files, err := networkd.Render(n)
		if err != nil {
			problems = append(problems, fmt.Sprintf("network configuration from %s: %v", r.Platform, err))
		}
		r.netFiles = files
		for _, f := range files {
			r.Network = append(r.Network, f.Name)
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n"))
	}
	if opts.network != nil && len(r.netFiles) > 0 {
		if err := opts.network(ctx, r.netFiles); err != nil {
			return err
		}
	}

	wait := addrWaitSingle
	if len(c.Cluster.Members) > 0 {
		wait = addrWaitCluster
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	local, err := opts.addrs(wctx, func(a []netip.Addr) bool {
		self, err := member.Identify(c, a, r.Hostname)
		// a cluster member waits for its own address, a single member for any to advertise
		return err == nil && slicesContainsAddr(a, self.Address)
	})
	if err != nil {
		return err
	}
	r.Addresses = local
	if r.Member, err = member.Identify(c, local, r.Hostname); err != nil {
		return err
	}
	return nil
}

// slicesContainsAddr reports whether addr (an IP, or a DNS name: never local) is in list.
func slicesContainsAddr(list []netip.Addr, addr string) bool {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return addr != "" // a DNS name cannot be checked locally: take it as it is
	}
	return slices.Contains(list, ip.Unmap())
}

// apply writes what resolve planned, under root ("/" on a node).
func (r *resolved) apply(root string) error {
	if r.ignition != nil {
		if err := r.ignition.apply(root); err != nil {
			return err
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

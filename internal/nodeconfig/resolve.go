// Package nodeconfig resolves this boot's configuration (the platform, its metadata and
// user-data, the appliance config or an Ignition config) into a plan, checks the whole plan
// before anything is written, and applies it: hostname, SSH keys, Ignition's files and units,
// the platform's static network configuration, and which member this node is.
package nodeconfig

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/etcd-appliance/appliance/internal/atomicfile"
	"github.com/etcd-appliance/appliance/internal/fetch"
	"github.com/etcd-appliance/appliance/internal/pki"
	"github.com/etcd-appliance/appliance/internal/sdjob"

	"github.com/etcd-appliance/appliance/arch"
	"github.com/etcd-appliance/appliance/config"
	"github.com/etcd-appliance/appliance/internal/member"
	"github.com/etcd-appliance/appliance/internal/networkd"
	"github.com/etcd-appliance/appliance/internal/platform"
	"github.com/etcd-appliance/appliance/internal/platform/detect"
	"github.com/etcd-appliance/appliance/internal/platform/qemu"
)

// Resolved is this boot's configuration: everything firstboot will apply, worked out (and
// validated) before anything is changed. firstboot inspect prints it as JSON.
type Resolved struct {
	Platform  string             `json:"platform"`
	Detection string             `json:"detection"`
	Metadata  *platform.Metadata `json:"metadata"`
	Hostname  string             `json:"hostname,omitempty"`
	// HostnameFrom says where Hostname came from: metadata, ignition or dhcp.
	HostnameFrom string `json:"hostname_from,omitempty"`
	// Addresses are this machine's reachable addresses when the configuration was resolved
	// (the metadata's, with Options.AddrsFromMetadata).
	Addresses []netip.Addr   `json:"addresses"`
	Member    member.Self    `json:"member"`
	Config    *config.Config `json:"config"`
	Warnings  []string       `json:"warnings,omitempty"`
	SSHKeys   []string       `json:"ssh_authorized_keys,omitempty"`
	Files     []string       `json:"files,omitempty"` // from Ignition, applied under /etc and /var
	Units     []string       `json:"units,omitempty"` // from Ignition
	Network   []string       `json:"network_files,omitempty"`
	// Trust is what fetches after the config is read (remote Ignition contents, restore.source)
	// trust and go through: trust.ca_certs and Ignition's CAs beside the system's roots, and
	// network.proxy.
	Trust    fetch.Trust `json:"-"`
	extras   *config.IgnitionExtras
	ignition *ignitionPlan
	netFiles networkd.Files
}

// Options are what Resolve needs from the machine; tests replace them.
type Options struct {
	Platform string // --platform: skip detection
	Root     string // where files will be written: Ignition's overwrite rules are checked there
	Fetch    FetchFunc
	// Addrs returns the local addresses once done accepts them (or what there is when ctx
	// ends); on a node it waits for DHCP.
	Addrs func(ctx context.Context, done func([]netip.Addr) bool) ([]netip.Addr, error)
	// Network, if set, applies the platform's static network configuration before waiting
	// for addresses: on such platforms there are none until it is applied.
	Network func(ctx context.Context, files networkd.Files) error
	// Lookup resolves a member's DNS name; nil leaves names unresolved (then only the
	// hostname can match them).
	Lookup func(ctx context.Context, host string) ([]netip.Addr, error)
	// DHCPHostname is the host name the DHCP server handed out, "" for none (yet); nil: none.
	DHCPHostname func() string
	// Log prints a console line while Resolve waits; nil prints nothing.
	Log func(format string, args ...any)
	// Services, if set, applies the configuration's DNS and NTP servers (ServiceFiles) as
	// soon as the configuration is read: member names, Ignition sources and the restore are
	// looked up through them.
	Services func(ctx context.Context, files []ServiceFile) error
	// AddrsFromMetadata takes the addresses the member is identified by from the metadata
	// (Metadata.Addresses) instead of from Addrs: for firstboot inspect --endpoint or --dir,
	// run off the node, where the host's addresses would say which member the host is.
	AddrsFromMetadata bool
}

// NodeOptions resolve at boot: files go under /, addresses are waited for, the platform's
// network configuration is applied.
func NodeOptions(platformName string) Options {
	return Options{
		Platform: platformName,
		Root:     "/",
		Fetch: func(ctx context.Context, trust fetch.Trust, src string) ([]byte, error) {
			// metadata's timeout per request, but the config's roots and proxy
			client := &http.Client{Timeout: platform.DefaultClient().Timeout, Transport: trust.Transport(),
				CheckRedirect: fetch.CheckRedirect} // never from https down to http
			return platform.HTTPGetter{Client: client}.Get(ctx, src, nil)
		},
		Addrs:        WaitAddrs,
		Network:      ApplyNetwork,
		Lookup:       LookupHost,
		DHCPHostname: func() string { return DHCPHostname(LeaseDir) },
	}
}

// LookOptions resolve the configuration again after boot, to look at it: no waiting for
// addresses, nothing applied, Ignition's files not checked against the ones firstboot wrote.
func LookOptions(platformName string) Options {
	opts := NodeOptions(platformName)
	opts.Root = ""
	opts.Addrs = func(context.Context, func([]netip.Addr) bool) ([]netip.Addr, error) { return LocalAddrs() }
	opts.Network = nil
	opts.Services = nil
	// the hostname the boot applied (from the lease, when nothing else named one)
	opts.DHCPHostname = appliedHostname
	return opts
}

// ApplyNetwork writes networkd files to /run/systemd/network (tmpfs: the platform's
// configuration is applied afresh every boot) and restarts networkd so it applies them. A
// restart, not `networkctl reload`: that needs the D-Bus daemon, which the image does not run;
// systemd's private socket is always there.
func ApplyNetwork(ctx context.Context, files networkd.Files) error {
	if err := networkd.Write("/run/systemd/network", files); err != nil {
		return fmt.Errorf("network configuration: %w", err)
	}
	if err := sdjob.RunJob(ctx, sdjob.Restart, "systemd-networkd.service"); err != nil {
		return fmt.Errorf("network configuration: %w", err)
	}
	return nil
}

// ConfigError is bad user-data: every problem is printed, etcd is not started.
type ConfigError struct {
	Source string
	Err    error
}

func (e *ConfigError) Error() string { return e.Source + ": " + e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// Problems lists the individual problems of a config error, one line each.
func (e *ConfigError) Problems() []string {
	var errs *config.Errors
	if errors.As(e.Err, &errs) {
		var out []string
		for _, p := range errs.Problems {
			out = append(out, e.Source+": "+p.String())
		}
		return out
	}
	return []string{e.Error()}
}

// Resolve finds the platform, fetches its metadata and checks the configuration. It changes
// nothing on the machine except loading the kernel module that exposes qemu's fw_cfg.
func Resolve(ctx context.Context, env detect.Env, opts Options) (*Resolved, error) {
	platformOverride := opts.Platform
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
		// qemu.Source says so if it is still missing. systemd loads it at its own start in a
		// qemu guest, so modprobe (a program start on the boot's busy vCPU) is rarely needed.
		if _, err := os.Stat("/sys/firmware/qemu_fw_cfg"); err != nil {
			_ = exec.CommandContext(ctx, "modprobe", "-q", "qemu_fw_cfg").Run()
		}
	}
	md, err := env.Fetch(ctx, name, facts)
	if err != nil {
		return nil, fmt.Errorf("fetching the configuration (platform %q: %s): %w", name, reason, err)
	}
	md.Platform = name
	if err := checkMetadata(md); err != nil {
		// the same refusal as bad user-data: nothing is written, etcd is not started
		return nil, &ConfigError{Source: "platform " + name, Err: err}
	}
	r := &Resolved{Platform: name, Detection: reason, Metadata: md}
	var warns config.Warnings
	if len(bytes.TrimSpace(md.UserData)) > 0 {
		if r.Config, r.extras, warns, err = config.Load(md.UserData); err != nil {
			return nil, &ConfigError{Source: "user-data from " + name, Err: err}
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
	if r.Trust, err = fetchTrust(r.Config, r.extras); err != nil {
		return nil, &ConfigError{Source: "user-data from " + name, Err: err}
	}
	if files := r.ServiceFiles(); opts.Services != nil && len(files) > 0 {
		if err := opts.Services(ctx, files); err != nil {
			return nil, err
		}
	}
	if err := r.plan(ctx, opts); err != nil {
		return nil, &ConfigError{Source: "user-data from " + name, Err: err}
	}
	return r, nil
}

// checkMetadata refuses metadata strings that would reach a file the node writes and could
// change its meaning there: a hostname (/etc/hostname, /etc/hosts, certificates) that is not
// an RFC 1123 name, an SSH key with a line break (a second authorized_keys line). The
// platform's network configuration is checked when it is rendered (networkd.Validate).
func checkMetadata(md *platform.Metadata) error {
	var errs []error
	if h := md.Hostname; h != "" {
		if err := config.CheckHostname(h); err != nil {
			errs = append(errs, fmt.Errorf("metadata hostname %q: %w: fix the instance's hostname in the platform", h, err))
		}
	}
	for i, k := range md.SSHKeys {
		if strings.ContainsFunc(strings.TrimSpace(k), unicode.IsControl) {
			errs = append(errs, fmt.Errorf("metadata SSH key %d %.40q: contains a line break or control character: give one key a line", i, k))
		}
	}
	return errors.Join(errs...)
}

// appliedHostname is the kernel's hostname, "" while none was set.
func appliedHostname() string {
	h, err := os.Hostname()
	if err != nil || h == "(none)" || h == "localhost" || !validHostname(h) {
		return ""
	}
	return h
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
func (r *Resolved) plan(ctx context.Context, opts Options) error {
	c := r.Config
	var problems []string
	r.Hostname = r.Metadata.Hostname
	if r.Hostname != "" {
		r.HostnameFrom = "metadata"
	}
	r.SSHKeys = appendUnique(nil, c.SSHAuthorizedKeys...)
	r.SSHKeys = appendUnique(r.SSHKeys, r.Metadata.SSHKeys...)
	if x := r.extras; x != nil {
		r.SSHKeys = appendUnique(r.SSHKeys, x.SSHAuthorizedKeys...)
		get := func(ctx context.Context, src string) ([]byte, error) { return opts.Fetch(ctx, r.Trust, src) }
		plan, ps := planIgnition(ctx, x, opts.Root, get)
		problems = append(problems, ps...)
		r.ignition = plan
		for _, f := range plan.files {
			r.Files = append(r.Files, f.path)
			if f.path == "/etc/hostname" {
				r.Hostname, r.HostnameFrom = strings.TrimSpace(string(f.data)), "ignition"
				if err := config.CheckHostname(r.Hostname); err != nil {
					problems = append(problems, fmt.Sprintf("Ignition file /etc/hostname: hostname %q: %v", r.Hostname, err))
				}
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
	if opts.Network != nil && len(r.netFiles) > 0 {
		if err := opts.Network(ctx, r.netFiles); err != nil {
			return err
		}
	}

	wait := addrWaitSingle
	if len(c.Cluster.Members) > 0 {
		wait = addrWaitCluster
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	// the member is identified by local and public addresses (candidates.go) and DNS names
	names := memberNames(c)
	var resolved map[string][]netip.Addr
	var lastLog time.Time
	// look (again) for the DHCP hostname and the members' addresses
	observe := func(ctx context.Context) (failed []string) {
		if r.Hostname == "" && opts.DHCPHostname != nil {
			if h := opts.DHCPHostname(); h != "" {
				r.Hostname, r.HostnameFrom = h, "dhcp"
			}
		}
		resolved, failed = lookupNames(ctx, opts.Lookup, names)
		return failed
	}
	local, err := r.addrSource(opts)(wctx, func(a []netip.Addr) bool {
		failed := observe(wctx)
		self, err := member.Identify(c, r.candidates(a), resolved, r.memberHostname())
		// a cluster member waits for its own address, a single member for any to advertise
		if err == nil && r.reached(a, self.Address) {
			return true
		}
		if len(failed) > 0 && opts.Log != nil && time.Since(lastLog) >= nameLogEvery {
			lastLog = time.Now()
			opts.Log("waiting up to %s for member names to resolve: %s", wait, strings.Join(failed, "; "))
		}
		return false
	})
	if err != nil {
		return err
	}
	// once more with the final addresses: the wait may have ended (or, looking off the node,
	// never asked) before the lease or DNS answered
	observe(ctx)
	r.Addresses = local
	if r.Member, err = member.Identify(c, r.candidates(local), resolved, r.memberHostname()); err != nil {
		return err
	}
	r.publicReason(local)
	return nil
}

// memberHostname is the hostname members are matched by. A single member without node.name
// is named after the hostname, and that name is recorded on its data volume: the DHCP
// hostname, which older images did not read, must not rename it on a reimage.
func (r *Resolved) memberHostname() string {
	if r.HostnameFrom == "dhcp" && len(r.Config.Cluster.Members) == 0 {
		return ""
	}
	return r.Hostname
}

// nameLogEvery spaces the console lines about member names that do not resolve yet.
const nameLogEvery = 15 * time.Second

// lookupTimeout bounds one name's lookup, so one dead server cannot stall the others.
const lookupTimeout = 3 * time.Second

// memberNames are the members' addresses that are DNS names.
func memberNames(c *config.Config) []string {
	var names []string
	for _, m := range c.Cluster.Members {
		if _, err := netip.ParseAddr(m.Address); err != nil && !slices.Contains(names, m.Address) {
			names = append(names, m.Address)
		}
	}
	return names
}

// lookupNames resolves each name once; failed says which did not resolve, and why.
func lookupNames(ctx context.Context, lookup func(context.Context, string) ([]netip.Addr, error), names []string) (map[string][]netip.Addr, []string) {
	if lookup == nil || len(names) == 0 {
		return nil, nil
	}
	out := map[string][]netip.Addr{}
	var failed []string
	for _, n := range names {
		lctx, cancel := context.WithTimeout(ctx, lookupTimeout)
		addrs, err := lookup(lctx, n)
		cancel()
		if err == nil && len(addrs) == 0 {
			err = errors.New("no addresses")
		}
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s (%v)", n, err))
			continue
		}
		out[n] = addrs
	}
	return out, failed
}

// slicesContainsAddr reports whether addr (an IP, or a DNS name: never local) is in list.
func slicesContainsAddr(list []netip.Addr, addr string) bool {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return addr != "" // a DNS name cannot be checked locally: take it as it is
	}
	return slices.Contains(list, ip.Unmap())
}

// Apply writes what Resolve planned, under root ("/" on a node).
func (r *Resolved) Apply(root string) error {
	if r.ignition != nil {
		if err := r.ignition.apply(root); err != nil {
			return err
		}
	}
	if r.Hostname != "" && !slices.Contains(r.Files, "/etc/hostname") {
		if err := atomicfile.WriteAll(filepath.Join(root, "etc/hostname"), []byte(r.Hostname+"\n"), 0o644); err != nil {
			return fmt.Errorf("hostname: %w", err)
		}
	}
	if !slices.Contains(r.Files, "/etc/hosts") {
		if err := atomicfile.WriteAll(filepath.Join(root, "etc/hosts"), r.hosts(), 0o644); err != nil {
			return fmt.Errorf("hosts: %w", err)
		}
	}
	if len(r.SSHKeys) > 0 {
		// /root is on the read-only root: keys live in /etc, where sshd is pointed
		keys := strings.Join(r.SSHKeys, "\n") + "\n"
		if err := atomicfile.WriteAll(filepath.Join(root, "etc/ssh/authorized_keys/root"), []byte(keys), 0o600); err != nil {
			return fmt.Errorf("ssh keys: %w", err)
		}
	}
	return nil
}

// hosts is /etc/hosts: localhost, and the hostname at the member's address (else the
// address it advertises, else Debian's 127.0.1.1), so that programs which resolve their own
// name get an answer without DNS.
func (r *Resolved) hosts() []byte {
	b := []byte("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	h := r.Hostname
	if h == "" || h == "localhost" || !validHostname(h) { // metadata is not trusted to be a name
		return b
	}
	addr := "127.0.1.1"
	if ip, err := netip.ParseAddr(r.Member.Address); err == nil && slices.Contains(r.Addresses, ip.Unmap()) {
		addr = ip.Unmap().String()
	} else if a, ok := member.Preferred(r.Addresses); ok {
		addr = a.String()
	}
	names := h
	if short, _, ok := strings.Cut(h, "."); ok {
		names += " " + short
	}
	return append(b, addr+"\t"+names+"\n"...)
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

// Redacted is the config with private keys replaced, for printing.
func (r *Resolved) Redacted() *Resolved {
	c := *r
	cfg := *r.Config
	for _, k := range []*string{&cfg.TLS.CAKey, &cfg.TLS.NodeKey} {
		if *k != "" {
			*k = "(redacted)"
		}
	}
	if u, err := url.Parse(cfg.Network.Proxy); err == nil && u.User != nil {
		cfg.Network.Proxy = u.Redacted() // a proxy's password
	}
	c.Config = &cfg
	return &c
}

// SysctlFiles are the Ignition files that hold sysctl settings (/etc/sysctl.d/*.conf, and
// /etc/sysctl.conf, which Debian's systemd links there as 99-sysctl.conf): systemd-sysctl.service
// applied the image's settings before firstboot wrote these, so the boot applies them itself.
// In the order systemd-sysctl reads sysctl.d, by file name, so that a later file's value wins
// as there (given files, it lets the last one win).
func (r *Resolved) SysctlFiles() []string { return sysctlFiles(r.Files) }

func sysctlFiles(paths []string) []string {
	var out []string
	for _, p := range paths {
		if p == "/etc/sysctl.conf" || (filepath.Dir(p) == "/etc/sysctl.d" && strings.HasSuffix(p, ".conf")) {
			out = append(out, p)
		}
	}
	name := func(p string) string {
		if p == "/etc/sysctl.conf" {
			return "99-sysctl.conf"
		}
		return filepath.Base(p)
	}
	slices.SortStableFunc(out, func(a, b string) int { return strings.Compare(name(a), name(b)) })
	return out
}

// UnitsToStart tells whether Ignition gave units systemd must load, and which enabled ones to
// start then.
func (r *Resolved) UnitsToStart() (reload bool, start []string) {
	if r.ignition == nil || len(r.ignition.units) == 0 {
		return false, nil
	}
	return true, r.ignition.start
}

// CertIdentity is what the member's certificates must name: its addresses (on this machine's
// interfaces and in the metadata), its configured address or DNS name, and the hostname.
func (r *Resolved) CertIdentity() pki.Identity {
	id := pki.Identity{Name: r.Member.Name}
	add := func(a netip.Addr) {
		if a.IsValid() && !slices.Contains(id.IPs, a) {
			id.IPs = append(id.IPs, a)
		}
	}
	for _, a := range r.Addresses {
		add(a)
	}
	for _, a := range r.Metadata.Addresses {
		add(a)
	}
	if ip, err := netip.ParseAddr(r.Member.Address); err == nil {
		add(ip.Unmap())
	} else if r.Member.Address != "" {
		id.Hostnames = append(id.Hostnames, r.Member.Address)
	}
	// not DHCP's hostname: whoever answers DHCP on the link would choose a name in a
	// certificate the cluster CA signs
	if h := r.Hostname; h != "" && r.HostnameFrom != "dhcp" && !slices.Contains(id.Hostnames, h) {
		id.Hostnames = append(id.Hostnames, h)
	}
	return id
}

package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"

	ignerrors "github.com/coreos/ignition/v2/config/shared/errors"
	"github.com/coreos/ignition/v2/config/v3_5"
	"github.com/coreos/ignition/v2/config/v3_5/types"
	vjson "github.com/coreos/vcontext/json"
	vpath "github.com/coreos/vcontext/path"
	"github.com/coreos/vcontext/tree"
)

// IgnitionConfigPath is the file in an Ignition config's storage.files that carries the
// appliance configuration.
const IgnitionConfigPath = "/etc/etcd-appliance/config.yaml"

// IgnitionExtras is what an Ignition config asks of the node besides the appliance
// configuration; the node agent applies it. Paths are all under /etc or /var.
type IgnitionExtras struct {
	// SSHAuthorizedKeys are the keys of passwd.users "root" and "core": the appliance has one
	// SSH login, root, and both names map to it.
	SSHAuthorizedKeys []string
	Directories       []IgnitionDirectory
	Files             []IgnitionFile
	Links             []IgnitionLink
	Units             []IgnitionUnit
	// CACerts are ignition.security.tls.certificateAuthorities, PEM, each checked to be a CA
	// certificate: the node trusts them, beside trust.ca_certs and the system's roots, for
	// every fetch after the config is read (remote contents, restore.source).
	CACerts []string
}

// IgnitionDirectory is a directory to create.
type IgnitionDirectory struct {
	Path      string
	Mode      fs.FileMode // default 0755
	Overwrite bool        // replace whatever is at Path
}

// IgnitionFile is a file to write. Owners other than root are refused, so none is recorded.
type IgnitionFile struct {
	Path      string
	Mode      fs.FileMode // default 0644
	Overwrite bool        // replace an existing file instead of failing
	Contents  IgnitionContent
	Append    []IgnitionContent // appended in order after Contents
}

// IgnitionContent is a file's contents: inline data already decoded, decompressed and
// verified, or a remote source the caller fetches and verifies.
type IgnitionContent struct {
	Inline []byte          // the contents when Remote is nil (nil or empty: an empty file)
	Remote *IgnitionRemote // set for http and https sources
}

// IgnitionRemote is a source this package does not fetch.
type IgnitionRemote struct {
	URL         string
	Compression string // "" or "gzip": decompress after fetching
	// Hash is "sha512-<hex>" or "sha256-<hex>" of the decompressed contents, "" when
	// the config gives none. A mismatch must fail the boot.
	Hash string
}

// IgnitionLink is a symbolic or hard link.
type IgnitionLink struct {
	Path      string
	Target    string
	Hard      bool
	Overwrite bool
}

// IgnitionUnit is a systemd unit to write, enable, disable or mask.
type IgnitionUnit struct {
	Name     string
	Contents *string // nil: the unit file is not written (enable or mask an existing unit)
	Enabled  *bool   // nil: left as it is
	Mask     bool
	Dropins  []IgnitionDropin
}

// IgnitionDropin is a drop-in file for a unit (/etc/systemd/system/NAME.d/).
type IgnitionDropin struct {
	Name     string
	Contents *string
}

// maxInline bounds decoded inline contents, so that a small gzip bomb cannot exhaust memory.
const maxInline = 16 << 20

// FromIgnition reads an Ignition config of spec 3.0.0 to 3.5.0 (translated to 3.5). The
// appliance config is the file IgnitionConfigPath with inline data: contents; it is parsed like
// Parse. cfg is nil when that file is absent: the caller decides what a missing config means.
// Sections an immutable appliance cannot apply are errors naming their Ignition path. Nothing is
// fetched. All problems, from both documents, are returned together as an *Errors.
func FromIgnition(data []byte) (cfg *Config, extras *IgnitionExtras, warns Warnings, err error) {
	ign, rpt, perr := v3_5.ParseCompatibleVersion(data)
	var errs problems
	for _, e := range rpt.Entries {
		p := Problem{Path: ignitionPath(e.Context.Path), Message: e.Message}
		if e.Marker.StartP != nil {
			p.Line = int(e.Marker.StartP.Line)
		}
		switch {
		case e.Kind.IsFatal():
			errs = append(errs, p)
		case strings.HasPrefix(e.Message, "unused key"):
			// Ignition only warns; on an appliance a misspelt section would be silently lost.
			p.Message = "unknown field in this Ignition spec version: check its spelling and ignition.version"
			errs = append(errs, p)
		default:
			warns = append(warns, p)
		}
	}
	if perr != nil {
		if len(errs) == 0 {
			errs = append(errs, ignitionParseProblem(data, perr))
		}
		return nil, nil, warns, errs.err()
	}

	r := ignitionReader{problems: errs}
	if t, err := vjson.UnmarshalToContext(data); err == nil {
		r.tree = t
	}
	extras = r.read(ign)
	warns = slices.DeleteFunc(warns, func(w Problem) bool {
		return slices.Contains(r.installRefused, w.Path) && strings.Contains(w.Message, "has no install section")
	})
	warns = append(warns, r.warns...)
	r.problems.sortByLine()
	if r.configData != nil {
		cfg, warns = r.appliance(warns) // its problems join r.problems
	}
	if err := r.problems.err(); err != nil {
		return nil, nil, warns, err
	}
	return cfg, extras, warns, nil
}

// ignitionParseProblem explains why Ignition refused the config as a whole.
func ignitionParseProblem(data []byte, err error) Problem {
	switch {
	case errors.Is(err, ignerrors.ErrUnknownVersion), errors.Is(err, ignerrors.ErrInvalidVersion):
		var stub struct {
			Ignition struct {
				Version string `json:"version"`
			} `json:"ignition"`
		}
		_ = json.Unmarshal(data, &stub) // Ignition parsed it already
		return Problem{Path: "ignition.version", Message: fmt.Sprintf(
			"unsupported Ignition spec version %q: this image understands 3.0.0 through 3.5.0", stub.Ignition.Version)}
	case errors.Is(err, ignerrors.ErrEmpty):
		return Problem{Message: "empty Ignition config"}
	default:
		return Problem{Message: "not a valid Ignition config: " + err.Error()}
	}
}

// ignitionReader turns a parsed Ignition config into extras, collecting every problem.
type ignitionReader struct {
	tree       tree.Node // for line numbers; nil when unavailable
	problems   problems
	warns      Warnings
	configData []byte // the appliance config, when present
	// installRefused are the paths of enabled units refused for want of an [Install]
	// section, whose Ignition warning saying the same is dropped
	installRefused []string
}

// add records a problem at an Ignition path given as keys and indexes.
func (r *ignitionReader) add(p []any, format string, args ...any) {
	r.problems = append(r.problems, Problem{Path: ignitionPath(p), Line: r.line(p), Message: fmt.Sprintf(format, args...)})
}

// line finds the line of p, or of its nearest enclosing node present in the document.
func (r *ignitionReader) line(p []any) int {
	if r.tree == nil {
		return 0
	}
	for n := len(p); n >= 0; n-- {
		if node, err := r.tree.Get(vpath.New("json", p[:n]...)); err == nil {
			if m := node.GetMarker(); m.StartP != nil {
				return int(m.StartP.Line)
			}
		}
	}
	return 0
}

func (r *ignitionReader) read(ign types.Config) *IgnitionExtras {
	x := &IgnitionExtras{}
	r.refuseUnsupported(ign)
	r.readUsers(ign.Passwd, x)
	for i, ca := range ign.Ignition.Security.TLS.CertificateAuthorities {
		if pemText, ok := r.readCA(at("ignition", "security", "tls", "certificateAuthorities", i), ca); ok {
			x.CACerts = append(x.CACerts, pemText)
		}
	}
	for i, d := range ign.Storage.Directories {
		p := at("storage", "directories", i)
		if r.checkNode(p, d.Node) {
			x.Directories = append(x.Directories, IgnitionDirectory{Path: d.Path, Mode: fileMode(d.Mode, 0o755), Overwrite: isTrue(d.Overwrite)})
		}
	}
	for i, f := range ign.Storage.Files {
		p := at("storage", "files", i)
		if path.Clean(f.Path) == IgnitionConfigPath {
			r.readApplianceFile(p, f)
			continue
		}
		if !r.checkNode(p, f.Node) {
			continue
		}
		file := IgnitionFile{Path: f.Path, Mode: fileMode(f.Mode, 0o644), Overwrite: isTrue(f.Overwrite)}
		file.Contents = r.content(append(p, "contents"), f.Contents)
		for j, a := range f.Append {
			file.Append = append(file.Append, r.content(append(p, "append", j), a))
		}
		// the hostname reaches /etc/hosts and certificates: checked here as the node does
		if path.Clean(f.Path) == "/etc/hostname" && file.Contents.Remote == nil && len(file.Append) == 0 {
			if h := strings.TrimSpace(string(file.Contents.Inline)); h != "" {
				if err := CheckHostname(h); err != nil {
					r.add(append(p, "contents", "source"), "hostname %q: %v", h, err)
				}
			}
		}
		x.Files = append(x.Files, file)
	}
	for i, l := range ign.Storage.Links {
		p := at("storage", "links", i)
		if !r.checkNode(p, l.Node) {
			continue
		}
		link := IgnitionLink{Path: l.Path, Target: deref(l.Target), Hard: isTrue(l.Hard), Overwrite: isTrue(l.Overwrite)}
		if link.Hard && !underWritable(link.Target) {
			r.add(append(p, "target"), "a hard link's target must be under /etc or /var, like the link: the rest of the appliance is read-only")
			continue
		}
		x.Links = append(x.Links, link)
	}
	for i, u := range ign.Systemd.Units {
		if slices.Contains(applianceUnits, u.Name) {
			r.add(at("systemd", "units", i), "%s belongs to the appliance and cannot be replaced, changed or masked: tune etcd in the appliance config's etcd section", u.Name)
			continue
		}
		// a unit named etcd-.service or etcd-.timer is a prefix drop-in for the appliance's units
		if owner := applianceUnit("/etc/systemd/system/" + u.Name + ".d"); owner != "" && len(u.Dropins) > 0 {
			r.add(at("systemd", "units", i, "dropins"), "drop-ins for %s would change %s, which belongs to the appliance: tune etcd in the appliance config's etcd section", u.Name, owner)
			continue
		}
		if !r.checkUnit(at("systemd", "units", i), u) {
			continue
		}
		unit := IgnitionUnit{Name: u.Name, Contents: u.Contents, Enabled: u.Enabled, Mask: isTrue(u.Mask)}
		for _, d := range u.Dropins {
			unit.Dropins = append(unit.Dropins, IgnitionDropin{Name: d.Name, Contents: d.Contents})
		}
		x.Units = append(x.Units, unit)
	}
	return x
}

// checkUnit refuses what the node could not write or enable, whatever the machine: names that
// are not plain file names, and an enabled unit whose given contents say nothing about what
// starts it. An enabled unit without contents must be in the image: only the node can check.
func (r *ignitionReader) checkUnit(p []any, u types.Unit) bool {
	ok := true
	if err := checkUnitName(u.Name); err != nil {
		r.add(append(p, "name"), "%v", err)
		ok = false
	}
	for j, d := range u.Dropins {
		if err := checkDropinName(d.Name); err != nil {
			r.add(append(p, "dropins", j, "name"), "%v", err)
			ok = false
		}
	}
	if !isTrue(u.Enabled) || isTrue(u.Mask) || u.Contents == nil {
		return ok
	}
	switch targets, err := InstallTargets(*u.Contents); {
	case err != nil:
		r.add(append(p, "contents"), "%s is enabled, but %v", u.Name, err)
		return false
	case len(targets) == 0:
		r.add(append(p, "contents"), "%s is enabled, but its contents have no [Install] WantedBy= or RequiredBy=, so nothing would start it: add one (e.g. WantedBy=multi-user.target) or leave enabled out", u.Name)
		r.installRefused = append(r.installRefused, ignitionPath(append(p, "contents")))
		return false
	}
	return ok
}

// refuseUnsupported rejects what cannot apply to an immutable appliance, or would need this
// package to fetch things.
func (r *ignitionReader) refuseUnsupported(ign types.Config) {
	for i := range ign.Ignition.Config.Merge {
		r.add(at("ignition", "config", "merge", i), "merging remote Ignition configs is not supported: put everything in this config")
	}
	if ign.Ignition.Config.Replace.Source != nil {
		r.add(at("ignition", "config", "replace"), "replacing the config from a remote source is not supported: put everything in this config")
	}
	if p := ign.Ignition.Proxy; p.HTTPProxy != nil || p.HTTPSProxy != nil || len(p.NoProxy) > 0 {
		r.add(at("ignition", "proxy"), "not supported: set network.proxy in the appliance config, which every fetch of the node uses")
	}
	if t := ign.Ignition.Timeouts; t.HTTPResponseHeaders != nil || t.HTTPTotal != nil {
		p := at("ignition", "timeouts")
		r.warns = append(r.warns, Problem{Path: ignitionPath(p), Line: r.line(p), Message: "ignored: the node agent fetches remote contents with its own timeouts"})
	}
	if len(ign.KernelArguments.ShouldExist) > 0 || len(ign.KernelArguments.ShouldNotExist) > 0 {
		r.add(at("kernelArguments"), "kernel arguments are fixed in the image: choose them when building it (imagebuild build)")
	}
	const disks = "the appliance manages its disks itself: select the data disk with data.device in the appliance config"
	for i := range ign.Storage.Disks {
		r.add(at("storage", "disks", i), "partitioning is not supported: %s", disks)
	}
	for i := range ign.Storage.Raid {
		r.add(at("storage", "raid", i), "RAID arrays are not supported: %s", disks)
	}
	for i := range ign.Storage.Luks {
		r.add(at("storage", "luks", i), "LUKS volumes are not supported: %s", disks)
	}
	for i := range ign.Storage.Filesystems {
		r.add(at("storage", "filesystems", i), "filesystems are not supported: %s", disks)
	}
	for i := range ign.Passwd.Groups {
		r.add(at("passwd", "groups", i), "groups cannot be created: the appliance has only root and its system users")
	}
}

// readCA takes a CA certificate given inline. A remote one is refused: it would need a
// root of its own to be fetched safely, and the node fetches nothing before the whole config
// is checked; trust.ca_certs or a data: URL says the same without the network.
func (r *ignitionReader) readCA(p []any, res types.Resource) (string, bool) {
	if u, err := url.Parse(deref(res.Source)); err == nil && u.Scheme != "data" {
		r.add(append(p, "source"), "a CA fetched from %s is not supported: give the PEM inline as a data: URL, or in the appliance config's trust.ca_certs", u.Scheme)
		return "", false
	}
	before := len(r.problems)
	c := r.content(p, res)
	if len(r.problems) > before {
		return "", false
	}
	problems := checkCAs(string(c.Inline))
	for _, msg := range problems {
		r.add(append(p, "source"), "%s", msg)
	}
	return string(c.Inline), len(problems) == 0
}

// readUsers takes the SSH keys of root and core and refuses every other account change.
func (r *ignitionReader) readUsers(pw types.Passwd, x *IgnitionExtras) {
	for i, u := range pw.Users {
		p := at("passwd", "users", i)
		if u.Name != "root" && u.Name != "core" {
			r.add(append(p, "name"), "user %q cannot be created: the appliance has one SSH login, root; give the keys to user root (or core, which maps to root)", u.Name)
			continue
		}
		if u.PasswordHash != nil {
			r.add(append(p, "passwordHash"), "passwords are not supported: the appliance allows SSH key logins only; use sshAuthorizedKeys")
		}
		for _, f := range []struct {
			name string
			set  bool
		}{
			{"gecos", u.Gecos != nil}, {"groups", len(u.Groups) > 0}, {"homeDir", u.HomeDir != nil},
			{"noCreateHome", u.NoCreateHome != nil}, {"noLogInit", u.NoLogInit != nil}, {"noUserGroup", u.NoUserGroup != nil},
			{"primaryGroup", u.PrimaryGroup != nil}, {"shell", u.Shell != nil}, {"shouldExist", u.ShouldExist != nil},
			{"system", u.System != nil}, {"uid", u.UID != nil},
		} {
			if f.set {
				r.add(append(p, f.name), "cannot be changed on the appliance: only sshAuthorizedKeys applies to %s", u.Name)
			}
		}
		for j, k := range u.SSHAuthorizedKeys {
			if err := checkAuthorizedKey(string(k)); err != nil {
				r.add(append(p, "sshAuthorizedKeys", j), "%v", err)
				continue
			}
			x.SSHAuthorizedKeys = append(x.SSHAuthorizedKeys, string(k))
		}
	}
}

// checkNode accepts paths the appliance can write: /etc and /var, owned by root, but not the
// data volume the node agent alone manages.
func (r *ignitionReader) checkNode(p []any, n types.Node) bool {
	ok := true
	clean := path.Clean(n.Path)
	switch owner := applianceUnit(clean); {
	case !underWritable(n.Path):
		r.add(append(p, "path"), "%q is outside /etc and /var: the rest of the appliance is read-only", n.Path)
		ok = false
	case clean == "/var/lib/etcd" || strings.HasPrefix(clean, "/var/lib/etcd/"):
		r.add(append(p, "path"), "%q is on the etcd data volume, which only the node agent writes", n.Path)
		ok = false
	case owner != "":
		r.add(append(p, "path"), "%q would change %s, which belongs to the appliance: tune etcd in the appliance config's etcd section", n.Path, owner)
		ok = false
	}
	if !isRoot(n.User.ID, n.User.Name) {
		r.add(append(p, "user"), "only root can own files written by Ignition on the appliance: leave user out")
		ok = false
	}
	if !isRoot(n.Group.ID, n.Group.Name) {
		r.add(append(p, "group"), "only group root can own files written by Ignition on the appliance: leave group out")
		ok = false
	}
	return ok
}

// readApplianceFile takes the appliance config out of storage.files; it must be inline so that
// it can be validated here, before anything is applied.
func (r *ignitionReader) readApplianceFile(p []any, f types.File) {
	if len(f.Append) > 0 {
		r.add(append(p, "append"), "the appliance config cannot be appended to: give it whole in contents")
		return
	}
	if f.Contents.Source == nil {
		r.add(append(p, "contents", "source"), "required: the appliance config as a data: URL")
		return
	}
	if u, err := url.Parse(*f.Contents.Source); err == nil && u.Scheme != "data" {
		r.add(append(p, "contents", "source"), "the appliance config must be inline (a data: URL), not fetched from %s: the node validates it before using the network", u.Scheme)
		return
	}
	before := len(r.problems)
	c := r.content(append(p, "contents"), f.Contents)
	if len(r.problems) == before {
		r.configData = append([]byte{}, c.Inline...) // non-nil even when empty: Parse explains
	}
}

// appliance parses the appliance config; its problems join the Ignition ones, marked with the
// file they refer to.
func (r *ignitionReader) appliance(warns Warnings) (*Config, Warnings) {
	cfg, cwarns, err := Parse(r.configData)
	for _, w := range cwarns {
		w.File = IgnitionConfigPath
		warns = append(warns, w)
	}
	var perrs *Errors
	if errors.As(err, &perrs) {
		for _, p := range perrs.Problems {
			p.File = IgnitionConfigPath
			r.problems = append(r.problems, p)
		}
	}
	return cfg, warns
}

// content decodes an inline resource or records a remote one.
func (r *ignitionReader) content(p []any, res types.Resource) IgnitionContent {
	if len(res.HTTPHeaders) > 0 {
		r.add(append(p, "httpHeaders"), "HTTP headers are not supported: use a URL that needs none and a verification hash")
		return IgnitionContent{}
	}
	if res.Source == nil {
		return IgnitionContent{}
	}
	src, compression, hash := *res.Source, deref(res.Compression), deref(res.Verification.Hash)
	u, err := url.Parse(src)
	if err != nil { // Ignition validated it already
		r.add(append(p, "source"), "not a URL: %v", err)
		return IgnitionContent{}
	}
	switch u.Scheme {
	case "data":
		data, err := decodeInline(src, compression, hash)
		if err != nil {
			r.add(append(p, "source"), "%v", err)
			return IgnitionContent{}
		}
		return IgnitionContent{Inline: data}
	case "http", "https":
		if u.Scheme == "http" && hash == "" {
			// plain http is only as good as the hash that checks what arrives
			r.add(append(p, "source"), "%s is plain http without verification.hash: add verification.hash (sha512-<hex> or sha256-<hex> of the contents), or use https", u.Redacted())
			return IgnitionContent{}
		}
		return IgnitionContent{Remote: &IgnitionRemote{URL: src, Compression: compression, Hash: hash}}
	case "s3", "gs", "arn":
		r.add(append(p, "source"), "%s sources need cloud credentials this image does not have: use https with a verification hash", u.Scheme)
		return IgnitionContent{}
	default:
		r.add(append(p, "source"), "%s URLs are not supported: use http, https or an inline data: URL", u.Scheme)
		return IgnitionContent{}
	}
}

// at builds an Ignition path.
func at(p ...any) []any { return p }

// ignitionPath formats an Ignition path as storage.files[0].contents.
func ignitionPath(p []any) string {
	var b strings.Builder
	for _, e := range p {
		switch e := e.(type) {
		case int:
			b.WriteString("[" + strconv.Itoa(e) + "]")
		default:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			fmt.Fprint(&b, e)
		}
	}
	return b.String()
}

// applianceUnit is the appliance's own unit a clean path would replace or add a drop-in to,
// or "": a drop-in could otherwise undo what etcd.service is given (TLS 1.3 only, its flags).
func applianceUnit(clean string) string {
	// systemd reads units and drop-ins from each of these; the last two are meant for
	// systemctl's own runtime changes, but /etc is writable
	for _, root := range []string{"/etc/systemd/system/", "/etc/systemd/system.control/", "/etc/systemd/system.attached/"} {
		for _, u := range applianceUnits {
			if p := root + u; clean == p || clean == p+".d" || strings.HasPrefix(clean, p+".d/") {
				return u
			}
		}
		for _, d := range sharedDropinDirs {
			if p := root + d.dir; clean == p || strings.HasPrefix(clean, p+"/") {
				return d.owner + " (through " + d.dir + ")"
			}
		}
	}
	return ""
}

// applianceUnits are the units whose sandbox, flags and order the appliance manages.
var applianceUnits = []string{"etcd.service", "firstboot.service", "etcd-agent.service", "etcd-agent.timer"}

// sharedDropinDirs are drop-in directories systemd applies to every service or timer, or to
// those named etcd-… (systemd 247+), and which of the appliance's units they would change.
var sharedDropinDirs = []struct{ dir, owner string }{
	{"service.d", "etcd.service and the agent"}, {"etcd-.service.d", "the agent"},
	{"timer.d", "the agent's timer"}, {"etcd-.timer.d", "the agent's timer"},
}

func underWritable(p string) bool {
	clean := path.Clean(p)
	return strings.HasPrefix(clean, "/etc/") || strings.HasPrefix(clean, "/var/")
}

func isRoot(id *int, name *string) bool {
	return (id == nil || *id == 0) && (name == nil || *name == "" || *name == "root")
}

// fileMode converts Ignition's numeric mode, special bits included.
func fileMode(m *int, def fs.FileMode) fs.FileMode {
	if m == nil {
		return def
	}
	mode := fs.FileMode(*m) & fs.ModePerm
	if *m&0o4000 != 0 {
		mode |= fs.ModeSetuid
	}
	if *m&0o2000 != 0 {
		mode |= fs.ModeSetgid
	}
	if *m&0o1000 != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func isTrue(b *bool) bool { return b != nil && *b }

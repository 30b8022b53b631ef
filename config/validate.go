package config

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
	"unicode"

	"github.com/etcd-appliance/appliance/internal/firewall"
)

// nameRE is the charset for member and cluster names: a DNS label in lower case. etcd itself
// accepts more, but these names also end up in certificate subjects, URLs and file names.
var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

const nameRule = "1 to 63 lower-case letters, digits and '-', starting and ending with a letter or digit"

// validate checks a configuration whose defaults are applied. It returns errors and warnings;
// their lines are filled in by the caller, which knows the document.
func (c *Config) validate() (errs problems, warns Warnings) {
	if c.Version == 0 {
		errs.add("version", "required: add \"version: %d\" at the top", Version)
	}
	warns = c.validateCluster(&errs)
	c.validateNode(&errs)
	validateTLS(c.TLS, len(c.Cluster.Members) > 0, &errs)
	c.validateData(&errs)
	c.validateEtcd(&errs)
	c.validateRestore(&errs)
	c.validateSnapshots(&errs)
	c.validateBackup(&errs)
	c.validateNetwork(&errs)
	c.validateTrust(&errs)
	c.validateTime(&errs)
	for i, k := range c.SSHAuthorizedKeys {
		if err := checkAuthorizedKey(k); err != nil {
			errs.add(index("ssh_authorized_keys", i), "%v", err)
		}
	}
	return errs, warns
}

func (c *Config) validateCluster(errs *problems) Warnings {
	members := c.Cluster.Members
	switch {
	case c.Cluster.Name == "" && len(members) > 0:
		errs.add("cluster.name", "required when cluster.members is set: it is the initial cluster token, e.g. prod-etcd")
	case c.Cluster.Name != "" && !nameRE.MatchString(c.Cluster.Name):
		errs.add("cluster.name", "%q is not a valid cluster name: use %s", c.Cluster.Name, nameRule)
	}
	names := map[string]int{}
	addrs := map[string]int{}
	for i, m := range members {
		p := index("cluster.members", i)
		switch first, dup := names[m.Name]; {
		case m.Name == "":
			errs.add(field(p, "name"), "required: the member's etcd name, e.g. etcd-a")
		case !nameRE.MatchString(m.Name):
			errs.add(field(p, "name"), "%q is not a valid member name: use %s", m.Name, nameRule)
		case dup:
			errs.add(field(p, "name"), "%q is already the name of cluster.members[%d]: member names must be unique", m.Name, first)
		default:
			names[m.Name] = i
		}
		if m.Address == "" {
			errs.add(field(p, "address"), "required: the member's IP address or DNS name")
			continue
		}
		key, err := checkAddress(m.Address)
		if err != nil {
			errs.add(field(p, "address"), "%s", err)
			continue
		}
		if first, dup := addrs[key]; dup {
			errs.add(field(p, "address"), "%q is already the address of cluster.members[%d]: each member needs its own address", m.Address, first)
			continue
		}
		addrs[key] = i
	}

	var warns Warnings
	if n := len(members); n > 0 && n%2 == 0 {
		warns = append(warns, Problem{Path: "cluster.members", Message: evenMembers(n)})
	}
	if n := len(members); n > 7 {
		warns = append(warns, Problem{Path: "cluster.members", Message: "etcd recommends at most 7 voting members: more slow down every write"})
	}
	return warns
}

func evenMembers(n int) string {
	return fmt.Sprintf("%d members tolerate no more failures than %d: use an odd number", n, n-1)
}

func (c *Config) validateNode(errs *problems) {
	name := c.Node.Name
	if name == "" {
		return
	}
	if !nameRE.MatchString(name) {
		errs.add("node.name", "%q is not a valid member name: use %s", name, nameRule)
		return
	}
	if len(c.Cluster.Members) == 0 {
		return // the name of the single member
	}
	var names []string
	for _, m := range c.Cluster.Members {
		if m.Name == name {
			return
		}
		if !slices.Contains(names, m.Name) {
			names = append(names, m.Name)
		}
	}
	errs.add("node.name", "%q is not one of cluster.members (%s): name this node's member or leave node.name out", name, strings.Join(names, ", "))
}

func (c *Config) validateData(errs *problems) {
	dev := c.Data.Device
	switch {
	case dev == "" && c.Data.Wipe:
		errs.add("data.wipe", "requires data.device: name the disk that may be wiped, e.g. /dev/disk/by-id/virtio-etcd-data")
	case dev == "":
	case !strings.HasPrefix(dev, "/dev/") || len(dev) == len("/dev/") || path.Clean(dev) != dev:
		errs.add("data.device", "%q is not a device path: expected an absolute path under /dev/, e.g. /dev/disk/by-id/virtio-etcd-data or /dev/vdb", dev)
	case strings.IndexFunc(dev, unicode.IsSpace) >= 0 || strings.IndexFunc(dev, unicode.IsControl) >= 0:
		errs.add("data.device", "%q contains spaces or control characters: expected a device path such as /dev/vdb", dev)
	}
}

func (c *Config) validateEtcd(errs *problems) {
	e := c.Etcd
	if e.HeartbeatIntervalMS < minHeartbeatIntervalMS || e.HeartbeatIntervalMS > maxHeartbeatIntervalMS {
		errs.add("etcd.heartbeat_interval_ms", "%d is out of range: expected %d to %d milliseconds (default %d)",
			e.HeartbeatIntervalMS, minHeartbeatIntervalMS, maxHeartbeatIntervalMS, defaultHeartbeatIntervalMS)
	}
	if low := electionPerHeartbeat * e.HeartbeatIntervalMS; e.ElectionTimeoutMS < low || e.ElectionTimeoutMS > maxElectionTimeoutMS {
		errs.add("etcd.election_timeout_ms", "%d is out of range: expected %d (%d heartbeat intervals) to %d milliseconds (default %d)",
			e.ElectionTimeoutMS, low, electionPerHeartbeat, maxElectionTimeoutMS, defaultElectionTimeoutMS)
	}
	if e.QuotaBackendBytes < MinQuotaBackendBytes || e.QuotaBackendBytes > maxQuotaBackendBytes {
		errs.add("etcd.quota_backend_bytes", "%d is out of range: expected %d (64 MiB) to %d (8 GiB) bytes (default %d, 2 GiB)",
			e.QuotaBackendBytes, MinQuotaBackendBytes, maxQuotaBackendBytes, defaultQuotaBackendBytes)
	}
	if e.SnapshotCount < 1 {
		errs.add("etcd.snapshot_count", "%d is out of range: expected at least 1 (default %d)", e.SnapshotCount, defaultSnapshotCount)
	}
}

func (c *Config) validateSnapshots(errs *problems) {
	s := c.Snapshots
	if s.IntervalMinutes != 0 && (s.IntervalMinutes < minSnapshotMinutes || s.IntervalMinutes > maxSnapshotMinutes) {
		errs.add("snapshots.interval_minutes", "%d is out of range: expected %d to %d minutes (one week), or 0 for no scheduled snapshots", s.IntervalMinutes, minSnapshotMinutes, maxSnapshotMinutes)
	}
	switch {
	case s.IntervalMinutes == 0 && s.Keep != 0:
		errs.add("snapshots.keep", "needs snapshots.interval_minutes: without it no snapshots are scheduled")
	case s.Keep < 0 || s.Keep > maxSnapshotKeep:
		errs.add("snapshots.keep", "%d is out of range: expected 1 to %d (default %d)", s.Keep, maxSnapshotKeep, defaultSnapshotKeep)
	}
}

func (c *Config) validateRestore(errs *problems) {
	r := c.Restore
	if r.Source != "" && IsStoreURL(r.Source) {
		c.validateStoreRestore(errs)
		if b, err := hex.DecodeString(r.SHA256); r.SHA256 != "" && (err != nil || len(b) != 32) {
			errs.add("restore.sha256", "expected 64 hex digits (the sha256 firstboot backup list shows), got %d characters", len(r.SHA256))
		}
		return
	}
	if r.AgeIdentity != "" {
		errs.add("restore.age_identity", "only for a restore from an object store (s3:// or azblob://): a snapshot by URL is not encrypted")
	}
	switch {
	case r.Source == "" && r.SHA256 != "":
		errs.add("restore.source", "required with restore.sha256: the URL of the snapshot to restore")
	case r.Source != "" && r.SHA256 == "":
		errs.add("restore.sha256", "required with restore.source: the snapshot's SHA-256 as 64 hex digits (sha256sum prints it)")
	}
	if r.Source != "" && strings.IndexFunc(r.Source, func(c rune) bool { return unicode.IsSpace(c) || unicode.IsControl(c) }) >= 0 {
		errs.add("restore.source", "contains spaces or control characters: expected a URL such as https://backups.example/etcd.db")
	} else if r.Source != "" {
		if err := checkRestoreSource(r.Source); err != nil {
			errs.add("restore.source", "%v", err)
		}
	}
	if r.SHA256 != "" {
		if b, err := hex.DecodeString(r.SHA256); err != nil || len(b) != 32 {
			errs.add("restore.sha256", "expected 64 hex digits (the output of sha256sum), got %d characters", len(r.SHA256))
		}
	}
}

// restoreSchemes is what the node's snapshot fetch (internal/snapshot.Fetch) has getters for.
const restoreSchemes = "restore.source accepts http, https and file URLs, e.g. https://backups.example/etcd.db or file:///mnt/backup/etcd.db, and s3:// or azblob:// URLs in backup's store"

// forcedGetter is go-getter's "getter::url" syntax (git::https://…, s3::…); an IPv6 address's
// "::" inside a URL is not it.
var forcedGetter = regexp.MustCompile(`^([A-Za-z0-9]+)::`)

// checkRestoreSource accepts the URLs the node can fetch a snapshot from.
func checkRestoreSource(src string) error {
	u, err := url.Parse(src)
	switch {
	case err != nil:
		return fmt.Errorf("%q is not a URL: %v: %s", src, errors.Unwrap(err), restoreSchemes)
	case forcedGetter.MatchString(src):
		return fmt.Errorf("%q uses go-getter's forced-getter syntax (X::URL), which the node does not take: give the URL itself; %s", src, restoreSchemes)
	case u.Scheme == "" && strings.HasPrefix(src, "/"):
		return nil // a path on the node, which the fetch reads as a file URL (older configs use it)
	case u.Scheme == "":
		return fmt.Errorf("%q is not a URL: %s", src, restoreSchemes)
	case u.Scheme == "gs":
		return fmt.Errorf("gs URLs are not supported: use s3://bucket/prefix with backup.endpoint https://storage.googleapis.com and HMAC keys, or %s", restoreSchemes)
	case u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "file":
		return fmt.Errorf("%s URLs are not supported: %s", u.Scheme, restoreSchemes)
	case u.Scheme == "file" && (u.Host != "" && u.Host != "localhost" || !strings.HasPrefix(u.Path, "/") || u.Opaque != ""):
		return fmt.Errorf("%q: a file URL needs an absolute path and no host: file:///path/to/etcd.db", src)
	case u.Scheme != "file" && u.Host == "":
		return fmt.Errorf("%q has no host: expected a URL such as https://backups.example/etcd.db", src)
	}
	return nil
}

// checkAddress accepts an IP address or a DNS name and returns the form used to find duplicates.
func checkAddress(a string) (string, error) {
	if ip, err := netip.ParseAddr(a); err == nil {
		switch {
		case ip.Zone() != "":
			return "", fmt.Errorf("%q has a zone: give a global or private address without %%zone", a)
		case ip.IsUnspecified() || ip.IsMulticast():
			return "", fmt.Errorf("%q cannot be a member address: give the member's own unicast address", a)
		}
		return ip.Unmap().String(), nil
	}
	if strings.HasPrefix(a, "[") {
		return "", fmt.Errorf("%q: write an IPv6 address without brackets", a)
	}
	if _, err := netip.ParseAddrPort(a); err == nil || strings.Contains(a, ":") || strings.Contains(a, "/") {
		return "", fmt.Errorf("%q: give only the host (an IP address or DNS name), without scheme or port: the ports are fixed at 2379 and 2380", a)
	}
	if !isHostname(a) {
		return "", fmt.Errorf("%q is neither an IP address nor a DNS name: DNS names are dot-separated labels of letters, digits and '-' (at most 253 characters)", a)
	}
	return strings.ToLower(a), nil
}

// isHostname checks RFC 1123 host name syntax; an all-numeric last label is refused, so that
// a mistyped IPv4 address such as 192.0.2.300 is not taken for a name.
func isHostname(s string) bool {
	if CheckHostname(s) != nil {
		return false
	}
	labels := strings.Split(s, ".")
	return strings.Trim(labels[len(labels)-1], "0123456789") != ""
}

// HostnameRule says what CheckHostname accepts, for error messages.
const HostnameRule = "a host name is dot-separated labels of letters, digits and '-' (RFC 1123), each 1 to 63 characters and not starting or ending with '-', 253 characters in all"

// CheckHostname checks RFC 1123 host name syntax. It is the one check for every host name
// that reaches a file the node writes (/etc/hostname, /etc/hosts, certificates), wherever it
// came from: the config, the platform's metadata, Ignition or DHCP. The error leaves the name
// out: callers say where it came from and quote it.
func CheckHostname(h string) error {
	switch {
	case h == "":
		return errors.New("empty: " + HostnameRule)
	case strings.IndexFunc(h, unicode.IsControl) >= 0:
		return errors.New("contains a control character (a newline or tab, say): " + HostnameRule)
	case len(h) > 253:
		return fmt.Errorf("%d characters long: %s", len(h), HostnameRule)
	}
	for _, l := range strings.Split(h, ".") {
		switch {
		case l == "":
			return errors.New("has an empty label (two dots in a row, or a dot at either end): " + HostnameRule)
		case len(l) > 63:
			return fmt.Errorf("label %.20q… is %d characters long: %s", l, len(l), HostnameRule)
		case l[0] == '-' || l[len(l)-1] == '-':
			return fmt.Errorf("label %q starts or ends with '-': %s", l, HostnameRule)
		case strings.Trim(l, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != "":
			return fmt.Errorf("label %q has characters other than letters, digits and '-': %s", l, HostnameRule)
		}
	}
	return nil
}

const maxListed = 16 // entries in network.dns.*, time.servers and trust.ca_certs: far above real use

func (c *Config) validateNetwork(errs *problems) {
	d := c.Network.DNS
	if len(d.Servers) > maxListed {
		errs.add("network.dns.servers", "%d servers: at most %d are used", len(d.Servers), maxListed)
	}
	for i, s := range d.Servers {
		if ip, err := netip.ParseAddr(s); err != nil || ip.Zone() != "" || ip.IsUnspecified() || ip.IsMulticast() {
			errs.add(index("network.dns.servers", i), "%q is not a unicast IP address: DNS servers are given by address, e.g. 192.0.2.53 or 2001:db8::53", s)
		}
	}
	if len(d.Search) > maxListed {
		errs.add("network.dns.search", "%d domains: at most %d are used", len(d.Search), maxListed)
	}
	for i, s := range d.Search {
		if !isHostname(strings.TrimSuffix(s, ".")) {
			errs.add(index("network.dns.search", i), "%q is not a DNS domain: expected dot-separated labels such as etcd.example", s)
		}
	}
	for _, l := range []struct {
		field string
		list  []string
	}{{"network.clients_from", c.Network.ClientsFrom}, {"network.metrics_from", c.Network.MetricsFrom}, {"network.ssh_from", c.Network.SSHFrom}} {
		if len(l.list) > maxListed {
			errs.add(l.field, "%d entries: at most %d are used; give wider CIDRs", len(l.list), maxListed)
			continue
		}
		for i, s := range l.list {
			if _, err := firewall.ParsePrefixes(index(l.field, i), []string{s}); err != nil {
				errs.add(index(l.field, i), "%q is not an address or CIDR: e.g. 192.0.2.0/24, 2001:db8::/32, or 0.0.0.0/0 and ::/0 for anywhere", s)
			}
		}
	}
	if p := c.Network.Proxy; p != "" {
		if err := checkProxy(p); err != nil {
			errs.add("network.proxy", "%v", err)
		}
	}
}

// checkProxy accepts what Go's HTTP transport takes as a proxy: an http or https URL with a
// host and nothing after it but an optional port (and user:password, which a proxy may need).
func checkProxy(p string) error {
	const want = "expected an http or https proxy URL such as http://proxy.example:3128"
	u, err := url.Parse(p)
	switch {
	case err != nil:
		return fmt.Errorf("%q is not a URL: %v: %s", p, errors.Unwrap(err), want)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%q: scheme %q: %s", p, u.Scheme, want)
	case u.Hostname() == "":
		return fmt.Errorf("%q has no host: %s", p, want)
	case u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("%q has a path or query, which a proxy URL does not: %s", p, want)
	}
	return nil
}

func (c *Config) validateTrust(errs *problems) {
	if len(c.Trust.CACerts) > maxListed {
		errs.add("trust.ca_certs", "%d entries: at most %d; one entry may hold several PEM certificates", len(c.Trust.CACerts), maxListed)
	}
	for i, pemText := range c.Trust.CACerts {
		for _, msg := range checkCAs(pemText) {
			errs.add(index("trust.ca_certs", i), "%s", msg)
		}
	}
}

// checkCAs is what is wrong with PEM text given as roots to trust: it must hold only CA
// certificates.
func checkCAs(pemText string) []string {
	certs, err := parseCertificates(pemText)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	for j, cert := range certs {
		if !cert.IsCA || !cert.BasicConstraintsValid {
			problems = append(problems, fmt.Sprintf("certificate %d (%s) is not a CA certificate: give the certificate of the CA that signed the server's certificate", j+1, cert.Subject))
		}
	}
	return problems
}

func (c *Config) validateTime(errs *problems) {
	if len(c.Time.Servers) > maxListed {
		errs.add("time.servers", "%d servers: at most %d are used", len(c.Time.Servers), maxListed)
	}
	for i, s := range c.Time.Servers {
		if ip, err := netip.ParseAddr(s); err == nil && (ip.Zone() != "" || ip.IsUnspecified() || ip.IsMulticast()) || err != nil && !isHostname(s) {
			errs.add(index("time.servers", i), "%q is neither a unicast IP address nor a DNS name: give an NTP server's host, without scheme or port, e.g. ntp.example or 192.0.2.123", s)
		}
	}
}

package vmnet

import (
	"bytes"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
)

// checkDNSName accepts a host name of letters, digits and hyphens in dot-separated labels,
// without a trailing dot.
func checkDNSName(name string) error {
	if name == "" || len(name) > 253 {
		return fmt.Errorf("DNS name %q: empty or longer than 253 characters", name)
	}
	for _, label := range strings.Split(name, ".") {
		if !hostnameRE.MatchString(label) {
			return fmt.Errorf("DNS name %q: bad label %q", name, label)
		}
	}
	return nil
}

// normalizeDNS checks Options.Domain and Options.DNSRecords, lower-casing the names and
// dropping a trailing dot. The records are copied: the caller's map is not changed.
func normalizeDNS(o Options) (Options, error) {
	o.Domain = strings.ToLower(strings.TrimSuffix(o.Domain, "."))
	if o.Domain == "" {
		if len(o.DNSRecords) > 0 {
			return o, fmt.Errorf("DNS records need a Domain: without one no DNS is served")
		}
		return o, nil
	}
	if err := checkDNSName(o.Domain); err != nil {
		return o, fmt.Errorf("domain: %w", err)
	}
	records := make(map[string][]netip.Addr, len(o.DNSRecords))
	for name, addrs := range o.DNSRecords {
		canon := strings.ToLower(strings.TrimSuffix(name, "."))
		if err := checkDNSName(canon); err != nil {
			return o, fmt.Errorf("DNS record: %w", err)
		}
		if _, dup := records[canon]; dup {
			return o, fmt.Errorf("DNS record %q given twice", canon)
		}
		if len(addrs) == 0 {
			return o, fmt.Errorf("DNS record %q: no addresses", name)
		}
		for _, a := range addrs {
			if !a.IsValid() || a.Zone() != "" {
				return o, fmt.Errorf("DNS record %q: bad address %q", name, a)
			}
		}
		records[canon] = slices.Clone(addrs)
	}
	o.DNSRecords = records
	return o, nil
}

// dnsNames lists the names a record or host answers to: a single label is a host of the
// domain, answered as label.domain and bare; a name with a dot is answered as given.
func dnsNames(name, domain string) []string {
	if strings.Contains(name, ".") {
		return []string{name}
	}
	return []string{name + "." + domain, name}
}

// dnsHosts renders the hosts file dnsmasq answers from when Options.Domain is set: every
// host with a hostname, then Options.DNSRecords. The fully qualified name comes first on a
// line, so that it is the answer to a reverse lookup. hosts must have passed dnsmasqArgs.
func dnsHosts(opts Options, hosts []Host) ([]byte, error) {
	var b bytes.Buffer
	owner := map[string]string{} // name -> where it was defined, to refuse a second definition
	claim := func(names []string, by string) error {
		for _, nm := range names {
			if prev, ok := owner[nm]; ok {
				return fmt.Errorf("DNS name %s is both %s and %s", nm, prev, by)
			}
			owner[nm] = by
		}
		return nil
	}
	for _, h := range hosts {
		if h.Hostname == "" {
			continue
		}
		names := dnsNames(strings.ToLower(h.Hostname), opts.Domain)
		if err := claim(names, "host "+h.MAC.String()); err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, "%s %s\n", h.IP, strings.Join(names, " "))
	}
	for _, name := range slices.Sorted(maps.Keys(opts.DNSRecords)) {
		names := dnsNames(name, opts.Domain)
		if err := claim(names, "a DNS record"); err != nil {
			return nil, err
		}
		for _, a := range opts.DNSRecords[name] {
			fmt.Fprintf(&b, "%s %s\n", a, strings.Join(names, " "))
		}
	}
	return b.Bytes(), nil
}

// Package aws reads an EC2 instance's metadata from the Instance Metadata Service (IMDS).
//
// IMDS is a tree of small text documents, not one document, so the fetch (fetch.go) collects
// the few items the appliance needs into Documents and the pure Parse turns them into
// platform.Metadata. Only IMDSv2 is spoken: a session token is obtained with a PUT and sent
// with every GET; IMDSv1 (token-less GETs) is never tried.
package aws

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/etcd-appliance/appliance/internal/platform"
)

// Name is the platform's name in etcd.platform=.
const Name = "aws"

// Documents are the IMDS items the appliance reads, as the service returned them. A string is
// empty when the item was absent (HTTP 404).
type Documents struct {
	InstanceID    string   // meta-data/instance-id
	LocalHostname string   // meta-data/local-hostname
	LocalIPv4     string   // meta-data/local-ipv4 (absent on IPv6-only subnets)
	IPv6          string   // meta-data/ipv6 (absent unless the primary interface has an IPv6 address)
	PublicIPv4    string   // meta-data/public-ipv4: the public or elastic IPv4 NAT'd to local-ipv4, if any
	PublicKeys    []string // meta-data/public-keys/N/openssh-key, in the order of the listing
	UserData      []byte   // user-data; nil when there is none
}

// Parse turns the fetched IMDS items into platform.Metadata. EC2 configures interfaces with
// DHCP, so Network is nil. The public IPv4 address is NAT'd by EC2, on no interface, so it is
// a public address; EC2's IPv6 addresses are on the interface and are Addresses. Secondary
// interfaces' public addresses (network/interfaces/macs/<mac>/public-ipv4s) are not read.
func Parse(d Documents) (*platform.Metadata, error) {
	md := &platform.Metadata{
		Platform:   Name,
		InstanceID: strings.TrimSpace(d.InstanceID),
		Hostname:   strings.TrimSpace(d.LocalHostname),
	}
	if md.InstanceID == "" {
		return nil, fmt.Errorf("meta-data/instance-id: empty")
	}
	v4, err := parseAddrs("meta-data/local-ipv4", d.LocalIPv4, true)
	if err != nil {
		return nil, err
	}
	v6, err := parseAddrs("meta-data/ipv6", d.IPv6, false)
	if err != nil {
		return nil, err
	}
	md.Addresses = append(v4, v6...)
	if md.PublicAddresses, err = parseAddrs("meta-data/public-ipv4", d.PublicIPv4, true); err != nil {
		return nil, err
	}
	for i, k := range d.PublicKeys {
		for _, line := range lines(k) {
			if len(strings.Fields(line)) < 2 {
				return nil, fmt.Errorf("meta-data/public-keys/%d/openssh-key: %q is not an OpenSSH public key", i, line)
			}
			md.SSHKeys = append(md.SSHKeys, line)
		}
	}
	if len(d.UserData) > 0 {
		md.UserData = d.UserData
	}
	return md, nil
}

// parseAddrs parses one address per line; want4 says which family the item must hold.
func parseAddrs(item, body string, want4 bool) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, line := range lines(body) {
		a, err := netip.ParseAddr(line)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", item, err)
		}
		if a.Is4() != want4 {
			fam := "IPv6"
			if want4 {
				fam = "IPv4"
			}
			return nil, fmt.Errorf("%s: %s is not an %s address", item, a, fam)
		}
		out = append(out, a)
	}
	return out, nil
}

// parseKeyList reads the meta-data/public-keys/ listing ("0=my-key" per line) and returns the
// indexes under which each key's openssh-key lives.
func parseKeyList(body []byte) ([]int, error) {
	var idx []int
	for _, line := range lines(string(body)) {
		n, name, ok := strings.Cut(line, "=")
		i, err := strconv.Atoi(n)
		if !ok || err != nil || i < 0 || name == "" {
			return nil, fmt.Errorf("meta-data/public-keys/: line %q: want INDEX=NAME", line)
		}
		idx = append(idx, i)
	}
	return idx, nil
}

// lines returns the non-blank lines of s, trimmed.
func lines(s string) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader([]byte(s)))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// Package gcp reads a Compute Engine VM's metadata from the GCE metadata server.
//
// The fetch (fetch.go) asks for the whole instance directory in one request
// (computeMetadata/v1/instance/?recursive=true, a JSON document) and for the project-wide
// ssh-keys attribute; the pure ParseInstance turns them into platform.Metadata.
//
// User-data is the instance attribute "user-data" (the key cloud-init uses on GCE; one key, so
// there is no question which wins). SSH keys are the instance attribute "ssh-keys" and, unless
// the instance sets block-project-ssh-keys=TRUE, the project attribute "ssh-keys"; each line
// is USERNAME:KEY and the user name is dropped (the appliance has one login user). Keys that
// carry a google-ssh expiry (as gcloud writes them) are left out once expired. OS Login
// (enable-oslogin) is not implemented: metadata keys are used regardless.
package gcp

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/etcd-appliance/appliance/internal/platform"
)

// Name is the platform's name in etcd.platform=.
const Name = "gcp"

// UserDataKey is the instance attribute that holds the appliance's user-data.
const UserDataKey = "user-data"

// instanceDoc is the part of computeMetadata/v1/instance/?recursive=true the appliance reads.
type instanceDoc struct {
	ID                json.RawMessage   `json:"id"` // a JSON number on GCE (beyond float64 precision)
	Hostname          string            `json:"hostname"`
	Attributes        map[string]string `json:"attributes"`
	NetworkInterfaces []struct {
		IP            string   `json:"ip"`
		IPv6s         []string `json:"ipv6s"`
		MAC           string   `json:"mac"`
		MTU           int      `json:"mtu"`
		AccessConfigs []struct {
			ExternalIP string `json:"externalIp"`
		} `json:"accessConfigs"`
	} `json:"networkInterfaces"`
}

// ParseInstance turns the recursive instance document and the project's ssh-keys attribute
// (nil when the project has none) into platform.Metadata. now decides which expiring keys are
// still valid. Addresses are the interfaces' internal addresses (ip, ipv6s, which include
// external IPv6 addresses: those are on the VM). External IPv4 addresses (accessConfigs'
// externalIp) are NAT'd by Google, on no interface: they are PublicAddresses. GCE configures
// interfaces with DHCP: Network lists them by MAC with DHCP on
// (DHCPv6 too where the interface has IPv6 addresses) and no static addresses.
func ParseInstance(instance, projectSSHKeys []byte, now time.Time) (*platform.Metadata, error) {
	var doc instanceDoc
	if err := json.Unmarshal(instance, &doc); err != nil {
		return nil, fmt.Errorf("instance document: %w", err)
	}
	id, err := parseID(doc.ID)
	if err != nil {
		return nil, fmt.Errorf("instance document: id: %w", err)
	}
	md := &platform.Metadata{Platform: Name, InstanceID: id, Hostname: doc.Hostname}
	if ud := doc.Attributes[UserDataKey]; ud != "" {
		md.UserData = []byte(ud)
	}
	md.SSHKeys = sshKeys(doc.Attributes["ssh-keys"], nil, now)
	if !strings.EqualFold(strings.TrimSpace(doc.Attributes["block-project-ssh-keys"]), "true") {
		md.SSHKeys = sshKeys(string(projectSSHKeys), md.SSHKeys, now)
	}
	for i, nic := range doc.NetworkInterfaces {
		field := fmt.Sprintf("instance document: networkInterfaces[%d]", i)
		iface := platform.Interface{MTU: nic.MTU, DHCP4: nic.IP != ""}
		if nic.MAC != "" {
			if iface.MAC, err = platform.ParseMAC(nic.MAC); err != nil {
				return nil, fmt.Errorf("%s.mac: %w", field, err)
			}
		}
		if nic.IP != "" {
			a, err := netip.ParseAddr(nic.IP)
			if err != nil || !a.Is4() {
				return nil, fmt.Errorf("%s.ip: %q is not an IPv4 address", field, nic.IP)
			}
			md.Addresses = append(md.Addresses, a)
		}
		for j, s := range nic.IPv6s {
			a, err := parseAddrOrPrefix(s)
			if err != nil || !a.Is6() {
				return nil, fmt.Errorf("%s.ipv6s[%d]: %q is not an IPv6 address", field, j, s)
			}
			md.Addresses = append(md.Addresses, a)
			iface.DHCP6 = true
		}
		for j, ac := range nic.AccessConfigs {
			if ac.ExternalIP == "" {
				continue // an access config with no address (yet)
			}
			a, err := netip.ParseAddr(ac.ExternalIP)
			if err != nil || !a.Is4() {
				return nil, fmt.Errorf("%s.accessConfigs[%d].externalIp: %q is not an IPv4 address", field, j, ac.ExternalIP)
			}
			md.PublicAddresses = append(md.PublicAddresses, a)
		}
		if md.Network == nil {
			md.Network = &platform.Network{}
		}
		md.Network.Interfaces = append(md.Network.Interfaces, iface)
	}
	return md, nil
}

// parseID accepts the id as GCE serves it (a number) or as a string.
func parseID(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if s == "" {
			return "", fmt.Errorf("empty")
		}
		return s, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return "", fmt.Errorf("missing or not a number: %s", raw)
	}
	return n.String(), nil
}

func parseAddrOrPrefix(s string) (netip.Addr, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Addr(), err
	}
	return netip.ParseAddr(s)
}

// sshKeys appends to keys the authorized_keys lines of an ssh-keys attribute (USERNAME:KEY per
// line), leaving out duplicates, lines that are not USERNAME:KEY and keys expired at now.
func sshKeys(attr string, keys []string, now time.Time) []string {
	sc := bufio.NewScanner(bytes.NewReader([]byte(attr)))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		user, key, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":")
		key = strings.TrimSpace(key)
		if !ok || user == "" || strings.ContainsAny(user, " \t") || len(strings.Fields(key)) < 2 || expired(key, now) {
			continue
		}
		dup := false
		for _, k := range keys {
			dup = dup || k == key
		}
		if !dup {
			keys = append(keys, key)
		}
	}
	return keys
}

// expired reports whether key carries a google-ssh expiry ("TYPE BLOB google-ssh {...,
// "expireOn":"..."}", as gcloud writes temporary keys) that is not after now. A google-ssh key
// whose expiry cannot be read counts as expired.
func expired(key string, now time.Time) bool {
	i := strings.Index(key, " google-ssh {")
	if i < 0 || len(strings.Fields(key[:i])) < 2 {
		return false
	}
	var info struct {
		ExpireOn string `json:"expireOn"`
	}
	if err := json.Unmarshal([]byte(key[i+len(" google-ssh "):]), &info); err != nil {
		return true
	}
	if info.ExpireOn == "" {
		return false
	}
	for _, layout := range []string{"2006-01-02T15:04:05-0700", time.RFC3339} {
		if t, err := time.Parse(layout, info.ExpireOn); err == nil {
			return !now.Before(t)
		}
	}
	return true
}

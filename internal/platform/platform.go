// Package platform defines what a cloud or machine tells a node about itself, whichever
// provider it came from. Each provider lives in its own package below this one, with its
// network or disk fetch apart from a pure Parse function that golden tests cover.
package platform

import (
	"net"
	"net/netip"
)

// Metadata is what a platform publishes about this machine.
type Metadata struct {
	Platform   string       `json:"platform"`
	InstanceID string       `json:"instance_id,omitempty"`
	Hostname   string       `json:"hostname,omitempty"`
	Addresses  []netip.Addr `json:"addresses,omitempty"` // addresses the platform assigned to this machine
	// PublicAddresses are addresses the platform maps to this machine by NAT (AWS public and
	// elastic IPs, GCP external IPs, Azure public IPs, OpenStack floating IPs): on no
	// interface, yet a member may be listed by one.
	PublicAddresses []netip.Addr `json:"public_addresses,omitempty"`
	SSHKeys         []string     `json:"ssh_keys,omitempty"` // authorized_keys lines
	// UserData is the raw user-data: the appliance config (YAML/JSON) or an Ignition config.
	// nil means the platform has none (not an error: the node forms a single-member cluster).
	UserData []byte `json:"-"`
	// Network is the static network configuration the platform publishes; nil means DHCP.
	Network *Network `json:"network,omitempty"`
}

// Network is a platform's network configuration, reduced to what the appliance applies.
type Network struct {
	Interfaces    []Interface  `json:"interfaces,omitempty"`
	Nameservers   []netip.Addr `json:"nameservers,omitempty"`
	SearchDomains []string     `json:"search_domains,omitempty"`
	// Routes are static routes not tied to one link by the platform (cloud-init v1 "route"
	// entries whose gateway is in no static subnet): add each on the link that reaches Via.
	Routes []Route `json:"routes,omitempty"`
}

// Interface is one link's configuration. It is matched by MAC when known, else by Name.
type Interface struct {
	Name      string         `json:"name,omitempty"`
	MAC       MAC            `json:"mac,omitempty"`
	MTU       int            `json:"mtu,omitempty"`
	DHCP4     bool           `json:"dhcp4,omitempty"`
	DHCP6     bool           `json:"dhcp6,omitempty"`
	Addresses []netip.Prefix `json:"addresses,omitempty"` // static addresses with prefix length
	Routes    []Route        `json:"routes,omitempty"`
	// Bond lists member interface names (by Name or MAC string) when this is a bond.
	Bond     []string `json:"bond,omitempty"`
	BondMode string   `json:"bond_mode,omitempty"`
	// VLAN: this interface is VLAN ID on link VLANLink.
	VLAN     int    `json:"vlan,omitempty"`
	VLANLink string `json:"vlan_link,omitempty"`
}

// Route is a static route; a zero-length To prefix is the default route.
type Route struct {
	To     netip.Prefix `json:"to"`
	Via    netip.Addr   `json:"via,omitempty"`
	Metric int          `json:"metric,omitempty"`
}

// MAC is a hardware address that reads and writes as text ("06:aa:bb:cc:dd:00"), so
// `firstboot inspect` shows it as people write it (net.HardwareAddr would be base64 in JSON).
type MAC net.HardwareAddr

func (m MAC) String() string { return net.HardwareAddr(m).String() }

// MarshalText writes the colon-separated form.
func (m MAC) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText reads any form net.ParseMAC accepts.
func (m *MAC) UnmarshalText(b []byte) error {
	hw, err := net.ParseMAC(string(b))
	if err != nil {
		return err
	}
	*m = MAC(hw)
	return nil
}

// ParseMAC reads a hardware address in any form net.ParseMAC accepts.
func ParseMAC(s string) (MAC, error) {
	hw, err := net.ParseMAC(s)
	return MAC(hw), err
}

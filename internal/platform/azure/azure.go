// Package azure reads an Azure VM's metadata from the Instance Metadata Service (IMDS).
//
// The fetch (fetch.go) reads one document, GET /metadata/instance?api-version=2021-02-01; the
// pure ParseInstance turns it into platform.Metadata.
//
// User-data is compute.userData (base64 in IMDS). Azure has a second, older channel,
// CustomData, which is NOT on IMDS: it is in ovf-env.xml on the provisioning media Azure
// attaches to the VM (a small UDF or ISO9660 disk). When UserData is nil the caller mounts that
// disk read-only, reads ovf-env.xml and calls ParseOVFEnv; this package does no mounting.
package azure

import (
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/etcd-appliance/appliance/internal/platform"
)

// Name is the platform's name in etcd.platform=.
const Name = "azure"

// instanceDoc is the part of /metadata/instance the appliance reads.
type instanceDoc struct {
	Compute struct {
		Name      string `json:"name"`
		OSProfile struct {
			ComputerName string `json:"computerName"`
		} `json:"osProfile"`
		VMID       string `json:"vmId"`
		UserData   string `json:"userData"`
		PublicKeys []struct {
			KeyData string `json:"keyData"`
		} `json:"publicKeys"`
	} `json:"compute"`
	Network struct {
		Interface []struct {
			IPv4       ipFamily `json:"ipv4"`
			IPv6       ipFamily `json:"ipv6"`
			MACAddress string   `json:"macAddress"`
		} `json:"interface"`
	} `json:"network"`
}

type ipFamily struct {
	IPAddress []struct {
		PrivateIPAddress string `json:"privateIpAddress"`
		PublicIPAddress  string `json:"publicIpAddress"` // "" when the address has none
	} `json:"ipAddress"`
}

// ParseInstance turns the /metadata/instance document into platform.Metadata.
//
// The hostname is compute.osProfile.computerName (the guest's host name as set at creation),
// else compute.name (the VM's resource name). Addresses are the interfaces' private addresses;
// their public addresses (IPv4 and IPv6) are NAT'd by Azure, on no interface of the VM, and
// are PublicAddresses. Azure configures interfaces
// with DHCP: Network lists them by MAC with DHCP on (DHCPv6 too where they have IPv6
// addresses) and no static addresses.
func ParseInstance(doc []byte) (*platform.Metadata, error) {
	var d instanceDoc
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("instance document: %w", err)
	}
	c := d.Compute
	md := &platform.Metadata{Platform: Name, InstanceID: c.VMID, Hostname: c.OSProfile.ComputerName}
	if md.InstanceID == "" {
		return nil, fmt.Errorf("instance document: compute.vmId: missing")
	}
	if md.Hostname == "" {
		md.Hostname = c.Name
	}
	if c.UserData != "" {
		ud, err := decodeBase64(c.UserData)
		if err != nil {
			return nil, fmt.Errorf("instance document: compute.userData: %w", err)
		}
		if len(ud) > 0 {
			md.UserData = ud
		}
	}
	for i, k := range c.PublicKeys {
		key := strings.TrimSpace(k.KeyData)
		if len(strings.Fields(key)) < 2 {
			return nil, fmt.Errorf("instance document: compute.publicKeys[%d].keyData: %q is not an OpenSSH public key", i, k.KeyData)
		}
		md.SSHKeys = append(md.SSHKeys, key)
	}
	for i, nic := range d.Network.Interface {
		field := fmt.Sprintf("instance document: network.interface[%d]", i)
		iface := platform.Interface{}
		if nic.MACAddress != "" {
			mac, err := parseMAC(nic.MACAddress)
			if err != nil {
				return nil, fmt.Errorf("%s.macAddress: %w", field, err)
			}
			iface.MAC = platform.MAC(mac)
		}
		for _, fam := range []struct {
			name string
			ips  ipFamily
			is4  bool
			dhcp *bool
		}{{"ipv4", nic.IPv4, true, &iface.DHCP4}, {"ipv6", nic.IPv6, false, &iface.DHCP6}} {
			for j, ip := range fam.ips.IPAddress {
				a, err := netip.ParseAddr(ip.PrivateIPAddress)
				if err != nil || a.Is4() != fam.is4 {
					return nil, fmt.Errorf("%s.%s.ipAddress[%d].privateIpAddress: %q is not an %s address", field, fam.name, j, ip.PrivateIPAddress, fam.name)
				}
				md.Addresses = append(md.Addresses, a)
				*fam.dhcp = true
				if ip.PublicIPAddress == "" {
					continue
				}
				pub, err := netip.ParseAddr(ip.PublicIPAddress)
				if err != nil || pub.Is4() != fam.is4 {
					return nil, fmt.Errorf("%s.%s.ipAddress[%d].publicIpAddress: %q is not an %s address", field, fam.name, j, ip.PublicIPAddress, fam.name)
				}
				md.PublicAddresses = append(md.PublicAddresses, pub)
			}
		}
		if md.Network == nil {
			md.Network = &platform.Network{}
		}
		md.Network.Interfaces = append(md.Network.Interfaces, iface)
	}
	return md, nil
}

// parseMAC reads Azure's MAC notation, twelve hex digits without separators
// ("000D3AD631EE"); the usual colon or dash forms are accepted too.
func parseMAC(s string) (net.HardwareAddr, error) {
	if len(s) == 12 && !strings.ContainsAny(s, ":-.") {
		s = s[0:2] + ":" + s[2:4] + ":" + s[4:6] + ":" + s[6:8] + ":" + s[8:10] + ":" + s[10:12]
	}
	mac, err := net.ParseMAC(s)
	if err == nil && len(mac) != 6 {
		err = fmt.Errorf("%q is not a 48-bit MAC address", s)
	}
	return mac, err
}

// decodeBase64 decodes standard base64, ignoring line breaks and surrounding blanks.
func decodeBase64(s string) ([]byte, error) {
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, s)
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("not valid base64: %w", err)
	}
	return b, nil
}

// ovfEnv is the part of ovf-env.xml that holds CustomData. Elements are matched by local name,
// whatever their namespace prefix (wa:, ns1:…).
type ovfEnv struct {
	XMLName      xml.Name `xml:"Environment"`
	Provisioning []struct {
		Linux []struct {
			CustomData *string `xml:"CustomData"`
		} `xml:"LinuxProvisioningConfigurationSet"`
	} `xml:"ProvisioningSection"`
}

// ParseOVFEnv returns the CustomData of an Azure ovf-env.xml (found on the provisioning media,
// not on IMDS), base64-decoded; nil when the VM was created without CustomData. Nothing else
// of the file (it also holds the admin user's name and possibly password) is read.
func ParseOVFEnv(doc []byte) (customData []byte, err error) {
	var env ovfEnv
	if err := xml.Unmarshal(doc, &env); err != nil {
		return nil, fmt.Errorf("ovf-env.xml: %w", err)
	}
	for _, p := range env.Provisioning {
		for _, l := range p.Linux {
			if l.CustomData == nil || strings.TrimSpace(*l.CustomData) == "" {
				continue
			}
			b, err := decodeBase64(*l.CustomData)
			if err != nil {
				return nil, fmt.Errorf("ovf-env.xml: ProvisioningSection/LinuxProvisioningConfigurationSet/CustomData: %w", err)
			}
			return b, nil
		}
	}
	return nil, nil
}

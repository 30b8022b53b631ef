package hetzner

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"testing"

	"github.com/etcd-appliance/appliance/internal/platform"
	"github.com/etcd-appliance/appliance/internal/platform/platformtest"
)

const fixtureKey = "ssh-ed25519 AAAAA3AAAA1AAAA1AAA5AAAAAA6AAAAAA3AAAAAAA/A4AAAAAA+AAAAA8A3AAA3AA8AA"

// fixtureMetadata is what hetzner/metadata.yaml with hetzner/private-networks.yaml say. The
// fixture's mac_address 00:00:00:00:00:00 is a placeholder that matches no link, so eth0 is
// matched by name.
func fixtureMetadata(t *testing.T, userData []byte) *platform.Metadata {
	return &platform.Metadata{
		Platform:   Name,
		InstanceID: "42",
		Hostname:   "my-server",
		Addresses: []netip.Addr{
			netip.MustParseAddr("1.2.3.4"),
			netip.MustParseAddr("a00:a0:a000:a000::1"),
			netip.MustParseAddr("10.0.0.2"),
			netip.MustParseAddr("10.128.0.2"),
		},
		SSHKeys:  []string{fixtureKey},
		UserData: userData,
		Network: &platform.Network{
			Interfaces: []platform.Interface{
				{
					Name:      "eth0",
					DHCP4:     true,
					Addresses: []netip.Prefix{netip.MustParsePrefix("a00:a0:a000:a000::1/64")},
					Routes:    []platform.Route{{To: netip.MustParsePrefix("::/0"), Via: netip.MustParseAddr("aa11::1")}},
				},
				{MAC: platformtest.MAC(t, "86:00:00:98:40:6e"), DHCP4: true},
				{MAC: platformtest.MAC(t, "86:00:00:98:40:6d"), DHCP4: true},
			},
			Nameservers: []netip.Addr{netip.MustParseAddr("a01:ff:ff00::add:2"), netip.MustParseAddr("a01:ff:ff00::add:1")},
		},
	}
}

func TestParseFixture(t *testing.T) {
	got, err := ParseMetadata(platformtest.Read(t, "hetzner/metadata.yaml"), platformtest.Read(t, "hetzner/private-networks.yaml"), nil)
	platformtest.CheckResult(t, got, err, fixtureMetadata(t, nil), "")
}

func TestParseNetworkConfigFixture(t *testing.T) {
	got, err := ParseNetworkConfig(platformtest.Read(t, "hetzner/network-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := &platform.Network{
		Interfaces: []platform.Interface{{
			Name:      "eth0",
			DHCP4:     true,
			Addresses: []netip.Prefix{netip.MustParsePrefix("1a00:20a0:a000:a000::1/64")},
			Routes:    []platform.Route{{To: netip.MustParsePrefix("::/0"), Via: netip.MustParseAddr("aa11::1")}},
		}},
		Nameservers: []netip.Addr{netip.MustParseAddr("1a01:30ff:ff00::add:2"), netip.MustParseAddr("1a01:30ff:ff00::add:1")},
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ")
		w, _ := json.MarshalIndent(want, "", "  ")
		t.Errorf("got\n%s\nwant\n%s", g, w)
	}
}

func TestParseMetadata(t *testing.T) {
	const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHh ops@example"
	base := "hostname: etcd-a\ninstance-id: 4124728\npublic-keys:\n- " + key + "\n"
	withNet := func(cfg string) string { return base + "network-config:\n" + cfg }
	eth0 := "  version: 1\n  config:\n  - type: physical\n    name: eth0\n    mac_address: 96:00:02:1a:2b:3c\n    subnets:\n"
	bare := func(edit func(*platform.Metadata)) *platform.Metadata {
		md := &platform.Metadata{Platform: Name, InstanceID: "4124728", Hostname: "etcd-a", SSHKeys: []string{key}}
		if edit != nil {
			edit(md)
		}
		return md
	}
	for _, tc := range []struct {
		name     string
		metadata string
		private  string
		userData string
		want     *platform.Metadata
		wantErr  string
	}{
		{name: "no network-config", metadata: base, want: bare(nil)},
		{name: "user-data", metadata: base, userData: "version: 1\n", want: bare(func(md *platform.Metadata) { md.UserData = []byte("version: 1\n") })},
		{name: "blank user-data is none", metadata: base, userData: "\n  \n", want: bare(nil)},
		{
			name:     "static IPv4 with netmask, dhcp6, nameserver entry",
			metadata: withNet(eth0 + "    - type: static\n      address: 192.0.2.10\n      netmask: 255.255.255.0\n      gateway: 192.0.2.1\n    - type: dhcp6\n  - type: nameserver\n    address: [185.12.64.1, 185.12.64.2]\n    search: [example.com]\n"),
			want: bare(func(md *platform.Metadata) {
				md.Addresses = []netip.Addr{netip.MustParseAddr("192.0.2.10")}
				md.Network = &platform.Network{
					Interfaces: []platform.Interface{{
						Name: "eth0", MAC: platformtest.MAC(t, "96:00:02:1a:2b:3c"), DHCP6: true,
						Addresses: []netip.Prefix{netip.MustParsePrefix("192.0.2.10/24")},
						Routes:    []platform.Route{{To: netip.MustParsePrefix("0.0.0.0/0"), Via: netip.MustParseAddr("192.0.2.1")}},
					}},
					Nameservers:   []netip.Addr{netip.MustParseAddr("185.12.64.1"), netip.MustParseAddr("185.12.64.2")},
					SearchDomains: []string{"example.com"},
				}
			}),
		},
		{
			name:     "private network with alias IPs",
			metadata: base,
			private:  "- ip: 10.0.0.2\n  alias_ips: [10.0.0.20, 10.0.0.21]\n  interface_num: 1\n  mac_address: 86:00:00:98:40:6e\n  network: 10.0.0.0/16\n  subnet: 10.0.0.0/24\n  gateway: 10.0.0.1\n",
			want: bare(func(md *platform.Metadata) {
				md.Addresses = []netip.Addr{netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.20"), netip.MustParseAddr("10.0.0.21")}
				md.Network = &platform.Network{Interfaces: []platform.Interface{{
					MAC: platformtest.MAC(t, "86:00:00:98:40:6e"), DHCP4: true,
					Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.20/32"), netip.MustParsePrefix("10.0.0.21/32")},
				}}}
			}),
		},
		{name: "empty private networks", metadata: base, private: "[]\n", want: bare(nil)},
		{name: "not YAML", metadata: "hostname: [", wantErr: "metadata: yaml:"},
		{name: "no instance-id", metadata: "hostname: etcd-a\n", wantErr: "metadata: instance-id: missing"},
		{name: "bad key", metadata: "instance-id: 1\npublic-keys: [AAAA]\n", wantErr: "metadata: public-keys[0]"},
		{name: "bad public-ipv4", metadata: base + "public-ipv4: 1.2.3\n", wantErr: "metadata: public-ipv4"},
		{name: "network-config v2", metadata: withNet("  version: 2\n  ethernets: {}\n"), wantErr: "metadata: network-config.version: 2, want 1"},
		{name: "bond", metadata: withNet("  version: 1\n  config:\n  - type: bond\n    name: bond0\n"), wantErr: `metadata: network-config.config[0].type: "bond" is not supported`},
		{name: "unmatched interface", metadata: withNet("  version: 1\n  config:\n  - type: physical\n"), wantErr: "network-config.config[0]: neither name nor mac_address"},
		{name: "bad mac", metadata: withNet("  version: 1\n  config:\n  - type: physical\n    mac_address: 96:00\n"), wantErr: "network-config.config[0].mac_address"},
		{name: "no prefix", metadata: withNet(eth0 + "    - type: static\n      address: 2a01:4f8::1\n"), wantErr: "network-config.config[0].subnets[0].address"},
		{name: "gateway family", metadata: withNet(eth0 + "    - type: static\n      address: 2a01:4f8::1/64\n      gateway: 172.31.1.1\n"), wantErr: "network-config.config[0].subnets[0].gateway"},
		{name: "unknown subnet type", metadata: withNet(eth0 + "    - type: ipv6_slaac\n"), wantErr: `network-config.config[0].subnets[0].type: "ipv6_slaac" is not supported`},
		{name: "bad nameserver", metadata: withNet(eth0 + "    - type: dhcp\n      dns_nameservers: [ns1.example]\n"), wantErr: "network-config.config[0].subnets[0].dns_nameservers[0]"},
		{name: "bad private mac", metadata: base, private: "- ip: 10.0.0.2\n  mac_address: x\n", wantErr: "private-networks[0].mac_address"},
		{name: "bad alias", metadata: base, private: "- ip: 10.0.0.2\n  mac_address: 86:00:00:98:40:6e\n  alias_ips: [fd00::1]\n", wantErr: "private-networks[0].alias_ips[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var private, userData []byte
			if tc.private != "" {
				private = []byte(tc.private)
			}
			if tc.userData != "" {
				userData = []byte(tc.userData)
			}
			got, err := ParseMetadata([]byte(tc.metadata), private, userData)
			platformtest.CheckResult(t, got, err, tc.want, tc.wantErr)
		})
	}
}

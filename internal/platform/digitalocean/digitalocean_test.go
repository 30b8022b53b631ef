package digitalocean

import (
	"net/netip"
	"testing"

	"github.com/etcd-appliance/appliance/internal/platform"
	"github.com/etcd-appliance/appliance/internal/platform/platformtest"
)

func TestParseFixture(t *testing.T) {
	got, err := ParseMetadata(platformtest.Read(t, "digitalocean/metadata-v1.json"))
	platformtest.CheckResult(t, got, err, fixtureMetadata(t), "")
}

// fixtureMetadata is what digitalocean/metadata-v1.json says.
func fixtureMetadata(t *testing.T) *platform.Metadata {
	return &platform.Metadata{
		Platform:   Name,
		InstanceID: "320206672",
		Hostname:   "debian-s-1vcpu-512mb-10gb-ams3-01",
		Addresses: []netip.Addr{
			netip.MustParseAddr("128.199.52.32"),
			netip.MustParseAddr("2a03:b0c0:2:d0::1478:3001"),
			netip.MustParseAddr("10.133.0.2"),
		},
		Network: &platform.Network{
			Interfaces: []platform.Interface{
				{
					MAC: platformtest.MAC(t, "12:2f:49:0c:eb:c0"),
					Addresses: []netip.Prefix{
						netip.MustParsePrefix("128.199.52.32/19"),
						netip.MustParsePrefix("2a03:b0c0:2:d0::1478:3001/64"),
					},
					Routes: []platform.Route{
						{To: netip.MustParsePrefix("0.0.0.0/0"), Via: netip.MustParseAddr("128.199.32.1")},
						{To: netip.MustParsePrefix("::/0"), Via: netip.MustParseAddr("2a03:b0c0:2:d0::1")},
					},
				},
				{
					MAC:       platformtest.MAC(t, "2a:3c:79:3d:f3:b7"),
					Addresses: []netip.Prefix{netip.MustParsePrefix("10.133.0.2/16")},
				},
			},
			Nameservers: []netip.Addr{netip.MustParseAddr("67.207.67.2"), netip.MustParseAddr("67.207.67.3")},
		},
	}
}

func TestParseMetadata(t *testing.T) {
	const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx ops@example"
	for _, tc := range []struct {
		name    string
		doc     string
		want    *platform.Metadata
		wantErr string
	}{
		{
			name: "user-data and keys, no interfaces",
			doc:  `{"droplet_id":1,"hostname":"etcd-a","user_data":"version: 1\n","public_keys":["` + key + `\n"]}`,
			want: &platform.Metadata{Platform: Name, InstanceID: "1", Hostname: "etcd-a", SSHKeys: []string{key}, UserData: []byte("version: 1\n")},
		},
		{
			name: "active reserved IP, under both names",
			doc:  `{"droplet_id":1,"reserved_ip":{"ipv4":{"active":true,"ip_address":"45.55.96.47"}},"floating_ip":{"ipv4":{"active":true,"ip_address":"45.55.96.47"}}}`,
			want: &platform.Metadata{Platform: Name, InstanceID: "1", PublicAddresses: platformtest.Addrs("45.55.96.47")},
		},
		{
			name: "inactive reserved IP",
			doc:  `{"droplet_id":1,"reserved_ip":{"ipv4":{"active":false,"ip_address":"45.55.96.47"}}}`,
			want: &platform.Metadata{Platform: Name, InstanceID: "1"},
		},
		{name: "bad reserved IP", doc: `{"droplet_id":1,"reserved_ip":{"ipv4":{"active":true,"ip_address":"2604:a880::1"}}}`, wantErr: `reserved_ip.ipv4.ip_address: "2604:a880::1" is not an IPv4 address`},
		{name: "no droplet_id", doc: `{"hostname":"etcd-a"}`, wantErr: "droplet_id: missing"},
		{name: "not JSON", doc: `<html>`, wantErr: "metadata/v1.json: invalid character"},
		{name: "bad key", doc: `{"droplet_id":1,"public_keys":["AAAA"]}`, wantErr: "public_keys[0]"},
		{name: "bad mac", doc: `{"droplet_id":1,"interfaces":{"public":[{"mac":"12:2f"}]}}`, wantErr: "interfaces.public[0].mac"},
		{
			name:    "bad netmask",
			doc:     `{"droplet_id":1,"interfaces":{"private":[{"mac":"2a:3c:79:3d:f3:b7","ipv4":{"ip_address":"10.0.0.2","netmask":"255.0.255.0"}}]}}`,
			wantErr: "interfaces.private[0].ipv4.netmask",
		},
		{
			name:    "bad ipv6 cidr",
			doc:     `{"droplet_id":1,"interfaces":{"public":[{"mac":"2a:3c:79:3d:f3:b7","ipv6":{"ip_address":"2a03::1","cidr":0}}]}}`,
			wantErr: "interfaces.public[0].ipv6.cidr",
		},
		{
			name:    "bad gateway",
			doc:     `{"droplet_id":1,"interfaces":{"public":[{"mac":"2a:3c:79:3d:f3:b7","ipv4":{"ip_address":"10.0.0.2","netmask":"255.255.255.0","gateway":"2a03::1"}}]}}`,
			wantErr: "interfaces.public[0].ipv4.gateway",
		},
		{name: "bad nameserver", doc: `{"droplet_id":1,"dns":{"nameservers":["ns1"]}}`, wantErr: "dns.nameservers[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseMetadata([]byte(tc.doc))
			platformtest.CheckResult(t, got, err, tc.want, tc.wantErr)
		})
	}
}

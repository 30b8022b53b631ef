package aws

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/etcd-appliance/appliance/internal/platform"
	"github.com/etcd-appliance/appliance/internal/platform/platformtest"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name    string
		docs    Documents
		want    *platform.Metadata
		wantErr string
	}{
		{
			name: "dual stack with keys and user-data",
			docs: Documents{
				InstanceID:    "i-0b22a22eec53b9321\n",
				LocalHostname: "ip-172-31-20-5.eu-west-1.compute.internal",
				LocalIPv4:     "172.31.20.5",
				IPv6:          "2a05:d018:1e3c:9e00:4a2f:1b6c:33d0:7f12",
				PublicIPv4:    "54.170.33.12\n",
				PublicKeys:    []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx etcd-admin\n"},
				UserData:      []byte("version: 1\n"),
			},
			want: &platform.Metadata{
				Platform:   Name,
				InstanceID: "i-0b22a22eec53b9321",
				Hostname:   "ip-172-31-20-5.eu-west-1.compute.internal",
				Addresses: []netip.Addr{
					netip.MustParseAddr("172.31.20.5"),
					netip.MustParseAddr("2a05:d018:1e3c:9e00:4a2f:1b6c:33d0:7f12"),
				},
				PublicAddresses: []netip.Addr{netip.MustParseAddr("54.170.33.12")},
				SSHKeys:         []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx etcd-admin"},
				UserData:        []byte("version: 1\n"),
			},
		},
		{
			name: "IPv6-only, nothing optional",
			docs: Documents{InstanceID: "i-0123", LocalHostname: "i-0123.eu-west-1.compute.internal", IPv6: "2a05:d018::5", UserData: []byte{}},
			want: &platform.Metadata{
				Platform: Name, InstanceID: "i-0123", Hostname: "i-0123.eu-west-1.compute.internal",
				Addresses: []netip.Addr{netip.MustParseAddr("2a05:d018::5")},
			},
		},
		{name: "no instance id", docs: Documents{LocalHostname: "h"}, wantErr: "meta-data/instance-id: empty"},
		{name: "bad local-ipv4", docs: Documents{InstanceID: "i-1", LocalIPv4: "172.31.20"}, wantErr: "meta-data/local-ipv4"},
		{name: "IPv6 in local-ipv4", docs: Documents{InstanceID: "i-1", LocalIPv4: "fd00::1"}, wantErr: "meta-data/local-ipv4: fd00::1 is not an IPv4 address"},
		{name: "IPv4 in ipv6", docs: Documents{InstanceID: "i-1", IPv6: "10.0.0.1"}, wantErr: "meta-data/ipv6: 10.0.0.1 is not an IPv6 address"},
		{name: "bad public-ipv4", docs: Documents{InstanceID: "i-1", PublicIPv4: "ec2-54-170-33-12"}, wantErr: "meta-data/public-ipv4"},
		{name: "IPv6 in public-ipv4", docs: Documents{InstanceID: "i-1", PublicIPv4: "2a05:d018::5"}, wantErr: "meta-data/public-ipv4: 2a05:d018::5 is not an IPv4 address"},
		{name: "garbage key", docs: Documents{InstanceID: "i-1", PublicKeys: []string{"nonsense"}}, wantErr: "meta-data/public-keys/0/openssh-key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.docs)
			platformtest.CheckResult(t, got, err, tc.want, tc.wantErr)
		})
	}
}

func TestParseKeyList(t *testing.T) {
	for _, tc := range []struct {
		body    string
		want    []int
		wantErr bool
	}{
		{"0=etcd-admin", []int{0}, false},
		{"0=etcd-admin\n1=backup\n", []int{0, 1}, false},
		{"", nil, false},
		{"etcd-admin", nil, true},
		{"x=etcd-admin", nil, true},
		{"0=", nil, true},
	} {
		got, err := parseKeyList([]byte(tc.body))
		if (err != nil) != tc.wantErr || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseKeyList(%q) = %v, %v; want %v, error %v", tc.body, got, err, tc.want, tc.wantErr)
		}
	}
}

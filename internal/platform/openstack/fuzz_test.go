package openstack

import (
	"testing"

	"github.com/etcd-appliance/appliance/internal/platform/platformtest"
)

// FuzzParse: no input panics the parser, and what it accepts is well formed.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"uuid": "u", "public_keys": {"a": "k"}, "keys": [{"type": "ssh", "data": "k"}]}`),
		[]byte(`{"links": [{"id": "a", "type": "phy"}, {"id": "b", "type": "bond", "bond_links": ["a"]}, {"id": "v", "type": "vlan", "vlan_id": 2, "vlan_link": "b"}],
		"networks": [{"type": "ipv4", "link": "v", "ip_address": "10.0.0.1", "netmask": "255.0.0.0", "routes": [{"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "10.0.0.2"}]}],
		"services": [{"type": "dns", "address": "10.0.0.3"}]}`))
	f.Fuzz(func(t *testing.T, metaData, networkData []byte) {
		md, err := Parse(metaData, networkData, nil)
		if err != nil {
			return
		}
		platformtest.CheckInvariants(t, md)
	})
}

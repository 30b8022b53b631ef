package nocloud

import (
	"testing"

	"github.com/etcd-appliance/appliance/internal/platform/platformtest"
)

// FuzzParse: no input panics the parser, and what it accepts is well formed.
func FuzzParse(f *testing.F) {
	f.Add([]byte("instance-id: i\npublic-keys: [a]\n"), []byte("version: 1\nconfig:\n- {type: physical, name: eth0, subnets: [{type: static, address: 10.0.0.1/24, gateway: 10.0.0.254}]}\n- {type: route, destination: 10.1.0.0/16, gateway: 10.0.0.9}\n"))
	f.Add([]byte("public-keys: {a: {b: c}}\n"), []byte("network:\n  version: 2\n  ethernets: {e: {match: {macaddress: '52:54:00:00:00:01'}, addresses: [10.0.0.1/24], routes: [{to: default, via: 10.0.0.2}]}}\n  bonds: {b: {interfaces: [e]}}\n  vlans: {v: {id: 3, link: b}}\n"))
	f.Add([]byte("a: &x [*x]\n"), []byte("version: 2\nethernets: &e {x: *e}\n"))
	f.Fuzz(func(t *testing.T, metaData, networkConfig []byte) {
		md, err := Parse(nil, metaData, networkConfig)
		if err != nil {
			return
		}
		platformtest.CheckInvariants(t, md)
	})
}

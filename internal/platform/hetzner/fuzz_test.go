package hetzner

import (
	"testing"

	"github.com/etcd-appliance/appliance/internal/platform/platformtest"
)

// FuzzParseMetadata: no metadata, private-networks or user-data document panics the parser;
// what it accepts is well formed.
func FuzzParseMetadata(f *testing.F) {
	f.Add([]byte("hostname: h\ninstance-id: 1\npublic-keys: [ssh-ed25519 AAAA]\nlocal-ipv4: ''\n"), []byte("- ip: 10.0.0.2\n  mac_address: '86:00:00:00:00:01'\n"), []byte("version: 1\n"))
	f.Add([]byte("network-config: {config: [{type: physical, mac_address: x, subnets: [{type: static, address: 1/2}]}]}\n"), []byte("[]"), []byte(nil))
	f.Fuzz(func(t *testing.T, metadata, privateNetworks, userData []byte) {
		md, err := ParseMetadata(metadata, privateNetworks, userData)
		if err != nil {
			return
		}
		platformtest.CheckInvariants(t, md)
	})
}

package digitalocean

import (
	"testing"

	"github.com/etcd-appliance/appliance/internal/platform/platformtest"
)

// FuzzParseMetadata: no metadata document panics the parser; what it accepts is well formed.
func FuzzParseMetadata(f *testing.F) {
	f.Add([]byte(`{"droplet_id":1,"hostname":"h","public_keys":["ssh-ed25519 AAAA"],"interfaces":{"public":[{"ipv4":{"ip_address":"192.0.2.1","netmask":"255.255.255.0","gateway":"192.0.2.254"},"mac":"52:54:00:00:00:01","type":"public"}]},"dns":{"nameservers":["192.0.2.53"]}}`))
	f.Add([]byte(`{"interfaces":{"private":[{"ipv4":{"ip_address":"x","netmask":"255.0.255.0"}}]}}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		md, err := ParseMetadata(doc)
		if err != nil {
			return
		}
		platformtest.CheckInvariants(t, md)
	})
}

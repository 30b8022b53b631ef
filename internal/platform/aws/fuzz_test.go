package aws

import (
	"testing"

	"github.com/etcd-appliance/appliance/internal/platform/platformtest"
)

// FuzzParse: no IMDS answers panic the parser; what it accepts is well formed.
func FuzzParse(f *testing.F) {
	f.Add("i-0123", "ip-10-0-0-2.ec2.internal", "10.0.0.2", "", "54.0.0.2", "ssh-ed25519 AAAA k", []byte("version: 1\n"))
	f.Add("", "", "", "2001:db8::2", "", "", []byte(nil))
	f.Fuzz(func(t *testing.T, id, hostname, ipv4, ipv6, public4, key string, userData []byte) {
		d := Documents{InstanceID: id, LocalHostname: hostname, LocalIPv4: ipv4, IPv6: ipv6, PublicIPv4: public4, UserData: userData}
		if key != "" {
			d.PublicKeys = []string{key}
		}
		md, err := Parse(d)
		if err != nil {
			return
		}
		platformtest.CheckInvariants(t, md)
	})
}

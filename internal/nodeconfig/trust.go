package nodeconfig

import (
	"errors"
	"fmt"
	"net/url"

	"github.com/etcd-appliance/appliance/config"
	"github.com/etcd-appliance/appliance/internal/fetch"
	"github.com/etcd-appliance/appliance/internal/pki"
)

// fetchTrust is what the node's fetches after the config is read trust and go through:
// trust.ca_certs and Ignition's certificateAuthorities (x, nil for a plain config) beside the
// system's roots, and network.proxy. config.Load checked both; an error here is a config built
// some other way.
func fetchTrust(c *config.Config, x *config.IgnitionExtras) (fetch.Trust, error) {
	var t fetch.Trust
	add := func(field string, pems []string) error {
		for i, p := range pems {
			certs, err := pki.ParseCertificates([]byte(p))
			if err != nil {
				return fmt.Errorf("%s[%d]: %w", field, i, err)
			}
			t.RootCAs = append(t.RootCAs, certs...)
		}
		return nil
	}
	if err := add("trust.ca_certs", c.Trust.CACerts); err != nil {
		return fetch.Trust{}, err
	}
	if x != nil {
		if err := add("ignition.security.tls.certificateAuthorities", x.CACerts); err != nil {
			return fetch.Trust{}, err
		}
	}
	if c.Network.Proxy != "" {
		u, err := url.Parse(c.Network.Proxy)
		if err == nil && u.Host == "" {
			err = errors.New("no host")
		}
		if err != nil {
			return fetch.Trust{}, fmt.Errorf("network.proxy: %w", err)
		}
		t.Proxy = u
	}
	return t, nil
}

// untrustedHint is what to do about a fetch error, when it is a server certificate from an
// unknown CA: ": add …", or "".
func untrustedHint(err error) string {
	if !fetch.UnknownAuthority(err) {
		return ""
	}
	return ": add the CA that signed the server's certificate to trust.ca_certs (or to ignition.security.tls.certificateAuthorities)"
}

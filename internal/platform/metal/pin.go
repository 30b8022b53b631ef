package metal

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/etcd-appliance/appliance/internal/fetch"
)

// CAArg is the kernel argument pinning the CA of the config URL's https server: the SHA-256
// of a certificate's DER. The config is fetched before trust.ca_certs can be read, so a
// private CA is named here.
const CAArg = "etcd.config.ca_sha256"

// ParseCAPin reads an etcd.config.ca_sha256= value: 64 hex digits as sha256sum prints them for
// the DER, or as openssl x509 -fingerprint -sha256 prints them (colon-separated), either with
// an optional sha256: before them.
func ParseCAPin(s string) ([sha256.Size]byte, error) {
	var pin [sha256.Size]byte
	digits := strings.ReplaceAll(strings.TrimPrefix(strings.ToLower(s), "sha256:"), ":", "")
	if len(digits) != 2*sha256.Size || !isHex(digits) {
		return pin, fmt.Errorf("%s=%s: expected the 64 hex digits of the SHA-256 of the CA certificate's DER: openssl x509 -in ca.pem -outform DER | sha256sum", CAArg, s)
	}
	hex.Decode(pin[:], []byte(digits)) // checked above
	return pin, nil
}

func isHex(s string) bool {
	return strings.Trim(s, "0123456789abcdef") == ""
}

// pinError is a server whose certificates fail the etcd.config.ca_sha256= pin.
type pinError struct{ err error }

func (e *pinError) Error() string { return e.err.Error() }
func (e *pinError) Unwrap() error { return e.err }

// verifyPinned checks the certificates a server presented (leaf first) for host: one of them
// must be the pinned certificate (its DER's SHA-256 is pin), and the leaf must verify up to it
// as the only root, for host (a DNS name or an IP address), at now. The system's roots play no
// part: the pin replaces them.
func verifyPinned(presented []*x509.Certificate, host string, pin [sha256.Size]byte, now time.Time) error {
	if len(presented) == 0 {
		return errors.New("the server presented no certificate")
	}
	roots, intermediates := x509.NewCertPool(), x509.NewCertPool()
	var found bool
	var names []string
	for i, c := range presented {
		sum := sha256.Sum256(c.Raw)
		names = append(names, fmt.Sprintf("%s (sha256 %x)", c.Subject, sum))
		switch {
		case sum == pin:
			roots.AddCert(c)
			found = true
		case i > 0:
			intermediates.AddCert(c)
		}
	}
	if !found {
		return fmt.Errorf("none of the certificates the server presented has SHA-256 %x: it presented %s", pin, strings.Join(names, ", "))
	}
	_, err := presented[0].Verify(x509.VerifyOptions{DNSName: host, Roots: roots, Intermediates: intermediates, CurrentTime: now})
	return err
}

// pinnedTransport reaches https servers whose chain holds the pinned certificate (verifyPinned),
// without a proxy. Each connection is dialled here because the check needs the host name the
// URL gives, which a TLS connection to an IP address does not carry.
func pinnedTransport(pin [sha256.Size]byte) *http.Transport {
	t := fetch.Trust{}.Transport()
	t.DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		d := &tls.Dialer{Config: &tls.Config{
			ServerName:         host,
			InsecureSkipVerify: true, // verified against the pin alone, below
			VerifyConnection: func(cs tls.ConnectionState) error {
				if err := verifyPinned(cs.PeerCertificates, host, pin, time.Now()); err != nil {
					return &pinError{err}
				}
				return nil
			},
		}}
		return d.DialContext(ctx, network, addr)
	}
	return t
}

// Package tlstest makes what tests of https fetches need: throw-away CAs, https servers whose
// certificates name a host (as real ones do, not an IP address), and a forward proxy that
// records what went through it.
package tlstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"
)

// CA is a certificate authority for one test.
type CA struct {
	Cert *x509.Certificate
	PEM  string // Cert as PEM, as trust.ca_certs takes it
	key  *ecdsa.PrivateKey
}

// NewCA makes a self-signed root CA.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	return issue(t, nil, &x509.Certificate{
		Subject: pkix.Name{CommonName: name}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	})
}

// Intermediate makes a CA signed by ca.
func (ca *CA) Intermediate(t testing.TB, name string) *CA {
	t.Helper()
	return issue(t, ca, &x509.Certificate{
		Subject: pkix.Name{CommonName: name}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	})
}

// SHA256 is the hex SHA-256 of the CA certificate's DER, as etcd.config.ca_sha256= takes it.
func (ca *CA) SHA256() string {
	sum := sha256.Sum256(ca.Cert.Raw)
	return hex.EncodeToString(sum[:])
}

// Leaf issues a server certificate for hosts (DNS names or IP addresses); chain is what the
// server sends after the leaf (intermediates, in order).
func (ca *CA) Leaf(t testing.TB, hosts []string, chain ...*CA) tls.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: hosts[0]},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	leaf := issue(t, ca, tmpl)
	c := tls.Certificate{Certificate: [][]byte{leaf.Cert.Raw}, PrivateKey: leaf.key, Leaf: leaf.Cert}
	for _, i := range chain {
		c.Certificate = append(c.Certificate, i.Cert.Raw)
	}
	return c
}

// issue signs tmpl with parent's key (nil: self-signed) for a fresh key.
func issue(t testing.TB, parent *CA, tmpl *x509.Certificate) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.Cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{Cert: cert, key: key, PEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
}

// Server starts an https server presenting cert and returns its base URL with the host name
// localhost, https://localhost:PORT: the certificate is checked against a name, as in
// production. It is closed when the test ends.
func Server(t testing.TB, cert tls.Certificate, h http.Handler) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are what tests expect
	srv.StartTLS()
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	return "https://localhost:" + port
}

// Proxy is a forward HTTP proxy: CONNECT tunnels (for https) and absolute-URI requests (for
// http). It records each request's target.
type Proxy struct {
	URL   *url.URL
	mu    sync.Mutex
	log   []string
	conns []net.Conn // tunnels' ends, closed when the test ends
}

// NewProxy starts a proxy, closed when the test ends.
func NewProxy(t testing.TB) *Proxy {
	t.Helper()
	p := &Proxy{}
	srv := httptest.NewServer(p)
	t.Cleanup(func() {
		srv.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range p.conns {
			c.Close()
		}
	})
	p.URL, _ = url.Parse(srv.URL)
	return p
}

// Seen lists the targets in order: "CONNECT host:port" or "GET http://host/path".
func (p *Proxy) Seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.log...)
}

func (p *Proxy) record(s string, conns ...net.Conn) {
	p.mu.Lock()
	p.log = append(p.log, s)
	p.conns = append(p.conns, conns...)
	p.mu.Unlock()
}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		p.record(r.Method + " " + r.URL.String())
		if !r.URL.IsAbs() {
			http.Error(w, "a proxy takes absolute URLs", http.StatusBadRequest)
			return
		}
		out := r.Clone(r.Context())
		out.RequestURI = ""
		resp, err := (&http.Transport{}).RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
		return
	}
	upstream, err := net.Dial("tcp", r.Host)
	if err != nil {
		p.record("CONNECT " + r.Host)
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		upstream.Close()
		return
	}
	p.record("CONNECT "+r.Host, conn, upstream)
	conn.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n"))
	go func() {
		io.Copy(upstream, buf.Reader) // what the client already sent is in buf
		upstream.Close()
	}()
	io.Copy(conn, upstream)
	conn.Close()
	upstream.Close()
}

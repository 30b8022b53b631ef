package member

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/tlsutil"
	"go.etcd.io/etcd/client/pkg/v3/transport"

	"github.com/etcd-appliance/appliance/config"
	"github.com/etcd-appliance/appliance/internal/pki"
)

// etcd's own peer listener (client/pkg/transport, what --peer-cert-allowed-cn configures)
// with the environment Env writes: a member's peer certificate gets in, a client bundle of the
// same CA does not, and neither does TLS 1.2.
func TestPeerPortRefusesClientBundles(t *testing.T) {
	now := time.Now()
	caPEM, caKeyPEM, err := pki.NewCA("cluster CA", now)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.LoadCA(caPEM, caKeyPEM, now)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	peerPair := func(name string) tls.Certificate {
		key, _ := pki.NewKey()
		cert, err := ca.IssuePeer(pki.Identity{Name: name, IPs: nil}, key.Public(), now)
		if err != nil {
			t.Fatal(err)
		}
		keyPEM, _ := pki.EncodeKey(key)
		write(name+".crt", cert)
		write(name+".key", keyPEM)
		pair, err := tls.X509KeyPair(cert, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return pair
	}
	peerPair("etcd-a")
	peerB := peerPair("etcd-b")
	clientCert, clientKey, err := ca.NewClient("ops", now)
	if err != nil {
		t.Fatal(err)
	}
	bundle, _ := tls.X509KeyPair(clientCert, clientKey)

	env := Env(Spec{Self: Self{Name: "etcd-a"}, Config: &config.Config{}, PeerAllowedCN: pki.PeerCN,
		Files: Files{DataDir: dir, CA: write("ca.crt", caPEM), Key: filepath.Join(dir, "etcd-a.key"), Peer: filepath.Join(dir, "etcd-a.crt")}})
	if env["ETCD_PEER_CERT_ALLOWED_CN"] != pki.PeerCN || env["ETCD_TLS_MIN_VERSION"] != "TLS1.3" {
		t.Fatalf("env: allowed CN %q, TLS min %q", env["ETCD_PEER_CERT_ALLOWED_CN"], env["ETCD_TLS_MIN_VERSION"])
	}
	// as etcd reads its flags: the version through its own parser
	minVersion, err := tlsutil.GetTLSVersion(env["ETCD_TLS_MIN_VERSION"])
	if err != nil {
		t.Fatal(err)
	}
	info := transport.TLSInfo{CertFile: env["ETCD_PEER_CERT_FILE"], KeyFile: env["ETCD_PEER_KEY_FILE"],
		TrustedCAFile: env["ETCD_PEER_TRUSTED_CA_FILE"], ClientCertAuth: true,
		AllowedCNs: []string{env["ETCD_PEER_CERT_ALLOWED_CN"]}, MinVersion: minVersion}
	sc, err := info.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", sc)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				c.(*tls.Conn).Handshake()
				c.Write([]byte("x"))
				c.Close()
			}()
		}
	}()
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	for _, tc := range []struct {
		name string
		cert tls.Certificate
		max  uint16
		want bool
	}{
		{"a member's peer certificate", peerB, 0, true},
		{"a client bundle of the same CA", bundle, 0, false},
		{"a peer certificate over TLS 1.2", peerB, tls.VersionTLS12, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", l.Addr().String(),
				&tls.Config{RootCAs: roots, ServerName: "etcd-a", Certificates: []tls.Certificate{tc.cert}, MaxVersion: tc.max})
			if err == nil {
				// TLS 1.3: the server's verdict on the client certificate arrives with the first read
				_, err = c.Read(make([]byte, 1))
				c.Close()
			}
			if (err == nil) != tc.want {
				t.Errorf("accepted = %v (%v), want %v", err == nil, err, tc.want)
			}
		})
	}
}

package pki

import (
	"crypto"
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"
)

// handshake runs a mutual-TLS connection over loopback with the settings etcd runs with
// (--client-cert-auth, TLS 1.2 at least) and returns what each side saw.
func handshake(t *testing.T, server tls.Certificate, client *tls.Certificate, serverName string, ca *CA) (clientCN string, serverErr, clientErr error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	deadline := time.Now().Add(10 * time.Second) // a bound on a broken test, not a wait

	type result struct {
		cn  string
		err error
	}
	done := make(chan result, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		conn.SetDeadline(deadline)
		s := tls.Server(conn, &tls.Config{
			Certificates: []tls.Certificate{server},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    poolOf(t, ca.CertPEM),
			MinVersion:   tls.VersionTLS12,
			Time:         func() time.Time { return t0 },
		})
		defer s.Close()
		var r result
		if r.err = s.Handshake(); r.err == nil {
			r.cn = s.ConnectionState().PeerCertificates[0].Subject.CommonName
			_, r.err = s.Write([]byte("ok"))
		}
		done <- r
	}()

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(deadline)
	c := tls.Client(conn, &tls.Config{
		// Go's client would hold back a certificate the server's CA list does not name; other
		// clients send whatever they have, so the server's own check is what is tested.
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if client == nil {
				return &tls.Certificate{}, nil
			}
			return client, nil
		},
		RootCAs:    poolOf(t, ca.CertPEM),
		ServerName: serverName,
		MinVersion: tls.VersionTLS12,
	})
	// With TLS 1.3 the server refuses a client certificate after the client's handshake is
	// done, so the client learns of it only when it reads.
	if clientErr = c.Handshake(); clientErr == nil {
		_, clientErr = io.ReadFull(c, make([]byte, 2))
	}
	c.Close()
	r := <-done
	return r.cn, r.err, clientErr
}

func TestMutualTLS(t *testing.T) {
	ca := newTestCA(t, "cluster CA", t0)
	other := newTestCA(t, "other CA", t0)
	keyPair := func(issue func(crypto.PublicKey) ([]byte, error)) tls.Certificate {
		certPEM, keyPEM := newPair(t, issue)
		kp, err := tls.X509KeyPair(certPEM, keyPEM) // as etcd loads its files
		if err != nil {
			t.Fatal(err)
		}
		return kp
	}
	server := keyPair(func(pub crypto.PublicKey) ([]byte, error) { return ca.IssueServer(memberA, pub, t0) })
	peer := keyPair(func(pub crypto.PublicKey) ([]byte, error) { return ca.IssuePeer(memberA, pub, t0) })
	alice := keyPair(func(pub crypto.PublicKey) ([]byte, error) { return ca.IssueClient("alice", pub, t0) })
	mallory := keyPair(func(pub crypto.PublicKey) ([]byte, error) { return other.IssueClient("mallory", pub, t0) })

	tests := []struct {
		name       string
		server     tls.Certificate
		client     *tls.Certificate
		serverName string
		wantCN     string // "" means the handshake must fail
		refusedBy  string // "server" or "client"
	}{
		{name: "client certificate, by member name", server: server, client: &alice, serverName: "etcd-a", wantCN: "alice"},
		{name: "client certificate, by localhost", server: server, client: &alice, serverName: "localhost", wantCN: "alice"},
		{name: "client certificate, by IP", server: server, client: &alice, serverName: "127.0.0.1", wantCN: "alice"},
		{name: "server certificate as client (gRPC gateway)", server: server, client: &server, serverName: "localhost", wantCN: "etcd-a"},
		{name: "peer to peer", server: peer, client: &peer, serverName: "10.0.0.5", wantCN: PeerCN},
		{name: "client certificate from another CA", server: server, client: &mallory, serverName: "etcd-a", refusedBy: "server"},
		{name: "no client certificate", server: server, serverName: "etcd-a", refusedBy: "server"},
		{name: "name not in the server certificate", server: server, client: &alice, serverName: "etcd-b", refusedBy: "client"},
		{name: "peer certificate has no localhost", server: peer, client: &peer, serverName: "localhost", refusedBy: "client"},
		{name: "client certificate cannot serve", server: alice, client: &alice, serverName: "alice", refusedBy: "client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cn, serverErr, clientErr := handshake(t, tt.server, tt.client, tt.serverName, ca)
			if tt.refusedBy == "" {
				if serverErr != nil || clientErr != nil {
					t.Fatalf("handshake failed: server: %v, client: %v", serverErr, clientErr)
				}
				if cn != tt.wantCN {
					t.Errorf("server saw client %q, want %q", cn, tt.wantCN)
				}
				return
			}
			if serverErr == nil || clientErr == nil {
				t.Fatalf("handshake succeeded: server: %v, client: %v", serverErr, clientErr)
			}
			// The refusing side fails on its own check; the other only sees the alert.
			refusal := serverErr
			if tt.refusedBy == "client" {
				refusal = clientErr
			}
			if _, ok := refusal.(*tls.CertificateVerificationError); !ok && tt.client != nil {
				t.Errorf("%s error %v is not a certificate verification failure", tt.refusedBy, refusal)
			}
		})
	}
}

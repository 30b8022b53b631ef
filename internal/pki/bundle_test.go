package pki

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto"
	"io"
	"strings"
	"testing"
	"time"
)

func TestWriteBundle(t *testing.T) {
	ca := newTestCA(t, "cluster CA", t0)
	cert, key := newPair(t, func(pub crypto.PublicKey) ([]byte, error) { return ca.IssueClient("alice", pub, t0) })
	b := Bundle{
		Name: "alice", CACert: ca.CertPEM, Cert: cert, Key: key,
		Endpoints: []string{"https://10.0.0.5:2379", "https://10.0.0.6:2379"},
		Now:       t0.Add(1500 * time.Millisecond),
	}
	var first, second bytes.Buffer
	if err := WriteBundle(&first, b); err != nil {
		t.Fatal(err)
	}
	if err := WriteBundle(&second, b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.Bytes(), second.Bytes()) {
		t.Error("two bundles of the same input differ")
	}

	type entry struct {
		name string
		mode int64
		data string
	}
	var got []entry
	gz, err := gzip.NewReader(bytes.NewReader(first.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Gid != 0 || !h.ModTime.Equal(t0.Add(time.Second)) {
			t.Errorf("%s: owner %d:%d, mtime %s; want 0:0 and %s", h.Name, h.Uid, h.Gid, h.ModTime, t0.Add(time.Second))
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, entry{h.Name, h.Mode, string(data)})
	}

	exportLine := "export ETCDCTL_ENDPOINTS=https://10.0.0.5:2379,https://10.0.0.6:2379 ETCDCTL_CACERT=$PWD/ca.crt ETCDCTL_CERT=$PWD/client.crt ETCDCTL_KEY=$PWD/client.key\n"
	want := []entry{
		{"alice/", 0o755, ""},
		{"alice/README", 0o644, ""}, // checked below
		{"alice/ca.crt", 0o644, string(ca.CertPEM)},
		{"alice/client.crt", 0o644, string(cert)},
		{"alice/client.key", 0o600, string(key)},
	}
	if len(got) != len(want) {
		t.Fatalf("archive holds %v, want %v", got, want)
	}
	for i, w := range want {
		g := got[i]
		if g.name != w.name || g.mode != w.mode || (w.name != "alice/README" && g.data != w.data) {
			t.Errorf("entry %d: %s %o (%d bytes), want %s %o (%d bytes)", i, g.name, g.mode, len(g.data), w.name, w.mode, len(w.data))
		}
	}
	readme := got[1].data
	for _, s := range []string{`for "alice"`, "valid until 2027-03-01", "\n  " + exportLine, "\n  etcdctl endpoint health\n"} {
		if !strings.Contains(readme, s) {
			t.Errorf("README lacks %q:\n%s", s, readme)
		}
	}
}

func TestWriteBundleRefuses(t *testing.T) {
	ca := newTestCA(t, "cluster CA", t0)
	cert, key := newPair(t, func(pub crypto.PublicKey) ([]byte, error) { return ca.IssueClient("alice", pub, t0) })
	tests := []struct {
		name    string
		b       Bundle
		wantErr string
	}{
		{name: "empty name", b: Bundle{CACert: ca.CertPEM, Cert: cert, Key: key}, wantErr: `"" cannot be a directory name`},
		{name: "path in name", b: Bundle{Name: "../alice", CACert: ca.CertPEM, Cert: cert, Key: key}, wantErr: `"../alice" cannot be a directory name`},
		{name: "dot-dot", b: Bundle{Name: "..", CACert: ca.CertPEM, Cert: cert, Key: key}, wantErr: "cannot be a directory name"},
		{name: "key as certificate", b: Bundle{Name: "alice", CACert: ca.CertPEM, Cert: key, Key: key}, wantErr: "client certificate: PEM block 1 is a \"PRIVATE KEY\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := WriteBundle(io.Discard, tt.b)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

package pki

import (
	"archive/tar"
	"compress/gzip"
	"fmt"
	"io"
	"strings"
	"time"
)

// Bundle is what an operator needs to reach the cluster with etcdctl.
type Bundle struct {
	Name      string   // client name: the certificate's CN and the directory in the archive
	CACert    []byte   // PEM of the cluster CA
	Cert, Key []byte   // PEM client certificate and key
	Endpoints []string // client URLs, e.g. https://10.0.0.5:2379
	Now       time.Time
}

// WriteBundle writes b as a gzip'd tar of the directory <Name>/ holding ca.crt, client.crt,
// client.key and a README. The same bundle gives the same bytes: every entry is dated b.Now
// and owned by 0:0, so a rerun does not look like new credentials.
func WriteBundle(w io.Writer, b Bundle) error {
	if b.Name == "" || b.Name == "." || b.Name == ".." || strings.ContainsAny(b.Name, "/\\\x00") {
		return fmt.Errorf("client bundle: %q cannot be a directory name", b.Name)
	}
	certs, err := ParseCertificates(b.Cert)
	if err != nil {
		return fmt.Errorf("client bundle: client certificate: %w", err)
	}
	mtime := b.Now.UTC().Truncate(time.Second)
	files := []struct {
		name string
		mode int64
		data []byte
	}{ // sorted by name
		{"README", 0o644, readme(b, certs[0].NotAfter)},
		{"ca.crt", 0o644, b.CACert},
		{"client.crt", 0o644, b.Cert},
		{"client.key", 0o600, b.Key},
	}

	gz := gzip.NewWriter(w)
	gz.ModTime = mtime
	tw := tar.NewWriter(gz)
	err = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: b.Name + "/", Mode: 0o755, ModTime: mtime, Format: tar.FormatPAX})
	for _, f := range files {
		if err == nil {
			err = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: b.Name + "/" + f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: mtime, Format: tar.FormatPAX})
		}
		if err == nil {
			_, err = tw.Write(f.data)
		}
	}
	if err == nil {
		err = tw.Close()
	}
	if err == nil {
		err = gz.Close()
	}
	if err != nil {
		return fmt.Errorf("client bundle: %w", err)
	}
	return nil
}

func readme(b Bundle, expires time.Time) []byte {
	endpoints := strings.Join(b.Endpoints, ",")
	if endpoints == "" {
		endpoints = "https://NODE-ADDRESS:2379"
	}
	return fmt.Appendf(nil, `etcd client credentials for %q

  ca.crt      the cluster CA: etcdctl checks the members against it
  client.crt  the client certificate, valid until %s
  client.key  its private key: keep it secret

Use them from this directory:

  export ETCDCTL_ENDPOINTS=%s ETCDCTL_CACERT=$PWD/ca.crt ETCDCTL_CERT=$PWD/client.crt ETCDCTL_KEY=$PWD/client.key
  etcdctl endpoint health
`, b.Name, expires.UTC().Format(dateFmt), endpoints)
}

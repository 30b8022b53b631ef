package image

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// Paths of the public root certificates. Go's crypto/x509 reads caBundle first; OpenSSL's
// compiled-in default is /usr/lib/ssl/cert.pem and /usr/lib/ssl/certs, linked to it as the
// openssl package (not in the image) would.
const (
	caBundle     = "etc/ssl/certs/ca-certificates.crt"
	caSourceDir  = "usr/share/ca-certificates"
	resolvConf   = "etc/resolv.conf"
	resolvedStub = "../run/systemd/resolve/stub-resolv.conf"
)

// writeCABundle does what ca-certificates' maintainer script (update-ca-certificates) does on
// a package-managed system, which never runs here: it concatenates the package's Mozilla
// roots, in name order so rebuilds are identical, into the bundle every TLS client reads. The
// sources are then dropped: the bundle holds them all.
func writeCABundle(dir string) error {
	certs, err := filepath.Glob(filepath.Join(dir, caSourceDir, "mozilla", "*.crt"))
	if err != nil {
		return err
	}
	if len(certs) == 0 {
		return fmt.Errorf("CA bundle: no certificates under %s: is ca-certificates in the package lock?", caSourceDir)
	}
	sort.Strings(certs)
	var bundle bytes.Buffer
	for _, c := range certs {
		b, err := os.ReadFile(c)
		if err != nil {
			return fmt.Errorf("CA bundle: %w", err)
		}
		bundle.Write(b)
		if !bytes.HasSuffix(b, []byte("\n")) {
			bundle.WriteByte('\n')
		}
	}
	out := filepath.Join(dir, caBundle)
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(out, bundle.Bytes(), 0o644); err != nil {
		return fmt.Errorf("CA bundle: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "usr/lib/ssl"), 0o755); err != nil {
		return err
	}
	for link, target := range map[string]string{"usr/lib/ssl/cert.pem": "/" + caBundle, "usr/lib/ssl/certs": "/etc/ssl/certs"} {
		if err := replaceWithSymlink(filepath.Join(dir, link), target); err != nil {
			return fmt.Errorf("CA bundle: %w", err)
		}
	}
	return os.RemoveAll(filepath.Join(dir, caSourceDir))
}

// linkResolvConf points /etc/resolv.conf at systemd-resolved's stub file (its package's
// maintainer script does the same): the stub resolver on 127.0.0.53 with the search domains,
// right for glibc and Go alike, and refreshed by resolved as DHCP and firstboot add servers.
func linkResolvConf(dir string) error {
	return replaceWithSymlink(filepath.Join(dir, resolvConf), resolvedStub)
}

func replaceWithSymlink(path, target string) error {
	if err := os.RemoveAll(path); err != nil {
		return err
	}
	return os.Symlink(target, path)
}

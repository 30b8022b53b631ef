package snapshot

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/etcd-appliance/appliance/internal/fetch"
)

// ChecksumError is a downloaded snapshot whose sha256 is not the configured one.
type ChecksumError struct {
	Source, Want, Got string
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("restore.sha256: the snapshot at %s has sha256 %s, not %s: publish the right snapshot or correct restore.sha256 (sha256sum prints it); nothing was restored", e.Source, e.Got, e.Want)
}

// Fetch downloads the snapshot at source (an http(s) or file URL, through internal/fetch, with
// trust's roots and proxy) into dir and checks its sha256 against want before returning its
// path.
func Fetch(ctx context.Context, trust fetch.Trust, source, want, dir string) (string, error) {
	dst := filepath.Join(dir, "restore.db")
	// the snapshot is used as it is: fetch never unpacks
	if err := fetch.New(fetch.Options{Trust: trust}).File(ctx, source, dst); err != nil {
		hint := ""
		if fetch.UnknownAuthority(err) {
			hint = ": add the CA that signed the server's certificate to trust.ca_certs"
		}
		return "", fmt.Errorf("restore.source %s: %w%s", source, err, hint)
	}
	got, _, err := FileSHA256(dst)
	if err != nil {
		return "", err
	}
	if got != want {
		os.Remove(dst)
		return "", &ChecksumError{Source: source, Want: want, Got: got}
	}
	return dst, nil
}

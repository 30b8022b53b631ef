package metal

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/etcd-appliance/appliance/internal/fetch"
	getter "github.com/hashicorp/go-getter/v2"
)

// once makes one download attempt into a fresh temporary directory and returns the file; next
// makes the HTTP requests.
func (o Options) once(ctx context.Context, rawURL string, next http.RoundTripper) ([]byte, error) {
	timeout := o.AttemptTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	if u, err := url.Parse(rawURL); err == nil && u.Scheme == "file" {
		if _, err := os.Stat(u.Path); errors.Is(err, fs.ErrNotExist) {
			return nil, &permanentError{
				msg: fmt.Sprintf("%s=%s: %s does not exist: put the config there or correct the %s= kernel argument", KernelArg, redact(rawURL), u.Path, KernelArg),
				err: err,
			}
		}
	}

	dir, err := os.MkdirTemp(o.TempDir, "etcd-config-")
	if err != nil {
		return nil, &permanentError{msg: fmt.Sprintf("%s: making a download directory: %v", KernelArg, err), err: err}
	}
	defer os.RemoveAll(dir)
	dst := filepath.Join(dir, "config")

	hc := &http.Client{}
	if o.HTTPClient != nil {
		*hc = *o.HTTPClient
	}
	rec := &statusRecorder{next: next}
	hc.Transport = rec
	if err := fetch.New(fetch.Options{HTTPClient: hc, MaxBytes: maxBytes}).File(ctx, rawURL, dst); err != nil {
		return nil, classify(rawURL, rec.status(), err)
	}
	data, err := os.ReadFile(dst)
	if err != nil {
		return nil, fmt.Errorf("reading the download: %w", err)
	}
	if len(data) == 0 {
		return nil, &permanentError{msg: fmt.Sprintf("%s=%s: the config is empty: put the cluster config at the URL or correct the %s= kernel argument", KernelArg, redact(rawURL), KernelArg)}
	}
	return data, nil
}

// classify turns a go-getter error into a permanent error where retrying cannot help.
// status is the last HTTP status seen (0: none).
func classify(rawURL string, status int, err error) error {
	shown := redact(rawURL)
	var tl *fetch.TooLargeError
	if errors.As(err, &tl) {
		return &permanentError{msg: fmt.Sprintf("%s=%s: the config is larger than %d bytes: is the URL right?", KernelArg, shown, tl.Max), err: err}
	}
	if errors.Is(err, fetch.ErrSymlink) {
		return &permanentError{msg: fmt.Sprintf("%s=%s: the file is a symlink, which is not followed: point the URL at the file itself", KernelArg, shown), err: err}
	}
	var pe *pinError
	if errors.As(err, &pe) {
		return &permanentError{
			msg: fmt.Sprintf("%s=%s: the server's certificate fails %s=: %v: give the SHA-256 of the DER of the CA certificate that signed the server's (openssl x509 -in ca.pem -outform DER | sha256sum), or correct the URL",
				KernelArg, shown, CAArg, pe.err),
			err: err,
		}
	}
	if fetch.Untrusted(err) {
		return &permanentError{
			msg: fmt.Sprintf("%s=%s: %v: the config is fetched before trust.ca_certs is read, so only the image's public CAs are trusted: pin a private CA with %s=<SHA-256 of its certificate's DER>, or use a certificate from a public CA",
				KernelArg, shown, err, CAArg),
			err: err,
		}
	}
	var ce *getter.ChecksumError
	if errors.As(err, &ce) {
		typ := checksumType(rawURL)
		if typ == "" {
			typ = "checksum"
		}
		return &permanentError{
			msg: fmt.Sprintf("%s=%s: checksum mismatch: expected %s:%s, got %s:%s: the file at the URL is not the one the checksum names; publish the right file or correct checksum= in the %s= kernel argument",
				KernelArg, shown, typ, hex.EncodeToString(ce.Expected), typ, hex.EncodeToString(ce.Actual), KernelArg),
			err: err,
		}
	}
	switch {
	case status == http.StatusNotFound || status == http.StatusGone:
		return &permanentError{
			msg: fmt.Sprintf("%s=%s: not found (HTTP %d): put the config at that URL or correct the %s= kernel argument", KernelArg, shown, status, KernelArg),
			err: err,
		}
	case status >= 400 && status < 500 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests:
		return &permanentError{
			msg: fmt.Sprintf("%s=%s: the server refused (HTTP %d %s): make the config readable at that URL without credentials, or correct the %s= kernel argument", KernelArg, shown, status, http.StatusText(status), KernelArg),
			err: err,
		}
	}
	return err
}

// statusRecorder remembers the status of the last HTTP answer, since go-getter reports a bad
// status only as text.
type statusRecorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	last int
}

func (r *statusRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err == nil {
		r.mu.Lock()
		r.last = resp.StatusCode
		r.mu.Unlock()
	}
	return resp, err
}

func (r *statusRecorder) status() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

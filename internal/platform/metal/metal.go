// Package metal fetches the cluster config of a bare-metal machine from the URL in the
// etcd.config.url= kernel argument, with go-getter restricted to http, https and file. A
// checksum=sha256:… query (go-getter's checksum parameter) is verified. An https server is
// verified against the system's roots, or, with etcd.config.ca_sha256=, against the pinned
// certificate alone; no proxy is used (network.proxy is in the config being fetched). Failed
// fetches are retried with backoff while the network comes up; a checksum mismatch, a missing
// file or an untrusted certificate is not.
package metal

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/etcd-appliance/appliance/internal/fetch"
	"github.com/etcd-appliance/appliance/internal/platform"
)

const (
	// Name is the platform's name on the kernel command line (etcd.platform=metal).
	Name = "metal"
	// KernelArg is the kernel argument holding the config URL.
	KernelArg = "etcd.config.url"

	maxBytes = 16 << 20 // a config larger than this is a mistake
)

// Options are the knobs of a fetch; the zero value is the production behaviour.
type Options struct {
	Backoff    time.Duration // first wait between attempts; 0: 500 ms
	MaxBackoff time.Duration // the wait doubles up to this; 0: 10 s
	// AttemptTimeout bounds one attempt; 0: 30 s.
	AttemptTimeout time.Duration
	// TempDir is where each attempt downloads to (a fresh directory inside, removed after);
	// "": os.TempDir().
	TempDir string
	// HTTPClient is used for http and https; nil: a client with the system's roots and no
	// proxy. Its Transport is wrapped, never changed; CASHA256, when set, replaces it.
	HTTPClient *http.Client
	// CASHA256 is etcd.config.ca_sha256= (ParseCAPin); "": the system's roots.
	CASHA256 string
	// Logf, if set, is told about each failed attempt that will be retried.
	Logf func(format string, args ...any)
}

// Fetch is Options{}.Fetch.
func Fetch(ctx context.Context, rawURL string) (*platform.Metadata, error) {
	return Options{}.Fetch(ctx, rawURL)
}

// Fetch downloads the config at rawURL and returns it as UserData. It retries until ctx ends,
// except on errors that retrying cannot fix (bad URL, checksum mismatch, HTTP 404 or another
// client error, missing file, empty config).
func (o Options) Fetch(ctx context.Context, rawURL string) (*platform.Metadata, error) {
	if err := CheckURL(rawURL); err != nil {
		return nil, err
	}
	// one transport for all attempts; one fetch per boot, so its connections are closed after
	var next http.RoundTripper
	switch {
	case o.CASHA256 != "":
		pin, err := ParseCAPin(o.CASHA256)
		if err != nil {
			return nil, err
		}
		// a pin on a plain-http or file URL would verify nothing: the config (with the CA
		// key, perhaps) would come in unauthenticated while the command line says otherwise
		if u, err := url.Parse(rawURL); err != nil || u.Scheme != "https" {
			return nil, fmt.Errorf("%s= pins the CA of an https server, but %s=%s is not https: use an https:// URL, or drop the pin", CAArg, KernelArg, rawURL)
		}
		t := pinnedTransport(pin)
		defer t.CloseIdleConnections()
		next = t
	case o.HTTPClient != nil && o.HTTPClient.Transport != nil:
		next = o.HTTPClient.Transport
	default:
		t := fetch.Trust{}.Transport()
		defer t.CloseIdleConnections()
		next = t
	}
	wait, maxWait := o.Backoff, o.MaxBackoff
	if wait <= 0 {
		wait = 500 * time.Millisecond
	}
	if maxWait <= 0 {
		maxWait = 10 * time.Second
	}
	start := time.Now()
	var last error // the last failure not caused by ctx ending: the one worth reporting
	for attempt := 1; ; attempt++ {
		data, err := o.once(ctx, rawURL, next)
		if err == nil {
			return &platform.Metadata{Platform: Name, UserData: data}, nil
		}
		var perm *permanentError
		if errors.As(err, &perm) {
			return nil, err
		}
		if ctx.Err() != nil {
			if last == nil {
				last = err
			}
			return nil, gaveUp(rawURL, attempt, time.Since(start), last)
		}
		last = err
		if o.Logf != nil {
			o.Logf("%s=%s: attempt %d failed, retrying in %s: %v", KernelArg, redact(rawURL), attempt, wait, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, gaveUp(rawURL, attempt, time.Since(start), last)
		case <-t.C:
		}
		wait = min(2*wait, maxWait)
	}
}

func gaveUp(rawURL string, attempts int, took time.Duration, last error) error {
	return fmt.Errorf("%s=%s: no config after %d attempts in %s (last error: %w): check that this machine's network is up and reaches the URL, or correct the %s= kernel argument",
		KernelArg, redact(rawURL), attempts, took.Round(time.Millisecond), last, KernelArg)
}

// permanentError is a failure retrying cannot fix; its message is complete (argument, cause, fix).
type permanentError struct {
	msg string
	err error
}

func (e *permanentError) Error() string { return e.msg }
func (e *permanentError) Unwrap() error { return e.err }

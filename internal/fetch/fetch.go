// Package fetch downloads one file from a URL with go-getter, locked down to what the node
// needs: http, https and file URLs only (no git, hg, s3, gcs or smb, also not by forcing a
// getter with "git::"), no X-Terraform-Get redirection, no unpacking of archives, and never
// a symlink: a file source that is a symlink is refused and the file is always copied. A
// checksum= query in the URL is verified, as go-getter does. https servers are verified against
// the system's roots and the extra ones a Trust gives; a proxy is used only when a Trust names
// one.
package fetch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"

	getter "github.com/hashicorp/go-getter/v2"
)

// Options shape a Client.
type Options struct {
	// HTTPClient makes the HTTP requests; nil: a client with Trust's Transport. Tests and
	// callers with their own TLS checks (a pinned CA) set it; Trust is then unused.
	HTTPClient *http.Client
	// Trust is the roots and proxy of http and https fetches.
	Trust Trust
	// MaxBytes is the largest file accepted; 0: no limit. An HTTP body is not read much
	// beyond it (one byte), a file source is not read at all; a larger file is a
	// *TooLargeError.
	MaxBytes int64
	// IdleTimeout ends an HTTP fetch whose response has not started or has sent nothing for
	// this long, with an *IdleError; 0: only the context bounds it.
	IdleTimeout time.Duration
}

// Client fetches files. It is safe for concurrent use.
type Client struct {
	g        *getter.Client
	maxBytes int64
}

// New returns a Client that fetches only from http, https and file URLs.
func New(o Options) *Client {
	hc := &http.Client{Transport: o.Trust.Transport()}
	if o.HTTPClient != nil {
		*hc = *o.HTTPClient // a copy: the caller's client is not changed
	}
	if hc.CheckRedirect == nil {
		hc.CheckRedirect = CheckRedirect
	}
	if o.IdleTimeout > 0 {
		next := hc.Transport
		if next == nil {
			next = http.DefaultTransport
		}
		hc.Transport = &idleTransport{next: next, idle: o.IdleTimeout}
	}
	hg := &getter.HttpGetter{Client: hc, DoNotCheckHeadFirst: true, XTerraformGetDisabled: true}
	if o.MaxBytes > 0 {
		// one byte more than allowed, to tell a file of MaxBytes from a larger one cut short
		hg.MaxBytes = o.MaxBytes + 1
	}
	return &Client{
		g: &getter.Client{
			Getters:         []getter.Getter{hg, &fileGetter{maxBytes: o.MaxBytes}},
			Decompressors:   map[string]getter.Decompressor{}, // nil would mean all of go-getter's
			DisableSymlinks: true,
		},
		maxBytes: o.MaxBytes,
	}
}

// File downloads src into the file dst (its directory is made if missing; dst is replaced).
// The error is go-getter's (a *getter.ChecksumError for a checksum= mismatch), ErrSymlink
// or a *TooLargeError, or the HTTP client's without its "Get URL:" prefix (the caller names
// the URL with the setting it came from); dst is removed on error. A file source is copied
// whole before its size is checked.
func (c *Client) File(ctx context.Context, src, dst string) error {
	req := &getter.Request{Src: src, Dst: dst, GetMode: getter.ModeFile, Copy: true, DisableSymlinks: true}
	_, err := c.g.Get(ctx, req)
	if ue, ok := err.(*url.Error); ok { // as net/http returns it: "Get URL: cause"
		err = ue.Err
	}
	if c.maxBytes > 0 && (err == nil || errors.Is(err, io.ErrShortWrite)) {
		// go-getter cuts the body off at MaxBytes+1 without a word, or says "short write"
		// when that is less than the Content-Length
		if fi, serr := os.Stat(dst); serr == nil && fi.Size() > c.maxBytes {
			err = &TooLargeError{Max: c.maxBytes}
		}
	}
	if err != nil {
		os.Remove(dst)
		return err
	}
	return nil
}

// Trust is what http and https fetches trust and go through: on a node, the config's
// trust.ca_certs, Ignition's certificateAuthorities and network.proxy. The zero Trust is the
// system's roots and no proxy.
type Trust struct {
	// RootCAs are trusted besides the system's roots (the image's Debian bundle,
	// /etc/ssl/certs/ca-certificates.crt); nil: the system's roots only.
	RootCAs []*x509.Certificate
	// Proxy is an http:// or https:// proxy for every http and https request; nil: none. The
	// environment (HTTP_PROXY, HTTPS_PROXY, NO_PROXY) is never read: the node's config is the
	// one place a proxy is set, so that what inspect shows is what the node does. An https
	// proxy's certificate is checked against the same roots.
	Proxy *url.URL
}

// Transport is an HTTP transport with net/http's defaults (timeouts, HTTP/2), the roots and
// the proxy of t.
func (t Trust) Transport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	if t.Proxy != nil {
		tr.Proxy = http.ProxyURL(t.Proxy)
	}
	if len(t.RootCAs) > 0 {
		// SystemCertPool fails only when the bundle is unreadable; the extras alone are
		// trusted then, and public servers fail with "unknown authority", naming the cause
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		for _, c := range t.RootCAs {
			pool.AddCert(c)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	return tr
}

// UnknownAuthority tells whether err is an https server whose certificate chains to no root
// the fetch trusts: adding its CA (trust.ca_certs) is the fix.
func UnknownAuthority(err error) bool {
	var ua x509.UnknownAuthorityError
	return errors.As(err, &ua)
}

// Untrusted tells whether err is an https server's certificate failing verification (an
// unknown authority, another host name, expired): retrying cannot help.
func Untrusted(err error) bool {
	var ve *tls.CertificateVerificationError
	return errors.As(err, &ve)
}

// ErrSymlink is a file source that is a symlink.
var ErrSymlink = errors.New("the file is a symlink, which fetch does not follow")

// TooLargeError is a file larger than Options.MaxBytes.
type TooLargeError struct{ Max int64 }

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("the file is larger than %d bytes", e.Max)
}

// fileGetter is go-getter's FileGetter without symlinks: its GetFile follows a symlinked
// source even with DisableSymlinks (v2.2.5 checks only when copying directories), and its
// Get links a directory into place. A file larger than maxBytes (when > 0) is not copied.
type fileGetter struct {
	getter.FileGetter
	maxBytes int64
}

func (g *fileGetter) GetFile(ctx context.Context, req *getter.Request) error {
	u := req.URL()
	path := u.Path
	if u.RawPath != "" {
		path = u.RawPath // as FileGetter reads it
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("source path error: %w", err)
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		return fmt.Errorf("%s: %w", path, ErrSymlink)
	}
	if g.maxBytes > 0 && fi.Size() > g.maxBytes {
		return &TooLargeError{Max: g.maxBytes}
	}
	return g.FileGetter.GetFile(ctx, req)
}

func (*fileGetter) Get(context.Context, *getter.Request) error {
	return errors.New("a directory is not a file: fetch takes single files only")
}

// ErrDowngrade is a redirect from https to plain http, which CheckRedirect refuses.
var ErrDowngrade = errors.New("a redirect from https to plain http is refused: it would drop the TLS the URL asked for")

// CheckRedirect is the redirect policy of every fetch of a URL a user gave (Ignition sources,
// etcd.config.url=, restore.source): net/http's ten-redirect limit, and never from https to
// http. The metadata services are plain http on link-local addresses and do not use it.
func CheckRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	for _, v := range via {
		if v.URL.Scheme == "https" && req.URL.Scheme != "https" {
			return fmt.Errorf("redirected from %s to %s: %w: fix the server's redirect, or give the final URL", v.URL.Redacted(), req.URL.Redacted(), ErrDowngrade)
		}
	}
	return nil
}

// IdleError is an HTTP fetch that received nothing for Idle.
type IdleError struct{ Idle time.Duration }

func (e *IdleError) Error() string {
	return fmt.Sprintf("the server sent nothing for %s: is it overloaded, or the network down?", e.Idle)
}

// idleTransport cancels a request whose response stalls for idle: a server that stops
// sending would otherwise hold the boot until the overall deadline.
type idleTransport struct {
	next http.RoundTripper
	idle time.Duration
}

func (t *idleTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(req.Context())
	timer := time.AfterFunc(t.idle, func() { cancel(&IdleError{Idle: t.idle}) })
	resp, err := t.next.RoundTrip(req.WithContext(ctx))
	if err != nil {
		timer.Stop()
		if c := context.Cause(ctx); c != nil && !errors.Is(c, context.Canceled) {
			err = c
		}
		cancel(nil)
		return nil, err
	}
	timer.Reset(t.idle)
	resp.Body = &idleBody{ReadCloser: resp.Body, ctx: ctx, cancel: cancel, timer: timer, idle: t.idle}
	return resp, nil
}

type idleBody struct {
	io.ReadCloser
	ctx    context.Context
	cancel context.CancelCauseFunc
	timer  *time.Timer
	idle   time.Duration
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.timer.Reset(b.idle)
	}
	if err != nil && err != io.EOF {
		var ie *IdleError
		if errors.As(context.Cause(b.ctx), &ie) {
			err = ie
		}
	}
	return n, err
}

func (b *idleBody) Close() error {
	b.timer.Stop()
	b.cancel(nil)
	return b.ReadCloser.Close()
}

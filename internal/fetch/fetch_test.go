package fetch

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/etcd-appliance/appliance/internal/tlstest"

	getter "github.com/hashicorp/go-getter/v2"
)

// server serves path → body and counts the requests it gets.
func server(t *testing.T, files map[string][]byte) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		b, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		// a module registry's redirection, which must not be followed
		w.Header().Set("X-Terraform-Get", "/elsewhere")
		w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func zipped(t *testing.T) []byte {
	var b bytes.Buffer
	z := zip.NewWriter(&b)
	w, _ := z.Create("inner.txt")
	w.Write([]byte("inside"))
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestFile(t *testing.T) {
	zip := zipped(t)
	srv, _ := server(t, map[string][]byte{
		"/config.yaml": []byte("version: 1\n"),
		"/snap.zip":    zip,
		"/elsewhere":   []byte("redirected"),
		"/1024":        bytes.Repeat([]byte("x"), 1024),
	})
	local := filepath.Join(t.TempDir(), "local.db")
	if err := os.WriteFile(local, []byte("local"), 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("version: 1\n"))
	for _, tc := range []struct {
		name, src string
		want      []byte
	}{
		{"http", srv.URL + "/config.yaml", []byte("version: 1\n")},
		{"http with checksum", srv.URL + "/config.yaml?checksum=sha256:" + hex.EncodeToString(sum[:]), []byte("version: 1\n")},
		{"an archive is not unpacked", srv.URL + "/snap.zip", zip},
		{"not even when asked", srv.URL + "/snap.zip?archive=zip", zip},
		{"exactly MaxBytes", srv.URL + "/1024", bytes.Repeat([]byte("x"), 1024)},
		{"file", "file://" + local, []byte("local")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "sub", "out")
			if err := New(Options{MaxBytes: 1024}).File(context.Background(), tc.src, dst); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Lstat(dst)
			if err != nil || !fi.Mode().IsRegular() {
				t.Fatalf("dst %v, %v: want a regular file (a copy, not a link)", fi, err)
			}
			if got, _ := os.ReadFile(dst); !bytes.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFileRefuses(t *testing.T) {
	srv, requests := server(t, map[string][]byte{
		"/config.yaml": []byte("version: 1\n"),
		"/17":          bytes.Repeat([]byte("x"), 17),
		"/big":         bytes.Repeat([]byte("x"), 1<<20),
	})
	chunked := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for range 64 { // no Content-Length: go-getter cannot tell it was cut short
			w.Write(bytes.Repeat([]byte("y"), 1024))
			w.(http.Flusher).Flush()
		}
	}))
	defer chunked.Close()
	big := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(big, bytes.Repeat([]byte("z"), 17), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	target := filepath.Join(dir, "secret")
	if err := os.WriteFile(target, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.yaml")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	httpURL := strings.TrimPrefix(srv.URL, "http://") + "/config.yaml"
	for _, tc := range []struct {
		name, src string
		check     func(error) bool
	}{
		{"s3", "s3://bucket/config.yaml", nil},
		{"s3 forced", "s3::https://s3.amazonaws.com/bucket/config.yaml", nil},
		{"gcs", "gcs://bucket/config.yaml", nil},
		{"git forced over http", "git::http://" + httpURL, nil},
		{"git forced over file", "git::file://" + target, nil},
		{"hg forced", "hg::http://" + httpURL, nil},
		{"ftp", "ftp://" + httpURL, nil},
		{"symlinked file", "file://" + link, func(err error) bool { return errors.Is(err, ErrSymlink) }},
		{"a directory", "file://" + dir, nil},
		{"larger than MaxBytes", srv.URL + "/17", tooLarge},
		{"much larger than MaxBytes", srv.URL + "/big", tooLarge},
		{"larger than MaxBytes, chunked", chunked.URL + "/x", tooLarge},
		{"a local file larger than MaxBytes", "file://" + big, tooLarge},
		{"checksum mismatch", srv.URL + "/config.yaml?checksum=sha256:" + strings.Repeat("0", 64), func(err error) bool {
			var ce *getter.ChecksumError
			return errors.As(err, &ce)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := requests.Load()
			dst := filepath.Join(t.TempDir(), "out")
			err := New(Options{MaxBytes: 16}).File(context.Background(), tc.src, dst)
			if err == nil {
				t.Fatal("fetched")
			}
			t.Log(err)
			if tc.check != nil && !tc.check(err) {
				t.Errorf("err = %v (%T)", err, err)
			}
			if _, serr := os.Lstat(dst); serr == nil {
				t.Errorf("%s left behind", dst)
			}
			if tc.check == nil && requests.Load() != before {
				t.Errorf("the server was asked")
			}
		})
	}
}

func tooLarge(err error) bool {
	var tl *TooLargeError
	return errors.As(err, &tl) && tl.Max == 16
}

// The http.Client given is the one that makes the requests.
func TestHTTPClient(t *testing.T) {
	srv, _ := server(t, map[string][]byte{"/c": []byte("c")})
	var used atomic.Bool
	hc := &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
		used.Store(true)
		return http.DefaultTransport.RoundTrip(r)
	})}
	if err := New(Options{HTTPClient: hc}).File(context.Background(), srv.URL+"/c", filepath.Join(t.TempDir(), "c")); err != nil {
		t.Fatal(err)
	}
	if !used.Load() {
		t.Error("the request did not go through Options.HTTPClient")
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// A bare absolute path is a file source, as restore.source in older configs gives it.
func TestAbsolutePathSource(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "s.db")
	os.WriteFile(src, []byte("snap"), 0o600)
	dst := filepath.Join(dir, "out.db")
	if err := New(Options{}).File(context.Background(), src, dst); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dst); string(b) != "snap" {
		t.Fatalf("got %q", b)
	}
}

// https servers are checked against the system's roots and Trust's; the request goes through
// Trust's proxy, and never through one from the environment.
func TestTrust(t *testing.T) {
	ca, other := tlstest.NewCA(t, "test CA"), tlstest.NewCA(t, "other CA")
	body := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("snap")) })
	good := tlstest.Server(t, ca.Leaf(t, []string{"localhost"}), body)
	wrongName := tlstest.Server(t, ca.Leaf(t, []string{"elsewhere.test"}), body)
	plain := httptest.NewServer(body)
	defer plain.Close()
	proxy := tlstest.NewProxy(t)

	for _, tc := range []struct {
		name, src string
		trust     Trust
		wantErr   []string // substrings; nil: fetched
		unknown   bool     // UnknownAuthority(err)
		proxied   string   // what the proxy must have seen last
	}{
		{name: "trusted CA", src: good + "/s.db", trust: Trust{RootCAs: []*x509.Certificate{ca.Cert}}},
		{name: "among others", src: good + "/s.db", trust: Trust{RootCAs: []*x509.Certificate{other.Cert, ca.Cert}}},
		{name: "system roots only", src: good + "/s.db", unknown: true,
			wantErr: []string{"tls: failed to verify certificate: x509: certificate signed by unknown authority"}},
		{name: "another CA", src: good + "/s.db", trust: Trust{RootCAs: []*x509.Certificate{other.Cert}}, unknown: true,
			wantErr: []string{"x509: certificate signed by unknown authority"}},
		{name: "another host name", src: wrongName + "/s.db", trust: Trust{RootCAs: []*x509.Certificate{ca.Cert}},
			wantErr: []string{"x509: certificate is valid for elsewhere.test, not localhost"}},
		{name: "https through the proxy", src: good + "/s.db", trust: Trust{RootCAs: []*x509.Certificate{ca.Cert}, Proxy: proxy.URL},
			proxied: "CONNECT " + strings.TrimPrefix(good, "https://")},
		{name: "http through the proxy", src: plain.URL + "/s.db", trust: Trust{Proxy: proxy.URL},
			proxied: "GET " + plain.URL + "/s.db"},
		{name: "untrusted through the proxy", src: good + "/s.db", trust: Trust{Proxy: proxy.URL}, unknown: true,
			wantErr: []string{"x509: certificate signed by unknown authority"}, proxied: "CONNECT " + strings.TrimPrefix(good, "https://")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(proxy.Seen())
			dst := filepath.Join(t.TempDir(), "out")
			err := New(Options{Trust: tc.trust}).File(context.Background(), tc.src, dst)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				if b, _ := os.ReadFile(dst); string(b) != "snap" {
					t.Errorf("got %q", b)
				}
			} else {
				if err == nil {
					t.Fatal("fetched")
				}
				t.Log(err)
				for _, s := range tc.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not contain %q", err, s)
					}
				}
				if strings.HasPrefix(err.Error(), "Get ") {
					t.Errorf("error %q keeps net/http's prefix: the caller names the URL", err)
				}
				if !Untrusted(err) || UnknownAuthority(err) != tc.unknown {
					t.Errorf("Untrusted %v, UnknownAuthority %v: want true, %v", Untrusted(err), UnknownAuthority(err), tc.unknown)
				}
			}
			seen := proxy.Seen()[before:]
			switch {
			case tc.proxied == "" && len(seen) > 0:
				t.Errorf("the proxy saw %q without being asked to", seen)
			case tc.proxied != "" && (len(seen) == 0 || seen[len(seen)-1] != tc.proxied):
				t.Errorf("the proxy saw %q, want %q", seen, tc.proxied)
			}
		})
	}
}

// The environment's proxy settings are not the node's: Transport never reads them.
func TestTrustIgnoresEnvironment(t *testing.T) {
	if tr := (Trust{}).Transport(); tr.Proxy != nil {
		t.Error("a Trust without Proxy has a proxy function")
	}
	if tr := (Trust{}).Transport(); tr.TLSClientConfig != nil && tr.TLSClientConfig.RootCAs != nil {
		t.Error("a Trust without RootCAs does not use the system's roots")
	}
}

// A redirect may not take an https URL to plain http; http to https, and https to https, are
// fine.
func TestRedirects(t *testing.T) {
	plain, _ := server(t, map[string][]byte{"/c": []byte("plain")})
	secure := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/to-http":
			http.Redirect(w, r, plain.URL+"/c", http.StatusFound)
		case "/to-https":
			http.Redirect(w, r, "/c", http.StatusMovedPermanently)
		case "/c":
			w.Write([]byte("secure"))
		}
	}))
	defer secure.Close()
	up := httptest.NewServer(http.RedirectHandler(secure.URL+"/c", http.StatusFound))
	defer up.Close()
	for _, tc := range []struct {
		name, src, want string
		wantErr         error
	}{
		{"https to http", secure.URL + "/to-http", "", ErrDowngrade},
		{"https to https", secure.URL + "/to-https", "secure", nil},
		{"http to https", up.URL + "/x", "secure", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "out")
			// the test server's client trusts its certificate; New must still add the policy
			err := New(Options{HTTPClient: secure.Client()}).File(context.Background(), tc.src, dst)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), "redirected from "+secure.URL+"/to-http to "+plain.URL+"/c") {
					t.Fatalf("err = %v, want %v naming both URLs", err, tc.wantErr)
				}
				if _, serr := os.Lstat(dst); serr == nil {
					t.Error("the plain-http file was written")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(dst); string(b) != tc.want {
				t.Errorf("got %q, want %q", b, tc.want)
			}
		})
	}
}

// A server that stops sending is given up on after IdleTimeout, not at the overall deadline;
// one that keeps sending slowly is not.
func TestIdleTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/stall-body":
			w.Write([]byte("some"))
			w.(http.Flusher).Flush()
			select {
			case <-release:
			case <-r.Context().Done():
			}
		case "/stall-headers":
			select {
			case <-release:
			case <-r.Context().Done():
			}
		case "/slow":
			for range 5 {
				w.Write([]byte("x"))
				w.(http.Flusher).Flush()
				time.Sleep(60 * time.Millisecond)
			}
		}
	}))
	defer srv.Close()
	for _, path := range []string{"/stall-body", "/stall-headers"} {
		t.Run(path, func(t *testing.T) {
			start := time.Now()
			err := New(Options{IdleTimeout: 200 * time.Millisecond}).File(context.Background(), srv.URL+path, filepath.Join(t.TempDir(), "out"))
			var ie *IdleError
			if !errors.As(err, &ie) || !strings.Contains(err.Error(), "sent nothing for 200ms") {
				t.Fatalf("err = %v (%T), want an *IdleError", err, err)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("took %s", took)
			}
		})
	}
	t.Run("slow but steady", func(t *testing.T) {
		dst := filepath.Join(t.TempDir(), "out")
		if err := New(Options{IdleTimeout: 200 * time.Millisecond}).File(context.Background(), srv.URL+"/slow", dst); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(dst); string(b) != "xxxxx" {
			t.Errorf("got %q", b)
		}
	})
}

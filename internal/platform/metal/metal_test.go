package metal

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const config = "version: 1\ncluster:\n  name: prod-etcd\n"

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// fast are test knobs: short waits, downloads inside the test's temp dir.
func fast(t *testing.T) Options {
	return Options{Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, TempDir: t.TempDir(), AttemptTimeout: 5 * time.Second}
}

// server answers /config with the config, after failing the first failures requests with 503;
// it counts requests.
func server(t *testing.T, failures int32) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1)
		if r.URL.Path != "/config" {
			http.NotFound(w, r)
			return
		}
		if r.URL.Query().Has("checksum") {
			t.Errorf("go-getter passed the checksum query to the server: %s", r.URL)
		}
		if i <= failures {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte(config))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// ck is the checksum query of the test config: plain http needs one.
var ck = "?checksum=sha256:" + sum(config)

func TestFetchHTTP(t *testing.T) {
	for _, tc := range []struct {
		name     string
		path     string
		failures int32
		wantErr  []string // substrings; nil: success
		requests int32    // exact number of requests the server sees
	}{
		{name: "plain http without a checksum is refused unasked", path: "/config", wantErr: []string{"plain http without a checksum", "or use https"}, requests: 0},
		{name: "checksum right", path: "/config?checksum=sha256:" + sum(config), requests: 1},
		{name: "checksum right without type", path: "/config?checksum=" + sum(config), requests: 1},
		{name: "503 twice then 200", path: "/config" + ck, failures: 2, requests: 3},
		{
			name:     "checksum wrong is not retried",
			path:     "/config?checksum=sha256:" + sum("something else"),
			wantErr:  []string{"etcd.config.url=", "checksum mismatch", "expected sha256:" + sum("something else"), "got sha256:" + sum(config), "/config?checksum="},
			requests: 1,
		},
		{
			name:     "404 is not retried",
			path:     "/missing.yaml" + ck,
			wantErr:  []string{"etcd.config.url=", "/missing.yaml", "HTTP 404", "correct the etcd.config.url= kernel argument"},
			requests: 1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, n := server(t, tc.failures)
			md, err := fast(t).Fetch(context.Background(), srv.URL+tc.path)
			if tc.wantErr != nil {
				if err == nil {
					t.Fatal("no error")
				}
				for _, s := range tc.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not contain %q", err, s)
					}
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				if md.Platform != Name || string(md.UserData) != config {
					t.Errorf("metadata = %+v, user-data %q", md, md.UserData)
				}
			}
			if got := n.Load(); got != tc.requests {
				t.Errorf("server saw %d requests, want %d", got, tc.requests)
			}
		})
	}
}

func TestFetchHTTPS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(config)) }))
	defer srv.Close()
	o := fast(t)
	o.HTTPClient = srv.Client()
	md, err := o.Fetch(context.Background(), srv.URL+"/c.yaml?checksum=sha256:"+sum(config))
	if err != nil {
		t.Fatal(err)
	}
	if string(md.UserData) != config {
		t.Errorf("user-data %q", md.UserData)
	}
}

func TestFetchGivesUpWhenContextEnds(t *testing.T) {
	srv, n := server(t, 1<<30)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	var logged atomic.Int32
	o := fast(t)
	o.Logf = func(string, ...any) { logged.Add(1) }
	_, err := o.Fetch(ctx, srv.URL+"/config"+ck)
	if err == nil || !strings.Contains(err.Error(), "no config after") || !strings.Contains(err.Error(), "503") {
		t.Fatalf("err = %v", err)
	}
	if n.Load() < 2 || logged.Load() < 1 {
		t.Errorf("requests %d, retries logged %d: want retries", n.Load(), logged.Load())
	}
}

func TestFetchRetriesUnreachable(t *testing.T) {
	// a port nothing listens on: connection refused is retried until the context ends
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/config" + ck
	srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := fast(t).Fetch(ctx, url)
	var perm *permanentError
	if err == nil || errors.As(err, &perm) || !strings.Contains(err.Error(), "network") {
		t.Fatalf("err = %v", err)
	}
}

func TestFetchFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(filepath.Dir(path), "link.yaml")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, url, wantErr string
	}{
		{name: "plain", url: "file://" + path},
		{name: "checksum", url: "file://" + path + "?checksum=sha256:" + sum(config)},
		{name: "checksum wrong", url: "file://" + path + "?checksum=sha256:" + sum("x"), wantErr: "checksum mismatch"},
		{name: "missing", url: "file://" + path + ".missing", wantErr: "does not exist"},
		{name: "symlink is not followed, nor retried", url: "file://" + link, wantErr: "is a symlink"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			md, err := fast(t).Fetch(context.Background(), tc.url)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(md.UserData) != config {
				t.Errorf("user-data %q", md.UserData)
			}
		})
	}
	// the source is copied, never linked or moved
	if b, err := os.ReadFile(path); err != nil || string(b) != config {
		t.Errorf("source changed: %q %v", b, err)
	}
}

// A config larger than maxBytes is refused at once: go-getter's "short write" (the body cut
// off before its Content-Length) is not taken for a network failure.
func TestFetchTooLarge(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Content-Length", strconv.Itoa(maxBytes+100)) // as a file server sends it
		w.Write(make([]byte, maxBytes+100))
	}))
	defer srv.Close()
	_, err := fast(t).Fetch(context.Background(), srv.URL+"/huge.yaml"+ck)
	if err == nil || !strings.Contains(err.Error(), "larger than 16777216 bytes") {
		t.Fatalf("err = %v", err)
	}
	if n.Load() != 1 {
		t.Errorf("server saw %d requests, want 1", n.Load())
	}
}

func TestFetchEmpty(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty.yaml")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := fast(t).Fetch(context.Background(), "file://"+path)
	if err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("err = %v", err)
	}
}

func TestCheckURL(t *testing.T) {
	for _, tc := range []struct {
		url     string
		wantErr string // "" = valid
	}{
		{"https://cfg.example/etcd.yaml", ""},
		{"http://192.0.2.1:8080/etcd.yaml?checksum=sha256:" + sum(config), ""},
		{"https://cfg.example/etcd.yaml?checksum=file:https://cfg.example/SHA256SUMS", ""},
		{"file:///boot/etcd.yaml", ""},
		{"", "is empty"},
		{"git::https://github.com/x/y", `the "git":: getter is not supported`},
		{"s3::https://s3.amazonaws.com/b/k", `"s3":: getter`},
		{"s3://bucket/key", `scheme "s3" is not supported`},
		{"ftp://host/file", `scheme "ftp" is not supported`},
		{"cfg.example/etcd.yaml", "no scheme"},
		{"https:///etcd.yaml", "no host"},
		{"file://relative/etcd.yaml", "absolute path"},
		{"https://h/c?checksum=sha256:abcd", "wants 64 hex digits"},
		{"https://h/c?checksum=sha256:zz", "bad checksum"},
		{"https://h/c?checksum=crc32:" + sum(config), "bad checksum"},
		{"http://192.0.2.1/etcd.yaml", "plain http without a checksum"},
		{"http://192.0.2.1/etcd.yaml?checksum=file:http://192.0.2.1/SHA256SUMS", "plain http without a checksum"},
		{"http://192.0.2.1/etcd.yaml?checksum=md5:" + strings.Repeat("0", 32), "plain http with a md5 checksum"},
		{"http://192.0.2.1/etcd.yaml?checksum=" + strings.Repeat("0", 40), "plain http with a sha1 checksum"},
		{"http://192.0.2.1/etcd.yaml?checksum=sha512:" + strings.Repeat("0", 128), ""},
	} {
		t.Run(tc.url, func(t *testing.T) {
			err := CheckURL(tc.url)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), KernelArg) {
				t.Fatalf("err = %v, want one naming %s and containing %q", err, KernelArg, tc.wantErr)
			}
		})
	}
}

func TestFetchRejectsUnsupportedAtOnce(t *testing.T) {
	_, err := Fetch(context.Background(), "git::https://github.com/example/config")
	if err == nil || !strings.Contains(err.Error(), "git") || !strings.Contains(err.Error(), "http://, https:// or file:///") {
		t.Fatalf("err = %v", err)
	}
}

func TestRedact(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	u := strings.Replace(srv.URL, "http://", "http://user:s3cret@", 1) + "/c.yaml" + ck
	_, err := fast(t).Fetch(context.Background(), u)
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("err = %v: want an error without the password", err)
	}
}

// A pinned CA on a URL that is not https would verify nothing: refused before any fetch.
func TestPinNeedsHTTPS(t *testing.T) {
	pin := strings.Repeat("ab", 32)
	for _, u := range []string{"http://192.0.2.1/config.yaml" + ck, "file:///etc/etcd.yaml"} {
		_, err := Options{CASHA256: pin}.Fetch(context.Background(), u)
		if err == nil || !strings.Contains(err.Error(), "is not https") {
			t.Errorf("%s with a pin: %v, want a refusal saying it is not https", u, err)
		}
	}
}

package snapshot

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/etcd-appliance/appliance/internal/fetch"
	"github.com/etcd-appliance/appliance/internal/tlstest"
)

func TestFetch(t *testing.T) {
	body := []byte("not really a bolt database, but bytes with a checksum")
	sum := sha256.Sum256(body)
	good := hex.EncodeToString(sum[:])
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/etcd.db" {
			http.NotFound(w, r)
			return
		}
		w.Write(body)
	}))
	defer srv.Close()

	for _, tc := range []struct {
		name, url, sha string
		wantErr        string
	}{
		{"good", srv.URL + "/etcd.db", good, ""},
		{"wrong checksum", srv.URL + "/etcd.db", strings.Repeat("0", 64), "restore.sha256: the snapshot at " + srv.URL + "/etcd.db has sha256 " + good + ", not 000"},
		{"not found", srv.URL + "/missing.db", good, "restore.source " + srv.URL + "/missing.db: bad response code: 404"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path, err := Fetch(t.Context(), fetch.Trust{}, tc.url, tc.sha, dir, Limits{})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Fetch error %v, want %q", err, tc.wantErr)
				}
				if entries, _ := os.ReadDir(dir); len(entries) != 0 {
					t.Errorf("a failed fetch left %v behind", entries)
				}
				var ce *ChecksumError
				if tc.name == "wrong checksum" && !errors.As(err, &ce) {
					t.Errorf("error %T is not a *ChecksumError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil || string(got) != string(body) {
				t.Errorf("fetched %q, %v", got, err)
			}
		})
	}
}

// An https source is trusted through trust.ca_certs (the Trust given) and fetched through the
// proxy; a failed verification names the URL, the x509 error and the fix, and leaves nothing.
func TestFetchTrust(t *testing.T) {
	body := []byte("snapshot")
	sum := sha256.Sum256(body)
	good := hex.EncodeToString(sum[:])
	ca := tlstest.NewCA(t, "backups CA")
	base := tlstest.Server(t, ca.Leaf(t, []string{"localhost"}), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) }))
	proxy := tlstest.NewProxy(t)
	roots := []*x509.Certificate{ca.Cert}
	src := base + "/etcd.db"
	for _, tc := range []struct {
		name    string
		trust   fetch.Trust
		wantErr string // the whole message; "": fetched
		proxied bool
	}{
		{name: "trusted", trust: fetch.Trust{RootCAs: roots}},
		{name: "trusted, through the proxy", trust: fetch.Trust{RootCAs: roots, Proxy: proxy.URL}, proxied: true},
		{name: "untrusted", wantErr: "restore.source " + src + ": tls: failed to verify certificate: x509: certificate signed by unknown authority: add the CA that signed the server's certificate to trust.ca_certs"},
		{name: "untrusted, through the proxy", trust: fetch.Trust{Proxy: proxy.URL}, proxied: true,
			wantErr: "restore.source " + src + ": tls: failed to verify certificate: x509: certificate signed by unknown authority: add the CA that signed the server's certificate to trust.ca_certs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(proxy.Seen())
			dir := t.TempDir()
			path, err := Fetch(t.Context(), tc.trust, src, good, dir, Limits{})
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("err = %v\nwant  %s", err, tc.wantErr)
				}
				if entries, _ := os.ReadDir(dir); len(entries) != 0 {
					t.Errorf("a failed fetch left %v behind", entries)
				}
			} else if err != nil {
				t.Fatal(err)
			} else if b, _ := os.ReadFile(path); string(b) != string(body) {
				t.Errorf("fetched %q", b)
			}
			want := []string(nil)
			if tc.proxied {
				want = []string{"CONNECT " + strings.TrimPrefix(base, "https://")}
			}
			if seen := proxy.Seen()[before:]; !slices.Equal(seen, want) {
				t.Errorf("the proxy saw %q, want %q", seen, want)
			}
		})
	}
}

func TestWriteSidecar(t *testing.T) {
	db := filepath.Join(t.TempDir(), "prod-etcd-a-20261121T120000Z.db")
	want := Sidecar{File: filepath.Base(db), SHA256: strings.Repeat("ab", 32), Size: 20480, Revision: 42, Keys: 7,
		Time: time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC), Cluster: "prod", ClusterID: "c1", Member: "etcd-a", MemberID: "m1"}
	p, err := WriteSidecar(db, want)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(p) != "prod-etcd-a-20261121T120000Z.json" {
		t.Errorf("sidecar at %s", p)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var got Sidecar
	if err := json.Unmarshal(b, &got); err != nil || got != want {
		t.Errorf("sidecar %+v (%v), want %+v", got, err, want)
	}
}

// A snapshot larger than the room given is refused with what the room is, over http and from
// a file, and nothing is left behind.
func TestFetchTooLarge(t *testing.T) {
	body := bytes.Repeat([]byte("s"), 4096)
	sum := sha256.Sum256(body)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) }))
	defer srv.Close()
	local := filepath.Join(t.TempDir(), "etcd.db")
	if err := os.WriteFile(local, body, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{srv.URL + "/etcd.db", "file://" + local} {
		t.Run(src, func(t *testing.T) {
			dir := t.TempDir()
			_, err := Fetch(t.Context(), fetch.Trust{}, src, hex.EncodeToString(sum[:]), dir, Limits{MaxBytes: 1024, Room: "the room in memory: give the machine more"})
			want := "restore.source " + src + ": the snapshot is larger than 1024 bytes (0 MiB), the room in memory: give the machine more; nothing was written"
			if err == nil || err.Error() != want {
				t.Fatalf("err = %v\nwant %s", err, want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("left %v behind", entries)
			}
		})
	}
}

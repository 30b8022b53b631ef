package snapshot

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
		{"not found", srv.URL + "/missing.db", good, "restore.source: fetching " + srv.URL + "/missing.db"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path, err := Fetch(t.Context(), tc.url, tc.sha, dir)
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

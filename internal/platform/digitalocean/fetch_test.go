package digitalocean

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etcd-appliance/appliance/internal/platform"
	"github.com/etcd-appliance/appliance/internal/platform/platformtest"
)

// fakeDO serves /metadata/v1.json after scripted failures.
type fakeDO struct {
	doc     []byte
	fail503 int

	mu       sync.Mutex
	requests int
}

func (f *fakeDO) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	if r.Method != http.MethodGet || r.URL.Path != "/metadata/v1.json" {
		http.NotFound(w, r)
		return
	}
	if f.fail503 > 0 {
		f.fail503--
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(f.doc)
}

var testGetter = platform.HTTPGetter{Attempts: 4, Backoff: time.Millisecond}

// TestFetch tests the protocol and its retries on a small inline document; TestParseFixture
// parses the captured one.
func TestFetch(t *testing.T) {
	doc := []byte(`{"droplet_id": 7, "hostname": "etcd-a", "user_data": "version: 1\n"}`)
	want := &platform.Metadata{Platform: Name, InstanceID: "7", Hostname: "etcd-a", UserData: []byte("version: 1\n")}
	for _, tc := range []struct {
		name     string
		do       *fakeDO
		want     *platform.Metadata
		wantErr  string
		requests int
	}{
		{name: "v1.json", do: &fakeDO{doc: doc}, want: want, requests: 1},
		{name: "503 then success", do: &fakeDO{doc: doc, fail503: 2}, want: want, requests: 3},
		{name: "503 forever", do: &fakeDO{doc: doc, fail503: 100}, wantErr: "503", requests: 4},
		{name: "garbage", do: &fakeDO{doc: []byte("<html>")}, wantErr: ": metadata/v1.json: invalid character", requests: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.do)
			defer srv.Close()
			got, err := Fetch(context.Background(), srv.URL, testGetter)
			platformtest.CheckResult(t, got, err, tc.want, tc.wantErr)
			if tc.do.requests != tc.requests {
				t.Errorf("%d requests, want %d", tc.do.requests, tc.requests)
			}
		})
	}
}

func TestFetchUnreachable(t *testing.T) {
	u := platformtest.ClosedURL(t)
	_, err := Fetch(context.Background(), u, testGetter)
	if err == nil || !strings.Contains(err.Error(), "no metadata server at "+u+": is this really a DigitalOcean Droplet? set etcd.platform= at build") {
		t.Fatalf("error %v, want the no-metadata-server explanation", err)
	}
}

package hetzner

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

// fakeHetzner serves the Hetzner metadata paths from a map (absent = 404), after scripted
// 503s on the first request.
type fakeHetzner struct {
	docs    map[string][]byte // path → body
	fail503 int

	mu       sync.Mutex
	requests int
}

func (f *fakeHetzner) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	if f.fail503 > 0 {
		f.fail503--
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	body, ok := f.docs[r.URL.Path]
	if r.Method != http.MethodGet || !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Write(body)
}

var testGetter = platform.HTTPGetter{Attempts: 4, Backoff: time.Millisecond}

// TestFetch tests which documents are asked for, what a 404 means for each, and retries, on
// small inline documents; TestParseFixture parses the captured ones.
func TestFetch(t *testing.T) {
	const (
		metadata = "hostname: etcd-a\ninstance-id: 7\npublic-ipv4: 192.0.2.7\n"
		private  = "- ip: 10.0.0.2\n  mac_address: 86:00:00:98:40:6e\n"
	)
	docs := func(userData string, withPrivate bool) map[string][]byte {
		d := map[string][]byte{"/hetzner/v1/metadata": []byte(metadata)}
		if withPrivate {
			d["/hetzner/v1/metadata/private-networks"] = []byte(private)
		}
		if userData != "-" {
			d["/hetzner/v1/userdata"] = []byte(userData)
		}
		return d
	}
	want := func(userData []byte, withPrivate bool) *platform.Metadata {
		md := &platform.Metadata{Platform: Name, InstanceID: "7", Hostname: "etcd-a", UserData: userData,
			Addresses: platformtest.Addrs("192.0.2.7")}
		if withPrivate {
			md.Addresses = append(md.Addresses, platformtest.Addrs("10.0.0.2")...)
			md.Network = &platform.Network{Interfaces: []platform.Interface{{MAC: platformtest.MAC(t, "86:00:00:98:40:6e"), DHCP4: true}}}
		}
		return md
	}
	for _, tc := range []struct {
		name     string
		srv      *fakeHetzner
		want     *platform.Metadata
		wantErr  string
		requests int
	}{
		{name: "all documents", srv: &fakeHetzner{docs: docs("version: 1\n", true)}, want: want([]byte("version: 1\n"), true), requests: 3},
		{name: "empty user-data", srv: &fakeHetzner{docs: docs("", true)}, want: want(nil, true), requests: 3},
		{name: "404 user-data", srv: &fakeHetzner{docs: docs("-", true)}, want: want(nil, true), requests: 3},
		{name: "no private networks (404)", srv: &fakeHetzner{docs: docs("", false)}, want: want(nil, false), requests: 3},
		{name: "503 then success", srv: &fakeHetzner{docs: docs("", true), fail503: 2}, want: want(nil, true), requests: 5},
		{name: "no metadata", srv: &fakeHetzner{docs: map[string][]byte{}}, wantErr: "hetzner/v1/metadata: 404 Not Found", requests: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.srv)
			defer srv.Close()
			got, err := Fetch(context.Background(), srv.URL, testGetter)
			platformtest.CheckResult(t, got, err, tc.want, tc.wantErr)
			if tc.srv.requests != tc.requests {
				t.Errorf("%d requests, want %d", tc.srv.requests, tc.requests)
			}
		})
	}
}

func TestFetchUnreachable(t *testing.T) {
	u := platformtest.ClosedURL(t)
	_, err := Fetch(context.Background(), u, testGetter)
	if err == nil || !strings.Contains(err.Error(), "no metadata server at "+u+": is this really a Hetzner Cloud server? set etcd.platform= at build") {
		t.Fatalf("error %v, want the no-metadata-server explanation", err)
	}
}

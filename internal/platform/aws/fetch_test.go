package aws

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etcd-appliance/appliance/internal/platform"
	"github.com/etcd-appliance/appliance/internal/platform/platformtest"
)

// fakeIMDS speaks IMDSv2 over a tree of documents: PUT /latest/api/token with a TTL header
// gives a token; every GET under /latest/ needs a valid token (else 401, as IMDS answers when
// tokens are required); a missing item is 404.
type fakeIMDS struct {
	tree      map[string]string // path under /latest/ → body
	refusePUT int               // answer the token PUT with this status (403: IMDS off; 405: no IMDSv2)
	expireAt  int               // invalidate all tokens when the GET count reaches this (0: never)
	reject    bool              // reject every token (401 forever)
	fail      map[string]int    // path → 503 answers to give before serving it

	mu     sync.Mutex
	tokens map[string]bool
	puts   int
	gets   int
}

func (f *fakeIMDS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.URL.Path == tokenPath {
		if r.Method != http.MethodPut {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		f.puts++
		if f.refusePUT != 0 {
			http.Error(w, "refused", f.refusePUT)
			return
		}
		if ttl, err := strconv.Atoi(r.Header.Get(ttlHeader)); err != nil || ttl < 1 || ttl > 21600 {
			http.Error(w, "bad TTL", http.StatusBadRequest)
			return
		}
		tok := fmt.Sprintf("AQAEAtoken-%d==", f.puts)
		if f.tokens == nil {
			f.tokens = map[string]bool{}
		}
		f.tokens[tok] = true
		fmt.Fprint(w, tok)
		return
	}
	if r.Method != http.MethodGet || !strings.HasPrefix(r.URL.Path, "/latest/") {
		http.NotFound(w, r)
		return
	}
	f.gets++
	if f.expireAt != 0 && f.gets == f.expireAt {
		f.tokens = nil
	}
	if f.reject || !f.tokens[r.Header.Get(tokenHeader)] {
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/latest/")
	if f.fail[path] > 0 {
		f.fail[path]--
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	body, ok := f.tree[path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	fmt.Fprint(w, body)
}

func ec2Tree() map[string]string {
	return map[string]string{
		"meta-data/instance-id":                 "i-0b22a22eec53b9321",
		"meta-data/local-hostname":              "ip-172-31-20-5.eu-west-1.compute.internal",
		"meta-data/local-ipv4":                  "172.31.20.5",
		"meta-data/ipv6":                        "2a05:d018:1e3c:9e00:4a2f:1b6c:33d0:7f12",
		"meta-data/public-ipv4":                 "54.170.33.12",
		"meta-data/public-keys/":                "0=etcd-admin\n1=backup",
		"meta-data/public-keys/0/openssh-key":   "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBv7 etcd-admin\n",
		"meta-data/public-keys/1/openssh-key":   "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC9 backup\n",
		"meta-data/public-keys/0/":              "openssh-key",
		"user-data":                             "version: 1\ncluster:\n  name: prod-etcd\n",
		"meta-data/placement/availability-zone": "eu-west-1a",
	}
}

func ec2Metadata() *platform.Metadata {
	return &platform.Metadata{
		Platform:   Name,
		InstanceID: "i-0b22a22eec53b9321",
		Hostname:   "ip-172-31-20-5.eu-west-1.compute.internal",
		Addresses: []netip.Addr{
			netip.MustParseAddr("172.31.20.5"),
			netip.MustParseAddr("2a05:d018:1e3c:9e00:4a2f:1b6c:33d0:7f12"),
		},
		PublicAddresses: []netip.Addr{netip.MustParseAddr("54.170.33.12")},
		SSHKeys: []string{
			"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBv7 etcd-admin",
			"ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC9 backup",
		},
		UserData: []byte("version: 1\ncluster:\n  name: prod-etcd\n"),
	}
}

var testGetter = platform.HTTPGetter{Attempts: 4, Backoff: time.Millisecond}

func TestFetch(t *testing.T) {
	without := func(keys ...string) map[string]string {
		tree := ec2Tree()
		for _, k := range keys {
			delete(tree, k)
		}
		return tree
	}
	noUserData := ec2Metadata()
	noUserData.UserData = nil
	noUserData.Addresses = noUserData.Addresses[:1]
	noKeys := ec2Metadata()
	noKeys.SSHKeys = nil
	noPublic := ec2Metadata()
	noPublic.PublicAddresses = nil

	for _, tc := range []struct {
		name     string
		imds     *fakeIMDS
		want     *platform.Metadata
		wantErr  string
		wantPUTs int
	}{
		{name: "IMDSv2", imds: &fakeIMDS{tree: ec2Tree()}, want: ec2Metadata(), wantPUTs: 1},
		{name: "token expires: re-token once", imds: &fakeIMDS{tree: ec2Tree(), expireAt: 3}, want: ec2Metadata(), wantPUTs: 2},
		{name: "404 user-data and ipv6", imds: &fakeIMDS{tree: without("user-data", "meta-data/ipv6")}, want: noUserData, wantPUTs: 1},
		{name: "no public keys", imds: &fakeIMDS{tree: without("meta-data/public-keys/")}, want: noKeys, wantPUTs: 1},
		{name: "no public IPv4 (404)", imds: &fakeIMDS{tree: without("meta-data/public-ipv4")}, want: noPublic, wantPUTs: 1},
		{name: "503 then success", imds: &fakeIMDS{tree: ec2Tree(), fail: map[string]int{"meta-data/instance-id": 2, "user-data": 1}}, want: ec2Metadata(), wantPUTs: 1},
		{name: "IMDS turned off (PUT 403)", imds: &fakeIMDS{tree: ec2Tree(), refusePUT: 403}, wantErr: "refused an IMDSv2 session token", wantPUTs: 1},
		{name: "IMDSv1-only server (PUT 405)", imds: &fakeIMDS{tree: ec2Tree(), refusePUT: 405}, wantErr: "does not offer IMDSv2", wantPUTs: 1},
		{name: "token always rejected", imds: &fakeIMDS{tree: ec2Tree(), reject: true}, wantErr: "401", wantPUTs: 2},
		{name: "no instance id", imds: &fakeIMDS{tree: without("meta-data/instance-id")}, wantErr: "meta-data/instance-id: 404 Not Found", wantPUTs: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.imds)
			defer srv.Close()
			got, err := Fetch(context.Background(), srv.URL, testGetter)
			platformtest.CheckResult(t, got, err, tc.want, tc.wantErr)
			if tc.imds.puts != tc.wantPUTs {
				t.Errorf("%d token PUTs, want %d", tc.imds.puts, tc.wantPUTs)
			}
			if tc.imds.refusePUT != 0 && tc.imds.gets != 0 {
				t.Errorf("%d GETs after the token was refused; IMDSv1 must not be tried", tc.imds.gets)
			}
		})
	}
}

func TestFetchUnreachable(t *testing.T) {
	u := platformtest.ClosedURL(t)
	_, err := Fetch(context.Background(), u, testGetter)
	if err == nil || !strings.Contains(err.Error(), "no metadata server at "+u+": is this really an AWS instance? set etcd.platform= at build") {
		t.Fatalf("error %v, want the no-metadata-server explanation", err)
	}
}

func TestFetchAny(t *testing.T) {
	t.Run("IPv4 unreachable: IPv6 endpoint", func(t *testing.T) {
		v6 := httptest.NewServer(&fakeIMDS{tree: ec2Tree()})
		defer v6.Close()
		got, err := fetchAny(context.Background(), testGetter, platformtest.ClosedURL(t), v6.URL)
		platformtest.CheckResult(t, got, err, ec2Metadata(), "")
	})
	t.Run("IPv4 answers with an error: no fallback", func(t *testing.T) {
		v4 := httptest.NewServer(&fakeIMDS{tree: ec2Tree(), refusePUT: 403})
		defer v4.Close()
		f6 := &fakeIMDS{tree: ec2Tree()}
		v6 := httptest.NewServer(f6)
		defer v6.Close()
		_, err := fetchAny(context.Background(), testGetter, v4.URL, v6.URL)
		if err == nil || !strings.Contains(err.Error(), "IMDSv2") {
			t.Fatalf("error %v, want the IMDSv2 refusal", err)
		}
		if f6.puts+f6.gets != 0 {
			t.Errorf("the IPv6 endpoint was asked although IPv4 answered")
		}
	})
	t.Run("neither", func(t *testing.T) {
		_, err := fetchAny(context.Background(), testGetter, platformtest.ClosedURL(t), platformtest.ClosedURL(t))
		if err == nil || !strings.Contains(err.Error(), "over IPv6") {
			t.Fatalf("error %v, want both endpoints named", err)
		}
	})
}

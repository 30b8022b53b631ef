package openstack

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/etcd-appliance/appliance/internal/platform"
	"github.com/etcd-appliance/appliance/internal/platform/platformtest"
)

// metadataServer serves documents at their paths under /openstack/latest/ (404 for any
// other path), failing each path's first fail[path] requests with 503. It counts requests.
type metadataServer struct {
	docs map[string][]byte
	fail map[string]int

	mu    sync.Mutex
	calls map[string]int
}

func (s *metadataServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.calls[r.URL.Path]++
	n := s.calls[r.URL.Path]
	s.mu.Unlock()
	if r.Method != http.MethodGet {
		http.Error(w, "method", http.StatusMethodNotAllowed)
		return
	}
	if n <= s.fail[r.URL.Path] {
		http.Error(w, "starting", http.StatusServiceUnavailable)
		return
	}
	doc, ok := s.docs[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Write(doc)
}

// testServer serves a small meta_data.json and network_data.json, written here so that the
// fetch and its retries are tested apart from the captured documents (TestGolden parses those).
func testServer() *metadataServer {
	return &metadataServer{
		docs: map[string][]byte{
			"/openstack/latest/meta_data.json": []byte(`{"uuid": "u-1", "hostname": "node-a.novalocal"}`),
			"/openstack/latest/network_data.json": []byte(`{"links": [{"id": "eth0", "type": "phy", "ethernet_mac_address": "fa:16:3e:00:00:01"}],
				"networks": [{"type": "ipv4_dhcp", "link": "eth0"}]}`),
		},
		fail:  map[string]int{},
		calls: map[string]int{},
	}
}

// serviceWant is what testServer's documents say.
var serviceWant = &platform.Metadata{
	Platform:   Name,
	InstanceID: "u-1",
	Hostname:   "node-a.novalocal",
	Network: &platform.Network{Interfaces: []platform.Interface{
		{Name: "eth0", MAC: platformtest.MustMAC("fa:16:3e:00:00:01"), DHCP4: true},
	}},
}

func quick() platform.HTTPGetter { return platform.HTTPGetter{Attempts: 4, Backoff: time.Millisecond} }

func TestFromService(t *testing.T) {
	t.Run("no user_data", func(t *testing.T) {
		s := testServer()
		srv := httptest.NewServer(s)
		defer srv.Close()
		got, err := FromService(context.Background(), srv.URL+"/", quick())
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, serviceWant) {
			t.Errorf("got\n%s\nwant\n%s", dump(got), dump(serviceWant))
		}
		if s.calls["/openstack/latest/user_data"] != 1 {
			t.Errorf("user_data asked %d times, want once (404 is final)", s.calls["/openstack/latest/user_data"])
		}
	})
	t.Run("user_data, no network_data, 503 twice first", func(t *testing.T) {
		s := testServer()
		delete(s.docs, "/openstack/latest/network_data.json")
		s.docs["/openstack/latest/user_data"] = []byte("version: 1\n")
		s.fail["/openstack/latest/meta_data.json"] = 2
		srv := httptest.NewServer(s)
		defer srv.Close()
		got, err := FromService(context.Background(), srv.URL, quick())
		if err != nil {
			t.Fatal(err)
		}
		if string(got.UserData) != "version: 1\n" || got.Network != nil || got.InstanceID != serviceWant.InstanceID {
			t.Errorf("got %+v", got)
		}
		if n := s.calls["/openstack/latest/meta_data.json"]; n != 3 {
			t.Errorf("meta_data.json asked %d times, want 3 (two 503s, then the answer)", n)
		}
	})
	t.Run("no meta_data.json", func(t *testing.T) {
		s := testServer()
		delete(s.docs, "/openstack/latest/meta_data.json")
		srv := httptest.NewServer(s)
		defer srv.Close()
		_, err := FromService(context.Background(), srv.URL, quick())
		if !errors.Is(err, platform.ErrNotFound) || !strings.HasPrefix(err.Error(), "openstack metadata service: meta_data.json: GET ") {
			t.Errorf("error %v, want meta_data.json not found", err)
		}
	})
	t.Run("bad network_data.json", func(t *testing.T) {
		s := testServer()
		s.docs["/openstack/latest/network_data.json"] = []byte(`{"links": [{"id": "x", "mtu": "big"}]}`)
		srv := httptest.NewServer(s)
		defer srv.Close()
		_, err := FromService(context.Background(), srv.URL, quick())
		const want = "openstack metadata service: network_data.json: links[0].mtu: a JSON string where a number belongs"
		if err == nil || err.Error() != want {
			t.Errorf("error %v, want %s", err, want)
		}
	})
	t.Run("server down", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close() // nothing listens there now
		start := time.Now()
		_, err := FromService(context.Background(), url, quick())
		if err == nil {
			t.Fatal("no error from a server that is down")
		}
		want := "openstack metadata service: meta_data.json: gave up after 4 attempts: GET " + url + "/openstack/latest/meta_data.json: "
		if !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "connection refused") {
			t.Errorf("error\n got %v\nwant %s… connection refused", err, want)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("took %v", d)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		s := testServer()
		s.fail["/openstack/latest/meta_data.json"] = 1000
		srv := httptest.NewServer(s)
		defer srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := FromService(ctx, srv.URL, platform.HTTPGetter{Attempts: 1000, Backoff: 10 * time.Millisecond})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v, want the deadline", err)
		}
	})
}

func TestFromConfigDrive(t *testing.T) {
	const meta = `{"uuid": "u-1", "hostname": "node-a.novalocal"}`
	for _, tc := range []struct {
		name     string
		files    fstest.MapFS
		wantErr  string
		userData string
		network  bool
	}{
		{"all", fstest.MapFS{
			"openstack/latest/meta_data.json":     {Data: []byte(meta)},
			"openstack/latest/network_data.json":  {Data: []byte(`{"links": [{"id": "eth0", "type": "phy"}], "networks": [{"type": "ipv4_dhcp", "link": "eth0"}]}`)},
			"openstack/latest/user_data":          {Data: []byte("version: 1\n")},
			"openstack/2012-08-10/meta_data.json": {Data: []byte(`{"uuid": "old"}`)},
		}, "", "version: 1\n", true},
		{"meta only", fstest.MapFS{"openstack/latest/meta_data.json": {Data: []byte(meta)}}, "", "", false},
		{"no meta", fstest.MapFS{"openstack/latest/user_data": {Data: []byte("x")}}, "openstack config drive: meta_data.json is required: open openstack/latest/meta_data.json: file does not exist", "", false},
		{"bad meta", fstest.MapFS{"openstack/latest/meta_data.json": {Data: []byte("{")}}, "openstack config drive: meta_data.json: unexpected end of JSON input", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			md, err := FromConfigDrive(tc.files)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error %v, want %s", err, tc.wantErr)
				}
				if strings.Contains(tc.wantErr, "does not exist") && !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("error does not wrap fs.ErrNotExist")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if md.InstanceID != "u-1" || md.Hostname != "node-a.novalocal" || string(md.UserData) != tc.userData ||
				(md.UserData == nil) != (tc.userData == "") || (md.Network != nil) != tc.network {
				t.Errorf("got %+v", md)
			}
		})
	}
}

package gcp

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etcd-appliance/appliance/internal/platform"
	"github.com/etcd-appliance/appliance/internal/platform/platformtest"
)

// fakeGCE answers like the GCE metadata server: requests without Metadata-Flavor: Google are
// refused with 403, answers carry Metadata-Flavor: Google, missing items are 404.
type fakeGCE struct {
	instance    string // computeMetadata/v1/instance/?recursive=true
	projectKeys string // computeMetadata/v1/project/attributes/ssh-keys; "" = 404
	fail503     int    // 503 answers before serving anything
	noFlavor    bool   // answer without the Metadata-Flavor header (not a GCE metadata server)

	mu       sync.Mutex
	requests int
}

func (f *fakeGCE) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	if !f.noFlavor {
		w.Header().Set("Metadata-Flavor", "Google")
	}
	if r.Header.Get("Metadata-Flavor") != "Google" || r.Header.Get("X-Forwarded-For") != "" {
		http.Error(w, "Missing Metadata-Flavor:Google header.", http.StatusForbidden)
		return
	}
	if f.fail503 > 0 {
		f.fail503--
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	switch {
	case r.URL.Path == "/computeMetadata/v1/instance/" && r.URL.Query().Get("recursive") == "true":
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, f.instance)
	case r.URL.Path == "/computeMetadata/v1/project/attributes/ssh-keys" && f.projectKeys != "":
		fmt.Fprint(w, f.projectKeys)
	default:
		http.NotFound(w, r)
	}
}

const gceInstance = `{"attributes":{"ssh-keys":"alice:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJq alice","user-data":"version: 1\n"},` +
	`"hostname":"etcd-a.europe-west4-a.c.my-project.internal","id":4520031799277581759,"machineType":"projects/123456789012/machineTypes/e2-small",` +
	`"name":"etcd-a","networkInterfaces":[{"accessConfigs":[{"externalIp":"34.90.1.2","type":"ONE_TO_ONE_NAT"}],"dnsServers":["169.254.169.254"],` +
	`"gateway":"10.164.0.1","ip":"10.164.0.7","mac":"42:01:0a:a4:00:07","mtu":1460,"network":"projects/123456789012/networks/default",` +
	`"subnetmask":"255.255.240.0"}],"zone":"projects/123456789012/zones/europe-west4-a"}`

func gceMetadata(t *testing.T, keys ...string) *platform.Metadata {
	return &platform.Metadata{
		Platform:        Name,
		InstanceID:      "4520031799277581759",
		Hostname:        "etcd-a.europe-west4-a.c.my-project.internal",
		Addresses:       []netip.Addr{netip.MustParseAddr("10.164.0.7")},
		PublicAddresses: []netip.Addr{netip.MustParseAddr("34.90.1.2")},
		SSHKeys:         append([]string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJq alice"}, keys...),
		UserData:        []byte("version: 1\n"),
		Network: &platform.Network{Interfaces: []platform.Interface{{
			MAC: platformtest.MAC(t, "42:01:0a:a4:00:07"), MTU: 1460, DHCP4: true,
		}}},
	}
}

var testGetter = platform.HTTPGetter{Attempts: 4, Backoff: time.Millisecond}

func TestFetch(t *testing.T) {
	noUserData := strings.Replace(gceInstance, `,"user-data":"version: 1\n"`, "", 1)
	wantNoUserData := gceMetadata(t)
	wantNoUserData.UserData = nil
	for _, tc := range []struct {
		name    string
		gce     *fakeGCE
		want    *platform.Metadata
		wantErr string
	}{
		{name: "instance and project keys", gce: &fakeGCE{instance: gceInstance, projectKeys: "bob:ssh-rsa AAAAB3NzaC1yc2E bob\n"}, want: gceMetadata(t, "ssh-rsa AAAAB3NzaC1yc2E bob")},
		{name: "no project keys (404)", gce: &fakeGCE{instance: gceInstance}, want: gceMetadata(t)},
		{name: "no user-data", gce: &fakeGCE{instance: noUserData}, want: wantNoUserData},
		{name: "503 then success", gce: &fakeGCE{instance: gceInstance, fail503: 2}, want: gceMetadata(t)},
		{name: "answer without Metadata-Flavor", gce: &fakeGCE{instance: gceInstance, noFlavor: true}, wantErr: "not from a GCE metadata server"},
		{name: "garbage instance document", gce: &fakeGCE{instance: "<html>captive portal</html>"}, wantErr: "instance document"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.gce)
			defer srv.Close()
			got, err := Fetch(context.Background(), srv.URL, testGetter)
			platformtest.CheckResult(t, got, err, tc.want, tc.wantErr)
		})
	}
}

func TestFakeRequiresFlavor(t *testing.T) {
	srv := httptest.NewServer(&fakeGCE{instance: gceInstance})
	defer srv.Close()
	_, err := testGetter.Get(context.Background(), srv.URL+"/computeMetadata/v1/instance/?recursive=true", nil)
	if err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("error %v, want 403 without the header", err)
	}
}

func TestFetchUnreachable(t *testing.T) {
	u := platformtest.ClosedURL(t)
	_, err := Fetch(context.Background(), u, testGetter)
	if err == nil || !strings.Contains(err.Error(), "no metadata server at "+u+": is this really a GCP instance? set etcd.platform= at build") {
		t.Fatalf("error %v, want the no-metadata-server explanation", err)
	}
}

package azure

import (
	"context"
	"encoding/base64"
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

// fakeIMDS answers like Azure IMDS: without the Metadata: true header or the api-version
// parameter a request is refused with 400 Bad Request (Azure's documented answer; GCE's
// equivalent is 403); statuses can be scripted before the document is served.
type fakeIMDS struct {
	doc    string
	before []int // statuses answered first, in order (410 while IMDS starts, 503…)

	mu       sync.Mutex
	requests int
}

func (f *fakeIMDS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	if r.Header.Get("Metadata") != "true" {
		http.Error(w, `{"error":"Bad request. Required metadata header not specified"}`, http.StatusBadRequest)
		return
	}
	if r.URL.Path != "/metadata/instance" {
		http.NotFound(w, r)
		return
	}
	if r.URL.Query().Get("api-version") == "" {
		http.Error(w, `{"error":"Bad request. api-version was not specified in the request"}`, http.StatusBadRequest)
		return
	}
	if len(f.before) > 0 {
		code := f.before[0]
		f.before = f.before[1:]
		http.Error(w, http.StatusText(code), code)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	fmt.Fprint(w, f.doc)
}

func azureDoc(userData string) string {
	return `{"compute":{"azEnvironment":"AzurePublicCloud","location":"westeurope","name":"etcd-a-vm",` +
		`"osProfile":{"adminUsername":"azureuser","computerName":"etcd-a","disablePasswordAuthentication":"true"},` +
		`"osType":"Linux","publicKeys":[{"keyData":"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK2 azureuser@etcd-a\r\n","path":"/home/azureuser/.ssh/authorized_keys"}],` +
		`"userData":"` + userData + `","vmId":"02aab8a4-74ef-476e-8182-f6d2ba4166a6","vmSize":"Standard_D2s_v5"},` +
		`"network":{"interface":[{"ipv4":{"ipAddress":[{"privateIpAddress":"10.1.0.4","publicIpAddress":"20.1.2.3"}],` +
		`"subnet":[{"address":"10.1.0.0","prefix":"24"}]},"ipv6":{"ipAddress":[]},"macAddress":"6045BDA9C7E1"}]}}`
}

func azureMetadata(t *testing.T, userData string) *platform.Metadata {
	md := &platform.Metadata{
		Platform:        Name,
		InstanceID:      "02aab8a4-74ef-476e-8182-f6d2ba4166a6",
		Hostname:        "etcd-a",
		Addresses:       []netip.Addr{netip.MustParseAddr("10.1.0.4")},
		PublicAddresses: []netip.Addr{netip.MustParseAddr("20.1.2.3")},
		SSHKeys:         []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK2 azureuser@etcd-a"},
		Network:         &platform.Network{Interfaces: []platform.Interface{{MAC: platformtest.MAC(t, "60:45:bd:a9:c7:e1"), DHCP4: true}}},
	}
	if userData != "" {
		md.UserData = []byte(userData)
	}
	return md
}

var testGetter = platform.HTTPGetter{Attempts: 4, Backoff: time.Millisecond}

func TestFetch(t *testing.T) {
	ud := "version: 1\n"
	b64 := base64.StdEncoding.EncodeToString([]byte(ud))
	for _, tc := range []struct {
		name     string
		imds     *fakeIMDS
		want     *platform.Metadata
		wantErr  string
		requests int
	}{
		{name: "userData", imds: &fakeIMDS{doc: azureDoc(b64)}, want: azureMetadata(t, ud), requests: 1},
		{name: "no userData", imds: &fakeIMDS{doc: azureDoc("")}, want: azureMetadata(t, ""), requests: 1},
		{name: "410 while starting, then 503, then success", imds: &fakeIMDS{doc: azureDoc(b64), before: []int{410, 503}}, want: azureMetadata(t, ud), requests: 3},
		{name: "429 throttled", imds: &fakeIMDS{doc: azureDoc(b64), before: []int{429}}, want: azureMetadata(t, ud), requests: 2},
		{name: "403 is not retried", imds: &fakeIMDS{doc: azureDoc(b64), before: []int{403}}, wantErr: "403", requests: 1},
		{name: "bad userData", imds: &fakeIMDS{doc: azureDoc("not*base64")}, wantErr: "compute.userData", requests: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.imds)
			defer srv.Close()
			got, err := Fetch(context.Background(), srv.URL, testGetter)
			platformtest.CheckResult(t, got, err, tc.want, tc.wantErr)
			if tc.imds.requests != tc.requests {
				t.Errorf("%d requests, want %d", tc.imds.requests, tc.requests)
			}
		})
	}
}

func TestFakeRequiresHeader(t *testing.T) {
	srv := httptest.NewServer(&fakeIMDS{doc: azureDoc("")})
	defer srv.Close()
	_, err := testGetter.Get(context.Background(), srv.URL+"/metadata/instance?api-version="+APIVersion, nil)
	if err == nil || !strings.Contains(err.Error(), "400") {
		t.Fatalf("error %v, want 400 without Metadata: true", err)
	}
}

func TestFetchUnreachable(t *testing.T) {
	u := platformtest.ClosedURL(t)
	_, err := Fetch(context.Background(), u, testGetter)
	if err == nil || !strings.Contains(err.Error(), "no metadata server at "+u+": is this really an Azure VM? set etcd.platform= at build") {
		t.Fatalf("error %v, want the no-metadata-server explanation", err)
	}
}

package platformtest

import (
	"encoding/json"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/etcd-appliance/appliance/internal/platform"
)

// MAC parses a hardware address or fails the test.
func MAC(t testing.TB, s string) platform.MAC {
	t.Helper()
	m, err := platform.ParseMAC(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// CheckResult compares a provider's result with the expected Metadata, or its error with the
// expected substring when wantErr is set; a difference is shown as indented JSON.
func CheckResult(t testing.TB, got *platform.Metadata, err error, want *platform.Metadata, wantErr string) {
	t.Helper()
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("error %v, want one containing %q", err, wantErr)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ")
		w, _ := json.MarshalIndent(want, "", "  ")
		t.Errorf("got\n%s (user-data %q)\nwant\n%s (user-data %q)", g, got.UserData, w, want.UserData)
	}
}

// MustMAC parses a hardware address or panics: for expected values in test tables.
func MustMAC(s string) platform.MAC {
	m, err := platform.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

// Prefixes parses CIDR prefixes or panics.
func Prefixes(s ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, x := range s {
		out = append(out, netip.MustParsePrefix(x))
	}
	return out
}

// Addrs parses IP addresses or panics.
func Addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, x := range s {
		out = append(out, netip.MustParseAddr(x))
	}
	return out
}

// ClosedURL is an http:// URL on loopback where nothing listens: a metadata server that is
// not there.
func ClosedURL(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + l.Addr().String()
	l.Close()
	return u
}

// CheckInvariants holds for any Metadata a parser accepts, whatever its input: it marshals to
// JSON, every interface has a name, every static and public address is valid. Fuzz tests
// assert it.
func CheckInvariants(t testing.TB, md *platform.Metadata) {
	t.Helper()
	if _, err := json.Marshal(md); err != nil {
		t.Errorf("result does not marshal: %v", err)
	}
	for _, a := range md.PublicAddresses {
		if !a.IsValid() {
			t.Errorf("invalid public address in %v", md.PublicAddresses)
		}
	}
	if md.Network == nil {
		return
	}
	for _, ifc := range md.Network.Interfaces {
		if ifc.Name == "" && len(ifc.MAC) == 0 {
			t.Errorf("interface with neither a name nor a MAC to match it by: %+v", ifc)
		}
		for _, p := range ifc.Addresses {
			if !p.IsValid() {
				t.Errorf("invalid address %v on %s", p, ifc.Name)
			}
		}
	}
}

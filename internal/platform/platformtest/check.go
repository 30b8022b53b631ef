package platformtest

import (
	"encoding/json"
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

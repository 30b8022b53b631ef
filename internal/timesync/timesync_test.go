package timesync

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestServers(t *testing.T) {
	for _, tc := range []struct {
		platform   string
		configured []string
		want       []string
	}{
		{"aws", nil, []string{"169.254.169.123"}},
		{"aws", []string{"ntp.example", "169.254.169.123"}, []string{"ntp.example", "169.254.169.123"}},
		{"gcp", []string{"ntp.example"}, []string{"ntp.example", "169.254.169.254"}},
		{"azure", nil, nil},
		{"qemu", []string{"10.77.0.1"}, []string{"10.77.0.1"}},
	} {
		if got := Servers(tc.platform, tc.configured); !slices.Equal(got, tc.want) {
			t.Errorf("Servers(%s, %v) = %v, want %v", tc.platform, tc.configured, got, tc.want)
		}
	}
	if got := string(DropInText([]string{"a.example", "192.0.2.1"})); got != "# Written by firstboot at every boot: time.servers and the platform's NTP service.\n[Time]\nNTP=a.example 192.0.2.1\n" {
		t.Errorf("drop-in %q", got)
	}
}

func TestLeaseServers(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "2"), []byte("ADDRESS=10.77.0.12\nNTP=10.77.0.1 10.77.0.2\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "3"), []byte("ADDRESS=10.78.0.12\nNTP=10.77.0.2\nDNS=10.77.0.1\n"), 0o644)
	if got := LeaseServers(dir); !slices.Equal(got, []string{"10.77.0.1", "10.77.0.2"}) {
		t.Errorf("got %v", got)
	}
	if got := LeaseServers(filepath.Join(dir, "none")); got != nil {
		t.Errorf("no leases: %v", got)
	}
}

func TestSourceFromJournal(t *testing.T) {
	for _, tc := range []struct{ journal, want string }{
		{"", ""},
		{"Network configuration changed, trying to establish connection.\n", ""},
		// the v252 lines, oldest first: the last server contacted is the source
		{"Contacted time server 10.77.0.1:123 (10.77.0.1).\nInitial clock synchronization to Thu 2026-12-03 18:00:01.2 UTC.\n" +
			"Timed out waiting for reply from 10.77.0.1:123 (10.77.0.1).\nContacted time server 169.254.169.123:123 (169.254.169.123).\n",
			"169.254.169.123:123 (169.254.169.123)"},
	} {
		if got := SourceFromJournal(tc.journal); got != tc.want {
			t.Errorf("SourceFromJournal(%q) = %q, want %q", tc.journal, got, tc.want)
		}
	}
}

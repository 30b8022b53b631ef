package gcp

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/etcd-appliance/appliance/internal/platform/platformtest"
)

// FuzzParseInstance: no instance document panics the parser, and what it accepts is well formed.
func FuzzParseInstance(f *testing.F) {
	for _, p := range fixtures(f, "*.json") {
		f.Add(p, []byte("core:ssh-ed25519 AAAA x"))
	}
	f.Add([]byte(`{"hostname":"h","networkInterfaces":[{"ip":"10.0.0.2"}],"attributes":{"ssh-keys":"u:ssh-ed25519 AAAA"}}`), []byte(""))
	f.Add([]byte(`{"attributes":{"ssh-keys":"u:ecdsa-sha2-nistp256 AAAA google-ssh {\"expireOn\":\"2000-01-01T00:00:00+0000\"}"}}`), []byte("\n\n"))
	now := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, instance, projectKeys []byte) {
		md, err := ParseInstance(instance, projectKeys, now)
		if err != nil {
			return
		}
		platformtest.CheckInvariants(t, md)
	})
}

// fixtures are the captured documents (seeds only; absent beside a bare checkout).
func fixtures(f *testing.F, glob string) [][]byte {
	paths, _ := filepath.Glob(filepath.Join("..", "..", "..", "..", "shared", "fixtures", "metadata", "gcp", glob))
	var out [][]byte
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			out = append(out, b)
		}
	}
	return out
}

package backup

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
)

// snap writes a fake snapshot of n random bytes and returns its path, contents and Meta.
func snap(t *testing.T, n int) (string, []byte, Meta) {
	t.Helper()
	data := make([]byte, n)
	rand.Read(data)
	p := filepath.Join(t.TempDir(), "snap.db")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return p, data, Meta{
		SHA256: hex.EncodeToString(sum[:]), Size: int64(n), Revision: 42, HashKV: 7, CompactRevision: 3,
		Cluster: "prod", Member: "etcd-a", Time: time.Date(2026, 12, 4, 5, 15, 0, 0, time.UTC),
	}
}

func TestRoundTrip(t *testing.T) {
	x, other := newX25519(t), newX25519(t)
	sshPub, sshPriv := newSSH(t, "")
	sshIDs, err := ParseIdentity(sshPriv)
	if err != nil {
		t.Fatal(err)
	}
	sshRs, err := ParseRecipients([]string{sshPub})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		recipients []age.Recipient
		ids        []age.Identity
		key        string
	}{
		{"plain", nil, nil, "prod-20261204T051500Z-r42.db"},
		{"plain, identities ignored", nil, []age.Identity{x}, "prod-20261204T051500Z-r42.db"},
		{"x25519", []age.Recipient{x.Recipient()}, []age.Identity{x}, "prod-20261204T051500Z-r42.db.age"},
		{"two recipients, second identity", []age.Recipient{other.Recipient(), x.Recipient()}, []age.Identity{x}, "prod-20261204T051500Z-r42.db.age"},
		{"ssh", sshRs, sshIDs, "prod-20261204T051500Z-r42.db.age"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// several age chunks (64 KiB) and a partial one
			path, data, m := snap(t, 200_000)
			st := newMemStore()
			o, err := Upload(context.Background(), st, path, m, tt.recipients)
			if err != nil {
				t.Fatal(err)
			}
			if o.Key != tt.key {
				t.Errorf("key %q, want %q", o.Key, tt.key)
			}
			stored := st.objs[o.Key].data
			if enc := len(tt.recipients) > 0; enc {
				if st.putSize[o.Key] != -1 || !bytes.HasPrefix(stored, []byte("age-encryption.org/v1\n")) {
					t.Errorf("encrypted upload: size %d, starts %q", st.putSize[o.Key], stored[:20])
				}
			} else if st.putSize[o.Key] != int64(len(data)) || !bytes.Equal(stored, data) {
				t.Errorf("plain upload: size %d, same bytes %t", st.putSize[o.Key], bytes.Equal(stored, data))
			}
			if strings.Contains(st.putType[o.Key], "bytes.") {
				t.Errorf("Put got a %s: the file was read into memory", st.putType[o.Key])
			}

			var out bytes.Buffer
			got, err := Download(context.Background(), st, o.Key, tt.ids, &out)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), data) {
				t.Error("downloaded bytes differ")
			}
			m.Encrypted = len(tt.recipients) > 0
			if got != m {
				t.Errorf("meta\n got %+v\nwant %+v", got, m)
			}
		})
	}
}

func TestUploadHashesFile(t *testing.T) {
	path, _, m := snap(t, 1000)
	want := m
	m.SHA256, m.Size = "", 0
	st := newMemStore()
	o, err := Upload(context.Background(), st, path, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseMeta(o.Meta)
	if err != nil {
		t.Fatal(err)
	}
	if got.SHA256 != want.SHA256 || got.Size != want.Size {
		t.Errorf("meta %s %d, want %s %d", got.SHA256, got.Size, want.SHA256, want.Size)
	}
}

func TestUploadRefusesOtherFile(t *testing.T) {
	path, _, m := snap(t, 1000)
	st := newMemStore()
	m.SHA256 = strings.Repeat("0", 64)
	_, err := Upload(context.Background(), st, path, m, nil)
	if err == nil || !strings.Contains(err.Error(), "changed while it was uploaded") || !strings.Contains(err.Error(), "was deleted again") {
		t.Fatalf("error %v", err)
	}
	if len(st.objs) != 0 {
		t.Errorf("left %d objects", len(st.objs))
	}
	m.Size = 999
	if _, err := Upload(context.Background(), st, path, m, nil); err == nil || !strings.Contains(err.Error(), "is 1000 bytes, not the 999") {
		t.Fatalf("error %v", err)
	}
	m.Size, m.Revision = 1000, 0
	if _, err := Upload(context.Background(), st, path, m, nil); err == nil || !strings.Contains(err.Error(), "the backup has no revision or time") {
		t.Fatalf("error %v", err)
	}
}

// TestUploadShortObject: a store that keeps fewer bytes than it was sent.
func TestUploadShortObject(t *testing.T) {
	path, _, m := snap(t, 1000)
	st := newMemStore()
	st.truncate = 10
	_, err := Upload(context.Background(), st, path, m, nil)
	if err == nil || !strings.Contains(err.Error(), "is 990 bytes after the upload, not the 1000 sent; mem://bucket/prefix/prod-20261204T051500Z-r42.db was deleted again") {
		t.Fatalf("error %v", err)
	}
	if len(st.objs) != 0 {
		t.Errorf("left %d objects", len(st.objs))
	}
}

func TestDownloadDamaged(t *testing.T) {
	x := newX25519(t)
	tests := []struct {
		name      string
		encrypt   bool
		edit      func(*memObj)
		checksum  bool // a *ChecksumError
		wantError string
	}{
		{name: "plain flipped byte", edit: func(o *memObj) { o.data[500] ^= 1 }, checksum: true},
		{name: "plain truncated", edit: func(o *memObj) { o.data = o.data[:100] }, checksum: true},
		{name: "metadata hash altered", edit: func(o *memObj) { o.meta["sha256"] = strings.Repeat("1", 64) }, checksum: true},
		{name: "metadata size altered", edit: func(o *memObj) { o.meta["size"] = "5" }, checksum: true},
		{name: "encrypted, metadata hash altered", encrypt: true, edit: func(o *memObj) { o.meta["sha256"] = strings.Repeat("1", 64) }, checksum: true},
		{name: "encrypted flipped byte", encrypt: true, edit: func(o *memObj) { o.data[len(o.data)-100] ^= 1 },
			wantError: "it is damaged, truncated or was altered; nothing was restored"},
		{name: "encrypted truncated", encrypt: true, edit: func(o *memObj) { o.data = o.data[:len(o.data)-70_000] },
			wantError: "it is damaged, truncated or was altered; nothing was restored"},
		{name: "encrypted header damaged", encrypt: true, edit: func(o *memObj) { o.data[3] = 'X' },
			wantError: "reading its age header"},
		{name: "metadata missing", edit: func(o *memObj) { delete(o.meta, "sha256") },
			wantError: `backup mem://bucket/prefix/prod-20261204T051500Z-r42.db: metadata "sha256" is missing`},
		{name: "metadata disagrees with key", edit: func(o *memObj) { o.meta["revision"] = "41" },
			wantError: "metadata revision 41, but the key says 42"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, _, m := snap(t, 150_000)
			st := newMemStore()
			var rs []age.Recipient
			if tt.encrypt {
				rs = []age.Recipient{x.Recipient()}
			}
			o, err := Upload(context.Background(), st, path, m, rs)
			if err != nil {
				t.Fatal(err)
			}
			st.edit(o.Key, tt.edit)
			_, err = Download(context.Background(), st, o.Key, []age.Identity{x}, &bytes.Buffer{})
			t.Log(err)
			var ce *ChecksumError
			switch {
			case err == nil:
				t.Fatal("no error")
			case tt.checksum:
				if !errors.As(err, &ce) {
					t.Fatalf("error %v is not a *ChecksumError", err)
				}
				msg := err.Error()
				for _, want := range []string{"nothing was restored", "mem://bucket/prefix/" + o.Key, ce.Want, ce.Got} {
					if !strings.Contains(msg, want) {
						t.Errorf("%q does not say %q", msg, want)
					}
				}
				if ce.Want == ce.Got && ce.WantSize == ce.GotSize {
					t.Errorf("checksum error without a difference: %v", err)
				}
			default:
				if !strings.Contains(err.Error(), tt.wantError) {
					t.Errorf("error %v, want %q", err, tt.wantError)
				}
			}
		})
	}
}

func TestDownloadIdentities(t *testing.T) {
	x, other := newX25519(t), newX25519(t)
	path, _, m := snap(t, 1000)
	st := newMemStore()
	o, err := Upload(context.Background(), st, path, m, []age.Recipient{x.Recipient()})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		ids     []age.Identity
		wantErr string
	}{
		{"none", nil, "restore.age_identity: backup mem://bucket/prefix/" + o.Key + " is encrypted"},
		{"wrong", []age.Identity{other}, "restore.age_identity: none of its 1 identities opens backup mem://bucket/prefix/" + o.Key},
		{"right among others", []age.Identity{other, x}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Download(context.Background(), st, o.Key, tt.ids, &bytes.Buffer{})
			t.Log(err)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestDownloadIdle(t *testing.T) {
	defer func(d time.Duration) { IdleTimeout = d }(IdleTimeout)
	IdleTimeout = 50 * time.Millisecond
	x := newX25519(t)
	for _, tt := range []struct {
		name       string
		encrypt    bool
		stallAfter int
	}{
		{"plain, mid-way", false, 300},
		{"plain, at once", false, 0},
		{"encrypted, in the header", true, 10},
		{"encrypted, mid-way", true, 70_000},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path, _, m := snap(t, 100_000)
			st := newMemStore()
			var rs []age.Recipient
			if tt.encrypt {
				rs = []age.Recipient{x.Recipient()}
			}
			o, err := Upload(context.Background(), st, path, m, rs)
			if err != nil {
				t.Fatal(err)
			}
			st.stallAfter = tt.stallAfter
			start := time.Now()
			_, err = Download(context.Background(), st, o.Key, []age.Identity{x}, &bytes.Buffer{})
			t.Log(err)
			if !errors.Is(err, ErrIdle) || !strings.Contains(err.Error(), "for 50ms after") || !strings.Contains(err.Error(), "abandoned; nothing was restored") {
				t.Fatalf("error %v", err)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("took %s", took)
			}
		})
	}
}

// TestDownloadSlowIsNotIdle: a body that keeps sending, however slowly, is not abandoned.
func TestDownloadSlowIsNotIdle(t *testing.T) {
	defer func(d time.Duration) { IdleTimeout = d }(IdleTimeout)
	IdleTimeout = 100 * time.Millisecond
	path, data, m := snap(t, 10)
	st := newMemStore()
	o, err := Upload(context.Background(), st, path, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	st.slow = 30 * time.Millisecond // 10 one-byte reads: 300ms in all, 3× the idle timeout
	var out bytes.Buffer
	if _, err := Download(context.Background(), st, o.Key, nil, &out); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Error("bytes differ")
	}
}

package backup

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSource: a backup checked once is saved to a file; one replaced between the two reads
// is refused and leaves no file.
func TestSource(t *testing.T) {
	for _, tc := range []struct {
		name    string
		replace bool
		want    string
	}{
		{"same both times", false, ""},
		{"replaced in between", true, "changed while it was read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newMemStore()
			p, data, m := snap(t, 1000)
			o, err := Upload(context.Background(), st, p, m, nil)
			if err != nil {
				t.Fatal(err)
			}
			src := &Source{Store: st, Key: o.Key}
			if err := src.Check(context.Background()); err != nil || src.Meta.SHA256 != m.SHA256 {
				t.Fatalf("Check: %v, meta %+v", err, src.Meta)
			}
			if tc.replace { // another snapshot under the same name, with metadata to match
				p2, _, m2 := snap(t, 1000)
				m2.Time, m2.Revision = m.Time, m.Revision
				if _, err := Upload(context.Background(), st, p2, m2, nil); err != nil {
					t.Fatal(err)
				}
			}
			out := filepath.Join(t.TempDir(), "restore.db")
			err = src.SaveTo(context.Background(), out)
			switch got, rerr := os.ReadFile(out); {
			case tc.want == "" && (err != nil || !bytes.Equal(got, data)):
				t.Errorf("SaveTo: %v (%d bytes, read %v)", err, len(got), rerr)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("SaveTo: %v, want %q", err, tc.want)
			case tc.want != "" && !os.IsNotExist(rerr):
				t.Errorf("a refused SaveTo left %s (%v)", out, rerr)
			}
			if fi, err := os.Stat(out); err == nil && fi.Mode().Perm() != 0o600 {
				t.Errorf("mode %v, want 0600", fi.Mode().Perm())
			}
		})
	}
}

// TestSourcePick: an object named is kept; otherwise the pinned snapshot, or the latest.
func TestSourcePick(t *testing.T) {
	st := newMemStore()
	m := fullMeta()
	var keys, sums []string
	for rev := int64(1); rev <= 3; rev++ {
		m.Revision, m.SHA256 = rev, strings.Repeat(fmt.Sprintf("%02d", rev), 32)
		st.put(Key(m), nil, m.Map())
		keys, sums = append(keys, Key(m)), append(sums, m.SHA256)
	}
	for _, tc := range []struct{ key, pin, want string }{
		{keys[0], "", keys[0]},
		{"", sums[1], keys[1]},
		{"", "", keys[2]},
	} {
		s := &Source{Store: st, Key: tc.key}
		if err := s.Pick(context.Background(), tc.pin, nil); err != nil || s.Key != tc.want {
			t.Errorf("Pick(key %q, pin %q) = %q, %v; want %q", tc.key, tc.pin, s.Key, err, tc.want)
		}
	}
}

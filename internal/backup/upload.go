package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"

	"filippo.io/age"

	"github.com/etcd-appliance/appliance/internal/objstore"
	"github.com/etcd-appliance/appliance/internal/snapshot"
)

// Upload streams the snapshot at dbPath into st under Key(m), with m.Map() as metadata,
// encrypted with age to recipients when there are any (m.Encrypted is set to match). When
// m.SHA256 is empty the file is hashed first (snapshot.FileSHA256), and a zero m.Size is the
// file's. The plaintext is hashed again while it is sent and the object is Stat'ed
// afterwards: an object whose file changed on the way, or that the store kept short, is
// deleted again, since retention would count it as a backup.
func Upload(ctx context.Context, st objstore.Store, dbPath string, m Meta, recipients []age.Recipient) (objstore.Object, error) {
	if m.Revision < 1 || m.Time.IsZero() {
		// the key would not parse, and the backup would be invisible to Latest and Expired
		return objstore.Object{}, fmt.Errorf("uploading %s: the backup has no revision or time (revision %d, time %s)", dbPath, m.Revision, m.Time)
	}
	f, err := os.Open(dbPath)
	if err != nil {
		return objstore.Object{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return objstore.Object{}, err
	}
	if m.SHA256 == "" {
		if m.SHA256, m.Size, err = snapshot.FileSHA256(dbPath); err != nil {
			return objstore.Object{}, err
		}
	}
	if m.Size == 0 {
		m.Size = fi.Size()
	}
	if m.Size != fi.Size() {
		return objstore.Object{}, fmt.Errorf("%s is %d bytes, not the %d its metadata says", dbPath, fi.Size(), m.Size)
	}
	m.Encrypted = len(recipients) > 0
	key := Key(m)

	h := sha256.New()
	// a snapshot file only ever grows by accident; what was hashed is what is sent
	var body io.Reader = io.TeeReader(io.LimitReader(f, m.Size), h)
	size := m.Size
	if m.Encrypted {
		// age streams in 64 KiB chunks; its output size depends on the header, so unknown
		if body, err = age.EncryptReader(body, recipients...); err != nil {
			return objstore.Object{}, fmt.Errorf("encrypting %s: %w", dbPath, err)
		}
		size = -1
	}
	sent := &counter{r: body}
	if err := st.Put(ctx, key, sent, size, m.Map()); err != nil {
		return objstore.Object{}, fmt.Errorf("uploading %s: %w", dbPath, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != m.SHA256 {
		// the file changed while it was read (or the caller hashed another file)
		return objstore.Object{}, undo(ctx, st, key, fmt.Errorf("%s changed while it was uploaded (sha256 %s, not %s)", dbPath, got, m.SHA256))
	}
	o, err := st.Stat(ctx, key)
	if err != nil {
		return objstore.Object{}, fmt.Errorf("checking the upload: %w", err)
	}
	if o.Size != sent.n {
		return objstore.Object{}, undo(ctx, st, key, fmt.Errorf("%s is %d bytes after the upload, not the %d sent", where(st, key), o.Size, sent.n))
	}
	return o, nil
}

// undo deletes a bad upload, and says so in err.
func undo(ctx context.Context, st objstore.Store, key string, err error) error {
	if derr := st.Delete(ctx, key); derr != nil {
		return fmt.Errorf("%w; deleting %s failed too: %v", err, where(st, key), derr)
	}
	return fmt.Errorf("%w; %s was deleted again", err, where(st, key))
}

// counter counts the bytes read through it.
type counter struct {
	r io.Reader
	n int64
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

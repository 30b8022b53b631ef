package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"filippo.io/age"

	"github.com/etcd-appliance/appliance/internal/objstore"
)

// ChecksumError is a downloaded backup that is not the snapshot its metadata describes.
type ChecksumError struct {
	Object            string // the object's URL
	Want, Got         string // hex sha256 of the plaintext: from the metadata, and downloaded
	WantSize, GotSize int64
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("backup %s is damaged or was altered: it has sha256 %s (%d bytes), its metadata says %s (%d bytes); nothing was restored: pick another backup",
		e.Object, e.Got, e.GotSize, e.Want, e.WantSize)
}

// Download writes the snapshot in backup key to w, decrypting it with ids when it is
// encrypted, and returns its metadata. It checks the plaintext's sha256 and size against the
// metadata only at the end (a *ChecksumError when they differ), so on any error the caller
// must throw away what was written. A download that receives nothing for IdleTimeout is
// abandoned.
func Download(ctx context.Context, st objstore.Store, key string, ids []age.Identity, w io.Writer) (Meta, error) {
	url := where(st, key)
	o, err := st.Stat(ctx, key)
	if err != nil {
		return Meta{}, err // the store's errors name the object
	}
	var m Meta
	if t, rev, enc, ok := ParseKey(key); ok {
		m, err = metaFor(parsed{o, t, rev, enc}, o.Meta)
	} else {
		m, err = ParseMeta(o.Meta) // a backup renamed by hand is still one
	}
	if err != nil {
		return Meta{}, fmt.Errorf("backup %s: %w", url, err)
	}
	if m.Encrypted && len(ids) == 0 {
		return m, fmt.Errorf("restore.age_identity: backup %s is encrypted: give the age secret key it was encrypted to; nothing was restored", url)
	}

	ctx, idle := watchIdle(ctx, IdleTimeout)
	defer idle.stop()
	body, _, err := st.Get(ctx, key)
	if err != nil {
		if stalled(ctx) {
			return m, abandoned(url, 0)
		}
		return m, err
	}
	defer body.Close()
	src := idle.reader(body)
	var r io.Reader = src
	if m.Encrypted {
		if r, err = age.Decrypt(r, ids...); err != nil {
			var nomatch *age.NoIdentityMatchError
			switch {
			case stalled(ctx):
				return m, abandoned(url, 0)
			case src.err != nil:
				return m, fmt.Errorf("downloading %s: %w", url, src.err)
			case errors.As(err, &nomatch):
				return m, fmt.Errorf("restore.age_identity: none of its %d identities opens backup %s, which was encrypted to other recipients; nothing was restored", len(ids), url)
			default:
				return m, fmt.Errorf("backup %s: reading its age header: %w; nothing was restored", url, err)
			}
		}
	}

	h := sha256.New()
	dst := &writeErr{w: w}
	n, err := io.Copy(io.MultiWriter(dst, h), r)
	switch {
	case err == nil:
	case dst.err != nil:
		return m, fmt.Errorf("writing backup %s: %w", url, dst.err)
	case stalled(ctx):
		return m, abandoned(url, n)
	case src.err != nil || ctx.Err() != nil:
		return m, fmt.Errorf("downloading %s after %d bytes: %w", url, n, err)
	case m.Encrypted:
		// age authenticates each chunk: a flipped or missing byte shows up here
		return m, fmt.Errorf("backup %s: decrypting after %d bytes: %w: it is damaged, truncated or was altered; nothing was restored", url, n, err)
	default:
		return m, fmt.Errorf("reading backup %s after %d bytes: %w", url, n, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != m.SHA256 || n != m.Size {
		return m, &ChecksumError{Object: url, Want: m.SHA256, Got: got, WantSize: m.Size, GotSize: n}
	}
	return m, nil
}

func abandoned(url string, n int64) error {
	return fmt.Errorf("downloading %s: %w for %s after %d bytes, so the download was abandoned; nothing was restored", url, ErrIdle, IdleTimeout, n)
}

// writeErr remembers the destination's error, which io.Copy does not tell from the source's.
type writeErr struct {
	w   io.Writer
	err error
}

func (w *writeErr) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	if err != nil {
		w.err = err
	}
	return n, err
}

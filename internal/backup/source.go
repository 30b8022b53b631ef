package backup

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"filippo.io/age"

	"github.com/etcd-appliance/appliance/internal/objstore"
)

// Source is a backup to restore, read twice: Check reads it through once, decrypting it and
// checking its sha256, before anything is written; SaveTo reads it again into a file and checks
// it is the same. Reading twice keeps the snapshot out of memory: a restore is bounded by the
// disk it is saved to, not by RAM.
type Source struct {
	Store objstore.Store
	Key   string
	IDs   []age.Identity
	Meta  Meta // once checked
}

func (s *Source) String() string { return strings.TrimSuffix(s.Store.String(), "/") + "/" + s.Key }

// Check reads the backup through, decrypting it and checking its sha256, and keeps its metadata.
func (s *Source) Check(ctx context.Context) error {
	m, err := Download(ctx, s.Store, s.Key, s.IDs, io.Discard)
	if err != nil {
		return err
	}
	s.Meta = m
	return nil
}

// SaveTo reads the checked backup again into path (mode 0600), and checks it is the snapshot
// Check read; on any error path is removed.
func (s *Source) SaveTo(ctx context.Context, path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	m, err := Download(ctx, s.Store, s.Key, s.IDs, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && m.SHA256 != s.Meta.SHA256 {
		err = fmt.Errorf("%s changed while it was read (sha256 %s, then %s): give an exact object", s, s.Meta.SHA256, m.SHA256)
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

// Pick sets Key, when the source names no object, to the backup to restore: the newest one
// whose snapshot has sha256 pin, or without a pin the newest whose metadata is sound (skipped
// hears of the newer ones passed over).
func (s *Source) Pick(ctx context.Context, pin string, skipped func(key string, why error)) error {
	if s.Key != "" {
		return nil
	}
	var o objstore.Object
	var err error
	if pin != "" {
		o, _, err = Find(ctx, s.Store, pin)
	} else {
		o, _, err = Latest(ctx, s.Store, skipped)
	}
	if err != nil {
		return err
	}
	s.Key = o.Key
	return nil
}

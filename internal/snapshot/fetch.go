package snapshot

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/etcd-appliance/appliance/internal/fetch"
)

// ChecksumError is a downloaded snapshot whose sha256 is not the configured one.
type ChecksumError struct {
	Source, Want, Got string
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("restore.sha256: the snapshot at %s has sha256 %s, not %s: publish the right snapshot or correct restore.sha256 (sha256sum prints it); nothing was restored", e.Source, e.Got, e.Want)
}

// Limits bound a snapshot download.
type Limits struct {
	// MaxBytes is the room for the snapshot; 0: no limit. Room says what that room is and
	// how to get more, for the error.
	MaxBytes int64
	Room     string
	// IdleTimeout gives up on a server that sends nothing for this long; 0: DefaultIdle.
	IdleTimeout time.Duration
}

// DefaultIdle is how long a restore download may stall: long enough for a busy server or a
// slow link, short enough that a dead one is not waited on for the whole fetch deadline.
const DefaultIdle = 2 * time.Minute

// Fetch downloads the snapshot at source (an http(s) or file URL, through internal/fetch, with
// trust's roots and proxy) into dir, within lim, and checks its sha256 against want before
// returning its path.
func Fetch(ctx context.Context, trust fetch.Trust, source, want, dir string, lim Limits) (string, error) {
	dst := filepath.Join(dir, "restore.db")
	idle := lim.IdleTimeout
	if idle <= 0 {
		idle = DefaultIdle
	}
	// the snapshot is used as it is: fetch never unpacks
	err := fetch.New(fetch.Options{Trust: trust, MaxBytes: lim.MaxBytes, IdleTimeout: idle}).File(ctx, source, dst)
	var tl *fetch.TooLargeError
	switch {
	case errors.As(err, &tl):
		return "", fmt.Errorf("restore.source %s: the snapshot is larger than %d bytes (%d MiB), %s; nothing was written", source, tl.Max, tl.Max>>20, lim.Room)
	case err != nil:
		hint := ""
		if fetch.UnknownAuthority(err) {
			hint = ": add the CA that signed the server's certificate to trust.ca_certs"
		}
		return "", fmt.Errorf("restore.source %s: %w%s", source, err, hint)
	}
	got, _, err := FileSHA256(dst)
	if err != nil {
		return "", err
	}
	if got != want {
		os.Remove(dst)
		return "", &ChecksumError{Source: source, Want: want, Got: got}
	}
	return dst, nil
}

package datavol

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Options are what Prepare needs: the config's data settings, where to mount, and whose volume
// this node expects.
type Options struct {
	Request
	Root string // "" or "/"; tests point it at a fake tree (see Scan)
	// Want is this node's cluster, CA fingerprint and member. A new volume records it, with
	// Created set to now if zero.
	Want Identity
	// AfterFormat, if set, runs between mkfs and the first mount of a new filesystem: the
	// power-cut tests stop there.
	AfterFormat func(ctx context.Context) error
}

// Result is what Prepare did.
type Result struct {
	Choice    Choice
	Formatted bool
	Grew      bool
	Identity  *Identity // the volume's record, as found or as written
}

// Prepare finds the data volume, formats it if it is blank (or may be wiped), mounts it at
// o.Dir, checks that it is this node's volume and grows it to fill its disk. Every check on
// which disk to use is made before anything is written. The identity check needs the volume
// mounted; a volume that fails it is unmounted again, or erased when data.wipe allows.
func Prepare(ctx context.Context, o Options) (*Result, error) {
	if o.Dir == "" {
		return nil, errors.New("data volume: no mount point given")
	}
	if o.Root == "" {
		o.Root = "/"
	}
	disks, err := Scan(o.Root)
	if err != nil {
		return nil, fmt.Errorf("data volume: %w", err)
	}
	ch, err := Select(disks, o.Request)
	if err != nil {
		return nil, fmt.Errorf("data volume: %w", err)
	}
	res := &Result{Choice: ch}
	if ch.Format {
		if err := formatAndMount(ctx, ch, o, res); err != nil {
			return nil, err
		}
	} else {
		if !ch.Mounted {
			if err := mountReadOnly(ch.Path, o.Dir); err != nil {
				return nil, fmt.Errorf("data volume: %w", err)
			}
		}
		if err := checkIdentity(ctx, ch, o, res); err != nil {
			return nil, err
		}
	}
	if res.Grew, err = Grow(ctx, ch.Path, o.Dir); err != nil {
		return nil, fmt.Errorf("data volume: %w", err)
	}
	return res, nil
}

// checkIdentity checks the identity record of a mounted volume of ours: none yet (a volume made
// by hand, or a crash right after formatting) adopts it; another cluster's is refused, or erased
// when data.wipe allows.
func checkIdentity(ctx context.Context, ch Choice, o Options, res *Result) error {
	id, err := ReadIdentity(o.Dir)
	if (err != nil || id == nil) && !ch.Mounted {
		// The first look skips the journal so that a foreign volume is not changed. After a
		// power cut the record may live only in the journal: look again with it replayed.
		if uerr := Unmount(o.Dir); uerr != nil {
			return fmt.Errorf("data volume: %w", uerr)
		}
		if merr := mountRecovered(ch.Path, o.Dir); merr != nil {
			return fmt.Errorf("data volume: %w", merr)
		}
		id, err = ReadIdentity(o.Dir)
	}
	accept := func() error { // mounted read-only, unchecked until now
		if ch.Mounted {
			return nil
		}
		if err := Unmount(o.Dir); err != nil {
			return fmt.Errorf("data volume: %w", err)
		}
		if err := Mount(ctx, ch.Path, o.Dir); err != nil {
			return fmt.Errorf("data volume: %w", err)
		}
		return nil
	}
	switch {
	case err != nil: // unreadable: refused, even with data.wipe, as its owner is unknown
	case id == nil || id.Check(o.Want) == nil:
		if err := accept(); err != nil {
			return err
		}
		// The read-only look skipped the journal (noload, so that a refused volume is not
		// changed): after an unclean shutdown the record may exist, or be newer, only in the
		// journal, which the read-write mount has replayed. Read it again.
		if id, err = ReadIdentity(o.Dir); err == nil && id != nil {
			err = id.Check(o.Want)
		}
		switch {
		case err != nil && id != nil && ch.Wipe: // another cluster's, seen only now
			if err := Unmount(o.Dir); err != nil {
				return fmt.Errorf("data volume: erasing %s (data.wipe): %w", ch.Path, err)
			}
			return formatAndMount(ctx, ch, o, res)
		case err != nil:
			err = fmt.Errorf("data volume %s: %w", ch.Path, err)
			if !ch.Mounted {
				if uerr := Unmount(o.Dir); uerr != nil {
					err = errors.Join(err, uerr)
				}
			}
			return err
		case id == nil:
			return writeNewIdentity(o, res)
		}
		res.Identity = id
		return nil
	default: // another cluster's or member's
		err = id.Check(o.Want)
		if ch.Wipe {
			if err := Unmount(o.Dir); err != nil {
				return fmt.Errorf("data volume: erasing %s (data.wipe): %w", ch.Path, err)
			}
			return formatAndMount(ctx, ch, o, res)
		}
	}
	err = fmt.Errorf("data volume %s: %w", ch.Path, err)
	if !ch.Mounted {
		// Leave nothing half-done: the volume is not going to be used.
		if uerr := Unmount(o.Dir); uerr != nil {
			err = errors.Join(err, uerr)
		}
	}
	return err
}

func formatAndMount(ctx context.Context, ch Choice, o Options, res *Result) error {
	if err := Format(ctx, ch.Path, ch.Wipe); err != nil {
		return fmt.Errorf("data volume: %w", err)
	}
	res.Formatted = true
	if o.AfterFormat != nil {
		if err := o.AfterFormat(ctx); err != nil {
			return err
		}
	}
	if err := Mount(ctx, ch.Path, o.Dir); err != nil {
		return fmt.Errorf("data volume: %w", err)
	}
	return writeNewIdentity(o, res)
}

func writeNewIdentity(o Options, res *Result) error {
	id := o.Want
	if id.Created.IsZero() {
		id.Created = time.Now().UTC()
	}
	if err := WriteIdentity(o.Dir, &id); err != nil {
		return fmt.Errorf("data volume: %w", err)
	}
	res.Identity = &id
	return nil
}

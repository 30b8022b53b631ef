package node

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func TestStorageRefusal(t *testing.T) {
	for _, tc := range []struct {
		etcd, storage string
		want          string // a part of the refusal; "" for none
	}{
		{"v3.6.16", "", ""},      // v3.5's data, or no data
		{"v3.6.16", "3.5.0", ""}, // older: an upgrade
		{"v3.6.16", "3.6.0", ""},
		{"v3.7.3", "3.6.0", ""},
		{"v3.7.3", "3.7.0", ""},
		{"v3.6.16", "3.7.0", "refusing to start etcd v3.6.16: the data on this volume has storage version 3.7 (written by etcd 3.7). To downgrade, boot the v3.7 image again, run 'firstboot downgrade enable v3.6' on the cluster and wait until this member's storage version is 3.6 ('firstboot downgrade status'), then reimage."},
		{"v3.5.36", "3.6.0", "refusing to start etcd v3.5.36: the data on this volume has storage version 3.6 (written by etcd 3.6). To downgrade, boot the v3.6 image again, run 'firstboot downgrade enable v3.5'"},
		{"v3.5.36", "3.7.0", "run 'firstboot downgrade enable v3.6' on the cluster and wait until this member's storage version is 3.6 ('firstboot downgrade status'), then reimage. etcd downgrades one minor at a time: reimage to the v3.6 image, and repeat down to v3.5."},
		{"v3.6.16", "4.0.0", "storage version 4.0"},
		{"v3.6.16", "garbage", ""}, // etcd judges what this cannot parse
		{"", "3.7.0", ""},
	} {
		got := storageRefusal(tc.etcd, tc.storage)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("storageRefusal(%q, %q) = %q, want %q", tc.etcd, tc.storage, got, tc.want)
		}
	}
}

// writeDB makes an etcd-like backend database at path; version "" records no storage version
// (as etcd v3.5 does).
func writeDB(t *testing.T, path, version string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(metaBucket)
		if err != nil {
			return err
		}
		if err := b.Put([]byte("consistent_index"), []byte{0, 0, 0, 0, 0, 0, 0, 9}); err != nil {
			return err
		}
		if version == "" {
			return nil
		}
		return b.Put(storageVersionKey, []byte(version))
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestReadStorageVersion(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, version string }{{"v37", "3.7.0"}, {"v36", "3.6.0"}, {"v35", ""}} {
		db := filepath.Join(dir, tc.name, "db")
		writeDB(t, db, tc.version)
		before, _ := os.ReadFile(db)
		got, err := readStorageVersion(db)
		if err != nil || got != tc.version {
			t.Errorf("%s: %q, %v; want %q", tc.name, got, err, tc.version)
		}
		if after, _ := os.ReadFile(db); string(before) != string(after) {
			t.Errorf("%s: reading the storage version changed the database", tc.name)
		}
	}
	if got, err := readStorageVersion(filepath.Join(dir, "none", "db")); err != nil || got != "" {
		t.Errorf("no database: %q, %v; want none", got, err)
	}
	// a database with no meta bucket at all
	empty := filepath.Join(dir, "empty", "db")
	os.MkdirAll(filepath.Dir(empty), 0o700)
	if db, err := bolt.Open(empty, 0o600, nil); err != nil {
		t.Fatal(err)
	} else {
		db.Close()
	}
	if got, err := readStorageVersion(empty); err != nil || got != "" {
		t.Errorf("no meta bucket: %q, %v; want none", got, err)
	}
	// a zero-length file, left by a crash while etcd created it: left to etcd
	zero := filepath.Join(dir, "zero", "db")
	os.MkdirAll(filepath.Dir(zero), 0o700)
	os.WriteFile(zero, nil, 0o600)
	if got, err := readStorageVersion(zero); err != nil || got != "" {
		t.Errorf("zero-length database: %q, %v; want none", got, err)
	}
	// not a database
	junk := filepath.Join(dir, "junk", "db")
	os.MkdirAll(filepath.Dir(junk), 0o700)
	os.WriteFile(junk, []byte(strings.Repeat("x", 8192)), 0o600)
	if _, err := readStorageVersion(junk); err == nil || !strings.Contains(err.Error(), "reading the storage version of "+junk) {
		t.Errorf("a file that is no database: %v", err)
	}
}

// A held lock (etcd running) is reported after the timeout, not waited on for ever.
func TestReadStorageVersionLocked(t *testing.T) {
	db := filepath.Join(t.TempDir(), "db")
	writeDB(t, db, "3.7.0")
	held, err := bolt.Open(db, 0o600, nil) // an exclusive lock, as a running etcd holds
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if _, err := readStorageVersion(db); err == nil || !strings.Contains(err.Error(), "is etcd running?") {
		t.Errorf("a locked database: %v", err)
	}
}

// A v3.6 image booted on the volume of a member whose data etcd v3.7 wrote refuses to start
// etcd, says how to downgrade, and leaves the database as it was; once etcd has migrated the
// data to 3.6 (the downgrade), the same boot starts etcd.
func TestBootRefusesNewerStorage(t *testing.T) {
	data := t.TempDir()
	m := &fakeMachine{}
	n, console := testNode(t, nil, data, m) // the image is etcd v3.6.16
	if err := n.Boot(context.Background()); err != nil {
		t.Fatalf("first boot: %v\n%s", err, console)
	}
	db := filepath.Join(data, "data", "member", "snap", "db")
	writeDB(t, db, "3.7.0")
	before, _ := os.ReadFile(db)

	n2, console2 := testNode(t, nil, data, m)
	err := n2.Boot(context.Background())
	var stop *StopError
	if !errors.As(err, &stop) {
		t.Fatalf("boot on 3.7 data: %v, want a refusal\n%s", err, console2)
	}
	want := "etcd-appliance: refusing to start etcd v3.6.16: the data on this volume has storage version 3.7 (written by etcd 3.7). To downgrade, boot the v3.7 image again, run 'firstboot downgrade enable v3.6' on the cluster and wait until this member's storage version is 3.6 ('firstboot downgrade status'), then reimage.\n" +
		"etcd-appliance: etcd is not started: fix this and reboot"
	if !strings.Contains(console2.String(), want) {
		t.Errorf("console lacks\n%s\n%s", want, console2)
	}
	if _, err := os.Stat(filepath.Join(n2.Paths.RunDir, "etcd.env")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("etcd.env written on a refusal: %v", err)
	}
	if after, _ := os.ReadFile(db); string(before) != string(after) {
		t.Error("the refused boot changed the database")
	}

	os.Remove(db)
	writeDB(t, db, "3.6.0") // the downgrade migrated the data
	n3, console3 := testNode(t, nil, data, m)
	if err := n3.Boot(context.Background()); err != nil {
		t.Fatalf("boot on 3.6 data: %v\n%s", err, console3)
	}
	if _, err := os.Stat(filepath.Join(n3.Paths.RunDir, "etcd.env")); err != nil {
		t.Errorf("no etcd.env after a boot on 3.6 data: %v", err)
	}
}

package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"filippo.io/age"

	"github.com/etcd-appliance/appliance/internal/backup"
	"github.com/etcd-appliance/appliance/internal/membership"
	"github.com/etcd-appliance/appliance/internal/objstore"
	"github.com/etcd-appliance/appliance/internal/status"
)

// The appliance's own keys in etcd: the election of the member that uploads, and the record
// of the last backup, failure and restore drill, which every member's status reads. They sit
// beside the user's keys and travel with a backup and its restore.
const (
	BackupElection  = "/etcd-appliance/backup/uploader"
	BackupRecordKey = "/etcd-appliance/backup/record"
)

// backupSessionTTL is how long a dead uploader's lease holds the election (seconds): another
// member takes over within it.
const backupSessionTTL = 10

// backupRetry is the wait after a failed attempt: the store is listed first, so a retry costs
// one request until the store answers again.
func backupRetry(interval time.Duration) time.Duration { return min(interval, time.Minute) }

// backupCounters are what this node's agent did, for its metrics.
type backupCounters struct {
	mu                sync.Mutex
	uploader          bool
	uploads, failures int
}

func (c *backupCounters) set(f func(*backupCounters)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f(c)
}

// openStore reaches the configured store with the node's trust and proxy.
func (n *Node) openStore() (objstore.Store, error) {
	b := n.State.Backup
	if b == nil {
		return nil, errors.New("no backup is configured: add a backup section (backup.url) to the user-data")
	}
	acc, err := b.Access(b.URL)
	if err != nil {
		return nil, err
	}
	st, err := objstore.Open(acc)
	if err != nil {
		return nil, fmt.Errorf("backup.url: %w", err)
	}
	return st, nil
}

// localEtcd is a client of this node's own member only: the election must not be won through
// another member by a node whose etcd is cut off.
func (n *Node) localEtcd() (*clientv3.Client, error) {
	c, err := n.State.Client(n.State.Local)
	if err != nil {
		return nil, err
	}
	return c.Client, nil
}

// ReadBackupRecord reads the uploader's record from etcd (serializable: any member answers).
func ReadBackupRecord(ctx context.Context, kv clientv3.KV) (status.Record, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	r, err := kv.Get(ctx, BackupRecordKey, clientv3.WithSerializable())
	if err != nil {
		return status.Record{}, fmt.Errorf("reading the backup record: %w", err)
	}
	rec, _ := parseRecord(r)
	return rec, nil
}

// parseRecord is the record in a Get of BackupRecordKey and the key's mod revision (0: none).
// An unreadable record counts as none: the next backup writes a good one.
func parseRecord(r *clientv3.GetResponse) (status.Record, int64) {
	var rec status.Record
	if len(r.Kvs) == 0 || json.Unmarshal(r.Kvs[0].Value, &rec) != nil {
		return status.Record{}, 0
	}
	return rec, r.Kvs[0].ModRevision
}

// currentRecord reads the record linearizably, only while cond holds (the reader leads the
// election: a partitioned or expired uploader learns here that it no longer does). A record
// of another store or cluster (restored with a backup) counts as none.
func (n *Node) currentRecord(ctx context.Context, kv clientv3.KV, cond ...clientv3.Cmp) (rec status.Record, modRev int64, ok bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	r, err := kv.Txn(ctx).If(cond...).Then(clientv3.OpGet(BackupRecordKey)).Commit()
	if err != nil {
		return rec, 0, false, fmt.Errorf("reading the backup record: %w", err)
	}
	if !r.Succeeded {
		return rec, 0, false, nil
	}
	rec, modRev = parseRecord((*clientv3.GetResponse)(r.Responses[0].GetResponseRange()))
	cluster := membership.IDString(r.Header.ClusterId)
	if !rec.Fits(n.State.Backup.URL, cluster) {
		rec = status.Record{}
	}
	rec.Store, rec.ClusterID = n.State.Backup.URL, cluster
	return rec, modRev, true, nil
}

// writeBackupRecord stores rec, only while cond holds (the writer still leads the election,
// or the record is still the one it read).
func writeBackupRecord(ctx context.Context, kv clientv3.KV, rec status.Record, cond ...clientv3.Cmp) (bool, error) {
	b, err := json.Marshal(rec)
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	r, err := kv.Txn(ctx).If(cond...).Then(clientv3.OpPut(BackupRecordKey, string(b))).Commit()
	if err != nil {
		return false, fmt.Errorf("recording the backup: %w", err)
	}
	return r.Succeeded, nil
}

// updateRecord changes the record with f, outside the election (backup now, verify): it
// writes only over the record it read, and reads again when another writer came first.
func (n *Node) updateRecord(ctx context.Context, kv clientv3.KV, f func(*status.Record)) error {
	for range 5 {
		rec, modRev, _, err := n.currentRecord(ctx, kv)
		if err != nil {
			return err
		}
		f(&rec)
		ok, err := writeBackupRecord(ctx, kv, rec, clientv3.Compare(clientv3.ModRevision(BackupRecordKey), "=", modRev))
		if err != nil || ok {
			return err
		}
	}
	return errors.New("recording the backup: the record kept changing")
}

// takeBackup streams a snapshot from the local member onto the data volume, records the
// keyspace hash at its revision, uploads it (encrypted to backup.encrypt_to) and applies
// retention. The store is listed first: a wrong credential or a store that does not answer
// fails before a snapshot is streamed.
func (n *Node) takeBackup(ctx context.Context, cli *clientv3.Client, store objstore.Store) (status.Record, error) {
	s := n.State
	start := time.Now()
	objs, err := store.List(ctx)
	if err != nil {
		return status.Record{}, err
	}
	recipients, err := backup.ParseRecipients(s.Backup.EncryptTo)
	if err != nil {
		return status.Record{}, err
	}
	dir := filepath.Join(s.Volume, "backups")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return status.Record{}, err
	}
	sc, path, err := n.save(ctx, dir, true)
	if err != nil {
		return status.Record{}, err
	}
	defer os.Remove(path)
	hctx, cancel := context.WithTimeout(ctx, time.Minute)
	h, err := cli.HashKV(hctx, s.Local, sc.Revision)
	cancel()
	if err != nil {
		return status.Record{}, fmt.Errorf("the keyspace hash at revision %d: %w", sc.Revision, err)
	}
	m := backup.Meta{SHA256: sc.SHA256, Size: sc.Size, Revision: sc.Revision, HashKV: h.Hash, CompactRevision: h.CompactRevision,
		Cluster: s.Cluster, ClusterID: sc.ClusterID, MemberID: sc.MemberID, Member: s.Member, EtcdVersion: sc.EtcdVersion,
		Image: s.Image, Time: sc.Time}
	obj, err := backup.Upload(ctx, store, path, m, recipients)
	if err != nil {
		return status.Record{}, err
	}
	n.prune(ctx, store, append(objs, obj))
	return status.Record{Last: n.Now().UTC(), Key: obj.Key, Revision: sc.Revision, Size: sc.Size, Member: s.Member,
		TookSeconds: time.Since(start).Seconds()}, nil
}

// prune deletes the backups retention no longer keeps. A store that refuses deletes (a
// write-only policy, object lock) is told once per attempt and left to its lifecycle rules.
func (n *Node) prune(ctx context.Context, store objstore.Store, objs []objstore.Object) {
	for _, o := range backup.Expired(objs, n.State.Backup.Keep, n.Now().UTC()) {
		if err := store.Delete(ctx, o.Key); err != nil {
			fmt.Fprintf(n.Console, "etcd-appliance: backup: retention: %v: the store keeps older backups (its lifecycle rules or object lock decide)\n", err)
			return
		}
	}
}

// BackupNow takes one backup at once, outside the election (`firstboot backup now`), and
// records it for every member's status.
func (n *Node) BackupNow(ctx context.Context, w io.Writer) error {
	store, err := n.openStore()
	if err != nil {
		return err
	}
	cli, err := n.localEtcd()
	if err != nil {
		return err
	}
	defer cli.Close()
	got, err := n.takeBackup(ctx, cli, store)
	if err != nil {
		n.updateRecord(ctx, cli, func(rec *status.Record) { rec.Failed, rec.Error = n.Now().UTC(), oneLine(err) })
		return fmt.Errorf("backup: %w", err)
	}
	if err := n.updateRecord(ctx, cli, func(rec *status.Record) { *rec = mergeBackup(*rec, got) }); err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "backup: %s/%s (revision %d, %s, %.1fs)\n", store, got.Key, got.Revision, status.Size(got.Size), got.TookSeconds)
	return err
}

// mergeBackup is rec with a successful upload's fields from got.
func mergeBackup(rec, got status.Record) status.Record {
	rec.Last, rec.Key, rec.Revision, rec.Size, rec.Member, rec.TookSeconds = got.Last, got.Key, got.Revision, got.Size, got.Member, got.TookSeconds
	return rec
}

// VerifyBackup is the restore drill (`firstboot backup verify`): the latest backup, or key,
// is downloaded and restored into a scratch directory on the data volume, and its keyspace
// hash compared with the one recorded when it was taken. identity decrypts encrypted backups.
func (n *Node) VerifyBackup(ctx context.Context, key, identity string, w io.Writer) error {
	store, err := n.openStore()
	if err != nil {
		return err
	}
	var ids []age.Identity
	if identity != "" {
		if ids, err = backup.ParseIdentity(identity); err != nil {
			return err
		}
	}
	res, err := n.drill(ctx, store, key, ids)
	if cli, cerr := n.localEtcd(); cerr == nil { // the record is shared; a drill without etcd still reports
		n.updateRecord(ctx, cli, func(rec *status.Record) { *rec = n.drillRecord(*rec, res, err) })
		cli.Close()
	}
	if err != nil {
		return fmt.Errorf("restore drill FAILED: %w", err)
	}
	_, err = fmt.Fprintf(w, "restore drill passed: %s/%s restores; keyspace hash %08x at revision %d matches the one recorded at backup; took %.1fs\nlast verified restorable revision: %d\n",
		store, res.Key, res.HashKV, res.Revision, res.Took.Seconds(), res.Revision)
	return err
}

func (n *Node) drill(ctx context.Context, store objstore.Store, key string, ids []age.Identity) (backup.VerifyResult, error) {
	if key == "" {
		o, _, err := backup.Latest(ctx, store, func(k string, why error) {
			fmt.Fprintf(n.Console, "etcd-appliance: backup: skipping %s/%s: %v\n", store, k, why)
		})
		if err != nil {
			return backup.VerifyResult{}, err
		}
		key = o.Key
	}
	// the backup and the data restored from it are on the data volume at once, beside etcd
	o, err := store.Stat(ctx, key)
	if err != nil {
		return backup.VerifyResult{}, err
	}
	_, free, err := n.Usage(n.State.Volume)
	if err != nil {
		return backup.VerifyResult{}, err
	}
	if need := 2*o.Size + snapshotHeadroom + max(n.State.Quota-o.Size, 0); free < need {
		return backup.VerifyResult{}, fmt.Errorf("not enough room on the data volume for the restore drill: %s free, %s needed (twice the %s backup, the room etcd may still grow into, and %s)",
			status.Size(free), status.Size(need), status.Size(o.Size), status.Size(snapshotHeadroom))
	}
	scratch := filepath.Join(n.State.Volume, "backups", "drill")
	return backup.Verify(ctx, store, key, ids, scratch, backup.ExecRunner)
}

func (n *Node) drillRecord(rec status.Record, res backup.VerifyResult, err error) status.Record {
	if err != nil {
		rec.VerifyFailed, rec.VerifyError = n.Now().UTC(), oneLine(err)
		return rec
	}
	rec.Verified, rec.VerifiedKey, rec.VerifiedRevision, rec.VerifySeconds = n.Now().UTC(), res.Key, res.Revision, res.Took.Seconds()
	return rec
}

// oneLine keeps an error to one line of a status report.
func oneLine(err error) string {
	s := strings.Join(strings.Fields(err.Error()), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// backups runs while backups are configured: it campaigns in the upload election through
// the local member and, while it leads, uploads one backup per interval (the record in etcd
// says when the last one was, whoever took it) and runs the scheduled restore drill.
func (a *agent) backups(ctx context.Context) {
	n := a.n
	var said string
	var saidAt time.Time
	for ctx.Err() == nil {
		err := a.uploaderTerm(ctx)
		// the same error (etcd still starting, a learner) is told again only every 10 minutes
		if err != nil && ctx.Err() == nil && (err.Error() != said || time.Since(saidAt) >= agentRepeat) {
			fmt.Fprintf(n.Console, "etcd-appliance: backup: %v; trying again\n", err)
			said, saidAt = err.Error(), time.Now()
		}
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Second):
		}
	}
}

// uploaderTerm campaigns and, once elected, uploads until the session ends.
func (a *agent) uploaderTerm(ctx context.Context) error {
	n, b := a.n, a.n.State.Backup
	store, err := n.openStore()
	if err != nil {
		return err
	}
	cli, err := n.localEtcd()
	if err != nil {
		return err
	}
	defer cli.Close()
	sess, err := concurrency.NewSession(cli, concurrency.WithTTL(backupSessionTTL), concurrency.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("joining the upload election: %w", err)
	}
	defer sess.Close()
	el := concurrency.NewElection(sess, BackupElection)
	if err := el.Campaign(ctx, n.State.Member); err != nil {
		return fmt.Errorf("campaigning to upload: %w", err)
	}
	a.counters.set(func(c *backupCounters) { c.uploader = true })
	defer a.counters.set(func(c *backupCounters) { c.uploader = false })
	fmt.Fprintf(n.Console, "etcd-appliance: backup: this member uploads the backups to %s every %s\n", store, b.IntervalDuration())
	leading := clientv3.Compare(clientv3.CreateRevision(el.Key()), ">", 0)
	interval, verifyEvery := b.IntervalDuration(), b.VerifyDuration()
	// an upload ends with the term: another member may be uploading by then
	termCtx, endTerm := context.WithCancel(ctx)
	defer endTerm()
	go func() {
		select {
		case <-sess.Done():
			endTerm()
		case <-termCtx.Done():
		}
	}()
	for {
		rec, _, ok, err := n.currentRecord(termCtx, cli, leading)
		switch {
		case err != nil:
			return err
		case !ok:
			return errors.New("no longer the uploader")
		}
		now := n.Now().UTC()
		next := rec.Last.Add(interval)
		if rec.Failed.After(rec.Last) {
			next = rec.Failed.Add(backupRetry(interval))
		}
		if next.After(now.Add(interval)) {
			next = now // a record from a clock running ahead must not hold backups back
		}
		verifyNext := time.Time{}
		if verifyEvery > 0 && rec.Key != "" && len(b.EncryptTo) == 0 {
			verifyNext = later(rec.Verified, rec.VerifyFailed).Add(verifyEvery)
		}
		switch {
		case !now.Before(next):
			// bounded, so that a store that stops answering does not hold the election forever
			actx, cancel := context.WithTimeout(termCtx, max(2*interval, 30*time.Minute))
			got, err := n.takeBackup(actx, cli, store)
			cancel()
			if err != nil {
				rec.Failed, rec.Error = n.Now().UTC(), oneLine(err)
				a.counters.set(func(c *backupCounters) { c.failures++ })
				fmt.Fprintf(n.Console, "etcd-appliance: backup: FAILED (next try in %s): %s\n", backupRetry(interval), rec.Error)
			} else {
				rec = mergeBackup(rec, got)
				a.counters.set(func(c *backupCounters) { c.uploads++ })
				fmt.Fprintf(n.Console, "etcd-appliance: backup: %s/%s (revision %d, %s, %.1fs)\n", store, got.Key, got.Revision, status.Size(got.Size), got.TookSeconds)
			}
			if ok, err := writeBackupRecord(termCtx, cli, rec, leading); err != nil || !ok {
				return errors.Join(err, errors.New("no longer the uploader"))
			}
			continue
		case !verifyNext.IsZero() && !now.Before(verifyNext):
			res, err := n.drill(termCtx, store, rec.Key, nil)
			if err != nil {
				fmt.Fprintf(n.Console, "etcd-appliance: backup: RESTORE DRILL FAILED: %s\n", oneLine(err))
			} else {
				fmt.Fprintf(n.Console, "etcd-appliance: backup: restore drill passed: %s restores, keyspace hash matches; last verified restorable revision %d (%.1fs)\n", res.Key, res.Revision, res.Took.Seconds())
			}
			if ok, err := writeBackupRecord(termCtx, cli, n.drillRecord(rec, res, err), leading); err != nil || !ok {
				return errors.Join(err, errors.New("no longer the uploader"))
			}
			continue
		}
		wake := next
		if !verifyNext.IsZero() && verifyNext.Before(wake) {
			wake = verifyNext
		}
		select {
		case <-ctx.Done():
			return nil
		case <-sess.Done():
			return errors.New("the upload election's lease ended (etcd unreachable?)")
		case <-time.After(wake.Sub(now)):
		}
	}
}

// ListBackups prints the backups under backup.url, oldest first (`firstboot backup list`).
func (n *Node) ListBackups(ctx context.Context, w io.Writer) error {
	store, err := n.openStore()
	if err != nil {
		return err
	}
	objs, err := store.List(ctx)
	if err != nil {
		return err
	}
	found := 0
	for _, o := range objs {
		if _, _, _, ok := backup.ParseKey(o.Key); ok {
			found++
			fmt.Fprintf(w, "%s  %8s  %s/%s\n", o.Modified.UTC().Format(time.RFC3339), status.Size(o.Size), store, o.Key)
		}
	}
	if found == 0 {
		fmt.Fprintf(w, "no backups under %s\n", store)
	}
	return nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

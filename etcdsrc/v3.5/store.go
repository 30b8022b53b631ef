package main

import (
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"go.etcd.io/etcd/etcdutl/v3/etcdutl"
	"go.etcd.io/etcd/server/v3/lease"
	"go.etcd.io/etcd/server/v3/mvcc"
	"go.etcd.io/etcd/server/v3/mvcc/backend"
)

// etcdutlCommands are upstream's etcdutl commands of v3.5, which has no hashkv: ours is
// added, because the restore drill compares it with the hash taken at backup time.
func etcdutlCommands() []*cobra.Command {
	return []*cobra.Command{
		etcdutl.NewBackupCommand(),
		etcdutl.NewDefragCommand(),
		etcdutl.NewSnapshotCommand(),
		hashKVCommand(),
		etcdutl.NewVersionCommand(),
		etcdutl.NewCheckCommand(),
	}
}

func hashStore(path string, rev int64) (kvHash, error) {
	lg := zap.NewNop()
	cfg := backend.DefaultBackendConfig()
	cfg.Path = path
	cfg.Logger = lg
	be := backend.New(cfg)
	defer be.Close()
	le := lease.NewLessor(lg, be, nil, lease.LessorConfig{})
	defer le.Stop()
	st := mvcc.NewStore(lg, be, le, mvcc.StoreConfig{})
	defer st.Close()
	h, _, err := st.HashStorage().HashByRev(rev)
	if err != nil {
		return kvHash{}, err
	}
	return kvHash{Hash: h.Hash, HashRevision: h.Revision, CompactRevision: h.CompactRevision}, nil
}

package main

import (
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"go.etcd.io/etcd/etcdutl/v3/etcdutl"
	"go.etcd.io/etcd/server/v3/lease"
	"go.etcd.io/etcd/server/v3/storage/backend"
	"go.etcd.io/etcd/server/v3/storage/mvcc"
)

// etcdutlCommands are upstream's etcdutl commands of v3.6 and v3.7, with our hashkv.
func etcdutlCommands() []*cobra.Command {
	return []*cobra.Command{
		etcdutl.NewDefragCommand(),
		etcdutl.NewSnapshotCommand(),
		hashKVCommand(), // hashkv.go: upstream's panics on leased keys
		etcdutl.NewVersionCommand(),
		etcdutl.NewCompletionCommand(),
		etcdutl.NewMigrateCommand(),
	}
}

func hashStore(path string, rev int64) (kvHash, error) {
	lg := zap.NewNop()
	cfg := backend.DefaultBackendConfig(lg)
	cfg.Path = path
	be := backend.New(cfg)
	defer be.Close()
	le := lease.NewLessor(lg, be, nil, lease.LessorConfig{})
	defer le.Stop()
	st := mvcc.NewStore(lg, be, le, mvcc.StoreConfig{})
	defer st.Close()
	h, _, err := mvcc.NewHashStorage(lg, st).HashByRev(rev)
	if err != nil {
		return kvHash{}, err
	}
	return kvHash{Hash: h.Hash, HashRevision: h.Revision, CompactRevision: h.CompactRevision}, nil
}

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"go.etcd.io/etcd/pkg/v3/cobrautl"
)

// hashKVCommand is `etcdutl hashkv` as upstream declares it (same flags, same JSON), with one
// difference: the store is opened with a lessor. Upstream's (v3.6.16) opens it with none and
// panics ("no lessor to attach lease") on any database holding a key with a lease, which
// every backup of an appliance cluster does (its upload election is leased). The lessor is
// never promoted, so it expires and revokes nothing.
func hashKVCommand() *cobra.Command {
	var rev int64
	cmd := &cobra.Command{
		Use:   "hashkv <filename>",
		Short: "Prints the KV history hash of a given file",
		Args:  cobra.ExactArgs(1),
		Run: func(cmd *cobra.Command, args []string) {
			h, err := hashKV(args[0], rev)
			if err != nil {
				cobrautl.ExitWithError(cobrautl.ExitError, err)
			}
			if f, _ := cmd.Flags().GetString("write-out"); f == "json" {
				json.NewEncoder(os.Stdout).Encode(h)
				return
			}
			fmt.Printf("KV hash: %d\nHash revision: %d\nCompact revision: %d\n", h.Hash, h.HashRevision, h.CompactRevision)
		},
	}
	cmd.Flags().Int64Var(&rev, "rev", 0, "maximum revision to hash (default: latest revision)")
	return cmd
}

// kvHash is upstream's JSON output of hashkv.
type kvHash struct {
	Hash            uint32 `json:"hash"`
	HashRevision    int64  `json:"hashRevision"`
	CompactRevision int64  `json:"compactRevision"`
}

func hashKV(path string, rev int64) (kvHash, error) {
	if fi, err := os.Stat(path); err != nil {
		return kvHash{}, err
	} else if fi.IsDir() {
		return kvHash{}, errors.New(path + " is a directory: give the database file (member/snap/db)")
	}
	return hashStore(path, rev) // store.go (v3.5/store.go): the storage packages moved in v3.6
}

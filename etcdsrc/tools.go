//go:build tools

// Package etcdsrc only records the etcd modules whose main packages imagebuild compiles.
package etcdsrc

import (
	_ "go.etcd.io/etcd/etcdctl/v3"
	_ "go.etcd.io/etcd/etcdutl/v3"
	_ "go.etcd.io/etcd/server/v3"
)

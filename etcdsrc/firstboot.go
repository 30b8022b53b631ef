package main

// firstboot, the node agent (cmd/firstboot/cli), linked into etcd: the two share the Go
// runtime, gRPC, protobuf and the etcd client, ~5 MiB of a compressed image. Only the lines
// whose etcd modules are at least those of the repository's go.mod link it in (image/etcdlines.go):
// below them, Go's version selection would mix etcd releases in one binary.

import "github.com/etcd-appliance/appliance/cmd/firstboot/cli"

func init() { commands["firstboot"] = cli.Main }

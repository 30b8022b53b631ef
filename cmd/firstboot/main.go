// Command firstboot is the node agent's command line (package cli). The image runs it from
// the etcd binary, by the name firstboot (etcdsrc/firstboot.go); this command builds it alone,
// for a host and for images of etcd lines that do not link it in.
package main

import "github.com/etcd-appliance/appliance/cmd/firstboot/cli"

func main() { cli.Main() }

//go:build tools

package appliance

import (
	_ "github.com/cavaliergopher/cpio"
	_ "github.com/coreos/go-systemd/v22/dbus"
	_ "go.etcd.io/etcd/client/v3"
	_ "golang.org/x/sys/unix"
)

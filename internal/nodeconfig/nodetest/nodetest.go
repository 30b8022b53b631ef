// Package nodetest fakes the machine a node resolves its configuration on: a qemu amd64 guest's
// /proc and /sys in a temp dir, with user-data over fw_cfg, and resolve options without a
// network.
package nodetest

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/etcd-appliance/appliance/arch"
	"github.com/etcd-appliance/appliance/internal/fetch"
	"github.com/etcd-appliance/appliance/internal/nodeconfig"
	"github.com/etcd-appliance/appliance/internal/platform/detect"
	"github.com/etcd-appliance/appliance/internal/platform/qemu"
)

// Addr is the one address the fake machine has.
var Addr = netip.MustParseAddr("192.0.2.10")

// QemuEnv is a /proc and /sys tree of a qemu amd64 guest that got userData over fw_cfg (nil:
// fw_cfg present, no config item).
func QemuEnv(t testing.TB, cmdline string, userData []byte) detect.Env {
	t.Helper()
	root := t.TempDir()
	amd64, err := arch.Lookup("amd64")
	if err != nil {
		t.Fatal(err)
	}
	env := detect.Env{Arch: amd64, Reader: detect.Reader{ProcRoot: filepath.Join(root, "proc"), SysRoot: filepath.Join(root, "sys"), DevRoot: filepath.Join(root, "dev")}}
	write := func(p string, data []byte) {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(root, "proc", "cmdline"), []byte(cmdline+"\n"))
	write(filepath.Join(root, "sys", "class", "dmi", "id", "sys_vendor"), []byte("QEMU\n"))
	fwcfg := qemu.Source{Arch: amd64, SysfsRoot: env.Reader.SysRoot}.FwCfgPath()
	if userData != nil {
		write(fwcfg, userData)
	} else if err := os.MkdirAll(filepath.Dir(filepath.Dir(filepath.Dir(fwcfg))), 0o755); err != nil {
		t.Fatal(err)
	}
	return env
}

// Options resolve without waiting for a network: the machine has the one address Addr, and
// remote Ignition sources are refused.
func Options(root string) nodeconfig.Options {
	return nodeconfig.Options{
		Root: root,
		Fetch: func(context.Context, fetch.Trust, string) ([]byte, error) {
			return nil, errors.New("no network in unit tests")
		},
		Addrs: func(context.Context, func([]netip.Addr) bool) ([]netip.Addr, error) {
			return []netip.Addr{Addr}, nil
		},
	}
}

package qemutests

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/etcd-appliance/appliance/arch"
	"github.com/etcd-appliance/appliance/internal/ignitiontest"
	"github.com/etcd-appliance/appliance/internal/vm"
)

// etcdctlCheckUnit writes and reads a key with etcdctl from a login shell, with nothing but
// what the image presets (endpoints, CA and client certificate), and prints the result.
const etcdctlCheckUnit = `[Unit]
Description=etcdctl from a login shell
After=etcd.service
Requires=etcd.service

[Service]
Type=oneshot
ExecStart=/bin/sh -l -c 'etcdctl put /login-shell from-a-login-shell >/dev/null && echo "etcdctl-check: login shell put/get: $(etcdctl get /login-shell --print-value-only)"'
StandardOutput=journal+console

[Install]
WantedBy=multi-user.target
`

// withUnits adds systemd.units to an Ignition config.
func withUnits(t *testing.T, ign []byte, units ...map[string]any) []byte {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(ign, &doc); err != nil {
		t.Fatal(err)
	}
	doc["systemd"] = map[string]any{"units": units}
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// withIgnition hands ign to the VM the way Ignition's qemu platform does: fw_cfg
// opt/com.coreos/config where the machine has it, else a disk with serial "ignition".
func withIgnition(t testing.TB, cfg *vm.Config, ign []byte) {
	t.Helper()
	path := filepath.Join(workDir(t), "config.ign")
	switch cfg.Arch.QEMUConfig {
	case arch.FwCfg:
		cfg.ExtraArgs = append(cfg.ExtraArgs, "-fw_cfg", "name=opt/com.coreos/config,file="+path)
	case arch.BlockDev: // pseries has no fw_cfg: a disk with serial "ignition", NUL-padded
		ign = append(slices.Clone(ign), make([]byte, 1<<20-len(ign)%(1<<20))...)
		cfg.Disks = append(cfg.Disks, vm.Disk{Path: path, Format: "raw", ReadOnly: true, Serial: "ignition"})
	default:
		t.Fatalf("%s: no QEMUConfig in the arch table", cfg.Arch.Name)
	}
	if err := os.WriteFile(path, ign, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestQemuIgnition hands an Ignition config to the node the way Ignition's qemu platform does
// (fw_cfg opt/com.coreos/config on amd64/arm64, a disk with serial "ignition" on ppc64le) and
// checks from outside that it was applied, and that a broken one is refused with a clear
// console error and no etcd.
func TestQemuIgnition(t *testing.T) {
	imgs := loadImages(t)
	forEachArch(t, arch.Names(), func(t *testing.T, a arch.Arch) {
		// amd64 boots the disk.raw unpacked from the GCE tarball through OVMF, the others qcow2
		formats := []string{"qcow2", "raw"}
		if a.Name == "amd64" {
			formats = []string{"gce"}
		}
		img, format := imgs.osDisk(t, a.Name, formats...)
		boot := func(t *testing.T, ign []byte) *vm.VM {
			cfg := vm.Config{
				Arch:         a,
				Disks:        []vm.Disk{{Path: img, Format: format, ReadOnly: true}, dataDisk()},
				HostForwards: []vm.Forward{{GuestPort: etcdClientPort}, {GuestPort: etcdMetricsPort}, {GuestPort: sshPort}},
			}
			withIgnition(t, &cfg, ign)
			return bootVM(t, cfg)
		}
		t.Run("applied", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), vmTimeout(t))
			defer cancel()
			ca := newTestCA(t, "qemu-tests ignition CA")
			key := newSSHKey(t)
			ign := ignitiontest.Config(t, "version: 1\nnode: {name: etcd-q}\netcd: {snapshot_count: 5000}\n"+ca.tlsYAML()+userNetMetrics,
				map[string]string{"/etc/hostname": "qemu-node-1\n", "/etc/sysctl.d/90-user.conf": "kernel.domainname = from-ignition\n",
					"/etc/sysctl.d/91-typo.conf": "net.ipv4.no_such_key = 1\n"}, key.public)
			v := boot(t, withUnits(t, ign, map[string]any{"name": "etcdctl-check.service", "enabled": true, "contents": etcdctlCheckUnit}))
			if _, err := v.WaitConsole(ctx, regexp.MustCompile(`etcd-appliance: configured: hostname=qemu-node-1 member=etcd-q ssh_keys=1 files=3 units=1`)); err != nil {
				t.Fatal(err)
			}
			// sysctl files from Ignition are applied, though systemd-sysctl ran before they were
			// written; a key this kernel lacks is a warning naming it
			if _, err := v.WaitConsole(ctx, regexp.MustCompile(`etcd-appliance: warning: sysctl: .*net/ipv4/no_such_key`)); err != nil {
				t.Fatal(err)
			}
			if _, err := v.WaitConsole(ctx, regexp.MustCompile(`etcd-appliance: sysctl: applied /etc/sysctl.d/90-user.conf, /etc/sysctl.d/91-typo.conf`)); err != nil {
				t.Fatal(err)
			}
			// the Ignition unit runs etcdctl in a login shell on the node, as an operator would
			if _, err := v.WaitConsole(ctx, regexp.MustCompile(`etcdctl-check: login shell put/get: from-a-login-shell`)); err != nil {
				t.Fatal(err)
			}
			waitBooted(ctx, t, v)
			if t.Failed() {
				return
			}
			if err := waitHealthy(ctx, fmt.Sprintf("http://127.0.0.1:%d/health", v.HostPort(etcdMetricsPort))); err != nil {
				t.Fatal(err)
			}
			cli := etcdClient(t, []string{fmt.Sprintf("https://127.0.0.1:%d", v.HostPort(etcdClientPort))}, ca.clientTLS(t, "qemu-tests"), nil)
			members, err := cli.MemberList(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(members.Members) != 1 || members.Members[0].Name != "etcd-q" {
				t.Errorf("etcd members %v, want the one member etcd-q named by node.name", members.Members)
			}
			putThenGet(ctx, t, cli, cli, "/qemu-tests/"+a.Name, "configured by Ignition")

			// SSH: the configured key logs in as root, a login shell has etcdctl preset;
			// another key and passwords get nothing
			out, err := key.run(ctx, v.HostPort(sshPort), hostnameCmd+`; etcdctl get /qemu-tests/`+a.Name+` --print-value-only`)
			if err != nil {
				t.Fatalf("ssh with the configured key: %v\n%s", err, out)
			}
			if want := "qemu-node-1\nconfigured by Ignition\n"; out != want {
				t.Errorf("ssh session printed %q, want %q", out, want)
			}
			if out, err := newSSHKey(t).run(ctx, v.HostPort(sshPort), "true"); err == nil {
				t.Errorf("ssh with a key the node was not given logged in: %s", out)
			}

			// etcd runs sandboxed (no capabilities, no new privileges, a system-call filter),
			// status shows the packet filter in one line (the member itself, from etcd's member
			// list), timesyncd runs: no NTP server here, so the boot left it for later
			// (etcd.service starts it once etcd is up, its timer 30 s after systemd's start), and
			// the Ignition sysctl file's key is set (a string key: dash's read takes a byte at a
			// time, and an integer sysctl answers only a read at offset 0)
			out, err = key.run(ctx, v.HostPort(sshPort), `pid=$(systemctl show -p MainPID --value etcd.service); `+
				`while read k v rest; do case $k in NoNewPrivs:|Seccomp:|CapBnd:|CapEff:) echo "$k $v";; esac; done < /proc/$pid/status; `+
				`firstboot status | while read l; do case $l in "packet filter:"*) echo "$l";; esac; done; `+
				`echo "timesyncd: $(systemctl is-active systemd-timesyncd.service)"; `+
				`read d < /proc/sys/kernel/domainname; echo "domainname: $d"`)
			if err != nil {
				t.Fatalf("ssh: %v\n%s", err, out)
			}
			for _, want := range []string{"NoNewPrivs: 1\n", "Seccomp: 2\n", "CapBnd: 0000000000000000\n", "CapEff: 0000000000000000\n", "timesyncd: active\n", "domainname: from-ignition\n",
				"packet filter: inbound denied except: 2380 from 1 member; 2379 from 1 member, 0.0.0.0/0,::/0; 2381,2382 from 1 member, 10.0.2.2/32; 22 from 0.0.0.0/0,::/0; metadata HTTP for root only\n"} {
				if !strings.Contains(out, want) {
					t.Errorf("on the node: want %q in:\n%s", want, out)
				}
			}

			// an operator asks the node for client credentials and uses them from the host
			tarball, err := key.run(ctx, v.HostPort(sshPort), "firstboot client-credentials --name ops")
			if err != nil {
				t.Fatalf("client-credentials: %v\n%s", err, tarball)
			}
			ops := credentialsTLS(t, []byte(tarball), "ops")
			opsCli := etcdClient(t, []string{fmt.Sprintf("https://127.0.0.1:%d", v.HostPort(etcdClientPort))}, ops, nil)
			putThenGet(ctx, t, opsCli, cli, "/qemu-tests/ops", "with credentials from the node")
		})
		t.Run("refused", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), vmTimeout(t))
			defer cancel()
			v := boot(t, ignitiontest.Config(t, "version: 1\nnode: {name: Bad_Name}\n", nil))
			waitRefused(ctx, t, v, regexp.MustCompile(`etcd-appliance: config error: user-data from qemu: .*node\.name: "Bad_Name" is not a valid`))
			// startup is over: etcd was never started, so nothing answers on the metrics port
			client := &http.Client{Timeout: 5 * time.Second}
			if err := checkHealth(ctx, client, fmt.Sprintf("http://127.0.0.1:%d/health", v.HostPort(etcdMetricsPort))); err == nil {
				t.Error("etcd answers /health although its configuration was refused")
			}
		})
	})
}

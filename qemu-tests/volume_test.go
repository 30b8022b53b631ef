package qemutests

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/etcd-appliance/appliance/internal/vm"
)

// TestSmallVolumeAndExpiredCerts runs one member on a 512 MiB data disk with etcd's default
// 2 GiB quota, which the disk could not hold: etcd gets a quota that fits, so that filling
// the database raises the NOSPACE alarm (which etcd recovers from) instead of filling the disk
// (which stops etcd). Then the node boots with its clock 400 days ahead, past its
// certificates' expiry: firstboot renews them from the CA, and the member is healthy again.
func TestSmallVolumeAndExpiredCerts(t *testing.T) {
	if !archSelected("amd64") {
		t.Skip("amd64 not in QEMU_TESTS_ARCHES")
	}
	c := newTestCluster(t, "etcd-a")
	n := c.nodes[0]
	n.writableOS = true
	if err := vm.CreateBlankDisk(t.Context(), n.disk, 512<<20); err != nil {
		t.Fatal(err)
	}
	ca := c.newCA(t, "qemu-tests volume CA")
	key := newSSHKey(t)
	c.userData = "version: 1\ncluster:\n  name: small\n" + c.members() + ca.tlsYAML() +
		"ssh_authorized_keys: ['" + key.public + "']\n"
	good := ca.clientTLS(t, "small")
	ctx, cancel := context.WithTimeout(t.Context(), 4*vmTimeout(t))
	defer cancel()
	v := c.start(0, "")
	if _, err := v.WaitConsole(ctx, regexp.MustCompile(`etcd-appliance: etcd: quota 2 GiB lowered to 12\d MiB for this member.s 48\d MiB data volume`)); err != nil {
		t.Fatal(err)
	}
	c.waitBooted(ctx, 0)
	a := c.client(0, good)

	// mountsAt is "type options" of each mount on dir, a line each, from the node's /proc/mounts
	// (no coreutils in the image: dash's read does it)
	mountsAt := func(t *testing.T, dir string) string {
		return c.mustSSH(ctx, t, key, 0, `while read -r dev dir type opts rest; do [ "$dir" = `+dir+` ] && echo "$type $opts"; done < /proc/mounts; true`)
	}
	t.Run("root filesystem read-only", func(t *testing.T) {
		// the OS disk is writable here: the image alone must keep / read-only
		opts := mountsAt(t, "/")
		lines := strings.Split(strings.TrimSpace(opts), "\n")
		if lines[0] == "" {
			t.Errorf("no / in /proc/mounts")
		}
		for _, l := range lines { // each mount on / (there may be more than one)
			if _, o, _ := strings.Cut(l, " "); !strings.HasPrefix(o, "ro,") {
				t.Errorf("/ mounted %q, want ro", l)
			}
		}
		out, err := c.ssh(ctx, key, 0, "echo x > /usr/bin/etcd-appliance-probe")
		if err == nil || !strings.Contains(out, "Read-only file system") {
			t.Errorf("writing to /usr as root: %v: %q, want Read-only file system", err, out)
		}
	})

	t.Run("tmp is a bounded tmpfs", func(t *testing.T) {
		// the initramfs mounts it (no mount unit): what etcd's PrivateTmp= and the other
		// sandboxed services make their directories in, never on the read-only root
		out := strings.TrimSpace(mountsAt(t, "/tmp"))
		typ, opts, _ := strings.Cut(out, " ")
		if typ != "tmpfs" || strings.Contains(out, "\n") {
			t.Fatalf("/tmp in /proc/mounts: %q, want one tmpfs", out)
		}
		// the kernel leaves tmpfs's default mode, 1777, out of the options: the sticky bit is asked
		if got := strings.TrimSpace(c.mustSSH(ctx, t, key, 0, `[ -k /tmp ] && echo sticky; true`)); got != "sticky" {
			t.Errorf("/tmp has no sticky bit (%q)", got)
		}
		for _, o := range []string{"rw", "nosuid", "nodev", "nr_inodes=65536"} {
			if !slices.Contains(strings.Split(opts, ","), o) {
				t.Errorf("/tmp mounted with %q, missing %s", opts, o)
			}
		}
		if strings.Contains(opts, "relatime") {
			t.Errorf("/tmp mounted with %q, want strictatime (no relatime)", opts)
		}
	})

	if !t.Run("database fills before the disk", func(t *testing.T) {
		i := fillToNoSpace(ctx, t, a, 1000)
		st := c.status(ctx, t, key, 0)
		t.Logf("NOSPACE after %d puts of 1 MiB; %s", i, st.Summary)
		if !strings.Contains(st.Summary, "ALARM NOSPACE on etcd-a · etcd-a: leader · cluster healthy 1/1") {
			t.Errorf("status at the quota: %q, want the alarm, a running leader and the quorum kept", st.Summary)
		}
		// the database (121 MiB) and its log fill most of the volume: a snapshot there would
		// leave etcd less than its quota's room
		if out, err := c.ssh(ctx, key, 0, "firstboot snapshot"); err == nil || !strings.Contains(out, "not enough room on the data volume for a snapshot") {
			t.Errorf("snapshot at the quota: %v: %s, want it refused for lack of room", err, out)
		} else {
			t.Logf("snapshot at the quota: %s", strings.TrimSpace(out))
		}
		c.clearNoSpace(ctx, t, a)
		putThenGet(ctx, t, a, a, "/small/after", "writable again")
	}) {
		return
	}

	t.Run("expired certificates renewed at boot", func(t *testing.T) {
		// A power cut right after the recovery: before the data volume was mounted dirsync, the
		// defragment's rename was not on disk yet, and the full database came back with the
		// alarm (the next subtest's puts would fail).
		v.Close()
		later := time.Now().UTC().AddDate(0, 0, 400)
		n.qemuArgs = []string{"-rtc", "base=" + later.Format("2006-01-02T15:04:05")}
		v = c.start(0, "")
		if _, err := v.WaitConsole(ctx, regexp.MustCompile(`etcd-appliance: tls: issued the server certificate \(expired on `)); err != nil {
			t.Fatal(err)
		}
		c.waitBooted(ctx, 0)
		// the node's clock is 400 days ahead, so the harness's client certificate (issued now)
		// has expired in its eyes: health is read from the agent's console line instead
		if _, err := v.WaitConsole(ctx, regexp.MustCompile(`etcd-appliance: status: (.* · )?etcd-a: leader · cluster healthy 1/1`)); err != nil {
			t.Fatal(err)
		}
		st := c.status(ctx, t, key, 0)
		if !regexp.MustCompile(`etcd-a: leader · cluster healthy 1/1 .*certificates valid 36[45] days`).MatchString(st.Summary) {
			t.Errorf("status after the renewal: %q", st.Summary)
		}
		if out := c.mustSSH(ctx, t, key, 0, "etcdctl get /small/after --print-value-only"); strings.TrimSpace(out) != "writable again" {
			t.Errorf("etcdctl get after the renewal: %q", out)
		}
		if out, err := c.ssh(ctx, key, 0, "etcdctl put /small/renewed yes"); err != nil {
			t.Errorf("etcdctl put after the power cut and the renewal: %v: %s", err, out)
		}
	})
}

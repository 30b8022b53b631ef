package node

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/etcd-appliance/appliance/internal/firewall"

	"golang.org/x/sys/unix"

	"github.com/etcd-appliance/appliance/internal/datavol"
	"github.com/etcd-appliance/appliance/internal/dnsstub"
	"github.com/etcd-appliance/appliance/internal/nodeconfig"
	"github.com/etcd-appliance/appliance/internal/platform"
	"github.com/etcd-appliance/appliance/internal/platform/azure"
	"github.com/etcd-appliance/appliance/internal/sdjob"
	"github.com/etcd-appliance/appliance/internal/timesync"
)

// Machine is what a boot changes or asks outside the files under Paths: the kernel, the disks
// and systemd. Tests replace it; Host is the real one.
type Machine interface {
	// Cmdline is the kernel command line (the power-cut tests' pause point is read from it).
	Cmdline() string
	SetHostname(name string) error
	// Owner is the uid and gid of the user etcd runs as.
	Owner(name string) (uid, gid int, err error)
	// FindVolume chooses the data volume without changing anything; PrepareVolume formats it
	// (when allowed), mounts and records it.
	FindVolume(req datavol.Request) (datavol.Choice, error)
	PrepareVolume(ctx context.Context, opts datavol.Options) (*datavol.Result, error)
	// StartUnits makes systemd read the unit files again and starts the given units.
	StartUnits(ctx context.Context, units []string) error
	// RestartUnits restarts running services so they read their configuration again.
	RestartUnits(ctx context.Context, units []string) error
	// StartResolver starts the DNS stub (internal/dnsstub): waiting until it answers, or only
	// queueing its start.
	StartResolver(ctx context.Context, wait bool) error
	// StartTimeSync starts the time-sync service (a no-op when it runs) and waits for its start;
	// ClockSynced tells whether it has set the clock this boot, and DHCPTimeServers which NTP
	// servers DHCP announced.
	StartTimeSync(ctx context.Context) error
	ClockSynced() bool
	DHCPTimeServers() []string
	// Scratch is a fresh tmpfs directory for a snapshot to restore, and its release.
	Scratch() (dir string, release func(), err error)
	// SSHHostKey makes the SSH server's host key in dir once and links it where the server
	// looks for it.
	SSHHostKey(ctx context.Context, dir, link string) error
	// PeerCertName connects to a peer port (host:port) with tc and returns the common name
	// of the certificate the member there presents.
	PeerCertName(ctx context.Context, hostport string, tc *tls.Config) (string, error)
	// Filter installs the packet filter (replacing the one before).
	Filter(p firewall.Policy) error
	// ReportReady tells the platform that provisioning finished, where it waits for that.
	ReportReady(ctx context.Context, platformName string) error
	// SettleDevices waits until udev has handled the devices the kernel announced at boot.
	SettleDevices(ctx context.Context) error
	// ApplySysctl applies the sysctl settings in files, in that order (systemd-sysctl), and
	// returns what it reported about settings it skipped.
	ApplySysctl(ctx context.Context, files []string) (notes []string, err error)
}

// Host is the machine firstboot runs on.
type Host struct {
	// ScratchDir is where Scratch mounts its tmpfs.
	ScratchDir string
}

var _ Machine = Host{}

func (Host) Cmdline() string {
	b, _ := os.ReadFile("/proc/cmdline")
	return string(b)
}

func (Host) SetHostname(name string) error { return unix.Sethostname([]byte(name)) }

func (Host) Owner(name string) (int, int, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return 0, 0, fmt.Errorf("user %s: %w", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return uid, gid, nil
}

func (Host) FindVolume(req datavol.Request) (datavol.Choice, error) {
	disks, err := datavol.Scan("/")
	if err != nil {
		return datavol.Choice{}, err
	}
	return datavol.Select(disks, req)
}

func (Host) PrepareVolume(ctx context.Context, opts datavol.Options) (*datavol.Result, error) {
	opts.Root = "/"
	return datavol.Prepare(ctx, opts)
}

func (Host) StartUnits(ctx context.Context, units []string) error {
	return nodeconfig.StartUnits(ctx, units)
}

func (Host) RestartUnits(ctx context.Context, units []string) error {
	for _, u := range units {
		if err := sdjob.RunJob(ctx, sdjob.Restart, u); err != nil {
			return err
		}
	}
	return nil
}

func (Host) StartResolver(ctx context.Context, wait bool) error {
	if wait {
		return dnsstub.Start(ctx)
	}
	return dnsstub.Queue(ctx)
}

// SettleDevices waits for udev's coldplug: the initramfs loads disk drivers only until the
// root appears, and udev loads the others (a data disk or config drive on another controller)
// from the root. firstboot.service is ordered after systemd-udev-trigger.service, so every
// event of the coldplug's first part (the buses, SCSI, disks and interfaces: the image's
// drop-in for that unit) is queued by the time this runs; the rest waits for etcd's start.
func (Host) SettleDevices(ctx context.Context) error {
	if out, err := exec.CommandContext(ctx, "udevadm", "settle", "--timeout=60").CombinedOutput(); err != nil {
		return fmt.Errorf("udevadm settle: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// ApplySysctl runs systemd-sysctl on the given files only: the image's own were applied by
// systemd-sysctl.service before firstboot started. systemd 252's systemd-sysctl reports a key
// the kernel lacks and exits 0; a value the kernel refuses or a line that is not key = value
// makes it exit 1 (the other settings still applied); a key root may not write (read-only) it
// skips in silence. Its messages are asked on stderr at info level, so that a
// SYSTEMD_LOG_TARGET or SYSTEMD_LOG_LEVEL in firstboot's environment cannot send them
// elsewhere or add its debug lines.
func (Host) ApplySysctl(ctx context.Context, files []string) ([]string, error) {
	cmd := exec.CommandContext(ctx, "/usr/lib/systemd/systemd-sysctl", files...)
	cmd.Env = append(os.Environ(), "SYSTEMD_LOG_TARGET=console", "SYSTEMD_LOG_LEVEL=info")
	out, err := cmd.CombinedOutput()
	var notes []string
	for _, l := range strings.Split(string(out), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			notes = append(notes, l)
		}
	}
	if err != nil {
		return notes, fmt.Errorf("systemd-sysctl %s: %w", strings.Join(files, " "), err)
	}
	return notes, nil
}

func (Host) StartTimeSync(ctx context.Context) error {
	if err := sdjob.RunJob(ctx, sdjob.Start, timesync.Unit); err != nil {
		return fmt.Errorf("starting %s: %w", timesync.Unit, err)
	}
	return nil
}

func (Host) ClockSynced() bool { return timesync.Synced() }

func (Host) DHCPTimeServers() []string { return timesync.LeaseServers(nodeconfig.LeaseDir) }

func (h Host) Scratch() (string, func(), error) {
	if err := os.MkdirAll(h.ScratchDir, 0o700); err != nil {
		return "", nil, err
	}
	if err := unix.Mount("tmpfs", h.ScratchDir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0700,size=75%"); err != nil {
		return "", nil, fmt.Errorf("mounting a tmpfs for the snapshot: %w", err)
	}
	return h.ScratchDir, func() { _ = unix.Unmount(h.ScratchDir, 0) }, nil
}

// SSHHostKey keeps the key on the data volume, so that it survives reboots and reimages;
// dropbear.service starts only once the link exists.
func (Host) SSHHostKey(ctx context.Context, dir, link string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	key := filepath.Join(dir, "ed25519_host_key")
	if _, err := os.Stat(key); errors.Is(err, fs.ErrNotExist) {
		if out, err := exec.CommandContext(ctx, "dropbearkey", "-t", "ed25519", "-f", key).CombinedOutput(); err != nil {
			return fmt.Errorf("dropbearkey: %v: %s", err, bytes.TrimSpace(out))
		}
	}
	_ = os.Remove(link)
	return os.Symlink(key, link)
}

func (Host) PeerCertName(ctx context.Context, hostport string, tc *tls.Config) (string, error) {
	d := tls.Dialer{Config: tc, NetDialer: &net.Dialer{Timeout: 5 * time.Second}}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := d.DialContext(ctx, "tcp", hostport)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	certs := conn.(*tls.Conn).ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return "", errors.New("no certificate")
	}
	return certs[0].Subject.CommonName, nil
}

func (Host) Filter(p firewall.Policy) error { return firewall.Install(p) }

// ReportReady reports to Azure, which otherwise ends the VM as OSProvisioningTimedOut.
func (Host) ReportReady(ctx context.Context, platformName string) error {
	if platformName != azure.Name {
		return nil
	}
	return azure.ReportReady(ctx, azure.WireServer, platform.HTTPGetter{})
}

package vmnet

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcd-appliance/appliance/internal/testenv"
	"golang.org/x/sys/unix"
)

func TestChronyConf(t *testing.T) {
	opts, err := Options{Subnet6: netip.MustParsePrefix("fd77::/64")}.normalize()
	if err != nil {
		t.Fatal(err)
	}
	conf := chronyConf(opts, netip.MustParseAddr("10.77.0.1"), netip.MustParseAddr("fd77::1"), "/tmp/d")
	for _, want := range []string{
		"local stratum 8", "allow 10.77.0.0/24", "allow fd77::/64", "bindaddress 10.77.0.1",
		"bindaddress fd77::1", "port 123", "cmdport 0", "bindcmdaddress /", "pidfile /tmp/d/chronyd.pid",
	} {
		if !strings.Contains("\n"+conf, "\n"+want+"\n") {
			t.Errorf("chrony.conf lacks %q:\n%s", want, conf)
		}
	}
	for _, bad := range []string{"server", "pool", "driftfile", "makestep", "rtcsync", "confdir", "sourcedir", "include"} {
		if strings.Contains("\n"+conf, "\n"+bad) {
			t.Errorf("chrony.conf has %s:\n%s", bad, conf)
		}
	}
	// with extra addresses (a cloud's link-local NTP address) it listens on all of them
	withExtra := opts
	withExtra.ExtraAddrs = []netip.Prefix{netip.MustParsePrefix("169.254.169.123/32")}
	if conf := chronyConf(withExtra, netip.MustParseAddr("10.77.0.1"), netip.MustParseAddr("fd77::1"), "/tmp/d"); strings.Contains(conf, "bindaddress") || !strings.Contains(conf, "allow 10.77.0.0/24") {
		t.Errorf("with ExtraAddrs, chrony.conf binds or does not allow the subnet:\n%s", conf)
	}
	args := strings.Join(chronydArgs("/tmp/d/chrony.conf"), " ")
	if !strings.Contains(args, "-x") || !strings.Contains(args, "-f /tmp/d/chrony.conf") || !strings.Contains(args, "-d") {
		t.Errorf("chronyd %s: want -x (clock untouched), -d (foreground) and -f (own config)", args)
	}
}

func TestParseNTPReply(t *testing.T) {
	const nonce = 0x1122334455667788
	// 2026-12-03T12:00:00.5Z in NTP's era 0.
	when := time.Date(2026, 12, 3, 12, 0, 0, 5e8, time.UTC)
	good := func() []byte {
		p := make([]byte, 48)
		p[0] = 0<<6 | 4<<3 | 4
		p[1] = 8
		binary.BigEndian.PutUint64(p[24:], nonce)
		binary.BigEndian.PutUint32(p[40:], uint32(when.Unix()+ntpEpochOffset))
		binary.BigEndian.PutUint32(p[44:], 1<<31)
		return p
	}
	r, err := parseNTPReply(good(), nonce)
	if err != nil {
		t.Fatal(err)
	}
	if r.Version != 4 || r.Mode != 4 || r.Stratum != 8 || !r.Transmit.Equal(when) {
		t.Errorf("parsed %+v, want v4 mode 4 stratum 8 at %s", r, when)
	}
	for _, tc := range []struct {
		name   string
		modify func(p []byte) []byte
	}{
		{"short", func(p []byte) []byte { return p[:47] }},
		{"client mode", func(p []byte) []byte { p[0] = p[0]&^7 | 3; return p }},
		{"other request", func(p []byte) []byte { p[31]++; return p }},
		{"kiss-o'-death", func(p []byte) []byte { p[1] = 0; copy(p[12:], "RATE"); return p }},
		{"stratum 16", func(p []byte) []byte { p[1] = 16; return p }},
		{"alarm", func(p []byte) []byte { p[0] |= 3 << 6; return p }},
	} {
		if _, err := parseNTPReply(tc.modify(good()), nonce); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	// Era 1: 2040 has wrapped past 2^32 seconds since 1900.
	later := time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)
	var ts [8]byte
	binary.BigEndian.PutUint32(ts[:], uint32(later.Unix()+ntpEpochOffset-1<<32))
	if got := ntpTime(ts[:]); !got.Equal(later) {
		t.Errorf("era 1 timestamp read as %s, want %s", got, later)
	}
}

// TestNTP asks the namespace's chronyd for the time as a VM's NTP client would, and checks
// that DHCP names it.
func TestNTP(t *testing.T) {
	testenv.LookPath(t, chronydBinary)
	_, statErr := os.Stat("/run/chrony")
	hostRunChrony := statErr == nil

	subnet := freeSubnet(t)
	n := newNet(t, Options{Subnet: subnet, NTP: true})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("chronyd log:\n%s", n.NTPLog())
		}
	})
	c, err := n.Dial("udp", netip.AddrPortFrom(n.Gateway(), 123).String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := queryNTP(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if r.Mode != 4 || r.Version != 4 || r.Stratum < 1 || r.Stratum > 15 {
		t.Errorf("reply mode %d version %d stratum %d, want a synchronised NTPv4 server", r.Mode, r.Version, r.Stratum)
	}
	if skew := time.Since(r.Transmit).Abs(); skew > 5*time.Second {
		t.Errorf("server time %s is %s off ours", r.Transmit, skew)
	}

	t.Run("dhcp", func(t *testing.T) {
		host := Host{MAC: net.HardwareAddr{0x52, 0x54, 0, 0x77, 0, 0x0a}, IP: subnet.Addr().Next().Next()}
		if err := n.StartDHCP([]Host{host}); err != nil {
			t.Fatal(err)
		}
		client := anonNS(t)
		plugClient(t, n, client, "vc0", host.MAC)
		offer := discover(t, client, "vc0", host.MAC)
		if got := offer.opts[42]; !bytes.Equal(got, n.Gateway().AsSlice()) {
			t.Errorf("NTP servers %v, want %s", got, n.Gateway())
		}
	})

	pid := n.ntp.cmd.Process.Pid
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := unix.Kill(pid, 0); !errors.Is(err, unix.ESRCH) {
		t.Errorf("chronyd %d still exists after Close: %v", pid, err)
	}
	if _, err := os.Stat("/run/chrony"); !hostRunChrony && err == nil {
		t.Error("chronyd made the host's /run/chrony")
	}
}

// TestServersFailClearly makes each server of New fail to start: New must say which, and
// leave no namespace, resolver files or process behind.
func TestServersFailClearly(t *testing.T) {
	needRoot(t)
	for _, tc := range []struct {
		binary *string
		opts   Options
	}{
		{&chronydBinary, Options{NTP: true}},
		{&tinyproxyBinary, Options{Proxy: true, NTP: true}}, // chronyd started, then stopped
	} {
		name := filepath.Base(*tc.binary)
		t.Run(name, func(t *testing.T) {
			old := *tc.binary
			*tc.binary = "/nonexistent/" + name
			t.Cleanup(func() { *tc.binary = old })
			before := ownNamespaces(t)
			tc.opts.Subnet = freeSubnet(t)
			n, err := New(tc.opts)
			if err == nil {
				n.Close()
				t.Fatalf("New with a missing %s succeeded", name)
			}
			if !strings.Contains(err.Error(), name) {
				t.Errorf("error does not name %s: %v", name, err)
			}
			if left := ownNamespaces(t); len(left) != len(before) {
				t.Errorf("namespaces %q after the failed New, before %q", left, before)
			}
			etc, _ := os.ReadDir(etcNetnsDir)
			for _, e := range etc {
				if strings.HasPrefix(e.Name(), fmt.Sprintf("%s%d-", namePrefix, os.Getpid())) {
					t.Errorf("resolver files %s left by the failed New", e.Name())
				}
			}
		})
	}
}

// ownNamespaces lists the namespaces this process has pinned.
func ownNamespaces(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(runDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), fmt.Sprintf("%s%d-", namePrefix, os.Getpid())) {
			names = append(names, e.Name())
		}
	}
	return names
}

package vmnet

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// chronydBinary is a variable so a test can point it at a missing file.
var chronydBinary = "/usr/sbin/chronyd"

// ntpStratum is what the test NTP server claims: synchronised (VMs accept its time), yet
// a stratum any real server would beat.
const ntpStratum = 8

// startNTP runs chronyd on the gateway; New calls it for Options.NTP.
func (n *Net) startNTP() error {
	dir, err := os.MkdirTemp("", "vmnet-chronyd-")
	if err != nil {
		return fmt.Errorf("vmnet: ntp: %w", err)
	}
	conf := filepath.Join(dir, "chrony.conf")
	if err := os.WriteFile(conf, []byte(chronyConf(n.opts, n.gw, n.gw6, dir)), 0o644); err != nil {
		os.RemoveAll(dir)
		return fmt.Errorf("vmnet: ntp: %w", err)
	}
	server := netip.AddrPortFrom(n.gw, 123).String()
	ready := func(ctx context.Context, _ *daemon) error {
		c, err := n.DialContext(ctx, "udp", server)
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = queryNTP(ctx, c)
		return err
	}
	d, err := startDaemon("chronyd", n.Command(chronydBinary, chronydArgs(conf)...), dir, ready)
	if err != nil {
		return fmt.Errorf("vmnet: ntp in %s: %w", n.name, err)
	}
	n.mu.Lock()
	n.ntp = d
	n.mu.Unlock()
	return nil
}

// chronydArgs is chronyd's command line for the configuration file conf.
func chronydArgs(conf string) []string {
	return []string{
		"-d",         // foreground, messages to stderr (NTPLog)
		"-x",         // never adjust the clock: it is the host's
		"-u", "root", // no privilege drop, so no dependence on the host's _chrony user
		"-f", conf, // this file only: nothing of the host's /etc/chrony
	}
}

// chronyConf is chronyd's configuration: serve the local clock on the gateway to the
// bridge's networks, with no sources and no files outside dir.
func chronyConf(opts Options, gw, gw6 netip.Addr, dir string) string {
	lines := []string{
		fmt.Sprintf("local stratum %d", ntpStratum),
		"port 123",
		"allow " + opts.Subnet.String(),
	}
	// chronyd binds one address per family; with ExtraAddrs (a cloud's link-local NTP
	// service, 169.254.169.123) it listens on every address of the namespace instead, which
	// holds only the bridge's
	if len(opts.ExtraAddrs) == 0 {
		lines = append(lines, "bindaddress "+gw.String())
	}
	if gw6.IsValid() {
		if len(opts.ExtraAddrs) == 0 {
			lines = append(lines, "bindaddress "+gw6.String())
		}
		lines = append(lines, "allow "+opts.Subnet6.String())
	}
	lines = append(lines,
		"cmdport 0",        // no chronyc over UDP,
		"bindcmdaddress /", // nor over the Unix socket, by default in the host's /run/chrony
		"pidfile "+filepath.Join(dir, "chronyd.pid"),
		// No driftfile, dumpdir, logdir, rtcfile or keyfile: nothing else is written or read.
	)
	return strings.Join(lines, "\n") + "\n"
}

// NTPLog is chronyd's output so far, for test failures; empty without Options.NTP.
func (n *Net) NTPLog() string {
	return n.logOf(&n.ntp)
}

// ntpReply holds the fields of an NTP server's answer that tell whether it serves time.
type ntpReply struct {
	Version, Mode, Stratum int
	Transmit               time.Time // when the server sent the reply, by its clock
}

// ntpEpochOffset is the number of seconds from 1900 (NTP's era 0) to 1970.
const ntpEpochOffset = 2208988800

// ntpRequest is an NTPv4 client request (RFC 5905): 48 bytes, LI 0, version 4, mode 3.
// nonce goes in the transmit timestamp, which the server echoes as the origin timestamp.
func ntpRequest(nonce uint64) []byte {
	p := make([]byte, 48)
	p[0] = 0<<6 | 4<<3 | 3
	binary.BigEndian.PutUint64(p[40:], nonce)
	return p
}

// parseNTPReply accepts only a server's (mode 4) synchronised answer to the request
// carrying nonce.
func parseNTPReply(p []byte, nonce uint64) (ntpReply, error) {
	if len(p) < 48 {
		return ntpReply{}, fmt.Errorf("NTP reply of %d bytes, want at least 48", len(p))
	}
	r := ntpReply{Version: int(p[0] >> 3 & 7), Mode: int(p[0] & 7), Stratum: int(p[1])}
	switch {
	case r.Mode != 4:
		return r, fmt.Errorf("NTP reply mode %d, want 4 (server)", r.Mode)
	case binary.BigEndian.Uint64(p[24:]) != nonce:
		return r, errors.New("NTP reply to another request")
	case r.Stratum == 0:
		return r, fmt.Errorf("NTP kiss-o'-death %q", p[12:16])
	case p[0]>>6 == 3 || r.Stratum > 15:
		return r, fmt.Errorf("NTP server unsynchronised (leap %d, stratum %d)", p[0]>>6, r.Stratum)
	}
	r.Transmit = ntpTime(p[40:48])
	return r, nil
}

// ntpTime converts a 64-bit NTP timestamp. Seconds below 2^31 are taken to be in era 1,
// which starts in 2036 (RFC 4330, section 3).
func ntpTime(b []byte) time.Time {
	sec := binary.BigEndian.Uint32(b)
	frac := binary.BigEndian.Uint32(b[4:])
	unix := int64(sec) - ntpEpochOffset
	if sec < 1<<31 {
		unix += 1 << 32
	}
	return time.Unix(unix, int64(uint64(frac)*1e9>>32))
}

// ntpRetry is how long queryNTP waits for a reply before asking again.
const ntpRetry = 250 * time.Millisecond

// queryNTP asks the server at the other end of c, a connected UDP socket, for the time,
// again every ntpRetry, until a good reply arrives or ctx ends.
func queryNTP(ctx context.Context, c net.Conn) (ntpReply, error) {
	buf := make([]byte, 512)
	lastErr := errors.New("no reply")
	for {
		nonce := rand.Uint64()
		_, err := c.Write(ntpRequest(nonce))
		// An ICMP port unreachable for an earlier request shows on the next call: nobody
		// listens (yet).
		refused := errors.Is(err, syscall.ECONNREFUSED)
		if err != nil && !refused {
			return ntpReply{}, err
		}
		deadline := time.Now().Add(ntpRetry)
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		c.SetReadDeadline(deadline)
		for !refused {
			n, err := c.Read(buf)
			if err != nil {
				refused = errors.Is(err, syscall.ECONNREFUSED)
				if !refused && !errors.Is(err, os.ErrDeadlineExceeded) {
					return ntpReply{}, err
				}
				break
			}
			r, err := parseNTPReply(buf[:n], nonce)
			if err == nil {
				return r, nil
			}
			lastErr = err
		}
		if refused {
			lastErr = syscall.ECONNREFUSED
			// Refusals come back at once: pace the retries.
			select {
			case <-ctx.Done():
			case <-time.After(time.Until(deadline)):
			}
		}
		if ctx.Err() != nil {
			return ntpReply{}, fmt.Errorf("NTP query to %s: %w (last: %v)", c.RemoteAddr(), ctx.Err(), lastErr)
		}
	}
}

package vmnet

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

func TestDnsmasqArgs(t *testing.T) {
	opts, err := Options{}.normalize()
	if err != nil {
		t.Fatal(err)
	}
	gw := opts.Subnet.Addr().Next()
	mac := net.HardwareAddr{0x52, 0x54, 0, 0, 0, 1}
	mac2 := net.HardwareAddr{0x52, 0x54, 0, 0, 0, 2}
	ip := netip.MustParseAddr("10.77.0.10")
	tests := []struct {
		name    string
		hosts   []Host
		router  bool
		wantErr bool
		want    []string // arguments that must be present
		notWant []string
	}{
		{name: "none", wantErr: true},
		{
			name:    "static host",
			hosts:   []Host{{MAC: mac, IP: ip, Hostname: "node1"}},
			want:    []string{"--dhcp-host=52:54:00:00:00:01,10.77.0.10,node1", "--dhcp-range=10.77.0.0,static,255.255.255.0,12h", "--port=0", "--dhcp-option=option:router"},
			notWant: []string{},
		},
		{
			name:    "router, no hostname",
			hosts:   []Host{{MAC: mac, IP: ip}},
			router:  true,
			want:    []string{"--dhcp-host=52:54:00:00:00:01,10.77.0.10"},
			notWant: []string{"--dhcp-option=option:router"},
		},
		{name: "short MAC", hosts: []Host{{MAC: mac[:5], IP: ip}}, wantErr: true},
		{name: "outside subnet", hosts: []Host{{MAC: mac, IP: netip.MustParseAddr("10.78.0.10")}}, wantErr: true},
		{name: "IPv6", hosts: []Host{{MAC: mac, IP: netip.MustParseAddr("fd00::10")}}, wantErr: true},
		{name: "gateway", hosts: []Host{{MAC: mac, IP: gw}}, wantErr: true},
		{name: "broadcast", hosts: []Host{{MAC: mac, IP: netip.MustParseAddr("10.77.0.255")}}, wantErr: true},
		{name: "network", hosts: []Host{{MAC: mac, IP: netip.MustParseAddr("10.77.0.0")}}, wantErr: true},
		{name: "comma in hostname", hosts: []Host{{MAC: mac, IP: ip, Hostname: "a,b"}}, wantErr: true},
		{name: "dup MAC", hosts: []Host{{MAC: mac, IP: ip}, {MAC: mac, IP: ip.Next()}}, wantErr: true},
		{name: "dup IP", hosts: []Host{{MAC: mac, IP: ip}, {MAC: mac2, IP: ip}}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := opts
			o.Router = tc.router
			args, err := dnsmasqArgs(o, gw, "/tmp/x", tc.hosts)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %t", err, tc.wantErr)
			}
			joined := "\n" + strings.Join(args, "\n") + "\n"
			for _, w := range tc.want {
				if !strings.Contains(joined, "\n"+w+"\n") {
					t.Errorf("missing %s in %q", w, args)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(joined, "\n"+w+"\n") {
					t.Errorf("unexpected %s in %q", w, args)
				}
			}
		})
	}
}

// TestDHCPOffer runs dnsmasq and asks it for an address like a VM would: a DISCOVER from
// a client interface bridged to br0, checking the OFFER. The client end of the veth sits in
// a second namespace because a reply from an address of its own namespace would be dropped
// as a martian.
func TestDHCPOffer(t *testing.T) {
	for _, router := range []bool{false, true} {
		t.Run(map[bool]string{false: "no router", true: "router"}[router], func(t *testing.T) {
			subnet := freeSubnet(t)
			n := newNet(t, Options{Subnet: subnet, Router: router})
			host := Host{
				MAC:      net.HardwareAddr{0x52, 0x54, 0x00, 0x77, 0x00, 0x0a},
				IP:       subnet.Addr().Next().Next().Next(),
				Hostname: "node1",
			}
			if err := n.StartDHCP([]Host{host}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("dnsmasq log:\n%s", n.DHCPLog())
				}
			})
			if err := n.StartDHCP([]Host{host}); err == nil {
				t.Error("second StartDHCP succeeded")
			}

			client := anonNS(t)
			plugClient(t, n, client, "vc0", host.MAC)
			offer := discover(t, client, "vc0", host.MAC)

			if offer.yiaddr != host.IP {
				t.Errorf("offered %s, want %s", offer.yiaddr, host.IP)
			}
			if got := offer.opts[54]; !bytes.Equal(got, n.Gateway().AsSlice()) {
				t.Errorf("server id %v, want %s", got, n.Gateway())
			}
			if got := offer.opts[1]; !bytes.Equal(got, []byte{255, 255, 255, 0}) {
				t.Errorf("netmask %v", got)
			}
			if got, ok := offer.opts[3]; ok != router || (router && !bytes.Equal(got, n.Gateway().AsSlice())) {
				t.Errorf("router option %v (present %t), want present=%t", got, ok, router)
			}
			if got, ok := offer.opts[6]; ok {
				t.Errorf("DNS server offered: %v", got)
			}
			if got := string(offer.opts[12]); got != host.Hostname {
				t.Errorf("hostname %q, want %q", got, host.Hostname)
			}
			// dnsmasq may log the offer after sending it.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := n.WaitDHCPLog(ctx, "DHCPOFFER(br0) "+host.IP.String()+" "+host.MAC.String()); err != nil {
				t.Error(err)
			}

			pid := n.dhcp.cmd.Process.Pid
			if err := n.Close(); err != nil {
				t.Fatal(err)
			}
			if err := unix.Kill(pid, 0); !errors.Is(err, unix.ESRCH) {
				t.Errorf("dnsmasq %d still exists after Close: %v", pid, err)
			}
		})
	}
}

func TestDHCPFailsClearly(t *testing.T) {
	n := newNet(t, Options{Subnet: freeSubnet(t)})
	old := dnsmasqBinary
	dnsmasqBinary = "/nonexistent/dnsmasq"
	t.Cleanup(func() { dnsmasqBinary = old })
	host := Host{MAC: net.HardwareAddr{0x52, 0x54, 0, 0, 0, 1}, IP: n.Gateway().Next()}
	if err := n.StartDHCP([]Host{host}); err == nil {
		t.Fatal("StartDHCP with a missing binary succeeded")
	}
	dnsmasqBinary = old
	if err := n.StartDHCP([]Host{host}); err != nil {
		t.Fatalf("StartDHCP after a failed start: %v", err)
	}
}

// plugClient connects namespace client to the bridge through a veth pair whose client end,
// ifname, has the given MAC and is up.
func plugClient(t *testing.T, n *Net, client netns.NsHandle, ifname string, mac net.HardwareAddr) {
	t.Helper()
	err := n.do(func() error {
		br, err := netlink.LinkByName(BridgeName)
		if err != nil {
			return err
		}
		attrs := netlink.NewLinkAttrs()
		attrs.Name = ifname + "br"
		attrs.MasterIndex = br.Attrs().Index
		veth := &netlink.Veth{
			LinkAttrs:        attrs,
			PeerName:         ifname,
			PeerHardwareAddr: mac,
			PeerNamespace:    netlink.NsFd(client),
		}
		if err := netlink.LinkAdd(veth); err != nil {
			return err
		}
		return netlink.LinkSetUp(veth)
	})
	if err != nil {
		t.Fatalf("veth to bridge: %v", err)
	}
	err = inNS(client, func() error {
		l, err := netlink.LinkByName(ifname)
		if err != nil {
			return err
		}
		return netlink.LinkSetUp(l)
	})
	if err != nil {
		t.Fatalf("client veth up: %v", err)
	}
}

type dhcpReply struct {
	yiaddr netip.Addr
	opts   map[byte][]byte
}

// discover sends DHCPDISCOVERs from ifname in namespace ns until an OFFER arrives.
func discover(t *testing.T, ns netns.NsHandle, ifname string, mac net.HardwareAddr) dhcpReply {
	t.Helper()
	var pc net.PacketConn
	err := inNS(ns, func() error {
		lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				// The interface has no address yet: pin the socket to it and allow the
				// limited broadcast, as a DHCP client does.
				serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, ifname)
				if serr == nil {
					serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1)
				}
			})
			return errors.Join(err, serr)
		}}
		var err error
		pc, err = lc.ListenPacket(context.Background(), "udp4", "0.0.0.0:68")
		return err
	})
	if err != nil {
		t.Fatalf("client socket: %v", err)
	}
	defer pc.Close()

	const xid = 0x766d6e74
	req := discoverPacket(xid, mac)
	server := &net.UDPAddr{IP: net.IPv4bcast, Port: 67}
	buf := make([]byte, 1500)
	// Retransmit like a real client: the bridge port may only start forwarding once the
	// kernel has processed the veth's carrier change.
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := pc.WriteTo(req, server); err != nil {
			t.Fatalf("send DISCOVER: %v", err)
		}
		pc.SetReadDeadline(time.Now().Add(time.Second))
		for {
			nr, _, err := pc.ReadFrom(buf)
			if err != nil {
				break // timeout: send again
			}
			if r, ok := parseOffer(buf[:nr], xid, mac); ok {
				return r
			}
		}
	}
	t.Fatal("no DHCPOFFER")
	return dhcpReply{}
}

// discoverPacket is a minimal BOOTP/DHCP DISCOVER (RFC 2131) asking for a broadcast reply,
// since the client has no address to unicast to.
func discoverPacket(xid uint32, mac net.HardwareAddr) []byte {
	p := make([]byte, 240, 300)
	p[0], p[1], p[2] = 1, 1, 6 // BOOTREQUEST, Ethernet, 6-byte MAC
	binary.BigEndian.PutUint32(p[4:], xid)
	binary.BigEndian.PutUint16(p[10:], 0x8000) // broadcast flag
	copy(p[28:], mac)
	copy(p[236:], []byte{99, 130, 83, 99})         // magic cookie
	p = append(p, 53, 1, 1)                        // message type DISCOVER
	p = append(p, 55, 7, 1, 3, 6, 12, 15, 42, 119) // netmask, router, DNS, hostname, domain, NTP, search
	p = append(p, 255)
	return append(p, make([]byte, 300-len(p))...) // BOOTP minimum size
}

// parseOffer accepts only an OFFER answering our xid and MAC.
func parseOffer(p []byte, xid uint32, mac net.HardwareAddr) (dhcpReply, bool) {
	if len(p) < 240 || p[0] != 2 || binary.BigEndian.Uint32(p[4:]) != xid ||
		!bytes.Equal(p[28:34], mac) || !bytes.Equal(p[236:240], []byte{99, 130, 83, 99}) {
		return dhcpReply{}, false
	}
	r := dhcpReply{yiaddr: netip.AddrFrom4([4]byte(p[16:20])), opts: map[byte][]byte{}}
	for o := p[240:]; len(o) > 0 && o[0] != 255; {
		if o[0] == 0 { // pad
			o = o[1:]
			continue
		}
		if len(o) < 2 || len(o) < 2+int(o[1]) {
			return dhcpReply{}, false
		}
		r.opts[o[0]] = o[2 : 2+o[1]]
		o = o[2+o[1]:]
	}
	if m := r.opts[53]; len(m) != 1 || m[0] != 2 {
		return dhcpReply{}, false
	}
	return r, true
}

// The NTP server is announced by DHCP unless NTPNotOffered (a cloud's unannounced service).
func TestDnsmasqArgsNTP(t *testing.T) {
	hosts := []Host{{MAC: net.HardwareAddr{0x52, 0x54, 0, 0, 0, 1}, IP: netip.MustParseAddr("10.77.0.10")}}
	gw := netip.MustParseAddr("10.77.0.1")
	for _, tc := range []struct {
		opts  Options
		offer bool
	}{
		{Options{}, false},
		{Options{NTP: true}, true},
		{Options{NTP: true, NTPNotOffered: true}, false},
	} {
		opts, err := tc.opts.normalize()
		if err != nil {
			t.Fatal(err)
		}
		args, err := dnsmasqArgs(opts, gw, t.TempDir(), hosts)
		if err != nil {
			t.Fatal(err)
		}
		if got := slices.Contains(args, "--dhcp-option=option:ntp-server,10.77.0.1"); got != tc.offer {
			t.Errorf("%+v: ntp-server offered %v, want %v", tc.opts, got, tc.offer)
		}
	}
}

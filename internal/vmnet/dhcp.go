package vmnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
)

// Host is a static DHCP assignment.
type Host struct {
	MAC      net.HardwareAddr
	IP       netip.Addr
	Hostname string // optional
}

// dnsmasqBinary is a variable so a test can point it at a missing file.
var dnsmasqBinary = "/usr/sbin/dnsmasq"

// readyMarker is the first thing dnsmasq logs about DHCP; it does so after its DHCP
// socket is bound, so a VM's DISCOVER can no longer be lost.
const readyMarker = "DHCP, "

// dnsHostsFile, in dnsmasq's directory, holds the names DNS answers with.
const dnsHostsFile = "hosts"

var hostnameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)

// StartDHCP runs dnsmasq on the bridge, answering only the given hosts (static leases: a
// VM's address is known before it boots). The default route is offered only with
// Options.Router; even then VMs cannot get out, as the namespace has no uplink and routes
// nowhere. DNS is served too when Options.Domain is set (see there). Close stops the
// server.
func (n *Net) StartDHCP(hosts []Host) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case n.closed:
		return errClosed
	case n.dhcp != nil:
		return errors.New("vmnet: DHCP already started")
	}
	dir, err := os.MkdirTemp("", "vmnet-dnsmasq-")
	if err != nil {
		return fmt.Errorf("vmnet: dhcp: %w", err)
	}
	args, err := dnsmasqArgs(n.opts, n.gw, dir, hosts)
	if err == nil && n.opts.Domain != "" {
		var zone []byte
		if zone, err = dnsHosts(n.opts, hosts); err == nil {
			err = os.WriteFile(filepath.Join(dir, dnsHostsFile), zone, 0o644)
		}
	}
	if err != nil {
		os.RemoveAll(dir)
		return fmt.Errorf("vmnet: dhcp: %w", err)
	}
	d, err := startDaemon("dnsmasq", n.Command(dnsmasqBinary, args...), dir, logReady(readyMarker))
	if err != nil {
		return fmt.Errorf("vmnet: dhcp in %s: %w", n.name, err)
	}
	n.dhcp = d
	return nil
}

// DHCPLog is dnsmasq's output so far (every DHCP exchange is logged, and with
// Options.Domain every DNS query), for test failures.
func (n *Net) DHCPLog() string {
	return n.logOf(&n.dhcp)
}

// dnsmasqArgs builds dnsmasq's command line, checking hosts so mistakes are reported here
// rather than as a dnsmasq exit or a VM that never gets an address.
func dnsmasqArgs(opts Options, gw netip.Addr, dir string, hosts []Host) ([]string, error) {
	if len(hosts) == 0 {
		return nil, errors.New("no hosts: leases are static, nobody would get an address")
	}
	subnet := opts.Subnet
	mask := net.IP(net.CIDRMask(subnet.Bits(), 32)).String()
	args := []string{
		"--keep-in-foreground",
		"--conf-file=/dev/null", // never pick up the host's /etc/dnsmasq.conf
		"--no-resolv",           // no upstream DNS servers: nothing is forwarded
		"--no-hosts",            // nor the host's /etc/hosts served
		"--bind-interfaces",
		"--interface=" + BridgeName,
		"--except-interface=lo",
		// Stay root: no privilege drop, so no dependence on the host's users and groups;
		// the process is confined to the namespace anyway.
		"--user=root",
		"--pid-file=" + filepath.Join(dir, "dnsmasq.pid"), // not the shared /run/dnsmasq.pid
		"--dhcp-leasefile=" + filepath.Join(dir, "leases"),
		// The only server on this link: answer a rebooted VM's REQUEST for its old
		// address at once instead of letting it time out.
		"--dhcp-authoritative",
		"--dhcp-range=" + subnet.Addr().String() + ",static," + mask + ",12h",
		"--log-dhcp",
		"--log-facility=-", // to stderr, which DHCPLog captures
	}
	if !opts.Router {
		// An empty option suppresses dnsmasq's default of offering itself as router.
		args = append(args, "--dhcp-option=option:router")
	}
	if opts.NTP && !opts.NTPNotOffered {
		args = append(args, "--dhcp-option=option:ntp-server,"+gw.String())
	}
	if opts.Domain == "" {
		args = append(args, "--port=0") // no DNS
	} else {
		args = append(args,
			"--addn-hosts="+filepath.Join(dir, dnsHostsFile), // from dnsHosts
			"--domain="+opts.Domain,                          // DHCP option 15; qualifies lease names
			"--dhcp-option=option:domain-search,"+opts.Domain,
			"--dhcp-option=option:dns-server,"+gw.String(),
			"--local=/"+opts.Domain+"/", // the domain is ours alone: never asked upstream
			"--address=/#/",             // every name not in the hosts file: NXDOMAIN
			"--log-queries",
		)
	}
	seenMAC := map[string]bool{}
	seenIP := map[netip.Addr]bool{}
	last := lastAddr(subnet)
	for _, h := range hosts {
		switch {
		case len(h.MAC) != 6:
			return nil, fmt.Errorf("host %q: MAC %q is not 48 bits", h.Hostname, h.MAC)
		case !h.IP.Is4() || !subnet.Contains(h.IP):
			return nil, fmt.Errorf("host %s: IP %s is not in %s", h.MAC, h.IP, subnet)
		case h.IP == subnet.Addr() || h.IP == gw || h.IP == last:
			return nil, fmt.Errorf("host %s: IP %s is the network, gateway or broadcast address", h.MAC, h.IP)
		case h.Hostname != "" && !hostnameRE.MatchString(h.Hostname):
			return nil, fmt.Errorf("host %s: bad hostname %q", h.MAC, h.Hostname)
		case seenMAC[h.MAC.String()]:
			return nil, fmt.Errorf("host %s: MAC listed twice", h.MAC)
		case seenIP[h.IP]:
			return nil, fmt.Errorf("host %s: IP %s listed twice", h.MAC, h.IP)
		}
		seenMAC[h.MAC.String()], seenIP[h.IP] = true, true
		arg := "--dhcp-host=" + h.MAC.String() + "," + h.IP.String()
		if h.Hostname != "" {
			arg += "," + h.Hostname
		}
		args = append(args, arg)
	}
	return args, nil
}

// WaitDHCPLog waits until dnsmasq's output contains substr, for example
// "DHCPACK(br0) 10.77.0.10" once that VM has its address.
func (n *Net) WaitDHCPLog(ctx context.Context, substr string) error {
	n.mu.Lock()
	d := n.dhcp
	n.mu.Unlock()
	if d == nil {
		return errors.New("vmnet: DHCP not started")
	}
	if err := d.log.wait(ctx, substr); err != nil {
		return fmt.Errorf("vmnet: waiting for %q in the DHCP log: %w", substr, err)
	}
	return nil
}

// lastAddr is the broadcast address of an IPv4 prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	for i := p.Bits(); i < 32; i++ {
		a[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom4(a)
}

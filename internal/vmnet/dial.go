package vmnet

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"syscall"
)

// DialContext connects to address from inside the namespace, for example to a VM's etcd.
// It fits http.Transport.DialContext; for grpc.WithContextDialer wrap it as
// func(ctx context.Context, a string) (net.Conn, error) { return n.DialContext(ctx, "tcp", a) }.
//
// Only the socket's creation needs the namespace: a socket stays in the namespace it was
// made in, so the connection is then used from any goroutine like any other, and the
// connect itself waits in the netpoller as usual, honouring ctx.
//
// Hosts must be IP literals; see checkLiteral.
func (n *Net) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	if err := checkLiteral(network, address); err != nil {
		return nil, fmt.Errorf("vmnet: dial %s: %w", address, err)
	}
	var c net.Conn
	err := n.do(func() error {
		var d net.Dialer
		var err error
		c, err = d.DialContext(ctx, network, address)
		return err
	})
	if err != nil {
		if c != nil { // dialled, but the thread could not be restored
			c.Close()
		}
		return nil, fmt.Errorf("vmnet: in %s: %w", n.name, err)
	}
	return c, nil
}

// Dial is DialContext without a context, like net.Dial.
func (n *Net) Dial(network, address string) (net.Conn, error) {
	return n.DialContext(context.Background(), network, address)
}

// Listen opens a listener inside the namespace, for example a fake metadata server on
// 169.254.169.254:80 (added through Options.ExtraAddrs) that VMs can reach. Hosts must be
// IP literals or empty.
func (n *Net) Listen(network, address string) (net.Listener, error) {
	if err := checkLiteral(network, address); err != nil {
		return nil, fmt.Errorf("vmnet: listen %s: %w", address, err)
	}
	var l net.Listener
	err := n.do(func() error {
		var lc net.ListenConfig
		var err error
		l, err = lc.Listen(context.Background(), network, address)
		return err
	})
	if err != nil {
		if l != nil {
			l.Close()
		}
		return nil, fmt.Errorf("vmnet: in %s: %w", n.name, err)
	}
	return l, nil
}

// checkLiteral refuses host names for IP networks. A lookup would not stay inside the
// namespace: the system resolver may ask host daemons over filesystem sockets, which
// network namespaces do not isolate, and so a test could leak queries to real servers.
func checkLiteral(network, address string) error {
	switch network {
	case "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6":
	default:
		return nil // unix sockets and the like carry no host name
	}
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	if host == "" {
		return nil
	}
	if _, err := netip.ParseAddr(host); err != nil {
		return fmt.Errorf("host %q is not an IP address; names are not resolved in the namespace", host)
	}
	return nil
}

// Command returns a command that runs name inside the namespace through `ip netns exec`,
// e.g. qemu so it can open the taps. Its SysProcAttr asks for SIGKILL when the forking
// thread dies, so a crashed test does not leave the process running; replace it freely.
func (n *Net) Command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command("ip", append([]string{"netns", "exec", n.name, name}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

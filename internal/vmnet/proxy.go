package vmnet

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
)

// tinyproxyBinary is a variable so a test can point it at a missing file.
var tinyproxyBinary = "/usr/bin/tinyproxy"

// ProxyPort is the port of the HTTP(S) proxy on the gateway (Options.Proxy).
const ProxyPort = 3128

// proxyReadyMarker is logged by tinyproxy once it listens.
const proxyReadyMarker = "Accepting connections"

// startProxy runs tinyproxy on the gateway; New calls it for Options.Proxy.
func (n *Net) startProxy() error {
	dir, err := os.MkdirTemp("", "vmnet-tinyproxy-")
	if err != nil {
		return fmt.Errorf("vmnet: proxy: %w", err)
	}
	conf := filepath.Join(dir, "tinyproxy.conf")
	if err := os.WriteFile(conf, []byte(tinyproxyConf(n.opts, n.gw)), 0o644); err != nil {
		os.RemoveAll(dir)
		return fmt.Errorf("vmnet: proxy: %w", err)
	}
	// -d: foreground; tinyproxy then logs to stderr (ProxyLog), having no LogFile.
	cmd := n.Command(tinyproxyBinary, "-d", "-c", conf)
	d, err := startDaemon("tinyproxy", cmd, dir, logReady(proxyReadyMarker))
	if err != nil {
		return fmt.Errorf("vmnet: proxy in %s: %w", n.name, err)
	}
	n.mu.Lock()
	n.proxy = d
	n.mu.Unlock()
	return nil
}

// tinyproxyConf is tinyproxy's configuration: a forward proxy on the gateway for the
// bridge's networks, CONNECT (HTTPS) to port 443 only, as most real proxies have it.
func tinyproxyConf(opts Options, gw netip.Addr) string {
	lines := []string{
		fmt.Sprintf("Port %d", ProxyPort),
		"Listen " + gw.String(),
		"Timeout 60",
		"MaxClients 64",
		"Allow " + opts.Subnet.String(),
	}
	if opts.Subnet6.IsValid() {
		lines = append(lines, "Allow "+opts.Subnet6.String())
	}
	lines = append(lines,
		"ConnectPort 443",
		// Info logs each client and request line ("GET http://…", "CONNECT host:443"). No
		// LogFile, Syslog, PidFile or User: output to stderr, nothing written, no user
		// switch (the namespace confines it).
		"LogLevel Info",
	)
	return strings.Join(lines, "\n") + "\n"
}

// ProxyURL is the proxy's URL, "http://GATEWAY:3128", for HTTP_PROXY, HTTPS_PROXY or a
// node's network.proxy; empty without Options.Proxy.
func (n *Net) ProxyURL() string {
	if !n.opts.Proxy {
		return ""
	}
	return "http://" + netip.AddrPortFrom(n.gw, ProxyPort).String()
}

// ProxyLog is tinyproxy's output so far: a line per client connection and per request,
// e.g. "Request (file descriptor 6): CONNECT restore.etcd.test:443 HTTP/1.1" or
// "… GET http://10.77.0.1:8080/x HTTP/1.1". Empty without Options.Proxy.
func (n *Net) ProxyLog() string {
	return n.logOf(&n.proxy)
}

// WaitProxyLog waits until the proxy's output contains substr, e.g.
// "CONNECT restore.etcd.test:443" once a VM has fetched through it.
func (n *Net) WaitProxyLog(ctx context.Context, substr string) error {
	n.mu.Lock()
	d := n.proxy
	n.mu.Unlock()
	if d == nil {
		return errors.New("vmnet: no proxy (Options.Proxy)")
	}
	if err := d.log.wait(ctx, substr); err != nil {
		return fmt.Errorf("vmnet: waiting for %q in the proxy log: %w", substr, err)
	}
	return nil
}

package vmnet

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/etcd-appliance/appliance/internal/testenv"
)

func TestTinyproxyConf(t *testing.T) {
	opts, err := Options{Subnet6: netip.MustParsePrefix("fd77::/64")}.normalize()
	if err != nil {
		t.Fatal(err)
	}
	conf := tinyproxyConf(opts, netip.MustParseAddr("10.77.0.1"))
	for _, want := range []string{"Port 3128", "Listen 10.77.0.1", "Allow 10.77.0.0/24", "Allow fd77::/64", "ConnectPort 443", "LogLevel Info"} {
		if !strings.Contains("\n"+conf, "\n"+want+"\n") {
			t.Errorf("tinyproxy.conf lacks %q:\n%s", want, conf)
		}
	}
	for _, bad := range []string{"LogFile", "Syslog On", "PidFile", "Upstream"} {
		if strings.Contains(conf, bad) {
			t.Errorf("tinyproxy.conf has %s:\n%s", bad, conf)
		}
	}
}

// TestProxy fetches through the proxy from inside the namespace, as a node configured with
// network.proxy would: plain HTTP by address and by name, and HTTPS by CONNECT.
func TestProxy(t *testing.T) {
	testenv.LookPath(t, tinyproxyBinary)
	subnet := freeSubnet(t)
	gw := subnet.Addr().Next()
	n := newNet(t, Options{
		Subnet:     subnet,
		Domain:     "etcd.test",
		DNSRecords: map[string][]netip.Addr{"web.etcd.test": {gw}},
		Proxy:      true,
	})
	// The proxy resolves names with the namespace's DNS server, which runs with DHCP.
	host := Host{MAC: net.HardwareAddr{0x52, 0x54, 0, 0x77, 0, 0x0a}, IP: gw.Next().Next(), Hostname: "node1"}
	if err := n.StartDHCP([]Host{host}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("tinyproxy log:\n%s\ndnsmasq log:\n%s", n.ProxyLog(), n.DHCPLog())
		}
	})
	if want := fmt.Sprintf("http://%s:%d", gw, ProxyPort); n.ProxyURL() != want {
		t.Errorf("ProxyURL %q, want %q", n.ProxyURL(), want)
	}
	proxyURL, err := url.Parse(n.ProxyURL())
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{"resolv.conf": "nameserver " + gw.String(), "nsswitch.conf": "hosts: files dns"} {
		b, err := os.ReadFile(filepath.Join(etcNetnsDir, n.Name(), file))
		if err != nil || !strings.Contains(string(b), want) {
			t.Errorf("%s for the namespace: %q, %v; want %q in it", file, b, err, want)
		}
	}

	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "inside %s%s", r.Host, r.URL.Path)
	})
	l, err := n.Listen("tcp", netip.AddrPortFrom(gw, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	plain := &http.Server{Handler: handler}
	go plain.Serve(l)
	t.Cleanup(func() { plain.Close() })
	port := l.Addr().(*net.TCPAddr).Port

	tl, err := n.Listen("tcp", netip.AddrPortFrom(gw, 443).String())
	if err != nil {
		t.Fatal(err)
	}
	secure := httptest.NewUnstartedServer(handler)
	secure.Listener.Close()
	secure.Listener = tl
	secure.StartTLS()
	t.Cleanup(secure.Close)
	roots := x509.NewCertPool()
	roots.AddCert(secure.Certificate())

	// Only the proxy is dialled, from inside the namespace; never the servers themselves.
	tr := &http.Transport{
		Proxy: http.ProxyURL(proxyURL),
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if addr != proxyURL.Host {
				return nil, fmt.Errorf("dial %s, not the proxy", addr)
			}
			return n.DialContext(ctx, network, addr)
		},
		// httptest's certificate names example.com.
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "example.com"},
	}
	// Before Close, whose cleanup runs later: an idle connection would hold a proxy thread.
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr, Timeout: 20 * time.Second}
	get := func(u string) (string, error) {
		resp, err := client.Get(u)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("%s: %s", resp.Status, body)
		}
		return string(body), err
	}

	for _, tc := range []struct{ url, body, logged string }{
		{
			url:    fmt.Sprintf("http://%s:%d/by-address", gw, port),
			body:   fmt.Sprintf("inside %s:%d/by-address", gw, port),
			logged: fmt.Sprintf("GET http://%s:%d/by-address", gw, port),
		},
		{
			url:    fmt.Sprintf("http://web.etcd.test:%d/by-name", port),
			body:   fmt.Sprintf("inside web.etcd.test:%d/by-name", port),
			logged: fmt.Sprintf("GET http://web.etcd.test:%d/by-name", port),
		},
		{url: "https://web.etcd.test/tls", body: "inside web.etcd.test/tls", logged: "CONNECT web.etcd.test:443"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			body, err := get(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			if body != tc.body {
				t.Errorf("body %q, want %q", body, tc.body)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := n.WaitProxyLog(ctx, tc.logged); err != nil {
				t.Error(err)
			}
		})
	}

	t.Run("refused", func(t *testing.T) {
		// CONNECT to another port than 443, and names nobody serves: the proxy answers at
		// once with an error, having nowhere else to go.
		for _, u := range []string{"https://web.etcd.test:8443/", "http://deb.debian.org/", "https://example.com/"} {
			start := time.Now()
			if body, err := get(u); err == nil {
				t.Errorf("%s through the proxy: %q", u, body)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("%s took %s to fail", u, d)
			}
		}
	})

	tr.CloseIdleConnections()
	pid := n.proxy.cmd.Process.Pid
	start := time.Now()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %s", d)
	}
	if err := unix.Kill(pid, 0); !errors.Is(err, unix.ESRCH) {
		t.Errorf("tinyproxy %d still exists after Close: %v", pid, err)
	}
}

func TestNoProxy(t *testing.T) {
	n := newNet(t, Options{Subnet: freeSubnet(t)})
	if n.ProxyURL() != "" || n.ProxyLog() != "" {
		t.Errorf("proxy URL %q, log %q without Options.Proxy", n.ProxyURL(), n.ProxyLog())
	}
	if err := n.WaitProxyLog(context.Background(), "x"); err == nil {
		t.Error("WaitProxyLog without a proxy succeeded")
	}
	if _, err := os.Stat(filepath.Join(etcNetnsDir, n.Name())); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("resolver files without Domain or Proxy: %v", err)
	}
}

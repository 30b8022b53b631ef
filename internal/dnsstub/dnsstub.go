// Package dnsstub starts systemd-resolved, the DNS stub /etc/resolv.conf names (127.0.0.53),
// when the node first needs it. The image does not start it with the boot: under TCG its start
// costs ~1.5 s of the one vCPU that etcd's start needs, and a node configured by addresses looks
// nothing up before etcd is up (docs/PERFORMANCE.md). Who starts it: the first lookup in
// firstboot (Install), firstboot's boot when etcd's members or the NTP servers are names, and
// otherwise the agent once etcd answers, so that names added later (members, backup stores,
// NTP's fallback pool) resolve as before. Until it runs, a placeholder stub file (tmpfiles.d,
// etcd-appliance-dns.conf) names its address.
package dnsstub

import (
	"context"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/etcd-appliance/appliance/internal/sdjob"
)

// Unit is the DNS stub's service.
const Unit = "systemd-resolved.service"

// startTimeout bounds one start job, whoever waits for it.
const startTimeout = 90 * time.Second

// startJob runs the start job (tests replace it).
var startJob = func(ctx context.Context) error { return sdjob.RunJob(ctx, sdjob.Start, Unit) }

var (
	mu       sync.Mutex
	started  bool
	inflight chan struct{} // closed when the start under way ends
	lastErr  error
	waiting  int // callers waiting for a start (the tests wait for them)
)

// Install makes this process start the stub before its first DNS query, so that a name looked
// up anywhere in it (an HTTPS fetch, a gRPC dial, a lookup) is answered. Addresses and
// /etc/hosts never reach the hook. Only on the appliance (its os-release): `firstboot inspect`
// also runs on other machines, whose resolver is not this package's business.
func Install() {
	if !onAppliance() {
		return
	}
	net.DefaultResolver = &net.Resolver{PreferGo: true, Dial: dial}
}

func onAppliance() bool {
	b, err := os.ReadFile("/usr/lib/os-release")
	return err == nil && strings.Contains("\n"+string(b), "\nID=etcd-appliance\n")
}

func dial(ctx context.Context, network, address string) (net.Conn, error) {
	// A failed start is not the query's error: the query then fails as it would have,
	// naming the name it could not resolve.
	_ = Start(ctx)
	var d net.Dialer
	return d.DialContext(ctx, network, address)
}

// Start starts the stub and waits until it answers, or until ctx ends; at once when this
// process started it already. Concurrent callers share one start job.
func Start(ctx context.Context) error {
	mu.Lock()
	if started {
		mu.Unlock()
		return nil
	}
	if inflight == nil {
		inflight = make(chan struct{})
		go run(inflight)
	}
	done := inflight
	waiting++
	mu.Unlock()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	mu.Lock()
	defer mu.Unlock()
	waiting--
	if err != nil {
		return err
	}
	if started {
		return nil
	}
	return lastErr
}

func run(done chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	err := startJob(ctx)
	mu.Lock()
	started, lastErr, inflight = err == nil, err, nil // a failed start is tried again by the next caller
	mu.Unlock()
	close(done)
}

// Queue queues the stub's start without waiting for it (a caller that ends before etcd starts
// must not hold etcd back for it).
func Queue(ctx context.Context) error {
	s, err := sdjob.Connect(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	return s.Queue(ctx, Unit)
}

// NamesIn reports whether any of values, each a URL, a comma-separated list of URLs or
// name=URL pairs (etcd's initial cluster), or a host (with or without a port), names a host by
// DNS name rather than by address: "https://etcd-1.example:2380" and "ntp.example" do;
// "localhost" and addresses do not. Pass only such fields.
func NamesIn(values ...string) bool {
	for _, v := range values {
		for _, item := range strings.Split(v, ",") {
			if _, after, ok := strings.Cut(item, "="); ok && strings.Contains(after, "://") {
				item = after // name=URL
			}
			if isName(hostOf(strings.TrimSpace(item))) {
				return true
			}
		}
	}
	return false
}

func hostOf(s string) string {
	if strings.Contains(s, "://") {
		if u, err := url.Parse(s); err == nil {
			return u.Hostname()
		}
		return ""
	}
	if h, _, err := net.SplitHostPort(s); err == nil {
		return h
	}
	return s
}

func isName(h string) bool {
	h = strings.TrimSuffix(strings.Trim(h, "[]"), ".")
	if h == "" || strings.EqualFold(h, "localhost") || strings.ContainsAny(h, " /=") {
		return false
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return false
	}
	return true
}

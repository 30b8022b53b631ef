package vmnet

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/etcd-appliance/appliance/internal/testenv"
)

// hostNS is this process's network namespace identity, read before any test runs.
var hostNS string

func TestMain(m *testing.M) {
	hostNS, _ = os.Readlink("/proc/self/ns/net")
	if os.Geteuid() == 0 {
		// A crashed earlier run must not leave namespaces behind for ever.
		if err := Sweep(); err != nil {
			fmt.Fprintln(os.Stderr, "vmnet: sweep:", err)
		}
	}
	os.Exit(m.Run())
}

func needRoot(t *testing.T) {
	t.Helper()
	testenv.Root(t, "network namespaces")
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		testenv.Missing(t, "no tun device: %v", err)
	}
}

// newNet creates a Net that is closed when the test ends, checking that its name is gone.
func newNet(t *testing.T, opts Options) *Net {
	t.Helper()
	needRoot(t)
	n, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Error(err)
		}
		if _, err := os.Lstat(filepath.Join(runDir, n.Name())); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s still pinned after Close: %v", n.Name(), err)
		}
		if _, err := os.Lstat(filepath.Join(etcNetnsDir, n.Name())); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s's resolver files still there after Close: %v", n.Name(), err)
		}
	})
	return n
}

// freeSubnet picks a subnet that no host interface overlaps, so that "the address does not
// exist on the host" is a meaningful check.
func freeSubnet(t *testing.T) netip.Prefix {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	var host []netip.Prefix
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			host = append(host, p.Masked())
		}
	}
	for _, s := range []string{"10.77.0.0/24", "10.177.77.0/24", "172.31.77.0/24", "192.168.177.0/24"} {
		c := netip.MustParsePrefix(s)
		clash := false
		for _, h := range host {
			clash = clash || h.Overlaps(c)
		}
		if !clash {
			return c
		}
	}
	testenv.Missing(t, "every candidate subnet overlaps a host address")
	return netip.Prefix{}
}

// ipLink returns `ip -d link show NAME` in the namespace as parsed JSON; going through
// iproute2 also proves the namespace is usable with `ip -n`.
func ipLink(t *testing.T, n *Net, name string) map[string]any {
	t.Helper()
	out, err := exec.Command("ip", "-n", n.Name(), "-d", "-j", "link", "show", "dev", name).Output()
	if err != nil {
		t.Fatalf("ip link show %s: %v", name, err)
	}
	var links []map[string]any
	if err := json.Unmarshal(out, &links); err != nil || len(links) != 1 {
		t.Fatalf("ip link show %s: %v: %s", name, err, out)
	}
	return links[0]
}

func TestNewAddTapClose(t *testing.T) {
	n := newNet(t, Options{Subnet: freeSubnet(t)})

	list, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(list), n.Name()) {
		t.Errorf("ip netns list does not show %s:\n%s", n.Name(), list)
	}

	br := ipLink(t, n, BridgeName)
	data, _ := br["linkinfo"].(map[string]any)["info_data"].(map[string]any)
	if data["forward_delay"] != 0.0 || data["stp_state"] != 0.0 {
		t.Errorf("bridge forward_delay=%v stp_state=%v, want 0 and 0", data["forward_delay"], data["stp_state"])
	}
	addrs, err := exec.Command("ip", "-n", n.Name(), "-br", "addr", "show", "dev", BridgeName).Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := netip.PrefixFrom(n.Gateway(), n.Subnet().Bits()).String(); !strings.Contains(string(addrs), want) {
		t.Errorf("bridge addresses %q lack %s", addrs, want)
	}

	const tap = "vmnettest0"
	if err := n.AddTap(tap); err != nil {
		t.Fatal(err)
	}
	l := ipLink(t, n, tap)
	if l["master"] != BridgeName {
		t.Errorf("tap master = %v, want %s", l["master"], BridgeName)
	}
	if kind := l["linkinfo"].(map[string]any)["info_kind"]; kind != "tun" {
		t.Errorf("tap kind = %v, want tun", kind)
	}
	if _, err := netlink.LinkByName(tap); err == nil {
		t.Errorf("tap %s visible in the host namespace", tap)
	}
	if err := n.AddTap(tap); err == nil {
		t.Error("second AddTap with the same name succeeded")
	}

	for _, up := range []bool{false, true} {
		if err := n.SetLinkUp(tap, up); err != nil {
			t.Fatal(err)
		}
		flags, _ := ipLink(t, n, tap)["flags"].([]any)
		isUp := false
		for _, f := range flags {
			isUp = isUp || f == "UP"
		}
		if isUp != up {
			t.Errorf("after SetLinkUp(%t) flags are %v", up, flags)
		}
	}

	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(runDir, n.Name())); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s still pinned: %v", n.Name(), err)
	}
	if err := n.AddTap("late0"); !errors.Is(err, errClosed) {
		t.Errorf("AddTap after Close: %v, want errClosed", err)
	}
}

func TestBadTapNames(t *testing.T) {
	n := newNet(t, Options{Subnet: freeSubnet(t)})
	for _, name := range []string{"", "a-name-way-too-long", "a/b", "a b", ".."} {
		if err := n.AddTap(name); err == nil {
			t.Errorf("AddTap(%q) succeeded", name)
		}
	}
}

func TestCommand(t *testing.T) {
	n := newNet(t, Options{Subnet: freeSubnet(t)})
	out, err := n.Command("ip", "-br", "link").CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !strings.Contains(string(out), BridgeName) {
		t.Errorf("command did not run in the namespace, links:\n%s", out)
	}
}

// serve answers every connection on l with greeting followed by what it reads.
func serve(t *testing.T, l net.Listener, greeting string) {
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.WriteString(c, greeting+"\n")
				io.Copy(c, c)
			}()
		}
	}()
}

// exchange reads the greeting, echoes a line through c and returns the greeting.
func exchange(t *testing.T, c net.Conn) string {
	t.Helper()
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	greeting, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("read greeting: %v", err)
	}
	if _, err := io.WriteString(c, "ping\n"); err != nil {
		t.Fatal(err)
	}
	if echo, err := r.ReadString('\n'); err != nil || echo != "ping\n" {
		t.Fatalf("echo = %q, %v", echo, err)
	}
	return strings.TrimSpace(greeting)
}

func TestDialListen(t *testing.T) {
	subnet := freeSubnet(t)
	meta := netip.MustParsePrefix("169.254.169.254/16")
	n := newNet(t, Options{
		Subnet:     subnet,
		Subnet6:    netip.MustParsePrefix("fd77:77::/64"),
		ExtraAddrs: []netip.Prefix{meta},
	})

	for _, addr := range []netip.Addr{n.Gateway(), n.Gateway6(), meta.Addr(), netip.MustParseAddr("127.0.0.1")} {
		t.Run(addr.String(), func(t *testing.T) {
			l, err := n.Listen("tcp", netip.AddrPortFrom(addr, 0).String())
			if err != nil {
				t.Fatal(err)
			}
			serve(t, l, "ns")
			c, err := n.Dial("tcp", l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			if got := exchange(t, c); got != "ns" {
				t.Errorf("greeting %q", got)
			}
		})
	}

	t.Run("gateway not on host", func(t *testing.T) {
		// Binding fails unless the address is local, and costs no traffic; a plain dial
		// instead would go out of the host's default route.
		for _, a := range []netip.Addr{n.Gateway(), n.Gateway6()} {
			l, err := net.Listen("tcp", netip.AddrPortFrom(a, 0).String())
			if err == nil {
				l.Close()
				t.Errorf("%s is an address of the host", a)
			} else if !errors.Is(err, syscall.EADDRNOTAVAIL) {
				t.Errorf("host bind %s: %v, want EADDRNOTAVAIL", a, err)
			}
		}
	})

	t.Run("separate loopback", func(t *testing.T) {
		// The same loopback port in both stacks: each dial must reach its own side.
		hl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		serve(t, hl, "host")
		nl, err := n.Listen("tcp", hl.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		serve(t, nl, "ns")
		c, err := n.Dial("tcp", hl.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		if got := exchange(t, c); got != "ns" {
			t.Errorf("namespace dial reached %q", got)
		}
		c, err = net.Dial("tcp", hl.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		if got := exchange(t, c); got != "host" {
			t.Errorf("plain dial reached %q", got)
		}
	})

	t.Run("refused", func(t *testing.T) {
		l, err := n.Listen("tcp", netip.AddrPortFrom(n.Gateway(), 0).String())
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		if _, err := n.Dial("tcp", addr); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("dial closed port: %v, want ECONNREFUSED", err)
		}
	})

	t.Run("context deadline", func(t *testing.T) {
		// Nobody has this address, so the connect hangs in ARP; only ctx can end it
		// early, which shows the connect waits in the netpoller as usual.
		nobody := subnet.Addr().Next().Next().Next()
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := n.DialContext(ctx, "tcp", netip.AddrPortFrom(nobody, 80).String())
		// Whether ctx or the socket deadline derived from it fires first is a race; both
		// are timeouts.
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("dial %s: %v, want a timeout", nobody, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("dial took %s despite a 200ms deadline", d)
		}
	})

	t.Run("names refused", func(t *testing.T) {
		if _, err := n.Dial("tcp", "localhost:80"); err == nil {
			t.Error("dial by name succeeded")
		}
		if _, err := n.Listen("tcp", "localhost:0"); err == nil {
			t.Error("listen by name succeeded")
		}
	})

	t.Run("metadata over http", func(t *testing.T) {
		l, err := n.Listen("tcp", netip.AddrPortFrom(meta.Addr(), 80).String())
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "path=%s", r.URL.Path)
		})}
		go srv.Serve(l)
		t.Cleanup(func() { srv.Close() })
		tr := &http.Transport{DialContext: n.DialContext, Proxy: nil}
		t.Cleanup(tr.CloseIdleConnections)
		client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		resp, err := client.Get("http://169.254.169.254/latest/meta-data")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if string(body) != "path=/latest/meta-data" {
			t.Errorf("body %q", body)
		}
	})
}

// TestThreadsRestored dials concurrently and then checks that no OS thread of the process
// was left in the test namespace.
func TestThreadsRestored(t *testing.T) {
	n := newNet(t, Options{Subnet: freeSubnet(t)})
	l, err := n.Listen("tcp", netip.AddrPortFrom(n.Gateway(), 0).String())
	if err != nil {
		t.Fatal(err)
	}
	serve(t, l, "ns")

	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 64 {
		wg.Go(func() {
			c, err := n.Dial("tcp", l.Addr().String())
			if err != nil {
				errs <- err
				return
			}
			c.Close()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	// Every thread the runtime has, including those the dials ran on.
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		ns, err := os.Readlink(filepath.Join("/proc/self/task", task.Name(), "ns", "net"))
		if err != nil {
			continue // thread exited meanwhile
		}
		if ns != hostNS {
			t.Errorf("thread %s is in %s, not the host's %s", task.Name(), ns, hostNS)
		}
	}
}

// anonNS makes a namespace held only by a file descriptor, so it cannot outlive the test.
func anonNS(t *testing.T) netns.NsHandle {
	t.Helper()
	var h netns.NsHandle
	err := onThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return err
		}
		var err error
		h, err = netns.Get()
		return err
	})
	if err != nil {
		t.Fatalf("anonymous netns: %v", err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func TestSweep(t *testing.T) {
	// With a Domain, so that it has resolver files in /etc/netns too.
	live := newNet(t, Options{Subnet: freeSubnet(t), Domain: "etcd.test"})

	// A pid that no longer exists: a child that has been reaped.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	if pidAlive(dead.Process.Pid) {
		t.Skip("pid reused at once")
	}
	stale := fmt.Sprintf("%s%d-0", namePrefix, dead.Process.Pid)
	if err := createNamed(stale); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteNamed(stale) })
	// Its resolver files, and those of a namespace already gone (a crash during Close).
	orphan := fmt.Sprintf("%s%d-1", namePrefix, dead.Process.Pid)
	for _, name := range []string{stale, orphan} {
		if err := writeEtc(name, Options{}, netip.MustParseAddr("10.77.0.1")); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { removeEtc(name) })
	}

	// A leftover process inside it, as a crashed run would leave; Sweep must end it. It
	// prints once `ip netns exec` has moved it into the namespace.
	sleeper := exec.Command("ip", "netns", "exec", stale, "sh", "-c", "echo in; exec sleep 600")
	sleeper.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out, err := sleeper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	t.Cleanup(func() {
		syscall.Kill(-sleeper.Process.Pid, syscall.SIGKILL)
		<-exited
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	go func() { sleeper.Wait(); close(exited) }() // after reading: Wait closes the pipe
	if line != "in\n" {
		t.Fatalf("process in stale namespace: %q, %v", line, err)
	}

	if err := Sweep(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(runDir, stale)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale %s survived Sweep: %v", stale, err)
	}
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Error("process in the stale namespace survived Sweep")
	}
	for _, name := range []string{stale, orphan} {
		if _, err := os.Lstat(filepath.Join(etcNetnsDir, name)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s's resolver files survived Sweep: %v", name, err)
		}
	}
	for _, dir := range []string{runDir, etcNetnsDir} {
		if _, err := os.Lstat(filepath.Join(dir, live.Name())); err != nil {
			t.Errorf("Sweep removed live %s from %s: %v", live.Name(), dir, err)
		}
	}
}

// TestRestoreFailureDiscardsThread makes putting a thread back fail and checks that the
// thread, stuck in another namespace, is not reused but ends.
func TestRestoreFailureDiscardsThread(t *testing.T) {
	needRoot(t)
	restoreNS = func(netns.NsHandle) error { return errors.New("injected") }
	t.Cleanup(func() { restoreNS = netns.Set })
	var tid int
	// The goroutine may run on the process's main thread, which the runtime cannot end: it
	// parks that one for good instead (never reusing it either). Then try again, which
	// lands elsewhere, the main thread being parked.
	for attempt := 0; tid == 0 || tid == os.Getpid(); attempt++ {
		if attempt == 3 {
			t.Fatal("onThread keeps running on the main thread")
		}
		err := onThread(func() error {
			tid = unix.Gettid()
			return unix.Unshare(unix.CLONE_NEWNET)
		})
		if err == nil {
			t.Fatal("onThread hid the restore failure")
		}
	}
	restoreNS = netns.Set
	// The kernel gives no event for a thread's end; poll, bounded.
	task := fmt.Sprintf("/proc/self/task/%d", tid)
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, err := os.Stat(task); errors.Is(err, fs.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("thread %d in a foreign namespace still runs", tid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestQemuOpensTap starts qemu through Command on a tap, the way VM tests do, and waits
// for the tap to get carrier, which happens when qemu attaches to it.
func TestQemuOpensTap(t *testing.T) {
	qemu := testenv.LookPath(t, "qemu-system-x86_64")
	n := newNet(t, Options{Subnet: freeSubnet(t)})
	const tap = "vmnetq0"
	if err := n.AddTap(tap); err != nil {
		t.Fatal(err)
	}

	updates := make(chan netlink.LinkUpdate, 16)
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	// The subscription socket is made inside the namespace and stays there.
	if err := n.do(func() error { return netlink.LinkSubscribe(updates, done) }); err != nil {
		t.Fatal(err)
	}

	// -S: stop before running anything; the machine is irrelevant, only the tap open.
	cmd := n.Command(qemu, "-M", "none", "-nodefaults", "-display", "none", "-S",
		"-netdev", "tap,id=n0,ifname="+tap+",script=no,downscript=no")
	cmd.SysProcAttr.Setpgid = true
	out := newLogBuffer()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	})

	timeout := time.After(30 * time.Second)
	for {
		select {
		case u := <-updates:
			if u.Attrs().Name == tap && u.Attrs().RawFlags&unix.IFF_LOWER_UP != 0 {
				return
			}
		case <-exited:
			t.Fatalf("qemu exited: %v\n%s", cmd.ProcessState, out.String())
		case <-timeout:
			t.Fatalf("tap never got carrier; qemu output:\n%s", out.String())
		}
	}
}

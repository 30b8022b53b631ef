package vmnet

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// Bounds for a server's start and stop. Generous: the host may be busy running qemu under
// TCG, and neither is slept: both wait for the event and only fail at the bound.
const (
	daemonStartTimeout = 30 * time.Second
	daemonStopTimeout  = 10 * time.Second
)

// daemon is a server running in the namespace (dnsmasq, chronyd, tinyproxy): its process,
// its output and the temporary directory holding its configuration and state.
type daemon struct {
	name string // the program, for messages
	cmd  *exec.Cmd
	log  *logBuffer
	dir  string        // removed once the process is gone
	done chan struct{} // closed once the process is reaped
}

// readyFunc waits until a started daemon serves, or ctx ends.
type readyFunc func(ctx context.Context, d *daemon) error

// logReady is a readyFunc for a server that logs marker once it serves.
func logReady(marker string) readyFunc {
	return func(ctx context.Context, d *daemon) error { return d.log.wait(ctx, marker) }
}

// startDaemon starts cmd and waits until ready returns, the process exits or the start
// bound passes. On failure the process is gone and dir removed.
func startDaemon(name string, cmd *exec.Cmd, dir string, ready readyFunc) (*daemon, error) {
	d := &daemon{name: name, cmd: cmd, dir: dir, log: newLogBuffer(), done: make(chan struct{})}
	cmd.Stdout = d.log
	cmd.Stderr = d.log
	// Own process group so stop reaches anything it forks; SIGKILL if we die first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}

	started := make(chan error, 1)
	go func() {
		// Pdeathsig fires when the forking thread exits, not the process: keep this
		// goroutine on that thread until the server is reaped.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		cmd.Wait()
		close(d.done)
	}()
	if err := <-started; err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: %w", name, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), daemonStartTimeout)
	defer cancel()
	go func() {
		select {
		case <-d.done:
			cancel() // no point waiting for a dead process
		case <-ctx.Done():
		}
	}()
	if err := ready(ctx, d); err != nil {
		select {
		case <-d.done:
			os.RemoveAll(dir)
			return nil, fmt.Errorf("%s exited (%v) before it served; output:\n%s", name, cmd.ProcessState, d.log)
		default:
		}
		d.stop()
		return nil, fmt.Errorf("%s did not serve within %s (%v); output:\n%s", name, daemonStartTimeout, err, d.log)
	}
	return d, nil
}

// stop ends the server's process group politely, then forcibly, and waits until it is
// reaped. A nil daemon is already stopped.
func (d *daemon) stop() error {
	if d == nil {
		return nil
	}
	defer os.RemoveAll(d.dir)
	pgid := d.cmd.Process.Pid
	select {
	case <-d.done:
		return nil // died on its own; its log shows why
	default:
	}
	syscall.Kill(-pgid, syscall.SIGTERM)
	timer := time.NewTimer(daemonStopTimeout)
	defer timer.Stop()
	select {
	case <-d.done:
		return nil
	case <-timer.C:
	}
	syscall.Kill(-pgid, syscall.SIGKILL)
	<-d.done
	return fmt.Errorf("%s ignored SIGTERM for %s, killed", d.name, daemonStopTimeout)
}

// logBuffer collects output and lets readers wait for a piece of it.
type logBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed and replaced on every write
}

func newLogBuffer() *logBuffer {
	return &logBuffer{changed: make(chan struct{})}
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	close(l.changed)
	l.changed = make(chan struct{})
	return len(p), nil
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// wait returns nil once the output contains substr, or ctx's error if it ends first.
func (l *logBuffer) wait(ctx context.Context, substr string) error {
	for {
		l.mu.Lock()
		found := bytes.Contains(l.buf.Bytes(), []byte(substr))
		changed := l.changed
		l.mu.Unlock()
		if found {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// logOf is the output so far of the server in *field (n.dhcp, n.proxy, …); "" when it is not
// running.
func (n *Net) logOf(field **daemon) string {
	n.mu.Lock()
	d := *field
	n.mu.Unlock()
	if d == nil {
		return ""
	}
	return d.log.String()
}

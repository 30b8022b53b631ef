package testenv

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// recorder is a testing.TB that records how a test ended: Fatalf and Skipf stop the goroutine
// as the real ones do.
type recorder struct {
	testing.TB
	ended, msg string
	done       chan struct{}
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) { r.end("fatal", format, args...) }

func (r *recorder) Skipf(format string, args ...any) { r.end("skip", format, args...) }

func (r *recorder) end(how, format string, args ...any) {
	r.ended, r.msg = how, fmt.Sprintf(format, args...)
	close(r.done)
	runtime.Goexit() // the caller must not go on
}

// run calls f with a recorder in its own goroutine and returns how it ended ("" if it
// returned).
func run(f func(testing.TB)) (ended, msg string) {
	r := &recorder{done: make(chan struct{})}
	go func() {
		f(r)
		close(r.done)
	}()
	<-r.done
	return r.ended, r.msg
}

func TestMissing(t *testing.T) {
	for _, tc := range []struct {
		env, want, msg string
	}{
		{"1", "fatal", "sgdisk not installed: required because ETCD_APPLIANCE_STRICT=1"},
		{"", "skip", "sgdisk not installed (ETCD_APPLIANCE_STRICT=1 makes this a failure)"},
		{"0", "skip", "sgdisk not installed"},
		{"true", "skip", "sgdisk not installed"},
	} {
		t.Run("strict="+tc.env, func(t *testing.T) {
			t.Setenv(StrictVar, tc.env)
			ended, msg := run(func(tb testing.TB) { Missing(tb, "%s not installed", "sgdisk") })
			if ended != tc.want || !strings.HasPrefix(msg, tc.msg) {
				t.Errorf("ended %q with %q, want %q with %q", ended, msg, tc.want, tc.msg)
			}
		})
	}
}

func TestLookPath(t *testing.T) {
	t.Setenv(StrictVar, "1")
	var got string
	if ended, msg := run(func(tb testing.TB) { got = LookPath(tb, "sh") }); ended != "" || got == "" {
		t.Errorf("sh: ended %q (%s), path %q", ended, msg, got)
	}
	ended, msg := run(func(tb testing.TB) { LookPath(tb, "no-such-tool-etcd-appliance") })
	if ended != "fatal" || !strings.Contains(msg, "no-such-tool-etcd-appliance not installed") {
		t.Errorf("missing tool: ended %q with %q", ended, msg)
	}
}

package backup

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/etcd-appliance/appliance/internal/snapshot"
)

// IdleTimeout is how long a download may receive nothing before it is abandoned: a dead
// store or link is given up on instead of being waited on until the caller's deadline.
var IdleTimeout = snapshot.DefaultIdle

// ErrIdle is in the error of a download abandoned after IdleTimeout.
var ErrIdle = errors.New("the store sent nothing")

// idleWatch cancels a context, and closes the body read under it, when no bytes arrived for
// idle. Closing matters for bodies that do not watch the context; an HTTP body does both.
type idleWatch struct {
	idle  time.Duration
	timer *time.Timer

	mu     sync.Mutex
	body   io.Closer
	cancel context.CancelCauseFunc
}

// watchIdle starts the clock now, so a store that never answers the request is covered too.
func watchIdle(ctx context.Context, idle time.Duration) (context.Context, *idleWatch) {
	ctx, cancel := context.WithCancelCause(ctx)
	w := &idleWatch{idle: idle, cancel: cancel}
	w.timer = time.AfterFunc(idle, w.fire)
	return ctx, w
}

func (w *idleWatch) fire() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cancel(ErrIdle)
	if w.body != nil {
		w.body.Close()
	}
}

// reader is body with every read that brings bytes restarting the clock.
func (w *idleWatch) reader(body io.ReadCloser) *idleReader {
	w.mu.Lock()
	w.body = body
	w.mu.Unlock()
	return &idleReader{r: body, w: w}
}

// stop releases the timer and the context.
func (w *idleWatch) stop() {
	w.timer.Stop()
	w.cancel(nil)
}

// stalled says whether err came from the clock running out.
func stalled(ctx context.Context) bool {
	return errors.Is(context.Cause(ctx), ErrIdle)
}

type idleReader struct {
	r   io.Reader
	w   *idleWatch
	err error // the body's own error, to tell a broken download from a damaged object
}

func (r *idleReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.w.timer.Reset(r.w.idle)
	}
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}

package platform

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// ErrNotFound means the metadata server answered that the item does not exist (HTTP 404):
// for user-data this is "no user-data", not a failure.
var ErrNotFound = errors.New("not found")

// HTTPGetter fetches metadata over HTTP with the retries metadata servers need: 5xx answers,
// connection errors and timeouts are retried with exponential backoff (the network or the
// metadata service may still be coming up), 404 is ErrNotFound at once, other 4xx fail at once.
type HTTPGetter struct {
	Client   *http.Client  // nil: a client with a 10 s per-request timeout
	Attempts int           // 0: 8
	Backoff  time.Duration // first wait; doubles up to 10 s. 0: 250 ms
	MaxBytes int64         // response size limit; 0: 16 MiB
}

// Do sends the request built by newReq (called once per attempt, so bodies and tokens can be
// fresh) and returns the body of a 2xx answer.
func (g HTTPGetter) Do(ctx context.Context, newReq func(ctx context.Context) (*http.Request, error)) ([]byte, error) {
	client := g.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	attempts, wait, limit := g.Attempts, g.Backoff, g.MaxBytes
	if attempts <= 0 {
		attempts = 8
	}
	if wait <= 0 {
		wait = 250 * time.Millisecond
	}
	if limit <= 0 {
		limit = 16 << 20
	}
	var last error
	for i := 0; i < attempts; i++ {
		if i > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, fmt.Errorf("%w (last error: %v)", ctx.Err(), last)
			case <-t.C:
			}
			wait = min(2*wait, 10*time.Second)
		}
		req, err := newReq(ctx)
		if err != nil {
			return nil, err
		}
		body, retry, err := g.once(client, req, limit)
		if err == nil || !retry {
			return body, err
		}
		last = err
	}
	return nil, fmt.Errorf("gave up after %d attempts: %w", attempts, last)
}

func (g HTTPGetter) once(client *http.Client, req *http.Request, limit int64) (body []byte, retry bool, err error) {
	resp, err := client.Do(req)
	if err != nil {
		return nil, true, fmt.Errorf("%s %s: %w", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, true, fmt.Errorf("%s %s: reading the answer: %w", req.Method, req.URL, err)
	}
	if int64(len(body)) > limit {
		return nil, false, fmt.Errorf("%s %s: answer larger than %d bytes", req.Method, req.URL, limit)
	}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return body, false, nil
	case resp.StatusCode == http.StatusNotFound:
		return nil, false, fmt.Errorf("%s %s: %w", req.Method, req.URL, ErrNotFound)
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return nil, true, fmt.Errorf("%s %s: %s", req.Method, req.URL, resp.Status)
	}
	return nil, false, fmt.Errorf("%s %s: %s", req.Method, req.URL, resp.Status)
}

// Get is Do for a plain GET with the given headers.
func (g HTTPGetter) Get(ctx context.Context, url string, header http.Header) ([]byte, error) {
	return g.Do(ctx, func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, err
		}
		for k, v := range header {
			req.Header[k] = v
		}
		return req, nil
	})
}

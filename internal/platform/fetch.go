package platform

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// ErrNotFound means the metadata server answered that the item does not exist (HTTP 404):
// for user-data this is "no user-data", not a failure.
var ErrNotFound = errors.New("not found")

// HTTPGetter fetches metadata over HTTP with the retries metadata servers need: 5xx answers,
// connection errors and timeouts are retried with exponential backoff (the network or the
// metadata service may still be coming up), 404 is ErrNotFound at once, other 4xx and a server
// certificate that does not verify fail at once.
type HTTPGetter struct {
	Client   *http.Client  // nil: DefaultClient()
	Attempts int           // 0: 8
	Backoff  time.Duration // first wait; doubles up to 10 s. 0: 250 ms
	MaxBytes int64         // response size limit; 0: 16 MiB
	// RetryStatus are further HTTP statuses retried like a 5xx (Azure IMDS answers 410 Gone
	// while it starts up).
	RetryStatus []int
	// Check, if set, vets every 2xx answer before its body is used (a header the real server
	// always sends, say); its error fails the fetch without a retry.
	Check func(*http.Response) error
}

// StatusError is a non-2xx answer. errors.Is(err, ErrNotFound) holds for a 404.
type StatusError struct {
	Method, URL string
	Code        int
	Status      string
}

func (e *StatusError) Error() string { return fmt.Sprintf("%s %s: %s", e.Method, e.URL, e.Status) }

// Is makes a 404 match ErrNotFound.
func (e *StatusError) Is(target error) bool {
	return target == ErrNotFound && e.Code == http.StatusNotFound
}

// noAnswerError is a request that got no HTTP answer. It keeps net/http's *url.Error in its
// chain, which providers take for "no metadata server here", but says the URL only once.
type noAnswerError struct {
	method string
	err    *url.Error
}

func (e *noAnswerError) Error() string { return e.method + " " + e.err.URL + ": " + e.err.Err.Error() }
func (e *noAnswerError) Unwrap() error { return e.err }

// StatusCode is the HTTP status carried by err, or 0 when no answer came back.
func StatusCode(err error) int {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

// DefaultClient is the client metadata fetches use: a 10 s limit per request, and never a
// proxy from the environment (metadata servers are link-local; Azure documents that IMDS
// requests must bypass proxies).
func DefaultClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	return &http.Client{Timeout: 10 * time.Second, Transport: t}
}

// Do sends the request built by newReq (called once per attempt, so bodies and tokens can be
// fresh) and returns the body of a 2xx answer.
func (g HTTPGetter) Do(ctx context.Context, newReq func(ctx context.Context) (*http.Request, error)) ([]byte, error) {
	client := g.Client
	if client == nil {
		client = DefaultClient()
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
		// a certificate that failed verification fails the next attempt too
		var ve *tls.CertificateVerificationError
		retry := !errors.As(err, &ve)
		if ue, ok := err.(*url.Error); ok {
			return nil, retry, &noAnswerError{method: req.Method, err: ue}
		}
		return nil, retry, fmt.Errorf("%s %s: %w", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, true, fmt.Errorf("%s %s: reading the answer: %w", req.Method, req.URL, err)
	}
	if int64(len(body)) > limit {
		return nil, false, fmt.Errorf("%s %s: answer larger than %d bytes", req.Method, req.URL, limit)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if g.Check != nil {
			if err := g.Check(resp); err != nil {
				return nil, false, fmt.Errorf("%s %s: %w", req.Method, req.URL, err)
			}
		}
		return body, false, nil
	}
	serr := &StatusError{Method: req.Method, URL: req.URL.String(), Code: resp.StatusCode, Status: resp.Status}
	retry = resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests || slices.Contains(g.RetryStatus, resp.StatusCode)
	return nil, retry, serr
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

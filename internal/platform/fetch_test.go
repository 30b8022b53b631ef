package platform

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestHTTPGetter(t *testing.T) {
	for _, tc := range []struct {
		name      string
		answers   []int // status per attempt; the last repeats
		wantErr   error
		wantBody  string
		wantCalls int32
	}{
		{"ok", []int{200}, nil, "data", 1},
		{"5xx then ok", []int{503, 500, 200}, nil, "data", 3},
		{"404 at once", []int{404}, ErrNotFound, "", 1},
		{"403 at once", []int{403}, errAny, "", 1},
		{"5xx forever", []int{502}, errAny, "", 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := int(calls.Add(1)) - 1
				code := tc.answers[min(n, len(tc.answers)-1)]
				if r.Header.Get("Metadata-Flavor") != "Google" {
					code = 400
				}
				w.WriteHeader(code)
				if code == 200 {
					w.Write([]byte("data"))
				}
			}))
			defer srv.Close()
			g := HTTPGetter{Attempts: 4, Backoff: time.Millisecond}
			body, err := g.Get(context.Background(), srv.URL, http.Header{"Metadata-Flavor": {"Google"}})
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tc.wantErr == errAny && err == nil, tc.wantErr != nil && tc.wantErr != errAny && !errors.Is(err, tc.wantErr):
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if string(body) != tc.wantBody {
				t.Errorf("body %q, want %q", body, tc.wantBody)
			}
			if got := calls.Load(); got != tc.wantCalls {
				t.Errorf("%d requests, want %d", got, tc.wantCalls)
			}
		})
	}
}

var errAny = errors.New("any error")

func TestHTTPGetterContext(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := HTTPGetter{Attempts: 100, Backoff: 20 * time.Millisecond}.Get(ctx, srv.URL, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want the context's deadline", err)
	}
}

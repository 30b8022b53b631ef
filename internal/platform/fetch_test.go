package platform

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/etcd-appliance/appliance/internal/tlstest"
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

func TestHTTPGetterStatusAndCheck(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/gone-then-ok":
			if calls.Add(1) < 3 {
				w.WriteHeader(http.StatusGone)
				return
			}
			w.Header().Set("Metadata-Flavor", "Google")
			w.Write([]byte("ok"))
		case "/unauthorized":
			w.WriteHeader(http.StatusUnauthorized)
		default:
			w.Write([]byte("no flavor header"))
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	g := HTTPGetter{Attempts: 5, Backoff: time.Millisecond, RetryStatus: []int{http.StatusGone},
		Check: func(resp *http.Response) error {
			if resp.Header.Get("Metadata-Flavor") != "Google" {
				return errors.New("not a metadata server")
			}
			return nil
		}}
	if body, err := g.Get(ctx, srv.URL+"/gone-then-ok", nil); err != nil || string(body) != "ok" {
		t.Errorf("410 twice then 200: body %q, error %v; want ok (410 retried)", body, err)
	}
	if _, err := g.Get(ctx, srv.URL+"/other", nil); err == nil || !strings.Contains(err.Error(), "not a metadata server") {
		t.Errorf("an answer failing Check gave error %v", err)
	}
	_, err := g.Get(ctx, srv.URL+"/unauthorized", nil)
	if StatusCode(err) != http.StatusUnauthorized || errors.Is(err, ErrNotFound) {
		t.Errorf("401: StatusCode %d, error %v", StatusCode(err), err)
	}
	if StatusCode(errors.New("x")) != 0 {
		t.Error("StatusCode of an error without an answer is not 0")
	}
}

func TestMACJSON(t *testing.T) {
	m, err := ParseMAC("06-AA-BB-CC-DD-00")
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(Interface{MAC: m})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"mac":"06:aa:bb:cc:dd:00"}`; got != want {
		t.Errorf("JSON %s, want %s", got, want)
	}
	var back Interface
	if err := json.Unmarshal(b, &back); err != nil || back.MAC.String() != m.String() {
		t.Errorf("round trip gave %v, %v", back.MAC, err)
	}
}

// A server certificate that does not verify is not retried, and the error says the URL once.
func TestHTTPGetterUntrusted(t *testing.T) {
	var calls atomic.Int32
	base := tlstest.Server(t, tlstest.NewCA(t, "private CA").Leaf(t, []string{"localhost"}),
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls.Add(1) }))
	_, err := HTTPGetter{Attempts: 4, Backoff: time.Millisecond}.Get(context.Background(), base+"/x", nil)
	want := "GET " + base + "/x: tls: failed to verify certificate: x509: certificate signed by unknown authority"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %s", err, want)
	}
	if calls.Load() != 0 {
		t.Errorf("the handler ran %d times", calls.Load())
	}
}

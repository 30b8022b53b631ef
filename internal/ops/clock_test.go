package ops

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/etcd-appliance/appliance/internal/status"
)

func TestClockOffset(t *testing.T) {
	for _, tc := range []struct {
		name  string
		shift time.Duration // the server's clock minus ours
	}{
		{"same clock", 0},
		{"two hours ahead", 2 * time.Hour},
		{"400 days behind", -400 * 24 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Date", time.Now().Add(tc.shift).UTC().Format(http.TimeFormat))
			}))
			defer srv.Close()
			got, err := clockOffset(t.Context(), srv.Client(), srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			// Date has whole seconds: within a second either way
			if d := got - tc.shift; d > time.Second || d < -time.Second {
				t.Errorf("offset %s, want %s ± 1s", got, tc.shift)
			}
		})
	}
}

func TestCachedClock(t *testing.T) {
	reads := 0
	read := func(context.Context) *status.Clock { reads++; return &status.Clock{Synchronized: reads > 1} }
	c := cachedClock(read, time.Hour)
	if a, b := c(context.Background()), c(context.Background()); reads != 1 || a.Synchronized || b.Synchronized {
		t.Errorf("within the hour: %d reads (%v, %v), want 1", reads, a, b)
	}
	c = cachedClock(read, 0)
	if c(context.Background()); !c(context.Background()).Synchronized || reads != 3 {
		t.Errorf("with no cache: %d reads, want every call to read", reads)
	}
}

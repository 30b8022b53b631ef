package dnsstub

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"
)

func TestNamesIn(t *testing.T) {
	for _, tc := range []struct {
		values []string
		want   bool
	}{
		{[]string{"https://10.0.0.1:2380"}, false},
		{[]string{"https://[fd00::1]:2380", "https://127.0.0.1:2379"}, false},
		{[]string{"a=https://10.0.0.1:2380,b=https://10.0.0.2:2380"}, false},
		{[]string{"a=https://10.0.0.1:2380,b=https://etcd-b.example:2380"}, true},
		{[]string{"https://etcd-1.example:2380"}, true},
		{[]string{"https://localhost:2379"}, false},
		{[]string{"169.254.169.123", "fd00::123"}, false},
		{[]string{"169.254.169.123", "ntp.example"}, true},
		{[]string{"ntp.example:123"}, true},
		{[]string{""}, false},
		{nil, false},
	} {
		if got := NamesIn(tc.values...); got != tc.want {
			t.Errorf("NamesIn(%q) = %v, want %v", tc.values, got, tc.want)
		}
	}
}

// Lookups that arrive while the stub starts share its one start job; one whose own deadline
// ends first stops waiting; a failed start is tried again by the next lookup.
func TestStart(t *testing.T) {
	jobs := 0
	release := make(chan error)
	startJob = func(context.Context) error { jobs++; return <-release }
	t.Cleanup(func() { startJob, started = nil, false })

	short, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := Start(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a lookup whose deadline passed: %v, want its deadline", err)
	}
	errs := make(chan error, 2)
	for range 2 {
		go func() { errs <- Start(context.Background()) }()
	}
	for n := 0; n < 2; { // both wait for the start under way
		runtime.Gosched()
		mu.Lock()
		n = waiting
		mu.Unlock()
	}
	release <- errors.New("unit not found")
	for range 2 {
		if err := <-errs; err == nil || err.Error() != "unit not found" {
			t.Errorf("waiting lookup: %v, want the start's error", err)
		}
	}
	go func() { release <- nil }()
	if err := Start(context.Background()); err != nil {
		t.Errorf("second start: %v", err)
	}
	if err := Start(context.Background()); err != nil || jobs != 2 {
		t.Errorf("after a start: %v, %d start jobs, want 2 (one failed, one done)", err, jobs)
	}
}

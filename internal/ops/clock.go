package ops

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/etcd-appliance/appliance/internal/member"
	"github.com/etcd-appliance/appliance/internal/membership"
	"github.com/etcd-appliance/appliance/internal/status"
	"github.com/etcd-appliance/appliance/internal/timesync"
)

// clockSkews compares this node's clock with every other started member's, through the Date
// header of their plain-HTTP metrics port (it answers even when TLS fails, as it does when
// clocks are far apart), and returns the members SkewLimit or more off. Members that do not
// answer are left out: health covers them. The path asked for does not exist: the 404 comes at
// once, where /health would first wait for a read through the leader (and block without one).
func clockSkews(ctx context.Context, ms []membership.Member, self uint64) []status.Skew {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var (
		mu    sync.Mutex
		skews []status.Skew
		wg    sync.WaitGroup
	)
	for _, m := range ms {
		if m.ID == self || len(m.ClientURLs) == 0 {
			continue
		}
		u, err := url.Parse(m.ClientURLs[0])
		if err != nil {
			continue
		}
		wg.Go(func() {
			off, err := clockOffset(ctx, http.DefaultClient, "http://"+net.JoinHostPort(u.Hostname(), strconv.Itoa(member.MetricsPort))+"/etcd-appliance-clock")
			if err != nil || (off < status.SkewLimit && off > -status.SkewLimit) {
				return
			}
			mu.Lock()
			skews = append(skews, status.Skew{Member: m.Label(), Offset: off, Seconds: off.Round(time.Second).Seconds()})
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.SortFunc(skews, func(a, b status.Skew) int { return strings.Compare(a.Member, b.Member) })
	return skews
}

// clockOffset is the clock of the server at rawURL minus this one's, from its Date header
// (whole seconds, hence the half second added) against the middle of the request.
func clockOffset(ctx context.Context, c *http.Client, rawURL string) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	mid := start.Add(time.Since(start) / 2)
	date, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		return 0, fmt.Errorf("%s: Date header: %w", rawURL, err)
	}
	return date.Add(500 * time.Millisecond).Sub(mid), nil
}

// clockSync reads timesyncd's state: its flag file says whether the clock is synchronised,
// its journal which server it last contacted (it tells more only over D-Bus, which the image
// does not run).
func clockSync(ctx context.Context) *status.Clock {
	c := &status.Clock{Synchronized: timesync.Synced(), Servers: timesync.ConfiguredServers()}
	for _, s := range timesync.LeaseServers(timesync.LeaseDir) {
		if !slices.Contains(c.Servers, s) {
			c.Servers = append(c.Servers, s)
		}
	}
	jctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(jctx, "journalctl", "--boot", "--unit", timesync.Unit, "--output", "cat", "--no-pager", "--quiet").Output()
	if err == nil {
		c.Source = timesync.SourceFromJournal(string(out))
	}
	return c
}

// clockCacheFor is how long the agent reuses what it read of timesyncd: it asks for a status
// every few seconds, and reading the journal each time would cost more than the rest.
const clockCacheFor = time.Minute

// cachedClock reads through read at most once per d.
func cachedClock(read func(context.Context) *status.Clock, d time.Duration) func(context.Context) *status.Clock {
	var (
		mu   sync.Mutex
		last *status.Clock
		at   time.Time
	)
	return func(ctx context.Context) *status.Clock {
		mu.Lock()
		defer mu.Unlock()
		if last == nil || time.Since(at) >= d {
			last, at = read(ctx), time.Now()
		}
		c := *last
		return &c
	}
}

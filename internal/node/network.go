package node

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/etcd-appliance/appliance/internal/dnsstub"
	"github.com/etcd-appliance/appliance/internal/nodeconfig"
)

// networkServices gives systemd-resolved and systemd-timesyncd what the config and the
// platform add to DHCP's servers. Resolve calls it as soon as the config is read, before it
// looks anything up by name.
func (b *boot) networkServices(ctx context.Context, files []nodeconfig.ServiceFile) error {
	units, err := nodeconfig.WriteServiceFiles(b.Paths.Root, files)
	// timesyncd looks NTP servers given by name up through the stub, which the boot has not
	// started (internal/dnsstub); the clock step waits for timesyncd.
	var hosts []string
	for _, f := range files {
		hosts = append(hosts, f.Hosts...)
	}
	if err == nil && dnsstub.NamesIn(hosts...) {
		err = b.m.StartResolver(ctx, true)
	}
	if err == nil {
		err = b.m.RestartUnits(ctx, units)
	}
	if err != nil {
		return fmt.Errorf("network services: %w", err)
	}
	for _, f := range files {
		b.say("%s: %s", f.Unit, f.Summary)
	}
	return nil
}

// clockWait bounds waiting for the first time synchronisation before certificates are
// issued: a reachable NTP server answers in a second or two; an unreachable one must not hold
// the member back for long, as the clock is usually right already (RTC, hypervisor).
const clockWait = 15 * time.Second

// clock waits, when the node has NTP servers, for the clock to be synchronised before
// certificates are issued or checked against it.
func (b *boot) clock(ctx context.Context) error {
	sources := append(b.r.TimeServers(), b.m.DHCPTimeServers()...)
	if len(sources) == 0 {
		b.say("clock: no NTP server from DHCP, the platform or time.servers; using the clock as it is (%s)", time.Now().UTC().Format(time.RFC3339))
		return nil
	}
	// The boot does not start timesyncd (etcd.service does, once etcd is up): with servers to
	// ask, it is started here (nothing to do when networkServices restarted it). Its start
	// counts towards clockWait.
	start := time.Now()
	startCtx, cancel := context.WithTimeout(ctx, clockWait)
	err := b.m.StartTimeSync(startCtx)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		b.say("clock: %v; issuing certificates with the clock as it is (%s)", err, time.Now().UTC().Format(time.RFC3339))
		return nil
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for !b.m.ClockSynced() {
		if time.Since(start) >= clockWait {
			b.say("clock: not synchronised after %s from %s; issuing certificates with the clock as it is (%s)",
				clockWait, strings.Join(sources, " "), time.Now().UTC().Format(time.RFC3339))
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	b.say("clock: synchronised (NTP: %s) after %s; now %s", strings.Join(sources, " "),
		time.Since(start).Round(100*time.Millisecond), time.Now().UTC().Format(time.RFC3339))
	return nil
}

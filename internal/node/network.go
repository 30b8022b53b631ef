package node

import (
	"context"
	"strings"
	"time"

	"github.com/etcd-appliance/appliance/internal/nodeconfig"
)

// networkServices gives systemd-resolved and systemd-timesyncd what the config and the
// platform add to DHCP's servers, before anything is fetched by name.
func (b *boot) networkServices(ctx context.Context) error {
	files := b.r.ServiceFiles()
	if len(files) == 0 {
		return nil
	}
	units, err := nodeconfig.WriteServiceFiles(b.Paths.Root, files)
	if err == nil {
		err = b.m.RestartUnits(ctx, units)
	}
	if err != nil {
		return b.refuse("network services", err.Error())
	}
	if d := b.c.Network.DNS; len(d.Servers)+len(d.Search) > 0 {
		b.say("dns: servers %s, search %s (network.dns, beside DHCP's)", orNone(strings.Join(d.Servers, " ")), orNone(strings.Join(d.Search, " ")))
	}
	if s := b.r.TimeServers(); len(s) > 0 {
		b.say("ntp: %s (time.servers and the platform's, beside DHCP's)", strings.Join(s, " "))
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
	start := time.Now()
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

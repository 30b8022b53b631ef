package ops

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/etcd-appliance/appliance/internal/agentmetrics"
	"github.com/etcd-appliance/appliance/internal/firewall"
)

// serveMetrics serves the agent's own metrics on port 2382 until ctx ends (the packet filter
// admits the members and network.metrics_from). A port taken by something else is told once:
// the agent's other work goes on without it.
func (a *agent) serveMetrics(ctx context.Context) {
	srv := &http.Server{Addr: net.JoinHostPort("", strconv.Itoa(firewall.AgentMetricsPort)),
		Handler: agentmetrics.Handler(a.metrics), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(a.n.Console, "etcd-appliance: metrics: %v\n", err)
	}
}

// metrics is what the agent knows now: the last round's report and its own counters.
func (a *agent) metrics() agentmetrics.Snapshot {
	s := a.n.State
	m := agentmetrics.Snapshot{Member: s.Member, Image: s.Image, EtcdVersion: s.EtcdVersion, BackupConfigured: s.Backup != nil}
	a.counters.set(func(c *backupCounters) {
		m.BackupUploader, m.BackupUploads, m.BackupFailures = c.uploader, uint64(c.uploads), uint64(c.failures)
	})
	a.lastMu.Lock()
	st := a.last
	a.lastMu.Unlock()
	if st == nil {
		return m
	}
	m.CertNotAfter = st.CertNotAfter
	m.ClockSynchronized = st.Clock != nil && st.Clock.Synchronized
	if b := st.Backup; b != nil {
		m.BackupInterval = time.Duration(b.Interval * float64(time.Second))
		m.BackupLastOK, m.BackupLastFailed, m.BackupLastSize, m.BackupLastRevision = b.Last, b.Failed, b.Size, b.Revision
		if b.Failing() {
			m.BackupLastError = b.Error
		}
		m.DrillLastOK, m.DrillLastFailed, m.DrillLastRevision = b.Verified, b.VerifyFailed, b.VerifiedRevision
		m.DrillDuration = time.Duration(b.VerifySeconds * float64(time.Second))
	}
	return m
}

// Package agentmetrics is etcd-agent's own Prometheus exposition on port 2382: backups to the
// object store, the restore drill, certificates and the clock, as a Snapshot of values the agent
// fills in. etcd's own metrics stay on 2381; every name here starts with etcd_appliance_.
//
// It uses client_golang's registry and prometheus/common's text encoder rather than a
// hand-written writer. Measured in the stripped cmd/firstboot built alone (the image's
// flags: -trimpath -ldflags='-s -w'), client_golang with promhttp cost 0.84 MiB (amd64) and
// 0.81 MiB (arm64) more than a hand-written writer, and this package as it is, without promhttp,
// adds 0.48 and 0.50 MiB: under the 1 MiB that would have been worth owning escaping and
// ordering ourselves. promhttp is left out because the payload is a few hundred bytes, so
// content negotiation and compression buy nothing, and a fixed Content-Type keeps what
// scrapers see independent of the library's defaults.
package agentmetrics

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// Prefix starts every metric name this package writes.
const Prefix = "etcd_appliance_"

// ContentType is the Prometheus text format, version 0.0.4.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// MaxErrorLabel bounds the error label of backup_last_error_info, in characters: a label value
// is part of the series' identity and stored with every sample, and store errors can be long.
const MaxErrorLabel = 200

// Snapshot is what the agent knows at one moment. Zero values mean "never" or "unknown" and are
// written as 0.
type Snapshot struct {
	// Member is this node's member name, Image the appliance version, EtcdVersion etcd's.
	Member, Image, EtcdVersion string

	BackupConfigured bool          // backup.url is set
	BackupUploader   bool          // this node holds the upload election
	BackupInterval   time.Duration // backup.interval
	BackupLastOK     time.Time     // end of the last successful upload
	BackupLastFailed time.Time     // end of the last failed attempt
	// BackupLastError is the error of the last attempt, "" when it succeeded (or none was made).
	BackupLastError    string
	BackupLastSize     int64 // bytes of the last uploaded backup
	BackupLastRevision int64 // etcd revision of the last uploaded backup
	BackupUploads      uint64
	BackupFailures     uint64

	DrillLastOK       time.Time     // end of the last restore drill that verified a backup
	DrillLastFailed   time.Time     // end of the last one that did not
	DrillLastRevision int64         // revision of the last backup the drill restored and verified
	DrillDuration     time.Duration // how long the last drill took

	CertNotAfter      time.Time // the earliest expiry of this node's certificates
	ClockSynchronized bool      // systemd-timesyncd has synchronised the clock
}

// metric is one family: its value comes from a Snapshot; ok false leaves it out.
type metric struct {
	name, help string
	typ        prometheus.ValueType
	labels     []string
	value      func(s *Snapshot) (v float64, labelValues []string, ok bool)
}

func gauge(name, help string, f func(s *Snapshot) float64) metric {
	return metric{name: name, help: help, typ: prometheus.GaugeValue,
		value: func(s *Snapshot) (float64, []string, bool) { return f(s), nil, true }}
}

func counter(name, help string, f func(s *Snapshot) uint64) metric {
	return metric{name: name, help: help, typ: prometheus.CounterValue,
		value: func(s *Snapshot) (float64, []string, bool) { return float64(f(s)), nil, true }}
}

var metrics = []metric{
	gauge("backup_configured", "1 when backups to an object store are configured (backup.url).",
		func(s *Snapshot) float64 { return boolean(s.BackupConfigured) }),
	gauge("backup_uploader", "1 when this node holds the backup upload election.",
		func(s *Snapshot) float64 { return boolean(s.BackupUploader) }),
	gauge("backup_interval_seconds", "Configured time between backups.",
		func(s *Snapshot) float64 { return s.BackupInterval.Seconds() }),
	gauge("backup_last_success_timestamp_seconds", "Unix time of the last successful backup upload by this node; 0: never.",
		func(s *Snapshot) float64 { return timestamp(s.BackupLastOK) }),
	gauge("backup_last_failure_timestamp_seconds", "Unix time of the last failed backup attempt by this node; 0: never.",
		func(s *Snapshot) float64 { return timestamp(s.BackupLastFailed) }),
	{name: "backup_last_error_info", help: "1 with the error of the last backup attempt when it failed; absent when it succeeded.",
		typ: prometheus.GaugeValue, labels: []string{"error"},
		value: func(s *Snapshot) (float64, []string, bool) {
			return 1, []string{errorLabel(s.BackupLastError)}, s.BackupLastError != ""
		}},
	gauge("backup_last_size_bytes", "Size of the last uploaded backup.",
		func(s *Snapshot) float64 { return float64(s.BackupLastSize) }),
	gauge("backup_last_revision", "etcd revision of the last uploaded backup.",
		func(s *Snapshot) float64 { return float64(s.BackupLastRevision) }),
	counter("backup_uploads_total", "Backups this node uploaded since the agent started.",
		func(s *Snapshot) uint64 { return s.BackupUploads }),
	counter("backup_failures_total", "Backup attempts by this node that failed since the agent started.",
		func(s *Snapshot) uint64 { return s.BackupFailures }),
	gauge("restore_drill_last_success_timestamp_seconds", "Unix time of the last restore drill that verified a backup; 0: never.",
		func(s *Snapshot) float64 { return timestamp(s.DrillLastOK) }),
	gauge("restore_drill_last_failure_timestamp_seconds", "Unix time of the last restore drill that failed; 0: never.",
		func(s *Snapshot) float64 { return timestamp(s.DrillLastFailed) }),
	gauge("restore_drill_last_revision", "etcd revision of the last backup a restore drill verified as restorable.",
		func(s *Snapshot) float64 { return float64(s.DrillLastRevision) }),
	gauge("restore_drill_duration_seconds", "How long the last restore drill took.",
		func(s *Snapshot) float64 { return s.DrillDuration.Seconds() }),
	gauge("certificate_expiry_timestamp_seconds", "Unix time when the first of this node's certificates expires; 0: unknown.",
		func(s *Snapshot) float64 { return timestamp(s.CertNotAfter) }),
	gauge("clock_synchronized", "1 when systemd-timesyncd has synchronised the clock.",
		func(s *Snapshot) float64 { return boolean(s.ClockSynchronized) }),
	{name: "info", help: "1, with the member name, image version and etcd version as labels.",
		typ: prometheus.GaugeValue, labels: []string{"member", "image", "etcd_version"},
		value: func(s *Snapshot) (float64, []string, bool) {
			return 1, []string{validUTF8(s.Member), validUTF8(s.Image), validUTF8(s.EtcdVersion)}, true
		}},
}

// descs are the metrics' descriptors, built once.
var descs = func() []*prometheus.Desc {
	d := make([]*prometheus.Desc, len(metrics))
	for i, m := range metrics {
		d[i] = prometheus.NewDesc(Prefix+m.name, m.help, m.labels, nil)
	}
	return d
}()

func boolean(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// timestamp is Unix seconds with milliseconds; the zero time is 0, not year 1's negative count.
func timestamp(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixMilli()) / 1e3
}

// validUTF8 replaces invalid bytes: the exposition format is UTF-8 and client_golang refuses a
// label value that is not.
func validUTF8(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// errorLabel is err as a label value: valid UTF-8, at most MaxErrorLabel characters.
func errorLabel(err string) string {
	err = validUTF8(err)
	if utf8.RuneCountInString(err) <= MaxErrorLabel {
		return err
	}
	n := 0
	for i := range err {
		if n == MaxErrorLabel-1 {
			return err[:i] + "…"
		}
		n++
	}
	return err
}

// collector turns one Snapshot into const metrics.
type collector struct{ s Snapshot }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range descs {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	for i, m := range metrics {
		v, lv, ok := m.value(&c.s)
		if !ok {
			continue
		}
		pm, err := prometheus.NewConstMetric(descs[i], m.typ, v, lv...)
		if err != nil {
			pm = prometheus.NewInvalidMetric(descs[i], err) // Gather reports it
		}
		ch <- pm
	}
}

// Write writes s in the Prometheus text format, families sorted by name.
func Write(w io.Writer, s Snapshot) error {
	reg := prometheus.NewRegistry()
	if err := reg.Register(collector{s}); err != nil {
		return fmt.Errorf("agent metrics: registering: %w", err)
	}
	families, err := reg.Gather()
	if err != nil {
		return fmt.Errorf("agent metrics: gathering: %w", err)
	}
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range families {
		if err := enc.Encode(f); err != nil {
			return fmt.Errorf("agent metrics: writing %s: %w", f.GetName(), err)
		}
	}
	return nil
}

// Handler serves GET (and HEAD) /metrics with the Snapshot get returns at each request; other
// paths are 404, other methods 405.
func Handler(get func() Snapshot) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		// Rendered whole before the status line, so that a failure is a 500, not a cut body.
		var buf bytes.Buffer
		if err := Write(&buf, get()); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", ContentType)
		w.Write(buf.Bytes())
	})
}

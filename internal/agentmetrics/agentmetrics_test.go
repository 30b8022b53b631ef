package agentmetrics

import (
	"bytes"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/etcd-appliance/appliance/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite testdata/*.prom from the output")

// example is a Snapshot with every field set, as on an uploader whose last backup failed.
var example = Snapshot{
	Member: "etcd-a", Image: "1.2.0", EtcdVersion: "3.6.16",

	BackupConfigured: true, BackupUploader: true, BackupInterval: time.Hour,
	BackupLastOK:       time.Unix(1_790_000_000, 0),
	BackupLastFailed:   time.Unix(1_790_003_600, 500_000_000),
	BackupLastError:    "put s3://backups/prod/x.db: 403 \"AccessDenied\"\nC:\\path",
	BackupLastSize:     12 << 20,
	BackupLastRevision: 123456,
	BackupUploads:      42, BackupFailures: 3,

	DrillLastOK: time.Unix(1_789_990_000, 0), DrillLastFailed: time.Unix(1_789_900_000, 0),
	DrillLastRevision: 123000, DrillDuration: 2500 * time.Millisecond,

	CertNotAfter:      time.Unix(1_820_000_000, 0),
	ClockSynchronized: true,
}

func render(t *testing.T, s Snapshot) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, s); err != nil {
		t.Fatalf("Write: %v", err)
	}
	return b.Bytes()
}

func TestWriteGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    Snapshot
	}{
		{"filled", example},
		{"empty", Snapshot{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := render(t, tc.s)
			golden := filepath.Join("testdata", tc.name+".prom")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test -update writes it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s (go test -update rewrites it):\n%s", golden, got)
			}
		})
	}
}

// TestWriteParses reads the output back with Prometheus' own parser: every family has its
// type, the prefix, and the values and labels the Snapshot had.
func TestWriteParses(t *testing.T) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(bytes.NewReader(render(t, example)))
	if err != nil {
		t.Fatalf("parsing the output: %v", err)
	}
	if len(families) != len(metrics) {
		t.Errorf("%d families, want %d", len(families), len(metrics))
	}
	for name, f := range families {
		if !strings.HasPrefix(name, Prefix) {
			t.Errorf("%s lacks the prefix %s", name, Prefix)
		}
		if f.GetHelp() == "" {
			t.Errorf("%s has no HELP", name)
		}
	}
	for _, tc := range []struct {
		name   string
		want   float64
		labels map[string]string
	}{
		{"backup_last_success_timestamp_seconds", 1_790_000_000, nil},
		{"backup_last_failure_timestamp_seconds", 1_790_003_600.5, nil},
		{"backup_interval_seconds", 3600, nil},
		{"backup_uploads_total", 42, nil},
		{"backup_last_error_info", 1, map[string]string{"error": example.BackupLastError}},
		{"restore_drill_duration_seconds", 2.5, nil},
		{"info", 1, map[string]string{"member": "etcd-a", "image": "1.2.0", "etcd_version": "3.6.16"}},
	} {
		f := families[Prefix+tc.name]
		if f == nil || len(f.GetMetric()) != 1 {
			t.Errorf("%s: want one series, got %v", tc.name, f)
			continue
		}
		m := f.GetMetric()[0]
		var v float64
		switch {
		case m.GetGauge() != nil:
			v = m.GetGauge().GetValue()
		case m.GetCounter() != nil:
			v = m.GetCounter().GetValue()
		}
		if v != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, v, tc.want)
		}
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		for k, want := range tc.labels {
			if got[k] != want {
				t.Errorf("%s{%s} = %q, want %q", tc.name, k, got[k], want)
			}
		}
	}
}

func TestErrorLabel(t *testing.T) {
	long := strings.Repeat("é", 250)
	for _, tc := range []struct {
		name, in, want string
	}{
		{"short", "timeout", "timeout"},
		{"exactly the limit", strings.Repeat("x", MaxErrorLabel), strings.Repeat("x", MaxErrorLabel)},
		{"multibyte, cut by characters", long, strings.Repeat("é", MaxErrorLabel-1) + "…"},
		{"invalid UTF-8", "bad \xff byte", "bad \uFFFD byte"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := errorLabel(tc.in)
			if got != tc.want {
				t.Errorf("errorLabel = %q, want %q", got, tc.want)
			}
			// and the whole exposition still renders with it
			render(t, Snapshot{BackupLastError: tc.in, Member: tc.in})
		})
	}
}

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(Handler(func() Snapshot { return example }))
	defer srv.Close()
	for _, tc := range []struct {
		method, path string
		status       int
		body         bool // the exposition
	}{
		{http.MethodGet, "/metrics", http.StatusOK, true},
		{http.MethodHead, "/metrics", http.StatusOK, false},
		{http.MethodPost, "/metrics", http.StatusMethodNotAllowed, false},
		{http.MethodDelete, "/metrics", http.StatusMethodNotAllowed, false},
		{http.MethodGet, "/", http.StatusNotFound, false},
		{http.MethodGet, "/metrics/", http.StatusNotFound, false},
		{http.MethodPost, "/health", http.StatusNotFound, false},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.status == http.StatusOK {
				if ct := resp.Header.Get("Content-Type"); ct != ContentType {
					t.Errorf("Content-Type %q, want %q", ct, ContentType)
				}
			}
			if tc.status == http.StatusMethodNotAllowed && resp.Header.Get("Allow") == "" {
				t.Error("405 without an Allow header")
			}
			if tc.body && !bytes.Equal(body, render(t, example)) {
				t.Errorf("body is not Write's output:\n%s", body)
			}
		})
	}
}

// TestPromtoolCheckMetrics runs Prometheus' own linter over the output: naming conventions
// (units, _total on counters) besides the format.
func TestPromtoolCheckMetrics(t *testing.T) {
	promtool := testenv.LookPath(t, "promtool")
	for _, tc := range []struct {
		name string
		s    Snapshot
	}{{"filled", example}, {"empty", Snapshot{}}} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(promtool, "check", "metrics")
			cmd.Stdin = bytes.NewReader(render(t, tc.s))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("promtool check metrics: %v\n%s", err, out)
			}
		})
	}
}

package monitoring

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/etcd-appliance/appliance/internal/agentmetrics"
	"github.com/etcd-appliance/appliance/internal/testenv"
)

// etcdMetrics are the etcd metric names the rules and the dashboard may use, as etcd v3.6
// (etcdsrc/go.mod) defines them; a histogram by its series' names.
var etcdMetrics = []string{
	"etcd_server_has_leader",
	"etcd_server_is_leader",
	"etcd_server_leader_changes_seen_total",
	"etcd_server_proposals_failed_total",
	"etcd_server_quota_backend_bytes",
	"etcd_mvcc_db_total_size_in_bytes",
	"etcd_disk_wal_fsync_duration_seconds_bucket",
	"etcd_disk_backend_commit_duration_seconds_bucket",
}

// agentMetrics are the names agentmetrics writes, read from its output for a Snapshot that has
// every conditional series.
func agentMetrics(t *testing.T) []string {
	t.Helper()
	var b bytes.Buffer
	s := agentmetrics.Snapshot{BackupLastError: "x", BackupLastOK: time.Unix(1, 0)}
	if err := agentmetrics.Write(&b, s); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, line := range strings.Split(b.String(), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		names = append(names, strings.FieldsFunc(line, func(r rune) bool { return r == '{' || r == ' ' })[0])
	}
	if len(names) == 0 {
		t.Fatal("agentmetrics wrote no series")
	}
	return names
}

// known reports whether name is served by a node (etcd or the agent) or made by Prometheus.
func known(t *testing.T) func(name string) bool {
	agent := agentMetrics(t)
	return func(name string) bool {
		return slices.Contains(etcdMetrics, name) || slices.Contains(agent, name) || name == "up"
	}
}

func promtool(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command(testenv.LookPath(t, "promtool"), args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func TestPromtool(t *testing.T) {
	for _, args := range [][]string{
		{"check", "rules", "alerts.yml"},
		{"test", "rules", "alerts_test.yml"},
	} {
		t.Run(strings.Join(args[:2], " "), func(t *testing.T) { promtool(t, args...) })
	}
}

// TestDashboardQueriesParse has promtool parse every dashboard query, as recording rules, with
// Grafana's variables replaced by what they stand for.
func TestDashboardQueriesParse(t *testing.T) {
	exprs, err := DashboardExprs(Dashboard)
	if err != nil {
		t.Fatal(err)
	}
	vars := strings.NewReplacer("$__rate_interval", "5m", "$cluster", ".*")
	type rule struct{ Record, Expr string }
	var rules []rule
	for i, e := range exprs {
		rules = append(rules, rule{fmt.Sprintf("dashboard:query_%d", i), vars.Replace(e)})
	}
	b, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "dashboard-rules.yml")
	if err := os.WriteFile(f, b, 0o644); err != nil {
		t.Fatal(err)
	}
	promtool(t, "check", "rules", f)
}

func TestNamesKnown(t *testing.T) {
	isKnown := known(t)
	rules, err := RuleExprs(Alerts)
	if err != nil {
		t.Fatal(err)
	}
	dash, err := DashboardExprs(Dashboard)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		file  string
		exprs []string
	}{{"alerts.yml", rules}, {"dashboard.json", dash}} {
		t.Run(tc.file, func(t *testing.T) {
			if len(tc.exprs) == 0 {
				t.Fatal("no expressions")
			}
			for _, e := range tc.exprs {
				names := ExprNames(e)
				if len(names) == 0 {
					t.Errorf("no metric name in %q", e)
				}
				for _, n := range names {
					if !isKnown(n) {
						t.Errorf("%s: %q is neither an etcd metric nor one agentmetrics writes (in %q)", tc.file, n, e)
					}
				}
			}
		})
	}
}

// TestDashboard checks what Grafana's import needs and what the README promises: one
// Prometheus datasource variable that every panel and query uses, and the panels named there.
func TestDashboard(t *testing.T) {
	var d struct {
		SchemaVersion int `json:"schemaVersion"`
		UID           string
		Panels        []struct {
			ID         int             `json:"id"`
			Type       string          `json:"type"`
			Title      string          `json:"title"`
			Datasource json.RawMessage `json:"datasource"`
			GridPos    struct{ X, W int }
			Targets    []struct {
				Datasource json.RawMessage `json:"datasource"`
				Expr       string          `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct{ Name, Type, Query any }
		} `json:"templating"`
	}
	if err := json.Unmarshal(Dashboard, &d); err != nil {
		t.Fatal(err)
	}
	if d.SchemaVersion < 36 || d.UID == "" {
		t.Errorf("schemaVersion %d, uid %q: want 36 or later and a uid", d.SchemaVersion, d.UID)
	}
	if !slices.ContainsFunc(d.Templating.List, func(v struct{ Name, Type, Query any }) bool {
		return v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus"
	}) {
		t.Error("no datasource variable of type prometheus")
	}
	const ds = `{"type":"prometheus","uid":"${datasource}"}`
	ids := map[int]bool{}
	var titles []string
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q is wider than the grid", p.Title)
		}
		if p.Type == "row" {
			continue
		}
		titles = append(titles, p.Title)
		if compact(p.Datasource) != ds {
			t.Errorf("panel %q: datasource %s, want %s", p.Title, p.Datasource, ds)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			if compact(q.Datasource) != ds || q.Expr == "" {
				t.Errorf("panel %q: query %q with datasource %s", p.Title, q.Expr, q.Datasource)
			}
		}
	}
	for _, want := range []string{"Has leader", "Leader", "Members up", "DB size vs quota", "WAL fsync p99",
		"Backend commit p99", "Proposals failed", "Backup age", "Last backup size", "Last backup revision",
		"Restore drill", "Certificate expiry (days)"} {
		if !slices.Contains(titles, want) {
			t.Errorf("no panel %q", want)
		}
	}
}

func compact(raw json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}

// TestAlertRules checks what every alert must carry for whoever is paged.
func TestAlertRules(t *testing.T) {
	var f struct {
		Groups []struct {
			Rules []struct {
				Alert       string
				Labels      map[string]string
				Annotations map[string]string
			}
		}
	}
	if err := yaml.Unmarshal(Alerts, &f); err != nil {
		t.Fatal(err)
	}
	var alerts []string
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			if s := r.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("%s: severity %q, want warning or critical", r.Alert, s)
			}
			if r.Annotations["summary"] == "" {
				t.Errorf("%s: no summary", r.Alert)
			}
			d := r.Annotations["description"]
			if !strings.Contains(d, "`firstboot status`") || !strings.Contains(d, "docs/operations.md") {
				t.Errorf("%s: the description does not point to `firstboot status` and docs/operations.md: %q", r.Alert, d)
			}
		}
	}
	for _, want := range []string{"EtcdNoLeader", "EtcdFrequentLeaderChanges", "EtcdQuorumAtRisk",
		"EtcdDatabaseNearQuota", "EtcdSlowWALFsync", "EtcdSlowBackendCommit", "EtcdApplianceBackupStale",
		"EtcdApplianceBackupFailing", "EtcdApplianceRestoreDrillFailing",
		"EtcdApplianceCertificatesExpiringSoon", "EtcdApplianceClockNotSynchronised"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("no alert %s", want)
		}
	}
}

func TestMetricNames(t *testing.T) {
	names, err := MetricNames()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
		t.Errorf("not sorted and unique: %v", names)
	}
	isKnown := known(t)
	for _, n := range names {
		if n == "up" || !isKnown(n) {
			t.Errorf("%q is not a name a node serves", n)
		}
	}
	// the VM test checks these on a live node; each port must be represented
	for _, want := range []string{"etcd_server_has_leader", "etcd_appliance_backup_last_success_timestamp_seconds"} {
		if !slices.Contains(names, want) {
			t.Errorf("%s missing from %v", want, names)
		}
	}
}

func TestExprNames(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`etcd_server_has_leader == 0`, []string{"etcd_server_has_leader"}},
		{`up{job="etcd", instance=~"a|b"} == 0`, []string{"up"}},
		{`histogram_quantile(0.99, sum by (instance, le) (rate(etcd_disk_wal_fsync_duration_seconds_bucket{cluster=~"$cluster"}[$__rate_interval])))`,
			[]string{"etcd_disk_wal_fsync_duration_seconds_bucket"}},
		{"sum without (instance) (a) / ignoring (x) group_left (y) b", []string{"a", "b"}},
		{"SUM BY (job) (a) AND ON (job) b unless bool c OR d", []string{"a", "b", "c", "d"}},
		{`(time() - max(x offset 5m) > 2 * 3600) and on (cluster) (y == 1e3)`, []string{"x", "y"}},
		{`label_replace(a, "dst", "$1", "src", "(.*)") + sum(rate(b[5m:1m]))`, []string{"a", "b"}},
		{`count_values("v", a) or topk(3, b) or quantile(0.5, c) or a`, []string{"a", "b", "c"}},
		{`{__name__="x"}`, nil}, // a name given only as a matcher is not found
		{`rule:recorded:rate5m > 0`, []string{"rule:recorded:rate5m"}},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			if got := ExprNames(tc.expr); !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDashboardExprsVariables(t *testing.T) {
	for _, tc := range []struct {
		name, dashboard string
		want            []string
	}{
		{"object query", `{"templating":{"list":[{"name":"c","type":"query","query":{"query":"label_values(m{a=\"b\"}, cluster)"}}]}}`, []string{`m{a="b"}`}},
		{"string query", `{"templating":{"list":[{"name":"c","type":"query","query":"label_values(m, cluster)"}]}}`, []string{"m"}},
		{"label_values without a selector", `{"templating":{"list":[{"name":"c","type":"query","query":"label_values(cluster)"}]}}`, nil},
		{"datasource variable", `{"templating":{"list":[{"name":"d","type":"datasource","query":"prometheus"}]}}`, nil},
		{"nested panels", `{"panels":[{"type":"row","panels":[{"targets":[{"expr":"a"}]}]},{"targets":[{"expr":"b"},{"expr":""}]}]}`, []string{"a", "b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DashboardExprs([]byte(tc.dashboard))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// Package monitoring holds the Prometheus alerting rules (alerts.yml) and the Grafana dashboard
// (dashboard.json) for an etcd-appliance cluster, and lists the metric names they use, so that
// tests can hold those names against what etcd (port 2381) and the agent (port 2382) serve.
package monitoring

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Alerts is alerts.yml, the rule groups.
//
//go:embed alerts.yml
var Alerts []byte

// Dashboard is dashboard.json, the Grafana dashboard.
//
//go:embed dashboard.json
var Dashboard []byte

// MetricNames returns, sorted and once each, the metric names in the rules' expressions and
// the dashboard's queries that a node serves: etcd_* from etcd on 2381, etcd_appliance_* from
// the agent on 2382. Series Prometheus makes itself (up, scrape_*, ALERTS) are left out, and
// so are names that only annotation templates query.
func MetricNames() ([]string, error) {
	exprs, err := RuleExprs(Alerts)
	if err != nil {
		return nil, err
	}
	d, err := DashboardExprs(Dashboard)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range append(exprs, d...) {
		for _, n := range ExprNames(e) {
			if !prometheusMade(n) {
				names = append(names, n)
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

func prometheusMade(name string) bool {
	return name == "up" || strings.HasPrefix(name, "scrape_") || strings.HasPrefix(name, "ALERTS")
}

// RuleExprs returns the expr of every rule in a Prometheus rule file.
func RuleExprs(rules []byte) ([]string, error) {
	var f struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert, Record, Expr string
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(rules, &f); err != nil {
		return nil, fmt.Errorf("parsing the rule file: %w", err)
	}
	var exprs []string
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if strings.TrimSpace(r.Expr) == "" {
				return nil, fmt.Errorf("rule group %s: rule %s%s has no expr", g.Name, r.Alert, r.Record)
			}
			exprs = append(exprs, r.Expr)
		}
	}
	return exprs, nil
}

// dashPanel is the part of a Grafana panel that holds queries; rows nest panels.
type dashPanel struct {
	Targets []struct{ Expr string } `json:"targets"`
	Panels  []dashPanel             `json:"panels"`
}

// DashboardExprs returns the PromQL of every panel's targets in a Grafana dashboard, and the
// metric selector of each label_values() variable query.
func DashboardExprs(dashboard []byte) ([]string, error) {
	var d struct {
		Panels     []dashPanel `json:"panels"`
		Templating struct {
			List []struct {
				Name  string          `json:"name"`
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(dashboard, &d); err != nil {
		return nil, fmt.Errorf("parsing the dashboard: %w", err)
	}
	var exprs []string
	var walk func(ps []dashPanel)
	walk = func(ps []dashPanel) {
		for _, p := range ps {
			for _, t := range p.Targets {
				if t.Expr != "" {
					exprs = append(exprs, t.Expr)
				}
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, err := variableQuery(v.Query)
		if err != nil {
			return nil, fmt.Errorf("dashboard variable %s: %w", v.Name, err)
		}
		switch m := labelValues.FindStringSubmatch(q); {
		case m != nil:
			exprs = append(exprs, m[1])
		case strings.HasPrefix(strings.TrimSpace(q), "label_values("):
			// label_values(label) names no metric
		case q != "":
			exprs = append(exprs, q)
		}
	}
	return exprs, nil
}

// labelValues is Grafana's label_values(selector, label): only the selector is PromQL.
var labelValues = regexp.MustCompile(`^\s*label_values\(\s*(.*?)\s*,\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$`)

// variableQuery is a query variable's query: a string in older dashboards, an object with a
// "query" field in newer ones.
func variableQuery(raw json.RawMessage) (string, error) {
	if len(raw) == 0 {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var o struct{ Query string }
	if err := json.Unmarshal(raw, &o); err != nil {
		return "", fmt.Errorf("query is neither a string nor an object: %w", err)
	}
	return o.Query, nil
}

// The tokenizer below is not a PromQL parser (Prometheus' own would bring most of its module
// into go.mod): it drops what cannot hold a metric name and takes the identifiers left that are
// neither keywords nor called as functions. That suffices for expressions written by hand here,
// and the tests hold its result against known names.
var (
	// string literals: label values, regexps, Grafana's $variables inside them
	promStrings = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	// Grafana variables outside strings: ${name}, $name, $__rate_interval
	grafanaVars = regexp.MustCompile(`\$\{[^}]*\}|\$\w+`)
	// label matchers {…} and ranges or subqueries […]
	brackets = regexp.MustCompile(`\{[^}]*\}|\[[^\]]*\]`)
	// label name lists after grouping and matching modifiers
	labelLists = regexp.MustCompile(`(?i)\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	// numbers and durations (5m, 1e3, 0x1f, 1.5) and identifiers
	tokens = regexp.MustCompile(`[0-9.][0-9a-zA-Z_.]*|[a-zA-Z_:][a-zA-Z0-9_:]*`)
)

// keywords are PromQL's operators, modifiers, aggregations and literals: never metric names.
var keywords = map[string]bool{
	"and": true, "or": true, "unless": true, "atan2": true, "bool": true,
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"offset": true, "start": true, "end": true, "inf": true, "nan": true,
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
	"limitk": true, "limit_ratio": true,
}

// ExprNames returns the metric names in a PromQL expression, in order of appearance, once each.
func ExprNames(expr string) []string {
	s := promStrings.ReplaceAllString(expr, `""`)
	s = grafanaVars.ReplaceAllString(s, " ")
	s = brackets.ReplaceAllString(s, " ")
	s = labelLists.ReplaceAllString(s, " ")
	var names []string
	for _, loc := range tokens.FindAllStringIndex(s, -1) {
		tok := s[loc[0]:loc[1]]
		if tok[0] == '.' || (tok[0] >= '0' && tok[0] <= '9') || keywords[strings.ToLower(tok)] {
			continue
		}
		if strings.HasPrefix(strings.TrimLeft(s[loc[1]:], " \t\n"), "(") {
			continue // a function: rate(, histogram_quantile(, time(
		}
		if !slices.Contains(names, tok) {
			names = append(names, tok)
		}
	}
	return names
}

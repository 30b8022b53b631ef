package main

import (
	"strings"
	"testing"

	"github.com/etcd-appliance/appliance/config"
)

func TestBootLine(t *testing.T) {
	for _, tc := range []struct {
		state  string
		failed []string
		want   string
	}{
		{"running", nil, "etcd-appliance: boot finished: state=running failed=none"},
		{"degraded", []string{"etcd.service", "boot.automount"}, "etcd-appliance: boot finished: state=degraded failed=boot.automount,etcd.service"},
	} {
		if got := bootLine(tc.state, tc.failed); got != tc.want {
			t.Errorf("bootLine(%q, %v) = %q, want %q", tc.state, tc.failed, got, tc.want)
		}
	}
}

func TestMemberEnv(t *testing.T) {
	cfg, _, err := config.Parse([]byte("version: 1\ncluster: {name: prod}\netcd: {snapshot_count: 5000}\n"))
	if err != nil {
		t.Fatal(err)
	}
	env := memberEnv("etcd-a", "/var/lib/etcd", cfg)
	want := map[string]string{
		"ETCD_NAME":                  "etcd-a",
		"ETCD_DATA_DIR":              "/var/lib/etcd/data",
		"ETCD_LISTEN_CLIENT_URLS":    "http://0.0.0.0:2379",
		"ETCD_LISTEN_METRICS_URLS":   "http://0.0.0.0:2381",
		"ETCD_INITIAL_CLUSTER":       "etcd-a=http://127.0.0.1:2380",
		"ETCD_INITIAL_CLUSTER_TOKEN": "prod",
		"ETCD_SNAPSHOT_COUNT":        "5000",
		"ETCD_HEARTBEAT_INTERVAL":    "100", // defaults come from the config package
		"ETCD_ELECTION_TIMEOUT":      "1000",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s=%q, want %q", k, env[k], v)
		}
	}
	text := string(renderEnv(env))
	if !strings.Contains(text, "\nETCD_ADVERTISE_CLIENT_URLS=") || strings.Index(text, "ETCD_ADVERTISE") > strings.Index(text, "ETCD_NAME") {
		t.Errorf("environment file not sorted or incomplete:\n%s", text)
	}
}

func TestImageLine(t *testing.T) {
	rel := "NAME=\"etcd appliance\"\nIMAGE_VERSION=\"1.2.0\"\nBUILD_ID=\"abc\"\nETCD_VERSION=\"v3.6.16\"\nARCHITECTURE=arm64\n"
	if got, want := imageLine([]byte(rel)), "etcd-appliance: image 1.2.0 build abc (etcd v3.6.16, arm64)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

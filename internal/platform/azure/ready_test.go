package azure

import (
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/etcd-appliance/appliance/internal/platform"
)

const testGoalState = `<?xml version="1.0" encoding="utf-8"?>
<GoalState xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:noNamespaceSchemaLocation="goalstate10.xsd">
  <Version>2012-11-30</Version>
  <Incarnation>3</Incarnation>
  <Machine><ExpectedState>Started</ExpectedState></Machine>
  <Container>
    <ContainerId>f5940043-dbed-419c-9122-d77a4ac854b7</ContainerId>
    <RoleInstanceList>
      <RoleInstance>
        <InstanceId>79247837105c4470b89352eda4b10942.etcd-a</InstanceId>
        <State>Started</State>
      </RoleInstance>
    </RoleInstanceList>
  </Container>
</GoalState>`

// The fake WireServer answers like Azure's: the goal state only with x-ms-version, a 503
// while it starts, and records the health report.
func TestReportReady(t *testing.T) {
	var mu sync.Mutex
	var report []byte
	var busy = 1
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("x-ms-version") != "2012-11-30" {
			http.Error(w, "missing x-ms-version", http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		switch {
		case busy > 0:
			busy--
			http.Error(w, "", http.StatusServiceUnavailable)
		case r.Method == http.MethodGet && r.URL.Query().Get("comp") == "goalstate":
			io.WriteString(w, testGoalState)
		case r.Method == http.MethodPost && r.URL.Query().Get("comp") == "health" && r.Header.Get("Content-Type") == "text/xml; charset=utf-8":
			report, _ = io.ReadAll(r.Body)
		default:
			http.Error(w, "", http.StatusBadRequest)
		}
	}))
	defer srv.Close()
	if err := ReportReady(context.Background(), srv.URL, platform.HTTPGetter{Backoff: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	var h struct {
		Incarnation string `xml:"GoalStateIncarnation"`
		Container   string `xml:"Container>ContainerId"`
		Instance    string `xml:"Container>RoleInstanceList>Role>InstanceId"`
		State       string `xml:"Container>RoleInstanceList>Role>Health>State"`
	}
	if err := xml.Unmarshal(report, &h); err != nil {
		t.Fatalf("report %q: %v", report, err)
	}
	if h.Incarnation != "3" || h.Container != "f5940043-dbed-419c-9122-d77a4ac854b7" || h.Instance != "79247837105c4470b89352eda4b10942.etcd-a" || h.State != "Ready" {
		t.Errorf("report %+v", h)
	}
}

func TestParseGoalStateRefuses(t *testing.T) {
	for _, doc := range []string{"", "<GoalState><Incarnation>1</Incarnation></GoalState>", "not xml <"} {
		if _, _, _, err := ParseGoalState([]byte(doc)); err == nil {
			t.Errorf("ParseGoalState(%q) accepted", doc)
		}
	}
}

package azure

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"net/http"
	"strings"

	"github.com/etcd-appliance/appliance/internal/platform"
)

// WireServer is Azure's host agent endpoint, where a VM reports that provisioning finished.
// Until it does, Azure shows the VM as provisioning and finally as OSProvisioningTimedOut.
const WireServer = "http://168.63.129.16"

const wireVersion = "2012-11-30"

// goalState is the part of the WireServer's goal state document a ready report names.
type goalState struct {
	Incarnation string `xml:"Incarnation"`
	Container   struct {
		ContainerID string `xml:"ContainerId"`
		Instances   []struct {
			InstanceID string `xml:"InstanceId"`
		} `xml:"RoleInstanceList>RoleInstance"`
	} `xml:"Container"`
}

// ParseGoalState reads the container and role instance a health report must name.
func ParseGoalState(doc []byte) (incarnation, containerID, instanceID string, err error) {
	var gs goalState
	if err := xml.Unmarshal(doc, &gs); err != nil {
		return "", "", "", fmt.Errorf("azure goal state: %w", err)
	}
	if gs.Container.ContainerID == "" || len(gs.Container.Instances) == 0 || gs.Container.Instances[0].InstanceID == "" {
		return "", "", "", fmt.Errorf("azure goal state: no container or role instance id")
	}
	return gs.Incarnation, gs.Container.ContainerID, gs.Container.Instances[0].InstanceID, nil
}

// healthReport is the "Ready" document, the same that Azure's own Linux agent sends.
func healthReport(incarnation, containerID, instanceID string) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n")
	b.WriteString(`<Health xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">`)
	fmt.Fprintf(&b, "<GoalStateIncarnation>%s</GoalStateIncarnation><Container><ContainerId>%s</ContainerId><RoleInstanceList><Role><InstanceId>%s</InstanceId><Health><State>Ready</State></Health></Role></RoleInstanceList></Container></Health>",
		escape(incarnation), escape(containerID), escape(instanceID))
	return b.Bytes()
}

func escape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// ReportReady tells the WireServer at base that the VM finished provisioning: it reads the
// goal state, then posts a Ready health report for its container and role instance.
func ReportReady(ctx context.Context, base string, g platform.HTTPGetter) error {
	header := func(req *http.Request) {
		req.Header.Set("x-ms-version", wireVersion)
		req.Header.Set("x-ms-agent-name", "etcd-appliance")
	}
	doc, err := g.Do(ctx, func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/machine/?comp=goalstate", nil)
		if err == nil {
			header(req)
		}
		return req, err
	})
	if err != nil {
		return fmt.Errorf("azure: reading the goal state: %w", err)
	}
	inc, container, instance, err := ParseGoalState(doc)
	if err != nil {
		return err
	}
	report := healthReport(inc, container, instance)
	_, err = g.Do(ctx, func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/machine/?comp=health", bytes.NewReader(report))
		if err == nil {
			header(req)
			req.Header.Set("Content-Type", "text/xml; charset=utf-8")
		}
		return req, err
	})
	if err != nil {
		return fmt.Errorf("azure: reporting ready: %w", err)
	}
	return nil
}

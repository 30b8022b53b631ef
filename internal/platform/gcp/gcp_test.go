package gcp

import (
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/etcd-appliance/appliance/internal/platform"
	"github.com/etcd-appliance/appliance/internal/platform/platformtest"
)

var testNow = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// TestParseFixture parses the captured GCE documents. They are Talos' aggregated captures, not
// one endpoint's answer: gcp/instance-metadata.json holds the instance's scalar items
// (hostname, id, name, zone…) and gcp/network-interfaces.json the instance's
// network-interfaces/ directory. computeMetadata/v1/instance/?recursive=true returns both in
// one object, the interfaces under "networkInterfaces", so that is the document built here.
func TestParseFixture(t *testing.T) {
	var instance map[string]json.RawMessage
	if err := json.Unmarshal(platformtest.Read(t, "gcp/instance-metadata.json"), &instance); err != nil {
		t.Fatal(err)
	}
	instance["networkInterfaces"] = platformtest.Read(t, "gcp/network-interfaces.json")
	doc, err := json.Marshal(instance)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseInstance(doc, nil, testNow)
	want := &platform.Metadata{
		Platform:   Name,
		InstanceID: "0",
		Hostname:   "talos",
		Addresses: []netip.Addr{
			netip.MustParseAddr("172.16.0.4"),
			netip.MustParseAddr("fd20:172:1610:7003:0:1:0:0"),
		},
		PublicAddresses: []netip.Addr{netip.MustParseAddr("35.1.2.3")},
		Network: &platform.Network{Interfaces: []platform.Interface{{
			MAC: platformtest.MAC(t, "42:01:ac:10:00:04"), MTU: 1500, DHCP4: true, DHCP6: true,
		}}},
	}
	platformtest.CheckResult(t, got, err, want, "")
}

func TestParseInstance(t *testing.T) {
	const (
		keyA = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJq alice@laptop"
		keyB = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQD bob"
		keyC = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTY carol"
	)
	future := keyB + ` google-ssh {"userName":"bob@example.com","expireOn":"2026-11-20T12:05:00+0000"}`
	past := "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTY" + ` google-ssh {"userName":"carol@example.com","expireOn":"2026-11-20T11:55:00+0000"}`
	base := func(attrs map[string]string) []byte {
		doc := map[string]any{
			"hostname": "etcd-a.europe-west4-a.c.my-project.internal",
			"id":       json.Number("4520031799277581759"),
			"name":     "etcd-a",
			"networkInterfaces": []any{map[string]any{
				"ip": "10.164.0.7", "mac": "42:01:0a:a4:00:07", "mtu": 1460,
				"network":       "projects/123456789012/networks/default",
				"accessConfigs": []any{map[string]any{"externalIp": "34.90.1.2", "type": "ONE_TO_ONE_NAT"}},
			}},
		}
		if attrs != nil {
			doc["attributes"] = attrs
		}
		b, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	want := func(keys []string, userData string) *platform.Metadata {
		md := &platform.Metadata{
			Platform:        Name,
			InstanceID:      "4520031799277581759",
			Hostname:        "etcd-a.europe-west4-a.c.my-project.internal",
			Addresses:       []netip.Addr{netip.MustParseAddr("10.164.0.7")},
			PublicAddresses: []netip.Addr{netip.MustParseAddr("34.90.1.2")},
			SSHKeys:         keys,
			Network: &platform.Network{Interfaces: []platform.Interface{{
				MAC: platformtest.MAC(t, "42:01:0a:a4:00:07"), MTU: 1460, DHCP4: true,
			}}},
		}
		if userData != "" {
			md.UserData = []byte(userData)
		}
		return md
	}
	for _, tc := range []struct {
		name     string
		instance []byte
		project  string
		want     *platform.Metadata
		wantErr  string
	}{
		{name: "no attributes", instance: base(nil), want: want(nil, "")},
		{
			name:     "user-data, instance and project keys",
			instance: base(map[string]string{"user-data": "version: 1\n", "ssh-keys": "alice:" + keyA + "\n"}),
			project:  "bob:" + keyB + "\nalice:" + keyA + "\n",
			want:     want([]string{keyA, keyB}, "version: 1\n"),
		},
		{
			name:     "block-project-ssh-keys",
			instance: base(map[string]string{"ssh-keys": "alice:" + keyA, "block-project-ssh-keys": "TRUE"}),
			project:  "bob:" + keyB,
			want:     want([]string{keyA}, ""),
		},
		{
			name:     "expiring keys",
			instance: base(map[string]string{"ssh-keys": "bob:" + future + "\ncarol:" + past}),
			want:     want([]string{future}, ""),
		},
		{
			name:     "malformed lines are skipped",
			instance: base(map[string]string{"ssh-keys": "\n" + keyA + "\nalice:\n:" + keyB + "\nbob:" + keyB + "\n"}),
			want:     want([]string{keyB}, ""),
		},
		{
			name:     "unreadable expiry",
			instance: base(map[string]string{"ssh-keys": "bob:" + keyB + ` google-ssh {"expireOn":"tomorrow"}` + "\ncarol:" + keyC + ` google-ssh {`}),
			want:     want(nil, ""),
		},
		{name: "other user-data keys are not read", instance: base(map[string]string{"etcd-appliance-config": "version: 1\n"}), want: want(nil, "")},
		{name: "id as a string", instance: []byte(`{"id":"42","hostname":"h"}`), want: &platform.Metadata{Platform: Name, InstanceID: "42", Hostname: "h"}},
		{name: "not JSON", instance: []byte(`<html>`), wantErr: "instance document: invalid character"},
		{name: "no id", instance: []byte(`{"hostname":"h"}`), wantErr: "instance document: id: missing"},
		{name: "bad mac", instance: []byte(`{"id":1,"networkInterfaces":[{"ip":"10.0.0.2","mac":"42:01"}]}`), wantErr: "networkInterfaces[0].mac"},
		{name: "bad ip", instance: []byte(`{"id":1,"networkInterfaces":[{"ip":"fd00::1"}]}`), wantErr: `networkInterfaces[0].ip: "fd00::1" is not an IPv4 address`},
		{name: "bad ipv6s", instance: []byte(`{"id":1,"networkInterfaces":[{"ipv6s":["10.0.0.1"]}]}`), wantErr: "networkInterfaces[0].ipv6s[0]"},
		{
			name:     "external IPs of two interfaces, one access config without",
			instance: []byte(`{"id":1,"networkInterfaces":[{"ip":"10.0.0.2","accessConfigs":[{"type":"ONE_TO_ONE_NAT"}]},{"ip":"10.1.0.2","accessConfigs":[{"externalIp":"34.90.1.3"}]}]}`),
			want: &platform.Metadata{
				Platform: Name, InstanceID: "1",
				Addresses: platformtest.Addrs("10.0.0.2", "10.1.0.2"), PublicAddresses: platformtest.Addrs("34.90.1.3"),
				Network: &platform.Network{Interfaces: []platform.Interface{{DHCP4: true}, {DHCP4: true}}},
			},
		},
		{name: "bad externalIp", instance: []byte(`{"id":1,"networkInterfaces":[{"accessConfigs":[{"externalIp":"2600:1900::1"}]}]}`), wantErr: `networkInterfaces[0].accessConfigs[0].externalIp: "2600:1900::1" is not an IPv4 address`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var project []byte
			if tc.project != "" {
				project = []byte(tc.project)
			}
			got, err := ParseInstance(tc.instance, project, testNow)
			platformtest.CheckResult(t, got, err, tc.want, tc.wantErr)
		})
	}
}

package azure

import (
	"encoding/base64"
	"encoding/json"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/etcd-appliance/appliance/internal/platform"
	"github.com/etcd-appliance/appliance/internal/platform/platformtest"
)

// TestParseFixture parses the captured IMDS documents. They are two sub-documents,
// /metadata/instance/compute and /metadata/instance/network/interface; /metadata/instance
// (what Fetch reads) returns them as {"compute": …, "network": {"interface": […]}}, so that
// is the document built here.
func TestParseFixture(t *testing.T) {
	doc, err := json.Marshal(map[string]any{
		"compute": json.RawMessage(platformtest.Read(t, "azure/instance-compute.json")),
		"network": map[string]any{"interface": json.RawMessage(platformtest.Read(t, "azure/instance-network-interfaces.json"))},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseInstance(doc)
	want := &platform.Metadata{
		Platform:        Name,
		InstanceID:      "5c08b38e-4d57-4c23-ac45-aca61037f084",
		Hostname:        "examplevmname",
		Addresses:       []netip.Addr{netip.MustParseAddr("172.18.1.10"), netip.MustParseAddr("fd00::10")},
		PublicAddresses: []netip.Addr{netip.MustParseAddr("1.2.3.4")},
		Network: &platform.Network{Interfaces: []platform.Interface{{
			MAC: platformtest.MAC(t, "00:0d:3a:d6:31:ee"), DHCP4: true, DHCP6: true,
		}}},
	}
	platformtest.CheckResult(t, got, err, want, "")
}

func TestParseInstance(t *testing.T) {
	const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK2 azureuser@etcd-a"
	doc := func(compute map[string]any) []byte {
		c := map[string]any{"name": "etcd-a-vm", "vmId": "02aab8a4-74ef-476e-8182-f6d2ba4166a6"}
		for k, v := range compute {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		b, err := json.Marshal(map[string]any{"compute": c, "network": map[string]any{"interface": []any{}}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	want := func(edit func(*platform.Metadata)) *platform.Metadata {
		md := &platform.Metadata{Platform: Name, InstanceID: "02aab8a4-74ef-476e-8182-f6d2ba4166a6", Hostname: "etcd-a-vm"}
		if edit != nil {
			edit(md)
		}
		return md
	}
	ud := "version: 1\ncluster:\n  name: prod-etcd\n"
	for _, tc := range []struct {
		name    string
		doc     []byte
		want    *platform.Metadata
		wantErr string
	}{
		{name: "bare", doc: doc(nil), want: want(nil)},
		{
			name: "userData, keys, computerName",
			doc: doc(map[string]any{
				"userData":   base64.StdEncoding.EncodeToString([]byte(ud)),
				"osProfile":  map[string]any{"computerName": "etcd-a", "adminUsername": "azureuser"},
				"publicKeys": []any{map[string]any{"keyData": key + "\r\n", "path": "/home/azureuser/.ssh/authorized_keys"}},
			}),
			want: want(func(md *platform.Metadata) {
				md.Hostname, md.SSHKeys, md.UserData = "etcd-a", []string{key}, []byte(ud)
			}),
		},
		{name: "empty userData", doc: doc(map[string]any{"userData": ""}), want: want(nil)},
		{name: "bad userData", doc: doc(map[string]any{"userData": "dmVyc2lvbjog*"}), wantErr: "compute.userData: not valid base64"},
		{name: "no vmId", doc: doc(map[string]any{"vmId": nil}), wantErr: "compute.vmId: missing"},
		{name: "bad key", doc: doc(map[string]any{"publicKeys": []any{map[string]any{"keyData": "AAAA"}}}), wantErr: "compute.publicKeys[0].keyData"},
		{name: "not JSON", doc: []byte("Bad request"), wantErr: "instance document"},
		{
			name:    "bad MAC",
			doc:     []byte(`{"compute":{"vmId":"x"},"network":{"interface":[{"macAddress":"000D3AD631"}]}}`),
			wantErr: "network.interface[0].macAddress",
		},
		{
			name:    "IPv6 in ipv4",
			doc:     []byte(`{"compute":{"vmId":"x"},"network":{"interface":[{"ipv4":{"ipAddress":[{"privateIpAddress":"fd00::4"}]}}]}}`),
			wantErr: `network.interface[0].ipv4.ipAddress[0].privateIpAddress: "fd00::4" is not an ipv4 address`,
		},
		{
			name: "public IPv4 and IPv6",
			doc: []byte(`{"compute":{"vmId":"x"},"network":{"interface":[{"ipv4":{"ipAddress":[{"privateIpAddress":"10.0.0.4","publicIpAddress":"20.1.2.3"},{"privateIpAddress":"10.0.0.5","publicIpAddress":""}]},` +
				`"ipv6":{"ipAddress":[{"privateIpAddress":"ace:cab:deca::4","publicIpAddress":"2603:1020::4"}]}}]}}`),
			want: &platform.Metadata{
				Platform: Name, InstanceID: "x",
				Addresses:       platformtest.Addrs("10.0.0.4", "10.0.0.5", "ace:cab:deca::4"),
				PublicAddresses: platformtest.Addrs("20.1.2.3", "2603:1020::4"),
				Network:         &platform.Network{Interfaces: []platform.Interface{{DHCP4: true, DHCP6: true}}},
			},
		},
		{
			name:    "IPv6 public address in ipv4",
			doc:     []byte(`{"compute":{"vmId":"x"},"network":{"interface":[{"ipv4":{"ipAddress":[{"privateIpAddress":"10.0.0.4","publicIpAddress":"2603:1020::4"}]}}]}}`),
			wantErr: `network.interface[0].ipv4.ipAddress[0].publicIpAddress: "2603:1020::4" is not an ipv4 address`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseInstance(tc.doc)
			platformtest.CheckResult(t, got, err, tc.want, tc.wantErr)
		})
	}
}

func TestParseMAC(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"000D3AD631EE", "00:0d:3a:d6:31:ee"},
		{"00-0D-3A-D6-31-EE", "00:0d:3a:d6:31:ee"},
		{"00:0d:3a:d6:31:ee", "00:0d:3a:d6:31:ee"},
		{"000D3AD631E", ""},
		{"000D3AD631EG", ""},
	} {
		got, err := parseMAC(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("parseMAC(%q) = %v, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got.String() != tc.want {
			t.Errorf("parseMAC(%q) = %v, %v; want %s", tc.in, got, err, tc.want)
		}
	}
}

// ovfEnvXML is shaped like the ovf-env.xml Azure puts on the provisioning media.
const ovfEnvXML = `<?xml version="1.0" encoding="utf-8"?>
<ns0:Environment xmlns="http://schemas.dmtf.org/ovf/environment/1" xmlns:ns0="http://schemas.dmtf.org/ovf/environment/1" xmlns:ns1="http://schemas.microsoft.com/windowsazure" xmlns:i="http://www.w3.org/2001/XMLSchema-instance">
  <ns1:ProvisioningSection>
    <ns1:Version>1.0</ns1:Version>
    <ns1:LinuxProvisioningConfigurationSet>
      <ns1:ConfigurationSetType>LinuxProvisioningConfiguration</ns1:ConfigurationSetType>
      <ns1:HostName>etcd-a</ns1:HostName>
      <ns1:UserName>azureuser</ns1:UserName>
      <ns1:DisableSshPasswordAuthentication>true</ns1:DisableSshPasswordAuthentication>
      %s
      <ns1:SSH><ns1:PublicKeys><ns1:PublicKey><ns1:Path>/home/azureuser/.ssh/authorized_keys</ns1:Path><ns1:Value>ssh-ed25519 AAAA azureuser</ns1:Value></ns1:PublicKey></ns1:PublicKeys></ns1:SSH>
    </ns1:LinuxProvisioningConfigurationSet>
  </ns1:ProvisioningSection>
  <ns1:PlatformSettingsSection>
    <ns1:Version>1.0</ns1:Version>
    <ns1:PlatformSettings><ns1:ProvisionGuestAgent>false</ns1:ProvisionGuestAgent></ns1:PlatformSettings>
  </ns1:PlatformSettingsSection>
</ns0:Environment>`

func TestParseOVFEnv(t *testing.T) {
	ud := "version: 1\ncluster:\n  name: prod-etcd\n"
	b64 := base64.StdEncoding.EncodeToString([]byte(ud))
	for _, tc := range []struct {
		name       string
		customData string
		want       []byte
		wantErr    string
	}{
		{name: "CustomData", customData: "<ns1:CustomData>" + b64 + "</ns1:CustomData>", want: []byte(ud)},
		{name: "wrapped base64", customData: "<ns1:CustomData>\n  " + b64[:16] + "\n  " + b64[16:] + "\n</ns1:CustomData>", want: []byte(ud)},
		{name: "none", customData: "", want: nil},
		{name: "empty", customData: "<ns1:CustomData/>", want: nil},
		{name: "bad base64", customData: "<ns1:CustomData>#!/bin/sh</ns1:CustomData>", wantErr: "CustomData: not valid base64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseOVFEnv([]byte(strings.Replace(ovfEnvXML, "%s", tc.customData, 1)))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ParseOVFEnv = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	if _, err := ParseOVFEnv([]byte("<Environment><unclosed>")); err == nil || !strings.HasPrefix(err.Error(), "ovf-env.xml: ") {
		t.Errorf("malformed XML: error %v, want an ovf-env.xml error", err)
	}
}

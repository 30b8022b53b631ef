package node

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// network.dns and time.servers reach resolved and timesyncd as drop-ins, which are restarted
// to read them before anything is looked up; the clock step waits for (here: finds) a
// synchronised clock before the data volume and certificates.
func TestBootNetworkServices(t *testing.T) {
	m := &fakeMachine{}
	n, console := testNode(t, []byte("version: 1\nnetwork: {dns: {servers: [192.0.2.53], search: [etcd.example]}}\ntime: {servers: [ntp.example]}\n"), t.TempDir(), m)
	if err := n.Boot(context.Background()); err != nil {
		t.Fatalf("boot: %v\n%s", err, console)
	}
	for path, want := range map[string]string{
		"etc/systemd/resolved.conf.d/50-etcd-appliance.conf":  "[Resolve]\nDNS=192.0.2.53\nDomains=etcd.example\n",
		"etc/systemd/timesyncd.conf.d/50-etcd-appliance.conf": "[Time]\nNTP=ntp.example\n",
	} {
		b, err := os.ReadFile(filepath.Join(n.Paths.Root, path))
		if err != nil || !strings.HasSuffix(string(b), want) {
			t.Errorf("%s: %q (%v), want it to end %q", path, b, err, want)
		}
	}
	if !slices.Equal(m.restarted, []string{"systemd-resolved.service", "systemd-timesyncd.service"}) {
		t.Errorf("restarted %v", m.restarted)
	}
	for _, want := range []string{
		"systemd-resolved.service: DNS servers 192.0.2.53, search etcd.example (network.dns",
		"systemd-timesyncd.service: NTP servers ntp.example (time.servers",
		"clock: synchronised (NTP: ntp.example)",
	} {
		if !strings.Contains(console.String(), want) {
			t.Errorf("console lacks %q:\n%s", want, console)
		}
	}

	// nothing configured, no platform service, no DHCP server: nothing written or restarted
	m2 := &fakeMachine{}
	n2, console2 := testNode(t, nil, t.TempDir(), m2)
	if err := n2.Boot(context.Background()); err != nil {
		t.Fatalf("boot: %v\n%s", err, console2)
	}
	if len(m2.restarted) > 0 || !strings.Contains(console2.String(), "clock: no NTP server") {
		t.Errorf("restarted %v; console:\n%s", m2.restarted, console2)
	}
	if _, err := os.Stat(filepath.Join(n2.Paths.Root, "etc/systemd")); !os.IsNotExist(err) {
		t.Errorf("etc/systemd written without anything to configure (%v)", err)
	}
}

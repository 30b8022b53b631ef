package node

import (
	"context"
	"errors"
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
	if len(m2.restarted) > 0 || m2.timeSyncStarts > 0 || !strings.Contains(console2.String(), "clock: no NTP server") {
		t.Errorf("restarted %v, timesyncd started %d times; console:\n%s", m2.restarted, m2.timeSyncStarts, console2)
	}
	// nothing looked up: the boot leaves the DNS stub to the agent
	if len(m2.resolver) != 0 {
		t.Errorf("DNS stub: %v, want none (the agent starts it once etcd answers)", m2.resolver)
	}
	if _, err := os.Stat(filepath.Join(n2.Paths.Root, "etc/systemd")); !os.IsNotExist(err) {
		t.Errorf("etc/systemd written without anything to configure (%v)", err)
	}
}

// NTP servers by name need the DNS stub before timesyncd restarts: the boot starts it and
// waits, where it would otherwise leave it to the agent. Servers by address do not.
func TestBootTimeServersByName(t *testing.T) {
	for _, tc := range []struct {
		servers string
		want    []string
	}{
		{"[ntp.example]", []string{"start"}},
		{"[192.0.2.123]", nil},
	} {
		m := &fakeMachine{}
		n, console := testNode(t, []byte("version: 1\ntime: {servers: "+tc.servers+"}\n"), t.TempDir(), m)
		if err := n.Boot(context.Background()); err != nil {
			t.Fatalf("boot: %v\n%s", err, console)
		}
		if !slices.Equal(m.resolver, tc.want) || !slices.Equal(m.restarted, []string{"systemd-timesyncd.service"}) {
			t.Errorf("time.servers %s: DNS stub %v (want %v), restarted %v", tc.servers, m.resolver, tc.want, m.restarted)
		}
	}
}

// etcd looks its members' names up as it starts: when the member list the agent recorded on
// the volume names one, the boot starts the DNS stub and waits for it.
func TestBootStartsResolverForNamedMembers(t *testing.T) {
	data := t.TempDir()
	m := &fakeMachine{}
	n, console := testNode(t, nil, data, m)
	if err := n.Boot(context.Background()); err != nil {
		t.Fatalf("boot: %v\n%s", err, console)
	}
	if len(m.resolver) != 0 {
		t.Fatalf("first boot, members by address: DNS stub %v, want none", m.resolver)
	}
	if err := os.WriteFile(filepath.Join(data, "appliance", "member-hosts"), []byte("127.0.0.1 localhost node-b.etcd.test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n2, console2 := testNode(t, nil, data, m)
	if err := n2.Boot(context.Background()); err != nil {
		t.Fatalf("second boot: %v\n%s", err, console2)
	}
	if !slices.Equal(m.resolver, []string{"start"}) {
		t.Errorf("a member named node-b.etcd.test: DNS stub %v, want [start]\n%s", m.resolver, console2)
	}
}

// The boot does not start timesyncd: the clock step starts it whenever the node has NTP
// servers to ask, DHCP's included (which write no drop-in, so nothing restarted it), and
// leaves it to etcd.service without. The fake's clock is synchronised only once timesyncd was
// started. A timesyncd that cannot start (masked on the kernel command line) costs the wait,
// not the boot, when only DHCP names servers (configured ones make networkServices restart it,
// and a refused restart refuses the boot, as before).
func TestBootClockStartsTimeSync(t *testing.T) {
	for _, tc := range []struct {
		name       string
		config     string
		dhcp       []string
		startErr   error
		wantStarts int
		wantLine   string
	}{
		{"nothing to ask", "", nil, nil, 0, "clock: no NTP server from DHCP"},
		{"DHCP's server", "", []string{"192.0.2.123"}, nil, 1, "clock: synchronised (NTP: 192.0.2.123)"},
		{"time.servers", "version: 1\ntime: {servers: [192.0.2.124]}\n", nil, nil, 1, "clock: synchronised (NTP: 192.0.2.124)"},
		{"timesyncd masked", "", []string{"192.0.2.123"}, errors.New("starting systemd-timesyncd.service: unit is masked"), 1,
			"clock: starting systemd-timesyncd.service: unit is masked; issuing certificates with the clock as it is"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &fakeMachine{dhcpNTP: tc.dhcp, timeSyncErr: tc.startErr}
			n, console := testNode(t, []byte(tc.config), t.TempDir(), m)
			if err := n.Boot(context.Background()); err != nil {
				t.Fatalf("boot: %v\n%s", err, console)
			}
			if m.timeSyncStarts != tc.wantStarts {
				t.Errorf("timesyncd started %d times, want %d", m.timeSyncStarts, tc.wantStarts)
			}
			if !strings.Contains(console.String(), tc.wantLine) {
				t.Errorf("console lacks %q:\n%s", tc.wantLine, console)
			}
		})
	}
}

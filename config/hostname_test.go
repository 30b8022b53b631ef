package config

import (
	"strings"
	"testing"
)

func TestCheckHostname(t *testing.T) {
	for _, tc := range []struct {
		name, host string
		wantErr    string // "" for valid
	}{
		{"short", "etcd-a", ""},
		{"fqdn", "ip-10-0-0-5.eu-west-1.compute.internal", ""},
		{"upper case", "ETCD-A.Example", ""},
		{"digits first", "1node", ""},
		{"all numeric labels", "10.0.0.5", ""}, // a host name check; addresses are checked apart
		{"63-character label", strings.Repeat("a", 63) + ".example", ""},
		{"253 characters", strings.Repeat(strings.Repeat("a", 62)+".", 4) + "a", ""},
		{"a newline", "a\nb", "control character"},
		{"a trailing newline", "node-a\n", "control character"},
		{"NUL", "a\x00b", "control character"},
		{"a tab", "a\tb", "control character"},
		{"empty", "", "empty"},
		{"254 characters", strings.Repeat(strings.Repeat("a", 62)+".", 4) + "ab", "254 characters long"},
		{"64-character label", strings.Repeat("a", 64), "64 characters long"},
		{"two dots", "a..b", "empty label"},
		{"trailing dot", "a.b.", "empty label"},
		{"leading hyphen", "-a", `label "-a" starts or ends with '-'`},
		{"underscore", "etcd_a", `label "etcd_a" has characters other than`},
		{"space", "etcd a", "characters other than"},
		{"equals", "a=b", "characters other than"},
		{"quote", `a"b`, "characters other than"},
		{"unicode", "ätcd", "characters other than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckHostname(tc.host)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("CheckHostname(%q) = %v, want nil", tc.host, err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("CheckHostname(%q) = %v, want an error with %q", tc.host, err, tc.wantErr)
			case err != nil && !strings.Contains(err.Error(), HostnameRule):
				t.Errorf("CheckHostname(%q) = %v: does not say what a host name is", tc.host, err)
			}
		})
	}
}

// Every config string that reaches a unit, env or networkd file refuses a newline (and so
// whatever a second line would set), whatever field it is in.
func TestNewlinesRefused(t *testing.T) {
	v1 := "version: 1\n"
	for _, tc := range []struct {
		name, doc, path string
	}{
		{"cluster.name", v1 + `cluster: {name: "prod\nETCD_X=1"}` + "\n", "cluster.name"},
		{"member name", v1 + `cluster: {name: c, members: [{name: "a\nb", address: 192.0.2.1}]}` + "\n" + caAndKey, "cluster.members[0].name"},
		{"member address", v1 + `cluster: {name: c, members: [{name: a, address: "a.example\nb"}]}` + "\n" + caAndKey, "cluster.members[0].address"},
		{"node.name", v1 + `node: {name: "a\nb"}` + "\n", "node.name"},
		{"data.device", v1 + `data: {device: "/dev/vdb\nx"}` + "\n", "data.device"},
		{"restore.source", v1 + `restore: {source: "https://b.example/x\ny", sha256: "` + strings.Repeat("a", 64) + `"}` + "\n", "restore.source"},
		{"dns server", v1 + `network: {dns: {servers: ["192.0.2.53\nDNS=1.1.1.1"]}}` + "\n", "network.dns.servers[0]"},
		{"dns search", v1 + `network: {dns: {search: ["a.example\nDomains=x"]}}` + "\n", "network.dns.search[0]"},
		{"proxy", v1 + `network: {proxy: "http://p.example:3128\nx"}` + "\n", "network.proxy"},
		{"time server", v1 + `time: {servers: ["ntp.example\nNTP=x"]}` + "\n", "time.servers[0]"},
		{"ssh key", v1 + `ssh_authorized_keys: ["ssh-ed25519 AAAA\nssh-ed25519 BBBB"]` + "\n", "ssh_authorized_keys[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Parse([]byte(testPKI(t).Replace(tc.doc)))
			if err == nil || !strings.Contains(err.Error(), tc.path+":") {
				t.Fatalf("Parse = %v, want a problem at %s", err, tc.path)
			}
		})
	}
}

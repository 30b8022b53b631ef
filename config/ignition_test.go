package config

import (
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io/fs"
	"maps"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
)

const soloConfig = "version: 1\nnode: {name: solo}\netcd: {snapshot_count: 500}\n"

// ignition builds an Ignition config of the given spec version from its other sections.
func ignition(t testing.TB, version string, sections map[string]any) []byte {
	t.Helper()
	m := map[string]any{"ignition": map[string]any{"version": version}}
	maps.Copy(m, sections)
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func base64URL(s string) string {
	return "data:;base64," + base64.StdEncoding.EncodeToString([]byte(s))
}

func gzipURL(t testing.TB, s string) string {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return "data:application/gzip;base64," + base64.StdEncoding.EncodeToString(b.Bytes())
}

func applianceFile(source string, extra map[string]any) map[string]any {
	contents := map[string]any{"source": source}
	maps.Copy(contents, extra)
	return map[string]any{"path": IgnitionConfigPath, "contents": contents}
}

func TestFromIgnition(t *testing.T) {
	key := sshKey(t, "ssh-ed25519", "ssh-ed25519") + " me@laptop"
	unit := "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n"
	sum := sha512.Sum512([]byte(soloConfig))
	hash := "sha512-" + hex.EncodeToString(sum[:])
	motd := "hello\n"

	tests := []struct {
		name    string
		version string
		file    map[string]any // the appliance config entry; nil for none
		want    *IgnitionExtras
	}{
		{"3.0 base64", "3.0.0", applianceFile(base64URL(soloConfig), nil), nil},
		{"3.3 gzip", "3.3.0", applianceFile(gzipURL(t, soloConfig), map[string]any{"compression": "gzip"}), nil},
		{"3.5 percent-encoded with hash", "3.5.0", applianceFile("data:,"+url.PathEscape(soloConfig), map[string]any{"verification": map[string]any{"hash": hash}}), nil},
		{"3.4 gzip with hash of the decompressed contents", "3.4.0", applianceFile(gzipURL(t, soloConfig), map[string]any{"compression": "gzip", "verification": map[string]any{"hash": hash}}), nil},
		{"no appliance config", "3.5.0", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := []any{
				map[string]any{"path": "/etc/motd", "mode": 0o600, "overwrite": true, "contents": map[string]any{"source": base64URL(motd)}},
				map[string]any{"path": "/var/opt/big", "contents": map[string]any{"source": "https://files.example/big", "verification": map[string]any{"hash": hash}}},
			}
			if tt.file != nil {
				files = append(files, tt.file)
			}
			data := ignition(t, tt.version, map[string]any{
				"passwd": map[string]any{"users": []any{
					map[string]any{"name": "core", "sshAuthorizedKeys": []string{key}},
					map[string]any{"name": "root", "sshAuthorizedKeys": []string{key}},
				}},
				"storage": map[string]any{
					"files":       files,
					"directories": []any{map[string]any{"path": "/var/opt/app"}},
					"links":       []any{map[string]any{"path": "/etc/localtime", "target": "/usr/share/zoneinfo/UTC"}},
				},
				"systemd": map[string]any{"units": []any{
					map[string]any{"name": "hello.service", "enabled": true, "contents": unit,
						"dropins": []any{map[string]any{"name": "10-env.conf", "contents": "[Service]\nEnvironment=A=1\n"}}},
					map[string]any{"name": "sshd.socket", "mask": true},
				}},
			})
			cfg, x, warns, err := Load(data)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if len(warns) > 0 {
				t.Errorf("warnings: %v", warns)
			}
			if tt.file == nil {
				if cfg != nil {
					t.Errorf("config = %+v, want none", cfg)
				}
			} else if cfg == nil || cfg.Node.Name != "solo" || cfg.Etcd.SnapshotCount != 500 || cfg.Etcd.HeartbeatIntervalMS != 100 {
				t.Errorf("config = %+v", cfg)
			}

			enabled := true
			dropin := "[Service]\nEnvironment=A=1\n"
			want := &IgnitionExtras{
				SSHAuthorizedKeys: []string{key, key},
				Directories:       []IgnitionDirectory{{Path: "/var/opt/app", Mode: 0o755}},
				Files: []IgnitionFile{
					{Path: "/etc/motd", Mode: 0o600, Overwrite: true, Contents: IgnitionContent{Inline: []byte(motd)}},
					{Path: "/var/opt/big", Mode: 0o644, Contents: IgnitionContent{Remote: &IgnitionRemote{URL: "https://files.example/big", Hash: hash}}},
				},
				Links: []IgnitionLink{{Path: "/etc/localtime", Target: "/usr/share/zoneinfo/UTC"}},
				Units: []IgnitionUnit{
					{Name: "hello.service", Contents: &unit, Enabled: &enabled, Dropins: []IgnitionDropin{{Name: "10-env.conf", Contents: &dropin}}},
					{Name: "sshd.socket", Mask: true},
				},
			}
			if !reflect.DeepEqual(x, want) {
				got, _ := json.MarshalIndent(x, "", " ")
				exp, _ := json.MarshalIndent(want, "", " ")
				t.Errorf("extras:\n%s\nwant:\n%s", got, exp)
			}
		})
	}
}

func TestFromIgnitionRejects(t *testing.T) {
	key := sshKey(t, "ssh-ed25519", "ssh-ed25519")
	tests := []struct {
		name     string
		version  string
		sections map[string]any
		paths    []string
		msg      string // in the first message
	}{
		{"disks", "3.5.0", map[string]any{"storage": map[string]any{"disks": []any{map[string]any{"device": "/dev/vda", "wipeTable": true}}}},
			[]string{"storage.disks[0]"}, "partitioning is not supported"},
		{"filesystems raid luks", "3.5.0", map[string]any{"storage": map[string]any{
			"filesystems": []any{map[string]any{"device": "/dev/vdb", "format": "ext4", "path": "/var/lib/etcd"}},
			"raid":        []any{map[string]any{"name": "md0", "level": "raid1", "devices": []string{"/dev/vdb", "/dev/vdc"}}},
			"luks":        []any{map[string]any{"name": "data", "device": "/dev/vdb"}}}},
			[]string{"storage.filesystems[0]", "storage.luks[0]", "storage.raid[0]"}, "filesystems are not supported"},
		{"users", "3.0.0", map[string]any{"passwd": map[string]any{"users": []any{
			map[string]any{"name": "core", "sshAuthorizedKeys": []string{key, "ssh-ed25519 bad"}},
			map[string]any{"name": "root", "passwordHash": "$6$x", "shell": "/bin/zsh"},
			map[string]any{"name": "bob"}}}},
			[]string{"passwd.users[0].sshAuthorizedKeys[1]", "passwd.users[1].passwordHash", "passwd.users[1].shell", "passwd.users[2].name"}, "not valid base64"},
		{"groups", "3.0.0", map[string]any{"passwd": map[string]any{"groups": []any{map[string]any{"name": "ops"}}}},
			[]string{"passwd.groups[0]"}, "groups cannot be created"},
		{"paths", "3.1.0", map[string]any{"storage": map[string]any{
			"files":       []any{map[string]any{"path": "/usr/local/bin/x"}, map[string]any{"path": "/var/lib/etcd/member/x"}, map[string]any{"path": "/etc/x", "user": map[string]any{"name": "etcd"}}},
			"directories": []any{map[string]any{"path": "/opt/x"}},
			"links":       []any{map[string]any{"path": "/etc/y", "target": "/usr/bin/y", "hard": true}}}},
			[]string{"storage.directories[0].path", "storage.files[0].path", "storage.files[1].path", "storage.files[2].user", "storage.links[0].target"}, "outside /etc and /var"},
		{"appliance units", "3.2.0", map[string]any{"systemd": map[string]any{"units": []any{map[string]any{"name": "a.service", "mask": true}, map[string]any{"name": "etcd.service", "dropins": []any{map[string]any{"name": "x.conf", "contents": "[Service]\n"}}}}}},
			[]string{"systemd.units[1]"}, "etcd.service belongs to the appliance"},
		{"appliance unit files", "3.2.0", map[string]any{"storage": map[string]any{
			"files":       []any{map[string]any{"path": "/etc/systemd/system/etcd.service.d/tls.conf"}, map[string]any{"path": "/etc/systemd/system/firstboot.service"}},
			"directories": []any{map[string]any{"path": "/etc/systemd/system/etcd.service.d"}},
			"links":       []any{map[string]any{"path": "/etc/systemd/system/etcd.service", "target": "/dev/null"}}}},
			[]string{"storage.directories[0].path", "storage.files[0].path", "storage.files[1].path", "storage.links[0].path"},
			`"/etc/systemd/system/etcd.service.d" would change etcd.service, which belongs to the appliance`},
		{"drop-ins for every service or for the agent", "3.2.0", map[string]any{"storage": map[string]any{
			"files": []any{map[string]any{"path": "/etc/systemd/system/service.d/x.conf"}, map[string]any{"path": "/etc/systemd/system/etcd-.service.d/x.conf"},
				map[string]any{"path": "/etc/systemd/system/etcd-agent.service.d/x.conf"}}}},
			[]string{"storage.files[0].path", "storage.files[1].path", "storage.files[2].path"}, `"/etc/systemd/system/service.d/x.conf" would change etcd.service and the agent (through service.d)`},
		{"the agent's unit", "3.2.0", map[string]any{"systemd": map[string]any{"units": []any{map[string]any{"name": "etcd-agent.service", "mask": true}}}},
			[]string{"systemd.units[0]"}, "etcd-agent.service belongs to the appliance"},
		{"prefix drop-ins as units", "3.2.0", map[string]any{"systemd": map[string]any{"units": []any{
			map[string]any{"name": "etcd-.timer", "dropins": []any{map[string]any{"name": "x.conf", "contents": "[Timer]\nOnActiveSec=1h\n"}}},
			map[string]any{"name": "etcd-.service", "dropins": []any{map[string]any{"name": "x.conf", "contents": "[Service]\n"}}}}}},
			[]string{"systemd.units[0].dropins", "systemd.units[1].dropins"}, "drop-ins for etcd-.timer would change the agent's timer (through etcd-.timer.d)"},
		{"systemctl's own unit directories", "3.2.0", map[string]any{"storage": map[string]any{
			"files": []any{map[string]any{"path": "/etc/systemd/system.control/etcd.service.d/x.conf"}, map[string]any{"path": "/etc/systemd/system.attached/etcd-agent.timer"}}}},
			[]string{"storage.files[0].path", "storage.files[1].path"}, `"/etc/systemd/system.control/etcd.service.d/x.conf" would change etcd.service, which belongs to the appliance`},
		{"the agent's timer", "3.2.0", map[string]any{"systemd": map[string]any{"units": []any{map[string]any{"name": "etcd-agent.timer", "mask": true}}}},
			[]string{"systemd.units[0]"}, "etcd-agent.timer belongs to the appliance"},
		{"drop-ins for every timer or for the agent's", "3.2.0", map[string]any{"storage": map[string]any{
			"files": []any{map[string]any{"path": "/etc/systemd/system/timer.d/x.conf"}, map[string]any{"path": "/etc/systemd/system/etcd-.timer.d/x.conf"},
				map[string]any{"path": "/etc/systemd/system/etcd-agent.timer.d/x.conf"}}}},
			[]string{"storage.files[0].path", "storage.files[1].path", "storage.files[2].path"}, `"/etc/systemd/system/timer.d/x.conf" would change the agent's timer (through timer.d)`},
		{"kernel arguments", "3.3.0", map[string]any{"kernelArguments": map[string]any{"shouldExist": []string{"quiet"}}},
			[]string{"kernelArguments"}, "kernel arguments are fixed in the image"},
		{"remote configs and proxies", "3.5.0", map[string]any{"ignition": map[string]any{"version": "3.5.0",
			"config": map[string]any{"merge": []any{map[string]any{"source": "https://x.example/a.ign"}}},
			"proxy":  map[string]any{"httpsProxy": "http://proxy.example"}}},
			[]string{"ignition.config.merge[0]", "ignition.proxy"}, "merging remote Ignition configs is not supported"},
		{"sources", "3.5.0", map[string]any{"storage": map[string]any{"files": []any{
			map[string]any{"path": "/etc/a", "contents": map[string]any{"source": "tftp://x.example/a"}},
			map[string]any{"path": "/etc/b", "contents": map[string]any{"source": "https://x.example/b", "httpHeaders": []any{map[string]any{"name": "Authorization", "value": "x"}}}},
			map[string]any{"path": "/etc/c", "contents": map[string]any{"source": base64URL("c"), "verification": map[string]any{"hash": "sha256-" + strings.Repeat("0", 64)}}}}}},
			[]string{"storage.files[0].contents.source", "storage.files[1].contents.httpHeaders", "storage.files[2].contents.source"}, "tftp URLs are not supported"},
		{"plain http without a hash", "3.5.0", map[string]any{"storage": map[string]any{"files": []any{
			map[string]any{"path": "/etc/a", "contents": map[string]any{"source": "http://x.example/a"}},
			map[string]any{"path": "/etc/b", "contents": map[string]any{"source": "http://x.example/b", "verification": map[string]any{"hash": "sha512-" + strings.Repeat("0", 128)}}},
			map[string]any{"path": "/etc/c", "contents": map[string]any{"source": "https://x.example/c"}},
			map[string]any{"path": "/etc/d", "append": []any{map[string]any{"source": "http://user:pw@x.example/d"}}}}}},
			[]string{"storage.files[0].contents.source", "storage.files[3].append[0].source"},
			"http://x.example/a is plain http without verification.hash: add verification.hash (sha512-<hex> or sha256-<hex> of the contents), or use https"},
		{"cloud sources", "3.5.0", map[string]any{"storage": map[string]any{"files": []any{
			map[string]any{"path": "/etc/a", "contents": map[string]any{"source": "s3://bucket/a"}},
			map[string]any{"path": "/etc/b", "contents": map[string]any{"source": "gs://bucket/b"}},
			map[string]any{"path": "/etc/c", "append": []any{map[string]any{"source": "https://x.example/c1"}, map[string]any{"source": "arn:aws:s3:us-east-1:123456789012:accesspoint/ap/object/c"}}}}}},
			[]string{"storage.files[0].contents.source", "storage.files[1].contents.source", "storage.files[2].append[1].source"},
			"s3 sources need cloud credentials this image does not have: use https with a verification hash"},
		{"unit and drop-in names", "3.5.0", map[string]any{"systemd": map[string]any{"units": []any{
			map[string]any{"name": "../x.service", "mask": true},
			map[string]any{"name": "sub/y.service", "contents": "[Service]\n"},
			map[string]any{"name": "two words.service", "mask": true},
			map[string]any{"name": "z.service", "dropins": []any{map[string]any{"name": "../../../usr/lib/x.conf", "contents": "[Service]\n"}}}}}},
			[]string{"systemd.units[0].name", "systemd.units[1].name", "systemd.units[2].name", "systemd.units[3].dropins[0].name"},
			`"../x.service" is not a unit name: give a plain file name such as backup.service`},
		{"enabled without [Install]", "3.5.0", map[string]any{"systemd": map[string]any{"units": []any{
			map[string]any{"name": "a.service", "enabled": true, "contents": "[Service]\nExecStart=/bin/true\n"},
			map[string]any{"name": "b.service", "enabled": true, "contents": "[Service]\nExecStart=/bin/true\n[Install]\nAlias=c.service\n"},
			map[string]any{"name": "d.service", "enabled": true, "contents": ""}}}},
			[]string{"systemd.units[0].contents", "systemd.units[1].contents", "systemd.units[2].contents"},
			"a.service is enabled, but its contents have no [Install] WantedBy= or RequiredBy=, so nothing would start it: add one (e.g. WantedBy=multi-user.target) or leave enabled out"},
		{"enabled, not a unit file", "3.5.0", map[string]any{"systemd": map[string]any{"units": []any{
			map[string]any{"name": "a.service", "enabled": true, "contents": "[Service\n"}}}},
			[]string{"systemd.units[0].contents"}, "invalid unit content"},
		{"remote appliance config", "3.5.0", map[string]any{"storage": map[string]any{"files": []any{applianceFile("https://x.example/config.yaml", nil)}}},
			[]string{"storage.files[0].contents.source"}, "must be inline"},
		{"bad gzip", "3.5.0", map[string]any{"storage": map[string]any{"files": []any{applianceFile(base64URL(soloConfig), map[string]any{"compression": "gzip"})}}},
			[]string{"storage.files[0].contents.source"}, "compression is gzip but the data is not"},
		{"appliance config problems", "3.5.0", map[string]any{"storage": map[string]any{"files": []any{applianceFile(base64URL("version: 1\nnode: {name: Bad}\n"), nil)}},
			"passwd": map[string]any{"users": []any{map[string]any{"name": "bob"}}}},
			[]string{"passwd.users[0].name", "node.name"}, `user "bob" cannot be created`},
		{"unknown key", "3.5.0", map[string]any{"sytemd": map[string]any{}}, []string{"sytemd"}, "unknown field"},
		{"Ignition's own validation", "3.5.0", map[string]any{"storage": map[string]any{"files": []any{map[string]any{"path": "relative"}}}},
			[]string{"storage.files[0].path"}, "absolute"},
		{"spec 2", "2.3.0", nil, []string{"ignition.version"}, `unsupported Ignition spec version "2.3.0": this image understands 3.0.0 through 3.5.0`},
		{"experimental spec", "3.6.0-experimental", nil, []string{"ignition.version"}, "unsupported Ignition spec version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, x, _, err := Load(ignition(t, tt.version, tt.sections))
			var errs *Errors
			if !errors.As(err, &errs) {
				t.Fatalf("Load = %+v, %+v, %v; want *Errors", cfg, x, err)
			}
			if cfg != nil || x != nil {
				t.Errorf("results returned with errors: %+v, %+v", cfg, x)
			}
			var got []string
			for _, p := range errs.Problems {
				got = append(got, p.Path)
			}
			if !slices.Equal(got, tt.paths) {
				t.Errorf("paths = %q, want %q\n%v", got, tt.paths, err)
			}
			if !strings.Contains(errs.Problems[0].Message, tt.msg) {
				t.Errorf("first message %q does not contain %q", errs.Problems[0].Message, tt.msg)
			}
		})
	}
}

func TestFromIgnitionLines(t *testing.T) {
	data := []byte(`{
  "ignition": {"version": "3.5.0"},
  "storage": {
    "files": [{"path": "/etc/etcd-appliance/config.yaml",
               "contents": {"source": "` + base64URL("version: 1\n\nnode: {name: Bad}\n") + `"}}],
    "disks": [{"device": "/dev/vda"}]
  }
}`)
	_, _, _, err := FromIgnition(data)
	var errs *Errors
	if !errors.As(err, &errs) || len(errs.Problems) != 2 {
		t.Fatalf("err = %v", err)
	}
	disk, node := errs.Problems[0], errs.Problems[1]
	if disk.Path != "storage.disks[0]" || disk.Line != 6 || disk.File != "" {
		t.Errorf("disk problem = %+v", disk)
	}
	if node.Path != "node.name" || node.Line != 3 || node.File != IgnitionConfigPath {
		t.Errorf("node problem = %+v", node)
	}
	if want := IgnitionConfigPath + ":3: node.name: "; !strings.Contains(err.Error(), want) {
		t.Errorf("Error() = %q, want it to contain %q", err, want)
	}
}

func TestFileMode(t *testing.T) {
	m := 0o4755
	if got := fileMode(&m, 0); got != fs.ModeSetuid|0o755 {
		t.Errorf("fileMode(04755) = %v", got)
	}
	if got := fileMode(nil, 0o644); got != 0o644 {
		t.Errorf("fileMode(nil) = %v", got)
	}
}

func TestFromIgnitionWarnings(t *testing.T) {
	data := ignition(t, "3.5.0", map[string]any{
		"ignition": map[string]any{"version": "3.5.0", "timeouts": map[string]any{"httpTotal": 10}},
		// enabled and masked: the mask wins on the node, Ignition's warning stays a warning
		"systemd": map[string]any{"units": []any{map[string]any{"name": "a.service", "enabled": true, "mask": true, "contents": "[Service]\n"}}},
		"storage": map[string]any{"files": []any{applianceFile(base64URL("version: 1\ncluster: {name: c, members: [{name: a, address: a.example}, {name: b, address: b.example}]}\ntls: {ca_cert: x}\n"), nil)}},
	})
	_, _, warns, err := FromIgnition(data)
	if err == nil {
		t.Fatal("want the appliance config's TLS errors")
	}
	var got []string
	for _, w := range warns {
		got = append(got, w.File+"|"+w.Path)
	}
	want := []string{"|systemd.units[0].contents", "|ignition.timeouts", IgnitionConfigPath + "|cluster.members"}
	if !slices.Equal(got, want) {
		t.Errorf("warnings at %q, want %q", got, want)
	}
}

// TestIgnitionUnitsAccepted: what only the node can judge (an enabled unit without contents
// must be in the image) passes here, and so do the forms of unit names systemd has.
func TestIgnitionUnitsAccepted(t *testing.T) {
	units := []any{
		map[string]any{"name": "backup.timer", "enabled": true, "contents": "[Timer]\nOnCalendar=daily\n[Install]\nRequiredBy=timers.target\n"},
		map[string]any{"name": "getty@tty1.service", "enabled": true},                                // from the image: the node checks
		map[string]any{"name": "worker@.service", "contents": "[Service]\nExecStart=/bin/true %i\n"}, // a template, not enabled
		map[string]any{"name": "dev-disk-by\\x2dlabel-x.mount", "mask": true},
		map[string]any{"name": "chronyd.service", "dropins": []any{map[string]any{"name": "10-servers.conf", "contents": "[Service]\n"}}},
	}
	_, x, warns, err := Load(ignition(t, "3.5.0", map[string]any{"systemd": map[string]any{"units": units}}))
	if err != nil {
		t.Fatal(err)
	}
	if len(x.Units) != len(units) || len(warns) != 0 {
		t.Errorf("units %+v, warnings %v", x.Units, warns)
	}
}

// TestIgnitionInstallWarningBecomesError: Ignition only warns about an enabled unit without
// [Install]; it is an error here, said once.
func TestIgnitionInstallWarningBecomesError(t *testing.T) {
	_, _, warns, err := Load(ignition(t, "3.5.0", map[string]any{"systemd": map[string]any{"units": []any{
		map[string]any{"name": "a.service", "enabled": true, "contents": "[Service]\nExecStart=/bin/true\n"}}}}))
	var errs *Errors
	if !errors.As(err, &errs) || len(errs.Problems) != 1 || errs.Problems[0].Path != "systemd.units[0].contents" || errs.Problems[0].Line == 0 {
		t.Errorf("err = %#v", err)
	}
	if len(warns) != 0 {
		t.Errorf("warnings %v, want the error alone", warns)
	}
}

// ignition.security.tls.certificateAuthorities given inline become extras' CACerts; remote
// ones and anything but CA certificates are refused at their path.
func TestFromIgnitionCAs(t *testing.T) {
	pemOf := func(c *x509.Certificate) string {
		return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
	}
	ca, caKey := newCert(t, "files CA", nil, nil, nil)
	other, _ := newCert(t, "other CA", nil, nil, nil)
	leaf, _ := newCert(t, "files.example", ca, caKey, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth})
	sum := sha512.Sum512([]byte(pemOf(ca)))
	const path = "ignition.security.tls.certificateAuthorities"
	for _, tc := range []struct {
		name    string
		version string
		cas     []any
		want    []string // CACerts
		paths   []string // problems' paths; nil: none
		msg     string   // in the first problem
	}{
		{name: "base64", version: "3.0.0", cas: []any{map[string]any{"source": base64URL(pemOf(ca))}}, want: []string{pemOf(ca)}},
		{name: "gzip with a hash, and a second one", version: "3.5.0", cas: []any{
			map[string]any{"source": gzipURL(t, pemOf(ca)), "compression": "gzip", "verification": map[string]any{"hash": "sha512-" + hex.EncodeToString(sum[:])}},
			map[string]any{"source": "data:," + url.PathEscape(pemOf(other))}},
			want: []string{pemOf(ca), pemOf(other)}},
		{name: "remote", version: "3.5.0", cas: []any{map[string]any{"source": "https://ca.example/ca.pem"}},
			paths: []string{path + "[0].source"}, msg: "a CA fetched from https is not supported: give the PEM inline as a data: URL, or in the appliance config's trust.ca_certs"},
		{name: "a server's certificate", version: "3.5.0", cas: []any{map[string]any{"source": base64URL(pemOf(ca) + pemOf(leaf))}},
			paths: []string{path + "[0].source"}, msg: "certificate 2 (CN=files.example) is not a CA certificate"},
		{name: "not PEM", version: "3.5.0", cas: []any{map[string]any{"source": base64URL("/etc/ssl/ca.pem")}},
			paths: []string{path + "[0].source"}, msg: "PEM"},
		{name: "hash mismatch", version: "3.5.0", cas: []any{map[string]any{"source": base64URL(pemOf(other)), "verification": map[string]any{"hash": "sha512-" + hex.EncodeToString(sum[:])}}},
			paths: []string{path + "[0].source"}, msg: "do not match verification.hash"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := ignition(t, tc.version, map[string]any{"ignition": map[string]any{"version": tc.version,
				"security": map[string]any{"tls": map[string]any{"certificateAuthorities": tc.cas}}}})
			_, x, _, err := Load(data)
			if tc.paths == nil {
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(x.CACerts, tc.want) {
					t.Errorf("CACerts = %q, want %q", x.CACerts, tc.want)
				}
				return
			}
			var errs *Errors
			if !errors.As(err, &errs) {
				t.Fatalf("err = %v, want *Errors", err)
			}
			var got []string
			for _, p := range errs.Problems {
				got = append(got, p.Path)
			}
			if !slices.Equal(got, tc.paths) || !strings.Contains(errs.Problems[0].Message, tc.msg) {
				t.Errorf("problems %v, want at %q: %q", err, tc.paths, tc.msg)
			}
		})
	}
}

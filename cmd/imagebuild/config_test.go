package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/etcd-appliance/appliance/config"
	"github.com/etcd-appliance/appliance/internal/pki"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		wantErr bool
		want    []string // output lines, with FILE for the file name
	}{
		{"valid", "version: 1\nnode: {name: solo}\n", false,
			[]string{"FILE: valid (single-node cluster, TLS mode: own CA (the node makes one on its data volume), 0 SSH keys)"}},
		{"problems", "version: 1\nnode: {name: Solo}\ndata: {device: sdb}\nbogus: 1\n", true, []string{
			`FILE:2: node.name: "Solo" is not a valid member name: use 1 to 63 lower-case letters, digits and '-', starting and ending with a letter or digit`,
			`FILE:3: data.device: "sdb" is not a device path: expected an absolute path under /dev/, e.g. /dev/disk/by-id/virtio-etcd-data or /dev/vdb`,
			`FILE:4: bogus: unknown field: the fields here are version, cluster, node, tls, data, etcd, restore, snapshots, backup, network, trust, time, ssh_authorized_keys`,
		}},
		{"no line", "", true, []string{`FILE: empty document: expected a configuration starting with "version: 1"`}},
		{"ignition", `{"ignition": {"version": "3.5.0"}, "storage": {"disks": [{"device": "/dev/vda"}]}}`, true, []string{
			"FILE:1: storage.disks[0]: partitioning is not supported: the appliance manages its disks itself: select the data disk with data.device in the appliance config",
		}},
		{"ignition without config", `{"ignition": {"version": "3.0.0"}}`, false, []string{
			"FILE: valid (Ignition config without /etc/etcd-appliance/config.yaml: the node uses its defaults, Ignition: 0 SSH keys, 0 files, 0 directories, 0 links, 0 units)",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(file, []byte(tt.doc), 0o644); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			err := runConfig([]string{"validate", file}, nil, &out)
			if (err != nil) != tt.wantErr {
				t.Errorf("err = %v, want error: %v", err, tt.wantErr)
			}
			got := strings.Split(strings.TrimSpace(strings.ReplaceAll(out.String(), file, "FILE")), "\n")
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("output:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestConfigValidateStdinAndWarnings(t *testing.T) {
	var out bytes.Buffer
	err := runConfig([]string{"validate", "-"}, strings.NewReader("version: 1\nnode: {name: a}\ncluster: {name: c, members: [{name: a, address: 192.0.2.1}, {name: b, address: 192.0.2.2}]}\n"), &out)
	if err == nil {
		t.Fatal("want an error: members without tls")
	}
	want := "<stdin>: tls.ca_cert: required when cluster.members is set: every member must trust the same CA\n" +
		"<stdin>:3: warning: cluster.members: 2 members tolerate no more failures than 1: use an odd number\n"
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestConfigUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"validate"}, {"check", "x"}, {"validate", "a", "b"}} {
		if err := runConfig(args, nil, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "usage") {
			t.Errorf("runConfig(%q) = %v, want a usage error", args, err)
		}
	}
}

// TestCheckConfigClock: what the node checks against its clock, validate checks against the
// host's: an expired CA is refused (the node would not start), an expired pre-issued node
// certificate is a warning (the node starts etcd and warns).
func TestCheckConfigClock(t *testing.T) {
	now := time.Date(2030, 6, 1, 0, 0, 0, 0, time.UTC)
	oldCA, oldKey, err := pki.NewCA("old CA", now.AddDate(-11, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, caKeyPEM, err := pki.NewCA("CA", now.AddDate(-3, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.LoadCA(caPEM, caKeyPEM, now.AddDate(-2, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	key, err := pki.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	nodeCert, err := ca.IssuePeer(pki.Identity{Name: "a"}, key.Public(), now.AddDate(-2, 0, 0)) // one year's validity
	if err != nil {
		t.Fatal(err)
	}
	nodeKey, err := pki.EncodeKey(key)
	if err != nil {
		t.Fatal(err)
	}
	q := func(b []byte) string { return strconv.Quote(string(b)) }
	const cluster = "version: 1\ncluster: {name: c, members: [{name: a, address: 192.0.2.1}]}\n"

	_, _, _, err = config.Check([]byte(cluster+"tls: {ca_cert: "+q(oldCA)+", ca_key: "+q(oldKey)+"}\n"), now)
	var errs *config.Errors
	if !errors.As(err, &errs) || len(errs.Problems) != 1 || errs.Problems[0].Path != "tls.ca_cert" ||
		!strings.Contains(errs.Problems[0].Message, `CA certificate "CN=old CA" expired on 2029-06-01`) {
		t.Errorf("expired CA: err = %v", err)
	}

	_, _, warns, err := config.Check([]byte(cluster+"tls: {ca_cert: "+q(caPEM)+", node_cert: "+q(nodeCert)+", node_key: "+q(nodeKey)+"}\n"), now)
	if err != nil || len(warns) != 1 || warns[0].Path != "tls.node_cert" || !strings.Contains(warns[0].Message, "expired on 2029-06-01: issue a new one (by this host's clock") {
		t.Errorf("expired node certificate: err = %v, warnings %v", err, warns)
	}
	if _, _, warns, err := config.Check([]byte(cluster+"tls: {ca_cert: "+q(caPEM)+", node_cert: "+q(nodeCert)+", node_key: "+q(nodeKey)+"}\n"), now.AddDate(-1, -6, 0)); err != nil || len(warns) != 0 {
		t.Errorf("while valid: err = %v, warnings %v", err, warns)
	}
}

// Package ignitiontest builds the inputs tests hand to a node: Ignition configs carrying the
// appliance config, and SSH public keys.
package ignitiontest

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"net/url"
	"sort"
	"testing"
)

// Config is an Ignition 3.4 config carrying applianceConfig as /etc/etcd-appliance/config.yaml
// (mode 0600; omitted when empty), further inline files (mode 0644) and root's SSH keys.
func Config(t testing.TB, applianceConfig string, files map[string]string, sshKeys ...string) []byte {
	t.Helper()
	type file struct {
		Path     string            `json:"path"`
		Mode     int               `json:"mode"`
		Contents map[string]string `json:"contents"`
	}
	inline := func(s string) map[string]string { return map[string]string{"source": "data:," + url.PathEscape(s)} }
	var fs []file
	if applianceConfig != "" {
		fs = append(fs, file{Path: "/etc/etcd-appliance/config.yaml", Mode: 0o600, Contents: inline(applianceConfig)})
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		fs = append(fs, file{Path: p, Mode: 0o644, Contents: inline(files[p])})
	}
	doc := map[string]any{"ignition": map[string]string{"version": "3.4.0"}, "storage": map[string]any{"files": fs}}
	if len(sshKeys) > 0 {
		doc["passwd"] = map[string]any{"users": []map[string]any{{"name": "root", "sshAuthorizedKeys": sshKeys}}}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// SSHKey is an authorized_keys line for a fresh ed25519 key.
func SSHKey(t testing.TB, comment string) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	var blob []byte
	for _, field := range [][]byte{[]byte("ssh-ed25519"), pub} {
		blob = binary.BigEndian.AppendUint32(blob, uint32(len(field)))
		blob = append(blob, field...)
	}
	return "ssh-ed25519 " + base64.StdEncoding.EncodeToString(blob) + " " + comment
}

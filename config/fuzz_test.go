package config

import (
	"errors"
	"reflect"
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzLoad checks that Load never panics, that every refusal is an *Errors with messages, and
// that an accepted config survives a round trip through YAML unchanged.
func FuzzLoad(f *testing.F) {
	pki := testPKI(f)
	for _, s := range []string{
		"version: 1\n", `{"version": 1}`, "", "---\n", "version: 1\n---\n", "version: 2\n",
		pki.Replace(threeMembers), pki.Replace(threeMembersJSON),
		"version: 1\ncluster: {name: c, members: [{name: a, address: *x}]}\n",
		"version: 1\nssh_authorized_keys: &k [a, *k]\n",
		"version: 1\nrestore: {source: \"s\\x00\", sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08}\n",
	} {
		f.Add([]byte(s))
	}
	f.Add(ignition(f, "3.5.0", map[string]any{"storage": map[string]any{"files": []any{
		applianceFile(base64URL(soloConfig), nil),
		map[string]any{"path": "/etc/x", "contents": map[string]any{"source": gzipURL(f, "x"), "compression": "gzip"}}}}}))
	f.Add(ignition(f, "3.0.0", map[string]any{"systemd": map[string]any{"units": []any{map[string]any{"name": "a.service", "mask": true}}}}))

	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, _, _, err := Load(data)
		if err != nil {
			var errs *Errors
			if !errors.As(err, &errs) || len(errs.Problems) == 0 {
				t.Fatalf("error is not a non-empty *Errors: %#v", err)
			}
			for _, p := range errs.Problems {
				if p.Message == "" {
					t.Fatalf("problem without a message: %+v", p)
				}
			}
			return
		}
		if cfg == nil {
			return // an Ignition config without an appliance config
		}
		out, err := yaml.Marshal(cfg)
		if err != nil {
			t.Fatalf("marshal accepted config: %v", err)
		}
		again, _, err := Parse(out)
		if err != nil {
			t.Fatalf("accepted config does not parse after a round trip: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(cfg, again) {
			t.Fatalf("round trip changed the config:\n%+v\n%+v\n%s", cfg, again, out)
		}
	})
}

package networkd

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/etcd-appliance/appliance/internal/platform"
	"github.com/etcd-appliance/appliance/internal/platform/azure"
	"github.com/etcd-appliance/appliance/internal/platform/digitalocean"
	"github.com/etcd-appliance/appliance/internal/platform/gcp"
	"github.com/etcd-appliance/appliance/internal/platform/hetzner"
	"github.com/etcd-appliance/appliance/internal/platform/nocloud"
	"github.com/etcd-appliance/appliance/internal/platform/openstack"
	"github.com/etcd-appliance/appliance/internal/platform/platformtest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from what Render gives now")

// goldenCases parse every captured metadata fixture that carries network configuration with
// its provider's own parser. Each name is the golden file's: <provider>-<fixture>.
var goldenCases = []struct {
	name  string
	parse func(t *testing.T, dir string) (*platform.Network, error)
}{
	{"nocloud-v1", nocloudSeed("v1")},
	{"nocloud-v2", nocloudSeed("v2")},
	{"nocloud-v1-pnap", nocloudNetworkConfig("v1-pnap")},
	{"nocloud-v2-bonds", nocloudNetworkConfig("v2-bonds")},
	{"openstack-config-drive", func(t *testing.T, dir string) (*platform.Network, error) {
		md, err := openstack.FromConfigDrive(os.DirFS(filepath.Join(dir, "openstack", "config-drive")))
		return network(md, err)
	}},
	{"digitalocean-metadata-v1", func(t *testing.T, dir string) (*platform.Network, error) {
		return network(digitalocean.ParseMetadata(platformtest.Read(t, "digitalocean/metadata-v1.json")))
	}},
	{"hetzner-metadata", func(t *testing.T, dir string) (*platform.Network, error) {
		return network(hetzner.ParseMetadata(platformtest.Read(t, "hetzner/metadata.yaml"), platformtest.Read(t, "hetzner/private-networks.yaml"), nil))
	}},
	{"hetzner-network-config", func(t *testing.T, dir string) (*platform.Network, error) {
		return hetzner.ParseNetworkConfig(platformtest.Read(t, "hetzner/network-config.yaml"))
	}},
	{"gcp-instance", func(t *testing.T, dir string) (*platform.Network, error) {
		// As the gcp tests build it: the instance document with the interfaces inside.
		var instance map[string]json.RawMessage
		if err := json.Unmarshal(platformtest.Read(t, "gcp/instance-metadata.json"), &instance); err != nil {
			t.Fatal(err)
		}
		instance["networkInterfaces"] = platformtest.Read(t, "gcp/network-interfaces.json")
		doc, err := json.Marshal(instance)
		if err != nil {
			t.Fatal(err)
		}
		return network(gcp.ParseInstance(doc, nil, time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)))
	}},
	{"azure-instance", func(t *testing.T, dir string) (*platform.Network, error) {
		// As the azure tests build it: /metadata/instance from its two captured parts.
		doc, err := json.Marshal(map[string]any{
			"compute": json.RawMessage(platformtest.Read(t, "azure/instance-compute.json")),
			"network": map[string]any{"interface": json.RawMessage(platformtest.Read(t, "azure/instance-network-interfaces.json"))},
		})
		if err != nil {
			t.Fatal(err)
		}
		return network(azure.ParseInstance(doc))
	}},
}

func nocloudSeed(fixture string) func(*testing.T, string) (*platform.Network, error) {
	return func(t *testing.T, dir string) (*platform.Network, error) {
		return network(nocloud.FromDir(os.DirFS(filepath.Join(dir, "nocloud", fixture))))
	}
}

func nocloudNetworkConfig(fixture string) func(*testing.T, string) (*platform.Network, error) {
	return func(t *testing.T, dir string) (*platform.Network, error) {
		return network(nocloud.Parse(nil, nil, platformtest.Read(t, "nocloud/"+fixture+"/network-config")))
	}
}

func network(md *platform.Metadata, err error) (*platform.Network, error) {
	if err != nil {
		return nil, err
	}
	return md.Network, nil
}

// TestGolden renders each fixture's network and compares it with
// testdata/<provider>-<fixture>.golden; go test -update rewrites them.
func TestGolden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			n, err := tc.parse(t, platformtest.Dir(t))
			if err != nil {
				t.Fatalf("parsing the fixture: %v", err)
			}
			if n == nil {
				t.Fatal("the fixture has no network configuration: it does not belong here")
			}
			files, err := Render(n)
			if err != nil {
				t.Fatal(err)
			}
			got := concat(files)
			path := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test -update writes it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Render differs from %s (go test -update rewrites it):\n%s", path, got)
			}
		})
	}
}

// TestGoldenFilesHaveCases catches a golden file whose case was renamed or removed.
func TestGoldenFilesHaveCases(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "*.golden"))
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]bool{}
	for _, tc := range goldenCases {
		cases[tc.name+".golden"] = true
	}
	for _, p := range paths {
		if !cases[filepath.Base(p)] {
			t.Errorf("%s has no case in goldenCases", p)
		}
	}
}

// concat joins rendered files for a golden file, each under a "--- name" line.
func concat(files Files) []byte {
	var b bytes.Buffer
	for _, f := range files {
		b.WriteString("--- " + f.Name + "\n")
		b.Write(f.Data)
	}
	return b.Bytes()
}

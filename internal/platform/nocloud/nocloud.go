// Package nocloud reads a NoCloud seed (cloud-init's datasource for a volume labelled
// cidata: Proxmox, libvirt, KubeVirt…): meta-data, user-data and network-config.
// Parse is pure; FromDir reads the files from a mounted seed.
package nocloud

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/etcd-appliance/appliance/internal/platform"
	"github.com/etcd-appliance/appliance/internal/platform/netconf"
)

// Name is the platform name (etcd.platform=nocloud).
const Name = "nocloud"

// SeedLabels are the filesystem labels of a NoCloud seed volume (ISO9660 or vfat).
var SeedLabels = []string{"cidata", "CIDATA"}

// Parse reads the three documents of a seed. userData is passed on untouched (empty means
// none); metaData and networkConfig may be empty. A network-config in cloud-init's v1 or v2
// format becomes Metadata.Network; without one Network is nil (DHCP).
func Parse(userData, metaData, networkConfig []byte) (*platform.Metadata, error) {
	md := &platform.Metadata{Platform: Name}
	if len(userData) > 0 {
		md.UserData = userData
	}
	if err := parseMetaData(metaData, md); err != nil {
		return nil, fmt.Errorf("meta-data: %w", err)
	}
	n, err := parseNetworkConfig(networkConfig)
	if err != nil {
		return nil, fmt.Errorf("network-config: %w", err)
	}
	md.Network = netconf.OrNil(n)
	md.Addresses = netconf.Addresses(md.Network)
	return md, nil
}

// metaData is the part of meta-data the appliance uses; other keys (network-interfaces,
// the legacy ifupdown text, among them) are ignored as cloud-init ignores them.
type metaData struct {
	InstanceID    string `yaml:"instance-id"`
	LocalHostname string `yaml:"local-hostname"`
	Hostname      string `yaml:"hostname"`
	PublicKeys    any    `yaml:"public-keys"`
}

func parseMetaData(b []byte, md *platform.Metadata) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return err
	}
	if len(doc.Content) == 0 { // empty
		return nil
	}
	root := deref(doc.Content[0])
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil
	}
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: want a mapping (instance-id: …, local-hostname: …), not %s", root.Line, kind(root))
	}
	var m metaData
	if err := decode("", root, &m); err != nil {
		return err
	}
	md.InstanceID = strings.TrimSpace(m.InstanceID)
	md.Hostname = strings.TrimSpace(m.LocalHostname)
	if md.Hostname == "" {
		md.Hostname = strings.TrimSpace(m.Hostname)
	}
	keys, err := sshKeys("public-keys", m.PublicKeys, 0)
	if err != nil {
		return err
	}
	md.SSHKeys = netconf.AppendUnique([]string(nil), keys...)
	return nil
}

// sshKeys flattens the forms public-keys takes: one string (one key a line), a list, or a
// map of names to any of these (map keys are visited in sorted order, as YAML maps have
// none that survives decoding).
func sshKeys(path string, v any, depth int) ([]string, error) {
	if depth > 3 {
		return nil, fmt.Errorf("%s: nested too deeply", path)
	}
	var out []string
	switch v := v.(type) {
	case nil:
	case string:
		for _, line := range strings.Split(v, "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				out = append(out, line)
			}
		}
	case []any:
		for i, x := range v {
			k, err := sshKeys(fmt.Sprintf("%s[%d]", path, i), x, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, k...)
		}
	case map[string]any:
		for _, name := range slices.Sorted(maps.Keys(v)) {
			k, err := sshKeys(path+"."+name, v[name], depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, k...)
		}
	case map[any]any: // a map with keys that are not all strings (0: …)
		byName := make(map[string]any, len(v))
		for name, x := range v {
			byName[fmt.Sprint(name)] = x
		}
		return sshKeys(path, byName, depth)
	default:
		return nil, fmt.Errorf("%s: %v is not an SSH public key (want a string, a list or a map of them)", path, v)
	}
	return out, nil
}

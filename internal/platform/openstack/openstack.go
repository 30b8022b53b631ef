// Package openstack reads OpenStack's instance metadata: meta_data.json, network_data.json
// and user_data, from a config drive (a volume labelled config-2) or from the metadata
// service. Parse is pure; FromConfigDrive and FromService fetch.
package openstack

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/etcd-appliance/appliance/internal/platform"
	"github.com/etcd-appliance/appliance/internal/platform/netconf"
)

// Name is the platform name (etcd.platform=openstack).
const Name = "openstack"

// Parse reads the documents of the openstack/latest tree. metaData is required;
// networkData may be empty (no network configuration: DHCP); userData is passed on
// untouched (empty means none). PublicAddresses stays empty: floating IPs are in neither
// meta_data.json nor network_data.json, only in the EC2-style tree (meta-data/public-ipv4),
// which is not read.
func Parse(metaData, networkData, userData []byte) (*platform.Metadata, error) {
	md := &platform.Metadata{Platform: Name}
	if len(userData) > 0 {
		md.UserData = userData
	}
	if err := parseMetaData(metaData, md); err != nil {
		return nil, fmt.Errorf("meta_data.json: %w", err)
	}
	if len(networkData) > 0 {
		n, err := parseNetworkData(networkData)
		if err != nil {
			return nil, fmt.Errorf("network_data.json: %w", err)
		}
		md.Network = netconf.OrNil(n)
		md.Addresses = netconf.Addresses(md.Network)
	}
	return md, nil
}

// metaData is the part of meta_data.json the appliance uses.
type metaData struct {
	UUID       string            `json:"uuid"`
	Hostname   string            `json:"hostname"`
	Name       string            `json:"name"`
	PublicKeys map[string]string `json:"public_keys"`
	Keys       []struct {
		Name string `json:"name"`
		Type string `json:"type"`
		Data string `json:"data"`
	} `json:"keys"`
}

func parseMetaData(b []byte, md *platform.Metadata) error {
	var m metaData
	if err := unmarshal("", b, &m); err != nil {
		return err
	}
	md.InstanceID = strings.TrimSpace(m.UUID)
	md.Hostname = strings.TrimSpace(m.Hostname)
	if md.Hostname == "" {
		md.Hostname = strings.TrimSpace(m.Name)
	}
	// public_keys (name → key) in name order, then keys of type ssh; each key once.
	for _, name := range slices.Sorted(maps.Keys(m.PublicKeys)) {
		md.SSHKeys = appendKey(md.SSHKeys, m.PublicKeys[name])
	}
	for _, k := range m.Keys {
		if k.Type == "" || k.Type == "ssh" {
			md.SSHKeys = appendKey(md.SSHKeys, k.Data)
		}
	}
	return nil
}

func appendKey(keys []string, k string) []string {
	if k = strings.TrimSpace(k); k == "" {
		return keys
	}
	return netconf.AppendUnique(keys, k)
}

// unmarshal is json.Unmarshal with errors that say where: path names the value b holds.
func unmarshal(path string, b []byte, v any) error {
	err := json.Unmarshal(b, v)
	if err == nil {
		return nil
	}
	return &jsonError{path, err}
}

// jsonError turns encoding/json's errors into "field: what is wrong" without Go type names.
type jsonError struct {
	path string
	err  error
}

func (e *jsonError) Error() string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(e.err, &te):
		field := e.path
		if te.Field != "" {
			field = join(e.path, te.Field)
		}
		if field == "" {
			return fmt.Sprintf("a JSON %s where an object belongs", te.Value)
		}
		return fmt.Sprintf("%s: a JSON %s where %s belongs", field, te.Value, jsonKind(te.Type.Kind().String()))
	case errors.As(e.err, &se) && !strings.Contains(se.Error(), "end of JSON input"):
		return fmt.Sprintf("%s at byte %d", se, se.Offset)
	}
	if e.path == "" {
		return e.err.Error()
	}
	return e.path + ": " + e.err.Error()
}

func (e *jsonError) Unwrap() error { return e.err }

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

func jsonKind(goKind string) string {
	switch {
	case strings.HasPrefix(goKind, "int"), strings.HasPrefix(goKind, "uint"), strings.HasPrefix(goKind, "float"):
		return "a number"
	case goKind == "string":
		return "a string"
	case goKind == "bool":
		return "true or false"
	case goKind == "slice", goKind == "array":
		return "a list"
	}
	return "an object"
}

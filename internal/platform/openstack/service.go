package openstack

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/etcd-appliance/appliance/internal/platform"
)

// ServiceURL is the metadata service's address inside an instance.
const ServiceURL = "http://169.254.169.254"

// FromService fetches openstack/latest from the metadata service at base (ServiceURL when
// empty) through g, which retries while the network or the service comes up.
// meta_data.json is required; a 404 for network_data.json or user_data means "none".
func FromService(ctx context.Context, base string, g platform.HTTPGetter) (*platform.Metadata, error) {
	if base == "" {
		base = ServiceURL
	}
	prefix := strings.TrimRight(base, "/") + "/openstack/latest/"
	get := func(name string, optional bool) ([]byte, error) {
		b, err := g.Get(ctx, prefix+name, nil)
		if optional && errors.Is(err, platform.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("openstack metadata service: %s: %w", name, err)
		}
		return b, nil
	}
	metaData, err := get("meta_data.json", false)
	if err != nil {
		return nil, err
	}
	networkData, err := get("network_data.json", true)
	if err != nil {
		return nil, err
	}
	userData, err := get("user_data", true)
	if err != nil {
		return nil, err
	}
	md, err := Parse(metaData, networkData, userData)
	if err != nil {
		return nil, fmt.Errorf("openstack metadata service: %w", err)
	}
	return md, nil
}

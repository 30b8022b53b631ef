package hetzner

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/etcd-appliance/appliance/internal/platform"
)

// DefaultBase is the Hetzner Cloud metadata service.
const DefaultBase = "http://169.254.169.254"

// Fetch reads the metadata, private networks and user-data from the metadata service at base
// and parses them. A 404 for the private networks or the user-data means there are none.
func Fetch(ctx context.Context, base string, g platform.HTTPGetter) (*platform.Metadata, error) {
	metadata, err := g.Get(ctx, base+"/hetzner/v1/metadata", nil)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return nil, fmt.Errorf("hetzner: no metadata server at %s: is this really a Hetzner Cloud server? set etcd.platform= at build: %w", base, err)
		}
		return nil, fmt.Errorf("hetzner: %w", err)
	}
	private, err := optional(g.Get(ctx, base+"/hetzner/v1/metadata/private-networks", nil))
	if err != nil {
		return nil, fmt.Errorf("hetzner: %w", err)
	}
	userData, err := optional(g.Get(ctx, base+"/hetzner/v1/userdata", nil))
	if err != nil {
		return nil, fmt.Errorf("hetzner: %w", err)
	}
	md, err := ParseMetadata(metadata, private, userData)
	if err != nil {
		return nil, fmt.Errorf("hetzner: %s: %w", base, err)
	}
	return md, nil
}

// optional turns "not found" into no document.
func optional(body []byte, err error) ([]byte, error) {
	if errors.Is(err, platform.ErrNotFound) {
		return nil, nil
	}
	return body, err
}

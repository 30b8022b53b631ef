package digitalocean

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/etcd-appliance/appliance/internal/platform"
)

// DefaultBase is the DigitalOcean metadata service.
const DefaultBase = "http://169.254.169.254"

// Fetch reads /metadata/v1.json from the metadata service at base and parses it.
func Fetch(ctx context.Context, base string, g platform.HTTPGetter) (*platform.Metadata, error) {
	u := base + "/metadata/v1.json"
	body, err := g.Get(ctx, u, nil)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return nil, fmt.Errorf("digitalocean: no metadata server at %s: is this really a DigitalOcean Droplet? set etcd.platform= at build: %w", base, err)
		}
		return nil, fmt.Errorf("digitalocean: %w", err)
	}
	md, err := ParseMetadata(body)
	if err != nil {
		return nil, fmt.Errorf("digitalocean: %s: %w", base, err)
	}
	return md, nil
}

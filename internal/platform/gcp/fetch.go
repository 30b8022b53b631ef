package gcp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/etcd-appliance/appliance/internal/platform"
)

// DefaultBase is the GCE metadata server by address: metadata.google.internal resolves to it,
// but DNS may not be up yet when the node agent first runs.
const DefaultBase = "http://169.254.169.254"

const (
	flavorHeader = "Metadata-Flavor"
	flavor       = "Google"
)

// Fetch reads the instance document and the project's ssh-keys from the metadata server at
// base and parses them. Every request carries Metadata-Flavor: Google, and every answer must
// carry it back, or it is not trusted to come from the metadata server.
func Fetch(ctx context.Context, base string, g platform.HTTPGetter) (*platform.Metadata, error) {
	g.Check = func(resp *http.Response) error {
		if resp.Header.Get(flavorHeader) != flavor {
			return fmt.Errorf("the answer lacks %s: %s, so it is not from a GCE metadata server", flavorHeader, flavor)
		}
		return nil
	}
	instance, err := get(ctx, g, base+"/computeMetadata/v1/instance/?recursive=true")
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return nil, fmt.Errorf("gcp: no metadata server at %s: is this really a GCP instance? set etcd.platform= at build: %w", base, err)
		}
		return nil, fmt.Errorf("gcp: %w", err)
	}
	project, err := get(ctx, g, base+"/computeMetadata/v1/project/attributes/ssh-keys")
	if errors.Is(err, platform.ErrNotFound) {
		project, err = nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("gcp: %w", err)
	}
	md, err := ParseInstance(instance, project, time.Now())
	if err != nil {
		return nil, fmt.Errorf("gcp: %s: %w", base, err)
	}
	return md, nil
}

func get(ctx context.Context, g platform.HTTPGetter, u string) ([]byte, error) {
	return g.Get(ctx, u, http.Header{flavorHeader: {flavor}})
}

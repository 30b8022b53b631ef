package azure

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/etcd-appliance/appliance/internal/platform"
)

const (
	// DefaultBase is the Azure IMDS endpoint.
	DefaultBase = "http://169.254.169.254"
	// APIVersion is the IMDS API version asked for: the first with compute.userData is
	// 2021-01-01.
	APIVersion = "2021-02-01"
)

// Fetch reads /metadata/instance from the IMDS at base, with the Metadata: true header IMDS
// requires, and parses it. IMDS answers 410 Gone while it is not ready after a VM starts and
// documents retrying it for up to 70 s: it is retried like a 5xx here.
func Fetch(ctx context.Context, base string, g platform.HTTPGetter) (*platform.Metadata, error) {
	u := base + "/metadata/instance?api-version=" + APIVersion
	g.RetryStatus = append(g.RetryStatus[:len(g.RetryStatus):len(g.RetryStatus)], http.StatusGone)
	body, err := g.Get(ctx, u, http.Header{"Metadata": {"true"}})
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return nil, fmt.Errorf("azure: no metadata server at %s: is this really an Azure VM? set etcd.platform= at build: %w", base, err)
		}
		return nil, fmt.Errorf("azure: %w", err)
	}
	md, err := ParseInstance(body)
	if err != nil {
		return nil, fmt.Errorf("azure: %s: %w", u, err)
	}
	return md, nil
}

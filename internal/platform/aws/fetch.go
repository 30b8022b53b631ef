package aws

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/etcd-appliance/appliance/internal/platform"
)

const (
	// DefaultBase is the IMDS endpoint every EC2 instance can reach over IPv4.
	DefaultBase = "http://169.254.169.254"
	// BaseIPv6 is the IMDS endpoint AWS documents for Nitro-based instances in subnets with
	// IPv6, reachable only when the instance's metadata options enable it
	// (HttpProtocolIpv6=enabled; it is off by default). It matters on IPv6-only subnets, where
	// an instance has no IPv4 address and DefaultBase cannot be reached: FetchAny falls back to
	// it only then.
	BaseIPv6 = "http://[fd00:ec2::254]"

	tokenPath   = "/latest/api/token"
	tokenTTL    = 21600 // seconds: the longest AWS allows
	ttlHeader   = "X-Aws-Ec2-Metadata-Token-Ttl-Seconds"
	tokenHeader = "X-Aws-Ec2-Metadata-Token"
)

// Fetch reads the instance's metadata from the IMDS at base (DefaultBase or BaseIPv6, or a
// test server) with IMDSv2 and parses it. Absent user-data is nil UserData, not an error.
func Fetch(ctx context.Context, base string, g platform.HTTPGetter) (*platform.Metadata, error) {
	c := newIMDS(base, g)
	d, err := c.documents(ctx)
	if err != nil {
		var ue *url.Error
		if c.token == "" && errors.As(err, &ue) {
			return nil, &unreachableError{base: base, err: err}
		}
		return nil, fmt.Errorf("aws: %w", err)
	}
	md, err := Parse(d)
	if err != nil {
		return nil, fmt.Errorf("aws: %s: %w", base, err)
	}
	return md, nil
}

// FetchAny is Fetch from DefaultBase, then from BaseIPv6 if and only if DefaultBase could not
// be reached at all (no HTTP answer after g's retries), as on an IPv6-only subnet. An HTTP
// error from DefaultBase is returned as it is: a service that answers is the one to use.
func FetchAny(ctx context.Context, g platform.HTTPGetter) (*platform.Metadata, error) {
	return fetchAny(ctx, g, DefaultBase, BaseIPv6)
}

func fetchAny(ctx context.Context, g platform.HTTPGetter, v4, v6 string) (*platform.Metadata, error) {
	md, err := Fetch(ctx, v4, g)
	var ue *unreachableError
	if err == nil || !errors.As(err, &ue) || ctx.Err() != nil {
		return md, err
	}
	md, err6 := Fetch(ctx, v6, g)
	if err6 != nil {
		return nil, fmt.Errorf("%w; and over IPv6 (Nitro instances with HttpProtocolIpv6 enabled only): %w", err, err6)
	}
	return md, nil
}

// unreachableError means no HTTP answer came from the endpoint at all (after the getter's
// retries): there is no metadata server there.
type unreachableError struct {
	base string
	err  error
}

func (e *unreachableError) Error() string {
	return fmt.Sprintf("aws: no metadata server at %s: is this really an AWS instance? set etcd.platform= at build: %v", e.base, e.err)
}

func (e *unreachableError) Unwrap() error { return e.err }

// imds is one IMDSv2 session against one endpoint.
type imds struct {
	base  string
	g     platform.HTTPGetter
	token string
}

func newIMDS(base string, g platform.HTTPGetter) *imds {
	return &imds{base: base, g: g}
}

func (c *imds) documents(ctx context.Context) (Documents, error) {
	var d Documents
	if err := c.newToken(ctx); err != nil {
		return d, err
	}
	items := []struct {
		path     string
		dst      *string
		optional bool
	}{
		{"meta-data/instance-id", &d.InstanceID, false},
		{"meta-data/local-hostname", &d.LocalHostname, false},
		{"meta-data/local-ipv4", &d.LocalIPv4, true},
		{"meta-data/ipv6", &d.IPv6, true},
		{"meta-data/public-ipv4", &d.PublicIPv4, true},
	}
	for _, it := range items {
		b, err := c.get(ctx, it.path, it.optional)
		if err != nil {
			return d, err
		}
		*it.dst = string(b)
	}
	list, err := c.get(ctx, "meta-data/public-keys/", true)
	if err != nil {
		return d, err
	}
	idx, err := parseKeyList(list)
	if err != nil {
		return d, err
	}
	for _, i := range idx {
		k, err := c.get(ctx, "meta-data/public-keys/"+strconv.Itoa(i)+"/openssh-key", false)
		if err != nil {
			return d, err
		}
		d.PublicKeys = append(d.PublicKeys, string(k))
	}
	if d.UserData, err = c.get(ctx, "user-data", true); err != nil {
		return d, err
	}
	return d, nil
}

// newToken starts an IMDSv2 session.
func (c *imds) newToken(ctx context.Context) error {
	u := c.base + tokenPath
	body, err := c.g.Do(ctx, func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set(ttlHeader, strconv.Itoa(tokenTTL))
		return req, nil
	})
	switch {
	case platform.StatusCode(err) == http.StatusForbidden:
		return fmt.Errorf("%w: the instance metadata service refused an IMDSv2 session token: "+
			"it is turned off for this instance (enable it: aws ec2 modify-instance-metadata-options "+
			"--http-endpoint enabled --http-tokens required); the appliance never falls back to IMDSv1", err)
	case platform.StatusCode(err) == http.StatusMethodNotAllowed:
		return fmt.Errorf("%w: this metadata server does not offer IMDSv2 session tokens; "+
			"the appliance requires IMDSv2 and never uses IMDSv1", err)
	case err != nil:
		return fmt.Errorf("IMDSv2 token: %w", err)
	case len(body) == 0:
		return fmt.Errorf("PUT %s: empty IMDSv2 token", u)
	}
	c.token = string(body)
	return nil
}

// get reads base/latest/path with the session token. A 401 means the token expired: a new
// one is obtained and the GET is tried once more. With optional, 404 is (nil, nil).
func (c *imds) get(ctx context.Context, path string, optional bool) ([]byte, error) {
	u := c.base + "/latest/" + path
	for retoken := true; ; retoken = false {
		token := c.token
		body, err := c.g.Do(ctx, func(ctx context.Context) (*http.Request, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			if err != nil {
				return nil, err
			}
			req.Header.Set(tokenHeader, token)
			return req, nil
		})
		switch {
		case err == nil:
			return body, nil
		case optional && errors.Is(err, platform.ErrNotFound):
			return nil, nil
		case retoken && platform.StatusCode(err) == http.StatusUnauthorized:
			if err := c.newToken(ctx); err != nil {
				return nil, fmt.Errorf("renewing the IMDSv2 token after %s answered 401: %w", u, err)
			}
			continue
		}
		return nil, err
	}
}

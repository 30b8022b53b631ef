package metal

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	getter "github.com/hashicorp/go-getter/v2"
)

// forcedGetter is go-getter's "getter::url" syntax (git::https://…, s3::…).
var forcedGetter = regexp.MustCompile(`^([A-Za-z0-9]+)::`)

// CheckURL vets an etcd.config.url= value without fetching it: an absolute http, https or file
// URL, and a well-formed checksum= query if there is one; an http URL must have an inline
// sha256 or sha512 one. It is pure, so a build can refuse a
// bad kernel argument before any machine boots.
func CheckURL(raw string) error {
	if raw == "" {
		return fmt.Errorf("%s= is empty: give the URL of the cluster config, e.g. %s=https://host/config.yaml", KernelArg, KernelArg)
	}
	if m := forcedGetter.FindStringSubmatch(raw); m != nil {
		return fmt.Errorf("%s=%s: the %q:: getter is not supported: use a plain http://, https:// or file:/// URL", KernelArg, redact(raw), m[1])
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%s=%s: not a URL: %w", KernelArg, redact(raw), err)
	}
	switch u.Scheme {
	case "http", "https":
		if u.Host == "" {
			return fmt.Errorf("%s=%s: no host in the URL: write %s://host/path", KernelArg, redact(raw), u.Scheme)
		}
	case "file":
		if u.Host != "" && u.Host != "localhost" || u.Path == "" {
			return fmt.Errorf("%s=%s: a file URL needs an absolute path: write file:///path/to/config.yaml", KernelArg, redact(raw))
		}
	case "":
		return fmt.Errorf("%s=%s: no scheme: write http://, https:// or file:/// before the location", KernelArg, redact(raw))
	default:
		return fmt.Errorf("%s=%s: scheme %q is not supported: use http, https or file", KernelArg, redact(raw), u.Scheme)
	}
	v := u.Query().Get("checksum")
	// plain http is only as good as the checksum that checks what arrives: one in the URL
	// itself, of a hash nobody can forge (not md5 or sha1, not a checksum file fetched the
	// same unauthenticated way). etcd.config.ca_sha256= pins https only, so it does not count.
	plainHTTP := u.Scheme == "http"
	if v == "" || strings.HasPrefix(v, "file:") {
		if plainHTTP {
			return fmt.Errorf("%s=%s: plain http without a checksum: anyone on the path could change the config (and its CA key); add ?checksum=sha256:<64 hex digits> (sha256sum prints them) to the URL, or use https", KernelArg, redact(raw))
		}
		return nil // no checksum, or one in a file fetched at boot
	}
	// Parsing an inline checksum does no I/O.
	c, err := (&getter.Client{}).GetChecksum(context.Background(), &getter.Request{Src: raw})
	if err == nil && len(c.Value) != c.Hash.Size() {
		err = fmt.Errorf("%s wants %d hex digits, got %d", c.Type, 2*c.Hash.Size(), 2*len(c.Value))
	}
	if err != nil {
		return fmt.Errorf("%s=%s: bad checksum=%s: %v: write checksum=sha256:<64 hex digits>", KernelArg, redact(raw), v, err)
	}
	if plainHTTP && c.Type != "sha256" && c.Type != "sha512" {
		return fmt.Errorf("%s=%s: plain http with a %s checksum, which can be forged: use checksum=sha256:<64 hex digits>, or https", KernelArg, redact(raw), c.Type)
	}
	return nil
}

// checksumType is the algorithm a URL's inline checksum names ("sha256"), or "" when unknown.
func checksumType(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	v := u.Query().Get("checksum")
	if t, _, ok := strings.Cut(v, ":"); ok && t != "file" {
		return strings.ToLower(t)
	}
	return ""
}

// redact hides a password in the URL, for messages on the console.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	return u.Redacted()
}

// Package objstore reaches the object stores backups go to: S3 and the stores that speak its
// protocol (s3://bucket/prefix), and Azure Blob Storage (azblob://container/prefix). Keys are
// relative to the URL's prefix; metadata names are lower case.
package objstore

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Access is how to reach a store and with which credentials.
type Access struct {
	// URL is s3://bucket/prefix or azblob://container/prefix.
	URL string
	// Endpoint is the store's base URL: empty for AWS S3 (the region's endpoint); required for
	// azblob (https://ACCOUNT.blob.core.windows.net).
	Endpoint  string
	PathStyle bool   // S3 path-style requests (MinIO, Ceph and most stores other than AWS)
	Region    string // S3 region; empty: us-east-1
	// Static credentials. S3: access key ID and secret (and an optional session token).
	// azblob: SecretAccessKey is the storage account key (base64); AccessKeyID is unused.
	AccessKeyID, SecretAccessKey, SessionToken string
	// Platform is the cloud the node runs on. With no static keys, "aws" takes the instance
	// role's credentials through IMDSv2 and "azure" the managed identity's token.
	Platform string
	// HTTPClient carries the trust roots and proxy; nil: http.DefaultClient. Only its
	// Transport is used: a Timeout would cut off long transfers, which contexts bound instead.
	HTTPClient *http.Client
}

// Object is a stored object.
type Object struct {
	Key      string // relative to the URL's prefix
	Size     int64
	Modified time.Time
	Meta     map[string]string // user metadata, lower-case names; List leaves it nil
}

// Store is a bucket (or container) and prefix.
type Store interface {
	// Put stores r under key; size -1 when unknown.
	Put(ctx context.Context, key string, r io.Reader, size int64, meta map[string]string) error
	Get(ctx context.Context, key string) (io.ReadCloser, Object, error)
	Stat(ctx context.Context, key string) (Object, error)
	// List is every object under the prefix, sorted by key, without metadata.
	List(ctx context.Context) ([]Object, error)
	Delete(ctx context.Context, key string) error
	// String is the URL.
	String() string
}

const expectedURL = "expected s3://bucket/prefix or azblob://container/prefix"

// Open checks a's URL and endpoint and returns the store they name. It makes no request: a
// wrong key or an unreachable endpoint shows in the first operation.
func Open(a Access) (Store, error) {
	scheme, bucket, prefix, err := ParseURL(a.URL)
	if err != nil {
		return nil, err
	}
	if scheme == "s3" {
		return newS3(a, bucket, prefix)
	}
	return newAzblob(a, bucket, prefix)
}

// ParseURL splits s3://bucket/prefix or azblob://container/prefix. The prefix comes back
// without leading or trailing slashes, empty for the bucket's root.
func ParseURL(s string) (scheme, bucket, prefix string, err error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", "", "", fmt.Errorf("%q is not a URL: %s", s, expectedURL)
	}
	switch {
	case u.Scheme == "":
		return "", "", "", fmt.Errorf("%q has no scheme: %s", s, expectedURL)
	case u.Scheme != "s3" && u.Scheme != "azblob":
		return "", "", "", fmt.Errorf("scheme %q is not supported: %s", u.Scheme, expectedURL)
	case u.Opaque != "" || u.Host == "":
		return "", "", "", fmt.Errorf("%q names no bucket or container: %s", s, expectedURL)
	case u.User != nil || u.Port() != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		// Credentials or options in the URL would end up in logs and object names.
		return "", "", "", fmt.Errorf("%q has more than a bucket and a prefix: %s", s, expectedURL)
	}
	if u.Scheme == "s3" {
		err = checkBucket(u.Host)
	} else {
		err = checkContainer(u.Host)
	}
	if err != nil {
		return "", "", "", err
	}
	prefix = strings.TrimSuffix(strings.TrimPrefix(u.Path, "/"), "/")
	if prefix != "" && !cleanPath(prefix) {
		return "", "", "", fmt.Errorf("prefix %q has an empty, \".\" or \"..\" segment", prefix)
	}
	return u.Scheme, u.Host, prefix, nil
}

// checkBucket applies AWS's rules for new buckets, which other S3 stores follow by default.
func checkBucket(b string) error {
	ok := len(b) >= 3 && len(b) <= 63 && alnum(b[0]) && alnum(b[len(b)-1]) && !strings.Contains(b, "..")
	for i := 0; ok && i < len(b); i++ {
		ok = alnum(b[i]) || b[i] == '-' || b[i] == '.'
	}
	if !ok {
		return fmt.Errorf("bucket name %q is not valid: 3 to 63 lower-case letters, digits, '.' and '-', starting and ending with a letter or digit", b)
	}
	return nil
}

// checkContainer applies Azure's rules for container names.
func checkContainer(c string) error {
	ok := len(c) >= 3 && len(c) <= 63 && alnum(c[0]) && alnum(c[len(c)-1]) && !strings.Contains(c, "--")
	for i := 0; ok && i < len(c); i++ {
		ok = alnum(c[i]) || c[i] == '-'
	}
	if !ok {
		return fmt.Errorf("container name %q is not valid: 3 to 63 lower-case letters, digits and single '-', starting and ending with a letter or digit", c)
	}
	return nil
}

func alnum(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }

// cleanPath is whether p is slash-separated segments with none empty, "." or "..": such
// segments mean different objects to different stores and tools.
func cleanPath(p string) bool {
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// location is what both stores share: the URL's parts and the mapping of keys to names.
type location struct {
	scheme, bucket, prefix string
}

func (l location) String() string {
	if l.prefix == "" {
		return l.scheme + "://" + l.bucket
	}
	return l.scheme + "://" + l.bucket + "/" + l.prefix
}

// name is key's full object name in the bucket.
func (l location) name(key string) string {
	if l.prefix == "" {
		return key
	}
	return l.prefix + "/" + key
}

// listPrefix is what every name under the prefix starts with.
func (l location) listPrefix() string {
	if l.prefix == "" {
		return ""
	}
	return l.prefix + "/"
}

// checkKey refuses keys that would escape or blur the prefix.
func (l location) checkKey(op, key string) error {
	if key == "" || !cleanPath(key) {
		return &opError{url: l.String() + "/" + key, op: op, err: fmt.Errorf("key %q is not a clean relative path", key)}
	}
	return nil
}

// checkMeta keeps metadata to what both stores carry unchanged: Azure takes only names that
// are C# identifiers, and both send values as HTTP header text.
func checkMeta(meta map[string]string) error {
	for k, v := range meta {
		ok := k != "" && !('0' <= k[0] && k[0] <= '9')
		for i := 0; ok && i < len(k); i++ {
			ok = alnum(k[i]) || k[i] == '_'
		}
		if !ok {
			return fmt.Errorf("metadata name %q is not valid: lower-case letters, digits and '_', not starting with a digit", k)
		}
		for i := 0; i < len(v); i++ {
			if v[i] < 0x20 || v[i] > 0x7e {
				return fmt.Errorf("metadata %s: value has a byte other than printable ASCII", k)
			}
		}
		// HTTP drops spaces at the ends, and Azure's signature folds runs of them.
		if strings.TrimSpace(v) != v || strings.Contains(v, "  ") {
			return fmt.Errorf("metadata %s: value has leading, trailing or repeated spaces", k)
		}
	}
	return nil
}

// metadataClient reaches the cloud's instance metadata service: directly, whatever proxy the
// stores are reached through, since a proxy cannot reach the link-local address.
var metadataClient = &http.Client{
	Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
	Timeout:   30 * time.Second,
}

// readCloser adds the operation's context to errors met while reading a body.
type readCloser struct {
	io.ReadCloser
	wrap func(error) error
}

func (r *readCloser) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		err = r.wrap(err)
	}
	return n, err
}

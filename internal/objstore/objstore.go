// Package objstore reaches the object stores backups go to: S3 and the stores that speak its
// protocol (s3://bucket/prefix), and Azure Blob Storage (azblob://container/prefix). Keys are
// relative to the URL's prefix; metadata names are lower case.
package objstore

import (
	"context"
	"io"
	"net/http"
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
	// HTTPClient carries the trust roots and proxy; nil: http.DefaultClient.
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

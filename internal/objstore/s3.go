package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// s3PartSize is the multipart part size, and so the one buffer minio-go holds while it
// uploads a stream of unknown size. Its own choice for unknown sizes is about 537 MiB (to
// reach 5 TiB in S3's 10,000 parts); 16 MiB parts still reach 156 GiB, far past etcd's 8 GiB
// database limit, and each one is a request small enough to retry.
const s3PartSize = 16 << 20

// awsIMDS is the instance metadata endpoint; empty for minio-go's default. Tests move it.
var awsIMDS = ""

type s3Store struct {
	location
	c *minio.Client
}

func newS3(a Access, bucket, prefix string) (Store, error) {
	endpoint, opts, err := s3Options(a)
	if err != nil {
		return nil, err
	}
	c, err := minio.New(endpoint, opts)
	if err != nil {
		return nil, fmt.Errorf("s3 client for %s: %w", endpoint, err)
	}
	// minio-go picks AWS's dual-stack names by default; the plain regional ones are what AWS's
	// own tools use and what VPC endpoints and firewall rules are written for.
	c.SetS3EnableDualstack(false)
	return &s3Store{location: location{"s3", bucket, prefix}, c: c}, nil
}

// s3Options is minio-go's endpoint (host:port) and options for a.
func s3Options(a Access) (string, *minio.Options, error) {
	region := a.Region
	if region == "" {
		region = "us-east-1"
	}
	// A known region spares minio-go a GetBucketLocation request, which a key limited to
	// objects may not be allowed to make.
	opts := &minio.Options{Region: region, Secure: true, BucketLookup: minio.BucketLookupAuto}
	endpoint := "s3.amazonaws.com" // minio-go turns it into the region's endpoint
	if a.Endpoint != "" {
		u, err := url.Parse(a.Endpoint)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
			strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" {
			return "", nil, fmt.Errorf("endpoint %q is not valid: expected https://host[:port] or http://host[:port]", a.Endpoint)
		}
		endpoint, opts.Secure = u.Host, u.Scheme == "https"
	}
	if a.PathStyle {
		opts.BucketLookup = minio.BucketLookupPath
	}
	switch {
	case a.AccessKeyID != "" && a.SecretAccessKey != "":
		opts.Creds = credentials.NewStaticV4(a.AccessKeyID, a.SecretAccessKey, a.SessionToken)
	case a.AccessKeyID != "" || a.SecretAccessKey != "":
		return "", nil, errors.New("incomplete credentials: give both access_key_id and secret_access_key")
	case a.Platform == "aws":
		// minio-go's IAM provider asks IMDSv2 for a session token first (PUT /latest/api/token)
		// and sends it with both metadata GETs; it refreshes the role's keys before they expire.
		opts.Creds = credentials.New(&credentials.IAM{Client: metadataClient, Endpoint: awsIMDS})
	default:
		return "", nil, errors.New("no credentials: give access_key_id and secret_access_key, or run on AWS with an instance role")
	}
	opts.Transport = http.DefaultTransport
	if a.HTTPClient != nil && a.HTTPClient.Transport != nil {
		opts.Transport = a.HTTPClient.Transport
	}
	return endpoint, opts, nil
}

// fail wraps err, if any, with the object's URL and what minio-go knows of the response.
func (s *s3Store) fail(op, key string, err error) error {
	if err == nil {
		return nil
	}
	u := s.String()
	if key != "" {
		u += "/" + key
	}
	resp := minio.ToErrorResponse(err)
	return &opError{url: u, op: op, status: resp.StatusCode, code: resp.Code, err: err}
}

func (s *s3Store) Put(ctx context.Context, key string, r io.Reader, size int64, meta map[string]string) error {
	if err := s.checkKey("put", key); err != nil {
		return err
	}
	if err := checkMeta(meta); err != nil {
		return s.fail("put", key, err)
	}
	_, err := s.c.PutObject(ctx, s.bucket, s.name(key), r, size, minio.PutObjectOptions{
		UserMetadata: meta,
		ContentType:  "application/octet-stream",
		PartSize:     s3PartSize,
	})
	return s.fail("put", key, err)
}

func (s *s3Store) Get(ctx context.Context, key string) (io.ReadCloser, Object, error) {
	if err := s.checkKey("get", key); err != nil {
		return nil, Object{}, err
	}
	// Core's GetObject is one GET with its headers; Client's sends a HEAD first, which
	// cannot tell a missing bucket from a missing key, and a GET on the first Read.
	body, info, _, err := minio.Core{Client: s.c}.GetObject(ctx, s.bucket, s.name(key), minio.GetObjectOptions{})
	if err != nil {
		return nil, Object{}, s.fail("get", key, err)
	}
	rc := &readCloser{ReadCloser: body, wrap: func(err error) error { return s.fail("get", key, err) }}
	return rc, s3Object(key, info), nil
}

func (s *s3Store) Stat(ctx context.Context, key string) (Object, error) {
	if err := s.checkKey("stat", key); err != nil {
		return Object{}, err
	}
	info, err := s.c.StatObject(ctx, s.bucket, s.name(key), minio.StatObjectOptions{})
	if err != nil {
		return Object{}, s.fail("stat", key, err)
	}
	return s3Object(key, info), nil
}

func s3Object(key string, info minio.ObjectInfo) Object {
	meta := make(map[string]string, len(info.UserMetadata))
	for k, v := range info.UserMetadata {
		meta[strings.ToLower(k)] = v
	}
	return Object{Key: key, Size: info.Size, Modified: info.LastModified, Meta: meta}
}

func (s *s3Store) List(ctx context.Context) ([]Object, error) {
	// Cancelling on return stops minio-go's listing when an error ends the loop early.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lp := s.listPrefix()
	var objs []Object
	for info := range s.c.ListObjectsIter(ctx, s.bucket, minio.ListObjectsOptions{Prefix: lp, Recursive: true}) {
		if info.Err != nil {
			return nil, s.fail("list", "", info.Err)
		}
		key := strings.TrimPrefix(info.Key, lp)
		// Consoles make "folder/" placeholders; they are not objects anyone put here.
		if key == "" || strings.HasSuffix(key, "/") {
			continue
		}
		objs = append(objs, Object{Key: key, Size: info.Size, Modified: info.LastModified})
	}
	sort.Slice(objs, func(i, j int) bool { return objs[i].Key < objs[j].Key })
	return objs, nil
}

// Delete removes key; S3 answers a missing key with success, and so does Delete.
func (s *s3Store) Delete(ctx context.Context, key string) error {
	if err := s.checkKey("delete", key); err != nil {
		return err
	}
	return s.fail("delete", key, s.c.RemoveObject(ctx, s.bucket, s.name(key), minio.RemoveObjectOptions{}))
}

package objstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

// newTestS3 serves fake over TLS and opens url on it with the given key ID, path-style.
func newTestS3(t *testing.T, fake *fakeS3, url, keyID string) Store {
	t.Helper()
	srv := httptest.NewTLSServer(fake)
	t.Cleanup(srv.Close)
	_, bucket, prefix, err := ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	st, err := newS3(Access{
		URL: url, Endpoint: srv.URL, PathStyle: true,
		AccessKeyID: keyID, SecretAccessKey: "secret",
		HTTPClient: srv.Client(),
	}, bucket, prefix)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{1})
	r.Read(b)
	return b
}

// onlyReader hides everything but Read, as a pipe or a compressor would.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func TestS3PutGetStatListDelete(t *testing.T) {
	ctx := context.Background()
	fake := newFakeS3("bucket", "AKID", "")
	st := newTestS3(t, fake, "s3://bucket/etcd/prod", "AKID")
	if st.String() != "s3://bucket/etcd/prod" {
		t.Errorf("String() = %q", st.String())
	}

	meta := map[string]string{"revision": "1234", "etcd_version": "3.6.16", "node": "etcd 1"}
	data := []byte("snapshot bytes")
	if err := st.Put(ctx, "2024/a.db", bytes.NewReader(data), int64(len(data)), meta); err != nil {
		t.Fatal(err)
	}
	if o, ok := fake.object("etcd/prod/2024/a.db"); !ok || !bytes.Equal(o.data, data) {
		t.Fatalf("the store has %q, %v under etcd/prod/2024/a.db", o.data, ok)
	}

	rc, obj, err := st.Get(ctx, "2024/a.db")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get read %q, %v", got, err)
	}
	if obj.Key != "2024/a.db" || obj.Size != int64(len(data)) || !reflect.DeepEqual(obj.Meta, meta) ||
		time.Since(obj.Modified) > time.Minute {
		t.Errorf("Get's object = %+v", obj)
	}
	stat, err := st.Stat(ctx, "2024/a.db")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(stat, obj) {
		t.Errorf("Stat = %+v, Get said %+v", stat, obj)
	}

	// Names outside the prefix, one that only starts like it, and a console's folder
	// placeholder: none is listed.
	for _, n := range []string{"etcd/prod/b.db", "etcd/prod/0.db", "etcd/prod/", "etcd/prod/sub/", "etcd/production/x", "etcd/x", "other"} {
		fake.put(n, []byte(n))
	}
	objs, err := st.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range objs {
		keys = append(keys, o.Key)
		if o.Meta != nil || o.Modified.IsZero() {
			t.Errorf("listed %+v", o)
		}
	}
	if want := []string{"0.db", "2024/a.db", "b.db"}; !reflect.DeepEqual(keys, want) {
		t.Errorf("List = %q, want %q", keys, want)
	}
	if objs[2].Size != int64(len("etcd/prod/b.db")) {
		t.Errorf("b.db's size = %d", objs[2].Size)
	}

	if err := st.Delete(ctx, "2024/a.db"); err != nil {
		t.Fatal(err)
	}
	if _, ok := fake.object("etcd/prod/2024/a.db"); ok {
		t.Error("Delete left the object")
	}
	if err := st.Delete(ctx, "2024/a.db"); err != nil {
		t.Errorf("deleting a missing key: %v", err)
	}

	// With no prefix, keys are names in the bucket.
	root := newTestS3(t, fake, "s3://bucket", "AKID")
	if err := root.Put(ctx, "top.db", strings.NewReader("x"), 1, nil); err != nil {
		t.Fatal(err)
	}
	if _, ok := fake.object("top.db"); !ok {
		t.Error("top.db is not at the bucket's root")
	}
	all, err := root.List(ctx)
	if err != nil || len(all) != 6 || all[0].Key != "etcd/prod/0.db" {
		t.Errorf("List from the root = %+v, %v", all, err)
	}
}

func TestS3Multipart(t *testing.T) {
	size := s3PartSize + 1<<20 + 17
	data := randomBytes(size)
	for _, c := range []struct {
		name string
		r    io.Reader
		size int64
	}{
		{"stream", onlyReader{bytes.NewReader(data)}, -1},
		{"known size", bytes.NewReader(data), int64(size)},
		{"known size, reader only", onlyReader{bytes.NewReader(data)}, int64(size)},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			fake := newFakeS3("bucket", "AKID", "")
			st := newTestS3(t, fake, "s3://bucket/p", "AKID")
			meta := map[string]string{"revision": "99"}
			if err := st.Put(ctx, "big.db", c.r, c.size, meta); err != nil {
				t.Fatal(err)
			}
			if n := fake.parts["p/big.db"]; n != 2 {
				t.Errorf("%d parts, want 2", n)
			}
			rc, obj, err := st.Get(ctx, "big.db")
			if err != nil {
				t.Fatal(err)
			}
			h := sha256.New()
			n, err := io.Copy(h, rc)
			rc.Close()
			if err != nil || n != int64(size) || !bytes.Equal(h.Sum(nil), sha256Of(data)) {
				t.Errorf("read back %d bytes, %v; same: %v", n, err, bytes.Equal(h.Sum(nil), sha256Of(data)))
			}
			if obj.Size != int64(size) || obj.Meta["revision"] != "99" {
				t.Errorf("object = %+v", obj)
			}
		})
	}
}

func sha256Of(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

func TestS3Errors(t *testing.T) {
	ctx := context.Background()
	fake := newFakeS3("bucket", "AKID", "")

	wrong := newTestS3(t, fake, "s3://bucket/prefix", "WRONG")
	err := wrong.Put(ctx, "x.db", strings.NewReader("x"), 1, nil)
	if !IsAuth(err) || IsNotFound(err) {
		t.Errorf("wrong key: IsAuth %v, IsNotFound %v: %v", IsAuth(err), IsNotFound(err), err)
	}
	if want := "s3://bucket/prefix/x.db: put: The AWS Access Key Id you provided does not exist in our records."; err == nil || err.Error() != want {
		t.Errorf("wrong key: %v\nwant %s", err, want)
	}
	for name, err := range map[string]error{
		"stat": func() error { _, err := wrong.Stat(ctx, "x.db"); return err }(),
		"list": func() error { _, err := wrong.List(ctx); return err }(),
	} {
		if !IsAuth(err) {
			t.Errorf("wrong key, %s: not an auth error: %v", name, err)
		}
	}

	st := newTestS3(t, fake, "s3://bucket/prefix", "AKID")
	_, err = st.Stat(ctx, "missing.db")
	if !IsNotFound(err) || IsAuth(err) || !strings.HasPrefix(err.Error(), "s3://bucket/prefix/missing.db: stat: ") {
		t.Errorf("Stat of a missing key: %v", err)
	}
	_, _, err = st.Get(ctx, "missing.db")
	if !IsNotFound(err) || !strings.HasPrefix(err.Error(), "s3://bucket/prefix/missing.db: get: ") {
		t.Errorf("Get of a missing key: %v", err)
	}
	other := newTestS3(t, newFakeS3("other", "AKID", ""), "s3://bucket/prefix", "AKID")
	// Get, not Stat: S3 answers HEAD with a bare 404, which cannot say which is missing.
	if _, _, err := other.Get(ctx, "x.db"); err == nil || IsNotFound(err) {
		t.Errorf("Get in a missing bucket: %v", err)
	}
	if err := st.Put(ctx, "x.db", strings.NewReader("x"), 1, map[string]string{"Bad-Name": "1"}); err == nil || fake.objects["prefix/x.db"].data != nil {
		t.Errorf("Put with a bad metadata name: %v", err)
	}
	if err := st.Put(ctx, "../x.db", strings.NewReader("x"), 1, nil); err == nil {
		t.Error("Put out of the prefix passed")
	}
}

// TestS3AWS is the AWS path: no endpoint (so the region's virtual-host endpoint) and the
// instance role's keys from an IMDSv2-only metadata service.
func TestS3AWS(t *testing.T) {
	for _, v := range []string{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE"} {
		t.Setenv(v, "")
	}
	const token = "imds-session-token"
	var imdsCalls []string
	imds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		imdsCalls = append(imdsCalls, r.Method+" "+r.URL.Path)
		if r.Method == http.MethodPut && r.URL.Path == "/latest/api/token" {
			if r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds") == "" {
				http.Error(w, "no TTL", 400)
				return
			}
			io.WriteString(w, token)
			return
		}
		if r.Method != http.MethodGet || r.Header.Get("X-aws-ec2-metadata-token") != token {
			http.Error(w, "IMDSv2 only", 401)
			return
		}
		switch r.URL.Path {
		case "/latest/meta-data/iam/security-credentials/":
			io.WriteString(w, "backup-role\n")
		case "/latest/meta-data/iam/security-credentials/backup-role":
			json.NewEncoder(w).Encode(map[string]string{
				"Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": "ASIAROLE", "SecretAccessKey": "rolesecret",
				"Token": "role-session", "Expiration": time.Now().Add(6 * time.Hour).UTC().Format(time.RFC3339),
				"LastUpdated": time.Now().UTC().Format(time.RFC3339),
			})
		default:
			http.NotFound(w, r)
		}
	}))
	defer imds.Close()
	defer func(old string) { awsIMDS = old }(awsIMDS)
	awsIMDS = imds.URL

	fake := newFakeS3("bucket", "ASIAROLE", "role-session")
	srv := httptest.NewTLSServer(fake)
	defer srv.Close()
	// Every connection goes to the fake, which answers for the AWS name its certificate
	// does not have: so the client checks the certificate against example.com.
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, srv.Listener.Addr().String())
	}
	tr.TLSClientConfig.ServerName = "example.com"

	st, err := newS3(Access{URL: "s3://bucket/p", Region: "eu-west-1", Platform: "aws", HTTPClient: &http.Client{Transport: tr}}, "bucket", "p")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := st.Put(ctx, "x.db", strings.NewReader("x"), 1, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Stat(ctx, "x.db"); err != nil {
		t.Fatal(err)
	}
	if want := "bucket.s3.eu-west-1.amazonaws.com"; fake.hosts[0] != want {
		t.Errorf("requests went to %q, want %q", fake.hosts, want)
	}
	want := []string{"PUT /latest/api/token", "GET /latest/meta-data/iam/security-credentials/", "GET /latest/meta-data/iam/security-credentials/backup-role"}
	if !reflect.DeepEqual(imdsCalls, want) {
		t.Errorf("IMDS calls = %q, want %q (one fetch, kept for both requests)", imdsCalls, want)
	}
}

func TestS3Options(t *testing.T) {
	tr := &http.Transport{}
	cases := []struct {
		name     string
		a        Access
		endpoint string
		secure   bool
		region   string
		lookup   minio.BucketLookupType
		err      string
	}{
		{name: "AWS", a: Access{AccessKeyID: "k", SecretAccessKey: "s"},
			endpoint: "s3.amazonaws.com", secure: true, region: "us-east-1", lookup: minio.BucketLookupAuto},
		{name: "AWS region", a: Access{Region: "eu-central-1", Platform: "aws"},
			endpoint: "s3.amazonaws.com", secure: true, region: "eu-central-1", lookup: minio.BucketLookupAuto},
		{name: "MinIO over http", a: Access{Endpoint: "http://minio.lan:9000", PathStyle: true, AccessKeyID: "k", SecretAccessKey: "s"},
			endpoint: "minio.lan:9000", secure: false, region: "us-east-1", lookup: minio.BucketLookupPath},
		{name: "https, trailing slash", a: Access{Endpoint: "https://s3.example.com/", AccessKeyID: "k", SecretAccessKey: "s", HTTPClient: &http.Client{Transport: tr}},
			endpoint: "s3.example.com", secure: true, region: "us-east-1", lookup: minio.BucketLookupAuto},
		{name: "no scheme", a: Access{Endpoint: "minio:9000", AccessKeyID: "k", SecretAccessKey: "s"},
			err: `endpoint "minio:9000" is not valid: expected https://host[:port] or http://host[:port]`},
		{name: "path", a: Access{Endpoint: "https://host/s3", AccessKeyID: "k", SecretAccessKey: "s"}, err: "is not valid"},
		{name: "ftp", a: Access{Endpoint: "ftp://host", AccessKeyID: "k", SecretAccessKey: "s"}, err: "is not valid"},
		{name: "half a key", a: Access{AccessKeyID: "k"}, err: "incomplete credentials: give both access_key_id and secret_access_key"},
		{name: "no credentials", a: Access{Platform: "azure"},
			err: "no credentials: give access_key_id and secret_access_key, or run on AWS with an instance role"},
	}
	for _, c := range cases {
		endpoint, opts, err := s3Options(c.a)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: %v, want %q", c.name, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if endpoint != c.endpoint || opts.Secure != c.secure || opts.Region != c.region || opts.BucketLookup != c.lookup || opts.Creds == nil {
			t.Errorf("%s: %s %+v", c.name, endpoint, opts)
		}
		wantTr := http.DefaultTransport
		if c.a.HTTPClient != nil {
			wantTr = tr
		}
		if opts.Transport != wantTr {
			t.Errorf("%s: transport %v", c.name, opts.Transport)
		}
	}
}

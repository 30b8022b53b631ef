package objstore

import (
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	good := []struct{ in, scheme, bucket, prefix, str string }{
		{"s3://bucket", "s3", "bucket", "", "s3://bucket"},
		{"s3://bucket/", "s3", "bucket", "", "s3://bucket"},
		{"s3://my.bucket-1/etcd/prod", "s3", "my.bucket-1", "etcd/prod", "s3://my.bucket-1/etcd/prod"},
		{"s3://bucket/etcd/prod/", "s3", "bucket", "etcd/prod", "s3://bucket/etcd/prod"},
		{"S3://bucket/p", "s3", "bucket", "p", "s3://bucket/p"},
		{"s3://bucket/a%20b", "s3", "bucket", "a b", "s3://bucket/a b"},
		{"azblob://backups", "azblob", "backups", "", "azblob://backups"},
		{"azblob://etcd-backups/cluster-a", "azblob", "etcd-backups", "cluster-a", "azblob://etcd-backups/cluster-a"},
	}
	for _, c := range good {
		scheme, bucket, prefix, err := ParseURL(c.in)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", c.in, err)
			continue
		}
		if scheme != c.scheme || bucket != c.bucket || prefix != c.prefix {
			t.Errorf("ParseURL(%q) = %q, %q, %q; want %q, %q, %q", c.in, scheme, bucket, prefix, c.scheme, c.bucket, c.prefix)
		}
		if s := (location{scheme, bucket, prefix}).String(); s != c.str {
			t.Errorf("%q: String() = %q, want %q", c.in, s, c.str)
		}
	}

	bad := []struct{ in, err string }{
		{"", `"" has no scheme: expected s3://bucket/prefix or azblob://container/prefix`},
		{"bucket/prefix", `"bucket/prefix" has no scheme`},
		{"ftp://bucket/x", `scheme "ftp" is not supported: expected s3://bucket/prefix or azblob://container/prefix`},
		{"https://bucket.s3.amazonaws.com/x", `scheme "https" is not supported`},
		{"s3:bucket/x", "names no bucket or container"},
		{"s3:///x", "names no bucket or container"},
		{"s3://key:secret@bucket/x", "more than a bucket and a prefix"},
		{"s3://bucket:9000/x", "more than a bucket and a prefix"},
		{"s3://bucket/x?region=eu", "more than a bucket and a prefix"},
		{"s3://bucket/x#y", "more than a bucket and a prefix"},
		{"s3://Bucket/x", `bucket name "Bucket" is not valid`},
		{"s3://b_x/x", `bucket name "b_x" is not valid`},
		{"s3://ab", `bucket name "ab" is not valid`},
		{"s3://-bucket", `bucket name "-bucket" is not valid`},
		{"s3://a..b", `bucket name "a..b" is not valid`},
		{"s3://" + strings.Repeat("a", 64), "is not valid"},
		{"azblob://my.container", `container name "my.container" is not valid`},
		{"azblob://a--b", `container name "a--b" is not valid`},
		{"azblob://abc-", `container name "abc-" is not valid`},
		{"s3://bucket//x", `prefix "/x" has an empty`},
		{"s3://bucket/a//b", `prefix "a//b" has an empty`},
		{"s3://bucket/a/../b", `prefix "a/../b" has an empty, "." or ".." segment`},
		{"s3://bucket/./b", `prefix "./b" has an empty`},
		{"s3://buc ket/x", "is not a URL"},
	}
	for _, c := range bad {
		_, _, _, err := ParseURL(c.in)
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("ParseURL(%q) = %v, want an error containing %q", c.in, err, c.err)
		}
	}
}

func TestCheckKey(t *testing.T) {
	l := location{"s3", "bucket", "p"}
	for _, k := range []string{"x.db", "2024/01/x.db", "a b", "..x"} {
		if err := l.checkKey("put", k); err != nil {
			t.Errorf("checkKey(%q): %v", k, err)
		}
		if l.name(k) != "p/"+k {
			t.Errorf("name(%q) = %q", k, l.name(k))
		}
	}
	for _, k := range []string{"", "/x", "x/", "a//b", "../x", "a/./b"} {
		if err := l.checkKey("put", k); err == nil || !strings.HasPrefix(err.Error(), "s3://bucket/p/"+k+": put: key ") {
			t.Errorf("checkKey(%q) = %v", k, err)
		}
	}
	if n := (location{"s3", "bucket", ""}).name("x"); n != "x" {
		t.Errorf("name with no prefix = %q", n)
	}
}

func TestCheckMeta(t *testing.T) {
	good := map[string]string{"rev": "12", "etcd_version": "3.6.16", "_x": "a b", "n1": ""}
	if err := checkMeta(good); err != nil {
		t.Error(err)
	}
	for _, m := range []map[string]string{
		{"Rev": "1"}, {"etcd-version": "1"}, {"1st": "1"}, {"": "1"}, {"a.b": "1"},
		{"rev": "é"}, {"rev": "a\tb"}, {"rev": "a\nb"}, {"rev": " 1"}, {"rev": "1 "}, {"rev": "a  b"},
	} {
		if err := checkMeta(m); err == nil {
			t.Errorf("checkMeta(%q) passed", m)
		}
	}
}

func TestErrorClasses(t *testing.T) {
	cases := []struct {
		status         int
		code           string
		auth, notFound bool
	}{
		{403, "AccessDenied", true, false},
		{403, "InvalidAccessKeyId", true, false},
		{403, "SignatureDoesNotMatch", true, false},
		{400, "ExpiredToken", true, false},
		{401, "", true, false},
		{403, "AuthenticationFailed", true, false},
		{403, "AuthorizationPermissionMismatch", true, false},
		{404, "NoSuchKey", false, true},
		{404, "BlobNotFound", false, true},
		{404, "", false, true},
		{404, "NoSuchBucket", false, false},
		{404, "ContainerNotFound", false, false},
		{500, "InternalError", false, false},
		{0, "", false, false},
	}
	for _, c := range cases {
		err := error(&opError{url: "s3://b/k", op: "get", status: c.status, code: c.code, err: errTest})
		wrapped := &wrapErr{err}
		if IsAuth(err) != c.auth || IsAuth(wrapped) != c.auth {
			t.Errorf("%d %s: IsAuth = %v", c.status, c.code, IsAuth(err))
		}
		if IsNotFound(err) != c.notFound || IsNotFound(wrapped) != c.notFound {
			t.Errorf("%d %s: IsNotFound = %v", c.status, c.code, IsNotFound(err))
		}
	}
	if IsAuth(errTest) || IsNotFound(errTest) || IsAuth(nil) || IsNotFound(nil) {
		t.Error("a plain error is classified")
	}
}

type testError struct{}

func (testError) Error() string { return "test" }

var errTest = testError{}

type wrapErr struct{ err error }

func (w *wrapErr) Error() string { return "backup: " + w.err.Error() }
func (w *wrapErr) Unwrap() error { return w.err }

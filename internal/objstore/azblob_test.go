package objstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

var testAccountKey = []byte("not a real account key, 64 bytes like Azure's ones, for tests..")

// fastRetries makes the retry waits short for one test.
func fastRetries(t *testing.T) {
	old := azRetryWaits
	azRetryWaits = []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond}
	t.Cleanup(func() { azRetryWaits = old })
}

// openAzure opens url at https://ACCOUNT.blob.core.windows.net, which a transport that dials
// only the fake makes plain http on loopback.
func openAzure(t *testing.T, fake *fakeAzure, url string, a Access) Store {
	t.Helper()
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	a.URL = url
	a.Endpoint = "http://" + fake.account + ".blob.core.windows.net"
	a.HTTPClient = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, srv.Listener.Addr().String())
		},
	}}
	st, err := Open(a)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func keyAccess() Access {
	return Access{SecretAccessKey: base64.StdEncoding.EncodeToString(testAccountKey)}
}

// TestAzureStringToSign checks the string-to-sign against one written out by hand from the
// documentation's layout.
func TestAzureStringToSign(t *testing.T) {
	req, err := http.NewRequest(http.MethodPut,
		"https://myaccount.blob.core.windows.net/mycontainer/dir/a%20b.db?comp=block&blockid=QUJD%2B%2F%3D&Timeout=30",
		strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-ms-version", "2021-08-06")
	req.Header.Set("x-ms-date", "Mon, 02 Jan 2006 15:04:05 GMT")
	req.Header.Set("x-ms-meta-Node_Name", "etcd 1")
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("User-Agent", "not signed")
	want := "PUT\n" + // verb
		"\n" + // Content-Encoding
		"\n" + // Content-Language
		"5\n" + // Content-Length
		"\n" + // Content-MD5
		"application/octet-stream\n" +
		"\n" + // Date: x-ms-date instead
		"\n\n\n\n" + // If-Modified-Since, If-Match, If-None-Match, If-Unmodified-Since
		"\n" + // Range
		"x-ms-date:Mon, 02 Jan 2006 15:04:05 GMT\n" +
		"x-ms-meta-node_name:etcd 1\n" +
		"x-ms-version:2021-08-06\n" +
		"/myaccount/mycontainer/dir/a%20b.db\n" +
		"blockid:QUJD+/=\n" +
		"comp:block\n" +
		"timeout:30"
	if got := azStringToSign(req, "myaccount"); got != want {
		t.Errorf("string to sign:\n%q\nwant\n%q", got, want)
	}

	get, _ := http.NewRequest(http.MethodGet, "https://myaccount.blob.core.windows.net/c?restype=container&comp=list&prefix=p%2F", nil)
	get.Header.Set("x-ms-date", "Mon, 02 Jan 2006 15:04:05 GMT")
	want = "GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:Mon, 02 Jan 2006 15:04:05 GMT\n/myaccount/c\ncomp:list\nprefix:p/\nrestype:container"
	if got := azStringToSign(get, "myaccount"); got != want {
		t.Errorf("string to sign:\n%q\nwant\n%q", got, want)
	}
}

func TestAzurePutGetStatListDelete(t *testing.T) {
	ctx := context.Background()
	fake := newFakeAzure("acct", "backups", testAccountKey, "")
	st := openAzure(t, fake, "azblob://backups/etcd/prod", keyAccess())
	if st.String() != "azblob://backups/etcd/prod" {
		t.Errorf("String() = %q", st.String())
	}

	// n and n1 sort one way by name and the other as "name:value" lines.
	meta := map[string]string{"revision": "1234", "etcd_version": "3.6.16", "n": "etcd 1", "n1": "x"}
	data := []byte("snapshot bytes")
	if err := st.Put(ctx, "2024/a b.db", bytes.NewReader(data), int64(len(data)), meta); err != nil {
		t.Fatal(err)
	}
	b, ok := fake.blob("etcd/prod/2024/a b.db")
	if !ok || !bytes.Equal(b.data, data) || !reflect.DeepEqual(b.meta, meta) || b.contentType != "application/octet-stream" {
		t.Fatalf("the store has %+v, %v", b, ok)
	}
	if fake.count("put blob") != 1 || fake.count("put block") != 0 {
		t.Errorf("a small put took %v", fake.ops)
	}

	rc, obj, err := st.Get(ctx, "2024/a b.db")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get read %q, %v", got, err)
	}
	if obj.Key != "2024/a b.db" || obj.Size != int64(len(data)) || !reflect.DeepEqual(obj.Meta, meta) || time.Since(obj.Modified) > time.Minute {
		t.Errorf("Get's object = %+v", obj)
	}
	stat, err := st.Stat(ctx, "2024/a b.db")
	if err != nil || !reflect.DeepEqual(stat, obj) {
		t.Errorf("Stat = %+v, %v; Get said %+v", stat, err, obj)
	}

	// Empty objects, and streams shorter than a block, are one Put Blob each.
	if err := st.Put(ctx, "empty", strings.NewReader(""), 0, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, "short", strings.NewReader("short"), -1, nil); err != nil {
		t.Fatal(err)
	}
	if b, _ := fake.blob("etcd/prod/short"); string(b.data) != "short" || fake.count("put blob") != 3 {
		t.Errorf("short stream: %q, %v", b.data, fake.ops)
	}

	for _, n := range []string{"etcd/prod/b.db", "etcd/prod/0.db", "etcd/prod/dir/", "etcd/production/x", "other"} {
		fake.blobs[n] = fakeBlob{data: []byte(n), mod: time.Now().UTC()}
	}
	objs, err := st.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range objs {
		keys = append(keys, o.Key)
		if o.Meta != nil || time.Since(o.Modified) > time.Minute {
			t.Errorf("listed %+v", o)
		}
	}
	if want := []string{"0.db", "2024/a b.db", "b.db", "empty", "short"}; !reflect.DeepEqual(keys, want) {
		t.Errorf("List = %q, want %q", keys, want)
	}
	if objs[2].Size != int64(len("etcd/prod/b.db")) {
		t.Errorf("b.db's size = %d", objs[2].Size)
	}
	// Six names under the prefix, two a page: three requests, each after the first with the
	// marker the one before gave.
	if len(fake.lastList) != 3 || fake.lastList[0].Get("prefix") != "etcd/prod/" || fake.lastList[0].Has("marker") ||
		fake.lastList[2].Get("marker") != "etcd/prod/empty" {
		t.Errorf("list requests: %v", fake.lastList)
	}

	if err := st.Delete(ctx, "2024/a b.db"); err != nil {
		t.Fatal(err)
	}
	if _, ok := fake.blob("etcd/prod/2024/a b.db"); ok {
		t.Error("Delete left the blob")
	}
	if err := st.Delete(ctx, "2024/a b.db"); err != nil {
		t.Errorf("deleting a missing blob: %v", err)
	}

	root := openAzure(t, fake, "azblob://backups", keyAccess())
	all, err := root.List(ctx)
	if err != nil || len(all) != 6 || all[5].Key != "other" {
		t.Errorf("List from the root = %+v, %v", all, err)
	}
}

func TestAzureBlocks(t *testing.T) {
	size := 2*azBlockSize + 1000
	data := randomBytes(size)
	for _, c := range []struct {
		name         string
		r            io.Reader
		size         int64
		blocks, puts int
	}{
		{"stream", onlyReader{bytes.NewReader(data)}, -1, 3, 0},
		{"known size", bytes.NewReader(data), int64(size), 3, 0},
		{"stream of one block", onlyReader{bytes.NewReader(data[:azBlockSize])}, -1, 1, 0},
		{"one block, known size", bytes.NewReader(data[:azBlockSize]), azBlockSize, 0, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			fake := newFakeAzure("acct", "backups", testAccountKey, "")
			st := openAzure(t, fake, "azblob://backups/p", keyAccess())
			if err := st.Put(ctx, "big.db", c.r, c.size, map[string]string{"revision": "99"}); err != nil {
				t.Fatal(err)
			}
			wantLists := 1
			if c.blocks == 0 {
				wantLists = 0
			}
			if fake.count("put block") != c.blocks || fake.count("put blob") != c.puts || fake.count("put block list") != wantLists {
				t.Errorf("requests: %v", fake.ops)
			}
			if len(fake.blocks) != 0 {
				t.Errorf("%d blocks left uncommitted", len(fake.blocks))
			}
			rc, obj, err := st.Get(ctx, "big.db")
			if err != nil {
				t.Fatal(err)
			}
			h := sha256.New()
			n, err := io.Copy(h, rc)
			rc.Close()
			want := data[:obj.Size]
			if err != nil || obj.Size != n || !bytes.Equal(h.Sum(nil), sha256Of(want)) {
				t.Errorf("read back %d bytes, %v; same: %v", n, err, bytes.Equal(h.Sum(nil), sha256Of(want)))
			}
			if obj.Meta["revision"] != "99" {
				t.Errorf("object = %+v", obj)
			}
			if b, _ := fake.blob("p/big.db"); b.contentType != "application/octet-stream" {
				t.Errorf("content type %q", b.contentType)
			}
		})
	}

	// A reader that gives less than the size it was said to have is an error, not a blob.
	fake := newFakeAzure("acct", "backups", testAccountKey, "")
	st := openAzure(t, fake, "azblob://backups/p", keyAccess())
	for _, c := range []struct {
		have, said int
	}{{5, 10}, {azBlockSize + 5, azBlockSize + 10}} {
		err := st.Put(context.Background(), "short.db", bytes.NewReader(data[:c.have]), int64(c.said), nil)
		if err == nil || !strings.Contains(err.Error(), "read "+strconv.Itoa(c.have)+" bytes of "+strconv.Itoa(c.said)) {
			t.Errorf("%d of %d bytes: %v", c.have, c.said, err)
		}
	}
	if _, ok := fake.blob("p/short.db"); ok || fake.count("put block list") != 0 {
		t.Errorf("a short put left a blob: %v", fake.ops)
	}
}

func TestAzureErrors(t *testing.T) {
	fastRetries(t)
	ctx := context.Background()
	fake := newFakeAzure("acct", "backups", testAccountKey, "")

	wrong := openAzure(t, fake, "azblob://backups/prefix", Access{SecretAccessKey: base64.StdEncoding.EncodeToString([]byte("wrong key"))})
	err := wrong.Put(ctx, "x.db", strings.NewReader("x"), 1, nil)
	if !IsAuth(err) || IsNotFound(err) {
		t.Errorf("wrong key: IsAuth %v, IsNotFound %v: %v", IsAuth(err), IsNotFound(err), err)
	}
	want := "azblob://backups/prefix/x.db: put: Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature. (AuthenticationFailed)"
	if err == nil || err.Error() != want {
		t.Errorf("wrong key: %v\nwant %s", err, want)
	}
	if _, err := wrong.Stat(ctx, "x.db"); !IsAuth(err) || !strings.HasSuffix(err.Error(), "stat: 403 Forbidden (AuthenticationFailed)") {
		t.Errorf("wrong key, stat: %v", err)
	}
	if _, err := wrong.List(ctx); !IsAuth(err) || !strings.HasPrefix(err.Error(), "azblob://backups/prefix: list: ") {
		t.Errorf("wrong key, list: %v", err)
	}
	if fake.count("busy") != 0 || len(fake.blobs) != 0 {
		t.Errorf("wrong key: %v, %d blobs", fake.ops, len(fake.blobs))
	}

	st := openAzure(t, fake, "azblob://backups/prefix", keyAccess())
	_, err = st.Stat(ctx, "missing.db")
	if !IsNotFound(err) || IsAuth(err) || err.Error() != "azblob://backups/prefix/missing.db: stat: 404 Not Found (BlobNotFound)" {
		t.Errorf("Stat of a missing blob: %v", err)
	}
	_, _, err = st.Get(ctx, "missing.db")
	if !IsNotFound(err) || err.Error() != "azblob://backups/prefix/missing.db: get: The specified blob does not exist. (BlobNotFound)" {
		t.Errorf("Get of a missing blob: %v", err)
	}
	other := openAzure(t, fake, "azblob://other/prefix", keyAccess())
	if _, err := other.Stat(ctx, "x.db"); err == nil || IsNotFound(err) {
		t.Errorf("Stat in a missing container: %v", err)
	}
	if err := other.Delete(ctx, "x.db"); err == nil || IsNotFound(err) {
		t.Errorf("Delete in a missing container: %v", err)
	}

	// A busy store is waited out, up to three times.
	fake.busy = 2
	if err := st.Put(ctx, "x.db", strings.NewReader("x"), 1, nil); err != nil || fake.count("busy") != 2 {
		t.Errorf("after two busy answers: %v, %v", err, fake.ops)
	}
	fake.busy = 4
	if _, err := st.Stat(ctx, "x.db"); err == nil || !strings.Contains(err.Error(), "(ServerBusy)") || fake.count("busy") != 6 {
		t.Errorf("after four busy answers: %v, %v", err, fake.ops)
	}
	fake.busy = 0

	if err := st.Put(ctx, "y.db", strings.NewReader("x"), 1, map[string]string{"a-b": "1"}); err == nil || strings.Contains(err.Error(), "Authorization") {
		t.Errorf("Put with a bad metadata name: %v", err)
	}
	if err := st.Put(ctx, "a//b", strings.NewReader("x"), 1, nil); err == nil {
		t.Error("Put with an empty segment passed")
	}
}

// TestAzureManagedIdentity takes the token from a fake IMDS, keeps it while it is good and
// takes a new one when it is about to expire.
func TestAzureManagedIdentity(t *testing.T) {
	var fetches int
	expiresIn := time.Hour
	imds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.Method != http.MethodGet || r.Header.Get("Metadata") != "true" || r.URL.Path != "/metadata/identity/oauth2/token" ||
			q.Get("resource") != "https://storage.azure.com/" || q.Get("api-version") != "2018-02-01" {
			http.Error(w, `{"error":"invalid_request","error_description":"bad request"}`, 400)
			return
		}
		fetches++
		json.NewEncoder(w).Encode(map[string]string{
			"access_token": "token-" + strconv.Itoa(fetches),
			"expires_on":   strconv.FormatInt(time.Now().Add(expiresIn).Unix(), 10),
			"expires_in":   strconv.Itoa(int(expiresIn.Seconds())),
			"resource":     "https://storage.azure.com/",
			"token_type":   "Bearer",
		})
	}))
	defer imds.Close()
	defer func(old string) { azureTokenURL = old }(azureTokenURL)
	azureTokenURL = imds.URL + "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fstorage.azure.com%2F"

	ctx := context.Background()
	fake := newFakeAzure("acct", "backups", nil, "token-1")
	st := openAzure(t, fake, "azblob://backups/p", Access{Platform: "azure"})
	if err := st.Put(ctx, "x.db", strings.NewReader("x"), 1, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Stat(ctx, "x.db"); err != nil {
		t.Fatal(err)
	}
	if fetches != 1 {
		t.Errorf("%d token fetches for two requests", fetches)
	}

	// A token that expires in four minutes is inside the five-minute margin: each request
	// fetches a new one (token-2, token-3).
	st = openAzure(t, fake, "azblob://backups/p", Access{Platform: "azure"})
	expiresIn = 4 * time.Minute
	for _, want := range []string{"token-2", "token-3"} {
		fake.token = want
		if _, err := st.Stat(ctx, "x.db"); err != nil {
			t.Errorf("with %s: %v", want, err)
		}
	}
	if fetches != 3 {
		t.Errorf("%d token fetches, want 3", fetches)
	}
	fake.token = "another"
	_, err := st.Stat(ctx, "x.db")
	if !IsAuth(err) || !strings.Contains(err.Error(), "stat: 401 Unauthorized (InvalidAuthenticationInfo)") {
		t.Errorf("refused token: %v", err)
	}

	// IMDS refusing is an error saying so, not a request without credentials.
	azureTokenURL = imds.URL + "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=wrong"
	st = openAzure(t, fake, "azblob://backups/p", Access{Platform: "azure"})
	_, err = st.Stat(ctx, "x.db")
	if err == nil || !strings.Contains(err.Error(), "stat: managed identity token: 400 Bad Request: {\"error\":\"invalid_request\"") {
		t.Errorf("IMDS refusing: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(testAccountKey)
	cases := []struct {
		a   Access
		err string
	}{
		{Access{URL: "ftp://b/x"}, `scheme "ftp" is not supported: expected s3://bucket/prefix or azblob://container/prefix`},
		{Access{URL: "s3://bucket/x"}, "no credentials: give access_key_id and secret_access_key, or run on AWS with an instance role"},
		{Access{URL: "s3://bucket/x", Platform: "azure"}, "no credentials: give access_key_id"},
		{Access{URL: "s3://bucket/x", Endpoint: "minio:9000", AccessKeyID: "k", SecretAccessKey: "s"}, `endpoint "minio:9000" is not valid`},
		{Access{URL: "azblob://ct1/x", SecretAccessKey: key}, "azblob needs the endpoint: https://ACCOUNT.blob.core.windows.net"},
		{Access{URL: "azblob://ct1/x", SecretAccessKey: key, Endpoint: "acct.blob.core.windows.net"}, `endpoint "acct.blob.core.windows.net" is not valid: expected https://ACCOUNT.blob.core.windows.net`},
		{Access{URL: "azblob://ct1/x", SecretAccessKey: key, Endpoint: "https://acct.blob.core.windows.net/c1"}, "is not valid"},
		{Access{URL: "azblob://ct1/x", SecretAccessKey: key, Endpoint: "http://127.0.0.1:10000"}, `endpoint "http://127.0.0.1:10000" names no storage account`},
		{Access{URL: "azblob://ct1/x", SecretAccessKey: "not base64!", Endpoint: "https://acct.blob.core.windows.net"}, "the storage account key (secret_access_key) is not base64"},
		{Access{URL: "azblob://ct1/x", Endpoint: "https://acct.blob.core.windows.net", Platform: "aws"}, "no credentials: give secret_access_key (the storage account key), or run on Azure with a managed identity"},
	}
	for _, c := range cases {
		st, err := Open(c.a)
		if err == nil || !strings.Contains(err.Error(), c.err) || st != nil {
			t.Errorf("Open(%+v) = %v, %v; want an error containing %q", c.a, st, err, c.err)
		}
		if strings.Contains(err.Error(), "not base64") && strings.Contains(err.Error(), c.a.SecretAccessKey) {
			t.Errorf("the error shows the key: %v", err)
		}
	}
	for _, a := range []Access{
		{URL: "s3://bucket", AccessKeyID: "k", SecretAccessKey: "s"},
		{URL: "s3://bucket/p", Platform: "aws"},
		{URL: "azblob://ct1/p", Endpoint: "https://acct.blob.core.windows.net/", SecretAccessKey: key},
		{URL: "azblob://ct1", Endpoint: "https://acct.blob.core.windows.net", Platform: "azure"},
	} {
		if st, err := Open(a); err != nil || st.String() != strings.TrimSuffix(a.URL, "/") {
			t.Errorf("Open(%+v) = %v, %v", a, st, err)
		}
	}
}

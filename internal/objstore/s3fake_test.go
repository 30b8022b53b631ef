package objstore

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// fakeS3 is the part of the S3 protocol minio-go uses for Store, over one bucket: path-style
// or virtual-host requests, single and multipart puts, get, head, ListObjectsV2 in pages,
// delete. It checks the access key ID and session token a request is signed with, not the
// signature itself.
type fakeS3 struct {
	bucket, keyID, token string
	pageSize             int // keys per list page

	mu      sync.Mutex
	objects map[string]fakeS3Object
	uploads map[string]*fakeS3Upload
	hosts   []string       // Host of each request
	parts   map[string]int // parts of each completed multipart object
}

type fakeS3Object struct {
	data []byte
	meta http.Header // X-Amz-Meta-*
	mod  time.Time
}

type fakeS3Upload struct {
	name  string
	meta  http.Header
	parts map[int][]byte
}

func newFakeS3(bucket, keyID, token string) *fakeS3 {
	return &fakeS3{bucket: bucket, keyID: keyID, token: token, pageSize: 2,
		objects: map[string]fakeS3Object{}, uploads: map[string]*fakeS3Upload{}, parts: map[string]int{}}
}

func (f *fakeS3) put(name string, data []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.objects[name] = fakeS3Object{data: data, meta: http.Header{}, mod: time.Now().UTC()}
}

func (f *fakeS3) object(name string) (fakeS3Object, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok := f.objects[name]
	return o, ok
}

func s3Fail(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message><RequestId>1</RequestId></Error>`, code, msg)
	}
}

func userMeta(h http.Header) http.Header {
	m := http.Header{}
	for k, v := range h {
		if strings.HasPrefix(k, "X-Amz-Meta-") {
			m[k] = v
		}
	}
	return m
}

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hosts = append(f.hosts, r.Host)

	auth := r.Header.Get("Authorization")
	_, cred, _ := strings.Cut(auth, "Credential=")
	keyID, _, _ := strings.Cut(cred, "/")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 ") || keyID != f.keyID {
		s3Fail(w, r, 403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.")
		return
	}
	if r.Header.Get("X-Amz-Security-Token") != f.token {
		s3Fail(w, r, 400, "InvalidToken", "The provided token is malformed or otherwise invalid.")
		return
	}

	// Virtual-host requests name the bucket in the host; path-style ones in the path.
	bucket, name := "", strings.TrimPrefix(r.URL.Path, "/")
	if host, _, _ := strings.Cut(r.Host, ":"); strings.HasSuffix(host, ".amazonaws.com") {
		bucket, _, _ = strings.Cut(host, ".")
	} else {
		bucket, name, _ = strings.Cut(name, "/")
	}
	if bucket != f.bucket {
		s3Fail(w, r, 404, "NoSuchBucket", "The specified bucket does not exist")
		return
	}
	q := r.URL.Query()
	body, _ := io.ReadAll(r.Body)

	switch {
	case name == "" && r.Method == http.MethodGet && q.Get("list-type") == "2":
		f.list(w, q)
	case name == "":
		s3Fail(w, r, 501, "NotImplemented", "bucket operation "+r.Method+" "+r.URL.RawQuery)

	case r.Method == http.MethodPost && q.Has("uploads"):
		id := strconv.Itoa(len(f.uploads) + 1)
		f.uploads[id] = &fakeS3Upload{name: name, meta: userMeta(r.Header), parts: map[int][]byte{}}
		fmt.Fprintf(w, `<InitiateMultipartUploadResult><Bucket>%s</Bucket><Key>%s</Key><UploadId>%s</UploadId></InitiateMultipartUploadResult>`, bucket, name, id)
	case r.Method == http.MethodPut && q.Has("uploadId"):
		u, ok := f.uploads[q.Get("uploadId")]
		n, _ := strconv.Atoi(q.Get("partNumber"))
		if !ok || n < 1 {
			s3Fail(w, r, 404, "NoSuchUpload", "The specified upload does not exist.")
			return
		}
		u.parts[n] = body
		w.Header().Set("ETag", fmt.Sprintf(`"part%d"`, n))
	case r.Method == http.MethodPost && q.Has("uploadId"):
		u, ok := f.uploads[q.Get("uploadId")]
		var done struct {
			Parts []struct{ PartNumber int } `xml:"Part"`
		}
		if !ok || xml.Unmarshal(body, &done) != nil {
			s3Fail(w, r, 400, "MalformedXML", "bad complete request")
			return
		}
		var data []byte
		for i, p := range done.Parts {
			part, ok := u.parts[p.PartNumber]
			if !ok || p.PartNumber != i+1 || i < len(done.Parts)-1 && len(part) < 5<<20 {
				s3Fail(w, r, 400, "InvalidPart", "One or more of the specified parts could not be found or is too small.")
				return
			}
			data = append(data, part...)
		}
		delete(f.uploads, q.Get("uploadId"))
		f.objects[name] = fakeS3Object{data: data, meta: u.meta, mod: time.Now().UTC()}
		f.parts[name] = len(done.Parts)
		fmt.Fprintf(w, `<CompleteMultipartUploadResult><Bucket>%s</Bucket><Key>%s</Key><ETag>"x-%d"</ETag></CompleteMultipartUploadResult>`, bucket, name, len(done.Parts))
	case r.Method == http.MethodDelete && q.Has("uploadId"):
		delete(f.uploads, q.Get("uploadId"))
		w.WriteHeader(204)

	case r.Method == http.MethodPut:
		f.objects[name] = fakeS3Object{data: body, meta: userMeta(r.Header), mod: time.Now().UTC()}
		w.Header().Set("ETag", `"single"`)
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		o, ok := f.objects[name]
		if !ok {
			s3Fail(w, r, 404, "NoSuchKey", "The specified key does not exist.")
			return
		}
		for k, v := range o.meta {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(o.data)))
		w.Header().Set("Last-Modified", o.mod.Format(http.TimeFormat))
		w.Header().Set("ETag", `"etag"`)
		w.Header().Set("Content-Type", "application/octet-stream")
		if r.Method == http.MethodGet {
			w.Write(o.data)
		}
	case r.Method == http.MethodDelete:
		delete(f.objects, name)
		w.WriteHeader(204)
	default:
		s3Fail(w, r, 501, "NotImplemented", r.Method)
	}
}

// list answers ListObjectsV2, pageSize keys a page, the continuation token being the next key.
func (f *fakeS3) list(w http.ResponseWriter, q map[string][]string) {
	prefix, start := "", ""
	if v := q["prefix"]; len(v) > 0 {
		prefix = v[0]
	}
	if v := q["continuation-token"]; len(v) > 0 {
		start = v[0]
	}
	var names []string
	for n := range f.objects {
		if strings.HasPrefix(n, prefix) && n >= start {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	next := ""
	if len(names) > f.pageSize {
		next, names = names[f.pageSize], names[:f.pageSize]
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>%s</Name><Prefix>%s</Prefix><KeyCount>%d</KeyCount><MaxKeys>%d</MaxKeys><IsTruncated>%t</IsTruncated>`,
		f.bucket, prefix, len(names), f.pageSize, next != "")
	if next != "" {
		fmt.Fprintf(&b, `<NextContinuationToken>%s</NextContinuationToken>`, next)
	}
	for _, n := range names {
		o := f.objects[n]
		fmt.Fprintf(&b, `<Contents><Key>%s</Key><LastModified>%s</LastModified><ETag>"etag"</ETag><Size>%d</Size><StorageClass>STANDARD</StorageClass></Contents>`,
			n, o.mod.Format("2006-01-02T15:04:05.000Z"), len(o.data))
	}
	b.WriteString(`</ListBucketResult>`)
	w.Header().Set("Content-Type", "application/xml")
	w.Write(b.Bytes())
}

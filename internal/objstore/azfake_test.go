package objstore

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// fakeAzure is the part of the Blob service REST API that Store uses, for one account and
// container. It checks every request's Shared Key signature (computed here from the
// documented string-to-sign, not with the code under test) or its bearer token.
type fakeAzure struct {
	account, container string
	key                []byte // Shared Key; nil: only the bearer token is taken
	token              string // bearer token; "": only Shared Key is taken
	pageSize           int    // blobs per List Blobs page

	mu       sync.Mutex
	blobs    map[string]fakeBlob
	blocks   map[string][]byte // blob name + " " + block ID: staged blocks
	ops      map[string]int    // requests by operation
	busy     int               // answer this many requests with 503 ServerBusy
	lastList []url.Values      // queries of the List Blobs requests
}

type fakeBlob struct {
	data        []byte
	meta        map[string]string
	contentType string
	mod         time.Time
}

func newFakeAzure(account, container string, key []byte, token string) *fakeAzure {
	return &fakeAzure{account: account, container: container, key: key, token: token, pageSize: 2,
		blobs: map[string]fakeBlob{}, blocks: map[string][]byte{}, ops: map[string]int{}}
}

func (f *fakeAzure) blob(name string) (fakeBlob, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.blobs[name]
	return b, ok
}

func (f *fakeAzure) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ops[op]
}

// fakeStringToSign follows "Authorize with Shared Key" (Blob service, version 2015-02-21 and
// later) step by step, from the request as the server received it.
func fakeStringToSign(r *http.Request, account string) string {
	contentLength := r.Header.Get("Content-Length")
	if contentLength == "0" {
		contentLength = ""
	}
	lines := []string{
		r.Method,
		r.Header.Get("Content-Encoding"),
		r.Header.Get("Content-Language"),
		contentLength,
		r.Header.Get("Content-MD5"),
		r.Header.Get("Content-Type"),
		r.Header.Get("Date"),
		r.Header.Get("If-Modified-Since"),
		r.Header.Get("If-Match"),
		r.Header.Get("If-None-Match"),
		r.Header.Get("If-Unmodified-Since"),
		r.Header.Get("Range"),
	}
	s := strings.Join(lines, "\n") + "\n"

	msHeaders := map[string]string{}
	var names []string
	for name, values := range r.Header {
		name = strings.ToLower(name)
		if strings.HasPrefix(name, "x-ms-") {
			names = append(names, name)
			msHeaders[name] = strings.TrimSpace(strings.Join(values, ","))
		}
	}
	sort.Strings(names)
	for _, name := range names {
		s += name + ":" + msHeaders[name] + "\n"
	}

	s += "/" + account + r.URL.EscapedPath()
	query := r.URL.Query()
	names = names[:0]
	for name := range query {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		values := query[name]
		sort.Strings(values)
		s += "\n" + strings.ToLower(name) + ":" + strings.Join(values, ",")
	}
	return s
}

func azFail(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	w.Header().Set("x-ms-error-code", code)
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		fmt.Fprintf(w, "\ufeff<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>%s</Code><Message>%s\nRequestId:0f5e\nTime:2024-01-01T00:00:00.0000000Z</Message></Error>", code, msg)
	}
}

func (f *fakeAzure) authorized(r *http.Request) (ok bool, code string) {
	auth := r.Header.Get("Authorization")
	if sig, found := strings.CutPrefix(auth, "SharedKey "+f.account+":"); found && f.key != nil {
		m := hmac.New(sha256.New, f.key)
		io.WriteString(m, fakeStringToSign(r, f.account))
		want := base64.StdEncoding.EncodeToString(m.Sum(nil))
		return hmac.Equal([]byte(sig), []byte(want)), "AuthenticationFailed"
	}
	if tok, found := strings.CutPrefix(auth, "Bearer "); found && f.token != "" {
		return tok == f.token, "InvalidAuthenticationInfo"
	}
	return false, "NoAuthenticationInformation"
}

func (f *fakeAzure) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Header.Get("x-ms-version") != "2021-08-06" {
		azFail(w, r, 400, "InvalidHeaderValue", "x-ms-version")
		return
	}
	if d, err := http.ParseTime(r.Header.Get("x-ms-date")); err != nil || time.Since(d).Abs() > 15*time.Minute {
		azFail(w, r, 403, "AuthenticationFailed", "Request date header not specified or too old.")
		return
	}
	if ok, code := f.authorized(r); !ok {
		status := 403
		if code == "InvalidAuthenticationInfo" {
			status = 401
		}
		azFail(w, r, status, code, "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.")
		return
	}
	if f.busy > 0 {
		f.busy--
		f.ops["busy"]++
		azFail(w, r, 503, "ServerBusy", "The server is currently unable to receive requests. Please retry your request.")
		return
	}
	container, name, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if container != f.container {
		azFail(w, r, 404, "ContainerNotFound", "The specified container does not exist.")
		return
	}
	q := r.URL.Query()
	body, _ := io.ReadAll(r.Body)

	switch {
	case name == "" && r.Method == http.MethodGet && q.Get("restype") == "container" && q.Get("comp") == "list":
		f.ops["list"]++
		f.lastList = append(f.lastList, q)
		f.list(w, q)
	case name == "":
		azFail(w, r, 400, "UnsupportedHttpVerb", r.Method+" on the container")

	case r.Method == http.MethodPut && q.Get("comp") == "block":
		f.ops["put block"]++
		id := q.Get("blockid")
		if _, err := base64.StdEncoding.DecodeString(id); err != nil || id == "" || len(body) > 4000<<20 {
			azFail(w, r, 400, "InvalidQueryParameterValue", "blockid")
			return
		}
		for k := range f.blocks {
			if n, other, _ := strings.Cut(k, " "); n == name && len(other) != len(id) {
				azFail(w, r, 400, "InvalidBlobOrBlock", "The specified blob or block content is invalid.")
				return
			}
		}
		f.blocks[name+" "+id] = body
		w.WriteHeader(201)
	case r.Method == http.MethodPut && q.Get("comp") == "blocklist":
		f.ops["put block list"]++
		var list struct {
			Latest []string `xml:"Latest"`
		}
		if err := xml.Unmarshal(body, &list); err != nil || len(list.Latest) == 0 {
			azFail(w, r, 400, "InvalidXmlDocument", "XML specified is not syntactically valid.")
			return
		}
		var data []byte
		for _, id := range list.Latest {
			b, ok := f.blocks[name+" "+id]
			if !ok {
				azFail(w, r, 400, "InvalidBlockList", "The specified block list is invalid.")
				return
			}
			data = append(data, b...)
		}
		for k := range f.blocks {
			if strings.HasPrefix(k, name+" ") {
				delete(f.blocks, k)
			}
		}
		f.blobs[name] = fakeBlob{data: data, meta: azMetaOf(r.Header), contentType: r.Header.Get("x-ms-blob-content-type"), mod: time.Now().UTC()}
		w.WriteHeader(201)
	case r.Method == http.MethodPut && q.Get("comp") == "":
		f.ops["put blob"]++
		if r.Header.Get("x-ms-blob-type") != "BlockBlob" || r.Header.Get("Content-Length") == "" {
			azFail(w, r, 400, "MissingRequiredHeader", "x-ms-blob-type or Content-Length")
			return
		}
		f.blobs[name] = fakeBlob{data: body, meta: azMetaOf(r.Header), contentType: r.Header.Get("Content-Type"), mod: time.Now().UTC()}
		w.WriteHeader(201)

	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		f.ops[strings.ToLower(r.Method)]++
		b, ok := f.blobs[name]
		if !ok {
			azFail(w, r, 404, "BlobNotFound", "The specified blob does not exist.")
			return
		}
		for k, v := range b.meta {
			w.Header()["x-ms-meta-"+k] = []string{v} // as Azure sends them: not canonical
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(b.data)))
		w.Header().Set("Content-Type", b.contentType)
		w.Header().Set("Last-Modified", b.mod.Format(http.TimeFormat))
		w.Header().Set("x-ms-blob-type", "BlockBlob")
		if r.Method == http.MethodGet {
			w.Write(b.data)
		}
	case r.Method == http.MethodDelete:
		f.ops["delete"]++
		if _, ok := f.blobs[name]; !ok {
			azFail(w, r, 404, "BlobNotFound", "The specified blob does not exist.")
			return
		}
		delete(f.blobs, name)
		w.WriteHeader(202)
	default:
		azFail(w, r, 400, "UnsupportedHttpVerb", r.Method)
	}
}

func azMetaOf(h http.Header) map[string]string {
	m := map[string]string{}
	for k, v := range h {
		if name, ok := strings.CutPrefix(strings.ToLower(k), "x-ms-meta-"); ok {
			m[name] = v[0]
		}
	}
	return m
}

// list answers List Blobs, pageSize blobs a page, the marker being the next name.
func (f *fakeAzure) list(w http.ResponseWriter, q url.Values) {
	prefix, marker := q.Get("prefix"), q.Get("marker")
	var names []string
	for n := range f.blobs {
		if strings.HasPrefix(n, prefix) && n >= marker {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	next := ""
	if len(names) > f.pageSize {
		next, names = names[f.pageSize], names[:f.pageSize]
	}
	w.Header().Set("Content-Type", "application/xml")
	fmt.Fprintf(w, "\ufeff"+`<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="https://%s.blob.core.windows.net/" ContainerName="%s"><Prefix>%s</Prefix><Marker>%s</Marker><MaxResults>%d</MaxResults><Blobs>`,
		f.account, f.container, prefix, marker, f.pageSize)
	for _, n := range names {
		b := f.blobs[n]
		fmt.Fprintf(w, `<Blob><Name>%s</Name><Properties><Creation-Time>%s</Creation-Time><Last-Modified>%s</Last-Modified><Etag>0x8D</Etag><Content-Length>%d</Content-Length><Content-Type>%s</Content-Type><BlobType>BlockBlob</BlobType></Properties><OrMetadata /></Blob>`,
			n, b.mod.Format(http.TimeFormat), b.mod.Format(http.TimeFormat), len(b.data), b.contentType)
	}
	fmt.Fprintf(w, `</Blobs><NextMarker>%s</NextMarker></EnumerationResults>`, next)
}

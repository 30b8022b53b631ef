package objstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Azure Blob Storage over its REST API: for the five operations used here, the SDK (azblob
// v1.8.3) adds 4.2 MiB to a stripped binary, this file and azauth.go under 30 KiB.

const (
	azVersion = "2021-08-06" // x-ms-version of every request
	// azBlockSize is the block size for streams and blobs larger than one block, and so the
	// one buffer Put holds. 50,000 blocks of 8 MiB reach 390 GiB.
	azBlockSize = 8 << 20
	azMaxBlocks = 50000
)

// azRetryWaits are the pauses before sending a request again after a busy or failing store
// or a broken connection; every request here can be sent again with the same effect.
var azRetryWaits = []time.Duration{time.Second, 4 * time.Second, 10 * time.Second}

type azStore struct {
	location
	base    url.URL // the endpoint: scheme and host
	account string
	hc      *http.Client
	key     []byte    // SharedKey; nil with a managed identity
	tokens  *azTokens // managed identity; nil with a key
}

func newAzblob(a Access, container, prefix string) (Store, error) {
	const want = "https://ACCOUNT.blob.core.windows.net"
	if a.Endpoint == "" {
		return nil, errors.New("azblob needs the endpoint: " + want)
	}
	u, err := url.Parse(a.Endpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Hostname() == "" || u.User != nil ||
		strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("endpoint %q is not valid: expected %s", a.Endpoint, want)
	}
	account, _, _ := strings.Cut(u.Hostname(), ".")
	if net.ParseIP(u.Hostname()) != nil || account == "" {
		return nil, fmt.Errorf("endpoint %q names no storage account: expected %s", a.Endpoint, want)
	}
	s := &azStore{
		location: location{"azblob", container, prefix},
		base:     url.URL{Scheme: u.Scheme, Host: u.Host},
		account:  account,
		// Only the transport: a client's Timeout would cut off long transfers, which the
		// caller's context bounds instead.
		hc: &http.Client{Transport: http.DefaultTransport},
	}
	if a.HTTPClient != nil && a.HTTPClient.Transport != nil {
		s.hc.Transport = a.HTTPClient.Transport
	}
	switch {
	case a.SecretAccessKey != "":
		// The message leaves the key out: it ends up in logs.
		s.key, err = base64.StdEncoding.DecodeString(a.SecretAccessKey)
		if err != nil || len(s.key) == 0 {
			return nil, errors.New("the storage account key (secret_access_key) is not base64")
		}
	case a.Platform == "azure":
		s.tokens = &azTokens{}
	default:
		return nil, errors.New("no credentials: give secret_access_key (the storage account key), or run on Azure with a managed identity")
	}
	return s, nil
}

// azStatusError is the store's answer to a failed request.
type azStatusError struct {
	status    int
	code, msg string
}

func (e *azStatusError) Error() string {
	msg := e.msg
	if msg == "" {
		msg = strconv.Itoa(e.status) + " " + http.StatusText(e.status)
	}
	if e.code != "" {
		msg += " (" + e.code + ")"
	}
	return msg
}

// readAzError reads a failed response: the code is in a header (HEAD has no body) and in the
// XML body with a message.
func readAzError(resp *http.Response) error {
	defer resp.Body.Close()
	e := &azStatusError{status: resp.StatusCode, code: resp.Header.Get("x-ms-error-code")}
	var body struct{ Code, Message string }
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if xml.Unmarshal(b, &body) == nil {
		if e.code == "" {
			e.code = body.Code
		}
		// The lines after the first are the request's ID and time.
		e.msg, _, _ = strings.Cut(strings.TrimSpace(body.Message), "\n")
	}
	return e
}

func (s *azStore) fail(op, key string, err error) error {
	if err == nil {
		return nil
	}
	u := s.String()
	if key != "" {
		u += "/" + key
	}
	e := &opError{url: u, op: op, err: err}
	var se *azStatusError
	if errors.As(err, &se) {
		e.status, e.code = se.status, se.code
	}
	return e
}

// azRequest is one request on the container (name "") or on a blob.
type azRequest struct {
	method, name string
	query        url.Values
	header       http.Header
	body         []byte
}

// send sends r, signed, until it has an answer that is not worth waiting out, and returns a
// successful response or an error; a failed response becomes an *azStatusError.
func (s *azStore) send(ctx context.Context, r azRequest) (*http.Response, error) {
	u := s.base
	u.Path = "/" + s.bucket
	if r.name != "" {
		u.Path += "/" + r.name
	}
	u.RawQuery = r.query.Encode()
	for attempt := 0; ; attempt++ {
		// A request that cannot be made, or a token that cannot be had, is not retried.
		req, err := s.newRequest(ctx, &u, r)
		if err != nil {
			return nil, err
		}
		resp, err := s.hc.Do(req)
		retry := attempt < len(azRetryWaits) && ctx.Err() == nil
		if err == nil {
			switch resp.StatusCode {
			case 408, 429, 500, 502, 503, 504:
			default:
				retry = false
			}
			if resp.StatusCode < 300 {
				return resp, nil
			}
			err = readAzError(resp)
		}
		if !retry {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(azRetryWaits[attempt]):
		}
	}
}

// newRequest makes r's request to u, dated and signed.
func (s *azStore) newRequest(ctx context.Context, u *url.URL, r azRequest) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), bytes.NewReader(r.body))
	if err != nil {
		return nil, err
	}
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	req.Header.Set("x-ms-version", azVersion)
	req.Header.Set("x-ms-date", time.Now().UTC().Format(http.TimeFormat))
	if s.key != nil {
		req.Header.Set("Authorization", "SharedKey "+s.account+":"+azSign(s.key, azStringToSign(req, s.account)))
	} else {
		token, err := s.tokens.get(ctx)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req, nil
}

func (s *azStore) Put(ctx context.Context, key string, r io.Reader, size int64, meta map[string]string) error {
	if err := s.checkKey("put", key); err != nil {
		return err
	}
	if err := checkMeta(meta); err != nil {
		return s.fail("put", key, err)
	}
	h := http.Header{}
	for k, v := range meta {
		h.Set("x-ms-meta-"+k, v)
	}
	bufSize := int64(azBlockSize)
	if size >= 0 && size < bufSize {
		bufSize = size
	}
	buf := make([]byte, bufSize)
	n, rerr := io.ReadFull(r, buf)
	switch {
	case rerr == io.EOF || rerr == io.ErrUnexpectedEOF || rerr == nil && size >= 0 && size <= azBlockSize:
		// All of it is in buf: one Put Blob.
		if size >= 0 && int64(n) != size {
			return s.fail("put", key, fmt.Errorf("read %d bytes of %d", n, size))
		}
		h.Set("x-ms-blob-type", "BlockBlob")
		h.Set("Content-Type", "application/octet-stream")
		resp, err := s.send(ctx, azRequest{method: http.MethodPut, name: s.name(key), header: h, body: buf[:n]})
		if err != nil {
			return s.fail("put", key, err)
		}
		resp.Body.Close()
		return nil
	case rerr != nil:
		return s.fail("put", key, fmt.Errorf("reading: %w", rerr))
	}
	return s.putBlocks(ctx, key, r, size, h, buf)
}

// putBlocks stages r in blocks, the first already in buf, and commits them with the
// metadata in h. Blocks left uncommitted by a failure are dropped by the store in a week.
func (s *azStore) putBlocks(ctx context.Context, key string, r io.Reader, size int64, h http.Header, buf []byte) error {
	// A random prefix keeps two writers of one name from committing each other's blocks.
	var upload [8]byte
	rand.Read(upload[:])
	var ids []string
	var total int64
	n, rerr := len(buf), error(nil)
	for n > 0 {
		if len(ids) == azMaxBlocks {
			return s.fail("put", key, fmt.Errorf("more than %d blocks of %d bytes", azMaxBlocks, azBlockSize))
		}
		// Block IDs are base64 and all of one length within a blob.
		id := base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "%x-%06d", upload, len(ids)))
		q := url.Values{"comp": {"block"}, "blockid": {id}}
		resp, err := s.send(ctx, azRequest{method: http.MethodPut, name: s.name(key), query: q, body: buf[:n]})
		if err != nil {
			return s.fail("put", key, fmt.Errorf("block %d: %w", len(ids), err))
		}
		resp.Body.Close()
		ids = append(ids, id)
		total += int64(n)
		if rerr != nil { // the short read was the last
			break
		}
		n, rerr = io.ReadFull(r, buf)
		if rerr != nil && rerr != io.EOF && rerr != io.ErrUnexpectedEOF {
			return s.fail("put", key, fmt.Errorf("reading: %w", rerr))
		}
	}
	if size >= 0 && total != size {
		return s.fail("put", key, fmt.Errorf("read %d bytes of %d", total, size))
	}
	var list bytes.Buffer
	list.WriteString(`<?xml version="1.0" encoding="utf-8"?><BlockList>`)
	for _, id := range ids {
		list.WriteString("<Latest>" + id + "</Latest>") // base64 needs no XML escaping
	}
	list.WriteString("</BlockList>")
	h.Set("x-ms-blob-content-type", "application/octet-stream")
	q := url.Values{"comp": {"blocklist"}}
	resp, err := s.send(ctx, azRequest{method: http.MethodPut, name: s.name(key), query: q, header: h, body: list.Bytes()})
	if err != nil {
		return s.fail("put", key, fmt.Errorf("block list: %w", err))
	}
	resp.Body.Close()
	return nil
}

func (s *azStore) Get(ctx context.Context, key string) (io.ReadCloser, Object, error) {
	if err := s.checkKey("get", key); err != nil {
		return nil, Object{}, err
	}
	resp, err := s.send(ctx, azRequest{method: http.MethodGet, name: s.name(key)})
	if err != nil {
		return nil, Object{}, s.fail("get", key, err)
	}
	obj, err := azObject(key, resp.Header)
	if err != nil {
		resp.Body.Close()
		return nil, Object{}, s.fail("get", key, err)
	}
	rc := &readCloser{ReadCloser: resp.Body, wrap: func(err error) error { return s.fail("get", key, err) }}
	return rc, obj, nil
}

func (s *azStore) Stat(ctx context.Context, key string) (Object, error) {
	if err := s.checkKey("stat", key); err != nil {
		return Object{}, err
	}
	resp, err := s.send(ctx, azRequest{method: http.MethodHead, name: s.name(key)})
	if err != nil {
		return Object{}, s.fail("stat", key, err)
	}
	resp.Body.Close()
	obj, err := azObject(key, resp.Header)
	return obj, s.fail("stat", key, err)
}

// azObject reads a blob's size, time and metadata from Get Blob's or Get Blob Properties'
// headers.
func azObject(key string, h http.Header) (Object, error) {
	size, err := strconv.ParseInt(h.Get("Content-Length"), 10, 64)
	if err != nil {
		return Object{}, fmt.Errorf("Content-Length %q is not a size", h.Get("Content-Length"))
	}
	mod, err := http.ParseTime(h.Get("Last-Modified"))
	if err != nil {
		return Object{}, fmt.Errorf("Last-Modified %q is not a time", h.Get("Last-Modified"))
	}
	meta := map[string]string{}
	for k, vs := range h {
		if name, ok := strings.CutPrefix(strings.ToLower(k), "x-ms-meta-"); ok && len(vs) > 0 {
			meta[name] = vs[0]
		}
	}
	return Object{Key: key, Size: size, Modified: mod, Meta: meta}, nil
}

// azBlobList is the part of a List Blobs page used here.
type azBlobList struct {
	Blobs []struct {
		Name       string
		Properties struct {
			LastModified  string `xml:"Last-Modified"`
			ContentLength int64  `xml:"Content-Length"`
		}
	} `xml:"Blobs>Blob"`
	NextMarker string
}

func (s *azStore) List(ctx context.Context) ([]Object, error) {
	lp := s.listPrefix()
	var objs []Object
	marker := ""
	for {
		q := url.Values{"restype": {"container"}, "comp": {"list"}}
		if lp != "" {
			q.Set("prefix", lp)
		}
		if marker != "" {
			q.Set("marker", marker)
		}
		resp, err := s.send(ctx, azRequest{method: http.MethodGet, query: q})
		if err != nil {
			return nil, s.fail("list", "", err)
		}
		var page azBlobList
		err = xml.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&page)
		resp.Body.Close()
		if err != nil {
			return nil, s.fail("list", "", fmt.Errorf("reading the listing: %w", err))
		}
		for _, b := range page.Blobs {
			key, ok := strings.CutPrefix(b.Name, lp)
			// Tools make "folder/" placeholders; they are not objects anyone put here.
			if !ok || key == "" || strings.HasSuffix(key, "/") {
				continue
			}
			mod, err := http.ParseTime(b.Properties.LastModified)
			if err != nil {
				return nil, s.fail("list", "", fmt.Errorf("%s: Last-Modified %q is not a time", b.Name, b.Properties.LastModified))
			}
			objs = append(objs, Object{Key: key, Size: b.Properties.ContentLength, Modified: mod})
		}
		if page.NextMarker == "" {
			break
		}
		marker = page.NextMarker
	}
	sort.Slice(objs, func(i, j int) bool { return objs[i].Key < objs[j].Key })
	return objs, nil
}

// Delete removes key and its snapshots. A blob that is already gone is success, as on S3.
func (s *azStore) Delete(ctx context.Context, key string) error {
	if err := s.checkKey("delete", key); err != nil {
		return err
	}
	h := http.Header{}
	h.Set("x-ms-delete-snapshots", "include")
	resp, err := s.send(ctx, azRequest{method: http.MethodDelete, name: s.name(key), header: h})
	if err != nil {
		if err = s.fail("delete", key, err); IsNotFound(err) {
			return nil
		}
		return err
	}
	resp.Body.Close()
	return nil
}

package config

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/url"
	"strings"
)

// decodeInline decodes a data: URL (RFC 2397, base64 or percent-encoded), decompresses it as
// Ignition's compression field says and checks Ignition's verification hash, which describes the
// decompressed contents.
func decodeInline(src, compression, want string) ([]byte, error) {
	data, err := decodeDataURL(src)
	if err != nil {
		return nil, err
	}
	switch compression {
	case "":
	case "gzip":
		if data, err = gunzip(data); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown compression %q: expected gzip or none", compression)
	}
	if len(data) > maxInline {
		return nil, fmt.Errorf("contents are larger than %d MiB: fetch them from a remote source instead", maxInline>>20)
	}
	if want != "" {
		if err := verify(data, want); err != nil {
			return nil, err
		}
	}
	return data, nil
}

func decodeDataURL(s string) ([]byte, error) {
	if len(s) < 5 || !strings.EqualFold(s[:5], "data:") {
		return nil, errors.New("not a data: URL")
	}
	meta, payload, ok := strings.Cut(s[5:], ",")
	if !ok {
		return nil, errors.New("data: URL has no comma before its data")
	}
	raw, err := url.PathUnescape(payload)
	if err != nil {
		return nil, fmt.Errorf("data: URL has a bad percent-escape: %w", err)
	}
	params := strings.Split(meta, ";")
	if !strings.EqualFold(params[len(params)-1], "base64") {
		return []byte(raw), nil
	}
	data, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return nil, fmt.Errorf("data: URL is not valid base64: %w", err)
	}
	return data, nil
}

func gunzip(data []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("compression is gzip but the data is not: %w", err)
	}
	out, err := io.ReadAll(io.LimitReader(zr, maxInline+1))
	if err != nil {
		return nil, fmt.Errorf("gzip data is corrupt: %w", err)
	}
	return out, nil
}

// verify checks an Ignition hash, "sha512-<hex>" or "sha256-<hex>".
func verify(data []byte, want string) error {
	fn, sum, _ := strings.Cut(want, "-")
	var h hash.Hash
	switch fn {
	case "sha512":
		h = sha512.New()
	case "sha256":
		h = sha256.New()
	default:
		return fmt.Errorf("unknown verification hash %q: expected sha512- or sha256-", fn)
	}
	h.Write(data)
	if got := hex.EncodeToString(h.Sum(nil)); !strings.EqualFold(got, sum) {
		return fmt.Errorf("contents do not match verification.hash: they hash to %s-%s", fn, got)
	}
	return nil
}

// Decode turns a remote source's fetched bytes into the file's contents as Ignition does:
// decompress, then check the verification hash (a mismatch is an error naming both digests).
func (r IgnitionRemote) Decode(fetched []byte) ([]byte, error) {
	data := fetched
	switch r.Compression {
	case "":
	case "gzip":
		var err error
		if data, err = gunzip(data); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown compression %q: expected gzip or none", r.Compression)
	}
	if r.Hash != "" {
		if err := verify(data, r.Hash); err != nil {
			return nil, err
		}
	}
	return data, nil
}

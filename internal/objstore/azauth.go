package objstore

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
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

// azStringToSign is the Shared Key string-to-sign of req (versions 2015-02-21 and later):
// the verb, twelve standard headers, the x-ms- headers and the resource, one per line.
func azStringToSign(req *http.Request, account string) string {
	h := req.Header
	length := "" // a zero length is signed as empty
	if req.ContentLength > 0 {
		length = strconv.FormatInt(req.ContentLength, 10)
	}
	var b strings.Builder
	for _, v := range []string{
		req.Method, h.Get("Content-Encoding"), h.Get("Content-Language"), length, h.Get("Content-MD5"),
		h.Get("Content-Type"), h.Get("Date"), h.Get("If-Modified-Since"), h.Get("If-Match"),
		h.Get("If-None-Match"), h.Get("If-Unmodified-Since"), h.Get("Range"),
	} {
		b.WriteString(v)
		b.WriteByte('\n')
	}
	// Canonicalized headers: x-ms-*, names in lower case, sorted, whitespace runs folded.
	var names []string
	for k := range h {
		if lk := strings.ToLower(k); strings.HasPrefix(lk, "x-ms-") {
			names = append(names, lk)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		b.WriteString(n + ":" + strings.Join(strings.Fields(strings.Join(h.Values(n), ",")), " ") + "\n")
	}
	// Canonicalized resource: /account/path, then each query parameter (names in lower case,
	// sorted; values decoded, sorted and comma-joined) on a line of its own.
	b.WriteString("/" + account + req.URL.EscapedPath())
	q := url.Values{}
	for k, vs := range req.URL.Query() {
		lk := strings.ToLower(k)
		q[lk] = append(q[lk], vs...)
	}
	params := make([]string, 0, len(q))
	for k := range q {
		params = append(params, k)
	}
	sort.Strings(params)
	for _, k := range params {
		sort.Strings(q[k])
		b.WriteString("\n" + k + ":" + strings.Join(q[k], ","))
	}
	return b.String()
}

// azSign is the Shared Key signature of s: base64 of its HMAC-SHA256 under the account key.
func azSign(key []byte, s string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// azureTokenURL is where the VM's managed identity gets a token for Azure Storage; tests move it.
var azureTokenURL = "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fstorage.azure.com%2F"

// azTokens is a managed identity's token, kept until shortly before it expires.
type azTokens struct {
	mu    sync.Mutex // held while fetching, so that concurrent requests wait for one fetch
	token string
	renew time.Time
}

func (t *azTokens) get(ctx context.Context) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.token != "" && time.Now().Before(t.renew) {
		return t.token, nil
	}
	token, expires, err := fetchAzureToken(ctx)
	if err != nil {
		return "", fmt.Errorf("managed identity token: %w", err)
	}
	// Five minutes of margin for clock skew and long requests; tokens last hours.
	t.token, t.renew = token, expires.Add(-5*time.Minute)
	return token, nil
}

func fetchAzureToken(ctx context.Context) (string, time.Time, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, azureTokenURL, nil)
	if err != nil {
		return "", time.Time{}, err
	}
	req.Header.Set("Metadata", "true")
	resp, err := metadataClient.Do(req)
	if err != nil {
		return "", time.Time{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", time.Time{}, err
	}
	if resp.StatusCode != http.StatusOK {
		// The body is an OAuth error with no secret in it: "Identity not found" and the like.
		return "", time.Time{}, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	var v struct {
		AccessToken string      `json:"access_token"`
		ExpiresOn   json.Number `json:"expires_on"` // seconds since 1970, as a string
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return "", time.Time{}, fmt.Errorf("reading the answer: %w", err)
	}
	secs, err := v.ExpiresOn.Int64()
	if v.AccessToken == "" || err != nil {
		return "", time.Time{}, fmt.Errorf("the answer has no access_token or no expires_on")
	}
	return v.AccessToken, time.Unix(secs, 0), nil
}

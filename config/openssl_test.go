package config

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/etcd-appliance/appliance/internal/pki"
)

// A CA made with the openssl CLI (OpenSSL 3.0) once for these tests; it protects nothing:
//
//	openssl ecparam -genkey -name prime256v1 > ca.key
//	openssl req -x509 -new -key ca.key -subj "/CN=openssl ecparam CA" -days 36500 \
//	    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
//
// openssl ecparam writes an EC PARAMETERS block before the key: a CA key as users have it.
const (
	opensslCA = `-----BEGIN CERTIFICATE-----
MIIBoTCCAUegAwIBAgIUM+fU+odU5JlX2L2MxHW7Z5awcjEwCgYIKoZIzj0EAwIw
HTEbMBkGA1UEAwwSb3BlbnNzbCBlY3BhcmFtIENBMCAXDTI2MTIwMzE0MjY1OVoY
DzIxMjYxMTA5MTQyNjU5WjAdMRswGQYDVQQDDBJvcGVuc3NsIGVjcGFyYW0gQ0Ew
WTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQEsMT/pTyeAEmMXzokJ7ZE63nXt+xb
TtEAATA/IEW+NqQBjySlu5/7HSLn+Qb4qKRDdxB3LXyPPqhIsdwyZMtTo2MwYTAd
BgNVHQ4EFgQUZWTK8Jy1CywoSHW+rLFMUBQQDk4wHwYDVR0jBBgwFoAUZWTK8Jy1
CywoSHW+rLFMUBQQDk4wDwYDVR0TAQH/BAUwAwEB/zAOBgNVHQ8BAf8EBAMCAQYw
CgYIKoZIzj0EAwIDSAAwRQIgMkvaQ72VGSM6A32SZ3ZchknIzKpLncMCtHilHws1
YzQCIQDWBGslRqQVYOA2YFPGT13yfx+hx89H7N1yIIKNycantQ==
-----END CERTIFICATE-----
`
	opensslECParamKey = `-----BEGIN EC PARAMETERS-----
BggqhkjOPQMBBw==
-----END EC PARAMETERS-----
-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIMoEhqEreTBWsBAiwuCYKykCPdrMA4BiZb1dLnyMqNFsoAoGCCqGSM49
AwEHoUQDQgAEBLDE/6U8ngBJjF86JCe2ROt517fsW07RAAEwPyBFvjakAY8kpbuf
+x0i5/kG+KikQ3cQdy18jz6oSLHcMmTLUw==
-----END EC PRIVATE KEY-----
`

	// a CA certificate without certSign (openssl req ... -addext keyUsage=critical,digitalSignature,cRLSign)
	opensslNoCertSignCA = `-----BEGIN CERTIFICATE-----
MIIBsDCCAVegAwIBAgIUcvk0oisMBWQij3UH8diPQYk7MjcwCgYIKoZIzj0EAwIw
JTEjMCEGA1UEAwwaY29ycHVzIENBIHdpdGhvdXQgY2VydFNpZ24wIBcNMjYxMjAz
MTQzNTIzWhgPMjEyNjExMDkxNDM1MjNaMCUxIzAhBgNVBAMMGmNvcnB1cyBDQSB3
aXRob3V0IGNlcnRTaWduMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEyf7dPqWw
JRnPmTfgim1sS7gKZnL5jyi+IPC1gim51ApW4Oe2ZQYMwY0FCwl2Pq7RSs2yRTwC
yZ04CFdd5kr7AqNjMGEwHQYDVR0OBBYEFHHI0uK02uGNpAXD9EYycVMWmCsBMB8G
A1UdIwQYMBaAFHHI0uK02uGNpAXD9EYycVMWmCsBMA8GA1UdEwEB/wQFMAMBAf8w
DgYDVR0PAQH/BAQDAgGCMAoGCCqGSM49BAMCA0cAMEQCIDTYD2wXOgSWdj9fgRxG
rCdJ3HOMzbBJFW+bRR3hSB3QAiApKe/aeGu4wTPQ3GlOu6Ws9CiNoUBG89c3U0sw
vOmNpA==
-----END CERTIFICATE-----
`
	opensslNoCertSignKey = `-----BEGIN EC PARAMETERS-----
BggqhkjOPQMBBw==
-----END EC PARAMETERS-----
-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIL5rbnQP9Yaw1qSMvRZlCxjVkMEQuF10pCNwfdie0buMoAoGCCqGSM49
AwEHoUQDQgAEyf7dPqWwJRnPmTfgim1sS7gKZnL5jyi+IPC1gim51ApW4Oe2ZQYM
wY0FCwl2Pq7RSs2yRTwCyZ04CFdd5kr7Ag==
-----END EC PRIVATE KEY-----
`
)

// TestCAKeyHostAndNodeAgree: a CA key the config accepts, the node's pki.LoadCA accepts too,
// because both read it with pki.ParseKey.
func TestCAKeyHostAndNodeAgree(t *testing.T) {
	doc := "version: 1\ncluster: {name: c, members: [{name: a, address: 192.0.2.1}]}\n" +
		"tls: {ca_cert: " + strconv.Quote(opensslCA) + ", ca_key: " + strconv.Quote(opensslECParamKey) + "}\n"
	c, _, err := Parse([]byte(doc))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	if _, err := pki.LoadCA([]byte(c.TLS.CACert), []byte(c.TLS.CAKey), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Errorf("the node refuses what the config accepts: %v", err)
	}
}

// TestCertSignHostAndNodeAgree: the node's pki.LoadCA refuses a CA certificate without
// certSign; the config refuses it first.
func TestCertSignHostAndNodeAgree(t *testing.T) {
	if _, err := pki.LoadCA([]byte(opensslNoCertSignCA), []byte(opensslNoCertSignKey), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)); err == nil || !strings.Contains(err.Error(), "certSign") {
		t.Errorf("pki.LoadCA = %v, want the certSign refusal this test is about", err)
	}
}

package vmnet

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"
)

// VersitygwBinary is the S3 server (versitygw, built from its Go module by the Makefile); a
// variable so the tests can say where it is.
var VersitygwBinary = "versitygw"

// S3Port is the S3 server's port on the gateway.
const S3Port = 9000

// S3 runs an S3-compatible server on the gateway: versitygw, a real S3 gateway over a
// directory (its posix backend, with metadata in a sidecar directory rather than extended
// attributes), over https.
type S3 struct {
	CertPEM, KeyPEM      []byte // the server's certificate (naming its DNS name) and key
	AccessKey, SecretKey string // the one account
	Buckets              []string
}

// startS3 makes the S3 server's data directory and starts it; New calls it for Options.S3.
func (n *Net) startS3() error {
	dir, err := os.MkdirTemp("", "vmnet-s3-data-")
	if err != nil {
		return fmt.Errorf("vmnet: s3: %w", err)
	}
	n.s3Dir = dir
	for _, d := range append([]string{"sidecar"}, n.opts.S3.Buckets...) {
		if d != "sidecar" {
			d = filepath.Join("root", d)
		}
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return fmt.Errorf("vmnet: s3: %w", err)
		}
	}
	return n.StartS3()
}

// StartS3 starts the S3 server again after StopS3, on the same data.
func (n *Net) StartS3() error {
	s := n.opts.S3
	if s == nil {
		return errors.New("vmnet: no S3 server in the options")
	}
	dir, err := os.MkdirTemp("", "vmnet-s3-")
	if err != nil {
		return fmt.Errorf("vmnet: s3: %w", err)
	}
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := errors.Join(os.WriteFile(cert, s.CertPEM, 0o600), os.WriteFile(key, s.KeyPEM, 0o600)); err != nil {
		os.RemoveAll(dir)
		return fmt.Errorf("vmnet: s3: %w", err)
	}
	addr := netip.AddrPortFrom(n.gw, S3Port).String()
	cmd := n.Command(VersitygwBinary, "--access", s.AccessKey, "--secret", s.SecretKey, "--cert", cert, "--key", key,
		"--port", addr, "posix", "--sidecar", filepath.Join(n.s3Dir, "sidecar"), filepath.Join(n.s3Dir, "root"))
	ready := func(ctx context.Context, _ *daemon) error {
		for {
			c, err := n.DialContext(ctx, "tcp", addr)
			if err == nil {
				return c.Close()
			}
			select {
			case <-ctx.Done():
				return err
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	d, err := startDaemon("versitygw", cmd, dir, ready)
	if err != nil {
		return fmt.Errorf("vmnet: s3 in %s: %w", n.name, err)
	}
	n.mu.Lock()
	n.s3 = d
	n.mu.Unlock()
	return nil
}

// StopS3 stops the S3 server; its data stays for StartS3.
func (n *Net) StopS3() error {
	n.mu.Lock()
	d := n.s3
	n.s3 = nil
	n.mu.Unlock()
	return d.stop()
}

// S3Dir is the directory of the S3 server's buckets: DIR/BUCKET/KEY is an object's content.
func (n *Net) S3Dir() string { return filepath.Join(n.s3Dir, "root") }

// S3Log is the S3 server's output so far: a line per request (method, path, status).
func (n *Net) S3Log() string {
	return n.logOf(&n.s3)
}

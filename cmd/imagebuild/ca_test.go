package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/etcd-appliance/appliance/config"
)

func TestCA(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	now := time.Now()
	if err := caInit(dir, now); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "ca.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("ca.key: %v %v, want mode 0600", fi, err)
	}
	if err := caInit(dir, now); err == nil || !strings.Contains(err.Error(), "already holds a CA") {
		t.Errorf("second init: %v, want a refusal", err)
	}

	// the tls section is a valid configuration for a static cluster
	section, err := tlsSection(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	doc := "version: 1\ncluster: {name: c, members: [{name: a, address: 192.0.2.1}]}\n" + section
	if _, _, err := config.Parse([]byte(doc)); err != nil {
		t.Errorf("config with the tls section: %v\n%s", err, doc)
	}

	out := filepath.Join(t.TempDir(), "ops.tar.gz")
	if err := caClient(dir, "ops", out, []string{"https://192.0.2.1:2379"}, now); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var names []string
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		names = append(names, h.Name)
	}
	for _, want := range []string{"ops/ca.crt", "ops/client.crt", "ops/client.key", "ops/README"} {
		if !slices.Contains(names, want) {
			t.Errorf("bundle has %v, missing %s", names, want)
		}
	}
}

func TestCARenew(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	now := time.Now()
	if err := caInit(dir, now); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "ca.crt"))
	var out bytes.Buffer
	if err := caRenew(dir, &out, now.AddDate(1, 0, 0)); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "ca.crt"))
	old, _ := os.ReadFile(filepath.Join(dir, "ca.crt.old"))
	if bytes.Equal(before, after) || !bytes.Equal(before, old) {
		t.Error("ca.crt was not replaced, or ca.crt.old is not the old one")
	}
	if _, _, _, err := loadCADir(dir, now.AddDate(1, 0, 0)); err != nil {
		t.Errorf("the renewed CA does not load: %v", err)
	}
	if !strings.Contains(out.String(), "renewed until "+now.AddDate(11, 0, 0).UTC().Format(time.DateOnly)) {
		t.Errorf("output: %s", out.String())
	}
}

package qemutests

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestReproducibleBuild rebuilds the amd64 image from this source tree with the version and
// SOURCE_DATE_EPOCH of the build under test, and expects a bit-identical raw image: a user
// can verify that a published image is what this commit builds.
func TestReproducibleBuild(t *testing.T) {
	im := loadImages(t)
	if _, f := im.need(t, "amd64", "raw"); f != "raw" {
		return
	}
	var want artifact
	for _, a := range im.m.Artifacts {
		if a.Arch == "amd64" && a.Format == "raw" {
			want = a
		}
	}
	ib, epoch := os.Getenv("IMAGEBUILD"), os.Getenv("SOURCE_DATE_EPOCH")
	if ib == "" || epoch == "" {
		missing(t, "IMAGEBUILD and SOURCE_DATE_EPOCH must name the builder and epoch of the build under test")
		return
	}
	out := workDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, ib, "build", "--arch", "amd64", "--format", "raw", "--version", im.m.Version, "--out", out)
	cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH="+epoch)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("rebuild: %v\n%s", err, b)
	}
	b, err := os.ReadFile(filepath.Join(out, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m.BuildID != im.m.BuildID {
		t.Errorf("rebuild has build id %s, the build under test %s: the inputs differ (version, epoch, lock or the source tree)", m.BuildID, im.m.BuildID)
	}
	for _, a := range m.Artifacts {
		if a.Arch == "amd64" && a.Format == "raw" {
			if a.SHA256 != want.SHA256 {
				t.Fatalf("rebuilt raw image sha256 %s, the build under test has %s: the build is not reproducible\n"+
					"compare them: cmp -l %s %s | head", a.SHA256, want.SHA256, filepath.Join(im.dir, want.Path), filepath.Join(out, a.Path))
			}
			t.Logf("rebuilt raw image is bit-identical: sha256 %s", a.SHA256)
			return
		}
	}
	t.Fatal("the rebuild's manifest lists no amd64 raw image")
}

package snapshot

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	getter "github.com/hashicorp/go-getter/v2"
)

// ChecksumError is a downloaded snapshot whose sha256 is not the configured one.
type ChecksumError struct {
	Source, Want, Got string
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("restore.sha256: the snapshot at %s has sha256 %s, not %s: publish the right snapshot or correct restore.sha256 (sha256sum prints it); nothing was restored", e.Source, e.Got, e.Want)
}

// Fetch downloads the snapshot at source (an http(s) or file URL, through go-getter) into
// dir and checks its sha256 against want before returning its path.
func Fetch(ctx context.Context, source, want, dir string) (string, error) {
	dst := filepath.Join(dir, "restore.db")
	client := &getter.Client{
		// http(s) and local files only: no git, s3 or X-Terraform-Get redirection, and the
		// snapshot is used as it is (never unpacked).
		Getters: []getter.Getter{
			&getter.HttpGetter{Client: &http.Client{}, DoNotCheckHeadFirst: true, XTerraformGetDisabled: true},
			&getter.FileGetter{},
		},
		Decompressors:   map[string]getter.Decompressor{},
		DisableSymlinks: true,
	}
	req := &getter.Request{Src: source, Dst: dst, GetMode: getter.ModeFile, Copy: true, DisableSymlinks: true}
	if _, err := client.Get(ctx, req); err != nil {
		os.Remove(dst)
		return "", fmt.Errorf("restore.source: fetching %s: %w", source, err)
	}
	got, _, err := FileSHA256(dst)
	if err != nil {
		return "", err
	}
	if got != want {
		os.Remove(dst)
		return "", &ChecksumError{Source: source, Want: want, Got: got}
	}
	return dst, nil
}

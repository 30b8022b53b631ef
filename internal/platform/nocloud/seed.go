package nocloud

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/etcd-appliance/appliance/internal/platform"
)

// FromDir reads a mounted NoCloud seed: meta-data (required, as NoCloud requires it),
// user-data and network-config (both optional), then parses them.
func FromDir(fsys fs.FS) (*platform.Metadata, error) {
	metaData, err := fs.ReadFile(fsys, "meta-data")
	if err != nil {
		return nil, fmt.Errorf("nocloud seed: meta-data is required: %w", err)
	}
	userData, err := readOptional(fsys, "user-data")
	if err != nil {
		return nil, err
	}
	networkConfig, err := readOptional(fsys, "network-config")
	if err != nil {
		return nil, err
	}
	md, err := Parse(userData, metaData, networkConfig)
	if err != nil {
		return nil, fmt.Errorf("nocloud seed: %w", err)
	}
	return md, nil
}

// readOptional returns nil for a file that does not exist.
func readOptional(fsys fs.FS, name string) ([]byte, error) {
	b, err := fs.ReadFile(fsys, name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("nocloud seed: %w", err)
	}
	return b, nil
}

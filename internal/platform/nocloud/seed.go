package nocloud

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/etcd-appliance/appliance/internal/platform"
)

// FromDir reads a mounted NoCloud seed: meta-data (required, as NoCloud requires it),
// user-data and network-config (both optional), then parses them. Each file is read with
// platform.ReadMediumFile's limits (user-data 16 MiB, the others 1 MiB); fsys should be an
// os.Root's, so that no symlink leads off the medium.
func FromDir(fsys fs.FS) (*platform.Metadata, error) {
	metaData, err := platform.ReadMediumFile(fsys, "meta-data", platform.MaxMetadata)
	if err != nil {
		return nil, fmt.Errorf("nocloud seed: meta-data is required: %w", err)
	}
	userData, err := readOptional(fsys, "user-data", platform.MaxUserData)
	if err != nil {
		return nil, err
	}
	networkConfig, err := readOptional(fsys, "network-config", platform.MaxMetadata)
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
func readOptional(fsys fs.FS, name string, limit int64) ([]byte, error) {
	b, err := platform.ReadMediumFile(fsys, name, limit)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("nocloud seed: %w", err)
	}
	return b, nil
}

package openstack

import (
	"errors"
	"fmt"
	"io/fs"
	"path"

	"github.com/etcd-appliance/appliance/internal/platform"
)

// ConfigDriveLabels are the filesystem labels of an OpenStack config drive (ISO9660 or vfat).
var ConfigDriveLabels = []string{"config-2", "CONFIG-2"}

// FromConfigDrive reads openstack/latest from a mounted config drive: meta_data.json
// (required), network_data.json and user_data (optional), then parses them. Each file is read
// with platform.ReadMediumFile's limits; fsys should be an os.Root's, so that no symlink leads
// off the drive.
func FromConfigDrive(fsys fs.FS) (*platform.Metadata, error) {
	const dir = "openstack/latest"
	metaData, err := platform.ReadMediumFile(fsys, path.Join(dir, "meta_data.json"), platform.MaxMetadata)
	if err != nil {
		return nil, fmt.Errorf("openstack config drive: meta_data.json is required: %w", err)
	}
	var optional [2][]byte
	for i, f := range []struct {
		name  string
		limit int64
	}{{"network_data.json", platform.MaxMetadata}, {"user_data", platform.MaxUserData}} {
		b, err := platform.ReadMediumFile(fsys, path.Join(dir, f.name), f.limit)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("openstack config drive: %w", err)
		}
		optional[i] = b
	}
	md, err := Parse(metaData, optional[0], optional[1])
	if err != nil {
		return nil, fmt.Errorf("openstack config drive: %w", err)
	}
	return md, nil
}

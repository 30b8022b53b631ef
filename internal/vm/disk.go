package vm

import "context"

// CreateBlankDisk creates an empty, sparse qcow2 image of size bytes at path, for a data
// disk that outlives one VM (Disk.Size makes one that lives as long as the VM).
func CreateBlankDisk(ctx context.Context, path string, size int64) error {
	return qemuImgStep(blankDiskArgv(path, size)).run(ctx)
}

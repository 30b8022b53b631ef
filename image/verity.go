package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
)

// verityBlockSize is dm-verity's data and hash block size for the root: the page size on
// amd64 and arm64, and a divisor of ppc64le's 64 KiB pages.
const verityBlockSize = 4096

// verityHash is dm-verity's hash for the root. SHA-512, not SHA-256: on amd64 the kernel's
// generic C code hashes 4 KiB blocks ~1.6 times as fast (64-bit words; 89 against 55 MB/s under
// qemu's TCG, tcrypt), and the boot hashes the whole root up front and then every block
// squashfs reads (docs/PERFORMANCE.md). Under TCG on arm64 and ppc64le the two took the same
// time. veritysetup (OpenSSL) offers no BLAKE2b-256, which is faster still.
const verityHash = "sha512"

// verity is the root partition's dm-verity layout: the squashfs padded to DataBlocks whole
// blocks, then the hash tree (no superblock: every parameter travels on the trusted kernel
// command line, so nothing on the disk is believed).
type verity struct {
	RootHash   string
	DataBlocks int64
	Salt       string
	TreeBytes  int64 // the hash tree's size on the partition
}

// KernelArg is the etcd.verity= argument the initramfs opens the root with.
func (v verity) KernelArg() string {
	return fmt.Sprintf("etcd.verity=%s:%s:%d:%s", verityHash, v.RootHash, v.DataBlocks, v.Salt)
}

// veritySalt derives the salt from the build, so a build is reproducible and two builds do
// not share hash trees.
func veritySalt(buildID string) string {
	h := sha256.Sum256([]byte(buildID + "/verity-salt"))
	return hex.EncodeToString(h[:])
}

var rootHashLine = regexp.MustCompile(`(?m)^Root hash:\s+([0-9a-f]{128})\s*$`)

// appendVerity pads file to whole blocks and appends its dm-verity hash tree, made by
// veritysetup (cryptsetup-bin) from the same package the kernel side is tested against.
func appendVerity(ctx context.Context, file, salt string) (verity, error) {
	st, err := os.Stat(file)
	if err != nil {
		return verity{}, err
	}
	blocks := (st.Size() + verityBlockSize - 1) / verityBlockSize
	if err := os.Truncate(file, blocks*verityBlockSize); err != nil {
		return verity{}, fmt.Errorf("padding %s for dm-verity: %w", file, err)
	}
	out, err := exec.CommandContext(ctx, "veritysetup", "format", "--no-superblock", "--hash="+verityHash,
		"--data-block-size="+strconv.Itoa(verityBlockSize), "--hash-block-size="+strconv.Itoa(verityBlockSize),
		"--data-blocks="+strconv.FormatInt(blocks, 10), "--hash-offset="+strconv.FormatInt(blocks*verityBlockSize, 10),
		"--salt="+salt, file, file).CombinedOutput()
	if err != nil {
		return verity{}, fmt.Errorf("veritysetup format %s: %w\n%s", file, err, out)
	}
	m := rootHashLine.FindSubmatch(out)
	if m == nil {
		return verity{}, fmt.Errorf("veritysetup format %s: no root hash in its output:\n%s", file, out)
	}
	st, err = os.Stat(file)
	if err != nil {
		return verity{}, err
	}
	return verity{RootHash: string(m[1]), DataBlocks: blocks, Salt: salt, TreeBytes: st.Size() - blocks*verityBlockSize}, nil
}

package qemutests

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/etcd-appliance/appliance/arch"
	"github.com/etcd-appliance/appliance/internal/vm"
)

// TestBadConfigBoots boots four cases (a hostname with a newline among them) of firstboot's broken-config corpus
// (internal/nodeconfig/testdata/bad-config) as user-data: each console names the problem, etcd is
// not started, and the blank data disk is byte-identical afterwards.
func TestBadConfigBoots(t *testing.T) {
	imgs := loadImages(t)
	forEachArch(t, []string{"amd64"}, func(t *testing.T, a arch.Arch) {
		img, format := imgs.need(t, a.Name, "qcow2", "raw")
		for _, name := range []string{"ca-key-mismatch.yaml", "malformed-ignition.ign", "self-not-in-members.yaml", "ignition-hostname-newline.ign"} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				base := filepath.Join("..", "internal", "nodeconfig", "testdata", "bad-config", strings.TrimSuffix(name, filepath.Ext(name)))
				want, err := os.ReadFile(base + ".want")
				if err != nil {
					t.Fatal(err)
				}
				userData, err := filepath.Abs(base + filepath.Ext(name))
				if err != nil {
					t.Fatal(err)
				}
				disk := filepath.Join(workDir(t), "data.raw")
				f, err := os.Create(disk)
				if err == nil {
					err = f.Truncate(dataDiskSize)
					f.Close()
				}
				if err != nil {
					t.Fatal(err)
				}
				before := fileSHA256(t, disk)
				ctx, cancel := context.WithTimeout(t.Context(), vmTimeout(t))
				defer cancel()
				v := bootVM(t, vm.Config{
					Arch:      a,
					Disks:     []vm.Disk{{Path: img, Format: format, ReadOnly: true}, {Path: disk, Format: "raw", Serial: dataDiskSerial}},
					ExtraArgs: []string{"-fw_cfg", "name=opt/com.coreos/config,file=" + userData},
				})
				line := strings.Split(strings.TrimSpace(string(want)), "\n")[0]
				waitRefused(ctx, t, v, regexp.MustCompile(`etcd-appliance: config error: .*`+regexp.QuoteMeta(line)))
				v.Close()
				if fileSHA256(t, disk) != before {
					t.Error("the data disk was changed")
				}
			})
		}
	})
}

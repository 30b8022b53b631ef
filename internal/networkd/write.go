package networkd

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/etcd-appliance/appliance/internal/atomicfile"
)

// ours matches the names of files Render writes (its tiers only: a runtime copy of the
// image's 99-appliance-dhcp.network is not ours), so Write can clear out an earlier set.
var ours = regexp.MustCompile(`^(10|20|30)-appliance-.*\.(network|netdev)$`)

// Write puts files into dir (firstboot: /run/systemd/network), creating it, and removes
// files of an earlier Render that this set does not have, so running firstboot twice in a
// boot leaves no stale bond or VLAN behind. Other files in dir are left alone. Each file is
// replaced atomically (atomicfile), so networkd never reads half a file. The caller then
// runs `networkctl reload`.
func Write(dir string, files Files) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("network config: %w", err)
	}
	keep := map[string]bool{}
	for _, f := range files {
		if f.Name == "" || strings.ContainsRune(f.Name, os.PathSeparator) || f.Name[0] == '.' {
			return fmt.Errorf("network config: %q is not a file name", f.Name)
		}
		keep[f.Name] = true
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("network config: %w", err)
	}
	for _, e := range entries {
		if ours.MatchString(e.Name()) && !keep[e.Name()] && e.Type().IsRegular() {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return fmt.Errorf("network config: removing a stale file: %w", err)
			}
		}
	}
	for _, f := range files {
		// 0644: networkd runs as systemd-network and must read the file.
		if err := atomicfile.Write(filepath.Join(dir, f.Name), f.Data, 0o644); err != nil {
			return fmt.Errorf("network config: %w", err)
		}
	}
	return nil
}

package datavol

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// users is who has a block device open for good: mounted filesystems by device number
// ("major:minor", as in sysfs dev files) and swap areas by device name.
type users struct {
	mounts map[string][]string
	swaps  map[string]bool
}

// readUsers reads root/proc/self/mountinfo and root/proc/swaps. Both must be readable: without
// them a mounted disk would look free.
func readUsers(root string) (users, error) {
	b, err := os.ReadFile(filepath.Join(root, "proc/self/mountinfo"))
	if err != nil {
		return users{}, fmt.Errorf("reading mounts: %w", err)
	}
	u := users{mounts: map[string][]string{}, swaps: map[string]bool{}}
	for _, m := range parseMountinfo(string(b)) {
		if !slices.Contains(u.mounts[m.dev], m.point) {
			u.mounts[m.dev] = append(u.mounts[m.dev], m.point)
		}
	}
	b, err = os.ReadFile(filepath.Join(root, "proc/swaps"))
	if err != nil {
		return users{}, fmt.Errorf("reading swaps: %w", err)
	}
	lines := strings.Split(string(b), "\n")
	for _, line := range lines[1:] { // a header line first
		f := strings.Fields(line)
		if len(f) > 0 && strings.HasPrefix(f[0], "/dev/") {
			u.swaps[filepath.Base(unescapeMount(f[0]))] = true
		}
	}
	return u, nil
}

type mountEntry struct {
	dev   string // major:minor
	point string
}

// parseMountinfo reads the device number and mount point of each line of
// /proc/<pid>/mountinfo (see proc(5)), in order: a later entry for a point hides earlier ones.
func parseMountinfo(s string) []mountEntry {
	var out []mountEntry
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		out = append(out, mountEntry{dev: f[2], point: unescapeMount(f[4])})
	}
	return out
}

// unescapeMount undoes the octal escapes (\040 for a space) the kernel writes in mount tables.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

package image

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// etcdLine is one supported etcd release line and the files of etcdsrc that build it: every
// line builds from etcdsrc's main.go and hashkv.go, plus its own go.mod, go.sum and store.go
// (v3.5's storage packages live at other import paths), and firstboot.go where the line links
// firstboot in.
type etcdLine struct {
	Line           string // "v3.6"
	Mod, Sum, Code string // paths under etcdsrc
	// Firstboot: the line's go.mod requires this repository's module and the binary is
	// firstboot too. Only lines at or above the etcd client in the repository's go.mod can:
	// below it, Go's version selection would lift etcd's api and client modules to that client
	// and the binary would mix releases. The other lines' images build firstboot alone.
	Firstboot bool
}

// etcdLines are the supported lines, oldest first. The default is the line etcdsrc/go.mod
// pins (docs/etcd-versions.md says why it is v3.7).
var etcdLines = []etcdLine{
	{"v3.5", "v3.5/go.mod", "v3.5/go.sum", "v3.5/store.go", false},
	{"v3.6", "go.v3.6.mod", "go.v3.6.sum", "store.go", false},
	{"v3.7", "go.mod", "go.sum", "store.go", true},
}

// etcdCommon are the etcdsrc files every line builds from.
var etcdCommon = []string{"main.go", "hashkv.go"}

var etcdVersionRE = regexp.MustCompile(`^v3\.\d+\.\d+$`)

// SupportedEtcdLines names the lines --etcd-version accepts ("v3.5, v3.6, v3.7").
func SupportedEtcdLines() string {
	var l []string
	for _, e := range etcdLines {
		l = append(l, e.Line)
	}
	return strings.Join(l, ", ")
}

// lineOf finds the supported line of an etcd version such as v3.6.16.
func lineOf(version string) (etcdLine, error) {
	if !etcdVersionRE.MatchString(version) {
		return etcdLine{}, fmt.Errorf("--etcd-version %q: want a release such as v3.7.3 (lines %s)", version, SupportedEtcdLines())
	}
	for _, e := range etcdLines {
		if strings.HasPrefix(version, e.Line+".") {
			return e, nil
		}
	}
	return etcdLine{}, fmt.Errorf("--etcd-version %s: not a supported etcd line; supported: %s", version, SupportedEtcdLines())
}

// pinnedIn reads the etcd version a line's go.mod pins.
func pinnedIn(srcDir string, e etcdLine) (string, error) {
	p := filepath.Join(srcDir, "etcdsrc", e.Mod)
	b, err := os.ReadFile(p)
	if err != nil {
		return "", fmt.Errorf("reading the pinned etcd module: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == etcdModules[0] {
			return f[1], nil
		}
	}
	return "", fmt.Errorf("%s does not require %s", p, etcdModules[0])
}

// PinnedEtcdVersion reads the default etcd version, the one etcdsrc/go.mod pins.
func PinnedEtcdVersion(srcDir string) (string, error) {
	for _, e := range etcdLines {
		if e.Mod == "go.mod" {
			return pinnedIn(srcDir, e)
		}
	}
	panic("etcdLines has no default line")
}

// PinnedEtcdVersions reads the version pinned for every supported line, oldest first.
func PinnedEtcdVersions(srcDir string) ([]string, error) {
	var vs []string
	for _, e := range etcdLines {
		v, err := pinnedIn(srcDir, e)
		if err != nil {
			return nil, err
		}
		vs = append(vs, v)
	}
	return vs, nil
}

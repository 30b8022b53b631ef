// Package overlays holds the plain files laid onto every image's root tree (rootfs/) and the
// templates the builder fills in (templates/). Files, not Go strings, so they read as what they
// are: systemd units, networkd and journald configuration, os-release.
package overlays

import (
	"embed"
	"io/fs"
)

//go:embed all:rootfs all:templates
var files embed.FS

// RootFS is the tree copied onto the image root, paths relative to /.
func RootFS() fs.FS {
	sub, err := fs.Sub(files, "rootfs")
	if err != nil {
		panic(err) // the embedded tree always has rootfs/
	}
	return sub
}

// Template returns a template file's text.
func Template(name string) (string, error) {
	b, err := files.ReadFile("templates/" + name)
	return string(b), err
}

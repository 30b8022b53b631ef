package bench

import (
	"bytes"
	"fmt"
)

// Initramfs is a newc cpio archive holding only /init (mode 0755) with the given contents:
// the floor's initramfs. The format is the kernel's (Documentation/driver-api/early-userspace).
func Initramfs(init []byte) []byte {
	var b bytes.Buffer
	entry := func(ino int, name string, mode int, data []byte) {
		// magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor,
		// rdevminor, namesize (with its NUL), check
		fmt.Fprintf(&b, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
			ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name)+1, 0)
		b.WriteString(name)
		b.WriteByte(0)
		pad4(&b)
		b.Write(data)
		pad4(&b)
	}
	entry(1, "init", 0o100755, init)
	entry(0, "TRAILER!!!", 0, nil)
	return b.Bytes()
}

// pad4 pads b to a multiple of four bytes, as newc needs after names and file data.
func pad4(b *bytes.Buffer) {
	for b.Len()%4 != 0 {
		b.WriteByte(0)
	}
}

package image

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// InitramfsModules returns the module files (paths relative to the modules directory, as
// modules.dep writes them) needed to load the named modules: dependencies first, each once.
// Names may use '-' and '_' interchangeably, as the kernel does. Built-in modules are skipped;
// names that are neither a module nor built in are returned in missing, as given.
//
// Dependency order: each modules.dep line lists the module's full dependency closure with
// users before the modules they use (depmod sorts by a topological order that starts at
// modules nobody uses), and libkmod prepends each listed dependency to its load list, so
// modprobe loads them in reverse of the listed order. We do the same, recursing into each
// dependency's own line so a hand-written, non-closed modules.dep also comes out right.
func InitramfsModules(modulesDep, modulesBuiltin []byte, names []string) (files []string, missing []string, err error) {
	deps, byName, err := parseModulesDep(modulesDep)
	if err != nil {
		return nil, nil, err
	}
	builtin := map[string]bool{}
	for _, line := range strings.Split(string(modulesBuiltin), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			builtin[kmodName(line)] = true
		}
	}

	const (
		visiting = 1
		done     = 2
	)
	state := map[string]int{}
	var visit func(file string, chain []string) error
	visit = func(file string, chain []string) error {
		switch state[file] {
		case done:
			return nil
		case visiting:
			return fmt.Errorf("modules.dep: dependency cycle: %s -> %s", strings.Join(chain, " -> "), file)
		}
		state[file] = visiting
		d := deps[file]
		for i := len(d) - 1; i >= 0; i-- {
			if _, ok := deps[d[i]]; !ok {
				return fmt.Errorf("modules.dep: %s depends on %s, which has no entry", file, d[i])
			}
			if err := visit(d[i], append(chain, file)); err != nil {
				return err
			}
		}
		state[file] = done
		files = append(files, file)
		return nil
	}

	for _, n := range names {
		key := kmodName(n)
		file, ok := byName[key]
		switch {
		case ok:
			if err := visit(file, nil); err != nil {
				return nil, nil, err
			}
		case builtin[key]:
		case !slices.Contains(missing, n):
			missing = append(missing, n)
		}
	}
	return files, missing, nil
}

// parseModulesDep reads "file: dep1 dep2 ..." lines into file -> deps and name -> file.
// If two files have the same module name the first wins, as with modprobe.
func parseModulesDep(data []byte) (deps map[string][]string, byName map[string]string, err error) {
	deps, byName = map[string][]string{}, map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20) // lines listing a big dependency closure can be long
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		file, rest, ok := strings.Cut(line, ":")
		file = strings.TrimSpace(file)
		if !ok || file == "" {
			return nil, nil, fmt.Errorf("modules.dep line %d: want \"module: deps\", got %q", n, line)
		}
		if _, dup := deps[file]; dup {
			continue
		}
		deps[file] = strings.Fields(rest)
		if name := kmodName(file); byName[name] == "" {
			byName[name] = file
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("reading modules.dep: %w", err)
	}
	return deps, byName, nil
}

// kmodName turns a module name or file path into the kernel's name for it: no directory,
// no .ko[.xz|.zst|.gz] suffix, '-' spelled '_'.
func kmodName(s string) string {
	s = path.Base(s)
	if i := strings.Index(s, ".ko"); i > 0 {
		s = s[:i]
	}
	return strings.ReplaceAll(s, "-", "_")
}

// initramfs archive layout; /init reads the same paths.
const (
	initramfsModDir   = "lib/modules"
	initramfsLoadList = "etc/modules.load"
	// initramfsProbeList are disk drivers, loaded in order until the root partition appears.
	initramfsProbeList = "etc/modules.probe"
)

// WriteInitramfs writes an uncompressed newc cpio archive holding /init (initBinary), the
// module files (read from modDir/<file>, stored as lib/modules/<basename>), the load lists
// /etc/modules.load (always loaded) and /etc/modules.probe (disk drivers, loaded until the
// root appears) in the given orders, the mount point directories, and a /dev/console node
// so the kernel can give /init a console before devtmpfs is mounted. All entries are owned by
// root, dated epoch and written in sorted order with inode numbers from that order, so the
// same inputs always give the same bytes.
//
// The archive is written by hand: github.com/cavaliergopher/cpio v1.0.1 always writes zero
// rdevmajor/rdevminor fields, so it cannot make /dev/console.
func WriteInitramfs(w io.Writer, initBinary string, modDir string, load, probe []string, epoch time.Time) error {
	mtime := epoch.Unix()
	if mtime < 0 || mtime > 0xFFFFFFFF {
		return fmt.Errorf("epoch %v cannot be stored in a newc archive", epoch)
	}
	entries := map[string]newcEntry{
		"init":          {mode: sIFREG | 0o755, src: initBinary},
		"dev/console":   {mode: sIFCHR | 0o600, rdevMajor: 5, rdevMinor: 1},
		initramfsModDir: {mode: sIFDIR | 0o755},
	}
	for _, d := range []string{"dev", "proc", "sys", "sysroot", "etc", "lib"} {
		entries[d] = newcEntry{mode: sIFDIR | 0o755}
	}
	for listName, files := range map[string][]string{initramfsLoadList: load, initramfsProbeList: probe} {
		var list strings.Builder
		for _, f := range files {
			name := initramfsModDir + "/" + path.Base(f)
			if prev, dup := entries[name]; dup {
				return fmt.Errorf("modules %s and %s would both be %s", prev.src, f, name)
			}
			entries[name] = newcEntry{mode: sIFREG | 0o644, src: filepath.Join(modDir, f)}
			list.WriteString(name + "\n")
		}
		entries[listName] = newcEntry{mode: sIFREG | 0o644, data: []byte(list.String())}
	}

	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	slices.Sort(names) // a parent sorts before its children
	bw := bufio.NewWriter(w)
	for i, n := range names {
		e := entries[n]
		e.name, e.ino, e.mtime = n, uint32(i+1), uint32(mtime)
		if err := e.write(bw); err != nil {
			return fmt.Errorf("writing %s: %w", n, err)
		}
	}
	trailer := newcEntry{name: "TRAILER!!!", nlink: 1}
	if err := trailer.write(bw); err != nil {
		return err
	}
	return bw.Flush()
}

// File type bits of a cpio mode.
const (
	sIFDIR = 0o040000
	sIFCHR = 0o020000
	sIFREG = 0o100000
)

// newcEntry is one member of a newc ("070701") archive; content comes from data or the
// file src.
type newcEntry struct {
	name                 string
	mode                 uint32
	ino, mtime, nlink    uint32
	rdevMajor, rdevMinor uint32
	data                 []byte
	src                  string
}

func (e newcEntry) write(w io.Writer) error {
	var content io.Reader = bytes.NewReader(e.data)
	size := int64(len(e.data))
	if e.src != "" {
		f, err := os.Open(e.src)
		if err != nil {
			return err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("%s is not a regular file", e.src)
		}
		content, size = f, fi.Size()
	}
	if size > 0xFFFFFFFF {
		return fmt.Errorf("%d bytes is too large for newc", size)
	}
	nlink := e.nlink
	if nlink == 0 {
		nlink = 1
		if e.mode&0o170000 == sIFDIR {
			nlink = 2
		}
	}
	// magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor,
	// rdevminor, namesize, check
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		e.ino, e.mode, 0, 0, nlink, e.mtime, size, 0, 0, e.rdevMajor, e.rdevMinor, len(e.name)+1, 0)
	if _, err := io.WriteString(w, hdr+e.name+"\x00"+newcPad(len(hdr)+len(e.name)+1)); err != nil {
		return err
	}
	// CopyN, not Copy: a file that grew since Stat must not corrupt the archive.
	if _, err := io.CopyN(w, content, size); err != nil {
		return fmt.Errorf("copying %s: %w", e.src, err)
	}
	_, err := io.WriteString(w, newcPad(int(size%4)))
	return err
}

// newcPad returns the NULs that align n bytes to 4.
func newcPad(n int) string {
	return strings.Repeat("\x00", (4-n%4)%4)
}

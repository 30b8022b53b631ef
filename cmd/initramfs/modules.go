package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// parseModuleList returns the module paths in /etc/modules.load, skipping blank lines and
// '#' comments. Order is kept: the builder already put dependencies first.
func parseModuleList(data []byte) []string {
	var paths []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		paths = append(paths, line)
	}
	return paths
}

// readModuleList reads one of the initramfs's module lists; an image without it loads none.
func readModuleList(l *logger, file string) ([]string, error) {
	list, err := os.ReadFile(file)
	switch {
	case errors.Is(err, os.ErrNotExist):
		l.printf("no %s, loading no modules from it", file)
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	return parseModuleList(list), nil
}

// loadUntil loads the listed drivers in order until done reports the root partition present,
// and returns those it did not load: udev loads them from the root if this machine has their
// hardware. Each load that does not find the root costs time on every other platform (AHCI
// probes its ports, Hyper-V modules wait for a VMBus), so the list puts the common ones first.
func loadUntil(l *logger, root string, paths []string, done func() bool) (rest []string) {
	for i, p := range paths {
		if done() {
			l.printf("root partition present: %d of %d disk drivers loaded, the rest left to udev", i, len(paths))
			return paths[i:]
		}
		msg, _ := loadOutcome(loadModule(path.Join(root, p)))
		l.printf("module %s: %s", moduleName(p), msg)
	}
	l.printf("disk drivers: all %d loaded", len(paths))
	return nil
}

// loadModule loads one module file with finit_module. Compressed modules are handed to the
// kernel as is; it decompresses them itself if built with CONFIG_MODULE_DECOMPRESS.
func loadModule(file string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	flags := 0
	if strings.HasSuffix(file, ".ko.xz") || strings.HasSuffix(file, ".ko.zst") || strings.HasSuffix(file, ".ko.gz") {
		flags = unix.MODULE_INIT_COMPRESSED_FILE
	}
	return unix.FinitModule(int(f.Fd()), "", flags)
}

// loadOutcome describes a finit_module result for the log and says whether it is a failure.
// EEXIST (loaded or builtin) and ENODEV/ENXIO (driver for hardware this machine lacks) are
// normal when one image serves many clouds.
func loadOutcome(err error) (msg string, failed bool) {
	switch {
	case err == nil:
		return "loaded", false
	case errors.Is(err, unix.EEXIST):
		return "already present", false
	case errors.Is(err, unix.ENODEV), errors.Is(err, unix.ENXIO):
		return "no such hardware", false
	default:
		return fmt.Sprintf("FAILED: %v", err), true
	}
}

// loadModules loads every listed module under root; a failing module is logged and skipped
// because most of them are optional drivers and the root wait reports what is really missing.
func loadModules(l *logger, root string, paths []string) {
	failed := 0
	for _, p := range paths {
		msg, bad := loadOutcome(loadModule(path.Join(root, p)))
		if bad {
			failed++
		}
		l.printf("module %s: %s", moduleName(p), msg)
	}
	l.printf("modules: %d listed, %d failed", len(paths), failed)
}

// moduleName is the file name without directory and .ko suffixes.
func moduleName(p string) string {
	name := path.Base(p)
	if i := strings.Index(name, ".ko"); i > 0 {
		name = name[:i]
	}
	return name
}

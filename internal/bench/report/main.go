// Command report renders BENCHMARKS.md's tables from what `make bench` measured:
//
//	report sizes OUTDIR...            image sizes from each build's manifest.json
//	report boot SVGFILE BOOT.JSON...  boot tables (stdout) and timeline chart (SVGFILE) from
//	                                  BenchmarkBootTimeline's runs
//
// scripts/bench.sh runs it.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/etcd-appliance/appliance/image"
	"github.com/etcd-appliance/appliance/internal/bench"
)

// qcow2Goals are issue 20's size goals for the qcow2 image.
var qcow2Goals = map[string]int64{"amd64": 40 << 20, "arm64": 40 << 20, "ppc64le": 50 << 20}

func main() {
	var err error
	switch {
	case len(os.Args) >= 3 && os.Args[1] == "sizes":
		err = sizes(os.Args[2:])
	case len(os.Args) >= 4 && os.Args[1] == "boot":
		err = boot(os.Args[2], os.Args[3:])
	case len(os.Args) == 3 && os.Args[1] == "peer":
		err = peer(os.Args[2])
	default:
		fmt.Fprintln(os.Stderr, "usage: report sizes OUTDIR... | report boot SVGFILE BOOT.JSON... | report peer PEER.JSON")
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

// readRuns reads the runs of BenchmarkBootTimeline's or BenchmarkPeer's JSON files.
func readRuns(files []string) ([]bench.Run, error) {
	var runs []bench.Run
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var rs []bench.Run
		if err := json.Unmarshal(b, &rs); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		runs = append(runs, rs...)
	}
	return runs, nil
}

func peer(file string) error {
	runs, err := readRuns([]string{file})
	if err != nil {
		return err
	}
	fmt.Print(bench.PeerTable(runs))
	return nil
}

func boot(svg string, files []string) error {
	runs, err := readRuns(files)
	if err != nil {
		return err
	}
	if err := os.WriteFile(svg, []byte(bench.TimelineSVG(runs)), 0o644); err != nil {
		return err
	}
	fmt.Print(bench.BootTables(runs))
	return nil
}

func sizes(dirs []string) error {
	var rows []bench.SizeRow
	for _, dir := range dirs {
		more, err := sizeRows(dir)
		if err != nil {
			return err
		}
		rows = append(rows, more...)
	}
	fmt.Print(bench.SizeTables(rows))
	return nil
}

func sizeRows(dir string) ([]bench.SizeRow, error) {
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return nil, err
	}
	var m image.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "manifest.json"), err)
	}
	var rows []bench.SizeRow
	for _, c := range m.Contents {
		r := bench.SizeRow{Arch: c.Arch, RootFS: c.RootFS, VerityTree: c.VerityTree, Kernel: c.Kernel, Initrd: c.Initrd, QCOW2Goal: qcow2Goals[c.Arch]}
		for _, p := range c.Tree {
			r.Tree = append(r.Tree, bench.Part{Name: p.Name, Bytes: p.Bytes})
		}
		for _, a := range m.Artifacts {
			if a.Arch != c.Arch {
				continue
			}
			switch a.Format {
			case "qcow2":
				r.QCOW2 = a.Size
			case "raw":
				var st syscall.Stat_t
				if err := syscall.Stat(filepath.Join(dir, a.Path), &st); err != nil {
					return nil, err
				}
				r.RawAllocated = st.Blocks * 512
			}
		}
		rows = append(rows, r)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s lists no image contents: build with this version of imagebuild", filepath.Join(dir, "manifest.json"))
	}
	return rows, nil
}

package image

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"
)

// progress prints each stage with its duration as it finishes, and a summary table at the end.
// Arches building at once share it.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool // a terminal, one arch: show the running stage until it finishes
	start time.Time
}

func newProgress(w io.Writer, parallel bool) *progress {
	p := &progress{w: w, start: time.Now()}
	if f, ok := w.(interface{ Stat() (os.FileInfo, error) }); ok && !parallel {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	if p.w == nil {
		p.w = io.Discard
	}
	return p
}

func (p *progress) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format, args...)
}

func (p *progress) stage(archName, name string, fn func() (string, error)) error {
	if p.tty {
		p.printf("[%s] %-16s …\r", archName, name)
	}
	t := time.Now()
	detail, err := fn()
	d := time.Since(t).Round(100 * time.Millisecond)
	if err != nil {
		p.printf("[%s] %-16s %7s  FAILED\n", archName, name, d)
		return fmt.Errorf("%s: %w", name, err)
	}
	p.printf("[%s] %-16s %7s  %s\n", archName, name, d, detail)
	return nil
}

func (p *progress) summary(outDir string, m *Manifest) {
	fmt.Fprintf(p.w, "\nbuild %s (version %s, etcd %s) finished in %s\n", m.BuildID, m.Version, m.EtcdVersion, time.Since(p.start).Round(time.Second))
	tw := tabwriter.NewWriter(p.w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "arch\tformat\tsize\tallocated\t\tfile")
	for _, a := range m.Artifacts {
		path := filepath.Join(outDir, a.Path)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\t%s\n", a.Arch, a.Format, humanSize(a.Size), humanSize(allocated(path)), path)
	}
	tw.Flush()
}

// allocated is the space a (sparse) file really takes on disk.
func allocated(path string) int64 {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0
	}
	return st.Blocks * 512
}

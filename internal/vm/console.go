package vm

import (
	"bytes"
	"io"
	"regexp"
	"strings"
	"sync"
)

const (
	// maxHistory bounds the console lines kept in memory; a boot prints a few hundred.
	maxHistory = 20000
	// maxPartial forces a line break when the guest prints this much without a newline.
	maxPartial = 64 << 10
)

// ansiEscape matches terminal control sequences firmware, GRUB and systemd print: CSI
// (colours, cursor moves), OSC (titles) and the two-byte ESC forms (charset selection etc.).
var ansiEscape = regexp.MustCompile(`\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[@-Z\\-_=>]`)

// cleanLine turns raw console bytes into text fit for matching and logs: escape sequences,
// carriage returns and other control characters are removed, invalid UTF-8 replaced.
func cleanLine(raw []byte) string {
	s := ansiEscape.ReplaceAllString(string(raw), "")
	s = strings.Map(func(r rune) rune {
		if r == '\t' || r >= ' ' && r != 0x7f {
			return r
		}
		return -1
	}, s)
	return strings.ToValidUTF8(s, "\uFFFD")
}

// console collects the guest's serial output: it copies the raw bytes to an optional log,
// splits them into clean lines, hands each line to an optional callback and wakes waiters.
type console struct {
	log    io.Writer    // raw copy; nil for none
	onLine func(string) // nil for none

	mu      sync.Mutex
	lines   []string // the newest lines, at most maxHistory
	dropped int      // lines dropped from the front of lines
	partial []byte   // raw bytes after the last newline
	changed chan struct{}
}

func newConsole(log io.Writer, onLine func(string)) *console {
	return &console{log: log, onLine: onLine, changed: make(chan struct{})}
}

// run reads r until EOF or an error and returns the first error of the log writer, if any
// (a broken log must not stop the console from being read, or qemu would block).
func (c *console) run(r io.Reader) error {
	var logErr error
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if c.log != nil && logErr == nil {
				_, logErr = c.log.Write(buf[:n])
			}
			c.feed(buf[:n])
		}
		if err != nil {
			c.flush()
			return logErr
		}
	}
}

// feed adds raw output and publishes the complete lines it ends.
func (c *console) feed(p []byte) {
	var done []string
	c.mu.Lock()
	c.partial = append(c.partial, p...)
	for {
		i := bytes.IndexByte(c.partial, '\n')
		if i < 0 && len(c.partial) < maxPartial {
			break
		}
		if i < 0 {
			i = len(c.partial) - 1
		}
		done = append(done, cleanLine(c.partial[:i+1]))
		c.partial = c.partial[i+1:]
	}
	// copy so the partial line does not pin an ever-growing backing array
	c.partial = append([]byte(nil), c.partial...)
	c.appendLocked(done)
	c.mu.Unlock()
	c.emit(done)
}

// flush publishes a trailing unterminated line at EOF.
func (c *console) flush() {
	c.mu.Lock()
	var done []string
	if len(c.partial) > 0 {
		done = []string{cleanLine(c.partial)}
		c.partial = nil
	}
	c.appendLocked(done)
	c.mu.Unlock()
	c.emit(done)
}

func (c *console) appendLocked(lines []string) {
	if len(lines) == 0 {
		return
	}
	c.lines = append(c.lines, lines...)
	if over := len(c.lines) - maxHistory; over > 0 {
		c.lines = append([]string(nil), c.lines[over:]...)
		c.dropped += over
	}
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *console) emit(lines []string) {
	if c.onLine == nil {
		return
	}
	for _, l := range lines {
		c.onLine(l)
	}
}

// match looks for re in the complete lines from absolute index next on. It returns the submatches, the index to continue from and a channel closed on new output.
func (c *console) match(re *regexp.Regexp, next int) ([]string, int, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if next < c.dropped {
		next = c.dropped
	}
	for ; next-c.dropped < len(c.lines); next++ {
		if m := re.FindStringSubmatch(c.lines[next-c.dropped]); m != nil {
			return m, next + 1, nil
		}
	}
	// the unterminated line is not matched: it may be a prefix of what the guest is still
	// printing (hvc0 delivers lines in pieces), and a prefix can match a greedy pattern
	return nil, next, c.changed
}

// tail returns up to n of the last lines, including an unterminated one.
func (c *console) tail(n int) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	all := c.lines
	if len(c.partial) > 0 {
		all = append(all[:len(all):len(all)], cleanLine(c.partial))
	}
	if n > len(all) {
		n = len(all)
	}
	return append([]string(nil), all[len(all)-n:]...)
}

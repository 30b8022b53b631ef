package vm

import (
	"bytes"
	"io"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestCleanLine(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain\r\n", "plain"},
		{"\x1b[0;32m  OK  \x1b[0m] Started etcd.\r\n", "  OK  ] Started etcd."},
		{"\x1b[2J\x1b[01;01H\x1b[=3hBdsDxe: loading\r", "BdsDxe: loading"},
		{"SLOF\x1b[0m\x1b[?25l ****", "SLOF ****"},
		{"\x1b]0;title\x07text", "text"},
		{"\x1b(Bcharset", "charset"},
		{"back\b \bspace", "back space"},
		{"tab\tkept", "tab\tkept"},
		{"bad\xffutf8", "bad\uFFFDutf8"},
	}
	for _, tc := range tests {
		if got := cleanLine([]byte(tc.in)); got != tc.want {
			t.Errorf("cleanLine(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestConsoleLines(t *testing.T) {
	tests := []struct {
		name   string
		chunks []string
		want   []string
	}{
		{"split across reads", []string{"hel", "lo\r\nwor", "ld\n"}, []string{"hello", "world"}},
		{"trailing partial flushed at EOF", []string{"a\nlogin: "}, []string{"a", "login: "}},
		{"empty lines kept", []string{"\n\nx\n"}, []string{"", "", "x"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var raw bytes.Buffer
			var got []string
			c := newConsole(&raw, func(l string) { got = append(got, l) })
			pr, pw := io.Pipe()
			go func() {
				for _, ch := range tc.chunks {
					pw.Write([]byte(ch))
				}
				pw.Close()
			}()
			if err := c.run(pr); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("callback lines = %q, want %q", got, tc.want)
			}
			if tail := c.tail(100); !slices.Equal(tail, tc.want) {
				t.Errorf("tail = %q, want %q", tail, tc.want)
			}
			if raw.String() != strings.Join(tc.chunks, "") {
				t.Errorf("raw log = %q", raw.String())
			}
		})
	}
}

func TestConsoleMatch(t *testing.T) {
	c := newConsole(nil, nil)
	re := regexp.MustCompile(`state=(\w+)`)
	m, next, changed := c.match(re, 0)
	if m != nil || changed == nil {
		t.Fatalf("match on empty console = %q", m)
	}
	c.feed([]byte("booting\nprompt state=run"))
	select {
	case <-changed:
	default:
		t.Fatal("feed did not signal waiters")
	}
	// an unterminated line is not matched: "state=run" is a prefix of "state=running"
	if m, _, _ = c.match(re, next); m != nil {
		t.Fatalf("partial line matched: %q", m)
	}
	c.feed([]byte("ning\n"))
	m, next, _ = c.match(re, 0)
	if len(m) != 2 || m[1] != "running" {
		t.Fatalf("match = %q", m)
	}
	// matching continues after the previous hit
	if m, _, _ = c.match(re, next); m != nil {
		t.Fatalf("second match = %q, want none", m)
	}
}

func TestConsoleHistoryBound(t *testing.T) {
	c := newConsole(nil, nil)
	c.feed(bytes.Repeat([]byte("x\n"), maxHistory+10))
	c.feed([]byte("last\n"))
	if tail := c.tail(maxHistory + 100); len(tail) != maxHistory || tail[len(tail)-1] != "last" {
		t.Fatalf("kept %d lines ending %q", len(tail), tail[len(tail)-1])
	}
	if m, _, _ := c.match(regexp.MustCompile("last"), 0); m == nil {
		t.Fatal("no match after dropping old lines")
	}
}

package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcd-appliance/appliance/config"
)

// badConfigDir is the corpus of broken user-data the node's own test feeds to firstboot: each
// NAME.yaml|json|ign with NAME.want listing substrings of its refusal.
var badConfigDir = filepath.Join("..", "firstboot", "testdata", "bad-config")

// nodeOnly are the corpus cases only a node can refuse, with the reason; the host must accept
// them (else they belong in the main corpus). None so far: every case fails without the machine.
var nodeOnly = map[string]string{}

// corpusNow is the clock checkConfig is given: a fixed moment, so that no case changes with
// the date.
var corpusNow = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)

// TestBadConfigCorpus requires imagebuild config validate to refuse every case of the node's
// corpus with every line of its .want: what the node refuses without the machine, the host
// refuses before any machine boots.
func TestBadConfigCorpus(t *testing.T) {
	cases, err := filepath.Glob(filepath.Join(badConfigDir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, path := range cases {
		if strings.HasSuffix(path, ".want") {
			continue
		}
		n++
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			_, _, _, err = checkConfig(data, corpusNow)
			if reason, ok := nodeOnly[name]; ok {
				if err != nil {
					t.Fatalf("listed as refused only on the node (%s), but the host refuses it: %v", reason, err)
				}
				return
			}
			want, err := os.ReadFile(strings.TrimSuffix(path, filepath.Ext(path)) + ".want")
			if err != nil {
				t.Fatalf("every case needs a .want file: %v", err)
			}
			checkHostRefuses(t, data, strings.Split(strings.TrimSpace(string(want)), "\n"))
		})
	}
	if n < 20 {
		t.Errorf("only %d cases in %s: is it still there?", n, badConfigDir)
	}
	for name := range nodeOnly {
		if _, err := os.Stat(filepath.Join(badConfigDir, name)); err != nil {
			t.Errorf("nodeOnly lists %s: %v", name, err)
		}
	}
	t.Run("oversized", func(t *testing.T) {
		big := append([]byte("version: 1\n# "), bytes.Repeat([]byte("x"), config.MaxSize)...)
		checkHostRefuses(t, big, []string{"the user-data is 1048589 bytes, more than the 1048576 (1024 KiB) this appliance reads"})
	})
}

// checkHostRefuses expects checkConfig to refuse data with problems that, printed as the node
// prints them, contain every one of want; and imagebuild config validate to fail on it too.
func checkHostRefuses(t *testing.T, data []byte, want []string) {
	t.Helper()
	_, _, _, err := checkConfig(data, corpusNow)
	var errs *config.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("checkConfig = %v, want a refusal (*config.Errors)", err)
	}
	all := errs.Error()
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("problems:\n%s\ndo not mention %q", all, w)
		}
	}
	var out bytes.Buffer
	if err := validateConfig(&out, "user-data", data); err == nil {
		t.Errorf("imagebuild config validate accepts it:\n%s", out.String())
	}
}

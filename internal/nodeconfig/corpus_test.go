package nodeconfig_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcd-appliance/appliance/config"
	"github.com/etcd-appliance/appliance/internal/nodeconfig"
	"github.com/etcd-appliance/appliance/internal/nodeconfig/nodetest"
)

// corpusNow is the host's clock for config.Check: fixed, so that no case changes with the date.
var corpusNow = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)

// TestBadConfigCorpus feeds every broken configuration in testdata/bad-config to both
// validators: the host's (config.Check, behind `imagebuild config validate`) and the node's own
// path (user-data over qemu's fw_cfg, resolved as at boot). Both must refuse it with problems
// containing each line of the case's .want file, and the node must write nothing: what a node
// refuses without needing the machine, the host refuses before any machine boots. Add a case:
// NAME.yaml|json|ign with the user-data and NAME.want with the substrings of its error.
func TestBadConfigCorpus(t *testing.T) {
	cases, err := filepath.Glob(filepath.Join("testdata", "bad-config", "*"))
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
			want, err := os.ReadFile(strings.TrimSuffix(path, filepath.Ext(path)) + ".want")
			if err != nil {
				t.Fatalf("every case needs a .want file: %v", err)
			}
			lines := strings.Split(strings.TrimSpace(string(want)), "\n")
			t.Run("node", func(t *testing.T) { checkNodeRefuses(t, data, lines) })
			t.Run("host", func(t *testing.T) { checkHostRefuses(t, data, lines) })
		})
	}
	if n < 20 {
		t.Errorf("only %d cases in testdata/bad-config", n)
	}
	t.Run("oversized", func(t *testing.T) {
		big := append([]byte("version: 1\n# "), bytes.Repeat([]byte("x"), config.MaxSize)...)
		want := []string{"the user-data is 1048589 bytes, more than the 1048576 (1024 KiB) this appliance reads"}
		checkNodeRefuses(t, big, want)
		checkHostRefuses(t, big, want)
	})
}

// checkNodeRefuses resolves data as a qemu node's user-data and expects a config error naming
// every one of want, with the node's root left empty.
func checkNodeRefuses(t *testing.T, data []byte, want []string) {
	t.Helper()
	env := nodetest.QemuEnv(t, "root=PARTUUID=x ro etcd.platform=qemu", data)
	root := t.TempDir()
	_, err := nodeconfig.Resolve(context.Background(), env, nodetest.Options(root))
	var ce *nodeconfig.ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v, want a config error", err)
	}
	all := strings.Join(ce.Problems(), "\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("problems:\n%s\ndo not mention %q", all, w)
		}
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("a refused config wrote %v", entries)
	}
}

// checkHostRefuses expects config.Check to refuse data with problems naming every one of want.
func checkHostRefuses(t *testing.T, data []byte, want []string) {
	t.Helper()
	_, _, _, err := config.Check(data, corpusNow)
	var errs *config.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("config.Check = %v, want a refusal (*config.Errors): the host would pass what the node refuses", err)
	}
	all := errs.Error()
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("problems:\n%s\ndo not mention %q", all, w)
		}
	}
}

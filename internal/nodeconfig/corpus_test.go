package nodeconfig_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcd-appliance/appliance/config"
	"github.com/etcd-appliance/appliance/internal/nodeconfig"
	"github.com/etcd-appliance/appliance/internal/nodeconfig/nodetest"
)

// TestBadConfigCorpus feeds every broken configuration in testdata/bad-config to the node's
// own path (user-data over qemu's fw_cfg, resolved as at boot) and expects a config error
// whose problems contain each line of the case's .want file, and nothing written. Add a case:
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
			checkRefused(t, data, strings.Split(strings.TrimSpace(string(want)), "\n"))
		})
	}
	if n < 15 {
		t.Errorf("only %d cases in testdata/bad-config", n)
	}
	t.Run("oversized", func(t *testing.T) {
		big := append([]byte("version: 1\n# "), bytes.Repeat([]byte("x"), config.MaxSize)...)
		checkRefused(t, big, []string{"the user-data is 1048589 bytes, more than the 1048576 (1024 KiB) this appliance reads"})
	})
}

// checkRefused resolves data as a qemu node's user-data and expects a config error naming
// every one of want, with the node's root left empty.
func checkRefused(t *testing.T, data []byte, want []string) {
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

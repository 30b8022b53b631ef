package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// The signing flags are checked before any build work: these fail at once, with the flag's
// name, without a repository to build from. image.TestLoadSigner checks the keys themselves.
func TestBuildSigningFlags(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nothing.pem")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--signing-key", missing}, "--signing-key needs --signing-cert"},
		{[]string{"--signing-cert", missing}, "--signing-cert needs --signing-key"},
		{[]string{"--signing-key", missing, "--signing-cert", missing}, "--signing-key: open " + missing + ": no such file or directory"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			err := build(context.Background(), append(tc.args, "--src", t.TempDir()))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("build %v: %v, want %q", tc.args, err, tc.want)
			}
		})
	}
}

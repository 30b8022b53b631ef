package main

import (
	"strings"
	"testing"
)

func TestParseCmdline(t *testing.T) {
	const uuid = "6A4F8C3E-1B2D-4E5F-8A9B-0C1D2E3F4A5B"
	tests := []struct {
		name     string
		cmdline  string
		wantInit string
		wantErr  string
	}{
		{"defaults", "console=ttyS0 root=PARTUUID=" + uuid + " ro\n", defaultInit, ""},
		{"lower case uuid", "root=PARTUUID=" + strings.ToLower(uuid), defaultInit, ""},
		{"init", "root=PARTUUID=" + uuid + " init=/sbin/init", "/sbin/init", ""},
		{"last root wins", "root=/dev/sda1 root=PARTUUID=" + uuid, defaultInit, ""},
		{"after -- is not ours", "root=PARTUUID=" + uuid + " -- init=/bin/sh", defaultInit, ""},
		{"quoted", `root=PARTUUID=` + uuid + ` foo="a b" init="/x y"`, "/x y", ""},
		{"no root", "console=ttyS0", "", "no root="},
		{"device root", "root=/dev/vda2", "", "only root=PARTUUID="},
		{"bad uuid", "root=PARTUUID=1234", "", "not a GUID"},
		{"relative init", "root=PARTUUID=" + uuid + " init=sbin/init", "", "absolute"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := parseCmdline(tt.cmdline)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.root.String() != uuid || p.init != tt.wantInit {
				t.Errorf("got root %s init %q, want %s %q", p.root, p.init, uuid, tt.wantInit)
			}
		})
	}
}

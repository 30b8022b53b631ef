package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseCmdline(t *testing.T) {
	const uuid = "6A4F8C3E-1B2D-4E5F-8A9B-0C1D2E3F4A5B"
	const v = " etcd.verity=sha512:" + rootHash + ":9216:00ff "
	tests := []struct {
		name     string
		cmdline  string
		wantInit string
		wantErr  string
	}{
		{"defaults", "console=ttyS0 root=PARTUUID=" + uuid + v + " ro\n", defaultInit, ""},
		{"lower case uuid", "root=PARTUUID=" + strings.ToLower(uuid) + v, defaultInit, ""},
		{"init", "root=PARTUUID=" + uuid + v + " init=/sbin/init", "/sbin/init", ""},
		{"last root wins", v + "root=/dev/sda1 root=PARTUUID=" + uuid, defaultInit, ""},
		{"after -- is not ours", "root=PARTUUID=" + uuid + v + " -- init=/bin/sh", defaultInit, ""},
		{"quoted", `root=PARTUUID=` + uuid + v + ` foo="a b" init="/x y"`, "/x y", ""},
		{"no root", "console=ttyS0", "", "no root="},
		{"device root", "root=/dev/vda2", "", "only root=PARTUUID="},
		{"bad uuid", "root=PARTUUID=1234", "", "not a GUID"},
		{"no verity", "root=PARTUUID=" + uuid, "", "no etcd.verity="},
		{"verity after --", "root=PARTUUID=" + uuid + " --" + v, "", "no etcd.verity="},
		{"bad verity", "root=PARTUUID=" + uuid + " etcd.verity=sha1:ab:1:00", "", "want sha512:ROOTHASH"},
		{"relative init", "root=PARTUUID=" + uuid + v + " init=sbin/init", "", "absolute"},
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

// rootHash is 64 bytes, a SHA-512 digest.
const rootHash = "3f6d1c33558366a180a7e19d3c8a041e6a64a9ac2b46dee78bf9eb3a3fc3458b" +
	"9a0e4f1d2c3b4a5968778695a4b3c2d1e0f1a2b3c4d5e6f708192a3b4c5d6e7f"

func TestParseVerity(t *testing.T) {
	tests := []struct {
		in      string
		want    verityParams
		wantErr string
	}{
		{"sha512:" + rootHash + ":9216:0011", verityParams{RootHash: rootHash, DataBlocks: 9216, Salt: "0011"}, ""},
		{"sha512:" + strings.ToUpper(rootHash) + ":1:AB", verityParams{RootHash: rootHash, DataBlocks: 1, Salt: "ab"}, ""},
		{"sha512:" + rootHash + ":9216", verityParams{}, "want sha512:ROOTHASH:DATABLOCKS:SALT"},
		// an older build's hash: its command line belongs to its own initramfs
		{"sha256:" + rootHash[:64] + ":9216:00", verityParams{}, "want sha512:ROOTHASH:DATABLOCKS:SALT"},
		{"sha512:" + rootHash[:64] + ":9216:00", verityParams{}, "root hash is not 128 hex digits"},
		{"sha512:" + rootHash + ":0:00", verityParams{}, "data blocks"},
		{"sha512:" + rootHash + ":-1:00", verityParams{}, "data blocks"},
		{"sha512:" + rootHash + ":9:", verityParams{}, "salt is not hex"},
		{"sha512:" + rootHash + ":9:0g", verityParams{}, "salt is not hex"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseVerity(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// TestVerityTarget pins the table line dm-verity gets: the format veritysetup(8) and the
// kernel's dm-verity documentation give for a hash tree without superblock after the data.
func TestVerityTarget(t *testing.T) {
	p := verityParams{RootHash: rootHash, DataBlocks: 9216, Salt: "0011"}
	got := p.verityTarget("254:3")
	want := target{sectors: 73728, ttype: "verity",
		params: "1 254:3 254:3 4096 4096 9216 9216 sha512 " + rootHash + " 0011"}
	if got != want {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

// checkHash finds the hash by its name line, not by a driver or a prefix of another name.
func TestCheckHash(t *testing.T) {
	const entry = "name         : %s\ndriver       : %s-generic\nmodule       : kernel\ntype         : shash\n\n"
	for _, tc := range []struct {
		name, crypto, wantErr string
	}{
		{"registered", fmt.Sprintf(entry, "sha256", "sha256") + fmt.Sprintf(entry, "sha512", "sha512"), ""},
		{"module not loaded", fmt.Sprintf(entry, "sha256", "sha256") + fmt.Sprintf(entry, "sha384", "sha384"), "the kernel has no sha512"},
		{"only as a driver name", "name         : hmac(sha256)\ndriver       : sha512\n", "the kernel has no sha512"},
		{"empty", "", "a fault of the image's build"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "crypto")
			if err := os.WriteFile(p, []byte(tc.crypto), 0o444); err != nil {
				t.Fatal(err)
			}
			err := checkHash(p, "sha512")
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
	if err := checkHash(filepath.Join(t.TempDir(), "absent"), "sha512"); err == nil || !strings.Contains(err.Error(), "reading") {
		t.Errorf("absent /proc/crypto: %v", err)
	}
}

package image

import (
	"strings"
	"testing"
)

func TestLockRoundTrip(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	l := &Lock{Packages: []LockedPackage{
		{"arm64", "zlib1g", "1:1.2.13.dfsg-1", "arm64", sum, 82744, "http://deb.debian.org/debian/pool/main/z/zlib/zlib1g_1.2.13.dfsg-1_arm64.deb"},
		{"amd64", "dash", "0.5.12-2", "amd64", sum, 88808, "http://deb.debian.org/debian/pool/main/d/dash/dash_0.5.12-2_amd64.deb"},
		{"amd64", "adduser", "3.134", "all", sum, 1, "http://x/adduser_3.134_all.deb"},
	}}
	parsed, err := ParseLock(l.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if got := len(parsed.Packages); got != 3 {
		t.Fatalf("parsed %d packages, want 3", got)
	}
	// canonical order: by arch, then name
	var order []string
	for _, p := range parsed.Packages {
		order = append(order, p.Arch+"/"+p.Name)
	}
	if got, want := strings.Join(order, " "), "amd64/adduser amd64/dash arm64/zlib1g"; got != want {
		t.Errorf("order %q, want %q", got, want)
	}
	if got := parsed.ForArch("arm64"); len(got) != 1 || got[0].Version != "1:1.2.13.dfsg-1" || got[0].Size != 82744 {
		t.Errorf("ForArch(arm64) = %+v", got)
	}
	parsed.Replace("amd64", []LockedPackage{{"amd64", "udev", "252", "amd64", sum, 2, "http://x/udev.deb"}})
	if got := len(parsed.ForArch("amd64")); got != 1 {
		t.Errorf("after Replace amd64 has %d packages, want 1", got)
	}
	if got := len(parsed.ForArch("arm64")); got != 1 {
		t.Errorf("Replace(amd64) touched arm64: %d packages", got)
	}
}

func TestParseLockErrors(t *testing.T) {
	sum := strings.Repeat("0", 64)
	for _, tc := range []struct{ name, text, want string }{
		{"fields", "amd64 dash 1 amd64 " + sum + " 5\n", "line 1: want 7 fields"},
		{"size", "amd64 dash 1 amd64 " + sum + " big http://x\n", `line 1: size "big"`},
		{"sha", "# c\namd64 dash 1 amd64 abc 5 http://x\n", `line 2: sha256 "abc"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseLock([]byte(tc.text))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestParsePrintURIs(t *testing.T) {
	out := `'http://deb.debian.org/debian/pool/main/g/gcc-12/gcc-12-base_12.2.0-14%2bdeb12u1_amd64.deb' gcc-12-base_12.2.0-14+deb12u1_amd64.deb 37596 MD5Sum:8e7e741807b1e1939df8f58323affdcb
'http://deb.debian.org/debian/pool/main/libc/libcap2/libcap2_1%3a2.66-4+deb12u3+b1_amd64.deb' libcap2_1%3a2.66-4+deb12u3+b1_amd64.deb 27072 
'http://deb.debian.org/debian/pool/main/a/adduser/adduser_3.134_all.deb' adduser_3.134_all.deb 183272 SHA256:c24f
`
	pkgs, err := parsePrintURIs("amd64", []byte(out))
	if err != nil {
		t.Fatal(err)
	}
	want := []LockedPackage{
		{Arch: "amd64", Name: "gcc-12-base", Version: "12.2.0-14+deb12u1", PkgArch: "amd64", Size: 37596,
			URL: "http://deb.debian.org/debian/pool/main/g/gcc-12/gcc-12-base_12.2.0-14%2bdeb12u1_amd64.deb"},
		{Arch: "amd64", Name: "libcap2", Version: "1:2.66-4+deb12u3+b1", PkgArch: "amd64", Size: 27072,
			URL: "http://deb.debian.org/debian/pool/main/libc/libcap2/libcap2_1%3a2.66-4+deb12u3+b1_amd64.deb"},
		{Arch: "amd64", Name: "adduser", Version: "3.134", PkgArch: "all", Size: 183272,
			URL: "http://deb.debian.org/debian/pool/main/a/adduser/adduser_3.134_all.deb"},
	}
	if len(pkgs) != len(want) {
		t.Fatalf("got %d packages, want %d", len(pkgs), len(want))
	}
	for i := range want {
		if pkgs[i] != want[i] {
			t.Errorf("package %d:\n got %+v\nwant %+v", i, pkgs[i], want[i])
		}
	}
	if _, err := parsePrintURIs("amd64", []byte("'http://x/bad.deb' bad.deb 5 SHA256:x\n")); err == nil {
		t.Error("a file name that is not name_version_arch.deb was accepted")
	}
}

func TestParseIndexSHA256(t *testing.T) {
	index := `Package: adduser
Version: 99999
Architecture: all

Package: adduser
Version: 3.134
Architecture: all
Description: add and remove users
 SHA256: not-a-field-continuation-line
SHA256: c24fe4eb

Package: dash
Version: 0.5.12-2
Architecture: arm64
SHA256: 1111
`
	got := parseIndexSHA256([]byte(index))
	want := map[string]string{"adduser 3.134 all": "c24fe4eb", "dash 0.5.12-2 arm64": "1111"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %q, want %q", k, got[k], v)
		}
	}
}

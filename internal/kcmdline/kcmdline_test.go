package kcmdline

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParams(t *testing.T) {
	kv := func(k, v string) Param { return Param{Key: k, Value: v, HasValue: true} }
	flag := func(k string) Param { return Param{Key: k} }
	for _, tc := range []struct {
		name, cmdline string
		want          []Param
	}{
		{"empty", "", nil},
		{"only whitespace", " \t\n ", nil},
		{"proc cmdline", "BOOT_IMAGE=/vmlinuz root=PARTUUID=6A4F ro console=ttyS0,115200n8 quiet\n",
			[]Param{kv("BOOT_IMAGE", "/vmlinuz"), kv("root", "PARTUUID=6A4F"), flag("ro"), kv("console", "ttyS0,115200n8"), flag("quiet")}},
		{"spaces tabs newlines", "  a  b\tc\nd=1\t\n", []Param{flag("a"), flag("b"), flag("c"), kv("d", "1")}},
		{"CRLF from an edited bootloader file", "a=1\r\nb=2\r\n", []Param{kv("a", "1"), kv("b", "2")}},
		{"value with =", "etcd.config.url=https://h/c?checksum=sha256:ab&x=1", []Param{kv("etcd.config.url", "https://h/c?checksum=sha256:ab&x=1")}},
		{"empty value", "a= b", []Param{kv("a", ""), flag("b")}},
		{"quoted value", `x="1 2" y`, []Param{kv("x", "1 2"), flag("y")}},
		{"quoted value with tab and newline", "x=\"1\t2\n3\" y", []Param{kv("x", "1\t2\n3"), flag("y")}},
		{"quoted word", `"quoted arg" z`, []Param{flag("quoted arg"), flag("z")}},
		{"quoted whole parameter", `"etcd.platform=qemu" quiet`, []Param{kv("etcd.platform", "qemu"), flag("quiet")}},
		{"quoted empty value", `z="" w`, []Param{kv("z", ""), flag("w")}},
		{"empty quotes", `a "" b`, []Param{flag("a"), flag(""), flag("b")}},
		{"lone quote as value", `z=" w`, []Param{kv("z", " w")}}, // an unclosed quote runs to the end
		{"value quote is the last byte", `z="`, []Param{kv("z", "")}},
		{"quote inside a word is kept", `a"b c"d e`, []Param{flag(`a"b c"d`), flag("e")}},
		{"quote inside a value is kept", `k=a"b c"`, []Param{kv("k", `a"b c"`)}},
		{"quoted key", `"k"=v`, []Param{kv(`k"`, "v")}}, // as the kernel: only the closing quote of the word goes
		{"unclosed quote", `a="b c`, []Param{kv("a", "b c")}},
		{"-- ends the kernel's parameters", "root=/dev/vda -- init=/bin/sh single", []Param{kv("root", "/dev/vda")}},
		{"--= is a parameter", "--=x y", []Param{kv("--", "x"), flag("y")}},
		{"--x is a parameter", "--x y", []Param{flag("--x"), flag("y")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Params(tc.cmdline); !slices.Equal(got, tc.want) {
				t.Errorf("Params(%q) = %q, want %q", tc.cmdline, got, tc.want)
			}
		})
	}
}

func TestGet(t *testing.T) {
	for _, tc := range []struct {
		name, cmdline, key string
		want               string
		wantOK             bool
	}{
		{"simple", "console=ttyS0 etcd.platform=aws ro", "etcd.platform", "aws", true},
		{"absent", "console=ttyS0 ro", "etcd.platform", "", false},
		{"empty command line", "", "etcd.platform", "", false},
		{"prefix is not the key", "etcd.platformx=aws xetcd.platform=gcp", "etcd.platform", "", false},
		{"bare key", "etcd.config.url quiet", "etcd.config.url", "", true},
		{"empty value", "etcd.config.url= quiet", "etcd.config.url", "", true},
		{"value with =", "root=PARTUUID=6A4F", "root", "PARTUUID=6A4F", true},
		{"quoted value", `root=/dev/vda2 etcd.config.url="file:///boot/my config.yaml" quiet`, "etcd.config.url", "file:///boot/my config.yaml", true},
		{"quoted whole parameter", `"etcd.platform=qemu" quiet`, "etcd.platform", "qemu", true},
		{"last wins", "etcd.platform=aws etcd.platform=gcp", "etcd.platform", "gcp", true},
		{"last wins, bare", "init=/sbin/init init", "init", "", true},
		{"tabs and newline", "BOOT_IMAGE=/vmlinuz\tetcd.platform=hetzner\n", "etcd.platform", "hetzner", true},
		{"after -- is init's", "root=/dev/vda -- etcd.platform=aws", "etcd.platform", "", false},
		{"before -- counts", "etcd.platform=gcp -- etcd.platform=aws", "etcd.platform", "gcp", true},
		{"case matters", "ETCD.PLATFORM=aws", "etcd.platform", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Get(tc.cmdline, tc.key)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("Get(%q, %q) = %q, %v; want %q, %v", tc.cmdline, tc.key, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestParamString(t *testing.T) {
	want := []string{"ro", "a=", "b=c", "d=e f"}
	var got []string
	for _, p := range Params(`ro a= b=c "d=e f"`) {
		got = append(got, p.String())
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// FuzzParams checks, beside not panicking, that without quotes a command line is simply
// its fields cut at the first "=", up to "--", and that every parameter is on the line.
func FuzzParams(f *testing.F) {
	for _, s := range []string{"", "ro", "a=b c", `x="1 2" y`, `"a=b"`, `a"b c"d`, "a -- b", "z=\"", "\"", "\t\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		params := Params(s)
		for _, p := range params {
			if !strings.Contains(s, p.Key) || !strings.Contains(s, p.Value) {
				t.Errorf("Params(%q) gave %+v, not on the line", s, p)
			}
		}
		if strings.Contains(s, `"`) {
			return
		}
		var want []Param
		for _, w := range strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(space, r) }) {
			if w == "--" {
				break
			}
			k, v, ok := strings.Cut(w, "=")
			want = append(want, Param{Key: k, Value: v, HasValue: ok})
		}
		if !slices.Equal(params, want) {
			t.Errorf("Params(%q) = %q, want %q", s, params, want)
		}
	})
}

// The initramfs's /init is a small static binary: this package must not grow its imports.
func TestImportsOnlyStrings(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			if imp.Path.Value != `"strings"` {
				t.Errorf("%s imports %s: kcmdline may depend only on strings (cmd/initramfs uses it)", name, imp.Path.Value)
			}
		}
	}
}

package image

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	cdx "github.com/CycloneDX/cyclonedx-go"
)

// Copyright files in the shapes Debian packages ship them.
const (
	// machine-readable, with a multi-line Comment, continuation lines in Files and Copyright,
	// an "or" choice, and stand-alone License paragraphs holding texts
	dep5Utils = `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: exutils
Source: https://example.org/exutils
Comment:
 The Debian packaging of the example utilities.

Files: *
Copyright: 1993-2018 A. Author <a@example.org>
License: GPL-2
Comment: Some files say GPL-2+; they are listed as GPL-2
         for simplicity.

Files: lib/ex/*
       lib/misc/print.c
Copyright: 1995-2006 A. Author <a@example.org>
           1992-1994 B. Author
License: LGPL-2

Files: lib/uuid/*
Copyright: 1996, 1997 C. Author
License: BSD-3-clause or GPL-2

License: GPL-2
 This program is free software; you can redistribute it and/or modify
 it under the terms of version 2 of the GNU General Public License.

License: LGPL-2
 The full text is in /usr/share/common-licenses/LGPL-2.

License: BSD-3-clause
 Redistribution and use in source and binary forms, with or without
 modification, are permitted provided that the conditions are met.
`
	// machine-readable (old http URL, CRLF line ends), "with … exception" names, a comma
	// before "and", and a licence only in the header
	dep5Lib = "Format: http://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\r\n" +
		"Upstream-Name: libex\r\n" +
		"License: Expat\r\n" +
		"\r\n" +
		"Files: *\r\n" +
		"Copyright: 2001-2023 The libex authors\r\n" +
		"License: LGPL-2.1+ with OpenSSL exception\r\n" +
		"\r\n" +
		"Files: src/compat/*\r\n" +
		"Copyright: 2010 D. Author\r\n" +
		"License: GPL-2+ or Artistic, and public-domain\r\n" +
		"\r\n" +
		"Files: debian/*\r\n" +
		"Copyright: 2020 E. Maintainer\r\n" +
		"License: LGPL-2.1+ with OpenSSL exception\r\n"
	// the DEP-5 draft's header field
	dep5Draft = `Format-Specification: http://svn.debian.org/wsvn/dep/web/deps/dep5.mdwn?op=file&rev=135
Name: old

Files: *
Copyright: 2009 F. Author
License: ISC
`
	// free text, as the GNU C library's and GCC's copyright files are
	freeText = `This is the Debian prepackaged version of the Example C Library.

It was put together by the Example Maintainers <maint@example.org>

* Most of the library is under the following copyright:

    Copyright (C) 1991-2015 Free Software Foundation, Inc.

License: this line looks like a field but the file is not machine-readable
`
)

func TestDEP5Licenses(t *testing.T) {
	for _, tt := range []struct {
		name, file string
		want       []string
	}{
		{"files paragraphs", dep5Utils, []string{"BSD-3-clause", "GPL-2", "LGPL-2"}},
		{"exceptions, header licence, CRLF", dep5Lib, []string{"Artistic", "Expat", "GPL-2+", "LGPL-2.1+ with OpenSSL exception", "public-domain"}},
		{"DEP-5 draft", dep5Draft, []string{"ISC"}},
		{"free text", freeText, nil},
		{"empty", "", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := dep5Licenses([]byte(tt.file)); !slices.Equal(got, tt.want) {
				t.Errorf("dep5Licenses = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseSourceField(t *testing.T) {
	for _, tt := range []struct{ field, pkg, version, wantName, wantVersion string }{
		{"", "dash", "0.5.12-2", "dash", "0.5.12-2"},
		{"gcc-12", "libgcc-s1", "12.2.0-14+deb12u1", "gcc-12", "12.2.0-14+deb12u1"},
		{"e2fsprogs (1.47.0-2)", "logsave", "1.47.0-2+b2", "e2fsprogs", "1.47.0-2"},
		{" linux-signed-amd64 (6.1.158+1) ", "linux-image-6.1.0-41-amd64", "6.1.158-1", "linux-signed-amd64", "6.1.158+1"},
	} {
		name, version := parseSourceField(tt.field, tt.pkg, tt.version)
		if name != tt.wantName || version != tt.wantVersion {
			t.Errorf("parseSourceField(%q, %q, %q) = %q, %q; want %q, %q", tt.field, tt.pkg, tt.version, name, version, tt.wantName, tt.wantVersion)
		}
	}
}

// The copyright file is read from the unpacked tree, through a doc directory linked to another
// package's, but never through a link out of the tree.
func TestCopyrightLicenses(t *testing.T) {
	tree := t.TempDir()
	doc := filepath.Join(tree, "usr/share/doc")
	outside := t.TempDir()
	for dir, file := range map[string]string{"exutils": dep5Utils, "gcc-base": dep5Draft, "libc": freeText} {
		if err := os.MkdirAll(filepath.Join(doc, dir), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(doc, dir, "copyright"), []byte(file), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(outside, "copyright"), []byte(dep5Lib), 0o644); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{"libgcc": "gcc-base", "escapes": outside, "escapes-rel": "../../../../" + filepath.Base(outside)} {
		if err := os.Symlink(target, filepath.Join(doc, link)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		pkg  string
		want []string
	}{
		{"exutils", []string{"BSD-3-clause", "GPL-2", "LGPL-2"}},
		{"libgcc", []string{"ISC"}},
		{"libc", nil},
		{"absent", nil},
		{"escapes", nil},
		{"escapes-rel", nil},
	} {
		if got := copyrightLicenses(tree, tt.pkg); !slices.Equal(got, tt.want) {
			t.Errorf("%s: licences %q, want %q", tt.pkg, got, tt.want)
		}
	}
}

// debSource reads Source from a real .deb's control data.
func TestDebSource(t *testing.T) {
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skip("no dpkg-deb")
	}
	for _, tt := range []struct{ source, wantName, wantVersion string }{
		{"", "expkg", "1.2-3+b1"},
		{"Source: exsrc\n", "exsrc", "1.2-3+b1"},
		{"Source: exsrc (1.2-3)\n", "exsrc", "1.2-3"},
	} {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, "pkg/DEBIAN"), 0o755); err != nil {
			t.Fatal(err)
		}
		control := "Package: expkg\n" + tt.source + "Version: 1.2-3+b1\nArchitecture: all\nMaintainer: Ex <ex@example.org>\nDescription: example\n"
		if err := os.WriteFile(filepath.Join(dir, "pkg/DEBIAN/control"), []byte(control), 0o644); err != nil {
			t.Fatal(err)
		}
		deb := filepath.Join(dir, "expkg.deb")
		if out, err := exec.Command("dpkg-deb", "--root-owner-group", "--build", filepath.Join(dir, "pkg"), deb).CombinedOutput(); err != nil {
			t.Fatalf("dpkg-deb --build: %v\n%s", err, out)
		}
		name, version, err := debSource(context.Background(), deb)
		if err != nil {
			t.Fatal(err)
		}
		if name != tt.wantName || version != tt.wantVersion {
			t.Errorf("%q: source %q %q, want %q %q", tt.source, name, version, tt.wantName, tt.wantVersion)
		}
	}
}

func testSBOMImage() sbomImage {
	return sbomImage{
		Version: "v1.0.0", BuildID: "0123456789abcdef", Arch: "amd64", Epoch: 1700000000,
		Packages: []sbomPackage{
			{Name: "logsave", Version: "1.47.0-2+b2", Arch: "amd64", Source: "e2fsprogs", SourceVersion: "1.47.0-2",
				Licenses: []string{"GPL-2", "LGPL-2"}},
			{Name: "ca-certificates", Version: "20230311+deb12u1", Arch: "all", Source: "ca-certificates", SourceVersion: "20230311+deb12u1",
				Licenses: []string{"GPL-2+", "MPL-2.0"}},
			{Name: "libc6", Version: "2.36-9+deb12u13", Arch: "amd64", Source: "glibc", SourceVersion: "2.36-9+deb12u13"},
			{Name: "libexample", Version: "1:2.0-1", Arch: "amd64", Source: "example", SourceVersion: "1:2.0-1"},
		},
		Binaries: []sbomBinary{
			{Name: "firstboot", Path: "/usr/bin/firstboot", Version: "v1.0.0", GoVersion: "go1.26.8", Modules: []GoModule{
				{"go.uber.org/zap", "v1.27.0"}, {"github.com/CycloneDX/cyclonedx-go", "v0.12.0"}, {"google.golang.org/grpc", "v1.83.2"}}},
			{Name: "etcd", Path: "/usr/bin/etcd", Version: "v3.7.3", GoVersion: "go1.26.8", Modules: []GoModule{
				{"go.etcd.io/etcd/server/v3", "v3.7.3"}, {"go.uber.org/zap", "v1.27.0"}, {"google.golang.org/grpc", "v1.80.0"}}},
		},
	}
}

func TestSBOM(t *testing.T) {
	im := testSBOMImage()
	j, err := encodeSBOM(makeSBOM(im))
	if err != nil {
		t.Fatal(err)
	}
	bom := new(cdx.BOM)
	if err := cdx.NewBOMDecoder(bytes.NewReader(j), cdx.BOMFileFormatJSON).Decode(bom); err != nil {
		t.Fatalf("the SBOM does not parse: %v\n%s", err, j)
	}
	if bom.SpecVersion != cdx.SpecVersion1_6 || bom.BOMFormat != "CycloneDX" {
		t.Errorf("spec %v, format %q", bom.SpecVersion, bom.BOMFormat)
	}
	if !strings.HasPrefix(bom.SerialNumber, "urn:uuid:") || len(bom.SerialNumber) != len("urn:uuid:")+36 {
		t.Errorf("serial number %q", bom.SerialNumber)
	}
	if bom.Metadata == nil || bom.Metadata.Timestamp != "2023-11-14T22:13:20Z" || bom.Metadata.Component == nil ||
		bom.Metadata.Component.Type != cdx.ComponentTypeOS || bom.Metadata.Component.Version != "v1.0.0" {
		t.Fatalf("metadata %+v", bom.Metadata)
	}

	byRef := map[string]cdx.Component{}
	var order []string
	for _, c := range *bom.Components {
		if _, dup := byRef[c.BOMRef]; dup {
			t.Errorf("component %s twice", c.BOMRef)
		}
		byRef[c.BOMRef] = c
		order = append(order, c.BOMRef)
	}
	prop := func(c cdx.Component, name string) string {
		if c.Properties != nil {
			for _, p := range *c.Properties {
				if p.Name == name {
					return p.Value
				}
			}
		}
		return ""
	}
	for _, tt := range []struct {
		purl, name, version, source, sourceVersion string
		licenses                                   []string
	}{
		{"pkg:deb/debian/logsave@1.47.0-2%2Bb2?arch=amd64", "logsave", "1.47.0-2+b2", "e2fsprogs", "1.47.0-2", []string{"GPL-2", "LGPL-2"}},
		{"pkg:deb/debian/ca-certificates@20230311%2Bdeb12u1?arch=all", "ca-certificates", "20230311+deb12u1", "ca-certificates", "20230311+deb12u1", []string{"GPL-2+", "MPL-2.0"}},
		{"pkg:deb/debian/libc6@2.36-9%2Bdeb12u13?arch=amd64", "libc6", "2.36-9+deb12u13", "glibc", "2.36-9+deb12u13", nil},
		{"pkg:deb/debian/libexample@1:2.0-1?arch=amd64", "libexample", "1:2.0-1", "example", "1:2.0-1", nil},
	} {
		c, ok := byRef[tt.purl]
		if !ok {
			t.Errorf("no component %s", tt.purl)
			continue
		}
		if c.PackageURL != tt.purl || c.Name != tt.name || c.Version != tt.version {
			t.Errorf("%s: purl %q, name %q, version %q", tt.purl, c.PackageURL, c.Name, c.Version)
		}
		if s, v := prop(c, "debian:source"), prop(c, "debian:source_version"); s != tt.source || v != tt.sourceVersion {
			t.Errorf("%s: source %q %q, want %q %q", tt.purl, s, v, tt.source, tt.sourceVersion)
		}
		var lic []string
		if c.Licenses != nil {
			for _, l := range *c.Licenses {
				if l.License == nil || l.License.Acknowledgement != cdx.LicenseAcknowledgementDeclared {
					t.Errorf("%s: licence %+v", tt.purl, l)
					continue
				}
				lic = append(lic, l.License.Name)
			}
		}
		if !slices.Equal(lic, tt.licenses) {
			t.Errorf("%s: licences %q, want %q", tt.purl, lic, tt.licenses)
		}
	}

	// the binaries, each depending on exactly its own modules and standard library
	deps := map[string][]string{}
	for _, d := range *bom.Dependencies {
		deps[d.Ref] = *d.Dependencies
	}
	for _, tt := range []struct {
		ref, name string
		mods      []string
	}{
		{"bin:etcd", "etcd", []string{
			"pkg:golang/go.etcd.io/etcd/server/v3@v3.7.3", "pkg:golang/go.uber.org/zap@v1.27.0",
			"pkg:golang/google.golang.org/grpc@v1.80.0", "pkg:golang/stdlib@1.26.8"}},
		{"bin:firstboot", "firstboot", []string{
			"pkg:golang/github.com/cyclonedx/cyclonedx-go@v0.12.0", "pkg:golang/go.uber.org/zap@v1.27.0",
			"pkg:golang/google.golang.org/grpc@v1.83.2", "pkg:golang/stdlib@1.26.8"}},
	} {
		if c := byRef[tt.ref]; c.Name != tt.name || c.Type != cdx.ComponentTypeApplication {
			t.Errorf("%s: component %+v", tt.ref, c)
		}
		if !slices.Equal(deps[tt.ref], tt.mods) {
			t.Errorf("%s depends on %q, want %q", tt.ref, deps[tt.ref], tt.mods)
		}
		for _, m := range tt.mods {
			if _, ok := byRef[m]; !ok {
				t.Errorf("%s: no component %s", tt.ref, m)
			}
		}
	}
	if c := byRef["pkg:golang/github.com/cyclonedx/cyclonedx-go@v0.12.0"]; c.Name != "github.com/CycloneDX/cyclonedx-go" || c.Version != "v0.12.0" {
		t.Errorf("module component %+v: the name keeps the module path's case", c)
	}
	// 4 packages, 2 binaries, 5 modules (zap once, grpc at two versions) and the standard library
	if len(order) != 4+2+5+1 {
		t.Errorf("%d components: %q", len(order), order)
	}
	image := deps[bom.Metadata.Component.BOMRef]
	if len(image) != 4+2 {
		t.Errorf("the image depends on %q", image)
	}

	// The same image gives the same bytes, whatever order the build found things in; another
	// arch or build another serial number.
	shuffled := testSBOMImage()
	slices.Reverse(shuffled.Packages)
	slices.Reverse(shuffled.Binaries)
	slices.Reverse(shuffled.Binaries[0].Modules)
	again, err := encodeSBOM(makeSBOM(shuffled))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(j, again) {
		t.Errorf("the SBOM differs with the input order:\n%s\n---\n%s", j, again)
	}
	other := testSBOMImage()
	other.Arch = "arm64"
	if makeSBOM(other).SerialNumber == bom.SerialNumber {
		t.Error("two arches' SBOMs have one serial number")
	}
}

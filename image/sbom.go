package image

import (
	"bufio"
	"bytes"
	"context"
	"debug/buildinfo"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
)

// The SBOM: one CycloneDX document per arch, SBOM-<arch>.cdx.json in --out, listing every
// Debian package in the image (with its source package and the licences its copyright file
// states in Debian's machine-readable format) and every Go module compiled into its binaries,
// by binary. It is made from the build's inputs alone, so a rebuild writes the same bytes.

// sbomPackage is one Debian package in the image.
type sbomPackage struct {
	Name, Version, Arch   string   // Arch is the package's own: the image's, or "all"
	Source, SourceVersion string   // the source package it was built from
	Licenses              []string // Debian's short names, sorted; nil: not stated machine-readably
}

// sbomBinary is one Go binary in the image and the modules compiled into it.
type sbomBinary struct {
	Name      string // its name in the image: etcd, firstboot, init (the initramfs's)
	Path      string // where it lives in the image, for people to read
	Version   string
	GoVersion string // the toolchain's, "go1.26.8": the standard library compiled in
	Modules   []GoModule
}

// sbomImage is what an arch's SBOM describes.
type sbomImage struct {
	Version, BuildID, Arch string // Arch: the image's, amd64 … (not Debian's name for it)
	Epoch                  int64
	Packages               []sbomPackage
	Binaries               []sbomBinary
}

// SBOMFile is the name of an arch's SBOM in --out.
func SBOMFile(archName string) string { return "SBOM-" + archName + ".cdx.json" }

// debSource reads the source package of a .deb from its control data: the Source field, which
// may add the source version in parentheses when it differs from the package's; without it the
// source is the package itself.
func debSource(ctx context.Context, deb string) (name, version string, err error) {
	out, err := exec.CommandContext(ctx, "dpkg-deb", "--field", deb, "Package", "Version", "Source").Output()
	if err != nil {
		return "", "", fmt.Errorf("dpkg-deb --field %s: %w", filepath.Base(deb), err)
	}
	f := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok {
			f[k] = strings.TrimSpace(v)
		}
	}
	name, version = parseSourceField(f["Source"], f["Package"], f["Version"])
	return name, version, nil
}

// parseSourceField reads a control file's Source field ("gcc-12", "e2fsprogs (1.47.0-2)", or
// empty) for a package of pkgVersion.
func parseSourceField(field, pkg, pkgVersion string) (name, version string) {
	field = strings.TrimSpace(field)
	if field == "" {
		return pkg, pkgVersion
	}
	name, rest, ok := strings.Cut(field, " ")
	if v, found := strings.CutPrefix(strings.TrimSpace(rest), "("); ok && found {
		return name, strings.TrimSpace(strings.TrimSuffix(v, ")"))
	}
	return name, pkgVersion
}

// copyrightLicenses reads the licences a package's /usr/share/doc/PKG/copyright states, from
// the tree it was unpacked into. The doc directory may be a link to another package's of the
// same source (libgcc-s1 → gcc-12-base), followed only within the tree. nil: no copyright file,
// or not in the machine-readable format.
func copyrightLicenses(tree, pkg string) []string {
	root, err := os.OpenRoot(tree)
	if err != nil {
		return nil
	}
	defer root.Close()
	b, err := root.ReadFile(filepath.Join("usr/share/doc", pkg, "copyright"))
	if err != nil {
		return nil
	}
	return dep5Licenses(b)
}

// dep5Licenses returns the distinct short licence names of a copyright file in Debian's
// machine-readable format (DEP-5: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/),
// sorted; nil if the file is not in that format. The names come from the License fields of the
// header and of the Files paragraphs: what the package's files are under. A field's first line
// is an expression of names joined by "or" and "and" ("GPL-2+ or Artistic", "MIT and
// BSD-3-clause"); "with X exception" stays part of the name it follows. Stand-alone License
// paragraphs only give the texts of names used elsewhere.
func dep5Licenses(copyright []byte) []string {
	paras := deb822Paragraphs(string(copyright))
	if len(paras) == 0 {
		return nil
	}
	// drafts of the format named the field Format-Specification and pointed at DEP-5
	format := paras[0]["format"] + paras[0]["format-specification"]
	if !strings.Contains(format, "copyright-format/1.0") && !strings.Contains(format, "dep5") {
		return nil
	}
	seen := map[string]bool{}
	for i, p := range paras {
		if _, files := p["files"]; i != 0 && !files {
			continue
		}
		for _, n := range licenseNames(p["license"]) {
			seen[n] = true
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// licenseNames splits a License field's first line into its licence names.
func licenseNames(expr string) []string {
	var names, cur []string
	flush := func() {
		if n := strings.Trim(strings.Join(cur, " "), ", "); n != "" {
			names = append(names, n)
		}
		cur = nil
	}
	for _, w := range strings.Fields(expr) {
		if k := strings.ToLower(strings.TrimSuffix(w, ",")); k == "or" || k == "and" {
			flush()
			continue
		}
		cur = append(cur, w)
	}
	flush()
	return names
}

// deb822Paragraphs reads the fields of each paragraph of a Debian control-style file: field
// names lowercased, values the first line only (continuation lines hold the licence text or
// the file list's rest, which the SBOM does not need).
func deb822Paragraphs(s string) []map[string]string {
	var paras []map[string]string
	var cur map[string]string
	for _, line := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
		switch {
		case strings.TrimSpace(line) == "":
			cur = nil
		case line[0] == ' ' || line[0] == '\t' || line[0] == '#':
			// continuation line or comment
		default:
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			if cur == nil {
				cur = map[string]string{}
				paras = append(paras, cur)
			}
			cur[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
		}
	}
	return paras
}

// goBinary reads a Go binary's toolchain version and modules for the SBOM.
func goBinary(name, inImage, version, file string) (sbomBinary, error) {
	info, err := buildinfo.ReadFile(file)
	if err != nil {
		return sbomBinary{}, fmt.Errorf("reading build info of %s: %w", file, err)
	}
	mods, err := binaryModules(file)
	if err != nil {
		return sbomBinary{}, err
	}
	return sbomBinary{Name: name, Path: inImage, Version: version, GoVersion: info.GoVersion, Modules: mods}, nil
}

// makeSBOM describes an arch's image as a CycloneDX document: the image is the document's
// component; it holds the Debian packages and the Go binaries, and each binary the Go modules
// (and standard library) compiled into it. Every list is sorted, the time is the build's epoch
// and the serial number comes from the build ID, so the same image gives the same document.
func makeSBOM(im sbomImage) *cdx.BOM {
	bom := cdx.NewBOM()
	bom.SerialNumber = "urn:uuid:" + strings.ToLower(stableGUID(im.BuildID+"/"+im.Arch, "sbom"))
	bom.Version = 1
	imageRef := "etcd-appliance-" + im.Version + "-" + im.Arch
	bom.Metadata = &cdx.Metadata{
		Timestamp: time.Unix(im.Epoch, 0).UTC().Format(time.RFC3339),
		Tools: &cdx.ToolsChoice{Components: &[]cdx.Component{
			{Type: cdx.ComponentTypeApplication, Name: "imagebuild", Version: im.Version}}},
		Component: &cdx.Component{
			BOMRef: imageRef, Type: cdx.ComponentTypeOS, Name: "etcd-appliance", Version: im.Version,
			Description: "etcd appliance disk image for " + im.Arch,
			Properties: &[]cdx.Property{
				{Name: "etcd-appliance:arch", Value: im.Arch},
				{Name: "etcd-appliance:build_id", Value: im.BuildID},
			},
		},
	}

	var comps []cdx.Component
	var imageDeps []string
	pkgs := slices.Clone(im.Packages)
	slices.SortFunc(pkgs, func(x, y sbomPackage) int {
		return strings.Compare(x.Name+" "+x.Arch+" "+x.Version, y.Name+" "+y.Arch+" "+y.Version)
	})
	for _, p := range pkgs {
		c := cdx.Component{
			Type: cdx.ComponentTypeLibrary, Name: p.Name, Version: p.Version,
			PackageURL: debPURL(p.Name, p.Version, p.Arch),
			Properties: &[]cdx.Property{
				{Name: "debian:arch", Value: p.Arch},
				{Name: "debian:source", Value: p.Source},
				{Name: "debian:source_version", Value: p.SourceVersion},
			},
		}
		c.BOMRef = c.PackageURL
		if len(p.Licenses) > 0 {
			ls := make(cdx.Licenses, 0, len(p.Licenses))
			for _, n := range p.Licenses {
				// Debian's short names (GPL-2+, Expat, public-domain) are not all SPDX
				// identifiers, so they go in as names, as the package declares them.
				ls = append(ls, cdx.LicenseChoice{License: &cdx.License{Name: n, Acknowledgement: cdx.LicenseAcknowledgementDeclared}})
			}
			c.Licenses = &ls
		}
		comps = append(comps, c)
		imageDeps = append(imageDeps, c.BOMRef)
	}

	bins := slices.Clone(im.Binaries)
	slices.SortFunc(bins, func(x, y sbomBinary) int { return strings.Compare(x.Name, y.Name) })
	mods := map[string]cdx.Component{}
	var deps []cdx.Dependency
	for _, b := range bins {
		ref := "bin:" + b.Name
		comps = append(comps, cdx.Component{
			BOMRef: ref, Type: cdx.ComponentTypeApplication, Name: b.Name, Version: b.Version,
			Properties: &[]cdx.Property{
				{Name: "etcd-appliance:path", Value: b.Path},
				{Name: "go:toolchain", Value: b.GoVersion},
			},
		})
		imageDeps = append(imageDeps, ref)
		var binDeps []string
		if b.GoVersion != "" {
			std := cdx.Component{Type: cdx.ComponentTypeLibrary, Name: "stdlib", Version: b.GoVersion,
				PackageURL: "pkg:golang/stdlib@" + purlEscape(strings.TrimPrefix(b.GoVersion, "go"))}
			std.BOMRef = std.PackageURL
			mods[std.BOMRef] = std
			binDeps = append(binDeps, std.BOMRef)
		}
		for _, m := range b.Modules {
			c := cdx.Component{Type: cdx.ComponentTypeLibrary, Name: m.Path, Version: m.Version, PackageURL: goPURL(m.Path, m.Version)}
			c.BOMRef = c.PackageURL
			mods[c.BOMRef] = c
			binDeps = append(binDeps, c.BOMRef)
		}
		slices.Sort(binDeps)
		binDeps = slices.Compact(binDeps)
		deps = append(deps, cdx.Dependency{Ref: ref, Dependencies: &binDeps})
	}
	for _, ref := range slices.Sorted(maps.Keys(mods)) {
		comps = append(comps, mods[ref])
	}
	bom.Components = &comps
	deps = append([]cdx.Dependency{{Ref: imageRef, Dependencies: &imageDeps}}, deps...)
	bom.Dependencies = &deps
	return bom
}

// encodeSBOM writes the document as indented JSON, CycloneDX 1.6 (widely read by scanners).
func encodeSBOM(bom *cdx.BOM) ([]byte, error) {
	var buf bytes.Buffer
	enc := cdx.NewBOMEncoder(&buf, cdx.BOMFileFormatJSON).SetPretty(true).SetEscapeHTML(false)
	if err := enc.EncodeVersion(bom, cdx.SpecVersion1_6); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// debPURL is a Debian package's package URL: pkg:deb/debian/NAME@VERSION?arch=ARCH.
func debPURL(name, version, arch string) string {
	return "pkg:deb/debian/" + purlEscape(name) + "@" + purlEscape(version) + "?arch=" + purlEscape(arch)
}

// goPURL is a Go module's package URL: pkg:golang/PATH@VERSION, the path lowercased as the
// purl spec has it for golang (the component's name keeps its case).
func goPURL(path, version string) string {
	segs := strings.Split(strings.ToLower(path), "/")
	for i, s := range segs {
		segs[i] = purlEscape(s)
	}
	u := "pkg:golang/" + strings.Join(segs, "/")
	if version != "" {
		u += "@" + purlEscape(version)
	}
	return u
}

// purlEscape percent-encodes a purl component: everything but letters, digits and . - _ ~
// (a Debian version's + becomes %2B, an epoch's : stays, as the spec allows in versions).
func purlEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '.', c == '-', c == '_', c == '~', c == ':':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

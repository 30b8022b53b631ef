// Package image is the build pipeline that turns pinned inputs (the package lock, the pinned
// etcd module, this repository's code and overlays) into bootable disk images. The stages run
// in order for each arch, each timed on the progress display:
//
//	packages → binaries → root tree → root filesystem → boot artefacts → GPT disk → formats
//
// and a manifest describing every output is written at the end.
package image

import (
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/etcd-appliance/appliance/arch"
	"golang.org/x/sync/errgroup"
)

// Options say what to build.
type Options struct {
	SrcDir      string // repository root (etcdsrc/, cmd/, packages.lock)
	OutDir      string
	CacheDir    string // downloaded packages and apt lists, kept across builds
	Arches      []arch.Arch
	Formats     []string
	Platform    string // etcd.platform= kernel argument; empty: detect at boot
	EtcdVersion string // empty: the pinned version
	Version     string // image version, in file names and os-release
	Epoch       int64  // SOURCE_DATE_EPOCH: every timestamp in the image
	KeepWork    bool
	Progress    io.Writer
	// SourceID is a digest of the source tree the binaries and the root's files come from
	// (imagebuild's sourceID), part of the build ID; empty leaves it out.
	SourceID string
	// SigningKey and SigningCert (PEM files, both or neither) sign the build: the UKI for UEFI
	// Secure Boot, and SHA256SUMS (SHA256SUMS.sig, SHA256SUMS.pub). See LoadSigner.
	SigningKey, SigningCert string
}

// Artifact is one output file, as listed in manifest.json.
type Artifact struct {
	Arch   string `json:"arch"`
	Format string `json:"format"`
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// ManifestPackage is one Debian package in an image.
type ManifestPackage struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Arch    string `json:"arch"`
}

// Manifest is manifest.json.
type Manifest struct {
	Version     string            `json:"version"`
	BuildID     string            `json:"build_id"`
	EtcdVersion string            `json:"etcd_version"`
	Artifacts   []Artifact        `json:"artifacts"`
	Packages    []ManifestPackage `json:"packages"`
	GoModules   []GoModule        `json:"go_modules"`
	Contents    []Contents        `json:"contents"`
}

// LockPath is where the package lock lives in the repository.
func LockPath(srcDir string) string { return filepath.Join(srcDir, "packages.lock") }

// Build runs the pipeline for every requested arch and writes the manifest.
func Build(ctx context.Context, o Options) (*Manifest, error) {
	signer, err := LoadSigner(o.SigningKey, o.SigningCert)
	if err != nil {
		return nil, err
	}
	if o.EtcdVersion == "" {
		v, err := PinnedEtcdVersion(o.SrcDir)
		if err != nil {
			return nil, err
		}
		o.EtcdVersion = v
	}
	if _, err := lineOf(o.EtcdVersion); err != nil {
		return nil, err
	}
	lockBytes, err := os.ReadFile(LockPath(o.SrcDir))
	if err != nil {
		return nil, fmt.Errorf("reading the package lock: %w (create it with 'make lock')", err)
	}
	lock, err := ParseLock(lockBytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", LockPath(o.SrcDir), err)
	}
	for _, f := range o.Formats {
		if _, ok := Formats[f]; !ok {
			return nil, fmt.Errorf("unknown --format %q: use %s", f, strings.Join(sortedKeys(Formats), ", "))
		}
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return nil, err
	}
	m := &Manifest{
		Version:     o.Version,
		BuildID:     buildID(o, lockBytes, signer),
		EtcdVersion: o.EtcdVersion,
		Artifacts:   []Artifact{},
		Packages:    []ManifestPackage{},
		Contents:    []Contents{},
	}
	// The arches build at once: much of a build is single-threaded (unpacking packages,
	// writing the disk and its formats) or waits on downloads, so two cores do three arches
	// in less time than one after another. Each arch fills its own part of the manifest;
	// the parts are joined in arch order, so the manifest does not depend on who finished first.
	// The first arch to fail cancels the others; Wait returns its error, not what stopping did
	// to them.
	p := newProgress(o.Progress, len(o.Arches) > 1)
	g, ctx := errgroup.WithContext(ctx)
	builds := make([]*archBuild, len(o.Arches))
	for i, a := range o.Arches {
		b := &archBuild{o: o, a: a, signer: signer, lock: lock, m: &Manifest{BuildID: m.BuildID}, p: p, mods: map[GoModule]bool{},
			sbom: sbomImage{Version: o.Version, BuildID: m.BuildID, Arch: a.Name, Epoch: o.Epoch}}
		builds[i] = b
		g.Go(func() error {
			if err := b.run(ctx); err != nil {
				return fmt.Errorf("%s: %w", a.Name, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	m.join(builds)
	if err := writeManifest(o.OutDir, m); err != nil {
		return nil, err
	}
	if err := signManifest(o.OutDir, signer); err != nil {
		return nil, err
	}
	p.summary(o.OutDir, m)
	return m, nil
}

// join adds the arches' parts to the manifest, in arch order: their artifacts and contents,
// and their packages and Go modules once each, sorted.
func (m *Manifest) join(builds []*archBuild) {
	mods := map[GoModule]bool{}
	for _, b := range builds {
		m.Artifacts = append(m.Artifacts, b.m.Artifacts...)
		m.Packages = append(m.Packages, b.m.Packages...)
		m.Contents = append(m.Contents, b.m.Contents...)
		maps.Copy(mods, b.mods)
	}
	for mod := range mods {
		m.GoModules = append(m.GoModules, mod)
	}
	// one entry per package: arch-independent packages are in every arch's image
	slices.SortFunc(m.Packages, func(x, y ManifestPackage) int {
		return strings.Compare(x.Name+" "+x.Arch+" "+x.Version, y.Name+" "+y.Arch+" "+y.Version)
	})
	m.Packages = slices.Compact(m.Packages)
	sort.Slice(m.GoModules, func(i, j int) bool {
		return m.GoModules[i].Path+m.GoModules[i].Version < m.GoModules[j].Path+m.GoModules[j].Version
	})
}

// buildID names a build by its inputs, so a rebuild of the same inputs is the same build.
// A signed build's inputs include the signing certificate: its SHA-256 is mixed in, so a
// signed and an unsigned build of the same commit (or two builds signed by different
// certificates) are different builds, as their ESPs differ: different build IDs in the
// manifest and os-release, and different partition GUIDs and FAT serials, so two such disks
// attached to one machine never share a PARTUUID. The certificate rather than the key: it is
// public, fixes the key, and is what the UKI's signature names. The source tree's digest is
// mixed in too, so two builds given the same --version from different sources (a commit and
// its uncommitted edits) are different builds. An unsigned build outside a git checkout (no
// source digest) has the ID it had before either existed.
func buildID(o Options, lock []byte, signer *Signer) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%d\n%s\n%s\n", o.Version, o.Epoch, o.EtcdVersion, o.Platform)
	h.Write(lock)
	if o.SourceID != "" {
		fmt.Fprintf(h, "source %s\n", o.SourceID)
	}
	if signer != nil {
		c := signer.CertSHA256()
		fmt.Fprintf(h, "signed-by-cert-sha256 %x\n", c)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// archBuild is one arch's way through the pipeline. Each stage reads what the stages before it
// left in the fields below and adds its own.
type archBuild struct {
	o      Options
	a      arch.Arch
	signer *Signer // nil: unsigned
	lock   *Lock
	m      *Manifest
	p      *progress
	mods   map[GoModule]bool

	work         string       // work directory, removed at the end unless --keep-work
	name         string       // the outputs' name: etcd-appliance-<version>-<arch>
	bin          string       // binaries: etcd, firstboot (unless etcd is it), initramfs
	etcdLinks    []string     // binaries: the names etcd is also run by
	waitBinaries func() error // waits for the binaries; every call returns the same error

	rootDebs   []string      // packages: what goes into the root tree
	bootDebs   []string      // packages: the boot chain's (UEFI stub, GRUB), kept apart
	sbom       sbomImage     // packages, binaries: what the SBOM lists; root tree: the licences
	rt         *rootTree     // root tree
	bootPkgDir string        // root tree: the boot packages, unpacked
	squash     string        // root partition: the squashfs, then its dm-verity hash tree
	verity     verity        // the hash tree's parameters
	ba         bootArtefacts // boot artefacts
	raw        string        // GPT disk
}

// run takes one arch through the pipeline, top to bottom.
func (b *archBuild) run(ctx context.Context) error {
	b.name = fmt.Sprintf("etcd-appliance-%s-%s", b.o.Version, b.a.Name)
	removeWork, err := b.makeWork()
	if err != nil {
		return err
	}
	defer removeWork()
	// deferred after removeWork, so it runs first: the compiler is gone before its directory is
	ctx, stopBinaries := b.startBinaries(ctx)
	defer stopBinaries()

	if err := b.stage(ctx, "packages", b.fetchPackages); err != nil {
		return err
	}
	if err := b.stage(ctx, "root tree", b.buildRootTree); err != nil {
		return err
	}
	if err := b.stage(ctx, "root filesystem", b.buildRootFS); err != nil {
		return err
	}
	if err := b.stage(ctx, "boot artefacts", b.buildBootArtefacts); err != nil {
		return err
	}
	if err := b.recordContents(); err != nil {
		return err
	}
	if err := b.stage(ctx, "GPT disk", b.buildDisk); err != nil {
		return err
	}
	if err := b.stage(ctx, "formats", b.writeFormats); err != nil {
		return err
	}
	return b.stage(ctx, "SBOM", b.writeSBOM)
}

// stage runs one step of the build as a timed stage on the progress display.
func (b *archBuild) stage(ctx context.Context, name string, fn func(context.Context) (string, error)) error {
	return b.p.stage(b.a.Name, name, func() (string, error) { return fn(ctx) })
}

// makeWork makes the work directory. The function it returns removes it, unless --keep-work.
func (b *archBuild) makeWork() (func(), error) {
	work, err := os.MkdirTemp("", "imagebuild-"+b.a.Name+"-")
	if err != nil {
		return nil, err
	}
	b.work = work
	b.bin = filepath.Join(work, "bin")
	if b.o.KeepWork {
		b.p.printf("[%s] work directory kept: %s\n", b.a.Name, work)
		return func() {}, nil
	}
	return func() { os.RemoveAll(work) }, nil
}

// startBinaries compiles the binaries while the packages download and unpack; only the root
// tree's last step needs them (waitBinaries). The other stages run under the context it
// returns. The function it returns cancels that context, which stops the compiler, and waits
// for the compiler to be gone.
func (b *archBuild) startBinaries(ctx context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- b.stage(ctx, "binaries", b.binaries) }()
	b.waitBinaries = sync.OnceValue(func() error { return <-done })
	return ctx, func() {
		cancel()
		b.waitBinaries()
	}
}

// binaries compiles etcd (also etcdctl and etcdutl), firstboot and the initramfs's init into
// b.bin, and records the Go modules in them.
func (b *archBuild) binaries(ctx context.Context) (string, error) {
	if err := os.MkdirAll(b.bin, 0o755); err != nil {
		return "", err
	}
	links, err := BuildEtcd(ctx, b.o.SrcDir, b.o.EtcdVersion, b.a.GOARCH, b.bin, b.work)
	if err != nil {
		return "", err
	}
	b.etcdLinks = links
	summary := "etcd " + b.o.EtcdVersion + " (also " + strings.Join(links, ", ") + "), "
	cmds, firstboot := []string{"initramfs"}, "etcd"
	if !slices.Contains(links, "firstboot") {
		cmds, firstboot, summary = append(cmds, "firstboot"), "firstboot", summary+"firstboot, "
	}
	for _, c := range cmds {
		if err := goBuild(ctx, b.o.SrcDir, b.a.GOARCH, filepath.Join(b.bin, c), "./cmd/"+c); err != nil {
			return "", err
		}
	}
	for _, bin := range []struct{ name, file, inImage, version string }{
		{"etcd", "etcd", "/usr/bin/etcd", b.o.EtcdVersion},
		{"firstboot", firstboot, "/usr/bin/firstboot", b.o.Version},
		{"init", "initramfs", "/init in the initramfs", b.o.Version},
	} {
		sb, err := goBinary(bin.name, bin.inImage, bin.version, filepath.Join(b.bin, bin.file))
		if err != nil {
			return "", err
		}
		b.sbom.Binaries = append(b.sbom.Binaries, sb)
		for _, mod := range sb.Modules {
			b.mods[mod] = true
		}
	}
	return summary + "initramfs", nil
}

// fetchPackages fetches the arch's locked packages into the cache, lists them in the manifest
// and sorts them into the root tree's and the boot chain's.
func (b *archBuild) fetchPackages(ctx context.Context) (string, error) {
	pkgs := b.lock.ForArch(b.a.DebianArch)
	if len(pkgs) == 0 {
		return "", fmt.Errorf("packages.lock has nothing for %s: run 'make lock'", b.a.DebianArch)
	}
	paths, fetched, err := Fetch(ctx, pkgs, b.o.CacheDir)
	if err != nil {
		return "", err
	}
	isBoot := map[string]bool{}
	for _, n := range b.a.BootPackages {
		isBoot[n] = true
	}
	for i, pkg := range pkgs {
		src, srcVersion, err := debSource(ctx, paths[i])
		if err != nil {
			return "", err
		}
		b.sbom.Packages = append(b.sbom.Packages, sbomPackage{Name: pkg.Name, Version: pkg.Version, Arch: pkg.PkgArch,
			Source: src, SourceVersion: srcVersion})
		// boot packages (the UEFI stub, GRUB) end up in the image too, outside the root; GRUB's
		// dependencies listed with them only in the manifest and SBOM
		b.m.Packages = append(b.m.Packages, ManifestPackage{pkg.Name, pkg.Version, pkg.PkgArch})
		if isBoot[pkg.Name] {
			b.bootDebs = append(b.bootDebs, paths[i])
		} else {
			b.rootDebs = append(b.rootDebs, paths[i])
		}
	}
	return fmt.Sprintf("%d packages, %d downloaded", len(pkgs), fetched), nil
}

// buildRootTree unpacks the root packages into the root tree and the boot packages beside
// it, takes the kernel out, and, once the binaries are there, configures the root.
func (b *archBuild) buildRootTree(ctx context.Context) (string, error) {
	b.rt = &rootTree{dir: filepath.Join(b.work, "root")}
	b.bootPkgDir = filepath.Join(b.work, "bootpkgs")
	if err := unpackRoot(ctx, b.rootDebs, b.rt.dir); err != nil {
		return "", err
	}
	if err := os.MkdirAll(b.bootPkgDir, 0o755); err != nil {
		return "", err
	}
	for _, d := range b.bootDebs {
		if err := Extract(ctx, d, b.bootPkgDir); err != nil {
			return "", err
		}
	}
	// the copyright files, before configureRoot prunes /usr/share/doc
	b.readLicenses()
	if err := takeKernel(ctx, b.a, b.rt, b.work); err != nil {
		return "", err
	}
	if err := b.waitBinaries(); err != nil {
		return "", err
	}
	bins := map[string]string{"etcd": filepath.Join(b.bin, "etcd")}
	if !slices.Contains(b.etcdLinks, "firstboot") {
		bins["firstboot"] = filepath.Join(b.bin, "firstboot")
	}
	rel := osRelease{Version: b.o.Version, BuildID: b.m.BuildID, EtcdVersion: b.o.EtcdVersion, Arch: b.a.Name}
	if err := configureRoot(ctx, b.rt.dir, bins, b.etcdLinks, rel, b.o.Epoch); err != nil {
		return "", err
	}
	p, err := pruneRoot(b.rt.dir)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("kernel %s; pruned %d files, %.1f MiB", b.rt.kver, p.files, float64(p.bytes)/(1<<20)), nil
}

// readLicenses fills in the SBOM's packages' licences from their copyright files, in the
// root tree or, for the boot packages, beside it.
func (b *archBuild) readLicenses() {
	for i := range b.sbom.Packages {
		p := &b.sbom.Packages[i]
		tree := b.rt.dir
		if slices.Contains(b.a.BootPackages, p.Name) {
			tree = b.bootPkgDir
		}
		p.Licenses = copyrightLicenses(tree, p.Name)
	}
}

// writeSBOM writes the arch's SBOM into --out and lists it in the manifest.
func (b *archBuild) writeSBOM(context.Context) (string, error) {
	j, err := encodeSBOM(makeSBOM(b.sbom))
	if err != nil {
		return "", err
	}
	path := filepath.Join(b.o.OutDir, SBOMFile(b.a.Name))
	if err := os.WriteFile(path, j, 0o644); err != nil {
		return "", err
	}
	if err := b.addArtifact("sbom", path); err != nil {
		return "", err
	}
	licensed, mods := 0, map[GoModule]bool{}
	for _, p := range b.sbom.Packages {
		if len(p.Licenses) > 0 {
			licensed++
		}
	}
	for _, bin := range b.sbom.Binaries {
		for _, m := range bin.Modules {
			mods[m] = true
		}
	}
	return fmt.Sprintf("%s: %d packages (%d with a licence), %d Go modules", filepath.Base(path), len(b.sbom.Packages), licensed, len(mods)), nil
}

// buildRootFS packs the root tree into the read-only squashfs root filesystem and appends
// its dm-verity hash tree: the root partition's content.
func (b *archBuild) buildRootFS(ctx context.Context) (string, error) {
	b.squash = filepath.Join(b.work, "root.squashfs")
	if err := makeSquashfs(ctx, b.rt.dir, b.squash, b.o.Epoch); err != nil {
		return "", err
	}
	size := fileSize(b.squash)
	v, err := appendVerity(ctx, b.squash, veritySalt(b.m.BuildID+"/"+b.a.Name))
	if err != nil {
		return "", err
	}
	b.verity = v
	return fmt.Sprintf("squashfs %s, verity tree %s", humanSize(size), humanSize(v.TreeBytes)), nil
}

// noSelfTests skips the crypto manager's self-tests, which Debian's kernels run for every
// algorithm at its registration: 0.3 s of each boot under the emulator (docs/PERFORMANCE.md),
// tens of milliseconds on hardware. They check the implementations, they guard nothing; a
// kernel booted with fips=1 runs them anyway, as FIPS mode requires.
const noSelfTests = "cryptomgr.notests"

// kernelCmdline is the image's kernel command line (docs/configuration.md#kernel-arguments).
func kernelCmdline(rootUUID, verityArg string, a arch.Arch, platform string) string {
	cmdline := fmt.Sprintf("root=PARTUUID=%s %s ro %s %s", rootUUID, verityArg, a.KernelCmdline(), noSelfTests)
	if platform != "" {
		cmdline += " etcd.platform=" + platform
	}
	return cmdline
}

// buildBootArtefacts writes the initramfs and the kernel command line, then the arch's boot
// chain: a UKI on an ESP (UEFI), or a GRUB core and a boot partition with the kernel (IEEE 1275).
func (b *archBuild) buildBootArtefacts(ctx context.Context) (string, error) {
	b.ba = bootArtefacts{
		kernel: b.rt.kernel, initrd: filepath.Join(b.work, "initrd.img"), cmdline: filepath.Join(b.work, "cmdline"),
		bootFAT: filepath.Join(b.work, "boot.fat"),
	}
	ba := &b.ba
	if err := b.initramfs(b.rt, filepath.Join(b.bin, "initramfs"), ba.initrd); err != nil {
		return "", err
	}
	rootUUID := PartUUID(b.m.BuildID+"/"+b.a.Name, "root")
	// The root hash rides in the UKI (or the GRUB core image on ppc64le), which the firmware
	// loaded: the initramfs believes nothing on the root partition itself.
	cmdline := kernelCmdline(rootUUID, b.verity.KernelArg(), b.a, b.o.Platform)
	if err := os.WriteFile(ba.cmdline, []byte(cmdline), 0o644); err != nil {
		return "", err
	}
	serial := fatSerial(b.m.BuildID + "/" + b.a.Name)
	switch b.a.Boot {
	case arch.UEFI:
		ba.uki = filepath.Join(b.work, "uki.efi")
		osrel := filepath.Join(b.rt.dir, "usr/lib/os-release")
		unsigned := ba.uki
		if b.signer != nil {
			unsigned = filepath.Join(b.work, "uki.unsigned.efi")
		}
		if err := makeUKI(ctx, filepath.Join(b.bootPkgDir, b.a.EFIStub), ba.kernel, ba.initrd, ba.cmdline, osrel, unsigned); err != nil {
			return "", err
		}
		what := "UKI "
		if b.signer != nil {
			// signed before it goes onto the ESP: the firmware checks what it boots
			if err := b.signer.signEFI(ctx, unsigned, ba.uki, b.o.Epoch); err != nil {
				return "", err
			}
			what = "signed UKI "
		}
		return what + humanSize(fileSize(ba.uki)), makeFAT(ctx, ba.bootFAT, "ESP", serial, fatSizeMiB(ba.uki), b.o.Epoch,
			[]fatFile{{ba.uki, "/" + b.a.EFIBootPath}})
	case arch.IEEE1275:
		ba.grubCore = filepath.Join(b.work, "grub-core.elf")
		if err := makeGrubCore(ctx, filepath.Join(b.bootPkgDir, b.a.GrubModDir), fatSerialString(serial), cmdline, b.work, ba.grubCore); err != nil {
			return "", err
		}
		return "GRUB core " + humanSize(fileSize(ba.grubCore)), makeFAT(ctx, ba.bootFAT, "BOOT", serial, fatSizeMiB(ba.kernel, ba.initrd), b.o.Epoch,
			[]fatFile{{ba.kernel, "/vmlinux"}, {ba.initrd, "/initrd.img"}})
	}
	return "", fmt.Errorf("unknown boot chain %q", b.a.Boot)
}

// recordContents lists in the manifest what takes the space in the image: the root
// filesystem, kernel and initrd, and the root tree by contributor.
func (b *archBuild) recordContents() error {
	parts, err := treeContributors(b.rt.dir)
	if err != nil {
		return fmt.Errorf("sizing the root tree: %w", err)
	}
	b.m.Contents = append(b.m.Contents, Contents{Arch: b.a.Name, RootFS: b.verity.DataBlocks * verityBlockSize, VerityTree: b.verity.TreeBytes, Kernel: fileSize(b.ba.kernel), Initrd: fileSize(b.ba.initrd), Tree: parts})
	return nil
}

// buildDisk lays the boot and root partitions out on the GPT disk: in --out when raw is a
// requested format, else in the work directory as the other formats' source.
func (b *archBuild) buildDisk(ctx context.Context) (string, error) {
	b.raw = filepath.Join(b.work, b.name+".raw")
	if slices.Contains(b.o.Formats, "raw") {
		b.raw = filepath.Join(b.o.OutDir, b.name+".raw")
	}
	var parts []partition
	if b.a.Boot == arch.IEEE1275 {
		parts = append(parts, partition{name: "PReP", typeGUID: arch.PRePType, file: b.ba.grubCore, size: 8 * mib},
			partition{name: "boot", typeGUID: arch.LinuxDataType, file: b.ba.bootFAT})
	} else {
		parts = append(parts, partition{name: "ESP", typeGUID: arch.ESPType, file: b.ba.bootFAT})
	}
	parts = append(parts, partition{name: "root", typeGUID: b.a.RootPartType, file: b.squash})
	if err := makeDisk(ctx, b.raw, b.m.BuildID+"/"+b.a.Name, parts); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s virtual, %s allocated", humanSize(DiskSize), humanSize(allocated(b.raw))), nil
}

// writeFormats writes each requested format into --out and lists it in the manifest.
func (b *archBuild) writeFormats(ctx context.Context) (string, error) {
	var done []string
	for _, f := range b.o.Formats {
		switch f {
		case "raw":
			if err := b.addArtifact(f, b.raw); err != nil {
				return "", err
			}
		case "kernel":
			for _, k := range []struct{ format, src string }{{"kernel", b.ba.kernel}, {"initrd", b.ba.initrd}, {"cmdline", b.ba.cmdline}} {
				dst := filepath.Join(b.o.OutDir, b.name+"."+k.format)
				if err := copyFile(k.src, dst, 0o644); err != nil {
					return "", err
				}
				if err := b.addArtifact(k.format, dst); err != nil {
					return "", err
				}
			}
		default:
			dst := filepath.Join(b.o.OutDir, b.name+"."+Formats[f])
			if err := convert(ctx, f, b.raw, dst, b.m.BuildID+"/"+b.a.Name, b.o.Epoch); err != nil {
				return "", err
			}
			if err := b.addArtifact(f, dst); err != nil {
				return "", err
			}
		}
		done = append(done, f)
	}
	return strings.Join(done, ", "), nil
}

// initramfs writes the gzip'd initramfs: our init and the modules that reach the root disk.
func (b *archBuild) initramfs(rt *rootTree, initBin, out string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	zw, err := gzip.NewWriterLevel(f, gzip.BestCompression)
	if err != nil {
		return err
	}
	if err := WriteInitramfs(zw, initBin, rt.modulesDir, rt.initrdFiles, rt.initrdProbe, time.Unix(b.o.Epoch, 0)); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return f.Close()
}

func (b *archBuild) addArtifact(format, path string) error {
	sum, err := fileSHA256(path)
	if err != nil {
		return err
	}
	b.m.Artifacts = append(b.m.Artifacts, Artifact{Arch: b.a.Name, Format: format, Path: filepath.Base(path), Size: fileSize(path), SHA256: sum})
	return nil
}

func writeManifest(dir string, m *Manifest) error {
	j, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), append(j, '\n'), 0o644); err != nil {
		return err
	}
	var sums strings.Builder
	for _, a := range m.Artifacts {
		fmt.Fprintf(&sums, "%s  %s\n", a.SHA256, a.Path)
	}
	return os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte(sums.String()), 0o644)
}

// signManifest signs SHA256SUMS when the build is signed (SHA256SUMS.sig, SHA256SUMS.pub),
// and otherwise removes the signature an earlier signed build left in dir.
func signManifest(dir string, signer *Signer) error {
	if signer == nil {
		return removeSumsSignature(dir)
	}
	return signer.signSums(dir)
}

// fatSerial derives the boot partition's FAT volume serial from the build.
func fatSerial(id string) uint32 {
	h := sha256.Sum256([]byte(id + "/fat"))
	return uint32(h[0])<<24 | uint32(h[1])<<16 | uint32(h[2])<<8 | uint32(h[3])
}

// fatSizeMiB sizes a FAT partition for files with room to spare; FAT32 wants at least 33 MiB.
func fatSizeMiB(files ...string) int {
	var total int64
	for _, f := range files {
		total += fileSize(f)
	}
	return max(64, int(total*5/4/mib)+16)
}

func fileSize(p string) int64 {
	st, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return st.Size()
}

func unixTime(epoch int64) time.Time { return time.Unix(epoch, 0) }

func humanSize(n int64) string {
	switch {
	case n >= 1<<30:
		return strconv.FormatFloat(float64(n)/(1<<30), 'f', 2, 64) + " GiB"
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
	case n >= 1<<10:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', 1, 64) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " B"
}

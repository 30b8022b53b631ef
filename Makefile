# etcd appliance. The two commands a fresh Debian 12 machine needs: `make image`, `make test`.
SHELL := /bin/bash
GO ?= go
OUT ?= out
ARCHES ?= amd64,arm64,ppc64le
# Every timestamp in the images; the last commit's time keeps rebuilds of a commit identical.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
export SOURCE_DATE_EPOCH VERSION

IMAGEBUILD := bin/imagebuild
# etcdctl for this host from the image's own pinned etcd source (Debian's etcd-client is v3.4):
# the one binary of etcdsrc, run by the name etcdctl. make run prints lines that use it.
ETCDCTL := bin/etcdctl
# The tests' S3 server: versitygw, a real S3 gateway over a directory, built from its Go module
# at a pinned release (internal/vmnet runs it on the test network).
VERSITYGW_VERSION := v1.8.0
export VERSITYGW := $(CURDIR)/bin/versitygw

.PHONY: all image images host-deps lock run test test-long unit-test vm-test bench fuzz clean $(IMAGEBUILD) $(ETCDCTL)

all: image

host-deps:
	@bash scripts/host-deps.sh

$(IMAGEBUILD):
	@mkdir -p bin
	$(GO) build -o $@ ./cmd/imagebuild

$(ETCDCTL):
	@mkdir -p bin
	cd etcdsrc && CGO_ENABLED=0 $(GO) build -trimpath -o $(CURDIR)/$@ .

## image: amd64 raw + qcow2 images into out/ (installs host packages first), and bin/etcdctl
image: host-deps $(IMAGEBUILD) $(ETCDCTL)
	$(IMAGEBUILD) build --arch amd64 --format raw,qcow2 --out $(OUT) --version $(VERSION)

## images: every arch in every format, with the direct-boot files: the VM tests boot each disk
## format (amd64: vhd, vmdk and the gce tarball's disk.raw besides raw and qcow2)
images: host-deps $(IMAGEBUILD)
	$(IMAGEBUILD) build --arch $(ARCHES) --format raw,qcow2,vhd,vmdk,gce,kernel --out $(OUT) --version $(VERSION)

## lock: re-resolve packages.lock against the Debian mirror (then commit it)
lock: host-deps $(IMAGEBUILD)
	$(IMAGEBUILD) lock

## run: boot the amd64 image in qemu with a data disk (ARCH=arm64 for another)
run: $(IMAGEBUILD) $(ETCDCTL)
	$(IMAGEBUILD) run --arch $(or $(ARCH),amd64) --dir $(OUT)

## test: unit tests, then all three arches built and booted in qemu (30–56 min with warm caches, no KVM)
test: host-deps unit-test images vm-test

# A test that lacks a host tool, root, a loop or tun device or qemu fails here instead of
# skipping (internal/testenv): make test proves everything or fails. ETCD_APPLIANCE_STRICT=0 in
# the environment lets such tests skip, for a run without root.
test unit-test vm-test: export ETCD_APPLIANCE_STRICT ?= 1

# firstboot's packages again under etcdsrc's module graph: the v3.7 image links firstboot into
# etcd, with the library versions that graph selects (docs/architecture.md, Decisions)
unit-test: $(VERSITYGW)
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 30m $$($(GO) list ./... | grep -v /qemu-tests)
	cd etcdsrc && $(GO) test -count=1 -timeout 30m $$($(GO) list -deps github.com/etcd-appliance/appliance/cmd/firstboot/cli | grep '^github.com/etcd-appliance/appliance/')

vm-test: $(VERSITYGW)
	IMAGE_DIR=$(CURDIR)/$(OUT) IMAGEBUILD=$(CURDIR)/$(IMAGEBUILD) \
		$(GO) test -count=1 -v -timeout 80m ./qemu-tests/

## test-long: the long matrices beside make test: every etcd line built for every arch, and the
## long VM tests (backups: faults, recovery, a three-member restore), after unit tests and images
test-long: host-deps unit-test images $(VERSITYGW)
	QEMU_TESTS_LONG=1 $(GO) test -count=1 -timeout 60m -run TestEtcdLinesBuild ./image/
	IMAGE_DIR=$(CURDIR)/$(OUT) IMAGEBUILD=$(CURDIR)/$(IMAGEBUILD) QEMU_TESTS_LONG=1 ETCD_APPLIANCE_STRICT=1 \
		$(GO) test -count=1 -v -timeout 80m -run 'Long$$' ./qemu-tests/

## fuzz: every parser fuzz target for FUZZTIME each (default 30s); crashers stay as regression cases
fuzz:
	bash scripts/fuzz.sh

## bench: build times, image sizes and boot times, as tables
bench: host-deps $(IMAGEBUILD) $(VERSITYGW)
	bash scripts/bench.sh

$(VERSITYGW):
	GOBIN=$(CURDIR)/bin $(GO) install github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION)

clean:
	rm -rf $(OUT) bin

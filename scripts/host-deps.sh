#!/usr/bin/env bash
# Installs the Debian 12 host tools the builder and the qemu tests need. Idempotent: it does
# nothing (and needs no network) when every package is already installed.
set -euo pipefail

pkgs=(
  # build: root filesystem, boot partition, disk layout, output formats
  squashfs-tools dosfstools mtools gdisk qemu-utils zstd xz-utils
  # build: UKI assembly (binutils-multiarch has the aarch64 PE backend), ppc64le GRUB core image
  binutils-multiarch grub-common
  # build: kernel module dependency closure for the initramfs
  kmod
  # build: resolving the package lock (apt for foreign architectures, keyring)
  apt debian-archive-keyring ca-certificates
  # tests and `imagebuild run`: qemu for all three arches and their firmware
  qemu-system-x86 qemu-system-arm qemu-system-ppc ovmf qemu-efi-aarch64
  # tests: network namespaces, bridges and tap devices; ssh into the nodes
  iproute2 openssh-client
  # tests: DHCP for the VMs on the test bridge (binary only: no system service), NoCloud seed ISOs
  dnsmasq-base xorriso
  # tests: data volumes (ext4 images; the foreign filesystems the probe must recognise)
  e2fsprogs xfsprogs btrfs-progs
)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "host-deps: missing packages: ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "host-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

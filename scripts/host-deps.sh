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
  # build: the root partition's dm-verity hash tree (veritysetup)
  cryptsetup-bin
  # build with --signing-key: sbsign signs the UKI for Secure Boot (sbverify checks it in the
  # tests); openssl verifies SHA256SUMS.sig in the tests
  sbsigntool openssl
  # build: resolving the package lock (apt for foreign architectures, keyring)
  apt debian-archive-keyring ca-certificates
  # tests and `imagebuild run`: qemu for all three arches and their firmware
  qemu-system-x86 qemu-system-arm qemu-system-ppc ovmf qemu-efi-aarch64
  # tests: network namespaces, bridges and tap devices; ssh into the nodes
  iproute2 openssh-client
  # tests: DHCP and DNS for the VMs on the test bridge (binary only: no system service), NoCloud
  # seed ISOs
  dnsmasq-base xorriso
  # tests: an NTP server and an HTTP(S) proxy on the test bridge, each run by internal/vmnet with
  # its own configuration inside the test namespace. tinyproxy-bin is the binary alone; chrony
  # brings a system service, kept from starting below. On a systemd host chrony also replaces
  # systemd-timesyncd (both provide time-daemon) and, being enabled, keeps the clock from the
  # next boot on with Debian's pool servers, as timesyncd did.
  chrony tinyproxy-bin
  # tests: data volumes (ext4 images; the foreign filesystems the probe must recognise)
  e2fsprogs xfsprogs btrfs-progs
  # bench: the peer image (scripts/peer-image.sh): mmdebstrap makes its Debian tree (gpg, which
  # it only recommends, finds the mirror's keyring), sfdisk (fdisk) its partition table;
  # dosfstools, mtools, e2fsprogs and qemu-utils are above
  mmdebstrap gpg fdisk
  # tests: promtool checks monitoring/'s alert rules and the agent's metrics. Debian ships it only
  # in the server's package, whose service is kept from starting and disabled below.
  prometheus
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

# No package may start a service during the install: a host chronyd would steer the host's clock
# (and serve on port 123) from now on. A policy-rc.d answering 101 makes the maintainer scripts
# (invoke-rc.d, deb-systemd-invoke) skip every start. An existing one is left alone; ours carries
# a marker, so a run killed before removing it is recognised and cleans it up the next time.
policy=/usr/sbin/policy-rc.d
marker="written by etcd-appliance scripts/host-deps.sh"
if [ ! -e "$policy" ] || grep -qF "$marker" "$policy"; then
  printf '#!/bin/sh\n# %s for the duration of an install\nexit 101\n' "$marker" >"$policy"
  chmod 755 "$policy"
  trap 'rm -f "$policy"' EXIT
fi
# Debian's chronyd writes this pidfile; the tests' chronyds write theirs into temporary
# directories, so it tells the system daemon from theirs.
chrony_pidfile=/run/chrony/chronyd.pid
had_chronyd=false
[ -e "$chrony_pidfile" ] && had_chronyd=true
# Likewise the prometheus server's, when its sysvinit script starts it.
prom_pidfile=/run/prometheus/prometheus.pid
had_prometheus=false
[ -e "$prom_pidfile" ] && had_prometheus=true

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

# Belt and braces: stop a system chronyd that appeared despite the policy.
if ! $had_chronyd && [ -e "$chrony_pidfile" ]; then
  pid=$(cat "$chrony_pidfile")
  echo "host-deps: stopping the chronyd ($pid) the chrony package started" >&2
  kill "$pid" 2>/dev/null || true
fi

# Only promtool is wanted from prometheus: a server would listen on 9090 (and scrape itself) from
# the next boot on. A package this run installed is disabled for systemd and sysvinit alike (a
# Prometheus the host already had is left as it was), and one that started despite the policy is
# stopped.
if [[ " ${missing[*]} " == *" prometheus "* ]]; then
  deb-systemd-helper disable prometheus.service >/dev/null 2>&1 || true
  update-rc.d prometheus disable >/dev/null 2>&1 || true
  if [ -d /run/systemd/system ]; then
    systemctl stop prometheus.service 2>/dev/null || true
  fi
  if ! $had_prometheus && [ -e "$prom_pidfile" ]; then
    echo "host-deps: stopping the prometheus server the package started" >&2
    kill "$(cat "$prom_pidfile")" 2>/dev/null || true
  fi
fi

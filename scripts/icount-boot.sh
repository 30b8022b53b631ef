#!/usr/bin/env bash
# icount-boot.sh OUTDIR VERSION [KERNEL ARGS]: one amd64 direct kernel boot of
# OUTDIR/etcd-appliance-VERSION-amd64.{kernel,initrd,cmdline,raw} with a blank data disk, under
# qemu's -icount: the guest clock counts instructions (8 ns each) and skips idle time, so the
# milestones printed are work done, repeatable to ~2 % (docs/PERFORMANCE.md). Compare images
# with it; wall time is the bench's.
set -euo pipefail
dir=$1 version=$2 extra=${3:-}
p="$dir/etcd-appliance-$version-amd64"
t=$(mktemp -d)
trap 'kill "${pid:-}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$t"' EXIT
qemu-img create -q -f qcow2 "$t/data.qcow2" 1G
timeout 600 qemu-system-x86_64 -machine q35,accel=tcg -icount shift=3,sleep=off -m 1024 -smp 1 \
  -nodefaults -display none -no-reboot -no-user-config \
  -kernel "$p.kernel" -initrd "$p.initrd" -append "$(cat "$p.cmdline") systemd.log_target=kmsg $extra" \
  -drive if=none,id=d0,format=raw,readonly=on,file="$p.raw" -device virtio-blk-pci,drive=d0 \
  -drive if=none,id=d1,format=qcow2,file="$t/data.qcow2" -device virtio-blk-pci,drive=d1,serial=etcd-data \
  -netdev user,id=n0,restrict=on -device virtio-net-pci,netdev=n0,romfile= \
  -chardev file,id=c,path="$t/console.log" -serial chardev:c 2>"$t/qemu.err" &
pid=$!
for _ in $(seq 1 600); do
  grep -q 'boot finished' "$t/console.log" 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 1
done
at() { grep -a -m1 "$1" "$t/console.log" | sed 's/^\[ *\([0-9.]*\)\].*/\1/'; }
echo "$version: systemd $(at 'systemd\[1\]: systemd ') · firstboot started $(at 'Starting firstboot.service') ·" \
  "its first line $(at 'firstboot.*etcd-appliance: image') · done $(at 'Finished firstboot.service') ·" \
  "etcd started $(at 'Started etcd.service') · boot finished $(at 'boot finished') (virtual seconds)"
cp "$t/console.log" "${CONSOLE_OUT:-/dev/null}"

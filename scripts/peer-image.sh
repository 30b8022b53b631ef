#!/usr/bin/env bash
# peer-image.sh OUTDIR: builds the bench's peer, a conventional Debian 12 cloud image (GRUB,
# Debian's cloud kernel and initramfs, systemd, cloud-init, Debian's etcd), to compare the
# appliance's boot with. Writes:
#   OUTDIR/peer-amd64.qcow2      GPT disk, 2 GiB virtual: ESP with GRUB at the removable path
#                                (OVMF finds it with empty NVRAM vars), ext4 root
#   OUTDIR/peer-seed-amd64.img   NoCloud seed (vfat, label CIDATA): etcd's config via write_files
# Runs as root on a Debian 12 host; needs no loop device, mounts no disk image and reaches nothing
# but the Debian mirror. Downloaded packages are kept in $ETCD_APPLIANCE_CACHE/peer-debs (default
# ~/.cache/etcd-appliance/peer-debs) for the next run. Each stage's seconds go to stderr.
set -euo pipefail

out=${1:?usage: peer-image.sh OUTDIR}
[ "$(id -u)" -eq 0 ] || { echo "peer-image: run as root (mmdebstrap --mode=root, chroot)" >&2; exit 1; }
mkdir -p "$out"
out=$(cd "$out" && pwd)
cache=${ETCD_APPLIANCE_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/etcd-appliance}/peer-debs
mkdir -p "$cache"
work=$(mktemp -d /tmp/peer-image.XXXXXX)
trap 'rm -rf "$work"' EXIT
tree=$work/tree

# stage NAME: prints the seconds since the previous stage ended
last=$EPOCHREALTIME start=$EPOCHREALTIME
stage() {
  awk -v n="$1" -v a="$last" -v b="$EPOCHREALTIME" 'BEGIN{printf "peer-image: %-18s %6.1f s\n", n, b-a}' >&2
  last=$EPOCHREALTIME
}

# Layout in 512-byte sectors: 1 MiB for the GPT, a 32 MiB ESP, the root up to 1 MiB before the
# end (the backup GPT).
disk_mib=2048 esp_mib=32
esp_start=2048
root_start=$((esp_start + esp_mib * 2048))
root_sectors=$(((disk_mib - 1) * 2048 - root_start))
root_uuid=$(cat /proc/sys/kernel/random/uuid)
esp_id=$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')

# --- root tree -------------------------------------------------------------------------------
# The package set of Debian 12's genericcloud image where it matters for a boot (its
# config_space: cloud kernel, cloud-init, openssh, sudo, netplan.io with systemd-networkd and
# systemd-resolved), not its extras (apparmor, unattended-upgrades, chrony, vim, ...).
# Networking: netplan.io + systemd-networkd, as Debian 12's official cloud images do (bookworm
# dropped ifupdown from them): cloud-init renders its network config as netplan YAML, netplan's
# generator turns it into networkd files at every boot. dbus and libpam-systemd (as in Debian's
# image) give logind its bus: logind is what turns the ACPI power button into a poweroff.
# grub-efi-amd64-bin only supplies the modules grub-mkimage embeds below: nothing in the guest
# installs or updates GRUB (the grub.cfg names this build's kernel). zstd: initramfs-tools'
# default compression. e2fsprogs: fsck.ext4 for the initramfs, whose fsck hook would probe the
# root device for its type, which a tree has none of: FSTYPE names it before the kernel's postinst
# builds the initramfs.
pkgs=linux-image-cloud-amd64,initramfs-tools,zstd,e2fsprogs,systemd-sysv,udev,dbus,libpam-systemd
pkgs+=,netplan.io,systemd-resolved,cloud-init,etcd-server,openssh-server,sudo,ca-certificates
pkgs+=,grub-efi-amd64-bin
mkdir -p "$work/debs"
# unshare -m: the /proc, /sys and /dev mounts mmdebstrap makes in the tree for the maintainer
# scripts live in a private mount namespace and vanish with it, even if the build is killed.
# The cache goes in before the download (apt takes a cached .deb whose checksum matches the
# index) and the archives come out before mmdebstrap's cleanup empties them (skipping
# essential/unlink keeps the Essential packages' there too).
unshare --mount --propagation private mmdebstrap --mode=root --variant=required --quiet \
  --include="$pkgs" \
  --skip=essential/unlink \
  --setup-hook="mkdir -p \"\$1/var/cache/apt/archives\"" \
  --setup-hook="sync-in $cache /var/cache/apt/archives" \
  --essential-hook='mkdir -p "$1/etc/initramfs-tools/conf.d" && echo FSTYPE=ext4 >"$1/etc/initramfs-tools/conf.d/fstype"' \
  --customize-hook="sync-out /var/cache/apt/archives $work/debs" \
  bookworm "$tree" \
  "deb http://deb.debian.org/debian bookworm main" \
  "deb http://deb.debian.org/debian bookworm-updates main" \
  "deb http://deb.debian.org/debian-security bookworm-security main"
# the cache holds exactly this build's packages: superseded versions go
find "$cache" -maxdepth 1 -name '*.deb' -delete
find "$work/debs" -maxdepth 1 -name '*.deb' -exec mv -t "$cache" {} +
stage "root tree"

# --- the tree as a cloud image leaves it -------------------------------------------------------
# Debian's cloud images ship without host keys (cloud-init's ssh module makes them on the first
# boot, so no two instances share one), with a resolv.conf from systemd-resolved and the host
# name cloud-init replaces; mmdebstrap copied the build host's resolv.conf and hostname.
printf 'UUID=%s / ext4 rw,discard,errors=remount-ro 0 1\n' "$root_uuid" >"$tree/etc/fstab"
rm -f "$tree"/etc/ssh/ssh_host_*
ln -sfn ../run/systemd/resolve/stub-resolv.conf "$tree/etc/resolv.conf"
rm -f "$tree/etc/hostname" && echo localhost >"$tree/etc/hostname"
# cloud-init 22.4's locale module on Debian falls back to en_US.UTF-8 when /etc/default/locale
# names none, and fails: that locale is not generated (no locales package). C.UTF-8 is built into
# glibc; naming it makes the module a no-op, as later cloud-init's default does.
echo LANG=C.UTF-8 >"$tree/etc/default/locale"
# networkd is what netplan renders for; enabled here rather than left to netplan's generator
systemctl --root="$tree" enable systemd-networkd.service systemd-resolved.service 2>/dev/null
# etcd must read cloud-init's /etc/default/etcd on its first start. Debian's etcd.service is only
# After=network.target (it Wants= network-online.target without ordering itself after it), but
# it keeps the default dependencies, so it starts after sysinit.target, and cloud-init.service,
# whose init modules include write_files, is Before=sysinit.target. Checked here, so a change in
# either package fails the build instead of booting an etcd with Debian's default config.
units=$tree/lib/systemd/system
! grep -q '^DefaultDependencies=no' "$units/etcd.service" &&
  grep -qx 'EnvironmentFile=-/etc/default/%p' "$units/etcd.service" &&
  grep -qx 'Before=sysinit.target' "$units/cloud-init.service" &&
  sed -n '/^cloud_init_modules:/,/^[^ ]/p' "$tree/etc/cloud/cloud.cfg" | grep -qx ' - write-files' ||
  { echo "peer-image: etcd.service is no longer ordered after cloud-init's write_files" >&2; exit 1; }
[ -L "$tree/etc/systemd/system/multi-user.target.wants/etcd.service" ] ||
  { echo "peer-image: etcd.service is not enabled" >&2; exit 1; }

# The kernel's postinst made the initramfs in the tree; it must find the root on a virtio disk.
kver=$(basename "$(ls -d "$tree"/lib/modules/*)")
[ -s "$tree/boot/vmlinuz-$kver" ] && [ -s "$tree/boot/initrd.img-$kver" ] ||
  { echo "peer-image: no kernel or initramfs for $kver in /boot" >&2; exit 1; }
chroot "$tree" lsinitramfs "/boot/initrd.img-$kver" >"$work/initrd.list"
grep -q 'sbin/fsck\.ext4$' "$work/initrd.list" ||
  { echo "peer-image: no fsck.ext4 in the initramfs" >&2; exit 1; }
for m in ext4 virtio_blk virtio_pci; do
  grep -q "/$m\.ko" "$work/initrd.list" || grep -q "/$m\.ko$" "$tree/lib/modules/$kver/modules.builtin" ||
    { echo "peer-image: $m is neither in the initramfs nor built into $kver" >&2; exit 1; }
done
stage "configure, checks"

# --- ESP -------------------------------------------------------------------------------------
# GRUB as one EFI binary with every module it needs built in, so the ESP holds only it and its
# grub.cfg (the prefix /EFI/BOOT is on the device GRUB was loaded from). Made by the tree's own
# grub-mkimage, so it matches the modules.
chroot "$tree" grub-mkimage -O x86_64-efi -o /tmp/BOOTX64.EFI -p /EFI/BOOT \
  part_gpt fat ext2 normal configfile linux search search_fs_uuid echo efi_gop
mv "$tree/tmp/BOOTX64.EFI" "$work/"
cat >"$work/grub.cfg" <<EOF
set timeout=0
search --no-floppy --fs-uuid --set=root $root_uuid
menuentry "Debian GNU/Linux, $kver" {
  linux /boot/vmlinuz-$kver root=UUID=$root_uuid ro console=tty0 console=ttyS0,115200 earlyprintk=ttyS0,115200 consoleblank=0
  initrd /boot/initrd.img-$kver
}
EOF
export MTOOLS_SKIP_CHECK=1
mkfs.vfat -i "$esp_id" -C "$work/esp.img" $((esp_mib * 1024)) >/dev/null
mmd -i "$work/esp.img" ::/EFI ::/EFI/BOOT
mcopy -i "$work/esp.img" "$work/BOOTX64.EFI" "$work/grub.cfg" ::/EFI/BOOT/
stage "esp"

# --- root filesystem and disk ----------------------------------------------------------------
mke2fs -q -t ext4 -U "$root_uuid" -d "$tree" "$work/root.img" $((root_sectors / 2))k >/dev/null
stage "root ext4"
truncate -s ${disk_mib}M "$work/disk.raw"
sfdisk -q "$work/disk.raw" <<EOF
label: gpt
unit: sectors
start=$esp_start, size=$((esp_mib * 2048)), type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="EFI System"
start=$root_start, size=$root_sectors, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="root"
EOF
dd if="$work/esp.img" of="$work/disk.raw" bs=512 seek=$esp_start conv=notrunc,sparse status=none
dd if="$work/root.img" of="$work/disk.raw" bs=1M seek=$((root_start / 2048)) conv=notrunc,sparse status=none
# compressed, as the appliance's own qcow2 is (image/formats.go)
qemu-img convert -f raw -O qcow2 -c "$work/disk.raw" "$work/peer-amd64.qcow2"
mv "$work/peer-amd64.qcow2" "$out/"
stage "disk, qcow2"

# --- NoCloud seed ----------------------------------------------------------------------------
# cloud-init finds the seed by its label. write_files runs in cloud-init.service, before etcd
# starts (checked above), so etcd's first start already has this config: the name, and the
# client API on every address so qemu's port forward reaches it. Plain HTTP, as Debian ships it.
cat >"$work/meta-data" <<EOF
instance-id: peer-1
local-hostname: peer
EOF
cat >"$work/user-data" <<EOF
#cloud-config
write_files:
  - path: /etc/default/etcd
    permissions: '0644'
    content: |
      ETCD_NAME=peer
      ETCD_LISTEN_CLIENT_URLS=http://0.0.0.0:2379
      ETCD_ADVERTISE_CLIENT_URLS=http://127.0.0.1:2379
EOF
mkfs.vfat -n CIDATA -C "$work/seed.img" 1024 >/dev/null
mcopy -i "$work/seed.img" "$work/meta-data" "$work/user-data" ::/
mv "$work/seed.img" "$out/peer-seed-amd64.img"
stage "seed"

awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN{printf "peer-image: total %.1f s\n", b-a}' >&2
ls -l "$out/peer-amd64.qcow2" "$out/peer-seed-amd64.img" >&2

#!/usr/bin/env bash
# make bench: measures builds, image sizes and boot timelines on this machine and writes
# BENCHMARKS.md and docs/bench-boot.svg. One thing at a time (no VM shares the CPU with
# another or with a build). ~45 min for three arches with BENCH_RUNS=2 and BENCH_COLD=0 on 2
# cores without KVM, the peer's build and boots included.
#   ARCHES=amd64,arm64,ppc64le  arches to measure
#   BENCH_RUNS=3                boots per arch and mode
#   BENCH_COLD=1                also time one build of every arch from empty caches (0: skip)
#   BENCH_CPUS=1                vCPUs of each single VM booted (not the cluster's)
set -euo pipefail
cd "$(dirname "$0")/.."
ARCHES=${ARCHES:-amd64,arm64,ppc64le}
BENCH_RUNS=${BENCH_RUNS:-3}
BENCH_COLD=${BENCH_COLD:-1}
export BENCH_CPUS=${BENCH_CPUS:-1}
vcpus="$BENCH_CPUS vCPUs"; [ "$BENCH_CPUS" = 1 ] && vcpus="one vCPU"
work=$(mktemp -d /tmp/etcd-appliance-bench.XXXXXX)
cleanup() {
  git worktree remove --force "$work/src" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ib=$PWD/bin/imagebuild
commit=$(git describe --tags --always --dirty)

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", b-a}'; }
# timed LOG CMD...: runs CMD with its output in LOG, prints the seconds it took
timed() {
  local log=$1 t0; shift
  t0=$(now)
  "$@" >"$log" 2>&1 || { echo "bench: $* failed; see below" >&2; tail -20 "$log" >&2; exit 1; }
  secs "$t0" "$(now)"
}

echo "bench: builds" >&2
build_rows=()
stages=""

if [ "$BENCH_COLD" = 1 ]; then
  # a fresh machine: no downloaded packages, no Go build cache, every arch in one command
  cold=$(ETCD_APPLIANCE_CACHE="$work/cold-cache" GOCACHE="$work/cold-gocache" \
    timed "$work/cold.log" "$ib" build --arch "$ARCHES" --format raw,qcow2 --out "$work/cold")
  build_rows+=("| $ARCHES | from empty package and Go caches, one command | $cold | ≤ 300 |")
fi
# the one-line change: a copy of this commit with firstboot's usage text changed
git worktree add --detach -q "$work/src" HEAD
sed -i 's/usage: firstboot COMMAND$/usage: firstboot COMMAND (bench)/' "$work/src/cmd/firstboot/cli/main.go"
grep -q 'COMMAND (bench)' "$work/src/cmd/firstboot/cli/main.go" || { echo "bench: the one-line change to cmd/firstboot/cli/main.go did not apply" >&2; exit 1; }
for a in ${ARCHES//,/ }; do
  first=$(ETCD_APPLIANCE_CACHE="$work/cache-$a" timed "$work/first-$a.log" "$ib" build --arch "$a" --format raw,qcow2,kernel --out "$work/out-$a")
  cached=$(timed "$work/cached-$a.log" "$ib" build --arch "$a" --format raw,qcow2,kernel --out "$work/out-$a")
  changed=$(timed "$work/changed-$a.log" "$ib" build --src "$work/src" --arch "$a" --format raw,qcow2,kernel --out "$work/changed-$a")
  build_rows+=("| $a | first (empty package cache, warm Go cache) | $first | |")
  build_rows+=("| $a | cached rebuild | $cached | ≤ 20 |")
  build_rows+=("| $a | after a one-line change to firstboot | $changed | |")
  stages+="$(printf '\n%s\n' "$a, cached rebuild:"; grep '^\[' "$work/cached-$a.log" | sed 's/^/    /')"
done

echo "bench: sizes" >&2
dirs=(); for a in ${ARCHES//,/ }; do dirs+=("$work/out-$a"); done
sizes=$(go run ./internal/bench/report sizes "${dirs[@]}")

echo "bench: boots ($BENCH_RUNS per arch and mode)" >&2
jsons=()
for a in ${ARCHES//,/ }; do
  mkdir -p "$work/boot-$a"
  IMAGE_DIR="$work/out-$a" BENCH_DIR="$work/boot-$a" BENCH_RUNS="$BENCH_RUNS" QEMU_TESTS_ARCHES="$a" QEMU_TESTS_REQUIRED=1 \
    go test -count=1 -run '^$' -bench 'BenchmarkBootTimeline' -benchtime 1x -timeout 120m ./qemu-tests/ >"$work/boot-$a.log" 2>&1 ||
    { tail -40 "$work/boot-$a.log" >&2; exit 1; }
  jsons+=("$work/boot-$a/boot.json")
done
mkdir -p docs
boot=$(go run ./internal/bench/report boot docs/bench-boot.svg "${jsons[@]}")

peer="not measured: amd64 is not among ARCHES"
if [[ ",$ARCHES," == *,amd64,* ]]; then
  echo "bench: the peer (a Debian cloud image with cloud-init and etcd)" >&2
  peer_build=$(timed "$work/peer-build.log" bash scripts/peer-image.sh "$work/peer")
  mkdir -p "$work/peer-runs"
  IMAGE_DIR="$work/out-amd64" PEER_DIR="$work/peer" BENCH_DIR="$work/peer-runs" BENCH_RUNS="$BENCH_RUNS" QEMU_TESTS_ARCHES=amd64 QEMU_TESTS_REQUIRED=1 \
    go test -count=1 -run '^$' -bench 'BenchmarkPeer' -benchtime 1x -timeout 120m ./qemu-tests/ >"$work/peer.log" 2>&1 ||
    { tail -40 "$work/peer.log" >&2; exit 1; }
  peer=$(go run ./internal/bench/report peer "$work/peer-runs/peer.json")
  peer+=$'\n\n'"The peer image took $peer_build s to build (scripts/peer-image.sh; $(du -m --apparent-size "$work/peer/peer-amd64.qcow2" | cut -f1) MiB qcow2)."
fi

echo "bench: cluster" >&2
IMAGE_DIR="$work/out-amd64" IMAGEBUILD="$ib" QEMU_TESTS_ARCHES=amd64 QEMU_TESTS_REQUIRED=1 \
  go test -count=1 -run '^TestCluster$' -v -timeout 30m ./qemu-tests/ >"$work/cluster.log" 2>&1 ||
  { tail -40 "$work/cluster.log" >&2; exit 1; }
# Go prints a duration over a minute as 1m2.3s
cluster=$(grep -o 'power-on to a healthy 3-node cluster: [0-9.hm]*s' "$work/cluster.log" | head -1 || true)
stopped=$(grep -o 'powered off [0-9.hm]*s after its power button was pressed' "$work/cluster.log" | head -1 || true)
rejoined=$(grep -o 'one member powered off to healthy and caught up again: [0-9.hm]*s' "$work/cluster.log" | head -1 || true)
booted=$(grep -o 'its boot-finished line there by: [0-9.hm]*s' "$work/cluster.log" | head -1 || true)

echo "bench: backups" >&2
IMAGE_DIR="$work/out-amd64" QEMU_TESTS_ARCHES=amd64 QEMU_TESTS_REQUIRED=1 BENCH_BACKUP=1 VERSITYGW="$PWD/bin/versitygw" \
  go test -count=1 -run '^TestBackupBench$' -v -timeout 30m ./qemu-tests/ >"$work/backup.log" 2>&1 ||
  { tail -40 "$work/backup.log" >&2; exit 1; }
backups=$(grep -o 'backup bench: .*' "$work/backup.log" | head -1 || true)

{
  echo "# Benchmarks"
  echo
  echo "Written by \`make bench\` (scripts/bench.sh); do not edit. Commit $commit, $(date -u +%F)."
  echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))," \
    "$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(. /etc/os-release; echo "$PRETTY_NAME"), qemu TCG (no KVM)."
  echo
  echo "## Build (seconds)"
  echo
  echo "| arch | build | seconds | goal |"
  echo "|---|---|---|---|"
  printf '%s\n' "${build_rows[@]}"
  echo
  echo "Stages of the cached rebuilds (imagebuild's own timing):"
  echo "$stages"
  echo
  echo "## Size (MiB)"
  echo
  echo "$sizes"
  echo
  echo "## Boot (seconds since power-on, median and range over $BENCH_RUNS runs)"
  echo
  echo "Direct: kernel + initrd given to qemu, the image as root disk. Firmware: the image alone"
  echo "(UEFI on amd64 and arm64, SLOF + GRUB on ppc64le). Floor: the same kernel with an"
  echo "initramfs whose only program powers off at once (internal/bench/floorinit). Each boot has a"
  echo "blank data disk, so firstboot formats it: that is a first boot. Each VM has $vcpus."
  echo "firstboot's run is from systemd starting firstboot.service to its member line; the time"
  echo "before its first line (reading the binary, sharing the vCPU with udev and networkd) is"
  echo "its first step. firstboot waits for no network on qemu (its config comes from fw_cfg)."
  echo "Healthy is the first /health true to the host, which asks every 100 ms (since 2026-12-05;"
  echo "every 500 ms, one request at a time, before)."
  echo
  echo "$boot"
  echo
  echo "![boot timelines](docs/bench-boot.svg)"
  echo
  echo "## Beside a conventional cloud image (amd64)"
  echo
  echo "The peer is a Debian bookworm cloud image built from the same mirror: GRUB, ext4 root,"
  echo "cloud-init (NoCloud seed) and Debian's etcd, plaintext (scripts/peer-image.sh,"
  echo "docs/PERFORMANCE.md#the-peer). Both boot through the same UEFI firmware with $vcpus and"
  echo "the same memory and disk bus, runs alternating (BenchmarkPeer). First boot: ours with a"
  echo "blank data disk, the peer's first boot with its seed. Reboot: the same disks booted again"
  echo "(ours after a power cut, the peer after a clean shutdown). Seconds since power-on, median"
  echo "and range over $BENCH_RUNS runs."
  echo
  echo "$peer"
  echo
  echo "## Cluster (amd64)"
  echo
  echo "Three VMs booted at once on two host cores (direct kernel boot, a bridge in a network"
  echo "namespace): ${cluster:-not found in the log of TestCluster}. One node alone: the amd64 direct row above."
  echo
  echo "The reimage step (one member of the running cluster stopped by its power button, as a"
  echo "cloud's stop does, and booted again; a reimage only swaps the OS disk meanwhile):"
  echo "${stopped:-power-off not found in the log of TestCluster}; ${rejoined:-the way back not found in the log of TestCluster}"
  echo "(${booted:-its boot-finished line not found in the log of TestCluster})."
  echo
  echo "Healthy here is /health true over TLS, asked every 100 ms, and caught up is a serializable"
  echo "read of the keys written while the member was down; since 6f8108c both are timed when"
  echo "etcd answers, not after each member's boot-finished line, which comes up to ~3 s later (the"
  echo "boot's last units start with etcd), and health was asked every 500 ms before."
  echo
  echo "## Backups (amd64)"
  echo
  echo 'One node writes 105 values of 1 MiB, then `firstboot backup now` to the test network'"'"'s S3'
  echo 'server (versitygw, https), `firstboot backup verify` (download, etcdutl restore into scratch,'
  echo "hashkv), and a new node restores the latest backup (direct kernel boot):"
  echo "${backups:-not found in the log of TestBackupBench}."
} > BENCHMARKS.md
echo "bench: wrote BENCHMARKS.md and docs/bench-boot.svg" >&2

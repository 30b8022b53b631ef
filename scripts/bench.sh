#!/usr/bin/env bash
# make bench: build time (first: empty package and Go caches; cached: both warm), image sizes,
# and boot-to-healthy time per arch, printed as Markdown tables. Takes ~15 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
ARCHES=${ARCHES:-amd64,arm64,ppc64le}
work=$(mktemp -d /tmp/etcd-appliance-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
ib=bin/imagebuild

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", b-a}'; }
mib() { awk -v n="$1" 'BEGIN{printf "%.1f", n/1048576}'; }

rows=()
for a in ${ARCHES//,/ }; do
  # first: nothing cached (packages downloaded, etcd compiled from scratch)
  t0=$(now)
  ETCD_APPLIANCE_CACHE="$work/cache-$a" GOCACHE="$work/gocache-$a" \
    $ib build --arch "$a" --format raw,qcow2 --out "$work/first-$a" >"$work/first-$a.log" 2>&1
  t1=$(now)
  # cached: the machine's package cache and Go build cache are warm
  $ib build --arch "$a" --format raw,qcow2 --out "$work/cached-$a" >/dev/null 2>&1 || true
  t2=$(now)
  $ib build --arch "$a" --format raw,qcow2 --out "$work/cached-$a" >"$work/cached-$a.log" 2>&1
  t3=$(now)
  raw=$(ls "$work/cached-$a"/*.raw); qcow=$(ls "$work/cached-$a"/*.qcow2)
  alloc=$(( $(stat -c %b "$raw") * 512 ))
  rows+=("| $a | $(secs "$t0" "$t1") | $(secs "$t2" "$t3") | $(mib "$alloc") | $(mib "$(stat -c %s "$qcow")") |")
done

echo
echo "## Build (seconds) and size (MiB), $(nproc) cores, $(date -u +%F)"
echo
echo "| arch | first build | cached build | raw allocated | qcow2 |"
echo "|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo

# Boot to etcd healthy, through firmware, from the images just built.
mkdir -p "$work/boot"
for a in ${ARCHES//,/ }; do cp "$work/cached-$a"/*.qcow2 "$work/boot/"; done
$ib build --arch "$ARCHES" --format qcow2 --out "$work/boot" >/dev/null 2>&1
echo "## Boot to etcd healthy (qemu TCG, firmware boot)"
echo
IMAGE_DIR="$work/boot" go test -count=1 -run '^$' -bench 'BenchmarkBootToHealthy' -benchtime 1x -timeout 60m ./qemu-tests/ |
  awk '/^Benchmark/ { split($1, n, "/"); a=n[2]; sub(/-[0-9]+$/, "", a);
         for (i=3; i<=NF; i++) if ($(i+1) ~ /s-to-/) printf "| %s | %s | %s |\n", a, $(i+1), $i }
       BEGIN { print "| arch | metric | seconds |"; print "|---|---|---|" }'

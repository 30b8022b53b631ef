#!/usr/bin/env bash
# make fuzz: every Fuzz target for FUZZTIME (default 30s) each. A failing input is written by Go
# to the package's testdata/fuzz/FuzzName/ and from then on runs as a regression case in
# `go test` (and so in `make test`): commit it with the fix.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-30s}
status=0
for pkg in $(go list ./... | grep -v /qemu-tests); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	for name in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
		echo "== $pkg $name ($fuzztime)"
		if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg"; then
			status=1
		fi
	done
done
exit $status

#!/bin/sh
# A short, bounded libFuzzer run of the configuration parser (a number of
# inputs, not a time: the same work on a fast and a slow machine), starting
# from the corpus in the tree. New inputs go to a temporary folder, never
# into the tree; a crash leaves its input there and fails the test.
# Usage: fuzz-config-run.sh FUZZER CORPUS RUNS
set -eu
fuzzer=$1
corpus=$2
runs=$3
work=$(mktemp -d "${TMPDIR:-/tmp}/cbox-fuzz-config.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/new"
"$fuzzer" -seed=1 -runs="$runs" -max_len=4096 -artifact_prefix="$work/" "$work/new" "$corpus" \
  || { echo "fuzz-config: the fuzzer failed; the input that crashed it:" >&2; \
       for f in "$work"/crash-* "$work"/leak-* "$work"/timeout-*; do [ -e "$f" ] && od -c "$f" | head -20 >&2; done; \
       exit 1; }

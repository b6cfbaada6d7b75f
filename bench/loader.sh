#!/bin/sh
# What plugin loading costs a cbox invocation: `cbox plugins` with no
# plugin folder, with every plugin this build made, and with the broken
# plugins of the loader tests; plain bwrap as the yardstick when present.
#
#   bench/loader.sh [BUILDDIR]        (default: build)
set -eu
build=$(cd "${1:-build}" && pwd)
src=$(cd "$(dirname "$0")/.." && pwd)
cbox="$build/core/cbox"
command -v hyperfine >/dev/null || { echo "hyperfine is not installed" >&2; exit 1; }

all=""
for d in "$build"/plugins/*/ "$build"/tests/backend-test/; do
  all="$all${all:+:}$d"
done
n=$(ls "$build"/plugins/*/libcbox-*.so "$build"/tests/backend-test/libcbox-*.so 2>/dev/null | wc -l)
broken="$build/tests/broken-plugins:$build/tests/broken-plugins/second"

export CBOX_DATA_DIR="$src/data"
set -- \
  -n "no plugins" "env CBOX_PLUGIN_PATH=/nonexistent $cbox plugins" \
  -n "$n plugins of this build" "env CBOX_PLUGIN_PATH=$all $cbox plugins" \
  -n "the broken plugins (tests)" "env CBOX_PLUGIN_PATH=$broken $cbox plugins"
if command -v bwrap >/dev/null; then
  set -- "$@" -n "bwrap --ro-bind / / true" "bwrap --ro-bind / / true"
fi
hyperfine -N --warmup 5 --runs "${RUNS:-100}" "$@"

#!/usr/bin/env bash
# Start-up cost of the bwrap backend, in one hyperfine run:
#   1. cbox run -- true                         (the whole of cbox)
#   2. the same sandbox by plain bwrap          (from `cbox plan --print-command`)
#   3. firejail --noprofile true                (for comparison)
# then cbox's peak RSS (/usr/bin/time -v). Usage: bench/bwrap.sh [BUILDDIR]
#
# The plain bwrap line is cbox's own, with two changes it needs to run outside
# cbox: the generated /etc/passwd and /etc/group (memfds, --ro-bind-data FD)
# become --ro-bind of files with the same content, and --seccomp FD (a memfd
# made at run time) is dropped. Both make plain bwrap, if anything, a little
# faster than what cbox does.
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(realpath "${1:-build}")
cbox=$build/core/cbox
export CBOX_PLUGIN_PATH=$build/plugins/bwrap CBOX_LIBEXEC_DIR=$build/core CBOX_DATA_DIR=$PWD/data

work=$(mktemp -d /tmp/cbox-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
project=$work/project
mkdir "$project"
cd "$project"

opts=(--backend=bwrap --forward=none --network=on --project="$project")
"$cbox" run "${opts[@]}" -- cat /etc/passwd >"$work/passwd"
"$cbox" run "${opts[@]}" -- cat /etc/group >"$work/group"
line=$("$cbox" plan "${opts[@]}" --print-command -- true)
plain=$(printf '%s\n' "$line" | sed -E \
    -e "s|(--perms [0-7]+ )?--ro-bind-data [0-9]+ /etc/passwd|--ro-bind $work/passwd /etc/passwd|" \
    -e "s|(--perms [0-7]+ )?--ro-bind-data [0-9]+ /etc/group|--ro-bind $work/group /etc/group|" \
    -e "s|--seccomp [0-9]+ ||")
case $plain in
*--ro-bind-data*|*--file\ *) echo "bench: unexpected data file in: $plain" >&2; exit 1 ;;
esac

echo "machine: $(uname -srm), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "bwrap: $(bwrap --version), firejail: $(firejail --version | head -1)"
echo "plain bwrap: $plain"
hyperfine -N --warmup 20 --runs "${RUNS:-200}" --export-markdown "$work/result.md" \
    -n 'cbox run -- true' "$cbox run ${opts[*]} -- true" \
    -n 'plain bwrap' "$plain" \
    -n 'firejail --noprofile true' 'firejail --quiet --noprofile true'
cat "$work/result.md"

rss=$(/usr/bin/time -v "$cbox" run "${opts[@]}" -- true 2>&1 >/dev/null |
    sed -n 's/.*Maximum resident set size (kbytes): //p')
echo "cbox peak RSS: $rss KiB"

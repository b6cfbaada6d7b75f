#!/bin/bash
# `cbox run --backend=nspawn -- true` against the same systemd-nspawn
# command line run directly (goal: within 1.2x, median). Needs root.
#
# The direct command is the one cbox runs, taken from a live cbox run's
# systemd-nspawn process (so its root, binds and environment are cbox's
# own), with another machine name and `true` as the command. It does not
# pay for what cbox adds: loading plugins, planning, making and removing
# the ephemeral root, setpriv.
#
#   sudo bench/nspawn.sh [BUILDDIR]        (default: build; RUNS=50)
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
src=$(cd "$(dirname "$0")/.." && pwd)
cbox="$build/core/cbox"
command -v hyperfine >/dev/null || { echo "hyperfine is not installed" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "the nspawn backend needs root: run it with sudo" >&2; exit 1; }

plugins=""
for d in "$build"/plugins/*/; do plugins="$plugins${plugins:+:}$d"; done
export CBOX_PLUGIN_PATH="$plugins" CBOX_DATA_DIR="$src/data" CBOX_LIBEXEC_DIR="$build/core"

project=$(mktemp -d /tmp/cbox-bench-nspawn.XXXXXX)
copy=$(mktemp -d /run/cbox-bench-nspawn.XXXXXX)
cd "$project"
"$cbox" run --backend=nspawn -- sleep infinity </dev/null &
live=$!
cleanup() {
  kill $live 2>/dev/null || true
  wait $live 2>/dev/null || true
  umount "$copy" 2>/dev/null || true
  rmdir "$copy" "$project"
}
trap cleanup EXIT

# The live run's systemd-nspawn (a child of cbox, once setpriv exec'ed it),
# once the command runs inside (nspawn -> stub init -> cbox-exec).
nspawn_pid=""
for _ in $(seq 300); do
  for child in $(cat /proc/$live/task/$live/children 2>/dev/null); do
    if [ "$(cat /proc/$child/comm 2>/dev/null)" = systemd-nspawn ]; then
      stub=$(cat /proc/$child/task/$child/children 2>/dev/null || true)
      stub=${stub%% *}
      if [ -n "$stub" ] && [ -n "$(cat /proc/$stub/task/$stub/children 2>/dev/null || true)" ]; then
        nspawn_pid=$child
      fi
    fi
  done
  [ -n "$nspawn_pid" ] && break
  sleep 0.1
done
[ -n "$nspawn_pid" ] || { echo "no running systemd-nspawn under cbox ($live)" >&2; exit 1; }

# nspawn locks its directory, so the direct runs get a copy of the live
# run's tree (on a tmpfs too), and the live run ends.
mapfile -d '' argv </proc/$nspawn_pid/cmdline
root=""
for arg in "${argv[@]}"; do
  case "$arg" in --directory=*) root=${arg#--directory=} ;; esac
done
fs=$(dirname "$root")
mount -t tmpfs -o mode=0700 cbox-bench "$copy"
cp -a "$fs/." "$copy/"
kill $live
wait $live || true

direct=""
for arg in "${argv[@]}"; do
  case "$arg" in
    --machine=*) arg="--machine=cbox-bench-direct" ;;
    sleep) arg="true" ;;
    infinity) continue ;;
  esac
  arg=${arg//$fs/$copy}
  direct="$direct${direct:+ }$(printf '%q' "$arg")"
done

echo "direct: $direct"
json=$(mktemp)
hyperfine -N --warmup 3 --runs "${RUNS:-50}" --export-json "$json" \
  -n "cbox run --backend=nspawn -- true" "$cbox run --backend=nspawn -- true" \
  -n "systemd-nspawn (same command line)" "$direct"
python3 - "$json" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
for r in results:
    print(f"{r['command']}: median {r['median'] * 1000:.1f} ms, min {r['min'] * 1000:.1f} ms")
print(f"median ratio cbox/direct: {results[0]['median'] / results[1]['median']:.2f}x (goal: 1.2x)")
PY
rm -f "$json"

# hyperfine runs one command's runs, then the other's: on a machine whose
# load changes (shared CI, other builds), that skews the ratio. Pairs run
# back to back see the same load.
python3 - "$cbox" "$direct" "${RUNS:-50}" <<'PY'
import shlex, statistics, subprocess, sys, time
cbox, direct, runs = sys.argv[1], shlex.split(sys.argv[2]), int(sys.argv[3])
def once(argv):
    start = time.perf_counter()
    subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start
a, b = [], []
for i in range(runs):
    pair = [(a, [cbox, "run", "--backend=nspawn", "--", "true"]), (b, direct)]
    for out, argv in (pair if i % 2 == 0 else pair[::-1]):
        out.append(once(argv))
ratios = [x / y for x, y in zip(a, b)]
print(f"paired, {runs} pairs: cbox median {statistics.median(a) * 1000:.1f} ms, "
      f"direct median {statistics.median(b) * 1000:.1f} ms, "
      f"median of ratios {statistics.median(ratios):.2f}x")
PY

#!/usr/bin/env bash
# GPU forwarding check, by hand, on a machine with a GPU (docs/gpu.md).
#
# Builds cbox (unless BUILD_DIR already holds a build), then runs the GPU
# tools that are installed (nvidia-smi, eglinfo, vainfo, vulkaninfo) on the
# host, in a bwrap sandbox WITHOUT --forward=gpu (they must fail to see the
# GPU) and WITH it (they must work as on the host). Every command is
# bounded by a timeout. A summary goes to stdout; full outputs go to
# $OUT/gpu-check/ when OUT is set, else ./gpu-check-results/.
#
#   bench/gpu-check.sh                  # build into build-gpu/ and check
#   BUILD_DIR=build bench/gpu-check.sh  # use an existing build
#   BACKEND=nspawn bench/gpu-check.sh   # as root: the nspawn backend
set -u
cd "$(dirname "$0")/.."

BUILD_DIR="${BUILD_DIR:-build-gpu}"
BACKEND="${BACKEND:-bwrap}"
RESULTS="${OUT:+$OUT/gpu-check}"
RESULTS="${RESULTS:-gpu-check-results}"
mkdir -p "$RESULTS"
summary="$RESULTS/summary.txt"
: >"$summary"

say() { printf '%s\n' "$*" | tee -a "$summary"; }

say "# cbox GPU check, $(date -u +%Y-%m-%dT%H:%M:%SZ), backend $BACKEND"
say "host: $(uname -srm)"
for tool in meson ninja cc bwrap pkg-config; do
    command -v "$tool" >/dev/null 2>&1 || say "missing: $tool"
done

if [ ! -x "$BUILD_DIR/core/cbox" ]; then
    say "## build ($BUILD_DIR)"
    if ! { meson setup "$BUILD_DIR" -Dtests=false >"$RESULTS/build.log" 2>&1 &&
           ninja -C "$BUILD_DIR" >>"$RESULTS/build.log" 2>&1; }; then
        say "build FAILED (see $RESULTS/build.log):"
        tail -n 20 "$RESULTS/build.log" | tee -a "$summary"
        exit 1
    fi
fi

# The uninstalled tree, as meson devenv sets it up.
CBOX_PLUGIN_PATH=""
for dir in "$BUILD_DIR"/plugins/*/; do
    CBOX_PLUGIN_PATH="$CBOX_PLUGIN_PATH${CBOX_PLUGIN_PATH:+:}$PWD/$dir"
done
export CBOX_PLUGIN_PATH
export CBOX_DATA_DIR="$PWD/data"
export CBOX_LIBEXEC_DIR="$PWD/$BUILD_DIR/core"
CBOX="$PWD/$BUILD_DIR/core/cbox"

# run NAME COMMAND...: bounded, output kept, status reported.
run() {
    local name="$1"; shift
    timeout 120 "$@" >"$RESULTS/$name.out" 2>"$RESULTS/$name.err"
    local status=$?
    say "$name: exit $status"
    [ $status -eq 0 ] || head -n 3 "$RESULTS/$name.err" | sed 's/^/  ! /' | tee -a "$summary"
    return $status
}

say "## what the host has"
ls -l /dev/dri /dev/nvidia* /dev/kfd >"$RESULTS/host-nodes.txt" 2>&1
sed 's/^/  /' "$RESULTS/host-nodes.txt" | tee -a "$summary"
[ -r /sys/module/nvidia/version ] && say "nvidia driver: $(cat /sys/module/nvidia/version)"

say "## cbox doctor (dri)"
run doctor "$CBOX" doctor
sed -n '/^ *dri /,/^  [a-z]/p' "$RESULTS/doctor.out" | sed '$d' | tee -a "$summary"

say "## cbox plan --forward=gpu"
run plan "$CBOX" plan --backend="$BACKEND" --forward=gpu -- true
grep '\[dri\]' "$RESULTS/plan.out" | tee -a "$summary"

# The sysfs links of the plan resolve inside as on the host.
say "## sysfs inside"
run sysfs "$CBOX" run --backend="$BACKEND" --forward=gpu -- sh -c \
    'for l in /sys/dev/char/*; do printf "%s -> %s\n" "$l" "$(readlink -f "$l")"; \
       cat "$l/device/vendor" "$l/device/device" 2>/dev/null; done'
sed 's/^/  /' "$RESULTS/sysfs.out" | tee -a "$summary"

check_tool() {
    local name="$1"; shift
    command -v "$1" >/dev/null 2>&1 || { say "$name: not installed, skipped"; return; }
    say "## $name"
    run "$name-host" "$@"
    run "$name-without-gpu" "$CBOX" run --backend="$BACKEND" -- "$@"
    run "$name-with-gpu" "$CBOX" run --backend="$BACKEND" --forward=gpu -- "$@"
    head -n 15 "$RESULTS/$name-with-gpu.out" | sed 's/^/  /' | tee -a "$summary"
    head -n 5 "$RESULTS/$name-without-gpu.err" | sed 's/^/  (without) /' | tee -a "$summary"
}

check_tool nvidia-smi nvidia-smi
check_tool nvidia-smi-L nvidia-smi -L
check_tool eglinfo eglinfo -B
check_tool vainfo vainfo
check_tool vulkaninfo vulkaninfo --summary

say "## done; outputs in $RESULTS"

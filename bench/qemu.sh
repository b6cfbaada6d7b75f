#!/bin/sh
# Compares `cbox run --backend=qemu -- true` with its floor: the same QEMU
# booting the same kernel on the same machine type, CPU model, memory and
# CPUs, with a minimal initramfs whose init (cbox-qemu-floor-init) only powers
# off. The difference is what cbox adds: its own start, module loading, the
# shares, the metadata and the ports.
#
#   bench/qemu.sh [BUILD_DIR]        (default: build)
#   ACCEL=kvm|tcg  (default tcg)  RUNS=N (default 5)  PROJECT=DIR
#
# Results go to stdout and, as markdown, to bench/qemu-results.md.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build=$(cd "${1:-$root/build}" && pwd)
accel=${ACCEL:-tcg}
runs=${RUNS:-5}

command -v hyperfine >/dev/null || { echo "bench/qemu.sh: needs hyperfine" >&2; exit 1; }

CBOX_PLUGIN_PATH=$(find "$build/plugins" "$build/tests/backend-test" -maxdepth 1 -mindepth 1 -type d 2>/dev/null | tr '\n' ':')
CBOX_DATA_DIR="$root/data"
CBOX_LIBEXEC_DIR="$build/core"
export CBOX_PLUGIN_PATH CBOX_DATA_DIR CBOX_LIBEXEC_DIR

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
# A cache of its own: the initramfs is built once by the warm-up run.
XDG_CACHE_HOME="$tmp/cache"
export XDG_CACHE_HOME
project=${PROJECT:-$tmp/project}
mkdir -p "$project"

kernel=$("$build/plugins/qemu/cbox-qemu-tool" kernel)
"$build/plugins/qemu/cbox-qemu-tool" minimal "$build/plugins/qemu/cbox-qemu-floor-init" "$tmp/floor.cpio"
cmdline=$("$build/plugins/qemu/cbox-qemu-tool" cmdline)
if [ "$accel" = kvm ]; then cpu=host; else cpu=max; fi

floor="qemu-system-x86_64 -machine q35 -accel $accel -cpu $cpu -m 2048 -smp 2 -nodefaults -no-user-config -display none -no-reboot -kernel $kernel -initrd $tmp/floor.cpio -append '$cmdline' -serial null"
cbox="cd '$project' && '$build/core/cbox' run --backend=qemu --set=qemu.accel=$accel --network=off -- true </dev/null"

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "kernel: $kernel, accelerator: $accel, qemu: $(qemu-system-x86_64 --version | head -1)"
hyperfine --warmup 1 --runs "$runs" --export-markdown "$here/qemu-results.md" \
    -n floor "$floor" -n "cbox run --backend=qemu -- true" "$cbox"

#!/usr/bin/env bash
# Start-up cost of the bwrap backend, in one hyperfine run:
#   1. cbox run -- true                         (the whole of cbox, default
#                                                forwarders and all; the
#                                                default network: its own)
#   2. the same with a network helper per run (network-keep=0), with
#      --network=off, and with --network=host
#   3. the same sandbox by plain bwrap          (from `cbox plan --print-command`:
#                                                a network namespace, no helper)
#   4. firejail --noprofile true                (for comparison)
# then cbox's peak RSS (/usr/bin/time -v). Usage: bench/bwrap.sh [BUILDDIR]
#
# The plain bwrap line is cbox's own, word for word (cbox-exec in it loads
# the seccomp filter, as in cbox's run). Its file descriptors (generated
# files such as /etc/passwd: memfds in cbox) are opened from files with the
# same content, each file as the sandbox shows it. Each command is started by the same small exec wrapper
# (bench/fd-exec.c), which opens those descriptors for plain bwrap.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
build=$(realpath "${1:-build}")
rounds=${ROUNDS:-8}
case $rounds in
'' | *[!0-9]* | 0) echo "bench/bwrap.sh: ROUNDS must be a whole number of at least 1, not '$rounds'" >&2; exit 125 ;;
esac

# What users run is an installed cbox, so that is what is timed.
#
# As root (the usual case on a CI machine), the bench re-runs itself in a
# mount namespace of its own (unshare), lays a tmpfs overlay over the
# build's prefix there, installs the build into it with `meson install` and
# adds it to a private copy of the dynamic loader's cache: cbox then runs
# exactly as installed, finds libcbox through ld.so.cache and its plugins,
# cbox-exec and data at their built-in paths, with no variable pointing
# anywhere. All of it is gone when the bench ends; nothing of the host's
# prefix or /etc/ld.so.cache is written. Plain bwrap and firejail run in the
# same namespace (their /usr is the host's, with the overlay on the prefix).
#
# Otherwise (not root, no unshare, or CBOX_BENCH_DESTDIR=1) the build is
# installed into the work folder (`meson install --destdir`) and cbox is
# pointed at it by its variables, LD_LIBRARY_PATH included (given to cbox
# alone, through fd-exec). That costs cbox about 0.15 to 0.3 ms a run that
# no installed cbox pays (docs/benchmarks.md).
if [ "$(id -u)" = 0 ] && [ -z "${CBOX_BENCH_DESTDIR:-}" ] && [ -z "${CBOX_BENCH_IN_NS:-}" ] &&
    command -v unshare >/dev/null; then
    CBOX_BENCH_IN_NS=1 exec unshare --mount --propagation private -- "$0" "$@"
fi

work=$(mktemp -d /tmp/cbox-bench.XXXXXX)
cleanup() {
    # The namespace's mounts first (they would go with it, but the work
    # folder is removed before that).
    if [ -n "${CBOX_BENCH_IN_NS:-}" ]; then
        umount /etc/ld.so.cache "${prefix:-}" "$work/overlay" 2>/dev/null || true
    fi
    [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

build_options=$(meson introspect "$build" --buildoptions)
option() {
    python3 -c 'import json, sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == sys.argv[1]))' \
        "$1" <<<"$build_options"
}
prefix=$(option prefix)
# A folder option of the build, under $2 (the install root).
dir_option() {
    local d
    d=$(option "$1")
    case $d in
    /*) echo "$2$d" ;;
    *) echo "$2$prefix/$d" ;;
    esac
}

if [ -n "${CBOX_BENCH_IN_NS:-}" ]; then
    mkdir "$work/overlay"
    mount -t tmpfs cbox-bench "$work/overlay"
    mkdir "$work/overlay/upper" "$work/overlay/work"
    mkdir -p "$prefix"
    mount -t overlay cbox-bench -o "lowerdir=$prefix,upperdir=$work/overlay/upper,workdir=$work/overlay/work" "$prefix"
    meson install -C "$build" --quiet >/dev/null
    ldconfig -C "$work/ld.so.cache"
    mount --bind "$work/ld.so.cache" /etc/ld.so.cache
    cbox=$(dir_option bindir "")
    cbox=$cbox/cbox
    cbox_env=()
    install_mode="installed into $prefix (tmpfs overlay, private mount namespace)"
else
    dest=$work/dest
    meson install -C "$build" --destdir "$dest" --quiet >/dev/null
    cbox=$(dir_option bindir "$dest")/cbox
    libdir=$(dir_option libdir "$dest")
    export CBOX_PLUGIN_PATH=$libdir/cbox/plugins-1
    export CBOX_LIBEXEC_DIR=$(dir_option libexecdir "$dest")/cbox
    export CBOX_DATA_DIR=$(dir_option datadir "$dest")/cbox
    cbox_env=("LD_LIBRARY_PATH=$libdir")
    install_mode="installed with --destdir into $dest, LD_LIBRARY_PATH for cbox"
fi
libdir=$(dir_option libdir "${dest:-}")
# Its own plugin cache and project state, gone with $work.
export XDG_CACHE_HOME=$work/cache XDG_STATE_HOME=$work/state
cbox() { env "${cbox_env[@]}" "$cbox" "$@"; }

project=$work/project
mkdir "$project"
cd "$project"

opts=(--backend=bwrap --network=on --project="$project")
line=$(cbox plan "${opts[@]}" --print-command -- true)
redirs=
i=0
while read -r fd file; do
    i=$((i + 1))
    cbox run "${opts[@]}" -- cat "$file" >"$work/data$i"
    redirs="$redirs $fd<$work/data$i"
done < <(printf '%s\n' "$line" | grep -oE -- '--(ro-bind-data|file) [0-9]+ [^ ]+' | cut -d' ' -f2-)
plain="$line $redirs"

# Every command starts through fd-exec, without a shell: bash forks before
# a command with redirections (it execs directly only without them), so a
# plain bwrap line given its descriptors by bash paid a fork and a wait
# that cbox does not, and looked slower than it is (about 1.5 ms here).
cc -O2 -o "$work/fd-exec" "$src/bench/fd-exec.c"
fdargs=$(printf '%s\n' $redirs | sed 's/</=/' | tr '\n' ' ')

echo "machine: $(uname -srm), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "cbox: $install_mode"
echo "bwrap: $(bwrap --version), firejail: $(firejail --version | head -1)"
echo "plain bwrap: $plain"
# hyperfine runs one command's runs, then the next one's: when the machine
# changes speed meanwhile (other builds, CI neighbours, plain bwrap's two
# modes on this VM, docs/benchmarks.md), a single round's ratio of medians
# swings either way (0.96 to 1.31 in four runs of one tree). So the runs
# are split into ROUNDS rounds, the order of the commands alternating from
# round to round, and the figures are taken over all rounds' runs together.
runs=$(((${RUNS:-200} + rounds - 1) / rounds))
# The network modes (docs/security.md, "Network"): on (the default: a
# namespace of its own, the project's, kept with its slirp4netns between
# runs), on with a namespace and helper per run (network-keep=0), off, and
# host (the host's namespace, what `on` was before).
cmds=(-n 'cbox run -- true' "$work/fd-exec ${cbox_env[*]} -- $cbox run ${opts[*]} -- true"
    -n 'cbox run --set=cbox.network-keep=0 -- true' "$work/fd-exec ${cbox_env[*]} -- $cbox run ${opts[*]} --set=cbox.network-keep=0 -- true"
    -n 'cbox run --network=off -- true' "$work/fd-exec ${cbox_env[*]} -- $cbox run ${opts[*]} --network=off -- true"
    -n 'cbox run --network=host -- true' "$work/fd-exec ${cbox_env[*]} -- $cbox run ${opts[*]} --network=host -- true"
    -n 'plain bwrap' "$work/fd-exec $fdargs -- $line"
    -n 'firejail --noprofile true' "$work/fd-exec -- firejail --quiet --noprofile true")
rev=()
for ((k = ${#cmds[@]} - 3; k >= 0; k -= 3)); do rev+=("${cmds[@]:k:3}"); done
for r in $(seq "$rounds"); do
    if [ $((r % 2)) = 1 ]; then set -- "${cmds[@]}"; else set -- "${rev[@]}"; fi
    hyperfine -N --style none --warmup 5 --runs "$runs" --export-json "$work/round$r.json" "$@" \
        >/dev/null 2>"$work/round$r.err" || { cat "$work/round$r.err" >&2; exit 1; }
done

# Medians (the goal is stated on them) and CPU time, which a busy machine
# disturbs less than wall time.
python3 - "$work"/round*.json <<'PY'
import json, statistics, sys
times, cpu, names = {}, {}, []
for f in sys.argv[1:]:
    for r in json.load(open(f))["results"]:
        if r["command"] not in names:
            names.append(r["command"])
        times.setdefault(r["command"], []).extend(r["times"])
        cpu.setdefault(r["command"], []).append(r["user"] + r["system"])
base = statistics.median(times["plain bwrap"])
print("hyperfine, %d rounds, %d runs per command:" % (len(sys.argv) - 1, len(times["plain bwrap"])))
print("| command | median ms | mean ms | min ms | user+sys ms | median / plain bwrap |")
print("|---|---:|---:|---:|---:|---:|")
for n in names:
    t = times[n]
    print("| %s | %.1f | %.1f | %.1f | %.1f | %.2f |" % (n, statistics.median(t) * 1e3,
          statistics.mean(t) * 1e3, min(t) * 1e3, statistics.mean(cpu[n]) * 1e3,
          statistics.median(t) / base))
PY

# Pairs run back to back (order alternating) see the same load, run for
# run; both commands are started the same way (fork and exec from Python,
# the plain line's descriptors opened in the child).
python3 - "$cbox" "${cbox_env[*]}" "$line" "$redirs" "${PAIRS:-200}" "${opts[@]}" <<'PY'
import os, shlex, statistics, subprocess, sys, time
cbox, cbox_vars, line, redirs, pairs = sys.argv[1:6]
pairs, opts = int(pairs), sys.argv[6:]
cbox_env = dict(os.environ, **dict(v.split("=", 1) for v in cbox_vars.split()))
plain = shlex.split(line)
fds = [(int(r.split("<", 1)[0]), r.split("<", 1)[1]) for r in redirs.split()]
def once(argv, with_fds, env):
    # bwrap reads each descriptor to its end: fresh ones for every run,
    # opened before the clock starts, inherited at their numbers.
    for fd, path in fds if with_fds else []:
        f = os.open(path, os.O_RDONLY)
        os.dup2(f, fd)
        os.close(f)
    start = time.perf_counter()
    subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, close_fds=False,
                   env=env, check=True)
    took = time.perf_counter() - start
    for fd, _ in fds if with_fds else []:
        os.close(fd)
    return took
a, b = [], []
for i in range(pairs):
    pair = [(a, [cbox, "run", *opts, "--", "true"], False, cbox_env), (b, plain, True, None)]
    for out, argv, with_fds, env in (pair if i % 2 == 0 else pair[::-1]):
        out.append(once(argv, with_fds, env))
ratios = [x / y for x, y in zip(a, b)]
print(f"paired, {pairs} pairs: cbox median {statistics.median(a) * 1e3:.1f} ms, "
      f"plain bwrap median {statistics.median(b) * 1e3:.1f} ms, "
      f"median of ratios {statistics.median(ratios):.2f}x (goal: 1.3x)")
PY

rss=$(env "${cbox_env[@]}" /usr/bin/time -v "$cbox" run "${opts[@]}" -- true 2>&1 >/dev/null |
    sed -n 's/.*Maximum resident set size (kbytes): //p')
echo "cbox peak RSS: $rss KiB"

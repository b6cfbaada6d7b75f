#!/usr/bin/env bash
# Start-up cost of the bwrap backend, in one hyperfine run:
#   1. cbox run -- true                         (the whole of cbox, default
#                                                forwarders and all)
#   2. the same sandbox by plain bwrap          (from `cbox plan --print-command`)
#   3. firejail --noprofile true                (for comparison)
# then cbox's peak RSS (/usr/bin/time -v). Usage: bench/bwrap.sh [BUILDDIR]
#
# The plain bwrap line is cbox's own, word for word. Its file descriptors
# (generated files such as /etc/passwd, and the seccomp filter: memfds in
# cbox) are opened from files with the same content: each file as the
# sandbox shows it, the filter from the plugin's own function (through
# python3 ctypes). Each command is started by the same small exec wrapper
# (bench/fd-exec.c), which opens those descriptors for plain bwrap.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
build=$(realpath "${1:-build}")

work=$(mktemp -d /tmp/cbox-bench.XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT

# What users run is an installed cbox, so that is what is timed: the build
# is installed into $work/dest and run from there, pointed at that folder
# by its variables. (The build tree keeps every plugin in a folder of its
# own, 13 of them through CBOX_PLUGIN_PATH, which costs about 0.4 ms a run
# that no installed cbox pays.) LD_LIBRARY_PATH, for libcbox, reaches cbox
# alone (through fd-exec): plain bwrap and firejail do not search it.
dest=$work/dest
meson install -C "$build" --destdir "$dest" --quiet >/dev/null
build_options=$(meson introspect "$build" --buildoptions)
option() {
    python3 -c 'import json, sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == sys.argv[1]))' \
        "$1" <<<"$build_options"
}
# A folder option of the build, as installed under $dest.
dir_option() {
    local d
    d=$(option "$1")
    case $d in
    /*) echo "$dest$d" ;;
    *) echo "$dest$(option prefix)/$d" ;;
    esac
}
cbox=$(dir_option bindir)/cbox
libdir=$(dir_option libdir)
CBOX_PLUGIN_PATH=$libdir/cbox/plugins-1
CBOX_LIBEXEC_DIR=$(dir_option libexecdir)/cbox
CBOX_DATA_DIR=$(dir_option datadir)/cbox
# Its own plugin cache and project state, gone with $work.
export CBOX_PLUGIN_PATH CBOX_LIBEXEC_DIR CBOX_DATA_DIR XDG_CACHE_HOME=$work/cache \
    XDG_STATE_HOME=$work/state
cbox() { LD_LIBRARY_PATH=$libdir "$cbox" "$@"; }

project=$work/project
mkdir "$project"
cd "$project"

opts=(--backend=bwrap --network=on --project="$project")
LD_LIBRARY_PATH=$libdir python3 - "$CBOX_PLUGIN_PATH/libcbox-bwrap.so" "$work/bpf" <<'PY'
import ctypes, os, sys
fd = ctypes.CDLL(sys.argv[1]).cbox_bwrap_seccomp_fd_new(None)
assert fd >= 0
os.lseek(fd, 0, 0)
with open(sys.argv[2], "wb") as out:
    while chunk := os.read(fd, 65536):
        out.write(chunk)
PY

line=$(cbox plan "${opts[@]}" --print-command -- true)
redirs=$(printf '%s\n' "$line" | sed -nE 's/.*--seccomp ([0-9]+) .*/\1/p' | sed "s|\$|<$work/bpf|")
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
echo "bwrap: $(bwrap --version), firejail: $(firejail --version | head -1)"
echo "plain bwrap: $plain"
hyperfine -N --warmup 20 --runs "${RUNS:-200}" --export-json "$work/result.json" \
    -n 'cbox run -- true' "$work/fd-exec LD_LIBRARY_PATH=$libdir -- $cbox run ${opts[*]} -- true" \
    -n 'plain bwrap' "$work/fd-exec $fdargs -- $line" \
    -n 'firejail --noprofile true' "$work/fd-exec -- firejail --quiet --noprofile true"

# Medians (the goal is stated on them) and CPU time, which a busy machine
# disturbs less than wall time.
python3 - "$work/result.json" <<'PY'
import json, sys
rs = json.load(open(sys.argv[1]))["results"]
base = next(r for r in rs if r["command"] == "plain bwrap")["median"]
print("| command | median ms | mean ms | min ms | user+sys ms | median / plain bwrap |")
print("|---|---:|---:|---:|---:|---:|")
for r in rs:
    print("| %s | %.1f | %.1f | %.1f | %.1f | %.2f |" % (r["command"], r["median"] * 1e3,
          r["mean"] * 1e3, r["min"] * 1e3, (r["user"] + r["system"]) * 1e3, r["median"] / base))
PY

# hyperfine runs one command's runs, then the next one's: when the load of
# the machine changes meanwhile (other builds, CI neighbours), the ratio of
# medians swings either way. Pairs run back to back (order alternating) see
# the same load; both commands are started the same way (fork and exec from
# Python, the plain line's descriptors opened in the child).
python3 - "$cbox" "$libdir" "$line" "$redirs" "${PAIRS:-200}" "${opts[@]}" <<'PY'
import os, shlex, statistics, subprocess, sys, time
cbox, libdir, line, redirs, pairs = sys.argv[1:6]
pairs, opts = int(pairs), sys.argv[6:]
cbox_env = dict(os.environ, LD_LIBRARY_PATH=libdir)
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

rss=$(LD_LIBRARY_PATH=$libdir /usr/bin/time -v "$cbox" run "${opts[@]}" -- true 2>&1 >/dev/null |
    sed -n 's/.*Maximum resident set size (kbytes): //p')
echo "cbox peak RSS: $rss KiB"

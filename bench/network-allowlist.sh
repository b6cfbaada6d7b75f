#!/usr/bin/env bash
# What the network allowlist (--network=allow:HOSTS, issue 21) costs, without
# the internet, in namespaces this script makes (as
# plugins/bwrap/net/test-allowlist.sh does; root only):
#   1. `cbox run --backend=bwrap -- true` with --network=off, on (slirp4netns)
#      and allow:allowed.test (the proxy), one after the other (hyperfine);
#   2. a large download (BYTES, default 512 MiB) from the peer's HTTP server:
#      directly from this namespace, from inside the sandbox through the
#      proxy (--network=allow), and through slirp4netns (--network=on);
#      ROUNDS times each, the median MB/s.
# Usage: bench/network-allowlist.sh [BUILDDIR]. The build tree's cbox, by
# its variables. Nothing of the host changes.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
build=$(realpath "${1:-build}")
rounds=${ROUNDS:-5}
runs=${RUNS:-30}
bytes=${BYTES:-536870912}

if [ "$(id -u)" -ne 0 ]; then
    echo "bench/network-allowlist.sh: needs root (it makes network namespaces)" >&2
    exit 125
fi
for p in hyperfine curl python3 unshare nsenter ip openssl; do
    command -v "$p" >/dev/null || { echo "bench/network-allowlist.sh: $p is missing" >&2; exit 125; }
done

if [ "${2:-}" != --inside ]; then
    work=$(mktemp -d /tmp/cbox-bench-allowlist.XXXXXX)
    chmod 0755 "$work"
    unshare --net -- sleep 100000 &
    peer=$!
    trap 'kill "$peer" 2>/dev/null; rm -rf "$work"' EXIT INT TERM
    unshare --net --mount -- "$0" "$build" --inside "$work" "$peer"
    exit
fi

work=$3
peer=$4
mount --make-rprivate /
ip link set lo up
ip link add cbox-bn0 type veth peer name cbox-bn1 netns "$peer"
ip addr add 10.203.1.1/24 dev cbox-bn0
ip link set cbox-bn0 up
ip route add default via 10.203.1.2
nsenter -t "$peer" -n ip link set lo up
nsenter -t "$peer" -n ip addr add 10.203.1.2/24 dev cbox-bn1
nsenter -t "$peer" -n ip addr add 10.203.1.3/24 dev cbox-bn1
nsenter -t "$peer" -n ip link set cbox-bn1 up
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=allowed.test \
    -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
mkfifo "$work/peer-out" "$work/peer-in"
nsenter -t "$peer" -n python3 "$src/plugins/bwrap/net/allowlist-peer.py" "$work/cert.pem" \
    "$work/key.pem" <"$work/peer-in" >"$work/peer-out" &
exec 8>"$work/peer-in"
read -r ready <"$work/peer-out"
[ "$ready" = ready ]
printf 'nameserver 10.203.1.2\n' >"$work/resolv.conf"
mount --bind "$work/resolv.conf" /etc/resolv.conf

export CBOX_PLUGIN_PATH=$build/plugins/bwrap:$build/plugins/hostconf
export CBOX_LIBEXEC_DIR=$build/core CBOX_DATA_DIR=$src/data
export HOME=$work XDG_STATE_HOME=$work/state XDG_CONFIG_HOME=$work/config
mkdir -p "$work/project"
cd "$work/project"
cbox="$build/core/cbox run --backend=bwrap --forward=hostconf"

echo "## start-up: cbox run -- true ($runs runs each)"
hyperfine -N -w 3 -r "$runs" --export-markdown "$work/startup.md" \
    -n off "$cbox --network=off -- true" \
    -n on "$cbox --network=on -- true" \
    -n allow "$cbox --network=allow:allowed.test -- true" >/dev/null
cat "$work/startup.md"

url="http://allowed.test/big?bytes=$bytes"
speed() { # CMD... -> MB/s of one download
    "$@" curl -s -o /dev/null -w '%{speed_download}\n' "$url" | tail -n 1 |
        awk '{ printf "%.0f\n", $1 / 1e6 }'
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
direct=() proxied=() slirp=()
for _ in $(seq "$rounds"); do
    direct+=("$(speed env)")
    proxied+=("$(speed $cbox --network=allow:allowed.test --)")
    slirp+=("$(speed $cbox --network=on --)")
done
echo
echo "## throughput: $bytes bytes over HTTP from the peer namespace (MB/s, $rounds rounds)"
echo
echo "| path | median MB/s | all |"
echo "|---|---:|---|"
echo "| direct (this namespace, no sandbox) | $(printf '%s\n' "${direct[@]}" | median) | ${direct[*]} |"
echo "| --network=allow (cbox-netproxy) | $(printf '%s\n' "${proxied[@]}" | median) | ${proxied[*]} |"
echo "| --network=on (slirp4netns) | $(printf '%s\n' "${slirp[@]}" | median) | ${slirp[*]} |"

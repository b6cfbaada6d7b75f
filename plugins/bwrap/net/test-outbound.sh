#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Outbound networking of the default --network=on, proven without the
# internet: cbox runs inside a network namespace this test makes, whose only
# way out is a veth pair to a peer namespace holding an HTTP server and a DNS
# server for a test name (outbound-peer.py). Inside the sandbox the test
# name must resolve (DNS through the sandbox's own network) and its page
# load (TCP), as root and as an unprivileged user; with --network=off the
# same must fail, so the test can fail. Needs root (it makes the
# namespaces); nothing of the host changes: the namespaces and the bind
# mount over /etc/resolv.conf live only as long as the test.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
cbox=${CBOX:?set by meson}
user=${CBOX_TEST_USER:-cboxtest}

if [ "$(id -u)" -ne 0 ]; then
    echo "needs root to make network namespaces: skipped"
    exit 77
fi
for p in unshare nsenter ip python3 bwrap slirp4netns setpriv; do
    if ! command -v "$p" >/dev/null 2>&1; then
        if [ "${CI:-}" = true ]; then
            echo "$p is missing (tools/install-deps)" >&2
            exit 1
        fi
        echo "$p is missing: skipped"
        exit 77
    fi
done

if [ "${1:-}" != --inside ]; then
    work=$(mktemp -d /tmp/cbox-test-outbound.XXXXXX)
    chmod 0755 "$work"
    # The peer: a network namespace of its own with the test's servers,
    # ended with the test.
    unshare --net -- sleep 100000 &
    peer=$!
    trap 'kill "$peer" 2>/dev/null; rm -rf "$work"' EXIT INT TERM
    # cbox's side: a network namespace and a mount namespace of its own,
    # so the veth, the route and the resolv.conf never touch the host.
    status=0
    unshare --net --mount -- "$0" --inside "$work" "$peer" || status=$?
    exit "$status"
fi

work=$2
peer=$3
mount --make-rprivate /
ip link set lo up
ip link add cbox-out0 type veth peer name cbox-out1 netns "$peer"
ip addr add 10.203.0.1/24 dev cbox-out0
ip link set cbox-out0 up
ip route add default via 10.203.0.2
nsenter -t "$peer" -n ip link set lo up
nsenter -t "$peer" -n ip addr add 10.203.0.2/24 dev cbox-out1
nsenter -t "$peer" -n ip link set cbox-out1 up

# The servers, in the peer; ready once they print so.
mkfifo "$work/peer-out" "$work/peer-in"
nsenter -t "$peer" -n python3 "$here/outbound-peer.py" 10.203.0.2 cbox-outbound.test \
    <"$work/peer-in" >"$work/peer-out" &
exec 8>"$work/peer-in"
read -r ready <"$work/peer-out"
[ "$ready" = ready ]

# This namespace's resolver is the peer's DNS server.
printf 'nameserver 10.203.0.2\n' >"$work/resolv.conf"
mount --bind "$work/resolv.conf" /etc/resolv.conf

# The page's body, or "unreachable" when name or server cannot be reached
# (so a sandbox that failed to start at all never passes for "no network").
fetch='import urllib.request
try:
    print(urllib.request.urlopen("http://cbox-outbound.test/", timeout=10).read().decode().strip())
except OSError:
    print("unreachable")'

failures=0
check() { # NAME EXPECTED COMMAND...
    name=$1 expected=$2
    shift 2
    out=$("$@" 2>"$work/err") || true
    if [ "$out" = "$expected" ]; then
        echo "ok - $name"
    else
        echo "not ok - $name: got '$out', expected '$expected'"
        sed 's/^/# /' "$work/err"
        failures=$((failures + 1))
    fi
}

mkdir "$work/root-project" "$work/user-project" "$work/user-home"
chown "$user:" "$work/user-project" "$work/user-home"
run_root() { # NETWORK [BACKEND]
    (cd "$work/root-project" && HOME=$work "$cbox" run "--backend=${2:-bwrap}" ${2:+--set=qemu.accel=tcg} \
        --forward=hostconf "--network=$1" -- python3 -c "$fetch")
}
run_user() { # NETWORK [BACKEND]
    # The user's own home and state: the suite's XDG folders are root's.
    (cd "$work/user-project" && env -u XDG_STATE_HOME -u XDG_CACHE_HOME -u XDG_CONFIG_HOME \
        -u XDG_RUNTIME_DIR HOME=$work/user-home USER=$user LOGNAME=$user \
        setpriv --reuid="$user" --regid="$user" --init-groups -- \
        "$cbox" run "--backend=${2:-bwrap}" ${2:+--set=qemu.accel=tcg} --forward=hostconf "--network=$1" -- \
        python3 -c "$fetch")
}

# The namespace itself reaches the peer (the test's own plumbing works).
check "plumbing: this namespace reaches the peer's server" cbox-outbound-ok python3 -c "$fetch"
check "root: --network=on resolves and fetches" cbox-outbound-ok run_root on
check "user: --network=on resolves and fetches" cbox-outbound-ok run_user on
check "root: --network=off does not" unreachable run_root off
check "user: --network=off does not" unreachable run_user off
# qemu (TCG), when its plugin is built: the guest's network is passt's.
for dir in $(echo "${CBOX_PLUGIN_PATH:-}" | tr ':' ' '); do
    [ -e "$dir/libcbox-qemu.so" ] || continue
    if ! command -v passt >/dev/null 2>&1; then
        echo "not ok - passt is missing (tools/install-deps)"
        failures=$((failures + 1))
        break
    fi
    check "root: qemu --network=on resolves and fetches" cbox-outbound-ok run_root on qemu
    check "user: qemu --network=on resolves and fetches" cbox-outbound-ok run_user on qemu
    check "root: qemu --network=off does not" unreachable run_root off qemu
    break
done
[ "$failures" -eq 0 ]

#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The network allowlist (--network=allow:LIST, deny:LIST), proven without
# the internet, as an attacker inside would probe it. cbox runs inside a
# network namespace this test makes, whose only way out is a veth pair to
# a peer namespace with the test's servers (allowlist-peer.py): HTTP, HTTPS
# and a TCP banner at allowed.test, the same at denied.test, and a DNS
# server that also answers rebind.test with 127.0.0.1, where this
# namespace has a "host loopback" service. Inside the sandbox (probe.sh):
#   - allowed.test is reached over HTTP, HTTPS through CONNECT (the test's
#     certificate checked end to end: the proxy does not decrypt), SOCKS5
#     with curl and raw TCP with `nc -X 5`;
#   - denied.test is refused over HTTP (403), CONNECT and SOCKS5, and the
#     denial is on cbox's stderr and in the project's network.log;
#   - an address through the proxy is refused (not listed by address), and
#     a direct connection without the proxy finds no route;
#   - a DNS lookup inside fails: the sandbox has no resolver;
#   - rebind.test, allowed by name, resolves to 127.0.0.1: refused;
#   - deny:LIST lets allowed.test through and not denied.test.
# With --network=off the same probe reaches nothing (so the probe can
# fail). As root and as an unprivileged user (bwrap), with the backend
# named as $1 (bwrap, nspawn). Needs root to make the namespaces; nothing
# of the host changes: namespaces and the bind mount over /etc/resolv.conf
# live only as long as the test.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
cbox=${CBOX:?set by meson}
user=${CBOX_TEST_USER:-cboxtest}
backend=${1:-bwrap}

if [ "$(id -u)" -ne 0 ]; then
    echo "needs root to make network namespaces: skipped"
    exit 77
fi
for p in unshare nsenter ip python3 setpriv curl openssl nc; do
    if ! command -v "$p" >/dev/null 2>&1; then
        if [ "${CI:-}" = true ]; then
            echo "$p is missing (tools/install-deps)" >&2
            exit 1
        fi
        echo "$p is missing: skipped"
        exit 77
    fi
done

if [ "${2:-}" != --inside ]; then
    work=$(mktemp -d /tmp/cbox-test-allowlist.XXXXXX)
    chmod 0755 "$work"
    unshare --net -- sleep 100000 &
    peer=$!
    trap 'kill "$peer" 2>/dev/null; rm -rf "$work"' EXIT INT TERM
    status=0
    unshare --net --mount -- "$0" "$backend" --inside "$work" "$peer" || status=$?
    exit "$status"
fi

work=$3
peer=$4
mount --make-rprivate /
ip link set lo up
ip link add cbox-al0 type veth peer name cbox-al1 netns "$peer"
ip addr add 10.203.1.1/24 dev cbox-al0
ip link set cbox-al0 up
ip route add default via 10.203.1.2
nsenter -t "$peer" -n ip link set lo up
nsenter -t "$peer" -n ip addr add 10.203.1.2/24 dev cbox-al1
nsenter -t "$peer" -n ip addr add 10.203.1.3/24 dev cbox-al1
nsenter -t "$peer" -n ip link set cbox-al1 up

mkdir "$work/root-project" "$work/user-project" "$work/user-home" "$work/root-home"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=allowed.test \
    -addext "subjectAltName=DNS:allowed.test,DNS:denied.test" \
    -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
mkfifo "$work/peer-out" "$work/peer-in"
nsenter -t "$peer" -n python3 "$here/allowlist-peer.py" "$work/cert.pem" "$work/key.pem" \
    <"$work/peer-in" >"$work/peer-out" &
exec 8>"$work/peer-in"
read -r ready <"$work/peer-out"
[ "$ready" = ready ]
# A service on this namespace's loopback: the host's own, for the sandbox.
printf 'cbox-host-loopback-LEAK\n' >"$work/loopback.txt"
python3 -m http.server 8080 --bind 127.0.0.1 --directory "$work" >/dev/null 2>&1 &
loopback=$!
trap 'kill "$loopback" 2>/dev/null' EXIT
printf 'nameserver 10.203.1.2\n' >"$work/resolv.conf"
mount --bind "$work/resolv.conf" /etc/resolv.conf

# The probe, run inside the sandbox: one line per check.
cat >"$work/probe.sh" <<'PROBE'
#!/bin/sh
cd "$(dirname "$0")"
r() { printf '%s=%s\n' "$1" "$2"; }
reached() { if "$@" >/dev/null 2>&1; then echo reached; else echo refused; fi; }
# The proxy as the command is told of it (127.0.0.1:3128, or in a VM the
# address QEMU forwards).
socks=${ALL_PROXY:-socks5h://127.0.0.1:3128}
r http "$(curl -sS http://allowed.test/)"
r https "$(curl -sS --cacert ./cert.pem https://allowed.test/)"
r socks5-curl "$(curl -sS --proxy "$socks" http://allowed.test/)"
r socks5-nc "$(nc -X 5 -x "${socks#socks5h://}" allowed.test 22 </dev/null | tr -d '\r' | head -n 1)"
r denied-http "$(curl -s -o /dev/null -w '%{http_code}' http://denied.test/)"
r denied-https "$(reached curl -s --cacert ./cert.pem https://denied.test/)"
r denied-socks5 "$(reached curl -s --proxy "$socks" http://denied.test/)"
r address-proxied "$(curl -s -o /dev/null -w '%{http_code}' http://10.203.1.2/)"
r address-direct "$(reached curl -s --noproxy '*' http://10.203.1.2/)"
r dns "$(python3 -c 'import socket
try:
    socket.getaddrinfo("allowed.test", 80)
    print("resolved")
except OSError:
    print("none")')"
r rebind "$(curl -s -o /dev/null -w '%{http_code}' http://rebind.test:8080/loopback.txt)"
PROBE
chmod 0755 "$work/probe.sh"
for d in root-project user-project; do
    cp "$work/probe.sh" "$work/cert.pem" "$work/$d/"
done
chown -R "$user:" "$work/user-project" "$work/user-home"

failures=0
ok() { echo "ok - $1"; }
not_ok() {
    echo "not ok - $1"
    failures=$((failures + 1))
}
# expect NAME OUTPUT-FILE LINE...: every LINE is in the output.
expect() {
    name=$1 out=$2
    shift 2
    for line in "$@"; do
        if grep -qxF "$line" "$out"; then
            ok "$name: $line"
        else
            not_ok "$name: expected '$line', got '$(grep "^${line%%=*}=" "$out" || true)'"
        fi
    done
}

run_as() { # WHO NETWORK OUT ERR
    who=$1 network=$2 out=$3 err=$4
    if [ "$who" = root ]; then
        (cd "$work/root-project" && env -u XDG_STATE_HOME HOME="$work/root-home" \
            "$cbox" run "--backend=$backend" --forward=hostconf "--network=$network" \
            -- ./probe.sh) >"$out" 2>"$err" || true
    else
        (cd "$work/user-project" && env -u XDG_STATE_HOME -u XDG_CACHE_HOME -u XDG_CONFIG_HOME \
            -u XDG_RUNTIME_DIR HOME="$work/user-home" USER="$user" LOGNAME="$user" \
            setpriv --reuid="$user" --regid="$user" --init-groups -- \
            "$cbox" run "--backend=$backend" --forward=hostconf "--network=$network" \
            -- ./probe.sh) >"$out" 2>"$err" || true
    fi
}

# The test's own plumbing: this namespace reaches both peers and resolves.
if [ "$(curl -s http://allowed.test/)" = cbox-allowed-ok ] \
    && [ "$(curl -s http://denied.test/)" = cbox-denied-LEAK ] \
    && [ "$(curl -s --cacert "$work/cert.pem" https://allowed.test/)" = cbox-tls-ok ]; then
    ok "plumbing: the peers answer here"
else
    not_ok "plumbing: the peers answer here"
fi

whos="root"
[ "$backend" = bwrap ] && whos="root user"
for who in $whos; do
    out=$work/$who.out err=$work/$who.err
    run_as "$who" "allow:allowed.test,rebind.test" "$out" "$err"
    sed 's/^/# /' "$out" "$err"
    expect "$who: allow" "$out" http=cbox-allowed-ok https=cbox-tls-ok \
        socks5-curl=cbox-allowed-ok socks5-nc=SSH-2.0-cbox-allowlist-test \
        denied-http=403 denied-https=refused denied-socks5=refused address-proxied=403 \
        address-direct=refused dns=none rebind=403
    if grep -qF "cbox: network: denied denied.test:80 (not in the allowlist)" "$err"; then
        ok "$who: the denial is on stderr"
    else
        not_ok "$who: the denial is on stderr"
    fi
    log=$(find "$work/$who-home" -name network.log | head -n 1)
    if [ -n "$log" ] && grep -qF "denied http denied.test:80 (not in the allowlist)" "$log" \
        && grep -qF "denied socks5 denied.test:80" "$log" \
        && grep -qF "denied connect denied.test:443" "$log" \
        && grep -qF "denied http rebind.test:8080 at 127.0.0.1 (the host's own address" "$log" \
        && grep -qF "allowed connect allowed.test:443" "$log"; then
        ok "$who: every decision is in the project's network.log"
    else
        not_ok "$who: every decision is in the project's network.log (${log:-none})"
        [ -n "$log" ] && sed 's/^/# /' "$log"
    fi

    run_as "$who" "deny:denied.test" "$out" "$err"
    expect "$who: deny" "$out" http=cbox-allowed-ok https=cbox-tls-ok denied-http=403 \
        denied-https=refused address-direct=refused dns=none rebind=403

    run_as "$who" off "$out" "$err"
    expect "$who: off" "$out" http= https= socks5-curl= denied-https=refused \
        address-direct=refused dns=none
done
[ "$failures" -eq 0 ]

#!/bin/sh
# Runs a test as an unprivileged user: as root, the user cboxtest (made by
# tools/install-deps; CBOX_TEST_USER picks another); as anybody else, as
# themselves. The bwrap suite runs once this way and once directly, so CI
# (root) covers both.
set -eu
user=${CBOX_TEST_USER:-cboxtest}
if [ "$(id -u)" -ne 0 ]; then
    exec "$@"
fi
if ! id "$user" >/dev/null 2>&1; then
    if [ "${CI:-}" = true ]; then
        echo "no user '$user': run tools/install-deps" >&2
        exit 1
    fi
    echo "no user '$user' (tools/install-deps makes it): skipped" >&2
    exit 77
fi
home=$(mktemp -d /tmp/cbox-user-home.XXXXXX)
chown "$user:" "$home"
trap 'rm -rf "$home"' EXIT
# The XDG base folders follow the home (tests/util/isolated-home.sh pointed
# them at root's scratch home, which this user cannot write).
HOME=$home USER=$user LOGNAME=$user TMPDIR=/tmp \
    XDG_CONFIG_HOME=$home/.config XDG_DATA_HOME=$home/.local/share \
    XDG_STATE_HOME=$home/.local/state XDG_CACHE_HOME=$home/.cache \
    setpriv --reuid="$user" --regid="$user" --init-groups -- "$@"

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
HOME=$home USER=$user LOGNAME=$user TMPDIR=/tmp \
    setpriv --reuid="$user" --regid="$user" --init-groups -- "$@"

#!/bin/sh
# The default `meson test` setup runs every test through this wrapper: a
# fresh HOME and XDG base folders of its own under TMPDIR, removed again
# when the test ends, so the suite never reads the user's configuration
# nor writes into the real ~/.config, ~/.local/state or ~/.cache (and two
# tests running at once never share them). XDG_RUNTIME_DIR is left as it
# is: the sessions the forwarder tests look for (display, audio, bus) live
# there, and each test that needs one starts its own in a folder of its own.
#
# CBOX_TEST_WRAPPER (words, e.g. "valgrind --error-exitcode=1") runs the
# test under another wrapper too, since meson refuses --wrapper together
# with a setup that has one.
set -eu
scratch=$(mktemp -d "${TMPDIR:-/tmp}/cbox-test-home.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir "$scratch/home"
# Readable by the unprivileged test user (plugins/bwrap/run-as-user.sh gives
# that user a home of its own; this one only has to be reachable).
chmod 755 "$scratch"
HOME=$scratch/home
XDG_CONFIG_HOME=$HOME/.config
XDG_DATA_HOME=$HOME/.local/share
XDG_STATE_HOME=$HOME/.local/state
XDG_CACHE_HOME=$HOME/.cache
CBOX_TEST_SCRATCH_HOME=$HOME
export HOME XDG_CONFIG_HOME XDG_DATA_HOME XDG_STATE_HOME XDG_CACHE_HOME CBOX_TEST_SCRATCH_HOME
# Not exec: the trap removes the folder once the test is done.
# shellcheck disable=SC2086
${CBOX_TEST_WRAPPER:-} "$@"

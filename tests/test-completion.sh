#!/bin/bash
# The bash completion in data/completions/cbox, driven as bash-completion
# drives it: commands, options, values, forwarder names from `cbox plugins`,
# profiles from CBOX_DATA_DIR. TAP output.
set -u

completion=/usr/share/bash-completion/bash_completion
if [[ ! -r $completion ]]; then
    if [[ ${CI:-} == true ]]; then
        echo "not ok 1 bash-completion is not installed (tools/install-deps installs it)"
        exit 1
    fi
    echo "1..0 # SKIP bash-completion is not installed"
    exit 0
fi
# shellcheck disable=SC1090
source "$completion"
# shellcheck disable=SC1091
source "$G_TEST_SRCDIR/../data/completions/cbox"
PATH="$(dirname "$CBOX"):$PATH"

comp() {
    COMP_LINE="$*"
    COMP_WORDS=("$@")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMP_POINT=${#COMP_LINE}
    COMPREPLY=()
    _cbox 2>/dev/null
    echo "${COMPREPLY[*]}"
}

n=0
failed=0
check() {
    local expected=$1
    shift
    local got
    got=$(comp "$@")
    n=$((n + 1))
    if [[ " $got " == *" $expected "* ]]; then
        echo "ok $n $* -> $expected"
    else
        echo "not ok $n $*: expected '$expected' among '$got'"
        failed=1
    fi
}

check run cbox ""
check doctor cbox --verbose ""
check --network= cbox --netw
check off cbox run --network ""
check host cbox run --network ""
check claude cbox --profile ""
check profiles cbox help ""
check none cbox run --forward ""
check enter cbox ""
check --no-persist cbox --no-pe
check local,tmp cbox run --persist local,
echo "1..$n"
exit $failed

# tap.sh - TAP helpers for the shell integration tests (sourced).
#
# Provides plan, ok, is, like, skip, diag, bail, a per-test temporary directory
# $T (removed at exit unless SMG_TEST_KEEP is set), free_port, and cleanup
# hooks so that every peer a test starts is stopped when it ends.
#
# SPDX-License-Identifier: MIT

: "${srcdir:=.}"
: "${builddir:=.}"
SMG_BIN="${builddir}/bin"
export SMG_BIN
TAP_N=0
TAP_FAILED=0
TAP_CLEANUP=""
PY3=/usr/bin/python3

T=$(mktemp -d "${TMPDIR:-/tmp}/smg-t.XXXXXX")
export T
# servers that run as their own users (postfix, nobody) reach their files
# and $TMPDIR below; nobody else lists $T
chmod 711 "$T"
# what the programs under test leave in the temporary folder (libclamav's
# scantemp folders of a scan killed with -9) goes away with $T
mkdir -m 1777 "$T/tmp"
export TMPDIR="$T/tmp"

# at_exit CMD - run CMD (a string) when the test exits, last added first
at_exit() {
    TAP_CLEANUP="$1; $TAP_CLEANUP"
}

tap_finish() {
    rc=$?
    eval "$TAP_CLEANUP" >/dev/null 2>&1 || true
    if [ -z "${SMG_TEST_KEEP:-}" ]; then
        rm -rf "$T"
    else
        echo "# kept $T"
    fi
    if [ "$TAP_FAILED" -gt 0 ]; then
        echo "# $TAP_FAILED of $TAP_N tests failed"
    fi
    exit $rc
}
trap tap_finish EXIT
trap 'exit 1' INT TERM

plan() { echo "1..$1"; }

diag() {
    printf '%s\n' "$@" | sed 's/^/# /'
}

bail() {
    echo "Bail out! $*"
    exit 255
}

# ok DESC CMD... - pass if CMD succeeds
ok() {
    desc=$1
    shift
    TAP_N=$((TAP_N + 1))
    if "$@"; then
        echo "ok $TAP_N - $desc"
    else
        TAP_FAILED=$((TAP_FAILED + 1))
        echo "not ok $TAP_N - $desc"
    fi
}

# is DESC WANTED SEEN - pass if the strings are equal
is() {
    TAP_N=$((TAP_N + 1))
    if [ "$2" = "$3" ]; then
        echo "ok $TAP_N - $1"
    else
        TAP_FAILED=$((TAP_FAILED + 1))
        echo "not ok $TAP_N - $1"
        diag "wanted: $2" "  seen: $3"
    fi
}

# like DESC REGEX TEXT - pass if TEXT matches the extended regex
like() {
    TAP_N=$((TAP_N + 1))
    if printf '%s\n' "$3" | grep -Eq -- "$2"; then
        echo "ok $TAP_N - $1"
    else
        TAP_FAILED=$((TAP_FAILED + 1))
        echo "not ok $TAP_N - $1"
        diag "wanted match: $2" "  seen:" "$3"
    fi
}

# unlike DESC REGEX TEXT - pass if TEXT does not match
unlike() {
    TAP_N=$((TAP_N + 1))
    if printf '%s\n' "$3" | grep -Eq -- "$2"; then
        TAP_FAILED=$((TAP_FAILED + 1))
        echo "not ok $TAP_N - $1"
        diag "unwanted match: $2" "  seen:" "$3"
    else
        echo "ok $TAP_N - $1"
    fi
}

# skip DESC WHY - a test that cannot run here, and why
skip() {
    TAP_N=$((TAP_N + 1))
    echo "ok $TAP_N - $1 # SKIP $2"
}

done_testing() { echo "1..$TAP_N"; }

# free_port - print a port on 127.0.0.1 that is free for TCP and UDP now
# and that this test was not given before.  The port comes from 20000-32767,
# below the kernel's ephemeral range (32768-60999): the source ports of
# outgoing connections and of the unbound servers of tests running beside
# this one (t/lib/dns.sh keeps theirs out of this range) never take it
# between the choice and the peer's bind.  The ports given are kept in
# $T/.ports, since callers run this in a $(...) subshell.
free_port() {
    $PY3 - "$T/.ports" <<'PY'
import random, socket, sys
path = sys.argv[1]
try:
    with open(path) as f:
        given = set(int(w) for w in f.read().split())
except FileNotFoundError:
    given = set()
def bindable(port):
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True
while True:
    port = random.randint(20000, 32767)
    if port not in given and bindable(port):
        break
with open(path, "a") as f:
    f.write("%d\n" % port)
print(port)
PY
}

# eventually N CMD... - run CMD until it succeeds, at most N times, 0.1 s
# apart; 0 once it did, 1 if it never did
eventually() {
    local n=$1 i=1
    shift
    until "$@"; do
        [ "$i" -ge "$n" ] && return 1
        sleep 0.1
        i=$((i + 1))
    done
}

# wait_port PORT [ADDR] - wait up to 10 s for a TCP listener
wait_port() {
    eventually 100 $PY3 -c "import socket,sys; socket.create_connection(('${2:-127.0.0.1}', $1), 0.2).close()" 2>/dev/null
}

# count_files DIR - number of regular files in DIR
count_files() {
    find "$1" -maxdepth 1 -type f 2>/dev/null | wc -l | tr -d ' '
}

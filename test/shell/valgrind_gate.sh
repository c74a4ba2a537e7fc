#!/usr/bin/env bash
# scripts/valgrind-gate.sh, which decides whether the valgrind pass of
# scripts/valgrind.sh is clean, judged on canned memcheck logs
# (test/fixtures/valgrind/, see its README.md):
#   - it fails (exit 1) and prints the report for an "Invalid read of size 1"
#     in dbm_register (registry.c:466) from a build with debug information,
#     a log without the string "dbmigrate.so" (the old gate's only test, so
#     the old gate passed it);
#   - it fails on an invalid write in dbmigrate.so (no debug information), on
#     an invalid read in the server of a block freed under dbmigrate's code,
#     and on a "definitely lost" block allocated under dbmigrate's code;
#   - it passes (exit 0) logs with only the server's own reports, one of
#     them in the server's catalog/catalog.c (dbmigrate has a src/catalog.c),
#     and logs where dbmigrate only has possibly lost or reachable blocks;
#   - the same with the trailing space valgrind writes after "==PID==" on
#     the blank lines between reports;
#   - dbmigrate's file names come from the source folder it is given;
#   - a folder without logs is an error (exit 2), not "clean".
# Needs no server; takes a second.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
GATE="$ROOT/scripts/valgrind-gate.sh"
FIX="$ROOT/test/fixtures/valgrind"
fail() { echo "FAIL (valgrind_gate): $*" >&2; exit 1; }
WORK="$(mktemp -d /tmp/dbm-vggate.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

# gate DIR [SRCDIR]: run the gate, set RC and OUT
gate() {
    set +e
    OUT="$("$GATE" "$@" 2>&1)"
    RC=$?
    set -e
}
# expect_fail DIR TEXT...: exit 1, and each TEXT in the output
expect_fail() {
    local dir="$1" t
    shift
    gate "$dir"
    [ "$RC" = 1 ] || fail "$(basename "$dir"): exit $RC, expected 1; output:
$OUT"
    for t in "$@"; do
        grep -qF -- "$t" <<<"$OUT" || fail "$(basename "$dir"): output lacks \"$t\":
$OUT"
    done
    echo "ok - $(basename "$dir"): fails"
}
expect_pass() {
    gate "$@"
    [ "$RC" = 0 ] || fail "$(basename "$1"): exit $RC, expected 0; output:
$OUT"
    grep -q " 0 involving dbmigrate" <<<"$OUT" || fail "$(basename "$1"): no summary line: $OUT"
    echo "ok - $(basename "$1"): passes"
}

# the case the old gate missed: nothing in it says dbmigrate.so
if grep -rq "dbmigrate.so" "$FIX/dbmigrate-invalid-read"; then
    fail "the invalid-read fixture must not mention dbmigrate.so"
fi
expect_fail "$FIX/dbmigrate-invalid-read" "Invalid read of size 1" "dbm_register (registry.c:466)" \
    "31337.log" "1 involving dbmigrate"
expect_fail "$FIX/dbmigrate-so-no-debuginfo" "Invalid write of size 8" "dbmigrate.so"
expect_fail "$FIX/dbmigrate-freed-block" "Invalid read of size 4" "src/registry.c:455"
expect_fail "$FIX/dbmigrate-definite-leak" "definitely lost" "dbm_string_hash (catalog.c:110)" \
    "(1 of them definitely lost blocks)"
expect_pass "$FIX/server-only"
expect_pass "$FIX/dbmigrate-not-gated"

# real valgrind logs end blank lines with a space after ==PID==
for d in dbmigrate-invalid-read server-only; do
    mkdir "$WORK/$d"
    for f in "$FIX/$d"/*.log; do
        sed 's/^\(==[0-9]*==\)$/\1 /' "$f" >"$WORK/$d/$(basename "$f")"
    done
    grep -q '^==[0-9]*== $' "$WORK/$d"/*.log || fail "$d: no trailing spaces were added"
done
expect_fail "$WORK/dbmigrate-invalid-read" "dbm_register (registry.c:466)"
expect_pass "$WORK/server-only"

# the file names are dbmigrate's source files, not any *.c
mkdir "$WORK/othersrc"
touch "$WORK/othersrc/other.c"
expect_pass "$FIX/dbmigrate-invalid-read" "$WORK/othersrc"

mkdir "$WORK/empty"
gate "$WORK/empty"
[ "$RC" = 2 ] || fail "a folder without logs: exit $RC, expected 2"
echo "ok - a folder without logs is an error"
echo "valgrind_gate: ok"

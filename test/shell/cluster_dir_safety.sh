#!/usr/bin/env bash
# The scripts remove (and stop a server in) only folders they created, which
# carry the marker file .dbmigrate-cluster (scripts/lib.sh):
#   - `DBM_DEMO_DIR=<a non-empty folder without the marker> scripts/demo.sh
#     stop` (think DBM_DEMO_DIR=$HOME) exits non-zero with a "refusing"
#     message, and the folder and its files survive;
#   - start_cluster (demo.sh, test.sh, valgrind.sh, bench) refuses that
#     folder before touching it, and so does `DBM_VG_DIR=... scripts/valgrind.sh`;
#   - dbm_remove_dir (test.sh's clean-up) refuses it too, and a symbolic link
#     to it, and a file;
#   - a folder with the marker is removed by `scripts/demo.sh stop`; an empty
#     or absent folder is fine; start_cluster writes the marker.
# The refused folders are temporary copies: if a check were broken, only they
# would be lost.  Ports given are 1 (privileged), so that a broken check
# could not leave a server running.  Needs no server of its own.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
fail() { echo "FAIL (cluster_dir_safety): $*" >&2; exit 1; }
WORK="$(mktemp -d /tmp/dbm-dirsafety.XXXXXX)"
chmod 755 "$WORK"    # start_cluster's folder must be reachable by the server's user
trap 'rm -rf "$WORK"' EXIT

VICTIM="$WORK/home"
mkdir -p "$VICTIM/projects"
echo "precious" >"$VICTIM/notes.txt"
echo "precious too" >"$VICTIM/projects/main.c"
survives() {
    [ "$(cat "$VICTIM/notes.txt" 2>/dev/null)" = precious ] &&
        [ "$(cat "$VICTIM/projects/main.c" 2>/dev/null)" = "precious too" ] ||
        fail "$1: the folder without the marker was changed or removed"
    [ ! -e "$VICTIM/.dbmigrate-cluster" ] || fail "$1: a marker was written into the folder"
    [ ! -e "$VICTIM/data" ] || fail "$1: a cluster was created in the folder"
}
# refused WHAT RC OUTPUT: non-zero exit and a clear message
refused() {
    [ "$2" -ne 0 ] || fail "$1: exit 0, expected a refusal; output: $3"
    grep -q "refusing" <<<"$3" || fail "$1: no \"refusing\" message; output: $3"
    survives "$1"
    echo "ok - $1: refused (exit $2)"
}

set +e
out="$(DBM_DEMO_DIR="$VICTIM" DBM_DEMO_PORT=1 "$ROOT/scripts/demo.sh" stop 2>&1)"; rc=$?
set -e
refused "DBM_DEMO_DIR=<not ours> scripts/demo.sh stop" $rc "$out"

set +e
out="$(DBM_VG_DIR="$VICTIM" DBM_VG_PORT=1 DBM_VG_SUITES=none "$ROOT/scripts/valgrind.sh" 2>&1)"; rc=$?
set -e
refused "DBM_VG_DIR=<not ours> scripts/valgrind.sh" $rc "$out"

# the library functions, in a shell of their own (lib.sh sets -e)
lib() {
    bash -c 'source "$1/scripts/lib.sh"
             PGBIN="$("${PG_CONFIG:-/usr/lib/postgresql/$PG_MAJOR/bin/pg_config}" --bindir)"
             shift; "$@"' _ "$ROOT" "$@" 2>&1
}
set +e
out="$(lib start_cluster "$VICTIM" 1)"; rc=$?
set -e
if [ -f "$VICTIM/data/postmaster.pid" ]; then lib stop_cluster "$VICTIM" >/dev/null || true; fi
refused "start_cluster <not ours>" $rc "$out"

set +e
out="$(lib stop_cluster "$VICTIM")"; rc=$?
set -e
# nothing to stop there: stop_cluster may succeed, but must not remove anything
survives "stop_cluster <not ours>"

set +e
out="$(lib dbm_remove_dir "$VICTIM")"; rc=$?
set -e
refused "dbm_remove_dir <not ours>" $rc "$out"

ln -s "$VICTIM" "$WORK/link"
set +e
out="$(lib dbm_remove_dir "$WORK/link")"; rc=$?
set -e
refused "dbm_remove_dir <symbolic link to a folder>" $rc "$out"
[ -L "$WORK/link" ] || fail "the symbolic link was removed"

echo data >"$WORK/afile"
set +e
out="$(lib dbm_remove_dir "$WORK/afile")"; rc=$?
set -e
[ $rc -ne 0 ] && [ -f "$WORK/afile" ] || fail "dbm_remove_dir removed a file: $out"
echo "ok - dbm_remove_dir <a file>: refused (exit $rc)"

# what the scripts made themselves is removed
lib dbm_claim_dir "$WORK/ours" >/dev/null || fail "dbm_claim_dir failed"
[ -f "$WORK/ours/.dbmigrate-cluster" ] || fail "dbm_claim_dir wrote no marker"
mkdir "$WORK/ours/data"
echo log >"$WORK/ours/server.log"
out="$(DBM_DEMO_DIR="$WORK/ours" "$ROOT/scripts/demo.sh" stop 2>&1)" \
    || fail "scripts/demo.sh stop refused a folder with the marker: $out"
[ ! -e "$WORK/ours" ] || fail "scripts/demo.sh stop left the folder with the marker"
echo "ok - scripts/demo.sh stop removes a folder with the marker"

mkdir "$WORK/empty"
lib dbm_remove_dir "$WORK/empty" >/dev/null || fail "dbm_remove_dir refused an empty folder"
[ ! -e "$WORK/empty" ] || fail "dbm_remove_dir left an empty folder"
lib dbm_remove_dir "$WORK/absent" >/dev/null || fail "dbm_remove_dir refused an absent folder"
echo "ok - empty and absent folders are fine"

# start_cluster marks the folder it creates (initdb only: port 1 cannot be bound)
set +e
out="$(lib start_cluster "$WORK/fresh" 1)"
set -e
[ -f "$WORK/fresh/.dbmigrate-cluster" ] || fail "start_cluster wrote no marker: $out"
[ -f "$WORK/fresh/data/PG_VERSION" ] || fail "start_cluster did not initdb in the new folder: $out"
if [ -f "$WORK/fresh/data/postmaster.pid" ]; then lib stop_cluster "$WORK/fresh" >/dev/null || true; fi
echo "ok - start_cluster marks the folder it creates"

echo "cluster_dir_safety: ok"

#!/usr/bin/env bash
# Runs every dbmigrate test against a throwaway PostgreSQL cluster:
#   1. pg_regress suite (sql/ -> expected/) and isolation specs (specs/)
#   2. pgTAP suite (test/*.sql) through pg_prove
#   3. shell scenarios (test/shell/*.sh): killed backends, pg_dump/restore, examples, memory,
#      and checks of the scripts themselves (dependency checks, folder safety, valgrind gate)
#   3b. the command-line client's TAP tests (test/cli/*.t) through prove
#   4. scripts/valgrind.sh: pg_regress, the isolation specs, pgTAP (and the differential test
#      when it exists) again, with the server under valgrind (DBM_SKIP_VALGRIND=1 skips it)
# Installs missing Debian packages first; builds with -Werror.
# Environment: DBM_TEST_PORT (default 55433), DBM_TEST_DIR (default: a new temp dir),
#              DBM_KEEP_CLUSTER=1 to leave the cluster running afterwards.
source "$(dirname "$0")/lib.sh"
set +e

# refuse a DBM_TEST_DIR that is not ours before building anything
if [ -n "${DBM_TEST_DIR:-}" ]; then dbm_check_dir "$DBM_TEST_DIR" || exit 1; fi
ensure_packages
cd "$DBM_ROOT"
echo "== build (-Wall -Wextra -Werror) and install"
build_and_install "-Werror" || { echo "FAILED: build"; exit 1; }

DIR="${DBM_TEST_DIR:-$(mktemp -d /tmp/dbmigrate-test.XXXXXX)}"
PORT="${DBM_TEST_PORT:-55433}"
echo "== throwaway cluster in $DIR on 127.0.0.1:$PORT"
# wal_level and WAL senders for the standby test/cli/07_replicas.t makes
# with pg_basebackup -R (on port PORT + 1; initdb's pg_hba.conf already has
# the replication entries)
start_cluster "$DIR" "$PORT" "wal_level = replica
max_wal_senders = 4" || { echo "FAILED: cluster start"; exit 1; }
[ "${DBM_KEEP_CLUSTER:-0}" = 1 ] || trap 'stop_cluster "$DIR"' EXIT
echo "   (removed after a successful run; kept for its logs after a failure)"

failures=0
summary=()

echo "== pg_regress and isolation tests (make installcheck)"
rm -rf results output_iso regression.diffs regression.out
make -s PG_CONFIG="$PG_CONFIG" installcheck >"$DIR/installcheck.log" 2>&1
rc=$?
grep -E "^(ok|not ok|test |     [a-z_]+ +\.\.\. )|tests (passed|failed)|All [0-9]+ tests|[0-9]+ of [0-9]+ tests" "$DIR/installcheck.log"
if [ $rc -ne 0 ]; then
    failures=$((failures + 1))
    summary+=("pg_regress/isolation: FAILED")
    for d in regression.diffs output_iso/regression.diffs; do
        [ -f "$d" ] && { echo "---- $d"; cat "$d"; }
    done
    tail -n 20 "$DIR/installcheck.log"
else
    summary+=("pg_regress/isolation: $(grep -cE '^(ok|test ).*ok|\.\.\. ok' "$DIR/installcheck.log") passed")
fi

echo "== pgTAP tests (pg_prove)"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS dbmigrate_tap" -c "CREATE DATABASE dbmigrate_tap" >/dev/null
psql -X -q -d dbmigrate_tap -c "CREATE EXTENSION pgtap" >/dev/null
pg_prove -d dbmigrate_tap --ext .sql test/*.sql >"$DIR/pg_prove.log" 2>&1
rc=$?
cat "$DIR/pg_prove.log"
if [ $rc -ne 0 ]; then
    failures=$((failures + 1)); summary+=("pgTAP: FAILED")
else
    summary+=("pgTAP: $(grep -E '^Files=' "$DIR/pg_prove.log")")
fi

echo "== shell scenarios"
shell_ok=0
for t in test/shell/*.sh; do
    [ -e "$t" ] || continue
    if bash "$t" >"$DIR/$(basename "$t").log" 2>&1; then
        echo "ok   $t"; shell_ok=$((shell_ok + 1))
    else
        echo "FAIL $t"; cat "$DIR/$(basename "$t").log"; failures=$((failures + 1))
        summary+=("shell: $t FAILED")
    fi
done
summary+=("shell scenarios: $shell_ok passed")

echo "== command-line client (prove test/cli/)"
if [ ! -x "$PGBIN/dbmigrate" ]; then
    echo "FAIL: make install did not install the dbmigrate command into $PGBIN"
    failures=$((failures + 1)); summary+=("CLI: not installed")
elif DBMIGRATE="$DBM_ROOT/cli/dbmigrate" prove test/cli/ >"$DIR/prove_cli.log" 2>&1; then
    cat "$DIR/prove_cli.log"
    summary+=("CLI: $(grep -E '^Files=' "$DIR/prove_cli.log")")
else
    cat "$DIR/prove_cli.log"; failures=$((failures + 1)); summary+=("CLI: FAILED")
fi

echo "== pg_regress, isolation, pgTAP with the server under valgrind (scripts/valgrind.sh)"
if [ "${DBM_SKIP_VALGRIND:-0}" = 1 ]; then
    summary+=("valgrind: skipped (DBM_SKIP_VALGRIND=1)")
elif DBM_VG_PORT=$((PORT + 1)) DBM_VG_DIR="$DIR/valgrind" scripts/valgrind.sh >"$DIR/valgrind.log" 2>&1; then
    grep -E "^valgrind gate:|^  not dbmigrate's|^== valgrind pass took|^valgrind: clean" "$DIR/valgrind.log"
    summary+=("valgrind: clean ($(grep -oE 'took [0-9]+ s' "$DIR/valgrind.log"))")
else
    cat "$DIR/valgrind.log"; failures=$((failures + 1)); summary+=("valgrind: FAILED")
fi

echo "== summary"
printf '  %s\n' "${summary[@]}"
echo "  (scripts/test.sh took $SECONDS s)"
if [ $failures -ne 0 ]; then
    echo "FAILED ($failures suite(s) with failures); cluster and logs kept in $DIR"
    exit 1
fi
echo "ALL TESTS PASSED"
if [ "${DBM_KEEP_CLUSTER:-0}" != 1 ]; then
    stop_cluster "$DIR"
    dbm_remove_dir "$DIR"
fi

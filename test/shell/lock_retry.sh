#!/usr/bin/env bash
#
# lock_retry.sh: what a deploy that retries a step after lock_timeout prints,
# and that a cancel ends the retries (specs/lock_retry.spec has the outcomes:
# the deploy goes through once the blocker commits, or ends with 55P03 and
# nothing changed).  Two connections are needed, and the NOTICE carries the
# blocker's pid, which an isolation spec cannot print:
#   - a blocker session holds ACCESS SHARE on lrn (its pid is known);
#   - with dbmigrate.lock_timeout = 100ms, lock_retries = 2 and
#     lock_retry_max_delay = 0, migrate_upgrade() of "ALTER TABLE lrn ..."
#     prints two NOTICEs "... could not get a lock in time (attempt N of 3),
#     retrying in 0 ms" whose DETAIL names the blocker's pid, then fails with
#     55P03 whose DETAIL counts the three attempts and names the pid, whose
#     HINT points to pg_blocking_pids() and whose context names the revision;
#   - with 1000 retries, pg_cancel_backend() during the retries ends the call
#     with 57014 (a cancel is not retried), long before the retries would.
#
# Uses PGHOST/PGPORT/PGUSER from the environment; creates and drops its own
# database.  Exits 0 on success, non-zero with a message on the first failure.

set -euo pipefail

DB="dbm_lock_retry_$$_${RANDOM}"
WORK="$(mktemp -d)"
BLOCKER=""
RUNNER=""
fail() { echo "FAIL (lock_retry): $*" >&2; exit 1; }
ok() { echo "ok - $*"; }
cleanup() {
    for p in $BLOCKER $RUNNER; do kill "$p" 2>/dev/null || true; done
    psql -X -q -d postgres -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE datname = '$DB' AND pid <> pg_backend_pid()" >/dev/null 2>&1 || true
    dropdb --if-exists "$DB" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$DB" -c "$1"; }

createdb "$DB"
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION dbmigrate CASCADE;
SELECT dbmigrate.migrate_unregister('001_initial_migration');
CREATE TABLE lrn(a int);
SELECT dbmigrate.migrate_register('n1', NULL, 'ALTER TABLE lrn ADD COLUMN b int',
                                  'ALTER TABLE lrn DROP COLUMN b', 'add b');
SQL

# the blocker: holds ACCESS SHARE on lrn for up to a minute
psql -X -q -d "$DB" -c "BEGIN" -c "LOCK TABLE lrn IN ACCESS SHARE MODE" \
     -c "SELECT pg_sleep(60)" >/dev/null 2>&1 &
BLOCKER=$!
for _ in $(seq 1 500); do
    bpid=$(q "SELECT pid FROM pg_locks WHERE relation = 'lrn'::regclass AND granted
              AND pid <> pg_backend_pid()")
    [ -n "$bpid" ] && break
    sleep 0.02
done
[ -n "$bpid" ] || fail "the blocker did not get its lock"

# two retries, then 55P03
out="$WORK/retries.out"
psql -X -q -d "$DB" -c "SET dbmigrate.lock_timeout = '100ms'" -c "SET dbmigrate.lock_retries = 2" \
     -c "SET dbmigrate.lock_retry_max_delay = 0" \
     -c "SELECT * FROM dbmigrate.migrate_upgrade()" >"$out" 2>&1 || true
for n in 1 2; do
    grep -qxF "NOTICE:  upgrade of revision \"n1\" could not get a lock in time (attempt $n of 3), retrying in 0 ms" "$out" \
        || { cat "$out"; fail "no NOTICE for retry $n"; }
done
[ "$(grep -cxF "DETAIL:  Process $bpid holds a lock on a relation that statement 1 names." "$out")" = 2 ] \
    || { cat "$out"; fail "the retry NOTICEs do not name the blocker $bpid"; }
grep -qxF "NOTICE:  upgrade of revision \"n1\" could not get a lock in time (attempt 3 of 3), retrying in 0 ms" "$out" \
    && { cat "$out"; fail "a third retry"; }
grep -qxF "ERROR:  canceling statement due to lock timeout" "$out" || { cat "$out"; fail "no 55P03"; }
grep -qxF "DETAIL:  The step was tried 3 times (dbmigrate.lock_retries is 2). Process $bpid holds a lock on a relation that statement 1 names." "$out" \
    || { cat "$out"; fail "the error's detail"; }
grep -q "^HINT:  .*pg_blocking_pids()" "$out" || { cat "$out"; fail "the error's hint"; }
grep -qF 'upgrade of revision "n1" (base -> n1)' "$out" || { cat "$out"; fail "the error's context"; }
[ "$(q "SELECT count(*) FROM dbmigrate.migrate_log()")" = 0 ] || fail "log rows after a failed call"
ok "each retry is a NOTICE naming the revision, attempt, delay and the blocker's pid; then 55P03 with detail and hint"

# a cancel during the retries ends the call (57014), it is not retried
out="$WORK/cancel.out"
psql -X -q -d "$DB" -c "SET application_name = 'dbm_lock_retry_runner'" \
     -c "SET dbmigrate.lock_timeout = '50ms'" -c "SET dbmigrate.lock_retries = 1000" \
     -c "SET dbmigrate.lock_retry_max_delay = '20ms'" -c "SET client_min_messages = warning" \
     -c "SELECT * FROM dbmigrate.migrate_upgrade()" >"$out" 2>&1 &
RUNNER=$!
first=""
retried=""
for _ in $(seq 1 1000); do
    w=$(q "SELECT l.waitstart FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
           WHERE l.relation = 'lrn'::regclass AND NOT l.granted
             AND a.application_name = 'dbm_lock_retry_runner'")
    if [ -n "$w" ]; then
        if [ -z "$first" ]; then first="$w"; elif [ "$w" != "$first" ]; then retried=1; break; fi
    fi
    sleep 0.01
done
[ -n "$retried" ] || fail "the runner did not retry"
q "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'dbm_lock_retry_runner'" >/dev/null
# 1000 retries would take more than a minute; a cancel ends them at once
for _ in $(seq 1 500); do kill -0 "$RUNNER" 2>/dev/null || break; sleep 0.02; done
kill -0 "$RUNNER" 2>/dev/null && fail "the runner still retries 10 s after pg_cancel_backend()"
RUNNER=""
grep -qxF "ERROR:  canceling statement due to user request" "$out" || { cat "$out"; fail "no 57014 after the cancel"; }
grep -qF 'upgrade of revision "n1" (base -> n1)' "$out" || { cat "$out"; fail "the cancel's context"; }
[ "$(q "SELECT count(*) FROM dbmigrate.migrate_log()")" = 0 ] || fail "log rows after a cancelled call"
ok "pg_cancel_backend() ends a retrying call with 57014"
echo "lock_retry: ok"

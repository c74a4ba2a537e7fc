#!/usr/bin/env bash
#
# killed_backend.sh: a runner killed in the middle of a migration step
# (CASES BC-01 variant B and BC-03(b); SPEC section 4 "Atomic", "Serialized").
#
#   r1 = CREATE TABLE t1()                        (applied before the test)
#   r2 = CREATE TABLE t3(); UPDATE counter ...; SELECT pg_sleep(<s1 only: 10 s>)
#
# S1 runs migrate_upgrade() in the background.  Once it is inside r2's sleep
# (seen in pg_stat_activity) and holds dbmigrate's run lock (pg_locks), S2
# calls pg_terminate_backend() on it, and S3 runs migrate_upgrade() right
# away, without any manual unlock.  Right behaviour:
#   - S3 is not held up by the dead runner (the transaction-scoped run
#     lock dies with S1's backend) and applies r2 itself, exactly once;
#   - t3 exists exactly once, counter.n = 1 (S1's DDL, DML and bookkeeping
#     were rolled back together), migrate_log() has one upgrade row for r2,
#     written by S3's backend, and the current revision is r2;
#   - no dbmigrate run lock is left in pg_locks afterwards.
# The 10 s sleep is only S1's: the step reads a custom setting that S1 alone
# sets, so S3 runs r2 without sleeping.  Total runtime is about a second.
#
# Uses PGHOST/PGPORT/PGUSER from the environment; creates and drops its own
# database.  Exits 0 on success, non-zero with a message on the first failure.

set -euo pipefail

DB="dbm_killed_backend_$$_${RANDOM}"
PSQL=(psql -X -v ON_ERROR_STOP=1 -At -q)
WORK="$(mktemp -d)"
S1_PID=""
LOCK_WHERE="relation = 'dbmigrate_private.run_lock'::regclass AND mode = 'ShareUpdateExclusiveLock'"

fail() {
    echo "FAIL (killed_backend): $*" >&2
    exit 1
}

ok() {
    echo "ok - $*"
}

cleanup() {
    if [ -n "$S1_PID" ] && kill -0 "$S1_PID" 2>/dev/null; then
        kill "$S1_PID" 2>/dev/null || true
        wait "$S1_PID" 2>/dev/null || true
    fi
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# q SQL: run SQL in the test database, print the result unaligned
q() {
    "${PSQL[@]}" -d "$DB" -c "$1"
}

"${PSQL[@]}" -d postgres -c "SELECT 1" >/dev/null \
    || fail "cannot connect to PostgreSQL (PGHOST=${PGHOST:-} PGPORT=${PGPORT:-} PGUSER=${PGUSER:-})"
"${PSQL[@]}" -d postgres -c "CREATE DATABASE \"$DB\""

"${PSQL[@]}" -d "$DB" >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION dbmigrate CASCADE;
SELECT dbmigrate.migrate_unregister('001_initial_migration');
CREATE TABLE counter(n int NOT NULL);
INSERT INTO counter VALUES (0);
SELECT dbmigrate.migrate_register('r1', NULL, 'CREATE TABLE t1()', 'DROP TABLE t1', 'one');
SELECT dbmigrate.migrate_register('r2', 'r1',
    $$CREATE TABLE t3();
UPDATE counter SET n = n + 1;
SELECT pg_sleep(coalesce(nullif(current_setting('dbm_test.s1_sleep', true), ''), '0')::float8);$$,
    'DROP TABLE t3', 'two');
SELECT * FROM dbmigrate.migrate_upgrade('r1');
SQL
[ "$(q "SELECT string_agg(c, ',') FROM dbmigrate.migrate_current() c")" = "r1" ] \
    || fail "setup: r1 is not current"

# S1: the runner that will be killed, inside r2's 10 s sleep
PGAPPNAME=dbm_killed_s1 "${PSQL[@]}" -d "$DB" \
    -c "SET dbm_test.s1_sleep = '10'" \
    -c "SELECT revision FROM dbmigrate.migrate_upgrade()" \
    >"$WORK/s1.out" 2>"$WORK/s1.err" &
S1_PID=$!

# wait (at most 5 s) until S1 sleeps inside r2 while holding the run lock
s1_backend=""
for _ in $(seq 1 100); do
    s1_backend="$(q "SELECT a.pid FROM pg_stat_activity a
                      JOIN pg_locks l ON l.pid = a.pid AND l.$LOCK_WHERE AND l.granted
                     WHERE a.datname = current_database()
                       AND a.application_name = 'dbm_killed_s1'
                       AND a.wait_event = 'PgSleep'")"
    [ -n "$s1_backend" ] && break
    kill -0 "$S1_PID" 2>/dev/null || fail "S1 ended before reaching r2's sleep: $(cat "$WORK/s1.err")"
    sleep 0.05
done
[ -n "$s1_backend" ] || fail "S1 did not reach r2's sleep holding the run lock within 5 s"
ok "S1 (backend $s1_backend) is inside r2's sleep and holds dbmigrate's run lock"

# S2: kill S1's backend
[ "$(q "SELECT pg_terminate_backend($s1_backend)")" = "t" ] || fail "pg_terminate_backend($s1_backend) failed"
ok "S2 terminated S1's backend"

# S3: upgrade at once, no manual unlock; bounded, and timed
start_ms=$(($(date +%s%N) / 1000000))
s3_out="$("${PSQL[@]}" -d "$DB" <<'SQL'
SET client_min_messages = warning;
SET dbmigrate.run_lock_timeout = '5s';
SELECT 'ran:' || revision FROM dbmigrate.migrate_upgrade();
SELECT 'log_r2_by_me:' || count(*) FROM dbmigrate.migrate_log()
 WHERE revision = 'r2' AND operation = 'upgrade' AND pid = pg_backend_pid();
SQL
)" || fail "S3's migrate_upgrade() failed"
elapsed_ms=$(($(date +%s%N) / 1000000 - start_ms))
[ "$s3_out" = "$(printf 'ran:r2\nlog_r2_by_me:1')" ] \
    || fail "S3 should apply r2 once and log it itself; got: $s3_out"
ok "S3 applied r2 without any manual unlock"
[ "$elapsed_ms" -lt 5000 ] || fail "S3 took $elapsed_ms ms: it waited for the dead runner"
ok "S3 did not wait for S1's sleep (took under 5 s)"

# S1's client saw its connection end, and S1 reported no result
if wait "$S1_PID"; then
    S1_PID=""
    fail "S1's psql exited 0; its upgrade should have been killed"
fi
S1_PID=""
grep -q "terminating connection due to administrator command" "$WORK/s1.err" \
    || fail "S1's error output does not show the termination: $(cat "$WORK/s1.err")"
grep -q "r2" "$WORK/s1.out" && fail "S1 reported r2 as applied"
ok "S1 was terminated and reported nothing applied"

# the final state, from a fresh session
[ "$(q "SELECT count(*) FROM pg_class WHERE relname = 't3' AND relkind = 'r'")" = 1 ] \
    || fail "t3 should exist exactly once"
ok "t3 exists exactly once"
[ "$(q "SELECT n FROM counter")" = 1 ] || fail "counter.n should be 1 (r2's UPDATE ran once), is $(q "SELECT n FROM counter")"
ok "r2's UPDATE took effect once (counter.n = 1)"
[ "$(q "SELECT string_agg(revision || ' ' || operation, ', ' ORDER BY id) FROM dbmigrate.migrate_log()")" \
  = "r1 upgrade, r2 upgrade" ] || fail "migrate_log() should hold r1 upgrade, r2 upgrade"
ok "migrate_log() has exactly one upgrade row for r2"
[ "$(q "SELECT string_agg(c, ',') FROM dbmigrate.migrate_current() c")" = "r2" ] || fail "current should be r2"
[ "$(q "SELECT count(*) FROM dbmigrate.migrate_history() WHERE revision = 'r2' AND is_applied AND is_current")" = 1 ] \
    || fail "migrate_history() should show r2 applied and current once"
ok "migrate_current() = r2 and migrate_history() shows r2 applied once"
[ "$(q "SELECT count(*) FROM pg_locks WHERE $LOCK_WHERE")" = 0 ] || fail "dbmigrate's run lock is still held"
[ "$(q "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'dbm_killed_s1'")" = 0 ] \
    || fail "S1's backend is still there"
ok "no run lock and no backend of S1 left"
[ "$(q "SELECT count(*) FROM dbmigrate.migrate_validate()")" = 0 ] || fail "migrate_validate() reports problems"
[ "$(q "SELECT dbmigrate.health() ->> 'status'")" = healthy ] || fail "health() is not healthy"
ok "migrate_validate() is clean and health() is healthy"

echo "killed_backend: all checks passed"

#!/usr/bin/env bash
#
# stepwise.sh: migrate_upgrade_stepwise under load, killed, and twice at once
# (issue 11, item 1 (a), (d), (e)).
#
#   (a) A CREATE INDEX CONCURRENTLY revision between two ordinary ones, on a
#       table of 1,000,000 rows, while writer sessions insert and update the
#       table all along.  The writers are never blocked (no writer is ever
#       seen waiting for a lock in pg_stat_activity, and they keep committing
#       during the build), the index ends up valid, the three revisions are
#       applied and logged once.  If the waiting backend held a snapshot, the
#       build would wait for it until dbmigrate.lock_timeout (set to 20 s here)
#       and the call would fail.
#   (d) The backend running the procedure is terminated (1) in a slow
#       transactional revision and (2) while the worker builds an index
#       concurrently.  Completed revisions stay applied, the interrupted one
#       is not (its INVALID index is dropped and built again by the next
#       call), and the next call finishes the deploy with no manual step.
#   (e) Two stepwise deploys started at once: each revision is applied once
#       (one upgrade row each in the log); the second waits for the first's
#       session-level run lock, which no unprivileged role can take.
#
# Uses PGHOST/PGPORT/PGUSER (a superuser) and pgbench from PGBIN or PATH;
# creates and drops its own database.  Exits non-zero on the first failure.
set -euo pipefail

DB="dbm_stepwise_$$_${RANDOM}"
WORK="$(mktemp -d)"
PGBENCH="${PGBIN:+$PGBIN/}pgbench"
PIDS=()

fail() { echo "FAIL (stepwise): $*" >&2; exit 1; }
ok() { echo "ok - $*"; }
q() { psql -X -v ON_ERROR_STOP=1 -At -q -d "$DB" -c "SET client_min_messages = warning" -c "$1"; }
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    psql -X -q -d postgres -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '$DB'" >/dev/null 2>&1 || true
    dropdb --if-exists "$DB" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

createdb "$DB"
q "CREATE EXTENSION dbmigrate CASCADE" >/dev/null
q "SELECT dbmigrate.migrate_unregister('001_initial_migration')" >/dev/null

# --- (a) CIC under write load -------------------------------------------------
q "SELECT dbmigrate.migrate_register('a1', NULL,
     'CREATE TABLE big(id bigint PRIMARY KEY, v int NOT NULL, note text);
      INSERT INTO big SELECT g, g % 1000, ''x'' FROM generate_series(1, 1000000) g',
     'DROP TABLE big', 'big table')" >/dev/null
q "SELECT dbmigrate.migrate_register('a2', 'a1', 'CREATE INDEX CONCURRENTLY big_v ON big (v)',
     'DROP INDEX CONCURRENTLY big_v', 'index', transactional => false)" >/dev/null
q "SELECT dbmigrate.migrate_register('a3', 'a2', 'CREATE TABLE after_index()', 'DROP TABLE after_index', 'after')" >/dev/null
q "SELECT count(*) FROM dbmigrate.migrate_upgrade('a1')" >/dev/null
q "CREATE TABLE writes(at timestamptz DEFAULT clock_timestamp())"

cat >"$WORK/writer.sql" <<'SQL'
\set id random(1, 1000000)
UPDATE big SET v = v WHERE id = :id;
INSERT INTO writes DEFAULT VALUES;
SQL
PGAPPNAME=dbm_writer "$PGBENCH" -n -c 3 -T 60 -f "$WORK/writer.sql" "$DB" >"$WORK/pgbench.log" 2>&1 &
PIDS+=($!)
sleep 1

# sample the writers' waits while the deploy runs
(
    while :; do
        psql -X -At -q -d "$DB" -c "SELECT count(*) FROM pg_stat_activity
            WHERE application_name = 'dbm_writer' AND wait_event_type = 'Lock'" 2>/dev/null || true
        sleep 0.05
    done
) >"$WORK/waits" &
SAMPLER=$!
PIDS+=("$SAMPLER")

start=$(q "SELECT clock_timestamp()")
PGOPTIONS="-c dbmigrate.lock_timeout=20s" psql -X -v ON_ERROR_STOP=1 -q -d "$DB" \
    -c "CALL dbmigrate.migrate_upgrade_stepwise()" >"$WORK/a.out" 2>&1 || { cat "$WORK/a.out"; fail "(a) the stepwise deploy failed"; }
finish=$(q "SELECT clock_timestamp()")
kill "$SAMPLER" 2>/dev/null || true
[ "$(q "SELECT string_agg(c, ',') FROM dbmigrate.migrate_current() c")" = a3 ] || fail "(a) current is not a3"
[ "$(q "SELECT indisvalid FROM pg_index WHERE indexrelid = 'big_v'::regclass")" = t ] || fail "(a) big_v is not valid"
[ "$(q "SELECT count(*) FROM dbmigrate.migrate_log() WHERE operation = 'upgrade'")" = 3 ] || fail "(a) not three upgrade rows"
samples=$(wc -l <"$WORK/waits")
[ "$samples" -ge 5 ] || fail "(a) too few samples of the writers ($samples)"
blocked=$(grep -vc '^0$' "$WORK/waits" || true)
[ "$blocked" = 0 ] || fail "(a) a writer waited for a lock in $blocked of $samples samples"
during=$(q "SELECT count(*) FROM writes WHERE at BETWEEN '$start' AND '$finish'")
[ "$during" -gt 0 ] || fail "(a) no writer committed during the deploy"
ok "(a) CIC on 1,000,000 rows under write load: writers never waited ($samples samples, $during commits during the deploy), index valid, a3 current"
for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
wait 2>/dev/null || true
PIDS=()

# --- (d) the procedure's backend terminated mid-deploy ------------------------
# (1) in a slow transactional revision
q "SELECT dbmigrate.migrate_register('d1', 'a3', 'CREATE TABLE d1()', 'DROP TABLE d1', 'fast')" >/dev/null
q "SELECT dbmigrate.migrate_register('d2', 'd1',
     'CREATE TABLE d2(); SELECT pg_sleep(coalesce(nullif(current_setting(''dbm_test.sleep'', true), ''''), ''0'')::float)',
     'DROP TABLE d2', 'slow')" >/dev/null
q "SELECT dbmigrate.migrate_register('d3', 'd2', 'CREATE TABLE d3()', 'DROP TABLE d3', 'last')" >/dev/null
PGOPTIONS="-c dbm_test.sleep=30" PGAPPNAME=dbm_deployer psql -X -q -d "$DB" \
    -c "CALL dbmigrate.migrate_upgrade_stepwise()" >"$WORK/d1.out" 2>&1 &
DEPLOYER=$!
for _ in $(seq 1 200); do
    [ "$(q "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'dbm_deployer' AND wait_event = 'PgSleep'")" = 1 ] && break
    sleep 0.05
done
[ "$(q "SELECT string_agg(c, ',') FROM dbmigrate.migrate_current() c")" = d1 ] || fail "(d1) d1 was not committed before d2 ran"
q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'dbm_deployer'" >/dev/null
wait "$DEPLOYER" 2>/dev/null || true
[ "$(q "SELECT string_agg(c, ',') FROM dbmigrate.migrate_current() c")" = d1 ] || fail "(d1) current is not d1 after the kill"
[ "$(q "SELECT to_regclass('d2') IS NULL")" = t ] || fail "(d1) d2's table survived the kill"
q "CALL dbmigrate.migrate_upgrade_stepwise()" >/dev/null 2>&1 || fail "(d1) the next call failed"
[ "$(q "SELECT string_agg(c, ',') FROM dbmigrate.migrate_current() c")" = d3 ] || fail "(d1) the next call did not finish"
[ "$(q "SELECT count(*) FROM dbmigrate.migrate_log() WHERE revision IN ('d1', 'd2', 'd3') AND operation = 'upgrade'")" = 3 ] \
    || fail "(d1) each of d1, d2, d3 must be logged once"
ok "(d) killed in a transactional revision: d1 stayed applied, d2 did not, the next call finished"

# (2) while the worker builds an index concurrently (slowed down: the build
# waits for a transaction that holds a snapshot, then is terminated)
q "SELECT dbmigrate.migrate_register('k1', 'd3', 'CREATE INDEX CONCURRENTLY big_note ON big (note, v)',
     'DROP INDEX CONCURRENTLY big_note', 'index', transactional => false)" >/dev/null
psql -X -q -d "$DB" -c "BEGIN ISOLATION LEVEL REPEATABLE READ" -c "SELECT count(*) FROM writes" -c "SELECT pg_sleep(30)" >/dev/null 2>&1 &
HOLDER=$!
PIDS+=("$HOLDER")
sleep 0.5
PGAPPNAME=dbm_deployer psql -X -q -d "$DB" -c "CALL dbmigrate.migrate_upgrade_stepwise()" >"$WORK/d2.out" 2>&1 &
DEPLOYER=$!
for _ in $(seq 1 200); do
    [ "$(q "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'dbmigrate worker' AND query LIKE 'CREATE INDEX CONCURRENTLY%'")" = 1 ] && break
    sleep 0.05
done
sleep 0.5
[ "$(q "SELECT count(*) FROM pg_index WHERE indexrelid = to_regclass('big_note') AND NOT indisvalid")" = 1 ] \
    || fail "(d2) the build is not in progress (no INVALID big_note yet)"
q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'dbm_deployer'" >/dev/null
wait "$DEPLOYER" 2>/dev/null || true
for _ in $(seq 1 100); do
    [ "$(q "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'dbmigrate worker'")" = 0 ] && break
    sleep 0.05
done
[ "$(q "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'dbmigrate worker'")" = 0 ] || fail "(d2) the worker outlived its caller"
kill "$HOLDER" 2>/dev/null || true
q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()" >/dev/null
[ "$(q "SELECT string_agg(c, ',') FROM dbmigrate.migrate_current() c")" = d3 ] || fail "(d2) current is not d3 after the kill"
q "CALL dbmigrate.migrate_upgrade_stepwise()" >"$WORK/d2b.out" 2>&1 || { cat "$WORK/d2b.out"; fail "(d2) the next call failed"; }
[ "$(q "SELECT string_agg(c, ',') FROM dbmigrate.migrate_current() c")" = k1 ] || fail "(d2) the next call did not apply k1"
[ "$(q "SELECT indisvalid FROM pg_index WHERE indexrelid = 'big_note'::regclass")" = t ] || fail "(d2) big_note is not valid"
ok "(d) killed during a concurrent build: the worker stopped with its caller, the next call dropped the INVALID index and built it"

# --- (e) two stepwise deploys at once ----------------------------------------
for i in 1 2 3 4 5; do
    prev=$([ "$i" = 1 ] && echo k1 || echo "e$((i - 1))")
    q "SELECT dbmigrate.migrate_register('e$i', '$prev', 'CREATE TABLE e$i(); SELECT pg_sleep(0.2)', 'DROP TABLE e$i', 'e$i')" >/dev/null
done
psql -X -q -d "$DB" -c "CALL dbmigrate.migrate_upgrade_stepwise()" >"$WORK/e1.out" 2>&1 &
E1=$!
psql -X -q -d "$DB" -c "CALL dbmigrate.migrate_upgrade_stepwise()" >"$WORK/e2.out" 2>&1 &
E2=$!
wait "$E1" || { cat "$WORK/e1.out"; fail "(e) the first deploy failed"; }
wait "$E2" || { cat "$WORK/e2.out"; fail "(e) the second deploy failed"; }
[ "$(q "SELECT string_agg(c, ',') FROM dbmigrate.migrate_current() c")" = e5 ] || fail "(e) current is not e5"
[ "$(q "SELECT count(*) FROM dbmigrate.migrate_log() WHERE revision LIKE 'e_' AND operation = 'upgrade'")" = 5 ] \
    || fail "(e) a revision was applied twice"
[ "$(q "SELECT count(*) FROM pg_locks WHERE relation = 'dbmigrate_private.run_lock'::regclass")" = 0 ] \
    || fail "(e) a run lock is left behind"
ok "(e) two stepwise deploys at once: each revision applied once, no lock left"
echo "stepwise: ok"

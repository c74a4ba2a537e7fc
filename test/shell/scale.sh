#!/usr/bin/env bash
# Scale without a crash (issue: "Never take the server down").
#   1. The reported repro: a 500-revision chain with a merge every 50 (and
#      every 5) revisions registered in one DO block; 1.0 crashed the server
#      at the 9th merge (a result returned after SPI_finish).  Then history,
#      upgrade, health, validate and merge on it.
#   2. migrate_merge('{heads}') on a 2,000-revision chain with a single head,
#      called 50 times (1.0: signal 11 in half the calls).
#   3. A 100,000-revision chain (bulk-loaded into dbmigrate.revision by a
#      superuser; registration speed is measured by make bench): upgrade,
#      history, show, validate, health, stamp, relative downgrade, merge and
#      downgrade to base all work.
#   4. pg_cancel_backend during a long upgrade (the 100,000 chain), a long
#      history and a long registration (20 MB of statements) returns within
#      5 s (typically under 1 s) with SQLSTATE 57014 and changes nothing.
# Pass: every call answers, with the expected counts, and the postmaster was
# never restarted (pg_postmaster_start_time unchanged, no "terminated by
# signal" in the server log).
set -euo pipefail
DB="dbm_scale_$$"
fail() { echo "FAIL: $*"; exit 1; }
trap 'dropdb --if-exists "$DB" >/dev/null 2>&1 || true' EXIT
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$DB" -c "SET client_min_messages = warning" -c "$1"; }
started="$(psql -X -At -d postgres -c 'SELECT pg_postmaster_start_time()')"
logfile="$(psql -X -At -d postgres -c 'SELECT pg_current_logfile()' 2>/dev/null || true)"
check_alive() {
    local now
    now="$(psql -X -At -d postgres -c 'SELECT pg_postmaster_start_time()')" || fail "server unreachable after $1"
    [ "$now" = "$started" ] || fail "the server restarted during $1"
}

# fresh_db: the test database, with dbmigrate and nothing registered
fresh_db() {
    createdb "$DB"
    q "CREATE EXTENSION dbmigrate CASCADE" >/dev/null
    q "SELECT dbmigrate.migrate_unregister('001_initial_migration')" >/dev/null
}

for every in 50 5; do
    fresh_db
    q "DO \$\$ DECLARE prev text := NULL; BEGIN
         FOR i IN 1..500 LOOP
           PERFORM dbmigrate.migrate_register('s' || i, prev, 'SELECT 1', 'SELECT 1'); prev := 's' || i;
           IF i % $every = 0 THEN
             PERFORM dbmigrate.migrate_register('x' || i, 's' || (i - 1), 'SELECT 1', 'SELECT 1');
             prev := dbmigrate.migrate_merge(ARRAY['s' || i, 'x' || i], 'm' || i);
           END IF;
         END LOOP; END \$\$" || fail "registering the branchy 500 (merge every $every)"
    check_alive "registration (merge every $every)"
    n=$((500 + 2 * 500 / every))
    [ "$(q "SELECT count(*) FROM dbmigrate.migrate_history()")" = "$n" ] || fail "history count (merge every $every)"
    [ "$(q "SELECT count(*) FROM dbmigrate.migrate_upgrade()")" = "$n" ] || fail "upgrade count (merge every $every)"
    [ "$(q "SELECT dbmigrate.health() ->> 'status'")" = healthy ] || fail "health (merge every $every)"
    [ "$(q "SELECT count(*) FROM dbmigrate.migrate_validate()")" = 0 ] || fail "validate (merge every $every)"
    head="$(q "SELECT * FROM dbmigrate.migrate_heads()")"
    [ "$(q "SELECT dbmigrate.migrate_merge('{heads}')")" = "$head" ] || fail "merge of one head"
    check_alive "branchy 500 (merge every $every)"
    dropdb "$DB"
    echo "[${SECONDS}s] ok   branchy 500, merge every $every: $n revisions"
done

fresh_db
q "DO \$\$ DECLARE prev text := NULL; BEGIN
     FOR i IN 1..2000 LOOP
       PERFORM dbmigrate.migrate_register('c' || i, prev, 'SELECT 1', 'SELECT 1'); prev := 'c' || i;
     END LOOP; END \$\$" >/dev/null
[ "$(q "SELECT count(*) FROM generate_series(1, 50) i
          WHERE dbmigrate.migrate_merge('{heads}') OPERATOR(pg_catalog.=) 'c2000'")" = 50 ] \
    || fail "merge('{heads}') on a 2,000 chain"
check_alive "merge('{heads}') x50"
dropdb "$DB"
echo "[${SECONDS}s] ok   migrate_merge('{heads}') on a 2,000-revision chain, 50 calls"

fresh_db
q "SELECT dbmigrate.migrate_register('c1', NULL, 'SELECT 1', 'SELECT 1')" >/dev/null
echo "[${SECONDS}s] loading 100,000"
q "INSERT INTO dbmigrate.revision (revision, down_revisions, upgrade_sql, downgrade_sql, checksum)
   SELECT 'c' || i, ARRAY['c' || (i - 1)], 'SELECT 1', 'SELECT 1',
          (SELECT checksum FROM dbmigrate.revision WHERE revision = 'c1')
     FROM generate_series(2, 100000) i"
[ "$(q "SELECT string_agg(h, ',') FROM dbmigrate.migrate_heads() h")" = c100000 ] || fail "100k heads"

# cancel_during LABEL SQL: run SQL (a psql script), cancel it once it has
# run 0.3 s, and require SQLSTATE 57014 within 5 s of the cancel
cancel_during() {
    local label="$1" app="dbm_cancel_$$" out t0 t1 pid
    printf 'SET client_min_messages = warning;\n%s\n' "$2" >"/tmp/$app.sql"
    PGAPPNAME="$app" psql -X -q -v VERBOSITY=verbose -d "$DB" -f "/tmp/$app.sql" >"/tmp/$app.out" 2>&1 &
    pid=$!
    for _ in $(seq 1 200); do
        [ "$(psql -X -At -d postgres -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = '$app' AND state = 'active'")" = 1 ] && break
        sleep 0.05
    done
    sleep 0.3
    t0=$(date +%s.%N)
    [ "$(psql -X -At -d postgres -c "SELECT count(*) FILTER (WHERE pg_cancel_backend(pid)) FROM (SELECT pid FROM pg_stat_activity WHERE application_name = '$app' AND state = 'active' OFFSET 0) a")" = 1 ] \
        || fail "$label: the call was over before it could be cancelled"
    wait "$pid" || true
    t1=$(date +%s.%N)
    out="$(cat "/tmp/$app.out")"; rm -f "/tmp/$app.out" "/tmp/$app.sql"
    echo "$out" | grep -q "57014" || fail "$label: no 57014 after the cancel: $out"
    awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a < 5.0) }' || fail "$label: took $(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}') s to stop"
    echo "[${SECONDS}s] ok   cancel during $label: 57014 in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}') s"
}
cancel_during "upgrade of 100,000 revisions" "SELECT count(*) FROM dbmigrate.migrate_upgrade()"
[ -z "$(q "SELECT * FROM dbmigrate.migrate_current()")" ] || fail "a cancelled upgrade left a current revision"
[ "$(q "SELECT count(*) FROM dbmigrate.migrate_log()")" = 0 ] || fail "a cancelled upgrade left log rows"
cancel_during "history of 100,000 revisions" "SELECT count(*) FROM dbmigrate.migrate_history(), pg_sleep(0) GROUP BY ()"
python3 -c "import sys; sys.stdout.write(''.join('INSERT INTO t VALUES (%d);\\n' % i for i in range(700000)))" >"/tmp/dbm_big_$$.sql"
cancel_during "registration of 20 MB" "\\set big \`cat /tmp/dbm_big_$$.sql\`
SELECT dbmigrate.migrate_register('big', 'c100000', :'big', NULL)"
rm -f "/tmp/dbm_big_$$.sql"
[ "$(q "SELECT count(*) FROM dbmigrate.revision WHERE revision = 'big'")" = 0 ] || fail "a cancelled registration was kept"
[ "$(q "SELECT count(*) FROM dbmigrate.migrate_upgrade()")" = 100000 ] || fail "100k upgrade"
[ "$(q "SELECT count(*) FROM dbmigrate.migrate_history()")" = 100000 ] || fail "100k history"
[ "$(q "SELECT revision FROM dbmigrate.migrate_show('head')")" = c100000 ] || fail "100k show"
[ "$(q "SELECT count(*) FROM dbmigrate.migrate_validate()")" = 0 ] || fail "100k validate"
[ "$(q "SELECT dbmigrate.health() ->> 'status'")" = healthy ] || fail "100k health"
[ "$(q "SELECT count(*) FROM dbmigrate.migrate_downgrade('-50000')")" = 50000 ] || fail "100k downgrade -50000"
[ "$(q "SELECT * FROM dbmigrate.migrate_current()")" = c50000 ] || fail "100k current after -50000"
q "SELECT dbmigrate.migrate_stamp('c99999')" >/dev/null
q "SELECT dbmigrate.migrate_register('y1', 'c99999', 'SELECT 1', 'SELECT 1')" >/dev/null
m="$(q "SELECT dbmigrate.migrate_merge('{heads}')")"
[ "$(q "SELECT count(*) FROM dbmigrate.migrate_upgrade()")" = 3 ] || fail "100k upgrade to the merge $m"
[ "$(q "SELECT count(*) FROM dbmigrate.migrate_downgrade('base')")" = 100002 ] || fail "100k downgrade to base"
check_alive "the 100,000-revision chain"
echo "[${SECONDS}s] ok   100,000-revision chain: upgrade, history, show, validate, health, downgrade, stamp, merge"
if [ -n "$logfile" ] && [ -r "$PGDATA_LOG_DIR/$logfile" ] 2>/dev/null; then
    ! grep -q "terminated by signal" "$PGDATA_LOG_DIR/$logfile" || fail "a backend crashed"
fi
echo "scale: ok"

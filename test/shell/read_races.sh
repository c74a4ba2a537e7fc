#!/usr/bin/env bash
# Read-only calls racing writers (issue: "Read-only calls racing writers").
# For 8 s, one pgbench client registers a revision under the head, upgrades
# to it, downgrades and unregisters it, in a loop, while another calls
# migrate_history(), migrate_show('head') and health() in a loop.  In 1.0
# these read the graph and the rows in separate snapshots: history indexed
# nodes[-1] (signal 11), show raised XX000 "could not read revision", and
# health answered "unhealthy" in the middle of a normal downgrade.  Each
# read-only call must see one state: any error (including a health status of
# "unhealthy", turned into a division by zero) aborts the reader and fails
# the test, as does a restart of the server.
set -euo pipefail
DB="dbm_races_$$"
DIR="$(mktemp -d /tmp/dbm_races.XXXXXX)"
PGBENCH="${PGBIN:-$(pg_config --bindir)}/pgbench"
fail() { echo "FAIL: $*"; exit 1; }
trap 'dropdb --if-exists "$DB" >/dev/null 2>&1 || true; rm -rf "$DIR"' EXIT
createdb "$DB"
started="$(psql -X -At -d postgres -c 'SELECT pg_postmaster_start_time()')"
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION dbmigrate CASCADE;
SELECT dbmigrate.migrate_unregister('001_initial_migration');
DO $$ DECLARE prev text := NULL; BEGIN
  FOR i IN 1..2000 LOOP
    PERFORM dbmigrate.migrate_register('c' || i, prev, 'SELECT 1', 'SELECT 1'); prev := 'c' || i;
  END LOOP; END $$;
SELECT count(*) FROM dbmigrate.migrate_upgrade();
SQL
cat >"$DIR/writer.sql" <<'SQL'
SET client_min_messages = warning;
SELECT dbmigrate.migrate_register('race', 'c2000', 'SELECT 1', 'SELECT 1');
SELECT count(*) FROM dbmigrate.migrate_upgrade('race');
SELECT count(*) FROM dbmigrate.migrate_downgrade('c2000');
SELECT dbmigrate.migrate_unregister('race');
SQL
cat >"$DIR/reader.sql" <<'SQL'
SELECT 1 / (count(*) >= 2000)::int FROM dbmigrate.migrate_history();
SELECT 1 / (count(*) = 1)::int FROM dbmigrate.migrate_show('head');
SELECT 1 / (dbmigrate.health() ->> 'status' <> 'unhealthy')::int;
SQL
"$PGBENCH" -n -c 1 -T 8 -f "$DIR/writer.sql" -d "$DB" >"$DIR/writer.log" 2>&1 &
wpid=$!
rc=0
"$PGBENCH" -n -c 1 -T 8 -f "$DIR/reader.sql" -d "$DB" >"$DIR/reader.log" 2>&1 || rc=$?
wrc=0; wait "$wpid" || wrc=$?
now="$(psql -X -At -d postgres -c 'SELECT pg_postmaster_start_time()')" || fail "server unreachable"
[ "$now" = "$started" ] || fail "the server restarted (a backend crashed)"
[ $rc -eq 0 ] || { cat "$DIR/reader.log"; fail "a read-only call failed while a writer ran"; }
[ $wrc -eq 0 ] || { cat "$DIR/writer.log"; fail "the writer failed"; }
reads=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$DIR/reader.log")
writes=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$DIR/writer.log")
[ "${reads:-0}" -gt 10 ] && [ "${writes:-0}" -gt 10 ] || fail "too few rounds to mean anything: $reads reads, $writes writes"
echo "read_races: ok ($reads reader rounds against $writes writer rounds)"

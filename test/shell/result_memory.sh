#!/usr/bin/env bash
# Rows that a migration statement returns are discarded, not held in the
# backend: a revision whose SQL is a 3-million-row SELECT (about 400 MB if it
# were materialized) must not grow the backend's peak memory (VmHWM) by more
# than 100 MB. Needs to read /proc/<backend pid>/status (root or the server's user).
set -euo pipefail
DB="dbm_resmem_$$"
fail() { echo "FAIL: $*"; exit 1; }
trap 'dropdb --if-exists "$DB" >/dev/null 2>&1 || true' EXIT
createdb "$DB"
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null 2>&1 <<'SQL'
CREATE EXTENSION dbmigrate CASCADE;
SELECT dbmigrate.migrate_unregister('001_initial_migration');
SELECT dbmigrate.migrate_register('big', NULL,
    $$SELECT g, repeat('x', 100) FROM generate_series(1, 3000000) g$$, '');
SQL
out="$(psql -X -q -At -v ON_ERROR_STOP=1 -d "$DB" 2>&1 <<'SQL'
SET client_min_messages = warning;
SELECT pg_backend_pid() AS pid \gset
SELECT (regexp_match(pg_read_file('/proc/' || :pid || '/status'), 'VmHWM:\s+(\d+)'))[1] AS before_kb;
SELECT revision FROM dbmigrate.migrate_upgrade();
SELECT (regexp_match(pg_read_file('/proc/' || :pid || '/status'), 'VmHWM:\s+(\d+)'))[1] AS after_kb;
SQL
)" || fail "psql failed: $out"
before=$(echo "$out" | sed -n 1p); rev=$(echo "$out" | sed -n 2p); after=$(echo "$out" | sed -n 3p)
[ "$rev" = big ] || fail "the revision did not run: $out"
growth=$(( (after - before) / 1024 ))
echo "VmHWM before ${before} kB, after ${after} kB: +${growth} MB"
[ "$growth" -lt 100 ] || fail "backend peak memory grew by ${growth} MB running a 3M-row SELECT migration"
echo "result_memory: ok"

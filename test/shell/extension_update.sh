#!/usr/bin/env bash
# The 1.0 -> 1.1 update path, from a real 1.0 database (contrib/pgvector style).
#   1. db_new: CREATE EXTENSION dbmigrate (1.1, the default).
#   2. db_upd: CREATE EXTENSION dbmigrate VERSION '1.0', then state: two
#      branches, a merge, applied heads, a downgrade, log rows; then
#      ALTER EXTENSION dbmigrate UPDATE.
#   3. The catalog of both is the same: every function's signature, result,
#      volatility, strictness, security, ACL and comment; every table, column,
#      index, constraint, trigger, sequence, ACL and comment in schema
#      dbmigrate; the extension's members and its pg_dump configuration.
#   4. db_upd's state is what it was before the update (health() included:
#      computed the 1.0 way before, from the state the update fills in
#      after), and the next upgrade works.
#   5. pg_dump of db_upd restored into db_res gives the same state.
set -euo pipefail
TAG="$$_${RANDOM}"
NEW="dbm_ext_new_$TAG"; UPD="dbm_ext_upd_$TAG"; RES="dbm_ext_res_$TAG"
WORK="$(mktemp -d)"
fail() { echo "FAIL (extension_update): $*"; exit 1; }
ROLE="dbm_ext_deployer_$TAG"
trap 'for d in "$NEW" "$UPD" "$RES"; do dropdb --if-exists "$d" >/dev/null 2>&1 || true; done; psql -X -q -c "DROP ROLE IF EXISTS $ROLE" >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "SET client_min_messages = warning" -c "$2"; }

createdb "$NEW"; createdb "$UPD"; createdb "$RES"
psql -X -q -c "CREATE ROLE $ROLE" >/dev/null
q "$NEW" "CREATE EXTENSION dbmigrate CASCADE" >/dev/null
q "$UPD" "CREATE EXTENSION dbmigrate VERSION '1.0' CASCADE" >/dev/null
# a DBA's grant on migrate_register, which 1.1 replaces (a sixth argument):
# the update keeps it (compared with the same grant on a fresh 1.1 below)
q "$UPD" "GRANT EXECUTE ON FUNCTION dbmigrate.migrate_register(text, text, text, text, text) TO $ROLE WITH GRANT OPTION" >/dev/null
q "$NEW" "GRANT EXECUTE ON FUNCTION dbmigrate.migrate_register(text, text, text, text, text, boolean) TO $ROLE WITH GRANT OPTION" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d "$UPD" >/dev/null <<'SQL'
SET client_min_messages = warning;
SELECT dbmigrate.migrate_register('a1', '001_initial_migration', 'CREATE TABLE ea1()', 'DROP TABLE ea1', 'a one');
SELECT dbmigrate.migrate_register('b1', '001_initial_migration', 'CREATE TABLE eb1()', 'DROP TABLE eb1', 'b one');
SELECT dbmigrate.migrate_merge('{heads}', 'join');
SELECT dbmigrate.migrate_register('c1', 'a1', 'CREATE TABLE ec1()', NULL, 'irreversible branch');
SELECT count(*) FROM dbmigrate.migrate_upgrade('heads');
SELECT count(*) FROM dbmigrate.migrate_downgrade('b1');
SELECT count(*) FROM dbmigrate.migrate_upgrade('a1');
SQL

# the state, as the functions report it (log without timings)
state() {
    psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" <<'SQL'
SELECT 'current', string_agg(c, ',' ORDER BY c) FROM dbmigrate.migrate_current() c;
SELECT 'heads', string_agg(h, ',' ORDER BY h) FROM dbmigrate.migrate_heads() h;
SELECT 'history', revision, down_revisions, message, is_applied, is_head, is_current, applied_by
  FROM dbmigrate.migrate_history(verbose => true);
SELECT 'log', id, revision, operation, run_by, checksum FROM dbmigrate.migrate_log();
SELECT 'revision', revision, checksum, registered_by, seq, is_head, builtin FROM dbmigrate.revision ORDER BY seq;
SELECT 'validate', count(*) FROM dbmigrate.migrate_validate();
SELECT 'health', dbmigrate.health() - 'timestamp' - 'version' - 'database';
SQL
}
state "$UPD" >"$WORK/before"
q "$UPD" "ALTER EXTENSION dbmigrate UPDATE" >/dev/null
[ "$(q "$UPD" "SELECT extversion FROM pg_extension WHERE extname = 'dbmigrate'")" = 1.1 ] || fail "not at 1.1 after UPDATE"
state "$UPD" >"$WORK/after"
diff -u "$WORK/before" "$WORK/after" || fail "the update changed the state"
echo "ok   state intact across ALTER EXTENSION UPDATE ($(wc -l <"$WORK/after") lines compared)"

# the catalog, as a sorted text description
catalog() {
    psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" <<'SQL'
SELECT 'function', p.oid::regprocedure, pg_get_function_result(p.oid), p.provolatile, p.proisstrict,
       p.prosecdef, p.proparallel, p.prokind, p.proconfig,
       regexp_replace(p.proacl::text, 'dbm_ext_deployer_[0-9_]+', 'deployer', 'g'),
       obj_description(p.oid, 'pg_proc')
  FROM pg_proc p WHERE p.pronamespace = 'dbmigrate'::regnamespace;
SELECT 'relation', c.relname, c.relkind, c.relacl, c.relpersistence, obj_description(c.oid, 'pg_class')
  FROM pg_class c WHERE c.relnamespace = 'dbmigrate'::regnamespace;
SELECT 'column', c.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid), col_description(c.oid, a.attnum)
  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
 WHERE c.relnamespace = 'dbmigrate'::regnamespace AND c.relkind IN ('r', 'S', 'v');
SELECT 'index', indexrelid::regclass, pg_get_indexdef(indexrelid)
  FROM pg_index WHERE indrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'dbmigrate'::regnamespace);
SELECT 'constraint', conrelid::regclass, conname, pg_get_constraintdef(oid)
  FROM pg_constraint WHERE connamespace = 'dbmigrate'::regnamespace;
SELECT 'trigger', tgrelid::regclass, tgname, pg_get_triggerdef(oid), tgenabled
  FROM pg_trigger WHERE NOT tgisinternal
   AND tgrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'dbmigrate'::regnamespace);
SELECT 'sequence', seqrelid::regclass, seqtypid::regtype, seqincrement, seqcycle
  FROM pg_sequence WHERE seqrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'dbmigrate'::regnamespace);
SELECT 'member', pg_describe_object(classid, objid, objsubid)
  FROM pg_depend WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'dbmigrate');
SELECT 'config', c.relname, cond
  FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS u(cfg, cond)
  JOIN pg_class c ON c.oid = u.cfg WHERE e.extname = 'dbmigrate';
SELECT 'extension', extversion, extrelocatable, extnamespace::regnamespace FROM pg_extension WHERE extname = 'dbmigrate';
SQL
}
catalog "$NEW" | LC_ALL=C sort >"$WORK/new.cat"
catalog "$UPD" | LC_ALL=C sort >"$WORK/upd.cat"
[ "$(grep -c '^function' "$WORK/new.cat")" -ge 15 ] || fail "the catalog query found too few functions"
grep -q 'migrate_register(text,text,text,text,text,boolean).*deployer=X\*' "$WORK/upd.cat" \
    || fail "the grant on migrate_register was lost by the update"
diff -u "$WORK/new.cat" "$WORK/upd.cat" || fail "a 1.0 database updated to 1.1 differs from a fresh 1.1"
echo "ok   catalog of the updated database = fresh 1.1 ($(wc -l <"$WORK/new.cat") objects and properties)"

# the next state change works and takes the 1.1 run lock
q "$UPD" "SELECT count(*) FROM dbmigrate.migrate_upgrade('heads')" >/dev/null
[ "$(q "$UPD" "SELECT string_agg(c, ',' ORDER BY c) FROM dbmigrate.migrate_current() c")" = \
  "$(q "$UPD" "SELECT string_agg(h, ',' ORDER BY h) FROM dbmigrate.migrate_heads() h")" ] || fail "upgrade after the update"
[ "$(q "$UPD" "SELECT count(*) FROM dbmigrate.migrate_current()")" = 2 ] || fail "two heads expected after upgrade('heads')"
echo "ok   upgrade after the update"

# pg_dump after the update, restored elsewhere
state "$UPD" >"$WORK/upd.state"
pg_dump -Fc -d "$UPD" -f "$WORK/upd.dump"
pg_restore -d "$RES" "$WORK/upd.dump" 2>"$WORK/restore.err" || { cat "$WORK/restore.err"; fail "pg_restore"; }
state "$RES" >"$WORK/res.state"
diff -u "$WORK/upd.state" "$WORK/res.state" || fail "dump/restore after the update changed the state"
[ "$(q "$RES" "SELECT extversion FROM pg_extension WHERE extname = 'dbmigrate'")" = 1.1 ] || fail "restored extension is not 1.1"
echo "ok   pg_dump/pg_restore after the update keeps the state"
echo "extension_update: ok"

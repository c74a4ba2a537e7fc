#!/usr/bin/env bash
#
# dump_restore.sh: dbmigrate's state survives pg_dump / restore
# (CASES BC-18; SPEC section 2: "A dump/restore reproduces the state exactly:
# nothing the install script created is duplicated, and a revision the user
# unregistered (including 001_initial_migration) stays unregistered").
#
# Three source databases, each with r1 -> r2 -> r3 registered and upgraded
# to r2 (so r1's and r2's tables exist and r3 is pending):
#   keep      001_initial_migration kept as the root (users table created);
#             the log also has a downgrade and a re-upgrade of r2
#   unreg     001_initial_migration unregistered before anything else
#   redef     001_initial_migration re-registered with different SQL while
#             not applied, then applied
#   drift     as unreg, then r1's stored text changed by hand (UPDATE by the
#             table owner): health() and migrate_validate() report r1
# Each is dumped with pg_dump -Fc (restored with pg_restore --exit-on-error)
# and in plain format (restored with psql ON_ERROR_STOP) into a fresh
# database.  Right behaviour, checked in every target:
#   - the restore raises no error (no duplicate key from the row that
#     CREATE EXTENSION registers);
#   - migrate_current(), migrate_history(true) (all columns except
#     registered_at, which is the install time for the built-in
#     001_initial_migration), migrate_log() (every column), the number of
#     registered revisions, health() (but its timestamp and database) and the
#     state that 1.1's triggers keep for it on dbmigrate.revision (computed
#     again by those triggers as the rows are restored) equal the source's;
#   - 001_initial_migration is registered exactly once (keep, redef: with the
#     redefined SQL) or not at all (unreg);
#   - migrate_upgrade() applies only r3, and its log row's id is larger than
#     every restored id (the log's sequence was restored, not reset).
# Partial dumps (keep source only):
#   --data-only: restored with -n dbmigrate into a database where
#     CREATE EXTENSION dbmigrate ran fresh: dbmigrate's state equals the
#     source's (the rows CREATE EXTENSION made do not clash), and the next
#     upgrade applies only r3.  Done for unreg and redef too (the record of
#     the unregistered/redefined built-in revision travels with the data).
#   --schema-only: documented behaviour, asserted here.  The tables come back
#     but dbmigrate's data does not: CREATE EXTENSION registers only
#     001_initial_migration again, the version is empty (base) and the log is
#     empty.  migrate_upgrade() then does NOT treat the database as new: it
#     fails on "users" with SQLSTATE 42P07, with a hint to adopt the schema
#     with migrate_stamp(), and changes nothing; migrate_stamp() then works.
#
# Uses PGHOST/PGPORT/PGUSER from the environment; creates its databases with
# a unique prefix and drops them at the end.  Exits 0 on success, non-zero
# with a message on the first failure.

set -euo pipefail

PREFIX="dbm_dump_restore_$$_${RANDOM}"
PSQL=(psql -X -v ON_ERROR_STOP=1 -At -q)
WORK="$(mktemp -d)"
DBS=()

fail() {
    echo "FAIL (dump_restore): $*" >&2
    exit 1
}

ok() {
    echo "ok - $*"
}

cleanup() {
    local db
    for db in "${DBS[@]}"; do
        psql -X -q -d postgres -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

# dbname NAME: the full name of this run's database NAME
dbname() {
    echo "${PREFIX}_$1"
}

# createdb_fresh NAME: create this run's database NAME from template0
createdb_fresh() {
    local db
    db="$(dbname "$1")"
    DBS+=("$db")
    "${PSQL[@]}" -d postgres -c "CREATE DATABASE \"$db\" TEMPLATE template0"
}

# q NAME SQL: run SQL in database NAME, print the result unaligned
q() {
    "${PSQL[@]}" -d "$(dbname "$1")" -c "$2"
}

# state NAME: dbmigrate's state in database NAME, as comparable text
state() {
    "${PSQL[@]}" -d "$(dbname "$1")" <<'SQL'
SELECT 'current', coalesce(string_agg(c, ',' ORDER BY c), '') FROM dbmigrate.migrate_current() c;
SELECT 'history', revision, down_revisions, message, is_applied, is_head, is_current,
       is_branch_point, is_merge_point, applied_at, applied_by, upgrade_sql, downgrade_sql, checksum
  FROM dbmigrate.migrate_history(true);
SELECT 'log', l.* FROM dbmigrate.migrate_log() l;
SELECT 'registered', count(*) FROM dbmigrate.migrate_history();
SELECT 'heads', string_agg(h, ',') FROM dbmigrate.migrate_heads() h;
SELECT 'problems', count(*) FROM dbmigrate.migrate_validate();
SELECT 'kept', revision, text_checksum, is_applied, run_checksum, parents_ok
  FROM dbmigrate.revision ORDER BY revision;
SELECT 'health', dbmigrate.health() - 'timestamp' - 'database';
SQL
}

# same_state SRC DST WHAT: dbmigrate's state in DST equals SRC's
same_state() {
    state "$1" >"$WORK/$1.state"
    state "$2" >"$WORK/$2.state"
    diff -u "$WORK/$1.state" "$WORK/$2.state" >"$WORK/$2.diff" \
        || fail "$3: dbmigrate's state differs from the source:"$'\n'"$(cat "$WORK/$2.diff")"
    ok "$3: current, history, log, registered revisions, health() and its kept state equal the source's"
}

# count_001 NAME: how often 001_initial_migration is registered in NAME
count_001() {
    q "$1" "SELECT count(*) FROM dbmigrate.revision WHERE revision = '001_initial_migration'"
}

# upgrade_applies_only_r3 NAME WHAT
upgrade_applies_only_r3() {
    local maxid ran newid
    maxid="$(q "$1" "SELECT max(id) FROM dbmigrate.migrate_log()")"
    ran="$(q "$1" "SET client_min_messages = warning; SELECT string_agg(revision, ',') FROM dbmigrate.migrate_upgrade()")" \
        || fail "$2: migrate_upgrade() failed after the restore"
    [ "$ran" = "r3" ] || fail "$2: migrate_upgrade() should apply only r3, applied: $ran"
    [ "$(q "$1" "SELECT string_agg(c, ',') FROM dbmigrate.migrate_current() c")" = r3 ] \
        || fail "$2: current should be r3 after the upgrade"
    newid="$(q "$1" "SELECT id FROM dbmigrate.migrate_log() WHERE revision = 'r3'")"
    [ -n "$newid" ] && [ "$newid" -gt "$maxid" ] \
        || fail "$2: the new log id ($newid) should be larger than every restored id (max $maxid)"
    [ "$(q "$1" "SELECT to_regclass('public.dr_t3') IS NOT NULL")" = t ] || fail "$2: r3's table is missing"
    ok "$2: migrate_upgrade() applied only r3, log id $newid > $maxid"
}

"${PSQL[@]}" -d postgres -c "SELECT 1" >/dev/null \
    || fail "cannot connect to PostgreSQL (PGHOST=${PGHOST:-} PGPORT=${PGPORT:-} PGUSER=${PGUSER:-})"

REDEF_SQL='CREATE TABLE users (id serial PRIMARY KEY, username varchar(50) UNIQUE NOT NULL)'

# ---- sources ---------------------------------------------------------------

createdb_fresh keep
"${PSQL[@]}" -d "$(dbname keep)" >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION dbmigrate CASCADE;
SELECT dbmigrate.migrate_register('r1', '001_initial_migration', 'CREATE TABLE dr_t1(id int)', 'DROP TABLE dr_t1', 'one');
SELECT dbmigrate.migrate_register('r2', 'r1', 'CREATE TABLE dr_t2(id int)', 'DROP TABLE dr_t2', 'two');
SELECT dbmigrate.migrate_register('r3', 'r2', 'CREATE TABLE dr_t3(id int)', 'DROP TABLE dr_t3', 'three');
SELECT * FROM dbmigrate.migrate_upgrade('r2');
SELECT * FROM dbmigrate.migrate_downgrade(1);
SELECT * FROM dbmigrate.migrate_upgrade('r2');
SET client_min_messages = error;
SELECT dbmigrate.seed_users();
SQL

createdb_fresh unreg
"${PSQL[@]}" -d "$(dbname unreg)" >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION dbmigrate CASCADE;
SELECT dbmigrate.migrate_unregister('001_initial_migration');
SELECT dbmigrate.migrate_register('r1', NULL, 'CREATE TABLE dr_t1(id int)', 'DROP TABLE dr_t1', 'one');
SELECT dbmigrate.migrate_register('r2', 'r1', 'CREATE TABLE dr_t2(id int)', 'DROP TABLE dr_t2', 'two');
SELECT dbmigrate.migrate_register('r3', 'r2', 'CREATE TABLE dr_t3(id int)', 'DROP TABLE dr_t3', 'three');
SELECT * FROM dbmigrate.migrate_upgrade('r2');
SQL

createdb_fresh redef
"${PSQL[@]}" -d "$(dbname redef)" -v redef_sql="$REDEF_SQL" >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION dbmigrate CASCADE;
SELECT dbmigrate.migrate_register('001_initial_migration', NULL, :'redef_sql', 'DROP TABLE users', 'redefined');
SELECT dbmigrate.migrate_register('r1', '001_initial_migration', 'CREATE TABLE dr_t1(id int)', 'DROP TABLE dr_t1', 'one');
SELECT dbmigrate.migrate_register('r2', 'r1', 'CREATE TABLE dr_t2(id int)', 'DROP TABLE dr_t2', 'two');
SELECT dbmigrate.migrate_register('r3', 'r2', 'CREATE TABLE dr_t3(id int)', 'DROP TABLE dr_t3', 'three');
SELECT * FROM dbmigrate.migrate_upgrade('r2');
SQL

createdb_fresh drift
"${PSQL[@]}" -d "$(dbname drift)" >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION dbmigrate CASCADE;
SELECT dbmigrate.migrate_unregister('001_initial_migration');
SELECT dbmigrate.migrate_register('r1', NULL, 'CREATE TABLE dr_t1(id int)', 'DROP TABLE dr_t1', 'one');
SELECT dbmigrate.migrate_register('r2', 'r1', 'CREATE TABLE dr_t2(id int)', 'DROP TABLE dr_t2', 'two');
SELECT dbmigrate.migrate_register('r3', 'r2', 'CREATE TABLE dr_t3(id int)', 'DROP TABLE dr_t3', 'three');
SELECT * FROM dbmigrate.migrate_upgrade('r2');
UPDATE dbmigrate.revision SET upgrade_sql = 'CREATE TABLE dr_t1(id bigint)' WHERE revision = 'r1';
SQL

createdb_fresh msg
"${PSQL[@]}" -d "$(dbname msg)" >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION dbmigrate CASCADE;
-- the same SQL with a new message: the install script's row becomes the user's own
SELECT dbmigrate.migrate_register('001_initial_migration', NULL,
       (SELECT upgrade_sql FROM dbmigrate.migrate_show('001_initial_migration')),
       (SELECT downgrade_sql FROM dbmigrate.migrate_show('001_initial_migration')),
       'Create the users table (our wording)');
SELECT dbmigrate.migrate_register('r1', '001_initial_migration', 'CREATE TABLE dr_t1(id int)', 'DROP TABLE dr_t1', 'one');
SELECT dbmigrate.migrate_register('r2', 'r1', 'CREATE TABLE dr_t2(id int)', 'DROP TABLE dr_t2', 'two');
SELECT dbmigrate.migrate_register('r3', 'r2', 'CREATE TABLE dr_t3(id int)', 'DROP TABLE dr_t3', 'three');
SELECT * FROM dbmigrate.migrate_upgrade('r2');
SQL

# sanity of the sources themselves
[ "$(q keep "SELECT string_agg(revision || ' ' || operation, ', ' ORDER BY id) FROM dbmigrate.migrate_log()")" \
  = "001_initial_migration upgrade, r1 upgrade, r2 upgrade, r2 downgrade, r2 upgrade" ] \
    || fail "source keep: unexpected log"
[ "$(count_001 keep)" = 1 ] && [ "$(count_001 unreg)" = 0 ] && [ "$(count_001 redef)" = 1 ] \
    && [ "$(count_001 msg)" = 1 ] && [ "$(count_001 drift)" = 0 ] \
    || fail "sources: 001_initial_migration should be registered once, not at all, once, once, not at all"
# health() of the drifted source names r1, as migrate_validate() does
drifted() {
    q "$1" "SELECT dbmigrate.health()->>'status' || ' ' || (dbmigrate.health()->'problems'->>0 LIKE 'r1: stored text differs%')
            || ' ' || (SELECT string_agg(revision, ',') FROM dbmigrate.migrate_validate())"
}
[ "$(drifted drift)" = "unhealthy true r1" ] || fail "source drift: health() and validate should report r1: $(drifted drift)"
[ "$(q redef "SELECT upgrade_sql FROM dbmigrate.migrate_show('001_initial_migration')")" = "$REDEF_SQL" ] \
    || fail "source redef: 001_initial_migration was not redefined"
for src in keep unreg redef msg drift; do
    [ "$(q $src "SELECT string_agg(c, ',') FROM dbmigrate.migrate_current() c")" = r2 ] \
        || fail "source $src: current should be r2"
done
ok "sources built: keep, unreg, redef, msg, drift (all at r2, r3 pending)"

# ---- full dumps: custom format + pg_restore, plain format + psql ------------

for src in keep unreg redef msg drift; do
    pg_dump -Fc -d "$(dbname $src)" -f "$WORK/$src.dump" || fail "pg_dump -Fc of $src failed"
    pg_dump -Fp -d "$(dbname $src)" -f "$WORK/$src.sql" || fail "pg_dump (plain) of $src failed"

    for fmt in custom plain; do
        dst="${src}_${fmt}"
        createdb_fresh "$dst"
        if [ "$fmt" = custom ]; then
            pg_restore --exit-on-error -d "$(dbname "$dst")" "$WORK/$src.dump" 2>"$WORK/$dst.err" \
                || fail "$dst: pg_restore failed: $(cat "$WORK/$dst.err")"
        else
            psql -X -q -v ON_ERROR_STOP=1 -d "$(dbname "$dst")" -f "$WORK/$src.sql" \
                >/dev/null 2>"$WORK/$dst.err" \
                || fail "$dst: psql restore failed: $(cat "$WORK/$dst.err")"
        fi
        [ ! -s "$WORK/$dst.err" ] || fail "$dst: the restore printed errors or warnings: $(cat "$WORK/$dst.err")"
        ok "$dst: restored without errors"

        same_state "$src" "$dst" "$dst"

        case "$src" in
            keep|redef|msg) [ "$(count_001 "$dst")" = 1 ] || fail "$dst: 001_initial_migration should be registered exactly once" ;;
            unreg|drift) [ "$(count_001 "$dst")" = 0 ] || fail "$dst: the unregistered 001_initial_migration came back" ;;
        esac
        if [ "$src" = drift ]; then
            [ "$(drifted "$dst")" = "unhealthy true r1" ] || fail "$dst: health() and validate should report r1: $(drifted "$dst")"
            ok "$dst: health() and migrate_validate() report the changed text of r1, as in the source"
        fi
        if [ "$src" = redef ]; then
            [ "$(q "$dst" "SELECT upgrade_sql FROM dbmigrate.migrate_show('001_initial_migration')")" = "$REDEF_SQL" ] \
                || fail "$dst: 001_initial_migration lost its redefined SQL"
        fi
        if [ "$src" = msg ]; then
            [ "$(q "$dst" "SELECT message FROM dbmigrate.migrate_show('001_initial_migration')")" \
              = "Create the users table (our wording)" ] \
                || fail "$dst: 001_initial_migration lost its new message"
        fi
        ok "$dst: 001_initial_migration registered $(count_001 "$dst") time(s), as in the source"

        [ "$(q "$dst" "SELECT to_regclass('public.dr_t1') IS NOT NULL AND to_regclass('public.dr_t2') IS NOT NULL
                        AND to_regclass('public.dr_t3') IS NULL")" = t ] \
            || fail "$dst: r1's and r2's tables should exist and r3's should not"
        if [ "$src" = keep ]; then
            [ "$(q "$dst" "SELECT count(*) FROM public.users")" = 4 ] || fail "$dst: the seeded users were not restored"
        fi

        upgrade_applies_only_r3 "$dst" "$dst"
    done
done

# ---- --data-only into a database with a freshly created extension ----------

for src in keep unreg redef msg drift; do
    pg_dump -Fc --data-only -d "$(dbname $src)" -f "$WORK/$src.data.dump" || fail "pg_dump --data-only of $src failed"
    dst="${src}_dataonly"
    createdb_fresh "$dst"
    q "$dst" "SET client_min_messages = warning; CREATE EXTENSION dbmigrate CASCADE" >/dev/null
    pg_restore --exit-on-error --data-only -n dbmigrate -d "$(dbname "$dst")" "$WORK/$src.data.dump" \
        2>"$WORK/$dst.err" || fail "$dst: pg_restore --data-only failed: $(cat "$WORK/$dst.err")"
    [ ! -s "$WORK/$dst.err" ] || fail "$dst: the restore printed errors or warnings: $(cat "$WORK/$dst.err")"
    ok "$dst: data restored without errors over a fresh CREATE EXTENSION"
    same_state "$src" "$dst" "$dst"
    case "$src" in
        keep|redef|msg) [ "$(count_001 "$dst")" = 1 ] || fail "$dst: 001_initial_migration should be registered exactly once" ;;
        unreg|drift) [ "$(count_001 "$dst")" = 0 ] || fail "$dst: the unregistered 001_initial_migration came back" ;;
    esac
    upgrade_applies_only_r3 "$dst" "$dst"
done

# ---- --schema-only (documented behaviour) ------------------------------------

pg_dump -Fc --schema-only -d "$(dbname keep)" -f "$WORK/keep.schema.dump" || fail "pg_dump --schema-only failed"
dst=keep_schemaonly
createdb_fresh "$dst"
pg_restore --exit-on-error -d "$(dbname "$dst")" "$WORK/keep.schema.dump" 2>"$WORK/$dst.err" \
    || fail "$dst: pg_restore --schema-only failed: $(cat "$WORK/$dst.err")"
[ ! -s "$WORK/$dst.err" ] || fail "$dst: the restore printed errors or warnings: $(cat "$WORK/$dst.err")"
[ "$(q "$dst" "SELECT count(*) FROM dbmigrate.migrate_current()")" = 0 ] \
    || fail "$dst: a schema-only restore should leave the version empty"
[ "$(q "$dst" "SELECT string_agg(revision, ',') FROM dbmigrate.migrate_history()")" = 001_initial_migration ] \
    || fail "$dst: only 001_initial_migration (registered by CREATE EXTENSION) should be registered"
[ "$(q "$dst" "SELECT count(*) FROM dbmigrate.migrate_log()")" = 0 ] || fail "$dst: the log should be empty"
[ "$(q "$dst" "SELECT to_regclass('public.users') IS NOT NULL AND to_regclass('public.dr_t2') IS NOT NULL")" = t ] \
    || fail "$dst: the schema (users, dr_t2) should be restored"
ok "$dst: version empty, only 001_initial_migration registered, log empty, tables present"

psql -X -At -d "$(dbname "$dst")" >"$WORK/$dst.up" 2>&1 <<'SQL' || true
SELECT revision FROM dbmigrate.migrate_upgrade();
\echo SQLSTATE=:LAST_ERROR_SQLSTATE
SQL
grep -q '^SQLSTATE=42P07$' "$WORK/$dst.up" \
    || fail "$dst: migrate_upgrade() should fail with 42P07 on the existing users table: $(cat "$WORK/$dst.up")"
grep -q 'HINT:.*migrate_stamp' "$WORK/$dst.up" \
    || fail "$dst: the 42P07 error should hint at migrate_stamp(): $(cat "$WORK/$dst.up")"
grep -q 'upgrade of revision "001_initial_migration"' "$WORK/$dst.up" \
    || fail "$dst: the error context should name 001_initial_migration: $(cat "$WORK/$dst.up")"
[ "$(q "$dst" "SELECT count(*) FROM dbmigrate.migrate_current()")$(q "$dst" "SELECT count(*) FROM dbmigrate.migrate_log()")" = 00 ] \
    || fail "$dst: the failed upgrade changed the version or the log"
ok "$dst: migrate_upgrade() refuses with 42P07 and a migrate_stamp() hint, changing nothing"
q "$dst" "SELECT dbmigrate.migrate_stamp('001_initial_migration')" >/dev/null
[ "$(q "$dst" "SELECT string_agg(c, ',') FROM dbmigrate.migrate_current() c")" = 001_initial_migration ] \
    || fail "$dst: migrate_stamp() should adopt the restored schema"
ok "$dst: migrate_stamp('001_initial_migration') adopts the restored schema"

echo "dump_restore: all checks passed"

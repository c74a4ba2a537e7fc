#!/usr/bin/env bash
# Adopting Alembic, proved against the real Alembic (python3-alembic, with
# psycopg2) on test/alembic_project (10 revisions: two branches and a merge,
# a data migration, an enum, an autocommit_block):
#   1. its offline SQL (upgrade base:head --sql, downgrade head:base --sql)
#      goes through dbmigrate import-alembic into a folder;
#   2. database A gets the folder with dbmigrate upgrade, database B the
#      project with alembic upgrade head (online); pg_dump --schema-only of
#      both (schema public without alembic_version) must be byte for byte
#      equal, and the rows of the data migration too; then downgrade base
#      both ways and compare again;
#   3. database C, left by Alembic at two branch heads, is adopted with
#      dbmigrate stamp --from-alembic, upgraded by dbmigrate and compared
#      with B upgraded by Alembic.
# Needs PGHOST/PGPORT/PGUSER, the built client (DBMIGRATE, default
# cli/dbmigrate) and /usr/bin/python3 with alembic and psycopg2 (PYTHON).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
DBM="${DBMIGRATE:-$ROOT/cli/dbmigrate}"
PY="${PYTHON:-/usr/bin/python3}"
PROJECT="$ROOT/test/alembic_project"
A="dbm_alembic_a_$$" B="dbm_alembic_b_$$" C="dbm_alembic_c_$$"
WORK="$(mktemp -d)"
fail() { echo "FAIL: $*"; exit 1; }
trap 'for d in "$A" "$B" "$C"; do dropdb --if-exists "$d" >/dev/null 2>&1 || true; done; rm -rf "$WORK"' EXIT
"$PY" -c 'import alembic, psycopg2' || fail "$PY lacks alembic or psycopg2 (apt-get install python3-alembic python3-psycopg2)"

alembic() {		# alembic DB ARGS...: the real Alembic on the project
    local db="$1"; shift
    (cd "$PROJECT" && DBM_ALEMBIC_URL="postgresql://${PGUSER:-postgres}@${PGHOST:-localhost}:${PGPORT:-5432}/$db" \
        "$PY" -m alembic -c alembic.ini "$@")
}
dump() {		# the schema Alembic's revisions made, as pg_dump prints it
    pg_dump --schema-only -n public -T public.alembic_version "$1" | sed '/^\\\(un\)\{0,1\}restrict /d'
}
rows() { psql -X -At -d "$1" -c "SELECT id, name, email, mood FROM users ORDER BY id"; }
same() {		# same WHAT DB1 DB2
    dump "$2" >"$WORK/$2.dump"; dump "$3" >"$WORK/$3.dump"
    cmp -s "$WORK/$2.dump" "$WORK/$3.dump" || fail "$1: pg_dump differs: $(diff "$WORK/$2.dump" "$WORK/$3.dump" | head -20)"
    [ "$(wc -l <"$WORK/$2.dump")" -gt "$4" ] || fail "$1: the dump is too short to prove anything"
}
for d in "$A" "$B" "$C"; do createdb "$d"; done

# 1. the offline SQL, imported
(cd "$PROJECT" && "$PY" -m alembic -c alembic.ini upgrade base:head --sql) >"$WORK/up.sql"
(cd "$PROJECT" && "$PY" -m alembic -c alembic.ini downgrade head:base --sql) >"$WORK/down.sql"
grep -q '^-- Running upgrade d4, f6 -> g7$' "$WORK/up.sql" || fail "Alembic's offline SQL lacks the merge marker"
"$DBM" --dir "$WORK/m" import-alembic "$WORK/up.sql" "$WORK/down.sql" >"$WORK/import.out"
grep -q '^Imported 10 revisions into .*/m/ (0 irreversible, 1 non-transactional)$' "$WORK/import.out" ||
    fail "import: $(cat "$WORK/import.out")"
[ "$(ls "$WORK/m" | tr '\n' ' ')" = "0001_a1.sql 0002_b2.sql 0003_e5.sql 0004_f6.sql 0005_c3.sql 0006_d4.sql 0007_g7.sql 0008_h8.sql 0009_i9.sql 0010_j10.sql " ] ||
    fail "files: $(ls "$WORK/m")"
grep -qx -- '-- down_revision: d4, f6' "$WORK/m/0007_g7.sql" || fail "the merge's parents"
grep -qx -- '-- transactional: false' "$WORK/m/0009_i9.sql" || fail "autocommit_block: not transactional: false"
! grep -l 'alembic_version\|^BEGIN;\|^COMMIT;' "$WORK"/m/*.sql || fail "Alembic's bookkeeping kept"

# 2. deployed both ways, compared; then down to base both ways
psql -X -q -v ON_ERROR_STOP=1 -d "$A" -c "CREATE EXTENSION dbmigrate CASCADE" \
    -c "SELECT dbmigrate.migrate_unregister('001_initial_migration')" >/dev/null 2>&1
"$DBM" -q -d "dbname=$A" --dir "$WORK/m" upgrade 2>"$WORK/a.err" || fail "dbmigrate upgrade: $(cat "$WORK/a.err")"
alembic "$B" upgrade head
same "upgrade head" "$A" "$B" 150
[ "$(rows "$A")" = "$(rows "$B")" ] && [ "$(rows "$A" | wc -l)" = 2 ] || fail "data migration: $(rows "$A") / $(rows "$B")"
"$DBM" -q -d "dbname=$A" --dir "$WORK/m" downgrade base 2>"$WORK/a.err" || fail "dbmigrate downgrade: $(cat "$WORK/a.err")"
alembic "$B" downgrade base
same "downgrade base" "$A" "$B" 10
[ -z "$(psql -X -At -d "$A" -c "SELECT string_agg(typname, ',') FROM pg_type WHERE typname IN ('mood', 'mood_old')")" ] ||
    fail "the enum survived the downgrade"

# 3. adoption at two branch heads, then on with dbmigrate
alembic "$C" upgrade d4
alembic "$C" upgrade f6
"$DBM" -d "dbname=$C" --dir "$WORK/m" stamp --from-alembic >"$WORK/stamp.out" 2>"$WORK/stamp.err" ||
    fail "stamp --from-alembic: $(cat "$WORK/stamp.err")"
grep -q "^Stamped database \"$C\": now at d4, f6 (no SQL ran)$" "$WORK/stamp.out" || fail "stamp: $(cat "$WORK/stamp.out")"
[ "$("$DBM" -d "dbname=$C" --dir "$WORK/m" current | sort | tr '\n' ' ')" = "d4 f6 " ] || fail "current after stamp: $("$DBM" -d "dbname=$C" --dir "$WORK/m" current)"
"$DBM" -q -d "dbname=$C" --dir "$WORK/m" upgrade 2>"$WORK/c.err" || fail "upgrade after stamp: $(cat "$WORK/c.err")"
alembic "$B" upgrade head
same "adopted, then upgraded" "$C" "$B" 150
echo "ok: Alembic's offline SQL imported; schema equal to Alembic's after upgrade, downgrade and adoption"

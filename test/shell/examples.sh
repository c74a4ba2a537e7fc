#!/usr/bin/env bash
# The team workflow from the README, through the command-line client: the
# revision files in examples/migrations deployed with `dbmigrate upgrade`
# (twice: the second is a no-op), seeded, downgraded to base and upgraded
# again; a copy of the folder with CRLF line ends and a UTF-8 BOM is the
# same set of revisions. Needs PGHOST/PGPORT/PGUSER and the built client
# (DBMIGRATE, default cli/dbmigrate).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
DBM="${DBMIGRATE:-$ROOT/cli/dbmigrate}"
DB="dbm_examples_$$"
WORK="$(mktemp -d)"
q() { psql -X -v ON_ERROR_STOP=1 -At -d "$DB" "$@"; }
fail() { echo "FAIL: $*"; exit 1; }
trap 'dropdb --if-exists "$DB" >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT

createdb "$DB"
cd "$WORK"
"$DBM" -d "dbname=$DB" --dir "$ROOT/examples/migrations" upgrade >upgrade.out || fail "upgrade: $(cat upgrade.out)"
grep -q '^Upgraded database ".*": 3 revisions in .* ms; now at 003_posts_published$' upgrade.out || fail "upgrade summary: $(cat upgrade.out)"
[ "$(q -c "SELECT string_agg(revision, ',' ORDER BY id) FROM dbmigrate.migrate_log()")" \
    = "001_initial_migration,002_create_posts,003_posts_published" ] || fail "upgrade order"
out="$("$DBM" -d "dbname=$DB" --dir "$ROOT/examples/migrations" upgrade)"
[ "$out" = "Nothing to upgrade: database \"$DB\" is at 003_posts_published" ] || fail "second upgrade: $out"

# the same files with CRLF line ends and a BOM: nothing new
mkdir crlf
for f in "$ROOT"/examples/migrations/*.sql; do
    { printf '\357\273\277'; sed 's/$/\r/' "$f"; } >"crlf/$(basename "$f")"
done
out="$("$DBM" -d "dbname=$DB" --dir crlf upgrade 2>&1)"
[ "$out" = "Nothing to upgrade: database \"$DB\" is at 003_posts_published" ] || fail "CRLF copy: $out"
"$DBM" -d "dbname=$DB" --dir crlf check >/dev/null || fail "CRLF copy: check"

"$DBM" -q -d "dbname=$DB" seed 2>/dev/null || fail "seed"
q -c "INSERT INTO posts (author_id, title, published_at) SELECT id, 'hello', now() FROM users WHERE username = 'admin'" >/dev/null
# the trigger from 003 (a dollar-quoted body with semicolons) works
if q -c "UPDATE posts SET published_at = NULL" >/dev/null 2>&1; then fail "trigger from 003 missing"; fi
"$DBM" -q -d "dbname=$DB" --dir "$ROOT/examples/migrations" downgrade base || fail "downgrade base"
[ -z "$(q -c "SELECT to_regclass('posts')")" ] || fail "posts survived downgrade"
[ -z "$("$DBM" -d "dbname=$DB" current 2>/dev/null)" ] || fail "current after downgrade base"
"$DBM" -q -d "dbname=$DB" --dir "$ROOT/examples/migrations" upgrade || fail "re-upgrade"
[ "$(q -c "SELECT dbmigrate.health()->>'status'")" = healthy ] || fail "health"
echo "examples: ok"

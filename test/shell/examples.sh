#!/usr/bin/env bash
# The team workflow from the README: revision files in examples/migrations,
# applied with psql -f (twice: the second time is a no-op), then upgraded,
# downgraded to base and upgraded again. Also checks that a file checked out
# with CRLF line endings registers as the same revision (checksum policy).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
DB="dbm_examples_$$"
q() { psql -X -v ON_ERROR_STOP=1 -At -d "$DB" "$@"; }
fail() { echo "FAIL: $*"; exit 1; }
trap 'dropdb --if-exists "$DB" >/dev/null 2>&1 || true' EXIT

createdb "$DB"
q -c "CREATE EXTENSION dbmigrate CASCADE" >/dev/null 2>&1
for pass in 1 2; do
    for f in "$ROOT"/examples/migrations/*.sql; do q -q -f "$f" >/dev/null 2>&1; done
done
[ "$(q -c "SELECT count(*) FROM dbmigrate.migrate_history()")" = 3 ] || fail "expected 3 revisions"

# CRLF copy of a file: same revision, no redefinition NOTICE
tmp="$(mktemp)"; sed 's/$/\r/' "$ROOT/examples/migrations/002_create_posts.sql" >"$tmp"
out="$(q -f "$tmp" 2>&1)"; rm -f "$tmp"
case "$out" in *redefined*) fail "CRLF copy redefined the revision: $out";; esac

[ "$(q -c "SELECT string_agg(u.revision, ',' ORDER BY u.n) FROM dbmigrate.migrate_upgrade() WITH ORDINALITY AS u(revision, message, duration, n)")" \
    = "001_initial_migration,002_create_posts,003_posts_published" ] || fail "upgrade order"
[ "$(q -c "SELECT * FROM dbmigrate.migrate_current()")" = 003_posts_published ] || fail "current"
q -c "SELECT dbmigrate.seed_users()" >/dev/null 2>&1
q -c "INSERT INTO posts (author_id, title, published_at) SELECT id, 'hello', now() FROM users WHERE username = 'admin'" >/dev/null
# the trigger from 003 (a dollar-quoted body with semicolons) works
if q -c "UPDATE posts SET published_at = NULL" >/dev/null 2>&1; then fail "trigger from 003 missing"; fi
[ "$(q -c "SELECT count(*) FROM dbmigrate.migrate_downgrade('base')")" = 3 ] || fail "downgrade base"
[ -z "$(q -c "SELECT to_regclass('posts')")" ] || fail "posts survived downgrade"
[ "$(q -c "SELECT count(*) FROM dbmigrate.migrate_upgrade()")" = 3 ] || fail "re-upgrade"
[ "$(q -c "SELECT dbmigrate.health()->>'status'")" = healthy ] || fail "health"
echo "examples: ok"

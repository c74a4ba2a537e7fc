#!/usr/bin/env bash
# The main job, on a fresh machine: install what is missing, build and install
# dbmigrate, start a throwaway PostgreSQL cluster in a temporary folder,
# CREATE EXTENSION dbmigrate CASCADE, upgrade, seed, show history and health,
# then the seed document's test flow (downgrade -1, upgrade head again) and
# the team workflow (revision files from examples/migrations applied with psql -f).
# The cluster keeps running so you can connect; `scripts/demo.sh stop` removes it.
# Environment: DBM_DEMO_PORT (default 55432), DBM_DEMO_DIR (default /tmp/dbmigrate-demo;
# a folder that exists must be empty or one this script made, see lib.sh).
source "$(dirname "$0")/lib.sh"

DIR="${DBM_DEMO_DIR:-/tmp/dbmigrate-demo}"
PORT="${DBM_DEMO_PORT:-55432}"
DB=dbmigrate_demo

# only a folder that start_cluster made (marker file) is stopped or removed
dbm_check_dir "$DIR" || exit 1

if [ "${1:-}" = "stop" ]; then
    ensure_packages
    stop_cluster "$DIR" || exit 1
    dbm_remove_dir "$DIR" || exit 1
    echo "stopped and removed the demo cluster in $DIR"
    exit 0
fi

ensure_packages
echo "== build and install dbmigrate"
build_and_install
echo "== throwaway cluster in $DIR on 127.0.0.1:$PORT"
start_cluster "$DIR" "$PORT"
createdb "$DB"

run() { psql -X -v ON_ERROR_STOP=1 -d "$DB" "$@"; }

run <<'SQL'
\echo '== CREATE EXTENSION dbmigrate CASCADE'
CREATE EXTENSION dbmigrate CASCADE;
\echo '== registered revisions (history) before upgrading'
SELECT revision, down_revisions, message, is_applied, is_head FROM dbmigrate.migrate_history();
\echo '== upgrade head'
SELECT revision, message FROM dbmigrate.migrate_upgrade();
\echo '== seed the default accounts (a second call inserts nothing)'
SELECT dbmigrate.seed_users() AS inserted;
SELECT dbmigrate.seed_users() AS inserted_again;
SELECT id, username, email, is_superuser, left(hashed_password, 7) AS bcrypt FROM users ORDER BY id;
\echo '== history and current'
SELECT revision, message, is_applied, is_current, applied_by FROM dbmigrate.migrate_history();
SELECT * FROM dbmigrate.migrate_current();
\echo '== health'
SELECT jsonb_pretty(dbmigrate.health());
\echo '== the seed document test flow: downgrade -1, then upgrade head again'
SELECT revision, message FROM dbmigrate.migrate_downgrade('-1');
SELECT count(*) AS current_revisions FROM dbmigrate.migrate_current();
SELECT to_regclass('users') AS users_table_after_downgrade;
SELECT revision, message FROM dbmigrate.migrate_upgrade('head');
SELECT * FROM dbmigrate.migrate_current();
SELECT dbmigrate.seed_users() AS reseeded;
SQL

echo "== team workflow: one revision file per migration, applied with psql -f"
for f in "$DBM_ROOT"/examples/migrations/*.sql; do
    echo "psql -f examples/migrations/$(basename "$f")"
    run -q -f "$f" >/dev/null
done
run <<'SQL'
SELECT revision, message FROM dbmigrate.migrate_upgrade();
\echo '== log (execution order)'
SELECT id, revision, operation, run_by FROM dbmigrate.migrate_log();
\echo '== health'
SELECT dbmigrate.health() ->> 'status' AS status, dbmigrate.health() -> 'current' AS current;
SQL

cat <<MSG

The demo database is still running. Connect with:
    psql -h 127.0.0.1 -p $PORT -U postgres $DB
Stop and remove it with:
    ${DBM_DEMO_DIR:+DBM_DEMO_DIR=$DIR }scripts/demo.sh stop
MSG

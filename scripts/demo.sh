#!/usr/bin/env bash
# The main job, on a fresh machine: install what is missing, build and install
# dbmigrate (the extension and the dbmigrate command), start a throwaway
# PostgreSQL cluster in a temporary folder, and run the seed document's flow
# with the command-line client: upgrade (which installs the extension), seed,
# current, history --verbose, downgrade -1, upgrade head, seed --reset; then
# the team workflow (the revision files of examples/migrations deployed with
# dbmigrate upgrade) and health.
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

DBM="$PGBIN/dbmigrate"
export DATABASE_URL="postgresql://postgres@127.0.0.1:$PORT/$DB"
step() { echo; echo "\$ dbmigrate $*"; "$DBM" "$@"; }

# a project folder, as a new user has one
mkdir -p "$DIR/project"
cd "$DIR/project"
step init
step upgrade                  # installs the extension, applies 001_initial_migration (users)
step seed                     # the four accounts
step seed                     # a second time: nothing to do
step current
step history --verbose
step downgrade -1             # the seed document's test flow: drop users ...
step upgrade head             # ... and create it again
step seed --reset

echo
echo "== team workflow: one revision file per migration, in migrations/"
cp "$DBM_ROOT"/examples/migrations/*.sql migrations/
ls migrations
step upgrade
step history
step check
echo
echo "== health"
psql -X -At -d "$DB" -c "SELECT jsonb_pretty(dbmigrate.health())"

cat <<MSG

The demo database is still running. Connect with:
    psql -h 127.0.0.1 -p $PORT -U postgres $DB
or use the client from its project folder:
    cd $DIR/project && DATABASE_URL=$DATABASE_URL $DBM history
Stop and remove it with:
    ${DBM_DEMO_DIR:+DBM_DEMO_DIR=$DIR }scripts/demo.sh stop
MSG

#!/usr/bin/env bash
# Differential test (CI sample): dbmigrate's revision-graph semantics against
# Alembic's own alembic.script.revision.RevisionMap on about 300 random graphs
# (mostly small, a few up to ~2,000 revisions), several starting states each,
# sampled targets (head, heads, ids, prefixes, +N, -N, <rev>+N, base, stamp).
# See test/differential/differential.py; `make differential` is the long run.
#
# Uses PGHOST/PGPORT/PGUSER from the environment; creates and drops its own
# database.  Needs Debian's python3-alembic and python3-psycopg2, hence
# /usr/bin/python3.  A disagreement prints its seed and a repro script;
# rerun one graph with: test/differential/differential.py --seed N --graphs 1 --max-size 2000
#   DBM_DIFF_GRAPHS (default 300), DBM_DIFF_SEED (default 20261202),
#   DBM_DIFF_JOBS (default 2: two graphs at a time, each job in a copy of
#   the database), DBM_DIFF_REPRO_DIR (default ${TMPDIR:-/tmp})
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
DB="dbm_differential_$$"
PY=/usr/bin/python3
trap 'dropdb --if-exists "$DB" >/dev/null 2>&1 || true' EXIT

"$PY" -c 'import alembic.script.revision, psycopg2' \
    || { echo "FAIL: $PY cannot import alembic and psycopg2 (python3-alembic, python3-psycopg2)"; exit 1; }
createdb "$DB"
"$PY" "$ROOT/test/differential/differential.py" --quiet \
    --graphs "${DBM_DIFF_GRAPHS:-300}" --seed "${DBM_DIFF_SEED:-20261202}" \
    --min-size 10 --max-size 2000 --jobs "${DBM_DIFF_JOBS:-2}" \
    --repro-dir "${DBM_DIFF_REPRO_DIR:-${TMPDIR:-/tmp}}" --dsn "dbname=$DB"

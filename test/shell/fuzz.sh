#!/usr/bin/env bash
#
# fuzz.sh: the CI sample of the SQL-level fuzz test (test/fuzz/fuzz.py).
#
# Calls every dbmigrate function with random and hostile values for each
# text / text[] argument (targets, revision ids, parents, messages, SQL
# bodies) against a mix of graphs (empty, chains, branches, merges, a few
# hundred revisions, partially applied), interleaved with valid calls, and
# a few segments that race read-only calls against a registering session.
# Fails on a crashed backend or lost connection, SQLSTATE XX000, an error
# without SQLSTATE, a failed call that changed dbmigrate's state, a read-only
# call that changed it, an impossible result or an inconsistent graph.
#
# Bounded: DBM_FUZZ_CALLS calls (default 6000) and at most DBM_FUZZ_SECONDS
# seconds (default 60), whichever comes first.  The seed is random unless
# DBM_FUZZ_SEED is set; it is printed, and every failure prints it with the
# function, the argument values and a repro file (under /tmp/dbm-fuzz-<seed>).
# `make fuzz` runs the long version (100,000 calls).
#
# Uses PGHOST/PGPORT/PGUSER from the environment (a superuser: it creates and
# drops its own database and reads the server log through SQL).  Exits 0 on
# success, non-zero on any finding.

set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
PY=/usr/bin/python3      # Debian's python3, which has python3-psycopg2

fail() {
    echo "FAIL (fuzz): $*" >&2
    exit 1
}

[ -x "$PY" ] || fail "$PY not found"
"$PY" -c "import psycopg2" 2>/dev/null || fail "psycopg2 is missing for $PY (apt-get install python3-psycopg2)"
psql -X -q -At -d postgres -c "SELECT 1" >/dev/null \
    || fail "cannot connect to PostgreSQL (PGHOST=${PGHOST:-} PGPORT=${PGPORT:-} PGUSER=${PGUSER:-})"

args=(--calls "${DBM_FUZZ_CALLS:-6000}" --time-limit "${DBM_FUZZ_SECONDS:-60}"
      --statement-timeout 20 --dbname "dbm_fuzz_ci_$$" --progress 1000)
[ -n "${DBM_FUZZ_SEED:-}" ] && args+=(--seed "$DBM_FUZZ_SEED")

"$PY" "$ROOT/test/fuzz/fuzz.py" "${args[@]}"
echo "fuzz: ok"

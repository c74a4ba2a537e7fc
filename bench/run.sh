#!/usr/bin/env bash
# bench/run.sh: dbmigrate against raw SQL, on a throwaway cluster.
#
# For each N in BENCH_SIZES it builds a chain of N revisions, each
# "CREATE TABLE t_i (id int primary key, v text)" (downgrade: DROP TABLE t_i),
# and times, alternating dbmigrate and raw SQL on fresh databases:
#   register   N x migrate_register()        vs N x INSERT into a plain table
#   upgrade    migrate_upgrade() base->head   vs psql -1 -f of the N CREATE TABLEs
#   downgrade  migrate_downgrade('base')      vs psql -1 -f of the N DROP TABLEs
#   cheap      N revisions of one INSERT each vs psql -1 -f of the N INSERTs
# then per-call latency of a no-op migrate_upgrade(), migrate_current(),
# migrate_history() and health() at head.  At the largest N it adds a branchy
# graph (N revisions, N/50 branch/merge pairs: register + upgrade) and the
# backend's memory during an upgrade.  Then two large cases (BENCH_BIG=0
# skips them): "biggraph", a 20,000-revision chain with 500 side branches
# joined by migrate_merge (register, upgrade against raw SQL, history, show,
# validate, health, merge of one head, downgrade to the middle and to base),
# and "bigtext", the backend's peak RSS registering and upgrading one
# revision of 1.8 million statements (bench/textmem.py).  Part "healthtext":
# health() and migrate_validate() at head over 300 revisions of 1 MB of
# stored text each (BENCH_BIG=0 leaves it out too).  See bench/README.md.
#
# Environment: BENCH_SIZES ("200 1000 10000"), BENCH_REPS (5 for N <= 1000,
# 3 above), BENCH_QUICK=1 (sizes 200 1000, 2 reps), BENCH_CALLS (50),
# BENCH_PARTS (all of "register updown cheap calls client branchy memory
# biggraph bigtext healthtext"), BENCH_BIG=0 (leave out biggraph, bigtext and
# healthtext), BENCH_BIG_N
# (20000; quick 2000), BENCH_BIG_EVERY (40), BENCH_BIG_REPS (as for N > 1000),
# BENCH_BIG_CALLS (10), BENCH_TEXT_STMTS (1800000; quick 180000),
# BENCH_HTEXT_REVS (300; quick 30), BENCH_HTEXT_KB (1024),
# BENCH_PYTHON (/usr/bin/python3, which has psycopg2),
# BENCH_DIR (/dev/shm/dbm-bench when /dev/shm has 6 GB free, else
# /tmp/dbm-bench), BENCH_PORT (55455), BENCH_KEEP=1 (leave the cluster
# running and its directory in place).  Assumes `make install` was done.

set -euo pipefail
export LC_ALL=C

BENCH_HOME="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../scripts/lib.sh
source "$BENCH_HOME/../scripts/lib.sh"

if [ "${BENCH_QUICK:-0}" = 1 ]; then
    SIZES="${BENCH_SIZES:-200 1000}"
    REPS_SMALL="${BENCH_REPS:-2}"
    REPS_LARGE="${BENCH_REPS:-2}"
else
    SIZES="${BENCH_SIZES:-200 1000 10000}"
    REPS_SMALL="${BENCH_REPS:-5}"
    REPS_LARGE="${BENCH_REPS:-3}"
fi
CALLS="${BENCH_CALLS:-50}"
# the large cases (biggraph, bigtext) run unless BENCH_BIG=0
if [ "${BENCH_BIG:-1}" = 0 ]; then
    PARTS="${BENCH_PARTS:-register updown cheap calls client branchy memory}"
else
    PARTS="${BENCH_PARTS:-register updown cheap calls client branchy memory biggraph bigtext healthtext}"
fi
# biggraph: a chain of BIG_N revisions where every BIG_EVERY-th one also has
# a side branch joined by migrate_merge; bigtext: one revision of TEXT_STMTS
# statements
if [ "${BENCH_QUICK:-0}" = 1 ]; then
    BIG_N="${BENCH_BIG_N:-2000}"
    TEXT_STMTS="${BENCH_TEXT_STMTS:-180000}"
    HTEXT_REVS="${BENCH_HTEXT_REVS:-30}"
else
    BIG_N="${BENCH_BIG_N:-20000}"
    TEXT_STMTS="${BENCH_TEXT_STMTS:-1800000}"
    HTEXT_REVS="${BENCH_HTEXT_REVS:-300}"
fi
# healthtext: HTEXT_REVS applied revisions of HTEXT_KB kB of text each
HTEXT_KB="${BENCH_HTEXT_KB:-1024}"
BIG_EVERY="${BENCH_BIG_EVERY:-40}"
BIG_REPS="${BENCH_BIG_REPS:-$REPS_LARGE}"
BIG_CALLS="${BENCH_BIG_CALLS:-10}"
# the system Python, which has psycopg2 (python3-psycopg2)
PYTHON="${BENCH_PYTHON:-/usr/bin/python3}"
# On tmpfs when there is room: creating and dropping 10,000 tables is file
# system work, and a disk shared with other jobs makes it noisy.
if [ -z "${BENCH_DIR:-}" ] && [ -d /dev/shm ] &&
    [ "$(df -Pk /dev/shm | awk 'NR == 2 { print $4 }')" -gt $((6 * 1024 * 1024)) ]; then
    BENCH_DIR=/dev/shm/dbm-bench
fi
DIR="${BENCH_DIR:-/tmp/dbm-bench}"
PORT="${BENCH_PORT:-55455}"
RESULTS="$BENCH_HOME/results"
MAXN="$(printf '%s\n' $SIZES | sort -n | tail -1)"

# Server settings for every run, raw and dbmigrate alike.  Up to 10,000
# tables are created or dropped in one transaction, so the lock table must
# hold that many locks (max_locks_per_transaction x max_connections);
# autovacuum is off and every timed run starts after a CHECKPOINT, so neither
# lands inside a measurement.
SETTINGS="max_locks_per_transaction = 4096
shared_buffers = 256MB
max_wal_size = 8GB
checkpoint_timeout = 1h
autovacuum = off"

ensure_packages
WORK="$DIR.work"
dbm_check_dir "$DIR"       # start_cluster refuses it too, but before WORK is made
dbm_claim_dir "$WORK"      # removed only if a previous run made it (marker file)
mkdir -p "$RESULTS"
SAMPLES="$WORK/samples.tsv"     # case N method rep ms
MEMORY="$WORK/memory.tsv"       # method key value, and method point total_bytes top_contexts
: >"$SAMPLES"
: >"$MEMORY"

# the library every session loads: a `make install` during the run would
# mix two builds in one table, so it is fingerprinted at start and end
SO="$("$PG_CONFIG" --pkglibdir)/dbmigrate.so"
so_print() { echo "$(sha256sum "$SO" | cut -c1-12), $(date -u -r "$SO" '+%Y-%m-%d %H:%M:%S UTC')"; }
SO_START="$(so_print)"

echo "== starting cluster in $DIR on port $PORT"
start_cluster "$DIR" "$PORT" "$SETTINGS"
export PGDATABASE=postgres
# on exit: remove the cluster (unless BENCH_KEEP=1), and say so loudly when
# the benchmark stopped on an error (a failed call or check)
on_exit() {
    local rc=$?
    if [ "${BENCH_KEEP:-0}" != 1 ]; then stop_cluster "$DIR"; dbm_remove_dir "$DIR"; dbm_remove_dir "$WORK"; fi
    if [ "$rc" -ne 0 ]; then echo "bench: FAILED (exit status $rc), see the error above; no report written" >&2; fi
}
trap on_exit EXIT

T0=$EPOCHREALTIME

psqlx() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
createdbx() { "$PGBIN/createdb" "$@"; }
dropdbx() { "$PGBIN/dropdb" --if-exists "$@"; }
checkpoint() { psqlx -d postgres -c CHECKPOINT >/dev/null; }
elapsed() { awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f s", b - a }'; }

# timed CMD...: run CMD (stdout discarded), set MS to its wall-clock time in ms
timed() {
    local t0 t1
    t0=$EPOCHREALTIME
    "$@" >/dev/null
    t1=$EPOCHREALTIME
    MS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) * 1000 }')
}

record() { printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" >>"$SAMPLES"; }

# dbm_call DB SQL: one dbmigrate call in its own session, NOTICEs off
dbm_call() {
    psqlx -d "$1" -c "SET client_min_messages = warning" -c "$2"
}

# expect_tables DB PATTERN COUNT: refuse to report timings of a run that did
# not do the work
expect_tables() {
    local got
    got=$(psqlx -At -d "$1" -c "SELECT count(*) FROM pg_catalog.pg_class
        WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace AND relname ~ '$2'")
    if [ "$got" != "$3" ]; then
        echo "bench: database $1 has $got tables matching $2, expected $3" >&2
        exit 1
    fi
}

expect_rows() {
    local got
    got=$(psqlx -At -d "$1" -c "$2")
    if [ "$got" != "$3" ]; then
        echo "bench: in $1, '$2' gave $got, expected $3" >&2
        exit 1
    fi
}

# ---------------------------------------------------------------- SQL files
# gen_chain N: register_N.sql, plain_N.sql (the same rows into a plain table),
# up_N.sql, down_N.sql, cheapreg_N.sql, cheapup_N.sql
gen_chain() {
    local n="$1"
    awk -v n="$n" -v w="$WORK" 'BEGIN {
        q = "\047"
        reg = w "/register_" n ".sql"; plain = w "/plain_" n ".sql"
        up = w "/up_" n ".sql"; down = w "/down_" n ".sql"
        creg = w "/cheapreg_" n ".sql"; cup = w "/cheapup_" n ".sql"
        for (i = 1; i <= n; i++) {
            id = sprintf("r%05d", i)
            parent = i == 1 ? "NULL" : sprintf("%sr%05d%s", q, i - 1, q)
            u = sprintf("CREATE TABLE t_%d (id int primary key, v text)", i)
            d = sprintf("DROP TABLE t_%d", i)
            printf "SELECT dbmigrate.migrate_register(%s%s%s, %s, %s%s%s, %s%s%s);\n",
                q, id, q, parent, q, u, q, q, d, q >reg
            printf "INSERT INTO plain_revision VALUES (%s%s%s, %s, %s%s%s, %s%s%s);\n",
                q, id, q, parent, q, u, q, q, d, q >plain
            printf "%s;\n", u >up
            cparent = i == 1 ? "NULL" : sprintf("%sc%05d%s", q, i - 1, q)
            printf "SELECT dbmigrate.migrate_register(%sc%05d%s, %s, %sINSERT INTO cheap VALUES (%d)%s, %sDELETE FROM cheap WHERE id = %d%s);\n",
                q, i, q, cparent, q, i, q, q, i, q >creg
            printf "INSERT INTO cheap VALUES (%d);\n", i >cup
        }
        for (i = n; i >= 1; i--)
            printf "DROP TABLE t_%d;\n", i >down
    }'
}

# gen_branchy N PAIRS: branchyreg_N.sql and branchyplain_N.sql.  PAIRS
# segments of N/PAIRS revisions: a chain, then a branch point with two
# children and a merge revision (two parents) joining them.  Every revision
# creates one table t_i, in the same order as up_N.sql.
gen_branchy() {
    local n="$1" pairs="$2"
    awk -v n="$n" -v pairs="$pairs" -v w="$WORK" 'BEGIN {
        q = "\047"
        reg = w "/branchyreg_" n ".sql"; plain = w "/branchyplain_" n ".sql"
        seg = n / pairs; i = 0; prev = "NULL"
        for (s = 0; s < pairs; s++) {
            for (k = 1; k <= seg; k++) {
                i++
                id = sprintf("b%05d", i)
                if (k == seg - 1)       # second child of the branch point
                    parents = bp
                else if (k == seg)      # the merge
                    parents = sprintf("ARRAY[%s%s%s, %s%s%s]", q, ca, q, q, cb, q)
                else
                    parents = prev
                if (k == seg - 2) { bp = prev; ca = id }
                if (k == seg - 1) cb = id
                u = sprintf("CREATE TABLE t_%d (id int primary key, v text)", i)
                d = sprintf("DROP TABLE t_%d", i)
                printf "SELECT dbmigrate.migrate_register(%s%s%s, %s, %s%s%s, %s%s%s);\n",
                    q, id, q, parents, q, u, q, q, d, q >reg
                printf "INSERT INTO plain_revision VALUES (%s%s%s, %s, %s%s%s, %s%s%s);\n",
                    q, id, q, (parents ~ /^ARRAY/ ? q "{" ca "," cb "}" q : parents), q, u, q, q, d, q >plain
                prev = q id q
            }
        }
    }'
}

# gen_probe N: probereg_N.sql and probeup_N.sql: the chain, where every
# N/10-th revision also records the backend's memory contexts in bench_mem
# (their sum, and the three largest, summed by context name).
gen_probe() {
    local n="$1"
    awk -v n="$n" -v w="$WORK" 'BEGIN {
        q = "\047"
        reg = w "/probereg_" n ".sql"; up = w "/probeup_" n ".sql"
        step = n / 10
        for (i = 1; i <= n; i++) {
            parent = i == 1 ? "NULL" : sprintf("%sp%05d%s", q, i - 1, q)
            u = sprintf("CREATE TABLE t_%d (id int primary key, v text)", i)
            if (i % step == 0)
                u = u sprintf("; INSERT INTO bench_mem SELECT %d, sum(total_bytes), (SELECT string_agg(name || %s %s || pg_size_pretty(b), %s, %s ORDER BY b DESC) FROM (SELECT name, sum(total_bytes) AS b FROM pg_backend_memory_contexts GROUP BY name ORDER BY b DESC LIMIT 3) AS top) FROM pg_backend_memory_contexts", i, q, q, q, q)
            e = u; gsub(q, q q, e)
            printf "SELECT dbmigrate.migrate_register(%sp%05d%s, %s, %s%s%s, %sDROP TABLE t_%d%s);\n",
                q, i, q, parent, q, e, q, q, i, q >reg
            printf "%s;\n", u >up
        }
    }'
}

# gen_big N EVERY: bigreg.sql, the registration of the large merge graph: a
# chain r000001..rN where every EVERY-th revision r_i also gets a side branch
# x_i from r_(i-1), the two joined by migrate_merge(ARRAY[r_i, x_i]) (its id
# caught with \gset: the parent of r_(i+1)).  Every revision is 'SELECT 1'
# both ways; merges are empty.  psql's \timing times each call, and
# "\echo merge" marks the merge calls in its output.  Also the raw side:
# bigup.sql (one SELECT 1 per revision), bigdownmid.sql and bigdownbase.sql
# (one per step of the two downgrades).
gen_big() {
    local n="$1" every="$2"
    awk -v n="$n" -v every="$every" -v w="$WORK" \
        -v total="$BIG_TOTAL" -v midsteps="$BIG_MIDSTEPS" 'BEGIN {
        q = "\047"
        reg = w "/bigreg.sql"
        print "SET client_min_messages = warning;" >reg
        print "\\o /dev/null" >reg
        print "\\timing on" >reg
        for (i = 1; i <= n; i++) {
            id = sprintf("r%06d", i)
            if (i == 1) parent = "NULL"
            else if ((i - 1) % every == 0) parent = ":" q "m" q
            else parent = sprintf("%sr%06d%s", q, i - 1, q)
            printf "SELECT dbmigrate.migrate_register(%s%s%s, %s, %sSELECT 1%s, %sSELECT 1%s);\n",
                q, id, q, parent, q, q, q, q >reg
            if (i % every == 0) {
                printf "SELECT dbmigrate.migrate_register(%sx%06d%s, %s, %sSELECT 1%s, %sSELECT 1%s);\n",
                    q, i, q, parent, q, q, q, q >reg
                print "\\echo merge" >reg
                printf "SELECT dbmigrate.migrate_merge(ARRAY[%s%s%s, %sx%06d%s]) AS m \\gset\n",
                    q, id, q, q, i, q >reg
            }
        }
        for (i = 1; i <= total; i++) print "SELECT 1;" >(w "/bigup.sql")
        for (i = 1; i <= midsteps; i++) print "SELECT 1;" >(w "/bigdownmid.sql")
        for (i = 1; i <= total - midsteps; i++) print "SELECT 1;" >(w "/bigdownbase.sql")
    }'
}

# ---------------------------------------------------------------- templates
# bench_base: the extension with an empty graph, plus the plain tables the
# raw runs write to.  Every timed database is a copy of a template.
echo "== preparing templates ($(elapsed))"
createdbx bench_base
psqlx -d bench_base >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION dbmigrate CASCADE;
SELECT dbmigrate.migrate_unregister('001_initial_migration');
CREATE TABLE plain_revision (revision text PRIMARY KEY, down_revision text,
                             upgrade_sql text NOT NULL, downgrade_sql text);
CREATE TABLE cheap (id int);
CREATE TABLE bench_mem (point int, total_bytes bigint, top_context text);
SQL

# reps_for N: repetitions at size N
reps_for() { if [ "$1" -le 1000 ]; then echo "$REPS_SMALL"; else echo "$REPS_LARGE"; fi; }

# register_tpl TEMPLATE FILE: a template database holding a registered graph
register_tpl() {
    createdbx -T bench_base "$1"
    psqlx -1 -d "$1" -f "$2" >/dev/null
}

# pair CASE N REP RAWFN DBMFN: run the raw and the dbmigrate measurement of
# one repetition, raw first on odd repetitions and dbmigrate first on even
# ones (ABBA), so neither side always runs right after the other.
pair() {
    local c="$1" n="$2" r="$3" rawfn="$4" dbmfn="$5"
    if [ $((r % 2)) -eq 1 ]; then
        "$rawfn" "$n" "$r"; record "$c" "$n" raw "$r" "$MS"
        "$dbmfn" "$n" "$r"; record "$c" "$n" dbmigrate "$r" "$MS"
    else
        "$dbmfn" "$n" "$r"; record "$c" "$n" dbmigrate "$r" "$MS"
        "$rawfn" "$n" "$r"; record "$c" "$n" raw "$r" "$MS"
    fi
}

# --- registration
reg_raw() {
    createdbx -T bench_base "b_plain"; checkpoint
    timed psqlx -1 -d b_plain -f "$WORK/plain_$1.sql"
    expect_rows b_plain "SELECT count(*) FROM plain_revision" "$1"
    dropdbx b_plain
}
reg_dbm() {
    createdbx -T bench_base "b_reg"; checkpoint
    timed psqlx -1 -d b_reg -f "$WORK/register_$1.sql"
    expect_rows b_reg "SELECT count(*) FROM dbmigrate.revision" "$1"
    dropdbx b_reg
}

# --- upgrade, then downgrade of the same database
up_raw() {
    createdbx -T "tpl_chain_$1" b_raw; checkpoint
    timed psqlx -1 -d b_raw -f "$WORK/up_$1.sql"
    expect_tables b_raw '^t_[0-9]+$' "$1"
}
up_dbm() {
    createdbx -T "tpl_chain_$1" b_dbm; checkpoint
    timed dbm_call b_dbm "SELECT count(*) FROM dbmigrate.migrate_upgrade()"
    expect_tables b_dbm '^t_[0-9]+$' "$1"
}
down_raw() {
    checkpoint
    timed psqlx -1 -d b_raw -f "$WORK/down_$1.sql"
    expect_tables b_raw '^t_[0-9]+$' 0
    dropdbx b_raw
}
down_dbm() {
    checkpoint
    timed dbm_call b_dbm "SELECT count(*) FROM dbmigrate.migrate_downgrade('base')"
    expect_tables b_dbm '^t_[0-9]+$' 0
    dropdbx b_dbm
}

# --- cheap statements
cheap_raw() {
    createdbx -T "tpl_cheap_$1" b_raw; checkpoint
    timed psqlx -1 -d b_raw -f "$WORK/cheapup_$1.sql"
    expect_rows b_raw "SELECT count(*) FROM cheap" "$1"
    dropdbx b_raw
}
cheap_dbm() {
    createdbx -T "tpl_cheap_$1" b_dbm; checkpoint
    timed dbm_call b_dbm "SELECT count(*) FROM dbmigrate.migrate_upgrade()"
    expect_rows b_dbm "SELECT count(*) FROM cheap" "$1"
    dropdbx b_dbm
}

# --- branchy graph
breg_raw() {
    createdbx -T bench_base b_plain; checkpoint
    timed psqlx -1 -d b_plain -f "$WORK/branchyplain_$1.sql"
    dropdbx b_plain
}
breg_dbm() {
    createdbx -T bench_base b_reg; checkpoint
    timed psqlx -1 -d b_reg -f "$WORK/branchyreg_$1.sql"
    expect_rows b_reg "SELECT count(*) FROM dbmigrate.migrate_heads()" 1
    dropdbx b_reg
}
bup_raw() {
    createdbx -T "tpl_branchy_$1" b_raw; checkpoint
    timed psqlx -1 -d b_raw -f "$WORK/up_$1.sql"
    expect_tables b_raw '^t_[0-9]+$' "$1"
    dropdbx b_raw
}
bup_dbm() {
    createdbx -T "tpl_branchy_$1" b_dbm; checkpoint
    timed dbm_call b_dbm "SELECT count(*) FROM dbmigrate.migrate_upgrade()"
    expect_tables b_dbm '^t_[0-9]+$' "$1"
    dropdbx b_dbm
}

# calls N DB NAME SQL: CALLS+1 calls of SQL in one fresh session; the first
# (cold: plans prepared, caches loaded) and the median of the others (warm),
# from psql's \timing (client round trip on loopback included).
calls() {
    local n="$1" db="$2" name="$3" sql="$4" f="$WORK/calls.sql" i times
    {
        echo "SET client_min_messages = warning;"
        echo "\\o /dev/null"
        echo "\\timing on"
        for i in $(seq 0 "$CALLS"); do echo "$sql;"; done
    } >"$f"
    times=$(psqlx -d "$db" -f "$f" | awk '/^Time:/ { print $2 }')
    [ "$(echo "$times" | wc -l)" -eq $((CALLS + 1)) ] || { echo "bench: \\timing output missing" >&2; exit 1; }
    i=0
    while read -r t; do
        if [ "$i" -eq 0 ]; then record "$name" "$n" cold 0 "$t"; else record "$name" "$n" warm "$i" "$t"; fi
        i=$((i + 1))
    done <<<"$times"
}


# ---------------------------------------------------------------- client
# The command-line client on the chain (part "client", N <= 1000): a folder
# of N migration files deployed with `dbmigrate upgrade` (registration
# included), against `psql -1 -f` of the raw SQL and `alembic upgrade head`
# of an Alembic project with the same SQL (op.execute), for up, no-op (a
# second deploy at head; raw: the N statements as CREATE TABLE IF NOT
# EXISTS) and down (to base).  Every tool on a fresh copy of bench_base.
CLI_BIN="$PGBIN/dbmigrate"
[ -x "$CLI_BIN" ] || CLI_BIN="$BENCH_HOME/../cli/dbmigrate"
gen_client() {
    local n="$1" d="$WORK/client_$1"
    mkdir -p "$d/migrations" "$d/alembic/versions"
    awk -v n="$n" -v d="$d" 'BEGIN {
        for (i = 1; i <= n; i++) {
            f = sprintf("%s/migrations/r%05d.sql", d, i)
            printf "-- revision: r%05d\n-- down_revision: %s\n-- migrate:up\nCREATE TABLE t_%d (id int primary key, v text);\n-- migrate:down\nDROP TABLE t_%d;\n",
                i, i == 1 ? "" : sprintf("r%05d", i - 1), i, i >f
            close(f)
            f = sprintf("%s/alembic/versions/r%05d.py", d, i)
            printf "from alembic import op\nrevision = \"r%05d\"\ndown_revision = %s\nbranch_labels = None\ndepends_on = None\n\n\ndef upgrade():\n    op.execute(\"CREATE TABLE t_%d (id int primary key, v text)\")\n\n\ndef downgrade():\n    op.execute(\"DROP TABLE t_%d\")\n",
                i, i == 1 ? "None" : sprintf("\"r%05d\"", i - 1), i, i >f
            close(f)
            printf "CREATE TABLE IF NOT EXISTS t_%d (id int primary key, v text);\n", i >(d "/noop.sql")
        }
    }'
    printf '[alembic]\nscript_location = %%(here)s\n' >"$d/alembic/alembic.ini"
    cat >"$d/alembic/env.py" <<'PY'
import os
from alembic import context
from sqlalchemy import create_engine, pool

with create_engine(os.environ["BENCH_ALEMBIC_URL"], poolclass=pool.NullPool).connect() as connection:
    context.configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()
PY
}
alembic_run() {	# alembic_run N DB ARGS...
    local n="$1" db="$2"; shift 2
    (cd "$WORK/client_$n/alembic" && BENCH_ALEMBIC_URL="postgresql://postgres@127.0.0.1:$PORT/$db" \
        "$PYTHON" -m alembic -c alembic.ini "$@")
}
# client_one N R TOOL: up, no-op and down with one tool, recorded
client_one() {
    local n="$1" r="$2" tool="$3" db="c_$3"
    createdbx -T bench_base "$db"; checkpoint
    for step in up noop down; do
        case "$tool:$step" in
            raw:up) timed psqlx -1 -d "$db" -f "$WORK/up_$n.sql" ;;
            raw:noop) timed psqlx -1 -d "$db" -c "SET client_min_messages = warning" -f "$WORK/client_$n/noop.sql" ;;
            raw:down) timed psqlx -1 -d "$db" -f "$WORK/down_$n.sql" ;;
            dbmigrate:up | dbmigrate:noop) timed "$CLI_BIN" -q -d "dbname=$db" --dir "$WORK/client_$n/migrations" upgrade ;;
            dbmigrate:down) timed "$CLI_BIN" -q -d "dbname=$db" --dir "$WORK/client_$n/migrations" downgrade base ;;
            alembic:up | alembic:noop) timed alembic_run "$n" "$db" upgrade head ;;
            alembic:down) timed alembic_run "$n" "$db" downgrade base ;;
        esac
        record "client_$step" "$n" "$tool" "$r" "$MS"
        if [ "$step" = down ]; then expect_tables "$db" '^t_[0-9]+$' 0; else expect_tables "$db" '^t_[0-9]+$' "$n"; fi
        checkpoint
    done
    dropdbx "$db"
}

# ---------------------------------------------------------------- runs
# want PART: whether BENCH_PARTS asks for PART
want() { case " $PARTS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

for n in $SIZES; do
    reps=$(reps_for "$n")
    echo "== N = $n: generating SQL, registering templates ($(elapsed))"
    gen_chain "$n"
    if want updown || want calls; then register_tpl "tpl_chain_$n" "$WORK/register_$n.sql"; fi
    if want cheap; then register_tpl "tpl_cheap_$n" "$WORK/cheapreg_$n.sql"; fi

    if want register; then
        echo "== N = $n: register, $reps repetitions ($(elapsed))"
        for r in $(seq 1 "$reps"); do pair register "$n" "$r" reg_raw reg_dbm; done
    fi

    if want updown; then
        echo "== N = $n: upgrade and downgrade, $reps repetitions ($(elapsed))"
        for r in $(seq 1 "$reps"); do
            pair upgrade "$n" "$r" up_raw up_dbm
            pair downgrade "$n" "$r" down_raw down_dbm
        done
    fi

    if want cheap; then
        echo "== N = $n: cheap statements, $reps repetitions ($(elapsed))"
        for r in $(seq 1 "$reps"); do pair cheap "$n" "$r" cheap_raw cheap_dbm; done
        dropdbx "tpl_cheap_$n"
    fi

    if want calls; then
        echo "== N = $n: calls at head, $CALLS each ($(elapsed))"
        createdbx -T "tpl_chain_$n" b_head
        # health() with all N revisions pending (registered, none applied)
        calls "$n" b_head "health_pending" "SELECT pg_catalog.length(dbmigrate.health()::text)"
        expect_rows b_head "SELECT dbmigrate.health()->>'pending'" "$n"
        dbm_call b_head "SELECT count(*) FROM dbmigrate.migrate_upgrade()" >/dev/null
        checkpoint
        # first as registration and upgrade left the tables (no vacuum has run:
        # what a deploy sees right away), then after VACUUM ANALYZE
        for state in "" _vac; do
            if [ "$state" = _vac ]; then
                psqlx -d b_head -c "VACUUM ANALYZE dbmigrate.revision, dbmigrate.version, dbmigrate.log"
                checkpoint
            fi
            calls "$n" b_head "noop_upgrade$state" "SELECT count(*) FROM dbmigrate.migrate_upgrade()"
            calls "$n" b_head "current$state" "SELECT count(*) FROM dbmigrate.migrate_current()"
            calls "$n" b_head "history$state" "SELECT count(*) FROM dbmigrate.migrate_history()"
            calls "$n" b_head "health$state" "SELECT pg_catalog.length(dbmigrate.health()::text)"
        done
        expect_rows b_head "SELECT dbmigrate.health()->>'status'" healthy
        dropdbx b_head
    fi
    if want updown || want calls; then dropdbx "tpl_chain_$n"; fi
done

# the client against raw SQL and Alembic (N <= 1000: Alembic is slow)
if want client; then
    for n in $SIZES; do
        [ "$n" -le 1000 ] || continue
        reps=$(reps_for "$n")
        echo "== N = $n: client (dbmigrate upgrade) against psql -1 -f and alembic, $reps repetitions ($(elapsed))"
        [ -s "$WORK/up_$n.sql" ] || gen_chain "$n"
        gen_client "$n"
        for r in $(seq 1 "$reps"); do
            if [ $((r % 2)) -eq 1 ]; then order="raw dbmigrate alembic"; else order="alembic dbmigrate raw"; fi
            for tool in $order; do client_one "$n" "$r" "$tool"; done
        done
    done
fi

# branchy graph at the largest N: N/50 branch/merge pairs
if want branchy; then
    PAIRS=$((MAXN / 50))
    reps=$(reps_for "$MAXN")
    echo "== branchy: $MAXN revisions, $PAIRS branch/merge pairs, $reps repetitions ($(elapsed))"
    gen_branchy "$MAXN" "$PAIRS"
    [ -f "$WORK/up_$MAXN.sql" ] || gen_chain "$MAXN"
    register_tpl "tpl_branchy_$MAXN" "$WORK/branchyreg_$MAXN.sql"
    expect_rows "tpl_branchy_$MAXN" "SELECT count(*) FROM dbmigrate.migrate_history() WHERE is_merge_point" "$PAIRS"
    for r in $(seq 1 "$reps"); do pair branchy_register "$MAXN" "$r" breg_raw breg_dbm; done
    for r in $(seq 1 "$reps"); do pair branchy_upgrade "$MAXN" "$r" bup_raw bup_dbm; done
    dropdbx "tpl_branchy_$MAXN"
fi

# memory during an upgrade of MAXN revisions: memory contexts every MAXN/10
# steps (from inside the migration SQL), peak RSS before and after
vm_sql="SELECT pg_catalog.regexp_replace(pg_catalog.pg_read_file('/proc/' || pg_catalog.pg_backend_pid() || '/status'), '.*VmHWM:\\s*(\\d+) kB.*', '\\1')"
anon_sql="SELECT pg_catalog.regexp_replace(pg_catalog.pg_read_file('/proc/' || pg_catalog.pg_backend_pid() || '/status'), '.*RssAnon:\\s*(\\d+) kB.*', '\\1')"
mem_run() {
    local method="$1" db="$2" run="$3" out
    out=$(psqlx -At -d "$db" <<SQL
SET client_min_messages = warning;
$vm_sql;
$run;
$vm_sql;
$anon_sql;
SQL
)
    # lines: peak before, (dbmigrate: the step count), peak after, anonymous RSS after
    # shellcheck disable=SC2086
    set -- $(echo "$out" | grep -E '^[0-9]+$' | tr '\n' ' ')
    if [ "$method" = raw ]; then
        printf '%s\tvmhwm_before_kb\t%s\n%s\tvmhwm_after_kb\t%s\n%s\trssanon_after_kb\t%s\n' \
            "$method" "$1" "$method" "$2" "$method" "$3" >>"$MEMORY"
    else
        printf '%s\tvmhwm_before_kb\t%s\n%s\tvmhwm_after_kb\t%s\n%s\trssanon_after_kb\t%s\n' \
            "$method" "$1" "$method" "$3" "$method" "$4" >>"$MEMORY"
    fi
    psqlx -At -F $'\t' -d "$db" -c "SELECT '$method', point, total_bytes, top_context FROM bench_mem ORDER BY point" >>"$MEMORY"
}
if want memory; then
    echo "== memory: upgrade of $MAXN revisions ($(elapsed))"
    gen_probe "$MAXN"
    register_tpl tpl_probe "$WORK/probereg_$MAXN.sql"
    createdbx -T tpl_probe b_raw
    createdbx -T tpl_probe b_dbm
    checkpoint
    # the raw side runs the same statements from one transaction
    { echo "BEGIN;"; cat "$WORK/probeup_$MAXN.sql"; echo "COMMIT;"; } >"$WORK/probeup_tx.sql"
    mem_run raw b_raw "\\i $WORK/probeup_tx.sql"
    mem_run dbmigrate b_dbm "SELECT count(*) FROM dbmigrate.migrate_upgrade()"
    dropdbx b_raw
    dropdbx b_dbm
    dropdbx tpl_probe
fi

# ---------------------------------------------------------------- large cases
# timed_out FILE CMD...: like timed, with CMD's stdout kept in FILE
timed_out() {
    local out="$1" t0 t1
    shift
    t0=$EPOCHREALTIME
    "$@" >"$out"
    t1=$EPOCHREALTIME
    MS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) * 1000 }')
}

# dbm_val DB SQL: like dbm_call, unaligned tuples only (the value alone)
dbm_val() {
    psqlx -At -d "$1" -c "SET client_min_messages = warning" -c "$2"
}

# expect_dbm DB SQL VALUE: like expect_rows, NOTICEs off
expect_dbm() {
    local got
    got=$(dbm_val "$1" "$2")
    if [ "$got" != "$3" ]; then
        echo "bench: FAILED: in $1, '$2' gave '$got', expected '$3'" >&2
        exit 1
    fi
}

# expect_out FILE VALUE WHAT: the output of a timed dbmigrate call
expect_out() {
    if [ "$(cat "$1")" != "$2" ]; then
        echo "bench: FAILED: $3 gave '$(cat "$1")', expected '$2'" >&2
        exit 1
    fi
}

# --- the large merge graph (part biggraph)
BIG_MERGES=$((BIG_N / BIG_EVERY))
BIG_TOTAL=$((BIG_N + 2 * BIG_MERGES))
BIG_MID=$((BIG_N / 2 / BIG_EVERY * BIG_EVERY))      # downgrade target: the merge at r_MID
BIG_MIDSTEPS=$((BIG_N - BIG_MID + 2 * (BIG_MERGES - BIG_MID / BIG_EVERY)))

# bigreg_run DB REP: register the whole graph into DB (a fresh copy of
# bench_base) in one transaction; records the total and, from \timing, the
# mean of one migrate_register and of one migrate_merge call
bigreg_run() {
    local db="$1" r="$2" stats
    createdbx -T bench_base "$db"; checkpoint
    timed_out "$WORK/bigreg.out" psqlx -1 -d "$db" -f "$WORK/bigreg.sql"
    record big_register "$BIG_N" dbmigrate "$r" "$MS"
    # merges in order: the last tenth of them run on a graph of nearly full size
    stats=$(awk -v merges="$BIG_MERGES" '$0 == "merge" { m = 1; next }
        /^Time:/ {
            if (m) { ms += $2; mc++; m = 0; if (mc > merges - int(merges / 10)) { ls += $2; lc++ } }
            else { rs += $2; rc++ }
        }
        END { printf "%d %d %.4f %.4f %.4f", rc, mc, rc ? rs / rc : 0, mc ? ms / mc : 0, lc ? ls / lc : 0 }' "$WORK/bigreg.out")
    # shellcheck disable=SC2086
    set -- $stats
    if [ "$1" != $((BIG_N + BIG_MERGES)) ] || [ "$2" != "$BIG_MERGES" ]; then
        echo "bench: FAILED: psql's timing gave $1 register and $2 merge calls, expected $((BIG_N + BIG_MERGES)) and $BIG_MERGES" >&2
        exit 1
    fi
    record big_register_call "$BIG_N" dbmigrate "$r" "$3"
    record big_merge_call "$BIG_N" dbmigrate "$r" "$4"
    record big_merge_call_last "$BIG_N" dbmigrate "$r" "$5"
    expect_rows "$db" "SELECT count(*) FROM dbmigrate.revision" "$BIG_TOTAL"
    expect_rows "$db" "SELECT count(*) FROM dbmigrate.revision WHERE pg_catalog.cardinality(down_revisions) = 2" "$BIG_MERGES"
    expect_rows "$db" "SELECT count(*) FROM dbmigrate.migrate_heads()" 1
}

# upgrade base -> head, then downgrade to the middle merge, then to base;
# raw: the same number of SELECT 1 from psql -1 -f
bigup_raw() {
    createdbx -T tpl_big b_raw; checkpoint
    timed psqlx -1 -d b_raw -f "$WORK/bigup.sql"
}
bigup_dbm() {
    createdbx -T tpl_big b_dbm; checkpoint
    timed_out "$WORK/big.out" dbm_val b_dbm "SELECT count(*) FROM dbmigrate.migrate_upgrade()"
    expect_out "$WORK/big.out" "$BIG_TOTAL" "migrate_upgrade() of the $BIG_TOTAL-revision graph"
    expect_rows b_dbm "SELECT string_agg(c, ',') FROM dbmigrate.migrate_current() c" "$BIG_HEAD"
}
bigmid_raw() {
    checkpoint
    timed psqlx -1 -d b_raw -f "$WORK/bigdownmid.sql"
}
bigmid_dbm() {
    checkpoint
    timed_out "$WORK/big.out" dbm_val b_dbm "SELECT count(*) FROM dbmigrate.migrate_downgrade('$BIG_MIDREV')"
    expect_out "$WORK/big.out" "$BIG_MIDSTEPS" "migrate_downgrade('$BIG_MIDREV')"
    expect_rows b_dbm "SELECT string_agg(c, ',') FROM dbmigrate.migrate_current() c" "$BIG_MIDREV"
}
bigbase_raw() {
    checkpoint
    timed psqlx -1 -d b_raw -f "$WORK/bigdownbase.sql"
    dropdbx b_raw
}
bigbase_dbm() {
    checkpoint
    timed_out "$WORK/big.out" dbm_val b_dbm "SELECT count(*) FROM dbmigrate.migrate_downgrade('base')"
    expect_out "$WORK/big.out" $((BIG_TOTAL - BIG_MIDSTEPS)) "migrate_downgrade('base')"
    expect_rows b_dbm "SELECT count(*) FROM dbmigrate.version" 0
    dropdbx b_dbm
}

if want biggraph; then
    if [ "$BIG_MID" -lt "$BIG_EVERY" ]; then
        echo "bench: BENCH_BIG_N ($BIG_N) must be at least 2 x BENCH_BIG_EVERY ($BIG_EVERY)" >&2
        exit 1
    fi
    echo "== biggraph: $BIG_N-revision chain, $BIG_MERGES side branches and merges ($BIG_TOTAL revisions), $BIG_REPS repetitions ($(elapsed))"
    gen_big "$BIG_N" "$BIG_EVERY"
    # registration: the first repetition's database is the template of the rest
    for r in $(seq 1 "$BIG_REPS"); do
        echo "   register, repetition $r ($(elapsed))"
        if [ "$r" -eq 1 ]; then db=tpl_big; else db=b_bigreg; fi
        bigreg_run "$db" "$r"
        [ "$r" -eq 1 ] || dropdbx b_bigreg
    done
    BIG_HEAD=$(psqlx -At -d tpl_big -c "SELECT * FROM dbmigrate.migrate_heads()")
    BIG_MIDREV=$(psqlx -At -d tpl_big -c "SELECT revision FROM dbmigrate.revision
        WHERE down_revisions @> ARRAY[pg_catalog.format('r%s', pg_catalog.lpad('$BIG_MID', 6, '0'))]")
    if [ -z "$BIG_HEAD" ] || [ -z "$BIG_MIDREV" ]; then
        echo "bench: FAILED: no head or middle merge in tpl_big" >&2
        exit 1
    fi
    for r in $(seq 1 "$BIG_REPS"); do
        echo "   upgrade and downgrades, repetition $r ($(elapsed))"
        pair big_upgrade "$BIG_N" "$r" bigup_raw bigup_dbm
        pair big_down_mid "$BIG_N" "$r" bigmid_raw bigmid_dbm
        pair big_down_base "$BIG_N" "$r" bigbase_raw bigbase_dbm
    done

    echo "   calls at head, $BIG_CALLS each ($(elapsed))"
    createdbx -T tpl_big b_head
    expect_dbm b_head "SELECT count(*) FROM dbmigrate.migrate_upgrade()" "$BIG_TOTAL"
    checkpoint
    # every call checked once before it is timed
    expect_dbm b_head "SELECT count(*) FROM dbmigrate.migrate_history()" "$BIG_TOTAL"
    expect_dbm b_head "SELECT count(*) FROM dbmigrate.migrate_history() WHERE is_merge_point" "$BIG_MERGES"
    expect_dbm b_head "SELECT revision FROM dbmigrate.migrate_show('head')" "$BIG_HEAD"
    expect_dbm b_head "SELECT count(*) FROM dbmigrate.migrate_validate()" 0
    expect_dbm b_head "SELECT dbmigrate.health()->>'status'" healthy
    expect_dbm b_head "SELECT dbmigrate.migrate_merge('{heads}')" "$BIG_HEAD"
    calls_saved=$CALLS
    CALLS=$BIG_CALLS
    for state in "" _vac; do
        if [ "$state" = _vac ]; then
            psqlx -d b_head -c "VACUUM ANALYZE dbmigrate.revision, dbmigrate.version, dbmigrate.log"
            checkpoint
        fi
        calls "$BIG_N" b_head "big_history$state" "SELECT count(*) FROM dbmigrate.migrate_history()"
        calls "$BIG_N" b_head "big_show$state" "SELECT count(*) FROM dbmigrate.migrate_show('head')"
        calls "$BIG_N" b_head "big_validate$state" "SELECT count(*) FROM dbmigrate.migrate_validate()"
        calls "$BIG_N" b_head "big_health$state" "SELECT pg_catalog.length(dbmigrate.health()::text)"
        calls "$BIG_N" b_head "big_merge_heads$state" "SELECT dbmigrate.migrate_merge('{heads}')"
    done
    CALLS=$calls_saved
    expect_dbm b_head "SELECT count(*) FROM dbmigrate.revision" "$BIG_TOTAL"
    expect_dbm b_head "SELECT dbmigrate.health()->>'status'" healthy
    dropdbx b_head
    dropdbx tpl_big
fi

# --- one revision of TEXT_STMTS small statements (part bigtext): the
# backend's peak RSS during registration and upgrade, next to a plain INSERT
# of the same text (bench/textmem.py)
TEXTMEM="$WORK/textmem.tsv"
: >"$TEXTMEM"
if want bigtext; then
    echo "== bigtext: one revision of $TEXT_STMTS statements ($(elapsed))"
    createdbx -T bench_base b_text
    psqlx -d b_text -c "CREATE TABLE t (id int); CREATE TABLE blob (v text)"
    checkpoint
    "$PYTHON" "$BENCH_HOME/textmem.py" b_text "$TEXT_STMTS" >"$TEXTMEM" \
        || { echo "bench: FAILED: bench/textmem.py" >&2; exit 1; }
    [ "$(wc -l <"$TEXTMEM")" -eq 3 ] || { echo "bench: FAILED: textmem.py gave no result" >&2; exit 1; }
    dropdbx b_text
fi

# --- health() over a lot of stored text (part healthtext): HTEXT_REVS
# applied revisions of HTEXT_KB kB each (a SELECT of one dollar-quoted
# literal of md5 hex digits, so that the text does not compress to nothing),
# health() and migrate_validate() at head.  health() must not read the text;
# migrate_validate() re-hashes all of it (what health() did in 1.0).
if want healthtext; then
    echo "== healthtext: $HTEXT_REVS revisions of $HTEXT_KB kB of text ($(elapsed))"
    createdbx -T bench_base b_htext
    psqlx -d b_htext >/dev/null <<SQL
SET client_min_messages = warning;
SELECT count(dbmigrate.migrate_register(
           'h' || pg_catalog.lpad(i::text, 5, '0'),
           CASE WHEN i > 1 THEN 'h' || pg_catalog.lpad((i - 1)::text, 5, '0') END,
           'SELECT pg_catalog.length(\$t\$' ||
               (SELECT pg_catalog.string_agg(pg_catalog.md5((i * 1000000 + j)::text), '')
                  FROM pg_catalog.generate_series(1, $HTEXT_KB * 32) j) || '\$t\$)',
           'SELECT 1'))
  FROM pg_catalog.generate_series(1, $HTEXT_REVS) i;
SELECT count(*) FROM dbmigrate.migrate_upgrade();
SQL
    expect_rows b_htext "SELECT count(*) FROM dbmigrate.migrate_current()" 1
    expect_rows b_htext "SELECT dbmigrate.health()->>'status'" healthy
    expect_rows b_htext "SELECT sum(pg_catalog.octet_length(upgrade_sql)) >= $HTEXT_REVS::bigint * $HTEXT_KB * 1024 FROM dbmigrate.revision" t
    HTEXT_MB=$(psqlx -At -d b_htext -c "SELECT pg_catalog.round(sum(pg_catalog.octet_length(upgrade_sql)) / 1048576.0, 1) FROM dbmigrate.revision")
    checkpoint
    calls_saved=$CALLS
    for state in "" _vac; do
        if [ "$state" = _vac ]; then
            psqlx -d b_htext -c "VACUUM ANALYZE dbmigrate.revision, dbmigrate.version, dbmigrate.log"
            checkpoint
        fi
        CALLS=$calls_saved
        calls "$HTEXT_REVS" b_htext "htext_health$state" "SELECT pg_catalog.length(dbmigrate.health()::text)"
        CALLS=2
        calls "$HTEXT_REVS" b_htext "htext_validate$state" "SELECT count(*) FROM dbmigrate.migrate_validate()"
    done
    CALLS=$calls_saved
    # both see a changed text: health() from the checksum kept by the trigger
    psqlx -d b_htext -c "UPDATE dbmigrate.revision SET upgrade_sql = upgrade_sql || '--' WHERE revision = 'h00001'" >/dev/null
    expect_rows b_htext "SELECT dbmigrate.health()->>'status'" unhealthy
    expect_rows b_htext "SELECT string_agg(revision, ',') FROM dbmigrate.migrate_validate()" h00001
    dropdbx b_htext
fi

# ---------------------------------------------------------------- report
echo "== report ($(elapsed))"
PGVERSION=$(psqlx -At -c "SHOW server_version")
JIT=$(psqlx -At -c "SELECT current_setting('jit') || ' (jit_above_cost ' || current_setting('jit_above_cost') || ')'")
EXTVERSION=$(grep default_version "$BENCH_HOME/../dbmigrate.control" | sed -e "s/.*'\(.*\)'.*/\1/")
COMMIT=$(git -C "$BENCH_HOME/.." describe --always --dirty 2>/dev/null || echo unknown)
SO_END="$(so_print)"
SO_NOTE=""
if [ "$SO_START" != "$SO_END" ]; then
    SO_NOTE="**dbmigrate.so changed during the run** (at start: $SO_START): the timings mix two builds."
    echo "bench: WARNING: dbmigrate.so changed during the run ($SO_START -> $SO_END)" >&2
fi
CPU=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
RAM=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
TOTAL=$(elapsed)

mkdir -p "$RESULTS"
REPORT="$RESULTS/latest.md"
cp "$SAMPLES" "$RESULTS/latest-samples.tsv"
{
    echo "# dbmigrate benchmark"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), dbmigrate $EXTVERSION (work tree $COMMIT; installed dbmigrate.so"
    echo "sha256 $SO_END), sizes: $SIZES, parts: $PARTS,"
    if want biggraph; then echo "large merge graph: $BIG_N chain revisions, a merge every $BIG_EVERY, $BIG_REPS repetitions, $BIG_CALLS calls per latency,"; fi
    if want bigtext; then echo "large text: $TEXT_STMTS statements,"; fi
    if want healthtext; then echo "health over stored text: $HTEXT_REVS revisions of $HTEXT_KB kB,"; fi
    echo "repetitions: $REPS_SMALL (N <= 1000) / $REPS_LARGE (N > 1000), $CALLS calls per latency, total $TOTAL."
    echo
    [ -z "$SO_NOTE" ] || { echo "$SO_NOTE"; echo; }
    echo "Machine: $(nproc) CPUs, $CPU, $RAM RAM; PostgreSQL $PGVERSION; jit $JIT."
    echo "Cluster in $DIR ($(df -PT "$DIR" | awk 'NR == 2 { print $2 }')); settings (raw and dbmigrate alike): fsync, synchronous_commit and full_page_writes off,"
    echo "$(echo "$SETTINGS" | tr '\n' ',' | sed -e 's/,$//' -e 's/,/, /g'); a CHECKPOINT before every timed run."
    echo
    sort -t $'\t' -k1,1 -k2,2n -k3,3 -k5,5g "$SAMPLES" | awk -F '\t' -v maxn="$MAXN" \
        -v bign="$BIG_N" -v bigmerges="$BIG_MERGES" -v bigtotal="$BIG_TOTAL" -v bigmidsteps="$BIG_MIDSTEPS" \
        -v bigmidrev="${BIG_MIDREV:-}" -v bigcalls="$BIG_CALLS" \
        -v htextrevs="$HTEXT_REVS" -v htextkb="$HTEXT_KB" -v htextmb="${HTEXT_MB:-}" \
        -f "$BENCH_HOME/report.awk"
    if want client; then
        echo "## The command-line client: files deployed with dbmigrate upgrade"
        echo
        echo "N migration files deployed with \`dbmigrate upgrade\` (registration included; no-op: the same"
        echo "command at head; down: \`dbmigrate downgrade base\`), against \`psql -1 -f\` of the raw SQL (no-op:"
        echo "the N statements as CREATE TABLE IF NOT EXISTS) and \`alembic upgrade head\` / \`downgrade base\`"
        echo "of an Alembic project with the same SQL (psycopg2). Medians in ms; targets: dbmigrate / raw"
        echo "<= 1.1, alembic / dbmigrate >= 5."
        echo
        echo "| run | N | raw | dbmigrate | alembic | dbmigrate / raw | alembic / dbmigrate |"
        echo "|---|---:|---:|---:|---:|---:|---:|"
        awk -F '\t' '$1 ~ /^client_/ { v[$1 SUBSEP $2 SUBSEP $3] = v[$1 SUBSEP $2 SUBSEP $3] " " $5; ns[$2] = 1 }
            function median(s,   a, k, i, j, t) {
                k = split(s, a, " ")
                for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
                return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
            }
            END {
                split("up noop down", steps, " ")
                for (n in ns) for (s = 1; s <= 3; s++) {
                    c = "client_" steps[s]
                    raw = median(v[c, n, "raw"]); dbm = median(v[c, n, "dbmigrate"]); alc = median(v[c, n, "alembic"])
                    printf "| %s | %d | %.1f | %.1f | %.1f | %.2f | %.1f |\n", steps[s], n, raw, dbm, alc,
                        (raw > 0 ? dbm / raw : 0), (dbm > 0 ? alc / dbm : 0)
                }
            }' "$SAMPLES" | sort -t '|' -k3,3n -k2,2
        echo
    fi
    # every section above and below ends with a blank line
    if [ -s "$TEXTMEM" ]; then
        awk -F '\t' '
            { op[$1] = 1; bytes = $2; before[$1] = $3; peak[$1] = $4; shm[$1] = $5; anon[$1] = $6; ms[$1] = $7 }
            END {
                mb = bytes / 1048576
                printf "## Backend peak memory for one revision of %.1f MB (%s statements)\n\n", mb, stmts
                print "One call on a fresh connection each; the text is sent as a query parameter by psycopg2 (a"
                print "literal in the query) for both the baseline and the registration. Peak = VmHWM of the backend"
                print "after the call, read from /proc by bench/textmem.py; it includes the shared buffers the backend"
                print "touched (RssShmem after the call). Private peak = the largest RssAnon sampled every 20 ms during"
                print "the call. Ratios: peak / text size, peak / the plain INSERT'"'"'s peak."
                print ""
                print "| call | ms | VmHWM before | peak (VmHWM) | shared touched (RssShmem after) | private peak (sampled) | peak / text | peak / baseline |"
                print "|---|---:|---:|---:|---:|---:|---:|---:|"
                n = split("baseline register upgrade", o, " ")
                lbl["baseline"] = "baseline: INSERT INTO blob VALUES ($1)"
                lbl["register"] = "migrate_register(..., $1, ...)"
                lbl["upgrade"] = "migrate_upgrade() of it (fresh connection)"
                for (i = 1; i <= n; i++) {
                    if (!(o[i] in op)) continue
                    p = peak[o[i]]
                    printf "| %s | %.0f | %.1f MB | %.1f MB | %.1f MB | %.1f MB | %.2f | %.2f |\n", lbl[o[i]], ms[o[i]],
                        before[o[i]] / 1024, p / 1024, shm[o[i]] / 1024, anon[o[i]] / 1024,
                        p / 1024 / mb, (peak["baseline"] > 0 ? p / peak["baseline"] : 0)
                }
            }' stmts="$TEXT_STMTS" "$TEXTMEM"
        echo
    fi
    if [ -s "$MEMORY" ]; then
        echo "## Backend memory during an upgrade of $MAXN revisions"
        echo
        echo "Memory contexts (pg_backend_memory_contexts, summed) recorded by the migration SQL itself every"
        echo "$((MAXN / 10)) steps, raw = the same statements from psql in one transaction; peak RSS (VmHWM,"
        echo "includes shared buffers the backend touched) read from /proc before and after."
        echo
        awk -F '\t' -f "$BENCH_HOME/memory.awk" "$MEMORY"
    fi
} >"$REPORT"

cat "$REPORT"
echo
echo "written: $REPORT (samples: $RESULTS/latest-samples.tsv)"

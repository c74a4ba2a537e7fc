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
# backend's memory during an upgrade.  See bench/README.md.
#
# Environment: BENCH_SIZES ("200 1000 10000"), BENCH_REPS (5 for N <= 1000,
# 3 above), BENCH_QUICK=1 (sizes 200 1000, 2 reps), BENCH_CALLS (50),
# BENCH_PARTS (all of "register updown cheap calls branchy memory"),
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
PARTS="${BENCH_PARTS:-register updown cheap calls branchy memory}"
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
rm -rf "$WORK"
mkdir -p "$WORK" "$RESULTS"
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
if [ "${BENCH_KEEP:-0}" != 1 ]; then
    trap 'stop_cluster "$DIR"; rm -rf "$DIR" "$WORK"' EXIT
fi

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
    dropdbx "tpl_chain_$n"
done

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
    echo "repetitions: $REPS_SMALL (N <= 1000) / $REPS_LARGE (N > 1000), $CALLS calls per latency, total $TOTAL."
    echo
    [ -z "$SO_NOTE" ] || { echo "$SO_NOTE"; echo; }
    echo "Machine: $(nproc) CPUs, $CPU, $RAM RAM; PostgreSQL $PGVERSION; jit $JIT."
    echo "Cluster in $DIR ($(df -PT "$DIR" | awk 'NR == 2 { print $2 }')); settings (raw and dbmigrate alike): fsync, synchronous_commit and full_page_writes off,"
    echo "$(echo "$SETTINGS" | tr '\n' ',' | sed -e 's/,$//' -e 's/,/, /g'); a CHECKPOINT before every timed run."
    echo
    sort -t $'\t' -k1,1 -k2,2n -k3,3 -k5,5g "$SAMPLES" | awk -F '\t' -v maxn="$MAXN" -f "$BENCH_HOME/report.awk"
    echo
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

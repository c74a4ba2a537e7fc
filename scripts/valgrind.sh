#!/usr/bin/env bash
# Runs dbmigrate's suites against a server running under valgrind (memcheck)
# in its own throwaway cluster, then lets scripts/valgrind-gate.sh judge the
# logs: it fails on any memcheck error with a frame of dbmigrate's code in
# its stacks, and on "definitely lost" blocks allocated there.  Stock Debian
# PostgreSQL is not built with USE_VALGRIND, so this catches invalid reads
# and writes and uses of uninitialised memory, not misuse of palloc'd chunks;
# scripts/valgrind.supp silences the stock server's own known reports, and
# other reports that do not involve dbmigrate are listed but not fatal.
# Suites (each one's failure fails the run, after the gate):
#   1. pg_regress: REGRESS from the Makefile (sql/ -> expected/)
#   2. the isolation specs: ISOLATION from the Makefile (specs/ -> expected/)
#   3. pgTAP: test/*.sql through pg_prove
#   4. test/differential/differential.py with a small sample, if it exists
# Uses the installed build (PGXS builds with -g); run "make install" first.
# Environment: DBM_VG_PORT (default 55434), DBM_VG_DIR (default: a new temp
#   dir; kept, with the logs in vg/), DBM_VG_TESTS (pg_regress tests, default
#   all of REGRESS), DBM_VG_ISOLATION (specs, default all of ISOLATION),
#   DBM_VG_ISOLATION_SKIP (default "lock_retry lock_timeout run_lock_timeout"),
#   DBM_VG_SUITES (default "regress isolation pgtap differential"; "none" runs
#   none), DBM_VG_JOBS (default 2: pg_regress alongside the other suites; 1:
#   one after the other),
#   DBM_VG_DIFF_ARGS (default "--graphs 10 --max-size 2000 --seed 20261202").
source "$(dirname "$0")/lib.sh"
set +e

if [ -n "${DBM_VG_DIR:-}" ]; then dbm_check_dir "$DBM_VG_DIR" || exit 1; fi
ensure_packages
if ! command -v valgrind >/dev/null; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null || exit 1
fi
cd "$DBM_ROOT" || exit 1
[ -f "$("$PG_CONFIG" --pkglibdir)/dbmigrate.so" ] || build_and_install || exit 1

DIR="${DBM_VG_DIR:-$(mktemp -d /tmp/dbmigrate-valgrind.XXXXXX)}"
PORT="${DBM_VG_PORT:-55434}"
SUITES="${DBM_VG_SUITES:-regress isolation pgtap differential}"
[ "$SUITES" != none ] || SUITES=""
T0=$SECONDS
# a small shared_buffers: valgrind's leak check scans each process's
# mappings at exit, the shared memory segment included
start_cluster "$DIR" "$PORT" "shared_buffers = 16MB" || exit 1
stop_cluster "$DIR"
mkdir -p "$DIR/vg" "$DIR/out"
[ "$(cluster_user)" = "$(id -un)" ] || chown "$(cluster_user)" "$DIR/vg" "$DIR/out"

# --fullpath-after= prints source paths in full, so dbmigrate's src/catalog.c
# cannot be mistaken for the server's catalog/catalog.c (see the gate)
as_cluster_user valgrind --quiet --trace-children=yes --num-callers=30 \
    --leak-check=full --show-leak-kinds=definite --fullpath-after= \
    --suppressions="$DBM_ROOT/scripts/valgrind.supp" \
    --log-file="$DIR/vg/%p.log" \
    "$PGBIN/postgres" -D "$DIR/data" >"$DIR/server.log" 2>&1 &
VGPID=$!
ready=0
for _ in $(seq 1 120); do
    psql -X -q -d postgres -c 'SELECT 1' >/dev/null 2>&1 && { ready=1; break; }
    kill -0 "$VGPID" 2>/dev/null || break
    sleep 1
done
if [ $ready -ne 1 ]; then
    echo "the server did not start under valgrind:"; cat "$DIR/server.log"
    as_cluster_user "$PGBIN/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null 2>&1
    wait "$VGPID"
    exit 1
fi

make_var() {
    make -s -f - print-var <<MK
include Makefile
print-var:
	@echo \$($1)
MK
}

step() { echo "== [$((SECONDS - T0)) s] $*"; }
PKGLIB="$("$PG_CONFIG" --pkglibdir)"

# one function per suite; each prints its output and returns non-zero on failure
suite_regress() {
    local tests="${DBM_VG_TESTS:-$(make_var REGRESS)}"
    echo "pg_regress: $tests"
    # shellcheck disable=SC2086
    "$PKGLIB/pgxs/src/test/regress/pg_regress" --inputdir=. \
        --outputdir="$DIR/out/regress" --bindir="$PGBIN" --load-extension=pgcrypto \
        --dbname=valgrind_regression $tests \
        || { echo "see $DIR/out/regress/regression.diffs"; return 1; }
}
# Specs that only wait out timeouts and backoffs (their code paths also run in
# pg_regress's timeouts test under valgrind): skipped by default to keep CI
# under ten minutes; DBM_VG_ISOLATION_SKIP="" runs them too.
VG_ISOLATION_SKIP="${DBM_VG_ISOLATION_SKIP-lock_retry lock_timeout run_lock_timeout}"
suite_isolation() {
    local specs="${DBM_VG_ISOLATION:-$(make_var ISOLATION)}" s kept=""
    for s in $specs; do
        case " $VG_ISOLATION_SKIP " in *" $s "*) ;; *) kept="$kept $s" ;; esac
    done
    specs="$kept"
    echo "isolation specs: $specs"
    # shellcheck disable=SC2086
    "$PKGLIB/pgxs/src/test/isolation/pg_isolation_regress" --inputdir=. \
        --outputdir="$DIR/out/isolation" --bindir="$PGBIN" \
        --dbname=valgrind_isolation $specs \
        || { echo "see $DIR/out/isolation/regression.diffs"; return 1; }
}
suite_pgtap() {
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS valgrind_tap" \
        -c "CREATE DATABASE valgrind_tap" >/dev/null || return 1
    psql -X -q -d valgrind_tap -c "CREATE EXTENSION pgtap" >/dev/null || return 1
    pg_prove -d valgrind_tap --ext .sql test/*.sql
}
suite_differential() {
    # a small sample with a fixed seed (test/shell/differential.sh is the
    # bigger CI sample, without valgrind); Debian's python3-alembic and
    # python3-psycopg2, hence /usr/bin/python3
    local args="${DBM_VG_DIFF_ARGS:---graphs 10 --max-size 2000 --seed 20261202}"
    if [ ! -f test/differential/differential.py ]; then
        echo "skipped: test/differential/differential.py does not exist yet"
        return 0
    fi
    echo "test/differential/differential.py $args"
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS valgrind_differential" \
        -c "CREATE DATABASE valgrind_differential" >/dev/null || return 1
    # shellcheck disable=SC2086
    /usr/bin/python3 test/differential/differential.py --quiet $args \
        --repro-dir "$DIR" --dsn "dbname=valgrind_differential"
}
# run_suite NAME: run it with its output in out/NAME.log, its status in out/NAME.rc
run_suite() {
    local t0=$SECONDS rc
    if ! declare -F "suite_$1" >/dev/null; then
        echo "unknown suite \"$1\" in DBM_VG_SUITES" >"$DIR/out/$1.log"
        echo "1 0" >"$DIR/out/$1.rc"
        return
    fi
    "suite_$1" >"$DIR/out/$1.log" 2>&1
    rc=$?
    echo "$rc $((SECONDS - t0))" >"$DIR/out/$1.rc"
}

# The server under valgrind is the bottleneck and each suite mostly keeps
# one backend busy.  With DBM_VG_JOBS=2 (the default) pg_regress runs
# alongside pgTAP and the differential test (databases and roles of their
# own: valgrind_regression and regress_dbm_*; valgrind_tap;
# valgrind_differential), then the isolation specs run alone: some of them
# time lock waits (lock_timeout: "gave up after 0.4 s to 3 s"), which a
# second busy valgrind process next to them could stretch.  DBM_VG_JOBS=1
# runs every suite alone.
# run_phase SUITE...: run the named suites of $SUITES, two lanes if DBM_VG_JOBS >= 2
run_phase() {
    local lane1="" lane2="" s p pids=()
    for s in "$@"; do
        case " $SUITES " in *" $s "*) ;; *) continue;; esac
        if [ "${DBM_VG_JOBS:-2}" -ge 2 ] && [ "$s" = regress ]; then lane1="$s"; else lane2="$lane2 $s"; fi
    done
    [ -n "$lane1$lane2" ] || return 0
    if [ -n "$lane1" ] && [ -n "$lane2" ]; then
        step "under valgrind: $lane1 alongside${lane2}"
    else
        step "under valgrind:$lane1$lane2"
    fi
    for lane in "$lane1" "$lane2"; do
        [ -n "$lane" ] || continue
        ( for s in $lane; do run_suite "$s"; done ) &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p"; done
}
known="regress pgtap differential isolation"
other=""
for s in $SUITES; do case " $known " in *" $s "*) ;; *) other="$other $s";; esac; done
run_phase regress pgtap differential
run_phase isolation
# shellcheck disable=SC2086
[ -z "$other" ] || run_phase $other

failed=()
for s in $SUITES; do
    rc=1 secs=0
    [ -f "$DIR/out/$s.rc" ] && read -r rc secs <"$DIR/out/$s.rc"
    echo "== $s under valgrind: $([ "$rc" = 0 ] && echo ok || echo FAILED) in $secs s"
    cat "$DIR/out/$s.log"
    [ "$rc" = 0 ] || failed+=("$s")
done

step "stopping the server (valgrind writes leak reports as processes exit)"
if ! as_cluster_user "$PGBIN/pg_ctl" -D "$DIR/data" -m fast -w -t 300 stop >/dev/null; then
    failed+=("server stop")
    as_cluster_user "$PGBIN/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null 2>&1
fi
wait "$VGPID"

step "valgrind gate (scripts/valgrind-gate.sh $DIR/vg)"
"$DBM_ROOT/scripts/valgrind-gate.sh" "$DIR/vg" || failed+=("valgrind gate: reports involving dbmigrate (above)")

echo "== valgrind pass took $((SECONDS - T0)) s; logs in $DIR/vg"
if [ ${#failed[@]} -ne 0 ]; then
    printf 'FAILED under valgrind: %s\n' "${failed[@]}"
    exit 1
fi
echo "valgrind: clean"

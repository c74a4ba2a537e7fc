#!/usr/bin/env bash
# Runs the pg_regress suite with the server under valgrind (memcheck) and
# fails if any error report has dbmigrate.so in its stack.  Stock Debian
# PostgreSQL is not built with USE_VALGRIND, so reports that do not involve
# dbmigrate (e.g. padding bytes written to WAL) are counted but not fatal.
# Environment: DBM_VG_PORT (default 55434), DBM_VG_DIR, DBM_VG_TESTS (default: all of REGRESS).
source "$(dirname "$0")/lib.sh"
set +e

ensure_packages
command -v valgrind >/dev/null || as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null
cd "$DBM_ROOT"
# uses the installed build (PGXS builds with -g); run "make install" first
[ -f "$("$PG_CONFIG" --pkglibdir)/dbmigrate.so" ] || build_and_install || exit 1

DIR="${DBM_VG_DIR:-$(mktemp -d /tmp/dbmigrate-valgrind.XXXXXX)}"
PORT="${DBM_VG_PORT:-55434}"
start_cluster "$DIR" "$PORT" || exit 1
stop_cluster "$DIR"
mkdir -p "$DIR/vg"
[ "$(cluster_user)" = "$(id -un)" ] || chown "$(cluster_user)" "$DIR/vg"

as_cluster_user valgrind --quiet --trace-children=yes --num-callers=30 \
    --suppressions="$DBM_ROOT/scripts/valgrind.supp" \
    --log-file="$DIR/vg/%p.log" \
    "$PGBIN/postgres" -D "$DIR/data" >"$DIR/server.log" 2>&1 &
for _ in $(seq 1 120); do
    psql -X -q -d postgres -c 'SELECT 1' >/dev/null 2>&1 && break
    sleep 1
done

tests="${DBM_VG_TESTS:-$(make -s -f - print-regress <<'MK'
include Makefile
print-regress:
	@echo $(REGRESS)
MK
)}"
echo "== pg_regress under valgrind: $tests"
"$("$PG_CONFIG" --pkglibdir)/pgxs/src/test/regress/pg_regress" --inputdir=. \
    --outputdir="$DIR/out" --bindir="$PGBIN" --load-extension=pgcrypto \
    --dbname=valgrind_regression $tests
rc=$?
as_cluster_user "$PGBIN/pg_ctl" -D "$DIR/data" -m fast -w -t 300 stop >/dev/null

ours=$(grep -l "dbmigrate.so" "$DIR"/vg/*.log 2>/dev/null)
other=$(grep -l "^==[0-9]*== [A-Z]" "$DIR"/vg/*.log 2>/dev/null | wc -l)
echo "== valgrind: $other log(s) with reports; reports involving dbmigrate.so: $(echo -n "$ours" | grep -c . )"
if [ -n "$ours" ]; then
    for f in $ours; do echo "---- $f"; cat "$f"; done
    exit 1
fi
[ $rc -eq 0 ] || { echo "pg_regress failed under valgrind (see $DIR/out/regression.diffs)"; exit 1; }
echo "valgrind: clean"

#!/usr/bin/env bash
# dbm_missing_packages (scripts/lib.sh), which decides what ensure_packages
# installs, reports a package exactly when the thing dbmigrate uses from it is
# absent, and nothing on a machine that has everything:
#   - on this machine (scripts/test.sh installed what was missing): nothing;
#   - in a mirror of this machine's PostgreSQL, PostgreSQL header and Python folders
#     (DBM_PKG_ROOT = a tree of symbolic links to the real files): nothing,
#     so what the hidden cases report comes from what was hidden;
#   - postgres.h hidden (the image ships postgresql-15, its client and
#     libpq-dev, so pg_config and the PGXS makefiles are there, but not the
#     server headers): exactly postgresql-server-dev-15; the same with the
#     whole server include folder hidden;
#   - pg_config copied instead of linked (a copy reports paths under its own
#     location, i.e. already inside DBM_PKG_ROOT): still nothing, and still
#     postgresql-server-dev-15 once postgres.h is hidden;
#   - pg_config absent: the Debian default include folder is checked instead;
#   - pgTAP's control file hidden: exactly postgresql-15-pgtap;
#   - pg_prove missing from the PATH (DBM_PKG_PATH = a mirror of every PATH
#     folder without it): exactly libtap-parser-sourcehandler-pgtap-perl.
# Needs no server.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
# shellcheck source=../../scripts/lib.sh
source "$ROOT/scripts/lib.sh"

fail() { echo "FAIL (dependency_checks): $*" >&2; exit 1; }
WORK="$(mktemp -d /tmp/dbm-depcheck.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

# missing [VAR=value...]: the reported packages, sorted, on one line
missing() {
    env "$@" bash -c 'source "$1/scripts/lib.sh"; dbm_missing_packages' _ "$ROOT" | sort | paste -sd' '
}
# expect WHAT EXPECTED [VAR=value...]
expect() {
    local what="$1" want="$2" got
    shift 2
    got="$(missing "$@")"
    [ "$got" = "$want" ] || fail "$what: expected \"$want\", dbm_missing_packages reported \"$got\""
    echo "ok - $what: ${want:-nothing reported}"
}

PGC_REAL="/usr/lib/postgresql/$PG_MAJOR/bin/pg_config"
[ -x "$PGC_REAL" ] || fail "no $PGC_REAL on this machine"
INCDIR="$("$PGC_REAL" --includedir-server)"
SHAREDIR="$("$PGC_REAL" --sharedir)"

expect "this machine" "" DBM_PKG_ROOT= DBM_PKG_PATH=

# a mirror of the folders the checks may look in, made of symbolic links;
# each case hides something (moves it away) and puts it back afterwards
R="$WORK/root"
for d in /usr/lib/postgresql /usr/share/postgresql /usr/include/postgresql /usr/lib/python3; do
    [ -d "$d" ] || continue
    mkdir -p "$R$(dirname "$d")"
    cp -as "$d" "$R$(dirname "$d")/"
done
mkdir "$WORK/hidden"
hide() { mv "$R$1" "$WORK/hidden/$(echo "$1" | tr / _)"; }
unhide() { mv "$WORK/hidden/$(echo "$1" | tr / _)" "$R$1"; }

[ -L "$R$INCDIR/postgres.h" ] || fail "the mirror has no link for postgres.h"
expect "mirror, nothing hidden" "" DBM_PKG_ROOT="$R"

hide "$INCDIR/postgres.h"
expect "mirror without postgres.h" "postgresql-server-dev-$PG_MAJOR" DBM_PKG_ROOT="$R"
unhide "$INCDIR/postgres.h"

hide "$INCDIR"
expect "mirror without the server include folder" "postgresql-server-dev-$PG_MAJOR" DBM_PKG_ROOT="$R"
unhide "$INCDIR"

hide "$PGC_REAL"
cp "$PGC_REAL" "$R$PGC_REAL"
[ "$("$R$PGC_REAL" --includedir-server)" = "$R$INCDIR" ] \
    || fail "a copied pg_config no longer reports paths under its own location (the case this checks)"
expect "mirror with a copied pg_config" "" DBM_PKG_ROOT="$R"
hide "$INCDIR/postgres.h"
expect "mirror with a copied pg_config, without postgres.h" "postgresql-server-dev-$PG_MAJOR" DBM_PKG_ROOT="$R"
unhide "$INCDIR/postgres.h"
rm "$R$PGC_REAL"
expect "mirror without pg_config (default include folder)" "" DBM_PKG_ROOT="$R"
unhide "$PGC_REAL"

[ -e "$R$SHAREDIR/extension/pgtap.control" ] || fail "the mirror has no pgtap.control"
hide "$SHAREDIR/extension/pgtap.control"
expect "mirror without pgtap.control" "postgresql-$PG_MAJOR-pgtap" DBM_PKG_ROOT="$R"
unhide "$SHAREDIR/extension/pgtap.control"
expect "mirror, everything put back" "" DBM_PKG_ROOT="$R"

# every PATH folder mirrored, without pg_prove
command -v pg_prove >/dev/null || fail "no pg_prove on this machine's PATH"
P="" i=0
IFS=: read -ra dirs <<<"$PATH"
for d in "${dirs[@]}"; do
    [ -d "$d" ] || continue
    i=$((i + 1))
    mkdir -p "$WORK/path/$i"
    find -H "$d/" -mindepth 1 -maxdepth 1 ! -name pg_prove -exec ln -s -t "$WORK/path/$i" {} +
    P="${P:+$P:}$WORK/path/$i"
done
PATH="$P" command -v make >/dev/null || fail "the PATH mirror has no make"
if PATH="$P" command -v pg_prove >/dev/null; then fail "the PATH mirror still has pg_prove"; fi
expect "PATH without pg_prove" "libtap-parser-sourcehandler-pgtap-perl" DBM_PKG_PATH="$P"

echo "dependency_checks: ok"

#!/bin/bash
# Format src/ (the extension) and cli/ (the command-line client) with
# PostgreSQL's pgindent, the way contrib is formatted.
#
#   scripts/pgindent.sh            rewrite src/*.[ch] and cli/*.[ch]
#   scripts/pgindent.sh --check    exit 2 if a file would change (nothing written)
#   scripts/pgindent.sh --typedefs refresh src/typedefs.list and cli/typedefs.list only
#
# pgindent and pg_bsd_indent come from PostgreSQL's source tree
# (src/tools/pgindent, src/tools/pg_bsd_indent; Debian does not package them).
# PGINDENT_SCRIPT names the pgindent script (PGINDENT is pgindent's own
# variable for pg_bsd_indent); PostgreSQL's own typedefs.list is taken
# from next to it unless PG_TYPEDEFS names it.  dbmigrate's typedefs are in
# src/typedefs.list, made from the sources by this script.
set -euo pipefail
cd "$(dirname "$0")/.."

# Every type name folder $1 declares with typedef, one per line, sorted.
make_typedefs() {
	{
		sed -n 's/^typedef [A-Za-z_0-9 ]*[ *]\([A-Za-z_][A-Za-z_0-9]*\);$/\1/p' "$1"/*.[ch]
		sed -n 's/^} \([A-Za-z_][A-Za-z_0-9]*\);$/\1/p' "$1"/*.[ch]
		sed -n 's/^typedef [^(]*(\*\([A-Za-z_][A-Za-z_0-9]*\)).*$/\1/p' "$1"/*.[ch]
	} | LC_ALL=C sort -u
}

make_typedefs src > src/typedefs.list
make_typedefs cli > cli/typedefs.list
[ "${1:-}" = "--typedefs" ] && exit 0

PGINDENT_SCRIPT="${PGINDENT_SCRIPT:-$(command -v pgindent || true)}"
if [ -z "$PGINDENT_SCRIPT" ] || [ ! -x "$PGINDENT_SCRIPT" ]; then
	echo "pgindent not found: set PGINDENT_SCRIPT to PostgreSQL's src/tools/pgindent/pgindent" >&2
	exit 1
fi
PG_TYPEDEFS="${PG_TYPEDEFS:-$(dirname "$(readlink -f "$PGINDENT_SCRIPT")")/typedefs.list}"
[ -f "$PG_TYPEDEFS" ] || { echo "PostgreSQL's typedefs.list not found: set PG_TYPEDEFS" >&2; exit 1; }

all="$(mktemp)"
work="$(mktemp -d)"
trap 'rm -rf "$all" "$work"' EXIT
cat "$PG_TYPEDEFS" src/typedefs.list cli/typedefs.list | LC_ALL=C sort -u > "$all"
# pgindent writes its temporary files into the current directory
cd "$work"
args=()
[ "${1:-}" = "--check" ] && args=(--check --diff)
env -u PGINDENT "$PGINDENT_SCRIPT" --typedefs="$all" "${args[@]}" "$OLDPWD"/src/*.c "$OLDPWD"/src/*.h \
	"$OLDPWD"/cli/*.c "$OLDPWD"/cli/*.h

#!/usr/bin/env bash
# Shared helpers for dbmigrate's scripts: packages, a throwaway cluster.
# Source it; it defines functions and sets PG* variables.

set -euo pipefail

DBM_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PG_MAJOR="${PG_MAJOR:-15}"

# as_root CMD...: run CMD as root (directly, or through sudo)
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# dbm_missing_packages: print the Debian packages whose *content* is absent.
# Each check looks for the file that is actually used (the server headers'
# postgres.h, pgTAP's control file, pg_prove on PATH), never for a neighbour
# such as pg_config or the PGXS makefile, which other packages also ship.
# DBM_PKG_ROOT (default empty) prefixes every file path, so a test can point
# the checks at a tree where something is hidden.
dbm_missing_packages() {
    local root="${DBM_PKG_ROOT:-}" pgc incdir
    pgc="$root/usr/lib/postgresql/$PG_MAJOR/bin/pg_config"
    incdir=""
    if [ -x "$pgc" ]; then incdir="$("$pgc" --includedir-server 2>/dev/null || true)"; fi
    [ -n "$incdir" ] || incdir="/usr/include/postgresql/$PG_MAJOR/server"
    # pg_config is relocatable: a copy (not a symlink) under $root reports
    # paths under $root already, which must not be prefixed twice
    if [ -n "$root" ]; then incdir="${incdir#"$root"}"; fi
    [ -f "$root$incdir/postgres.h" ] || echo "postgresql-server-dev-$PG_MAJOR"
    [ -x "$root/usr/lib/postgresql/$PG_MAJOR/bin/initdb" ] || echo "postgresql-$PG_MAJOR"
    [ -f "$root/usr/share/postgresql/$PG_MAJOR/extension/pgtap.control" ] || echo "postgresql-$PG_MAJOR-pgtap"
    PATH="${DBM_PKG_PATH:-$PATH}" command -v pg_prove >/dev/null 2>&1 || echo "libtap-parser-sourcehandler-pgtap-perl"
    [ -f "$root/usr/share/postgresql/$PG_MAJOR/extension/pgcrypto.control" ] || echo "postgresql-contrib"
    [ -f "$root/usr/lib/python3/dist-packages/alembic/script/revision.py" ] || echo "python3-alembic"
    [ -d "$root/usr/lib/python3/dist-packages/psycopg2" ] || echo "python3-psycopg2"
    PATH="${DBM_PKG_PATH:-$PATH}" command -v make >/dev/null 2>&1 || echo "make"
    PATH="${DBM_PKG_PATH:-$PATH}" command -v gcc >/dev/null 2>&1 || echo "gcc"
    [ -f "$root/usr/include/postgresql/libpq-fe.h" ] || echo "libpq-dev"
}

# ensure_packages: install what dbm_missing_packages reports, then check again
ensure_packages() {
    local missing
    missing=$(dbm_missing_packages | tr '\n' ' ')
    if [ -n "${missing// /}" ]; then
        echo "== installing: $missing"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq || true
        # shellcheck disable=SC2086
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
        missing=$(dbm_missing_packages | tr '\n' ' ')
        if [ -n "${missing// /}" ]; then
            echo "still missing after apt-get install: $missing" >&2
            return 1
        fi
    fi
    export PG_CONFIG="${PG_CONFIG:-/usr/lib/postgresql/$PG_MAJOR/bin/pg_config}"
    [ -x "$PG_CONFIG" ] || PG_CONFIG="$(command -v pg_config)"
    PGBIN="$("$PG_CONFIG" --bindir)"
    export PGBIN
}

# build_and_install [extra CFLAGS]: make && make install
build_and_install() {
    local cflags="${1:-}"
    make -C "$DBM_ROOT" -s PG_CONFIG="$PG_CONFIG" clean >/dev/null
    make -C "$DBM_ROOT" -s PG_CONFIG="$PG_CONFIG" ${cflags:+COPT="$cflags"}
    as_root make -C "$DBM_ROOT" -s PG_CONFIG="$PG_CONFIG" install >/dev/null
}

# Folders the scripts create and later remove (the clusters' folders) carry
# this marker file.  A folder named by the environment (DBM_DEMO_DIR,
# DBM_TEST_DIR, DBM_VG_DIR, BENCH_DIR) is removed, or a server in it stopped,
# only if it has the marker, is empty or does not exist: `DBM_DEMO_DIR=$HOME
# scripts/demo.sh stop` must not delete a home directory.
DBM_DIR_MARKER=.dbmigrate-cluster

# dbm_check_dir DIR: succeed if DIR does not exist, is an empty folder, or is
# a folder with the marker; otherwise explain on stderr and fail
dbm_check_dir() {
    local dir="$1"
    if [ -z "$dir" ]; then
        echo "refusing to use an empty folder name" >&2
        return 1
    fi
    if [ ! -e "$dir" ] && [ ! -L "$dir" ]; then return 0; fi
    if [ -L "$dir" ] || [ ! -d "$dir" ]; then
        echo "refusing to use or remove $dir: it is not a folder (a file or a symbolic link)" >&2
        return 1
    fi
    if [ "$(cd "$dir" && pwd -P)" = / ]; then
        echo "refusing to use or remove /" >&2
        return 1
    fi
    [ -f "$dir/$DBM_DIR_MARKER" ] && return 0
    if [ -z "$(ls -A "$dir" 2>/dev/null)" ] && [ -r "$dir" ]; then return 0; fi
    echo "refusing to use or remove $dir: it is not empty and has no $DBM_DIR_MARKER file," >&2
    echo "so dbmigrate's scripts did not create it; choose another folder or remove it yourself" >&2
    return 1
}

# dbm_remove_dir DIR: remove DIR if dbm_check_dir allows it (absent: nothing to do)
dbm_remove_dir() {
    local dir="$1"
    dbm_check_dir "$dir" || return 1
    if [ -e "$dir" ]; then rm -rf -- "$dir"; fi
}

# dbm_claim_dir DIR: make DIR a fresh, empty folder with the marker (an old
# folder of ours is removed first; anything else is refused)
dbm_claim_dir() {
    local dir="$1"
    dbm_remove_dir "$dir" || return 1
    mkdir -p -- "$dir" || return 1
    echo "created by dbmigrate's scripts (scripts/lib.sh); they may delete this folder" >"$dir/$DBM_DIR_MARKER"
}

# the user the server runs as: postgres when we are root (PostgreSQL refuses root)
cluster_user() {
    if [ "$(id -u)" -eq 0 ]; then echo postgres; else id -un; fi
}

as_cluster_user() {
    local u
    u="$(cluster_user)"
    if [ "$u" = "$(id -un)" ]; then "$@"; else runuser -u "$u" -- "$@"; fi
}

# start_cluster DIR PORT [extra postgresql.conf lines]: initdb and start a
# throwaway cluster on 127.0.0.1:PORT with data in DIR (created with the
# marker, owned by the cluster user; an old cluster of ours in DIR is stopped
# and removed first, a folder that is not ours is refused); sets PGHOST,
# PGPORT, PGUSER.
start_cluster() {
    local dir="$1" port="$2" extra="${3:-}"
    local u
    u="$(cluster_user)"
    dbm_check_dir "$dir" || return 1
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_cluster_user "$PGBIN/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    fi
    dbm_claim_dir "$dir" || return 1
    [ "$u" = "$(id -un)" ] || chown "$u" "$dir"
    as_cluster_user "$PGBIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log"; return 1; }
    cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 40
max_locks_per_transaction = 512
$extra
CONF
    as_cluster_user "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null \
        || { cat "$dir/server.log"; return 1; }
    export PGHOST=127.0.0.1 PGPORT="$port" PGUSER=postgres
}

# stop_cluster DIR: stop the server of a cluster that start_cluster made
stop_cluster() {
    local dir="$1"
    [ -f "$dir/data/postmaster.pid" ] || return 0
    dbm_check_dir "$dir" || return 1
    as_cluster_user "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
}

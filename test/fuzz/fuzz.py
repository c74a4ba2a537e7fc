#!/usr/bin/python3
"""SQL-level fuzz test of dbmigrate's text and text[] arguments.

Run with /usr/bin/python3 (Debian's, which has python3-psycopg2):

    /usr/bin/python3 test/fuzz/fuzz.py --calls 5000 --seed 42

Connects with the usual PG* environment (PGHOST, PGPORT, PGUSER; a superuser,
because the fuzzer creates its own database and extension and reads the
server log), creates a throwaway database, and then alternates between
building a revision graph (empty, a chain, branches, merges, a few hundred
revisions, partially applied) and calling every dbmigrate function with
random and hostile values for each text / text[] argument: targets, revision
ids, parents, messages and SQL bodies, mixed with valid calls so the graph
keeps changing.  Some segments race read-only calls against a second session
that registers and unregisters revisions.

A call fails the run when
  - the backend crashes or the connection is lost ("terminated by signal" in
    the server log, or the connection closes under the call);
  - it raises SQLSTATE XX000 (internal error), or an error without SQLSTATE;
  - it fails and dbmigrate.revision / version / log / builtin_override or the
    objects migrations create are not exactly as before the call (each call
    runs in its own READ COMMITTED transaction, rolled back on error);
  - a read-only call changes that state;
  - a call that succeeds returns something impossible (a registered id that is
    not the one given, a merge id that is not the sha256 of its parents, rows
    naming unregistered revisions, ...), or leaves the graph inconsistent
    (version holding a revision and its ancestor, a stale head flag, a parent
    registered after its child, migrate_validate() not clean).

Every failure prints the seed, the call number, the function, the exact
argument values (long ones truncated for display) and a psql-ready repro;
the full repro, with a script that rebuilds the graph state, goes to
--out-dir.  Exit status 1 when anything failed.
"""

import argparse
import collections
import hashlib
import json
import os
import random
import re
import signal
import sys
import threading
import time
import traceback
import unicodedata

try:
    import psycopg2
    import psycopg2.errorcodes
    import psycopg2.extensions
except ImportError:  # pragma: no cover
    sys.stderr.write("fuzz.py needs psycopg2: run it with /usr/bin/python3 "
                     "(Debian package python3-psycopg2)\n")
    sys.exit(2)

MB = 1024 * 1024
HEX12 = re.compile(r"^[0-9a-f]{12}$")

# Fingerprints of dbmigrate's state and of what migrations create.  A revision
# row is fingerprinted by its tuple version (xmin, ctid: any committed UPDATE,
# INSERT or DELETE changes them), its small columns and the sizes of its text
# columns, so that megabyte-sized SQL bodies are not re-read for every call;
# the other tables by their full content, in order.
STATE_TABLES_SQL = """
SELECT (SELECT md5(coalesce(string_agg(
                   concat_ws(' ', r.xmin, r.ctid, r.revision, r.down_revisions, r.checksum,
                             r.is_head, r.seq, r.builtin, r.registered_at, r.registered_by,
                             octet_length(r.message), octet_length(r.upgrade_sql),
                             octet_length(r.downgrade_sql)), E'\\n' ORDER BY r.seq), ''))
          FROM dbmigrate.revision r),
       (SELECT md5(coalesce(string_agg(v.revision, E'\\n' ORDER BY v.revision), ''))
          FROM dbmigrate.version v),
       (SELECT md5(coalesce(string_agg(l::text, E'\\n' ORDER BY l.id), ''))
          FROM dbmigrate.log l),
       (SELECT md5(coalesce(string_agg(b.revision, E'\\n' ORDER BY b.revision), ''))
          FROM dbmigrate.builtin_override b),
       (SELECT md5(coalesce(string_agg(n.nspname || '.' || c.relname || ':' || c.relkind::text,
                                       ',' ORDER BY n.nspname, c.relname), ''))
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname IN ('fz', 'public'))
"""
# The graph as dbmigrate stores it, the version rows, and the fingerprints,
# in one round trip after every successful state change.
MODEL_SQL = """
SELECT s.*,
       (SELECT json_agg(json_build_array(r.revision, r.down_revisions, r.is_head, r.builtin)
                        ORDER BY r.seq) FROM dbmigrate.revision r),
       (SELECT array_agg(v.revision ORDER BY v.revision) FROM dbmigrate.version v)
  FROM (""" + STATE_TABLES_SQL + """) s
"""

STATE_PARTS = ("dbmigrate.revision", "dbmigrate.version", "dbmigrate.log",
               "dbmigrate.builtin_override", "objects in schemas fz/public")


SETUP_FUNCTION = r"""
CREATE SCHEMA IF NOT EXISTS fzsetup;
CREATE OR REPLACE FUNCTION fzsetup.run(plan jsonb)
RETURNS TABLE(n int, op text, expected text, got text, state text, message text)
LANGUAGE plpgsql AS $fzsetup$
DECLARE
    r jsonb;
    i int := 0;
    res text;
BEGIN
    FOR r IN SELECT value FROM jsonb_array_elements(plan) LOOP
        i := i + 1;
        BEGIN
            res := NULL;
            CASE r->>'op'
            WHEN 'register' THEN
                res := dbmigrate.migrate_register(r->>'id',
                    ARRAY(SELECT jsonb_array_elements_text(r->'parents')),
                    r->>'up', r->>'down', r->>'msg');
            WHEN 'merge' THEN
                res := dbmigrate.migrate_merge(
                    ARRAY(SELECT jsonb_array_elements_text(r->'parents')), r->>'msg');
            WHEN 'revision' THEN
                res := dbmigrate.migrate_revision(r->>'msg', r->>'up', r->>'down');
            WHEN 'upgrade' THEN
                PERFORM count(*) FROM dbmigrate.migrate_upgrade(r->>'target');
            WHEN 'downgrade' THEN
                PERFORM count(*) FROM dbmigrate.migrate_downgrade(r->>'target');
            WHEN 'stamp' THEN
                PERFORM dbmigrate.migrate_stamp(r->>'target');
            WHEN 'unregister' THEN
                PERFORM dbmigrate.migrate_unregister(r->>'id');
            WHEN 'seed' THEN
                PERFORM dbmigrate.seed_users();
            END CASE;
            IF r ? 'expect' AND res IS DISTINCT FROM r->>'expect' THEN
                n := i; op := r->>'op'; expected := r->>'expect'; got := res;
                state := NULL; message := 'wrong return value';
                RETURN NEXT;
            END IF;
        EXCEPTION WHEN OTHERS THEN
            n := i; op := r->>'op'; expected := r->>'expect'; got := NULL;
            state := SQLSTATE; message := SQLERRM;
            RETURN NEXT;
        END;
    END LOOP;
END
$fzsetup$;
"""


# --------------------------------------------------------------------------
# Rendering values for humans and for psql
# --------------------------------------------------------------------------

class Lit(str):
    """A value passed as a string literal and cast by the template (e.g. an
    array literal such as '[0:1]={a,b}' cast with ::text[])."""


def short(v, width=70):
    """A value for display: long strings truncated, with length and hash."""
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, list):
        return "[" + ", ".join(short(x, width // 2 + 10) for x in v) + "]"
    s = str(v)
    if len(s) <= width:
        return ascii(s)
    h = hashlib.sha1(s.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return "%s...(%d chars, sha1 %s)" % (ascii(s[:width - 20]), len(s), h)


def period_of(s, maxp=64):
    """Smallest period p (<= maxp) with s == s[:p] * (len(s) // p) + prefix, or 0."""
    n = len(s)
    for p in range(1, min(maxp, n) + 1):
        if n % p == 0 and s[:p] * (n // p) == s:
            return p
    return 0


def sql_str(s):
    return "'" + s.replace("'", "''") + "'"


def lit(v, compact=True):
    """v as an SQL expression; long periodic strings as repeat(...) when compact."""
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, list):
        if not v:
            return "'{}'"
        return "ARRAY[" + ", ".join(lit(x, compact) for x in v) + "]"
    s = str(v)
    if compact and len(s) > 300:
        expr = HUGE_EXPR.get(s)
        if expr:
            return expr
        p = period_of(s)
        if p:
            return "repeat(%s, %d)" % (sql_str(s[:p]), len(s) // p)
    return sql_str(s)


def lit_e(v):
    """v as an SQL expression that reads the same whatever standard_conforming_strings is."""
    if v is None or isinstance(v, (bool, int)):
        return lit(v)
    if isinstance(v, list):
        if not v:
            return "'{}'"
        return "ARRAY[" + ", ".join(lit_e(x) for x in v) + "]"
    return "E'" + str(v).replace("\\", "\\\\").replace("'", "''") + "'"


def render(template, params, compact=True):
    return template % tuple(lit(p, compact) for p in params)


# --------------------------------------------------------------------------
# Value pools
# --------------------------------------------------------------------------

CONFUSABLE = {
    "a": "\u0430", "e": "\u0435", "o": "\u043e", "p": "\u0440", "c": "\u0441",
    "x": "\u0445", "y": "\u0443", "i": "\u0456", "s": "\u0455", "j": "\u0458",
    "A": "\u0410", "B": "\u0412", "E": "\u0415", "H": "\u041d", "K": "\u041a",
    "M": "\u041c", "O": "\u041e", "P": "\u0420", "T": "\u0422", "X": "\u0425",
    "d": "\u0501", "h": "\u04bb", "n": "\u0578", "_": "\uff3f", "-": "\u2010",
    ".": "\u2024",
}
WEIRD_CHARS = [
    "\u00a0", "\u3000", "\ufeff", "\u200b", "\u200c", "\u200d", "\u200e", "\u200f",
    "\u202a", "\u202e", "\u2066", "\u2069", "\u2028", "\u2029", "\u0301", "\u0308",
    "\u20dd", "\U0001F600", "\U0001F468\u200d\U0001F469\u200d\U0001F467", "\U0001D7CF",
    "\U00010348", "\U0010FFFF", "\uFFFD", "\uFFFF", "\uFFFE", "\x01", "\x07", "\x1b",
    "\x7f", "\x85", "\t", "\n", "\r", " ", "'", '"', "\\", "%", "%s", "%n", "{", "}",
    ",", ";", "$", "$$", "+", "-", "*", "/", "(", ")", "[", "]", ":", "=", "<", ">",
    "\u0130", "\u0131", "\u00df", "\u1e9e", "\ufb01", "\u01c5", "\u2126", "\u212b",
]
LETTERS = ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"
           "\u00e9\u00e8\u00fc\u00f1\u00e7\u00f8\u00e5"
           "\u0430\u0431\u0432\u0433\u0434\u0436\u0444\u044f"
           "\u03b1\u03b2\u03b3\u03bb\u03c9\u03a9"
           "\u8fc1\u79fb\u7248\u672c\u30c7\u30fc\u30bf\ud55c\uae00"
           "\u05d0\u05d1\u0627\u0628\u0e01\u0e02\u0915\u0916"
           "\uff10\uff11\uff12\u0660\u0661\u0966\u0967\u00b2\u00bd\u2167")

BIG_A = "a" * MB
BIG_E = "\u00e9" * (MB // 2)
BIG_EMOJI = "\U0001F600" * (MB // 4)
BIG_SEMI = ";" * MB
BIG_SELECT = "SELECT 1;" * (MB // 9)
BIG_COMMENT = "-- " + "x" * MB
BIG_OPEN_COMMENT = "/* " + "x" * MB
BIG_LITERAL = "SELECT '" + "x" * MB + "'"
BIG_DOLLARS = "$$" * (MB // 2)
BIG_PLUS = "+" + "9" * MB
BIG_MINUS = "-" + "1" * MB
BIG_ID_REL = "a" * MB + "+1"
BIG_PARENS = "SELECT " + "(" * 20000 + "1" + ")" * 20000
BIG_PLUSES = "SELECT " + "1+" * 50000 + "1"
# psql-ready expressions for the huge values (repros stay short and exact)
HUGE_EXPR = {
    BIG_A: "repeat('a', %d)" % MB,
    BIG_E: "repeat('\u00e9', %d)" % (MB // 2),
    BIG_EMOJI: "repeat('\U0001F600', %d)" % (MB // 4),
    BIG_SEMI: "repeat(';', %d)" % MB,
    BIG_SELECT: "repeat('SELECT 1;', %d)" % (MB // 9),
    BIG_COMMENT: "('-- ' || repeat('x', %d))" % MB,
    BIG_OPEN_COMMENT: "('/* ' || repeat('x', %d))" % MB,
    BIG_LITERAL: "('SELECT ''' || repeat('x', %d) || '''')" % MB,
    BIG_DOLLARS: "repeat('$$', %d)" % (MB // 2),
    BIG_PLUS: "('+' || repeat('9', %d))" % MB,
    BIG_MINUS: "('-' || repeat('1', %d))" % MB,
    BIG_ID_REL: "(repeat('a', %d) || '+1')" % MB,
    BIG_PARENS: "('SELECT ' || repeat('(', 20000) || '1' || repeat(')', 20000))",
    BIG_PLUSES: "('SELECT ' || repeat('1+', 50000) || '1')",
}
HUGE_STRINGS = [BIG_A, BIG_E, BIG_EMOJI, BIG_PLUS, BIG_MINUS, BIG_ID_REL, BIG_SEMI]
HUGE_SQL = [BIG_SEMI, BIG_SELECT, BIG_COMMENT, BIG_OPEN_COMMENT, BIG_LITERAL, BIG_DOLLARS,
            BIG_PARENS, BIG_PLUSES, BIG_A, BIG_EMOJI]

TARGET_STATIC = [
    "", "+-1", "-99999999999999999999", "+99999999999999999999", "head+abc", "head+0",
    "heads+1", "base-1", "-0", "+", "-", "+0", "+00", "-00", "+1", "-1", "+2", "-2", "+3",
    "+2147483647", "+2147483648", "-2147483647", "-2147483648", "-4294967297",
    "+1000000000", "+1000000001", "+9999999999", "-1000000000", "++1", "--1", "+-0", "-+1",
    " +1", "+1 ", "+ 1", "+1\n", "+1\t", "+1e3", "+0x10", "+1.5", "+1,2", "+\uff11",
    "-\uff11", "+\u0661", "-\u0663", "+\U0001D7CF", "+\u00b2", "head", "heads", "base",
    "HEAD", "Head", "HEADS", "Heads", "Base", "BASE", "head+1", "head+2", "head-1",
    "heads-1", "base+1", "head+", "heads+", "base+", "+head", "-head", "-base", "head head",
    "head,heads", "{heads}", "{}", "{", "}", ",", "a,b", '"', "'", "\\", "%s", "%n%n%n%n",
    "%999999999s", "$$", "$1", "NULL", "null", "\x01", "\x7f", " ", "\t", "\n", "\r\n",
    "\u00a0", "\u3000", "\ufeff", "\u200b", "\u200e", "\u200f", "\u202e", "\u2028",
    "\U0001F600", "\U0010FFFF", "\uFFFD", "\uFFFF", "e\u0301", "\u0301", "h\u0435ad",
    "h\u0435ads", "b\u0430se", "\uff48\uff45\uff41\uff44", "head\ufeff", "\ufeffhead",
    "head\u200b", "+1\u0301", "x" * 255, "x" * 256, "\u00e9" * 255, "\u00e9" * 256,
    "\U0001F600" * 255, "-" * 300, "+" * 300, "0", "1", "00", "01", "001", "-0001",
    "+0001", "1+1", "0+1", "-1+1", "+1+1", "head+1+1", "+1-1", "1-", "1+",
]

SQL_SAFE = [
    ("CREATE TABLE IF NOT EXISTS fz.t_{t} (id int)", "DROP TABLE IF EXISTS fz.t_{t}"),
    ("SELECT 1", ""),
    ("", ""),
    ("-- only a comment", "-- only a comment"),
    ("/* block */ SELECT 1; -- trailing", "/* x */"),
    ("CREATE TABLE IF NOT EXISTS fz.t_{t} (); COMMENT ON TABLE fz.t_{t} IS 'a;b'",
     "DROP TABLE IF EXISTS fz.t_{t}"),
    ("DO $$ BEGIN PERFORM 1; END $$", "DO $$ BEGIN NULL; END $$"),
    ("DO $do$ BEGIN RAISE NOTICE 'a;b $$ c'; END $do$", "SELECT 2"),
    ("CREATE OR REPLACE FUNCTION fz.f_{t}() RETURNS int LANGUAGE sql AS $f$ SELECT 1; $f$",
     "DROP FUNCTION IF EXISTS fz.f_{t}()"),
    ("SELECT 'it''s; fine'", "SELECT E'\\n;'"),
    ("SET LOCAL search_path = pg_catalog; SELECT 1", "RESET ALL"),
    ("SET search_path = ''; SET ROLE postgres; SELECT 1", "SET work_mem = '1MB'"),
    ("SELECT * FROM dbmigrate.migrate_current()", "SELECT dbmigrate.health()"),
    ("SELECT count(*) FROM dbmigrate.migrate_history()", "SELECT * FROM dbmigrate.migrate_heads()"),
    (";;;;", ";"),
    ("\r\n\r\n  SELECT 1  \r\n\t ", "\r"),
    ("CREATE SEQUENCE IF NOT EXISTS fz.s_{t}", "DROP SEQUENCE IF EXISTS fz.s_{t}"),
    ("SELECT g FROM generate_series(1, 2000) g", None),
    ("LISTEN fz_chan; NOTIFY fz_chan, 'x'", "UNLISTEN *"),
    ("CREATE TEMP TABLE IF NOT EXISTS fz_tmp (x int)", "DROP TABLE IF EXISTS pg_temp.fz_tmp"),
    ("SELECT pg_advisory_xact_lock(42)", "SELECT pg_advisory_xact_lock(43)"),
    ("SELECT set_config('fz.x', 'y', false)", "SELECT current_setting('fz.x', true)"),
    ("SELECT '\U0001F600 \u202e \ufeff'", "SELECT 'e\u0301'"),
    ("CREATE TABLE IF NOT EXISTS fz.\"t\u00e9_{t}\" (\"\u0441ol\" text)",
     "DROP TABLE IF EXISTS fz.\"t\u00e9_{t}\""),
    ("ANALYZE", "SELECT 1"),
    ("SELECT dbmigrate.migrate_validate()", None),
    ("DISCARD PLANS; SELECT 1", "DISCARD SEQUENCES; DEALLOCATE ALL"),
    ("EXPLAIN ANALYZE SELECT 1", "EXPLAIN SELECT 1"),
    ("PREPARE fz_p_{t} AS SELECT 1", "DEALLOCATE ALL"),
    ("SELECT repeat('x', 100000)", ""),
    ("CREATE TYPE fz.e_{t} AS ENUM ('a'); ALTER TYPE fz.e_{t} ADD VALUE 'b'",
     "DROP TYPE IF EXISTS fz.e_{t}"),
]

SQL_REGISTRATION_HOSTILE = [
    "'unterminated", '"unterminated', "$$ unterminated", "$tag$ x", "$a$ x $b$",
    "/* unterminated", "SELECT 1 /* x", "/* /* nested */", "E'\\", "SELEC 1", "SELECT (",
    ")", "$$", "$$$$", "$", "$1", "SELECT $1", "\\", "\\q", "\\gexec", "SELECT 1 \\; SELECT 2",
    "BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT s", "RELEASE s", "ROLLBACK TO s",
    "START TRANSACTION", "END", "ABORT", "PREPARE TRANSACTION 'x'", "COMMIT PREPARED 'x'",
    "SELECT 1; COMMIT; SELECT 2", "VACUUM", "VACUUM ANALYZE fz.x", "VACUUM (FULL)",
    "CREATE INDEX CONCURRENTLY i ON fz.x (a)", "DROP INDEX CONCURRENTLY fz.i",
    "REINDEX TABLE CONCURRENTLY fz.x", "REINDEX (CONCURRENTLY) TABLE fz.x",
    "REINDEX (CONCURRENTLY false) TABLE fz.x", "REINDEX DATABASE x", "REINDEX SYSTEM x",
    "CREATE DATABASE fz_x", "DROP DATABASE fz_x", "CREATE TABLESPACE x LOCATION '/tmp'",
    "DROP TABLESPACE x", "ALTER SYSTEM SET work_mem = '1MB'", "DISCARD ALL", "DISCARD TEMP",
    "COPY fz.x FROM STDIN", "COPY (SELECT 1) TO STDOUT", "COPY fz.x TO PROGRAM 'true'",
    "SET CONSTRAINTS ALL DEFERRED", "DROP EXTENSION dbmigrate",
    "DROP EXTENSION IF EXISTS pgcrypto, dbmigrate CASCADE", "drop extension \"dbmigrate\"",
    "ALTER EXTENSION dbmigrate UPDATE", "ALTER EXTENSION dbmigrate ADD TABLE fz.x",
    "SELECT U&'\\D800'", "SELECT U&'\\0000'", "SELECT E'\\xff'", "SELECT E'\\u0000'",
    "SELECT 1; ;; BEGIN; SELECT 2", "CREATE TABLE fz.x (LIKE", "SELECT 'a' 'b'",
    "SELECT $q$ x $Q$", "SELECT $1$ x $1$", "SELECT $\u00e9$ x $\u00e9$", "SELECT $a$$a$",
    "SELECT 1 -- \r\n /*", "*/", "SELECT \"\"", "SELECT U&\"\\0000\"",
    # statement boundaries that move with standard_conforming_strings
    "SELECT 'a\\'; VACUUM; SELECT '", "SELECT 'a\\'; COMMIT; SELECT '",
    "SELECT 'a\\'; DROP EXTENSION dbmigrate; SELECT '", "SELECT 'x\\'; COPY fz.x FROM STDIN; SELECT '",
    "SET standard_conforming_strings = off; SELECT 'a\\'; CREATE TABLE IF NOT EXISTS fz.scs (); SELECT '",
    "SET standard_conforming_strings = off; SELECT 'a\\'; SAVEPOINT s; SELECT 1",
]

SQL_RUNTIME_FAIL = [
    "SELECT 1/0", "SELECT * FROM fz.does_not_exist", "DO $$BEGIN RAISE EXCEPTION 'boom'; END$$",
    "DO $$BEGIN RAISE EXCEPTION USING ERRCODE = '23505'; END$$",
    "DO $$BEGIN RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = '%s%n'; END$$",
    "DO $$BEGIN COMMIT; END$$", "DO $$BEGIN ROLLBACK; END$$", "CALL fz.nope()",
    "SELECT dbmigrate.migrate_upgrade()", "SELECT * FROM dbmigrate.migrate_downgrade('base')",
    "SELECT dbmigrate.migrate_stamp('base')",
    "SELECT dbmigrate.migrate_register('fz_inner', NULL, 'SELECT 1')",
    "SELECT dbmigrate.migrate_merge('{heads}')", "SELECT dbmigrate.migrate_unregister('x')",
    "SELECT dbmigrate.migrate_revision('m', 'SELECT 1')",
    "DO $$ BEGIN PERFORM dbmigrate.migrate_upgrade('heads'); END $$",
    "SELECT 'abc'::int", "SELECT repeat('x', 100000)::int", "DROP SCHEMA dbmigrate CASCADE",
    "DO $$BEGIN EXECUTE 'DROP EXTENSION dbmigrate'; END$$",
    "UPDATE dbmigrate.log SET operation = 'stamp'", "DELETE FROM dbmigrate.log",
    "TRUNCATE dbmigrate.log", "SET ROLE fz_no_such_role",
    "CREATE TABLE fz.dup (); CREATE TABLE fz.dup ()",
    "CREATE TYPE fz.e2 AS ENUM ('a'); ALTER TYPE fz.e2 ADD VALUE 'b'; SELECT 'b'::fz.e2",
    "SELECT dbmigrate.seed_users()", "SELECT pg_catalog.set_config('search_path', '', true); SELECT 1/0",
    "SELECT * FROM users", "INSERT INTO fz.nope VALUES (1)", "SELECT nextval('fz.nope')",
    "SET LOCAL lock_timeout = -1", "SET dbmigrate.lock_timeout = 'x'",
    "SELECT 1; SELECT 1/0; SELECT 2", "DO $$ DECLARE x int; BEGIN x := 1/0; END $$",
    "SELECT pg_advisory_xact_lock(-1); SELECT 'x'::regclass", "DISCARD PLANS; SELECT 1/0",
    "LOCK TABLE fz.nope", "SELECT * FROM dbmigrate.migrate_show('no-such-rev')",
    "CREATE TABLE fz.x_{t} (a int CHECK (a > 0)); INSERT INTO fz.x_{t} VALUES (0)",
    # rules on dbmigrate's own tables: its bookkeeping INSERT/DELETE get rewritten
    "CREATE RULE fz_r_{t} AS ON INSERT TO dbmigrate.log DO INSTEAD NOTHING",
    "CREATE RULE fz_v_{t} AS ON DELETE TO dbmigrate.version DO INSTEAD NOTHING",
]

SQL_TOKENS = [
    "SELECT", "CREATE", "TABLE", "fz.x", "(", ")", ",", ";", ";", ";", "'", '"', "$$", "$a$",
    "--", "/*", "*/", "\n", "\r\n", "1", "NULL", "BEGIN", "COMMIT", "DO", "E'\\'", "U&'\\0041'",
    "::", "int", "text[]", "ARRAY[", "]", "\\", "%", "$1", "CONCURRENTLY", "INDEX", "ON",
    "VACUUM", "COPY", "FROM", "STDIN", "WITH", "AS", "DROP", "EXTENSION", "dbmigrate",
    "SAVEPOINT", "CALL", "IF", "NOT", "EXISTS", "fz.t_fuzz", "'a;b'", "$x$;$x$", "E'\\''",
    "\u00e9", "\U0001F600", "\ufeff", "\u202e", "dbmigrate.migrate_upgrade()", "SET", "ROLE",
    "LOCAL", "=", "ALL", "DEFERRED", "CONSTRAINTS", "DATABASE", "REINDEX", "SYSTEM", "TO",
    "STDOUT", "PROGRAM", "'true'", "TRANSACTION", "ISOLATION", "LEVEL", "SERIALIZABLE",
]

MESSAGES_STATIC = [
    "", "m", "merge", "Initial migration", "%s%s%s%n", "'; DROP TABLE x; --", "$$", "\\",
    "\u202egnp.exe", "\ufeffBOM", "e\u0301", "\U0001F600" * 10, "line1\nline2\r\nline3",
    "\x01\x02\x7f", "x" * 10000, "NULL", "\u0000".replace("\u0000", "nul"),
]

ID_WORDS = ["add", "users", "posts", "idx", "fix", "drop", "merge", "rev", "branch", "feat",
            "\u043c\u0438\u0433\u0440\u0430\u0446\u0438\u044f", "\u03b5\u03ba\u03b4\u03bf\u03c3\u03b7",
            "\u8fc1\u79fb", "caf\u00e9", "\u00fcber", "stra\u00dfe", "\uff11\uff12\uff13\uff14"]


# --------------------------------------------------------------------------
# The graph as the fuzzer believes it is
# --------------------------------------------------------------------------

class Model:
    def __init__(self):
        self.ids = []
        self.parents = {}
        self.children = {}
        self.is_head = {}
        self.builtin = {}
        self.current = []
        self.version = []

    def load(self, rows, version):
        self.version = list(version)
        self.ids = [r[0] for r in rows]
        self.parents = {r[0]: list(r[1] or []) for r in rows}
        self.children = {i: [] for i in self.ids}
        for i in self.ids:
            for p in self.parents[i]:
                if p in self.children:
                    self.children[p].append(i)
        self.is_head = {r[0]: r[2] for r in rows}
        self.builtin = {r[0]: r[3] for r in rows}
        vset = set(self.version)
        self.current = [i for i in self.ids if i in vset]
        self._applied = None

    def heads(self):
        return [i for i in self.ids if not self.children.get(i)]

    def ancestors(self, start):
        seen = set()
        stack = [start]
        while stack:
            x = stack.pop()
            for p in self.parents.get(x, []):
                if p not in seen:
                    seen.add(p)
                    stack.append(p)
        return seen

    def applied(self):
        if self._applied is None:
            a = set()
            for c in self.current:
                a.add(c)
                a |= self.ancestors(c)
            self._applied = a
        return self._applied

    def check(self, version_rows):
        """Invariants of a graph dbmigrate maintains; returns a list of problems."""
        problems = []
        pos = {i: k for k, i in enumerate(self.ids)}
        for i in self.ids:
            ps = self.parents[i]
            if len(set(ps)) != len(ps):
                problems.append("revision %s lists a parent twice: %s" % (short(i), short(ps)))
            for p in ps:
                if p not in pos:
                    problems.append("parent %s of %s is not registered" % (short(p), short(i)))
                elif pos[p] > pos[i]:
                    problems.append("parent %s is registered after its child %s" % (short(p), short(i)))
            head = not self.children[i]
            if self.is_head[i] != head:
                problems.append("is_head of %s is %s, but it has %d children"
                                % (short(i), self.is_head[i], len(self.children[i])))
        for v in version_rows:
            if v not in pos:
                problems.append("dbmigrate.version holds %s, which is not registered" % short(v))
        for v in version_rows:
            anc = self.ancestors(v)
            for w in version_rows:
                if w != v and w in anc:
                    problems.append("dbmigrate.version holds %s together with its ancestor %s"
                                    % (short(v), short(w)))
        return problems


def merge_id(parents):
    return hashlib.sha256(("merge " + " ".join(sorted(parents, key=lambda s: s.encode())))
                          .encode()).hexdigest()[:12]


# --------------------------------------------------------------------------
# Calls
# --------------------------------------------------------------------------

class Call:
    __slots__ = ("fn", "template", "params", "write", "check", "note")

    def __init__(self, fn, template, params, write, check=None, note=None):
        self.fn = fn
        self.template = template
        self.params = params
        self.write = write
        self.check = check
        self.note = note

    def args_display(self):
        return ", ".join(short(p) for p in self.params)

    def sql(self, compact=True):
        if self.note == "scs off":
            return ("SET LOCAL standard_conforming_strings = off; "
                    + self.template % tuple(lit_e(p) for p in self.params))
        text = render(self.template, self.params, compact)
        if self.note == "repeatable read":
            text = "BEGIN ISOLATION LEVEL REPEATABLE READ; " + text + "; ROLLBACK"
        return text


class LostConnection(Exception):
    pass


class LibraryReplaced(LostConnection):
    """dbmigrate.so was reinstalled under a running backend: what that backend
    does next (SIGBUS, garbage function info) says nothing about dbmigrate."""


class Fuzzer:
    def __init__(self, opts):
        self.o = opts
        self.rng = random.Random(opts.seed)
        self.db = opts.dbname or "dbm_fuzz_%d" % os.getpid()
        self.conn = None
        self.cur = None
        self.snapshot_prepared = None
        self.model_prepared = None
        self.force_reconnect = False
        self.lib_path = None
        self.conn_lib_stamp = None
        self.model = Model()
        self.snapshot = None
        self.stats = collections.Counter()
        self.by_state = collections.Counter()
        self.by_fn = collections.Counter()
        self.ok_fn = collections.Counter()
        self.time_fn = collections.Counter()
        self.findings = []
        self.signatures = collections.Counter()
        self.kinds = collections.Counter()
        self.segment_calls = []
        self.calls = 0
        self.segment = None
        self.segment_plan = None
        self.token = 0
        self.log_path = None
        self.log_offset = None
        self.log_mode = None
        self.signal_lines = []
        self.started = time.time()
        self.stop_reason = None
        self.writer_errors = []
        self.extension_missing = False

    # ---------------------------------------------------------------- util
    def say(self, msg):
        print(msg, flush=True)

    def tok(self):
        self.token += 1
        return "%d_%d" % (self.o.seed % 100000, self.token)

    def connect(self, dbname):
        c = psycopg2.connect(dbname=dbname, application_name="dbm_fuzz",
                             connect_timeout=10)
        c.autocommit = True
        return c

    def open_main(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:
                pass
        deadline = time.time() + 90
        while True:
            try:
                self.conn = self.connect(self.db)
                break
            except psycopg2.OperationalError:
                if time.time() > deadline:    # starting up, or recovering from a crash
                    raise
                time.sleep(0.5)
        self.cur = self.conn.cursor()
        self.force_reconnect = False
        self.conn_lib_stamp = self.lib_stamp()
        self.session_settings(self.cur)
        self.snapshot_prepared = None
        self.model_prepared = None

    def session_settings(self, cur):
        cur.execute("SET client_min_messages = warning")
        # dbmigrate's state-changing calls refuse REPEATABLE READ and SERIALIZABLE
        cur.execute("SET default_transaction_isolation = 'read committed'")
        cur.execute("SET statement_timeout = %s", ("%ds" % self.o.statement_timeout,))
        cur.execute("SET dbmigrate.run_lock_timeout = '30s'")
        if self.o.quiet_server_log:
            # keep the server log small: no ERROR lines and no statements
            # with megabyte arguments; a crash is still logged by the postmaster
            cur.execute("SET log_min_messages = fatal")
            cur.execute("SET log_min_error_statement = panic")

    # ------------------------------------------------- the installed library
    def lib_stamp(self):
        """Size and modification time of $libdir/dbmigrate.so, or None."""
        if self.lib_path is None:
            return None
        try:
            c = self.connect("postgres")
            try:
                cur = c.cursor()
                cur.execute("SELECT size, modification FROM pg_stat_file(%s, true)", (self.lib_path,))
                return cur.fetchone()
            finally:
                c.close()
        except psycopg2.Error:
            return None

    def retire_stale_backend(self):
        """Close the backend that still maps the replaced library (it may crash
        on its way out) and forget what the server log says about it."""
        try:
            self.conn.close()
        except Exception:
            pass
        time.sleep(1.0)
        self.wait_for_server()
        lines = self.log_scan()
        for ln in lines:
            self.signal_lines.remove(ln)
        if lines:
            self.say("note: %d server log line(s) about the stale backend ignored: %s"
                     % (len(lines), " | ".join(lines)[:300]))
        self.open_main()
        self.snapshot = None

    def lib_replaced(self):
        """Whether dbmigrate.so changed since the main backend was opened (someone
        ran make install): then what that backend does is not dbmigrate's doing."""
        if self.lib_path is None or self.conn_lib_stamp is None:
            return False
        now = self.lib_stamp()
        return now is not None and now != self.conn_lib_stamp

    # ---------------------------------------------------------- server log
    def log_init(self):
        c = self.connect("postgres")
        cur = c.cursor()
        try:
            if self.o.server_log:
                self.log_mode = "file"
                self.log_path = self.o.server_log
                self.log_offset = os.path.getsize(self.log_path)
                return
            cur.execute("SELECT pg_current_logfile()")
            path = cur.fetchone()[0]
            if path is None:
                path = "/proc/self/fd/2"   # the backend's stderr is the postmaster's log
            cur.execute("SELECT size, isdir FROM pg_stat_file(%s, true)", (path,))
            row = cur.fetchone()
            if row is None or row[0] is None or row[1]:
                self.log_mode = None
                return
            self.log_mode = "sql"
            self.log_path = path
            self.log_offset = row[0]
        except psycopg2.Error as e:
            self.log_mode = None
            self.say("note: cannot read the server log (%s); crashes are detected by the "
                     "lost connection only" % str(e).strip())
        finally:
            c.close()

    def log_scan(self):
        """New 'terminated by signal' / PANIC / TRAP lines since the last scan."""
        if self.log_mode is None:
            return []
        text = ""
        try:
            if self.log_mode == "file":
                with open(self.log_path, "rb") as f:
                    f.seek(self.log_offset)
                    data = f.read()
                self.log_offset += len(data)
                text = data.decode("utf-8", "replace")
            else:
                c = self.connect("postgres")
                try:
                    cur = c.cursor()
                    cur.execute("SET log_min_messages = fatal")
                    cur.execute("SELECT size FROM pg_stat_file(%s, true)", (self.log_path,))
                    size = cur.fetchone()[0] or 0
                    if size < self.log_offset:      # rotated or truncated
                        self.log_offset = 0
                    chunks = []
                    while self.log_offset < size:
                        n = min(size - self.log_offset, 16 * MB)
                        cur.execute("SELECT pg_read_binary_file(%s, %s, %s, true)",
                                    (self.log_path, self.log_offset, n))
                        data = bytes(cur.fetchone()[0] or b"")
                        if not data:
                            break
                        chunks.append(data)
                        self.log_offset += len(data)
                    text = b"".join(chunks).decode("utf-8", "replace")
                finally:
                    c.close()
        except (OSError, psycopg2.Error) as e:
            self.say("note: server log scan failed: %s" % str(e).strip())
            return []
        found = [ln for ln in text.splitlines()
                 if "terminated by signal" in ln or " PANIC: " in ln or "TRAP:" in ln
                 or "was terminated by exception" in ln]
        self.signal_lines.extend(found)
        return found

    def wait_for_server(self, limit=90):
        deadline = time.time() + limit
        while time.time() < deadline:
            try:
                c = self.connect("postgres")
                c.cursor().execute("SELECT 1")
                c.close()
                return True
            except psycopg2.Error:
                time.sleep(0.5)
        return False

    # ------------------------------------------------------------ findings
    def finding(self, kind, call, detail, error=None):
        if self.lib_replaced():
            self.stats["library_replaced"] += 1
            self.say("note: dbmigrate.so was reinstalled under the running backend (call %d, %s: %s); "
                     "not counted, reconnecting" % (self.calls, kind, str(error or detail).splitlines()[0][:160]))
            self.force_reconnect = True
            raise LibraryReplaced()
        self.kinds[kind] += 1
        n = len(self.findings) + 1
        f = {
            "n": n, "kind": kind, "seed": self.o.seed, "call_no": self.calls,
            "segment": self.segment, "fn": call.fn if call else None,
            "args": call.args_display() if call else None,
            "sql": call.sql() if call else None, "detail": detail, "error": error,
        }
        self.findings.append(f)
        # the same failure again (same kind, function and message): one line
        first = str(error or detail).splitlines()[0] if (error or detail) else ""
        sig = (kind, f["fn"], re.sub(r"[0-9a-f]{12}|\d+|\"[^\"]*\"", "#", first))
        self.signatures[sig] += 1
        if self.signatures[sig] > 2 or len(self.findings) > self.o.max_findings:
            if self.signatures[sig] <= 20:
                self.say("FAIL [%s] seed=%d call=%d: %s again (%s)" % (
                    kind, self.o.seed, self.calls, f["fn"], first[:160]))
            return
        path = None
        if self.o.out_dir:
            try:
                os.makedirs(self.o.out_dir, exist_ok=True)
                path = os.path.join(self.o.out_dir, "finding-%d-%03d-%s.sql" % (self.o.seed, n, kind))
                path = self.write_repro(path, f, call)
            except Exception as e:   # the repro is a convenience; never hide the finding
                path = "(could not write repro: %s)" % e
        sql_disp = f["sql"] or ""
        if len(sql_disp) > 1500:
            sql_disp = sql_disp[:1500] + "... (%d chars; full text in the repro file)" % len(sql_disp)
        lines = ["FAIL [%s] seed=%d call=%d segment=%s" % (kind, self.o.seed, self.calls, self.segment)]
        if call:
            lines.append("  function: %s" % call.fn)
            lines.append("  args:     %s" % f["args"])
            lines.append("  sql:      %s;" % sql_disp)
        lines.append("  problem:  %s" % detail)
        if error:
            lines.append("  error:    %s" % error)
        if path:
            lines.append("  repro:    %s" % path)
        self.say("\n".join(lines))

    def state_script(self):
        """SQL that rebuilds the current graph (revisions, version, log) in a fresh database."""
        out = ["-- rebuild the graph the failing call ran against (run in a fresh database)",
               "CREATE EXTENSION IF NOT EXISTS dbmigrate CASCADE;",
               "CREATE SCHEMA IF NOT EXISTS fz;",
               "SET client_min_messages = warning;"]
        try:
            c = self.connect(self.db)
            cur = c.cursor()
            cur.execute("SELECT revision, down_revisions, upgrade_sql, downgrade_sql, message, builtin "
                        "FROM dbmigrate.revision ORDER BY seq")
            rows = cur.fetchall()
            if not any(r[0] == "001_initial_migration" and r[5] for r in rows):
                out.append("SELECT dbmigrate.migrate_unregister('001_initial_migration');")
            for rid, parents, up, down, msg, builtin in rows:
                if builtin:
                    continue
                out.append("SELECT dbmigrate.migrate_register(%s, %s::text[], %s, %s, %s);"
                           % (lit(rid), lit(list(parents)), lit(up), lit(down), lit(msg)))
            cur.execute("SELECT revision FROM dbmigrate.version ORDER BY revision")
            for (v,) in cur.fetchall():
                out.append("INSERT INTO dbmigrate.version VALUES (%s);" % lit(v))
            cur.execute("SELECT revision, operation, checksum FROM dbmigrate.log ORDER BY id")
            for rid, op, ck in cur.fetchall():
                out.append("INSERT INTO dbmigrate.log (revision, operation, started_at, duration, checksum) "
                           "VALUES (%s, %s, now(), '0', %s);" % (lit(rid), lit(op), lit(ck)))
            c.close()
        except psycopg2.Error as e:
            out.append("-- (could not read the state: %s)" % str(e).strip().replace("\n", " "))
        return out

    def write_repro(self, path, f, call):
        """Two repros: the exact state before the call plus the call (not after a
        crash, whose state is gone), and a replay of the whole segment."""
        def header(fh, what):
            fh.write("-- dbmigrate fuzz finding %d: %s (%s)\n" % (f["n"], f["kind"], what))
            fh.write("-- seed %d, call %d, segment %s, function %s\n"
                     % (f["seed"], f["call_no"], f["segment"], f["fn"]))
            fh.write("-- problem: %s\n" % str(f["detail"]).replace("\n", "\n--   "))
            if f["error"]:
                fh.write("-- error: %s\n" % str(f["error"]).replace("\n", "\n--   "))
            if str(f["segment"]).startswith("race"):
                fh.write("-- NOTE: race segment: a second session registered, merged and unregistered\n"
                         "-- revisions concurrently (see writer_loop in fuzz.py); a replay in one\n"
                         "-- session may need that concurrency to fail.\n")

        replay = path[:-4] + "-replay.sql"
        with open(replay, "w", encoding="utf-8", errors="surrogateescape") as fh:
            header(fh, "replay of the segment")
            fh.write("-- run in a fresh database: psql -X -d <db> -f %s\n" % os.path.basename(replay))
            fh.write("-- errors are expected along the way; the last statement is the finding.\n"
                     "-- Ids made by migrate_revision() are random, so later calls naming them may\n"
                     "-- differ from the original run.\n")
            fh.write("SET client_min_messages = warning;\nCREATE EXTENSION IF NOT EXISTS dbmigrate CASCADE;\n"
                     "CREATE SCHEMA IF NOT EXISTS fz;\n")
            fh.write(SETUP_FUNCTION.strip() + "\n")
            fh.write("SELECT * FROM fzsetup.run(%s::jsonb);\n"
                     % lit(json.dumps(self.segment_plan or []), compact=False))
            for s in self.segment_calls:
                fh.write(s + ("\n" if s.startswith("\\") else ";\n"))   # \c: a fresh backend
        if f["kind"] == "crash" or call is None:
            return replay
        with open(path, "w", encoding="utf-8", errors="surrogateescape") as fh:
            header(fh, "state before the call, then the call")
            fh.write("-- run in a fresh database: psql -X -d <db> -f %s\n" % os.path.basename(path))
            fh.write("-- recent calls of the segment, oldest first:\n")
            for s in list(self.segment_calls)[-12:]:
                fh.write("--   %s\n" % (s[:300].replace("\n", "\\n")))
            fh.write("\n".join(self.state_script()) + "\n")
            fh.write("\n-- the call:\nBEGIN ISOLATION LEVEL READ COMMITTED;\n%s;\nROLLBACK;\n" % call.sql())
        return path + " (replay: %s)" % replay

    # ---------------------------------------------------------- execution
    def execute_prepared(self, name, sql, attr):
        """EXECUTE the statement `name` (prepared once per connection, kept
        in self.<attr>), preparing it again after a migration ran
        DEALLOCATE ALL or DISCARD; returns the one row."""
        if getattr(self, attr) is not self.conn:
            self.cur.execute("PREPARE %s AS %s" % (name, sql))
            setattr(self, attr, self.conn)
        try:
            self.cur.execute("EXECUTE " + name)
        except psycopg2.Error as e:
            if e.pgcode != "26000":
                raise
            self.cur.execute("PREPARE %s AS %s" % (name, sql))
            self.cur.execute("EXECUTE " + name)
        return self.cur.fetchone()

    def take_snapshot(self):
        t0 = time.time()
        row = self.execute_prepared("fz_snapshot", STATE_TABLES_SQL, "snapshot_prepared")
        self.time_fn["(state snapshots)"] += time.time() - t0
        return row

    def refresh_model(self):
        """Reload the graph, the version rows and the state fingerprints."""
        t0 = time.time()
        row = self.execute_prepared("fz_model", MODEL_SQL, "model_prepared")
        n = len(STATE_PARTS)
        self.snapshot = tuple(row[:n])
        self.model.load(row[n] or [], row[n + 1] or [])
        self.time_fn["(model refresh)"] += time.time() - t0

    def is_lost(self, e):
        """Whether an error means the main connection is gone (a crashed backend)."""
        if self.conn is None or self.conn.closed:
            return True
        if getattr(e, "pgcode", None) is None:
            try:
                self.cur.execute("SELECT 1")
                return False
            except psycopg2.Error:
                return True
        return False

    def handle_lost(self, call, e, where):
        time.sleep(0.3)
        up = self.wait_for_server()
        lines = self.log_scan()
        detail = "connection lost during %s" % where
        if lines:
            detail += "; server log: " + " | ".join(lines[-3:])
        self.finding("crash", call, detail, error=str(e).strip())
        if not up:
            self.stop_reason = "server did not come back after a crash"
            raise LostConnection()
        if self.kinds["crash"] >= self.o.max_crashes:
            self.stop_reason = "stopped after %d crashes" % self.kinds["crash"]
            raise LostConnection()
        self.open_main()
        self.snapshot = None
        raise LostConnection()

    def run_call(self, call, racing=False):
        """Run one call in its own transaction and check everything about it."""
        self.calls += 1
        self.by_fn[call.fn] += 1
        self.segment_calls.append(call.sql())
        cur = self.cur
        if not racing and self.snapshot is None:
            try:
                self.snapshot = self.take_snapshot()
            except psycopg2.Error as e:
                if self.is_lost(e):
                    self.handle_lost(None, e, "a state snapshot")
                self.on_missing_extension(e)
                return
        before = self.snapshot
        started = time.time()
        rows = None
        err = None
        try:
            # autocommit: the call is a transaction of its own (READ COMMITTED, set
            # for the session), committed when it succeeds and rolled back when it fails
            if call.note == "repeatable read":
                try:
                    cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ; " + call.template, call.params)
                    rows = cur.fetchall() if cur.description else None
                finally:
                    if not self.conn.closed:
                        cur.execute("ROLLBACK")
                if call.write:
                    call.check = None       # it was rolled back: nothing else to compare
                    self.finding("wrong-result", call, "a state-changing call succeeded at REPEATABLE "
                                 "READ (it must refuse with 25000)")
            elif call.note == "scs off":
                # one implicit transaction: the SET LOCAL ends with the call; literals
                # are E'' strings, which read the same with the setting off
                cur.execute(call.sql())
                rows = cur.fetchall() if cur.description else None
            else:
                cur.execute(call.template, call.params)
                rows = cur.fetchall() if cur.description else None
        except psycopg2.Error as e:
            err = e
        except (ValueError, UnicodeEncodeError):    # client-side refusal (NUL, surrogates)
            self.stats["client_refused"] += 1
            return
        elapsed = time.time() - started
        self.time_fn[call.fn] += elapsed
        if self.conn.notifies:
            del self.conn.notifies[:]

        if err is not None:
            if self.is_lost(err):
                self.handle_lost(call, err, "the call")
            code = err.pgcode
            msg = (str(err).strip() or repr(err))
            self.stats["errors"] += 1
            self.by_state[code or "(none)"] += 1
            if code is None or not re.match(r"^[0-9A-Z]{5}$", code):
                self.finding("no-sqlstate", call, "the error carries no SQLSTATE", msg)
            elif code == "XX000":
                self.finding("XX000", call, "internal error (SQLSTATE XX000)", msg)
                # what the backend caches may be what went wrong: go on in a fresh one
                self.open_main()
                self.segment_calls.append("\\c")
            elif code == "57014" and elapsed >= self.o.statement_timeout - 0.5:
                self.finding("timeout", call, "the call ran into statement_timeout (%ds)"
                             % self.o.statement_timeout, msg)
            if racing:
                return
            try:
                after = self.take_snapshot()
            except psycopg2.Error as e:
                if self.is_lost(e):
                    self.handle_lost(call, e, "the state snapshot after a failed call")
                self.on_missing_extension(e)
                return
            if after != before:
                changed = [STATE_PARTS[i] for i in range(len(after)) if after[i] != before[i]]
                self.finding("half-changed", call, "the call failed but changed %s"
                             % ", ".join(changed), "%s: %s" % (code, msg.splitlines()[0]))
            self.snapshot = after
            return

        self.stats["ok"] += 1
        self.ok_fn[call.fn] += 1
        if racing:
            if call.check:
                problem = call.check(rows, None)
                if problem:
                    self.finding("wrong-result", call, problem)
            return
        try:
            if call.write:
                self.refresh_model()
                self.check_invariants(call)
            else:
                after = self.take_snapshot()
                if after != before:
                    changed = [STATE_PARTS[i] for i in range(len(after)) if after[i] != before[i]]
                    self.finding("read-changed-state", call, "a read-only call changed %s"
                                 % ", ".join(changed))
                self.snapshot = after
            if call.check:
                problem = call.check(rows, self.model)
                if problem:
                    self.finding("wrong-result", call, problem)
        except psycopg2.Error as e:
            if self.is_lost(e):
                self.handle_lost(call, e, "the checks after a successful call")
            self.on_missing_extension(e, call)

    def on_missing_extension(self, e, call=None):
        """dbmigrate's tables are gone (a migration dropped the schema?)."""
        try:
            self.cur.execute("ROLLBACK")
        except psycopg2.Error:
            pass
        self.cur.execute("SELECT count(*) FROM pg_extension WHERE extname = 'dbmigrate'")
        if self.cur.fetchone()[0] == 0 or getattr(e, "pgcode", None) in ("42P01", "3F000"):
            self.finding("extension-dropped", call,
                         "after this call dbmigrate's tables are gone: %s" % str(e).strip())
            self.extension_missing = True
            return
        raise e

    def check_invariants(self, call):
        t0 = time.time()
        try:
            self._check_invariants(call)
        finally:
            self.time_fn["(invariant checks)"] += time.time() - t0

    def _check_invariants(self, call):
        problems = self.model.check(self.model.version)
        if self.o.validate_every and self.calls % self.o.validate_every == 0:
            self.cur.execute("SELECT revision, problem FROM dbmigrate.migrate_validate()")
            for rid, prob in self.cur.fetchall():
                problems.append("migrate_validate(): %s: %s" % (short(rid), prob))
        if problems:
            self.finding("inconsistent", call, "; ".join(problems[:5]))

    # ---------------------------------------------------------- generators
    def pick(self, seq):
        return self.rng.choice(seq)

    def chance(self, p):
        return self.rng.random() < p

    def rand_string(self, maxlen=None):
        r = self.rng
        n = r.choice((0, 1, 2, 3, 4, 5, 8, 12, 20, 40, 100, 255, 256, 300)) if maxlen is None \
            else r.randint(0, maxlen)
        out = []
        for _ in range(n):
            x = r.random()
            if x < 0.6:
                out.append(r.choice(LETTERS))
            elif x < 0.85:
                out.append(r.choice(WEIRD_CHARS))
            else:
                out.append(chr(r.choice((r.randint(0x20, 0x7e), r.randint(0xa0, 0x2fff),
                                         r.randint(0x3000, 0xd7ff), r.randint(0xe000, 0xfffd),
                                         r.randint(0x10000, 0x10ffff)))))
        return "".join(out)

    def mutate(self, s):
        """A near miss of an id: confusables, case, combining marks, invisible characters."""
        r = self.rng
        if not s:
            return self.pick(WEIRD_CHARS)
        k = r.randint(0, 11)
        if k == 0:
            return "".join(CONFUSABLE.get(ch, ch) if r.random() < 0.5 else ch for ch in s)
        if k == 1:
            return "".join(chr(0xff10 + int(ch)) if ch.isdigit() and ch.isascii() else ch for ch in s)
        if k == 2:
            return s.upper() if s != s.upper() else s.lower()
        if k == 3:
            i = r.randint(0, len(s))
            return s[:i] + r.choice(("\u0301", "\u0308", "\u200b", "\ufeff", "\u200f", "\u202e",
                                     "\u00a0", " ", "\t", "\n")) + s[i:]
        if k == 4:
            return s + r.choice(("+1", "+0", "+", "+-1", "++1", "+2147483648", "-1", "+\uff11",
                                 "+99999999999999999999", "+abc", " +1", "+1 "))
        if k == 5:
            return s[:-1]
        if k == 6:
            return s + r.choice(LETTERS)
        if k == 7:
            return "\ufeff" + s
        if k == 8:
            return unicodedata.normalize(r.choice(("NFD", "NFKD", "NFKC")), s)
        if k == 9:
            return s[:r.randint(1, max(1, len(s)))]
        if k == 10:
            return s + "," + s
        return s * r.randint(2, 3)

    def prefix(self, s):
        """A non-empty prefix of s (s itself when it is empty)."""
        return s[:self.rng.randint(1, len(s))] if s else s

    def existing(self):
        return self.pick(self.model.ids) if self.model.ids else self.rand_string()

    def gen_target(self):
        r = self.rng.random()
        m = self.model
        if r < 0.33 and m.ids:
            k = self.rng.randint(0, 9)
            if k <= 2:
                return self.existing()
            if k == 3:
                return self.pick(m.current) if m.current else self.pick(m.heads())
            if k == 4:
                return self.pick(m.heads())
            if k <= 6:
                s = self.existing()
                return self.prefix(s)
            if k == 7:
                return "%s+%d" % (self.existing(), self.rng.choice((0, 1, 1, 2, 3, 50)))
            return self.pick(("head", "heads", "base", "+1", "-1", "+2", "-2"))
        if r < 0.60:
            return self.pick(TARGET_STATIC)
        if r < 0.75:
            return self.mutate(self.existing())
        if r < 0.88:
            return self.rand_string()
        if r < 0.92:
            return self.pick(("+", "-", "")) + str(self.rng.choice(
                (0, 1, 2, 3, 7, 2 ** 31 - 1, 2 ** 31, 2 ** 32 + 1, 10 ** 20, -1)))
        if r < 0.985:
            return None
        return self.pick(HUGE_STRINGS)

    def gen_new_id(self):
        r = self.rng.random()
        t = self.tok()
        if r < 0.45:
            style = self.rng.randint(0, 6)
            if style == 0:
                return "fz_%s" % t
            if style == 1:
                return "%012x" % self.rng.getrandbits(48)
            if style == 2:
                return "%s_%s" % (self.pick(ID_WORDS), t)
            if style == 3:
                return "abcd" + self.rng.choice(("", "e", "ef", "_", "0", "1")) + t
            if style == 4:
                return str(self.rng.randint(0, 99))
            if style == 5:
                return "v%d.%d-%s" % (self.rng.randint(0, 9), self.rng.randint(0, 9), t)
            return ("r" + t) * self.rng.randint(1, 40)
        if r < 0.60:
            return self.existing()
        if r < 0.70:
            return self.mutate(self.existing())
        if r < 0.82:
            return self.pick(TARGET_STATIC)
        if r < 0.96:
            return self.rand_string()
        if r < 0.99:
            return None
        return self.pick(HUGE_STRINGS)

    def gen_parent(self):
        r = self.rng.random()
        m = self.model
        if r < 0.45 and m.ids:
            return self.pick(m.heads()) if self.chance(0.6) else self.existing()
        if r < 0.60:
            return None
        if r < 0.70:
            s = self.existing()
            return self.prefix(s)
        if r < 0.80:
            return self.mutate(self.existing())
        if r < 0.90:
            return self.pick(TARGET_STATIC + ["a,b", "{a}", "{%s}" % self.existing(),
                                              self.existing() + "," + self.existing()])
        if r < 0.99:
            return self.rand_string()
        return self.pick(HUGE_STRINGS)

    def gen_elem(self):
        r = self.rng.random()
        if r < 0.5 and self.model.ids:
            return self.pick(self.model.heads()) if self.chance(0.5) else self.existing()
        if r < 0.62:
            return "heads"
        if r < 0.72:
            s = self.existing()
            return self.prefix(s)
        if r < 0.80:
            return None
        if r < 0.88:
            return self.mutate(self.existing())
        if r < 0.995:
            return self.pick(TARGET_STATIC) if self.chance(0.5) else self.rand_string()
        return self.pick(HUGE_STRINGS)

    def gen_array(self, merge=False):
        """(template fragment, params) for a text[] argument."""
        r = self.rng.random()
        if r < 0.05:
            return "%s::text[]", [None]
        if r < 0.12:
            return "%s::text[]", [[]]
        if r < 0.70:
            n = self.rng.choice((1, 2, 2, 2, 3, 3, 4, 6))
            elems = [self.gen_elem() for _ in range(n)]
            if self.chance(0.15) and elems:
                elems.append(self.pick(elems))          # duplicate element
            return "%s::text[]", [elems]
        if r < 0.82:
            # multi-dimensional
            d1 = self.rng.choice((1, 2, 3))
            d2 = self.rng.choice((1, 2, 3))
            rows = [[self.gen_elem() for _ in range(d2)] for _ in range(d1)]
            if self.chance(0.2):
                rows = [rows, rows]          # three dimensions
            return "%s::text[]", [rows]
        if r < 0.94:
            ids = self.model.ids or ["a", "b"]
            a, b = self.pick(ids), self.pick(ids)
            lits = ["[0:1]={%s,%s}", "[-5:-4]={%s,%s}", "[2147483646:2147483647]={%s,%s}",
                    "{{%s},{%s}}", "{%s,NULL}", "{\"%s\",\"heads\",%s}", "{ %s , %s }",
                    "{%s,%s,heads,heads}", "{{}}", "{}", "{\"\"}", "{NULL}", "{\"NULL\"}"]
            tpl = self.pick(lits)
            q = lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
            try:
                text = tpl % ((q(a), q(b))[:tpl.count("%s")])
            except TypeError:
                text = tpl
            return "%s::text[]", [Lit(text)]
        # a text literal that is not an array literal
        return "%s::text[]", [Lit(self.pick(("heads", "{", "}", "{a", "{{a},b}", "[1:0]={}",
                                              "{a,b}}", '{"}', "{\\}", "", "NULL")))]

    def gen_sql(self, direction="up", allow_null=True):
        r = self.rng.random()
        t = self.tok()
        if r < 0.45:
            up, down = self.pick(SQL_SAFE)
            s = up if direction == "up" else down
            if s is None:
                return None
            return s.replace("{t}", t)
        if r < 0.58:
            return self.pick(SQL_REGISTRATION_HOSTILE)
        if r < 0.72:
            return self.pick(SQL_RUNTIME_FAIL).replace("{t}", t)
        if r < 0.87:
            n = self.rng.randint(1, 25)
            return self.rng.choice((" ", "", "\n")).join(self.pick(SQL_TOKENS) for _ in range(n))
        if r < 0.93:
            return self.rand_string()
        if r < 0.985:
            return None if allow_null else ""
        return self.pick(HUGE_SQL)

    def gen_message(self):
        r = self.rng.random()
        if r < 0.35:
            return None
        if r < 0.6:
            return "fuzz %s" % self.tok()
        if r < 0.8:
            return self.pick(MESSAGES_STATIC)
        if r < 0.995:
            return self.rand_string()
        return self.pick((BIG_A, BIG_EMOJI))

    # --------------------------------------------------------- call makers
    def c_register(self):
        rid = self.gen_new_id()
        parent = self.gen_parent()
        up = self.gen_sql("up", allow_null=self.chance(0.3))
        down = self.gen_sql("down")
        msg = self.gen_message()
        form = self.rng.randint(0, 5)
        if form == 0:
            tpl = "SELECT dbmigrate.migrate_register(%s::text, %s::text, %s::text)"
            params = [rid, parent, up]
        elif form == 1:
            tpl = "SELECT dbmigrate.migrate_register(%s::text, %s::text, %s::text, %s::text)"
            params = [rid, parent, up, down]
        elif form == 2:
            tpl = ("SELECT dbmigrate.migrate_register(message => %s, downgrade_sql => %s, "
                   "upgrade_sql => %s, down_revision => %s::text, revision => %s)")
            params = [msg, down, up, parent, rid]
            return Call("migrate_register(text,text,...)", tpl, params, True,
                        self.expect_register(rid))
        elif form == 3 and parent is None:
            # untyped NULL parent: ambiguous between the text and text[] forms
            tpl = "SELECT dbmigrate.migrate_register(%s, NULL, %s, %s, %s)"
            params = [rid, up, down, msg]
        else:
            tpl = "SELECT dbmigrate.migrate_register(%s::text, %s::text, %s::text, %s::text, %s::text)"
            params = [rid, parent, up, down, msg]
        return Call("migrate_register(text,text,...)", tpl, params, True, self.expect_register(rid))

    def c_register_array(self):
        rid = self.gen_new_id()
        frag, aparams = self.gen_array()
        up = self.gen_sql("up", allow_null=self.chance(0.3))
        down = self.gen_sql("down")
        msg = self.gen_message()
        if self.chance(0.2):
            tpl = "SELECT dbmigrate.migrate_register(%%s::text, %s, %%s::text)" % frag
            params = [rid] + aparams + [up]
        else:
            tpl = "SELECT dbmigrate.migrate_register(%%s::text, %s, %%s::text, %%s::text, %%s::text)" % frag
            params = [rid] + aparams + [up, down, msg]
        return Call("migrate_register(text,text[],...)", tpl, params, True, self.expect_register(rid))

    def c_revision(self):
        msg = self.gen_message()
        up = self.gen_sql("up", allow_null=self.chance(0.2))
        down = self.gen_sql("down")
        if self.chance(0.3):
            tpl = "SELECT dbmigrate.migrate_revision(%s::text, %s::text)"
            params = [msg, up]
        else:
            tpl = "SELECT dbmigrate.migrate_revision(%s::text, %s::text, %s::text)"
            params = [msg, up, down]
        return Call("migrate_revision", tpl, params, True, self.expect_revision())

    def c_merge(self):
        frag, aparams = self.gen_array(merge=True)
        msg = self.gen_message()
        if self.chance(0.3):
            tpl = "SELECT dbmigrate.migrate_merge(%s)" % frag
            params = aparams
        else:
            tpl = "SELECT dbmigrate.migrate_merge(%s, %%s::text)" % frag
            params = aparams + [msg]
        elems = aparams[0] if aparams and isinstance(aparams[0], list) else None
        return Call("migrate_merge", tpl, params, True, self.expect_merge(elems))

    def c_unregister(self):
        m = self.model
        if m.ids and self.chance(0.5):
            v = self.pick(m.heads()) if self.chance(0.7) else self.existing()
        else:
            v = self.gen_target()
        return Call("migrate_unregister", "SELECT dbmigrate.migrate_unregister(%s::text)", [v], True,
                    self.expect_unregistered(v))

    def c_upgrade(self):
        v = self.gen_target()
        k = self.rng.randint(0, 9)
        if k == 0:
            return Call("migrate_upgrade", "SELECT * FROM dbmigrate.migrate_upgrade()", [], True,
                        self.expect_steps(True))
        if k == 1:
            return Call("migrate_upgrade", "SELECT dbmigrate.migrate_upgrade(%s::text)", [v], True)
        if k == 2:
            return Call("migrate_upgrade", "SELECT * FROM dbmigrate.migrate_upgrade(target => %s)",
                        [v], True, self.expect_steps(True))
        return Call("migrate_upgrade", "SELECT * FROM dbmigrate.migrate_upgrade(%s::text)", [v], True,
                    self.expect_steps(True))

    def c_downgrade(self):
        v = self.gen_target()
        if self.chance(0.1):
            return Call("migrate_downgrade(text)", "SELECT dbmigrate.migrate_downgrade(%s::text)", [v], True)
        return Call("migrate_downgrade(text)", "SELECT * FROM dbmigrate.migrate_downgrade(%s::text)",
                    [v], True, self.expect_steps(False))

    def c_downgrade_int(self):
        n = self.pick((None, 0, -1, 1, 1, 1, 2, 3, 5, 100, 2 ** 31 - 1, -2 ** 31))
        if self.chance(0.15):
            return Call("migrate_downgrade(int)", "SELECT * FROM dbmigrate.migrate_downgrade()", [], True,
                        self.expect_steps(False))
        return Call("migrate_downgrade(int)", "SELECT * FROM dbmigrate.migrate_downgrade(%s::integer)",
                    [n], True, self.expect_steps(False))

    def c_stamp(self):
        v = self.gen_target()
        return Call("migrate_stamp", "SELECT dbmigrate.migrate_stamp(%s::text)", [v], True,
                    self.expect_stamp(v))

    def c_show(self):
        v = self.gen_target()
        return Call("migrate_show", "SELECT * FROM dbmigrate.migrate_show(%s::text)", [v], False,
                    self.expect_show())

    def c_read(self):
        k = self.rng.randint(0, 7)
        if k == 0:
            return Call("migrate_current", "SELECT * FROM dbmigrate.migrate_current()", [], False,
                        self.expect_current())
        if k == 1:
            return Call("migrate_heads", "SELECT * FROM dbmigrate.migrate_heads()", [], False,
                        self.expect_heads())
        if k == 2:
            v = self.pick((None, True, False))
            return Call("migrate_history", "SELECT * FROM dbmigrate.migrate_history(%s::boolean)", [v],
                        False, self.expect_history())
        if k == 3:
            return Call("migrate_log", "SELECT * FROM dbmigrate.migrate_log()", [], False,
                        self.expect_log())
        if k == 4:
            return Call("migrate_validate", "SELECT * FROM dbmigrate.migrate_validate()", [], False,
                        self.expect_no_rows("migrate_validate()"))
        if k == 5:
            return Call("health", "SELECT dbmigrate.health()", [], False, self.expect_health())
        if k == 6:
            return Call("migrate_history", "SELECT dbmigrate.migrate_history()", [], False)
        return Call("migrate_show", "SELECT dbmigrate.migrate_show(%s::text)", [self.gen_target()], False)

    def c_seed(self):
        v = self.pick((None, True, False))
        return Call("seed_users", "SELECT dbmigrate.seed_users(%s::boolean)", [v], True)

    # ------------------------------------------------------------ checks
    def expect_register(self, rid):
        def check(rows, m):
            got = rows[0][0] if rows else None
            if got != rid:
                return "migrate_register returned %s, not the id it was given (%s)" % (short(got), short(rid))
            if m is not None and got not in m.parents:
                return "migrate_register returned %s, which is not registered afterwards" % short(got)
            return None
        return check

    def expect_revision(self):
        def check(rows, m):
            got = rows[0][0] if rows else None
            if got is None or not HEX12.match(got):
                return "migrate_revision returned %s, not 12 hex digits" % short(got)
            if m is not None and got not in m.parents:
                return "migrate_revision returned %s, which is not registered" % short(got)
            return None
        return check

    def expect_merge(self, elems):
        heads_before = list(self.model.heads())
        ids_before = set(self.model.ids)

        def check(rows, m):
            got = rows[0][0] if rows else None
            if got is None:
                return "migrate_merge returned NULL"
            if m is not None and got not in m.parents:
                return "migrate_merge returned %s, which is not registered" % short(got)
            if not HEX12.match(got) and got not in heads_before:
                return "migrate_merge returned %s: neither a merge id nor the single head" % short(got)
            if (elems and all(isinstance(e, str) and e in ids_before for e in elems)
                    and len(set(elems)) >= 2):
                want = merge_id(set(elems))
                if got != want:
                    return "migrate_merge of %s returned %s, expected sha256 id %s" % (
                        short(sorted(set(elems))), short(got), want)
                if m is not None and sorted(m.parents.get(got, [])) != sorted(set(elems)):
                    return "merge %s has parents %s, expected %s" % (
                        got, short(m.parents.get(got)), short(sorted(set(elems))))
            return None
        return check

    def expect_unregistered(self, v):
        def check(rows, m):
            if m is not None and v in m.parents:
                return "migrate_unregister(%s) succeeded but the revision is still registered" % short(v)
            return None
        return check

    def expect_steps(self, upgrade):
        def check(rows, m):
            if rows is None or m is None:
                return None
            seen = set()
            applied = m.applied()
            for row in rows:
                rid = row[0]
                if rid in seen:
                    return "revision %s returned twice" % short(rid)
                seen.add(rid)
                if rid not in m.parents:
                    return "returned step %s is not a registered revision" % short(rid)
                if upgrade and rid not in applied:
                    return "upgrade returned %s, which is not applied afterwards" % short(rid)
                if not upgrade and rid in applied:
                    return "downgrade returned %s, which is still applied afterwards" % short(rid)
            return None
        return check

    def expect_stamp(self, v):
        def check(rows, m):
            if m is None:
                return None
            if v == "base" and m.current:
                return "stamp('base') left %s current" % short(m.current)
            if v == "heads" and sorted(m.current) != sorted(m.heads()):
                return "stamp('heads') left current = %s, heads = %s" % (short(m.current), short(m.heads()))
            if v in m.parents and m.current != [v]:
                return "stamp(%s) left current = %s" % (short(v), short(m.current))
            return None
        return check

    def expect_show(self):
        ids = set(self.model.ids)

        def check(rows, m):
            if rows is None:
                return None
            if len(rows) != 1:
                return "migrate_show returned %d rows" % len(rows)
            if rows[0][0] not in ids:
                return "migrate_show returned %s, which is not registered" % short(rows[0][0])
            return None
        return check

    def expect_current(self):
        cur = sorted(self.model.current)

        def check(rows, m):
            got = sorted(r[0] for r in rows or [])
            if m is not None and got != cur:
                return "migrate_current() = %s, dbmigrate.version = %s" % (short(got), short(cur))
            return None
        return check

    def expect_heads(self):
        heads = self.model.heads()

        def check(rows, m):
            got = [r[0] for r in rows or []]
            if m is not None and got != heads:
                return "migrate_heads() = %s, expected %s" % (short(got), short(heads))
            return None
        return check

    def expect_history(self):
        ids = list(self.model.ids)

        def check(rows, m):
            got = [r[0] for r in rows or []]
            if m is None:
                if len(set(got)) != len(got):
                    return "migrate_history() lists a revision twice"
                return None
            if got != ids[::-1]:
                return "migrate_history() lists %d revisions in another order than registration (%d)" % (
                    len(got), len(ids))
            return None
        return check

    def expect_log(self):
        def check(rows, m):
            prev = None
            for r in rows or []:
                if prev is not None and r[0] <= prev:
                    return "migrate_log() ids not increasing"
                prev = r[0]
            return None
        return check

    def expect_no_rows(self, what):
        def check(rows, m):
            if m is not None and rows:
                return "%s reports %s" % (what, short([list(r) for r in rows[:3]]))
            return None
        return check

    def expect_health(self):
        cur = sorted(self.model.current)

        def check(rows, m):
            doc = rows[0][0] if rows else None
            if not isinstance(doc, dict):
                return "health() returned %s" % short(repr(doc))
            if doc.get("status") not in ("healthy", "pending", "unhealthy"):
                return "health() status %s" % short(str(doc.get("status")))
            if m is not None and doc.get("status") == "unhealthy":
                return "health() is unhealthy: %s" % short(str(doc.get("problems")), 300)
            if m is not None and sorted(doc.get("current") or []) != cur:
                return "health() current %s, version %s" % (short(doc.get("current")), short(cur))
            return None
        return check

    WEIGHTS = [
        ("c_register", 16), ("c_register_array", 10), ("c_revision", 5), ("c_merge", 9),
        ("c_unregister", 7), ("c_upgrade", 11), ("c_downgrade", 9), ("c_downgrade_int", 3),
        ("c_stamp", 8), ("c_show", 9), ("c_read", 6), ("c_seed", 0.3),
    ]

    # valid calls: keep the graph moving between the hostile ones
    def v_register(self):
        m = self.model
        rid = self.state_id(self.pick(("word", "hex", "prefix", "unicode", "numeric", "confusable")),
                            len(m.ids) + self.token)
        if m.ids and self.chance(0.9):
            parent = self.pick(m.heads()) if self.chance(0.7) else self.existing()
        else:
            parent = None
        up, down = self.pick(SQL_SAFE)
        t = self.tok()
        up = up.replace("{t}", t)
        down = down.replace("{t}", t) if down is not None and self.chance(0.9) else None
        if self.chance(0.15):
            # a valid registration of SQL that fails (or sabotages) when it runs
            if self.chance(0.5):
                up = self.pick(SQL_RUNTIME_FAIL).replace("{t}", t)
            else:
                down = self.pick(SQL_RUNTIME_FAIL).replace("{t}", t)
        return Call("migrate_register(text,text,...)",
                    "SELECT dbmigrate.migrate_register(%s::text, %s::text, %s::text, %s::text, %s::text)",
                    [rid, parent, up, down, self.gen_message()], True, self.expect_register(rid))

    def v_register_array(self):
        m = self.model
        heads = m.heads()
        rid = "fz_%s" % self.tok()
        if len(heads) >= 2 and self.chance(0.7):
            parents = self.rng.sample(heads, 2)
        elif m.ids:
            parents = [self.existing()]
        else:
            parents = []
        t = self.tok()
        return Call("migrate_register(text,text[],...)",
                    "SELECT dbmigrate.migrate_register(%s::text, %s::text[], %s::text, %s::text, %s::text)",
                    [rid, parents, "CREATE TABLE IF NOT EXISTS fz.m_%s ()" % t,
                     "DROP TABLE IF EXISTS fz.m_%s" % t, self.gen_message()], True,
                    self.expect_register(rid))

    def v_merge(self):
        heads = self.model.heads()
        if len(heads) >= 2 and self.chance(0.6):
            elems = self.rng.sample(heads, 2)
            if self.chance(0.3):
                elems = [e[:max(4, len(e) - 1)] for e in elems]      # prefixes
        else:
            elems = ["heads"]
        return Call("migrate_merge", "SELECT dbmigrate.migrate_merge(%s::text[], %s::text)",
                    [elems, self.gen_message()], True, self.expect_merge(elems))

    def v_move(self):
        m = self.model
        k = self.rng.randint(0, 9)
        applied = sorted(m.applied())
        if k <= 2:
            v = self.pick(("heads", "head", "+1", "+2")) if self.chance(0.5) or not m.ids else self.existing()
            return Call("migrate_upgrade", "SELECT * FROM dbmigrate.migrate_upgrade(%s::text)", [v], True,
                        self.expect_steps(True))
        if k <= 5:
            v = self.pick(("-1", "base", "-2")) if self.chance(0.5) or not applied else self.pick(applied)
            return Call("migrate_downgrade(text)", "SELECT * FROM dbmigrate.migrate_downgrade(%s::text)",
                        [v], True, self.expect_steps(False))
        if k <= 7:
            v = self.pick(("heads", "base", "head")) if self.chance(0.3) or not m.ids else self.existing()
            return Call("migrate_stamp", "SELECT dbmigrate.migrate_stamp(%s::text)", [v], True,
                        self.expect_stamp(v))
        cands = [h for h in m.heads() if h not in m.applied()] or m.ids or ["fz_none"]
        v = self.pick(cands)
        return Call("migrate_unregister", "SELECT dbmigrate.migrate_unregister(%s::text)", [v], True,
                    self.expect_unregistered(v))

    VALID = [("v_register", 5), ("v_register_array", 2), ("v_merge", 2), ("v_move", 6)]

    def next_call(self):
        table = self.VALID if self.chance(self.o.valid_share) else self.WEIGHTS
        names = [w[0] for w in table]
        weights = [w[1] for w in table]
        call = getattr(self, self.rng.choices(names, weights)[0])()
        if table is self.WEIGHTS and self.chance(0.02):
            # inside a REPEATABLE READ transaction (rolled back): state changes must be refused
            call.note = "repeatable read"
        elif self.chance(0.03) and call.fn.startswith(("migrate_register", "migrate_revision",
                                                       "migrate_upgrade", "migrate_downgrade")):
            # SQL registered, or run, with standard_conforming_strings off: a text that
            # splits into other statements than it did when it was checked
            call.note = "scs off"
        return call

    # ------------------------------------------------------------- states
    def safe_body(self, t, reversible=True):
        up = "CREATE TABLE IF NOT EXISTS fz.\"t_%s\" (id int)" % t.replace('"', '')
        down = "DROP TABLE IF EXISTS fz.\"t_%s\"" % t.replace('"', '')
        if self.chance(0.3):
            up, down = "SELECT 1", ""
        if not reversible:
            down = None
        return up, down

    def state_id(self, style, k):
        t = self.tok()
        if style == "hex":
            return "%012x" % self.rng.getrandbits(48)
        if style == "prefix":
            return "abcd%s%d" % (self.rng.choice(("", "e", "ef")), k)
        if style == "unicode":
            return "%s_%d" % (self.pick(ID_WORDS), k)
        if style == "numeric":
            return str(k)
        if style == "long":
            return ("%d_" % k + "x" * 255)[:255]
        if style == "confusable":
            base = "ab%d" % k
            return base if self.chance(0.5) else CONFUSABLE["a"] + base[1:]
        return "fz_%s" % t

    def plan_state(self, kind):
        """A list of fzsetup.run ops building a graph of the given kind."""
        ops = []
        ids = []
        heads = []
        style = self.pick(("word", "hex", "prefix", "unicode", "numeric", "long", "confusable", "word"))
        keep_initial = kind == "initial" or self.chance(0.15)
        if not keep_initial:
            ops.append({"op": "unregister", "id": "001_initial_migration"})
        else:
            ids.append("001_initial_migration")
            heads.append("001_initial_migration")
        used = set(ids)

        def new_id():
            for _ in range(20):
                i = self.state_id(style, len(used) + 1)
                if i not in used:
                    used.add(i)
                    return i
            i = "fz_%s" % self.tok()
            used.add(i)
            return i

        def reg(parents):
            i = new_id()
            up, down = self.safe_body(self.tok(), reversible=self.chance(0.9))
            ops.append({"op": "register", "id": i, "parents": parents, "up": up, "down": down,
                        "msg": self.pick((None, "m %d" % len(ids), "\u00e9\U0001F600"))
                        , "expect": i})
            ids.append(i)
            for p in parents:
                if p in heads:
                    heads.remove(p)
            heads.append(i)
            return i

        def merge(parents):
            mid = merge_id(parents)
            if mid in used:
                return None
            used.add(mid)
            ops.append({"op": "merge", "parents": parents, "msg": None, "expect": mid})
            ids.append(mid)
            for p in parents:
                if p in heads:
                    heads.remove(p)
            heads.append(mid)
            return mid

        if kind == "empty":
            pass
        elif kind == "initial":
            pass
        elif kind == "chain":
            prev = heads[-1:] if heads else []
            for _ in range(self.rng.randint(1, 25)):
                prev = [reg(prev)]
        elif kind in ("branches", "merged"):
            prev = heads[-1:] if heads else []
            for _ in range(self.rng.randint(1, 5)):
                prev = [reg(prev)]
            for _ in range(self.rng.randint(2, 4)):
                b = [self.pick(ids)] if ids else []
                for _ in range(self.rng.randint(1, 4)):
                    b = [reg(b)]
            if kind == "merged":
                while len(heads) >= 2 and self.chance(0.8):
                    a, b = self.rng.sample(heads, 2)
                    if self.chance(0.5):
                        merge([a, b])
                    else:
                        reg([a, b])
                for _ in range(self.rng.randint(0, 4)):
                    reg([self.pick(heads)])
        elif kind == "big":
            n = self.rng.randint(200, 500)
            if not heads:
                reg([])
            while len(ids) < n:
                x = self.rng.random()
                if x < 0.06:
                    reg([self.pick(ids)])
                elif x < 0.10 and len(heads) >= 2:
                    a, b = self.rng.sample(heads, 2)
                    if merge([a, b]) is None:
                        reg([a])
                elif x < 0.12 and len(heads) >= 2:
                    reg(self.rng.sample(heads, 2))
                else:
                    reg([self.pick(heads)])
            if self.chance(0.5):
                while len(heads) >= 2:
                    a, b = heads[0], heads[1]
                    if merge([a, b]) is None:
                        break
        # how much is applied
        if ids:
            x = self.rng.random()
            if x < 0.25:
                pass
            elif x < 0.45:
                ops.append({"op": "upgrade", "target": "heads"})
            elif x < 0.65:
                ops.append({"op": "upgrade", "target": self.pick(ids)})
            elif x < 0.80:
                ops.append({"op": "stamp", "target": self.pick(ids)})
            elif x < 0.90:
                ops.append({"op": "stamp", "target": "heads"})
                ops.append({"op": "downgrade", "target": "-1"})
            else:
                ops.append({"op": "upgrade", "target": "heads"})
                ops.append({"op": "downgrade", "target": self.pick(ids)})
        if kind == "initial" and self.chance(0.5):
            ops.append({"op": "upgrade", "target": "001_initial_migration"})
            if self.chance(0.5):
                ops.append({"op": "seed"})
        return ops

    def reset_database_state(self):
        cur = self.cur
        cur.execute("SET client_min_messages = warning")
        cur.execute("DROP EXTENSION IF EXISTS dbmigrate")
        cur.execute("DROP SCHEMA IF EXISTS fz CASCADE")
        cur.execute("DROP TABLE IF EXISTS public.users CASCADE")
        cur.execute("DISCARD TEMP")
        cur.execute("CREATE SCHEMA fz")
        cur.execute("CREATE EXTENSION dbmigrate CASCADE")
        self.extension_missing = False

    def build_state(self, kind):
        t0 = time.time()
        try:
            self._build_state(kind)
        finally:
            self.time_fn["(segment setup)"] += time.time() - t0

    def _build_state(self, kind):
        self.segment = kind
        if self.force_reconnect or self.chance(self.o.reconnect_chance) or self.lib_replaced():
            self.open_main()
        self.reset_database_state()
        plan = self.plan_state(kind)
        self.segment_plan = plan
        setup_call = Call("setup:%s" % kind, "SELECT * FROM fzsetup.run(%s::jsonb)",
                          [json.dumps(plan)], True)
        self.segment_calls = []
        try:
            self.cur.execute("BEGIN ISOLATION LEVEL READ COMMITTED; SELECT * FROM fzsetup.run(%s::jsonb)",
                             (json.dumps(plan),))
            rows = self.cur.fetchall()
            self.cur.execute("COMMIT")
        except psycopg2.Error as e:
            if self.is_lost(e):
                self.handle_lost(setup_call, e, "the setup of a %s graph" % kind)
            try:
                self.cur.execute("ROLLBACK")
            except psycopg2.Error:
                pass
            if e.pgcode == "XX000" or e.pgcode is None:
                self.finding("XX000" if e.pgcode else "no-sqlstate", setup_call,
                             "setup of a %s graph failed" % kind, str(e).strip())
            else:
                self.stats["setup_errors"] += 1
            rows = []
        for n, op, expected, got, state, message in rows:
            if state == "XX000":
                self.finding("XX000", setup_call, "setup op %d (%s %s): %s" % (n, op, short(expected), message))
            elif state is None:
                self.finding("wrong-result", setup_call, "setup op %d (%s): returned %s, expected %s"
                             % (n, op, short(got), short(expected)))
            else:
                self.stats["setup_errors"] += 1
                if self.o.verbose:
                    self.say("  setup op %d %s %s: %s %s" % (n, op, short(expected), state, message))
        self.snapshot = None
        self.refresh_model()
        self.check_invariants(setup_call)
        if self.chance(self.o.reconnect_chance):
            # the first calls of a fresh backend: library load, plans prepared on a full graph
            self.open_main()
            self.segment_calls.append("\\c")

    # --------------------------------------------------------------- race
    def writer_loop(self, stop, ids_seed):
        """Second session: registers, merges and unregisters while the main one reads."""
        rng = random.Random(ids_seed)
        try:
            c = self.connect(self.db)
        except psycopg2.Error as e:
            self.writer_errors.append(("connect", None, str(e)))
            return
        cur = c.cursor()
        self.session_settings(cur)
        mine = []
        n = 0
        while not stop.is_set():
            n += 1
            try:
                cur.execute("SELECT revision FROM dbmigrate.revision WHERE is_head ORDER BY seq")
                heads = [r[0] for r in cur.fetchall()]
                x = rng.random()
                if x < 0.55 or not mine:
                    rid = "w_%d_%d" % (ids_seed % 10000, n)
                    parent = rng.choice(heads) if heads and rng.random() < 0.9 else None
                    cur.execute("SELECT dbmigrate.migrate_register(%s, %s::text, 'SELECT 1', '')",
                                (rid, parent))
                    got = cur.fetchone()[0]
                    if got != rid:
                        self.writer_errors.append(("wrong-result", "migrate_register(%s)" % rid,
                                                   "returned %s" % short(got)))
                    mine.append(rid)
                elif x < 0.65 and len(heads) >= 2:
                    cur.execute("SELECT dbmigrate.migrate_merge(%s::text[])", (rng.sample(heads, 2),))
                    mine.append(cur.fetchone()[0])
                else:
                    victim = rng.choice(mine)
                    cur.execute("SELECT dbmigrate.migrate_unregister(%s)", (victim,))
                    mine.remove(victim)
            except psycopg2.Error as e:
                if c.closed or (e.pgcode is None):
                    self.writer_errors.append(("crash", "writer", str(e).strip()))
                    return
                if e.pgcode == "XX000":
                    self.writer_errors.append(("XX000", "writer", str(e).strip()))
                if e.pgcode == "42704" or e.pgcode == "2BP01":
                    pass
        try:
            c.close()
        except Exception:
            pass

    def race_segment(self, ncalls):
        kind = self.pick(("big", "merged", "chain"))
        self.build_state(kind)
        self.segment = "race:" + kind
        stop = threading.Event()
        self.writer_errors = []
        w = threading.Thread(target=self.writer_loop, args=(stop, self.rng.getrandbits(32)), daemon=True)
        w.start()
        lost = None
        try:
            for _ in range(ncalls):
                if self.done():
                    break
                call = self.c_show() if self.chance(0.3) else self.c_read()
                if call.fn not in ("migrate_history", "migrate_log", "health"):
                    call.check = None
                self.run_call(call, racing=True)
                if self.writer_errors and self.writer_errors[-1][0] == "crash":
                    break
        except LostConnection as e:
            lost = e
        finally:
            stop.set()
            w.join(30)
        for kind_, what, msg in self.writer_errors:
            c = Call("race writer: %s" % what, "-- concurrent %s" % what, [], True)
            if kind_ == "crash":
                if lost is not None:
                    continue        # the same crash, already reported by the main session
                self.wait_for_server()
                lines = self.log_scan()
                self.finding("crash", c, "race writer lost its connection" +
                             ("; server log: " + " | ".join(lines[-3:]) if lines else ""), msg)
                self.open_main()
                lost = LostConnection()
            else:
                self.finding(kind_, c, msg)
        if lost is not None:
            raise lost
        self.snapshot = None
        self.refresh_model()
        self.check_invariants(Call("race writer", "-- after the race", [], True))

    # ---------------------------------------------------------------- run
    def done(self):
        if self.stop_reason:
            return True
        if self.calls >= self.o.calls:
            return True
        if self.o.time_limit and time.time() - self.started > self.o.time_limit:
            self.stop_reason = "time limit of %ds reached" % self.o.time_limit
            return True
        return False

    def setup_database(self):
        c = self.connect("postgres")
        cur = c.cursor()
        try:
            cur.execute("SELECT setting FROM pg_config WHERE name = 'PKGLIBDIR'")
            self.lib_path = cur.fetchone()[0] + "/dbmigrate.so"
        except psycopg2.Error:
            self.lib_path = None        # not a superuser: no reinstall detection
        cur.execute("SET client_min_messages = warning")
        cur.execute("DROP DATABASE IF EXISTS %s" % self.quote_ident(self.db))
        cur.execute("CREATE DATABASE %s" % self.quote_ident(self.db))
        c.close()
        self.open_main()
        self.cur.execute("CREATE SCHEMA fz")
        self.cur.execute("CREATE EXTENSION dbmigrate CASCADE")
        self.cur.execute(SETUP_FUNCTION)
        self.cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'dbmigrate'")
        return self.cur.fetchone()[0]

    @staticmethod
    def quote_ident(s):
        return '"' + s.replace('"', '""') + '"'

    def drop_database(self):
        try:
            if self.conn is not None:
                self.conn.close()
            c = self.connect("postgres")
            c.cursor().execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.quote_ident(self.db))
            c.close()
        except psycopg2.Error as e:
            self.say("note: could not drop database %s: %s" % (self.db, str(e).strip()))

    def run(self):
        self.log_init()
        version = self.setup_database()
        self.say("dbmigrate fuzz: seed %d, %d calls%s, database %s, dbmigrate %s, server log: %s"
                 % (self.o.seed, self.o.calls,
                    ", time limit %ds" % self.o.time_limit if self.o.time_limit else "",
                    self.db, version,
                    self.log_path if self.log_mode else "not readable (connection checks only)"))
        kinds = ["empty", "initial", "chain", "chain", "branches", "merged", "merged", "big"]
        while not self.done():
            try:
                if self.o.race and self.chance(self.o.race):
                    self.race_segment(self.rng.randint(50, 200))
                    continue
                kind = self.pick(kinds)
                self.build_state(kind)
                seg_calls = self.rng.randint(self.o.segment_min, self.o.segment_max)
                for _ in range(seg_calls):
                    if self.done() or self.extension_missing:
                        break
                    if len(self.model.ids) > 900:
                        break
                    if self.chance(0.005):
                        self.open_main()
                        self.segment_calls.append("\\c")
                    self.run_call(self.next_call())
                    if self.o.progress and self.calls % self.o.progress == 0:
                        self.progress()
            except LibraryReplaced:
                self.retire_stale_backend()
                continue
            except LostConnection:
                if self.stop_reason:
                    break
                continue
            except psycopg2.Error as e:
                # an error of the harness's own queries (setup, snapshots): report, start over
                try:
                    self.finding("harness", None, "fuzz.py's own query failed in segment %s: %s"
                                 % (self.segment, traceback.format_exc(limit=3)), str(e).strip())
                except LibraryReplaced:
                    self.retire_stale_backend()
                    continue
                if self.kinds["harness"] > 5:
                    self.stop_reason = "too many harness errors"
                    break
                try:
                    self.open_main()
                except psycopg2.Error:
                    if not self.wait_for_server():
                        break
                    self.open_main()
        self.log_scan()
        for ln in self.signal_lines:
            if not any(ln in str(f["detail"]) for f in self.findings):
                try:
                    self.finding("crash", None, "server log: %s" % ln)
                except LibraryReplaced:
                    pass
        if not self.o.keep:
            self.drop_database()

    def progress(self):
        el = time.time() - self.started
        self.say("  ... %d calls, %d errors, %d findings, %.0fs (%.0f calls/s)"
                 % (self.calls, self.stats["errors"], len(self.findings), el, self.calls / max(el, 0.001)))

    def summary(self):
        el = time.time() - self.started
        out = ["", "== dbmigrate fuzz summary (seed %d)" % self.o.seed,
               "calls:            %d in %.1fs (%.0f calls/s)%s" % (
                   self.calls, el, self.calls / max(el, 0.001),
                   "; " + self.stop_reason if self.stop_reason else ""),
               "succeeded:        %d" % self.stats["ok"],
               "errors:           %d" % self.stats["errors"]]
        for code, n in sorted(self.by_state.items(), key=lambda kv: (-kv[1], kv[0])):
            name = psycopg2.errorcodes.lookup(code) if code and code != "(none)" else None
            out.append("  %-6s %-40s %7d" % (code, (name or "").lower(), n))
        if self.stats["library_replaced"]:
            out.append("dbmigrate.so reinstalled under a running backend: %d event(s), not counted "
                       "(the fuzzer reconnected)" % self.stats["library_replaced"])
        if self.stats["client_refused"]:
            out.append("refused by the client library: %d" % self.stats["client_refused"])
        out.append("setup ops that failed (expected now and then): %d" % self.stats["setup_errors"])
        out.append("calls by function (succeeded / called, seconds in the calls):")
        for fn, n in sorted(self.by_fn.items()):
            out.append("  %-36s %6d / %-6d %7.1fs" % (fn, self.ok_fn[fn], n, self.time_fn[fn]))
        out.append("harness: " + ", ".join("%s %.1fs" % (k.strip("()"), v) for k, v in
                                           sorted(self.time_fn.items()) if k.startswith("(")))
        out.append("crashes:          %d" % self.kinds["crash"])
        out.append("XX000:            %d" % self.kinds["XX000"])
        out.append("no SQLSTATE:      %d" % self.kinds["no-sqlstate"])
        out.append("half-changed:     %d" % self.kinds["half-changed"])
        for k in ("read-changed-state", "wrong-result", "inconsistent", "timeout", "extension-dropped",
                  "harness"):
            if self.kinds[k]:
                out.append("%-17s %d" % (k + ":", self.kinds[k]))
        if self.signatures:
            out.append("distinct failures (kind, function, message):")
            for (k, fn, msg), n in self.signatures.most_common(30):
                out.append("  %5d x [%s] %s: %s" % (n, k, fn, msg[:150]))
        if self.findings:
            out.append("FAILED: %d finding(s); rerun with --seed %d%s" % (
                len(self.findings), self.o.seed,
                "; repros in %s" % self.o.out_dir if self.o.out_dir else ""))
        else:
            out.append("PASSED")
        self.say("\n".join(out))
        return 1 if self.findings else 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=1000, help="number of fuzzed calls (default 1000)")
    ap.add_argument("--seed", type=int, default=None, help="random seed (default: random, printed)")
    ap.add_argument("--time-limit", type=int, default=0, help="stop after this many seconds (0: none)")
    ap.add_argument("--dbname", default=None, help="database to create and use (default dbm_fuzz_<pid>)")
    ap.add_argument("--keep", action="store_true", help="keep the database afterwards")
    ap.add_argument("--out-dir", default=None,
                    help="directory for repro files (default /tmp/dbm-fuzz-<seed>)")
    ap.add_argument("--server-log", default=None,
                    help="server log file to scan (default: found through SQL)")
    ap.add_argument("--race", type=float, default=0.08,
                    help="share of segments that race reads against a registering session")
    ap.add_argument("--valid-share", type=float, default=0.3,
                    help="share of calls made with plausible valid arguments (default 0.3)")
    ap.add_argument("--segment-min", type=int, default=80)
    ap.add_argument("--segment-max", type=int, default=400)
    ap.add_argument("--statement-timeout", type=int, default=60)
    ap.add_argument("--validate-every", type=int, default=7,
                    help="run migrate_validate() after every Nth successful state change")
    ap.add_argument("--reconnect-chance", type=float, default=0.25)
    ap.add_argument("--max-crashes", type=int, default=10)
    ap.add_argument("--max-findings", type=int, default=200, help="findings printed in full")
    ap.add_argument("--progress", type=int, default=0, help="print progress every N calls")
    ap.add_argument("--no-quiet-server-log", dest="quiet_server_log", action="store_false",
                    help="let the server log the fuzzer's errors and statements")
    ap.add_argument("--verbose", action="store_true")
    o = ap.parse_args(argv)
    if o.seed is None:
        o.seed = random.SystemRandom().randrange(1, 2 ** 31)
    if o.out_dir is None:
        o.out_dir = "/tmp/dbm-fuzz-%d" % o.seed
    f = Fuzzer(o)

    def on_term(signum, frame):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, on_term)
    try:
        f.run()
    except KeyboardInterrupt:
        f.stop_reason = "interrupted"
        if not o.keep:
            f.drop_database()
    except Exception:
        traceback.print_exc()
        if not o.keep:
            f.drop_database()
        f.summary()
        f.say("HARNESS ERROR: fuzz.py itself failed (seed %d, call %d); see the traceback above"
              % (o.seed, f.calls))
        return 2
    return f.summary()


if __name__ == "__main__":
    sys.exit(main())

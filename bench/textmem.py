#!/usr/bin/python3
# bench/textmem.py: backend peak memory (VmHWM) for one revision made of many
# small statements.  Called by bench/run.sh (part "bigtext") as
#
#     /usr/bin/python3 bench/textmem.py DATABASE STATEMENTS
#
# with PGHOST, PGPORT and PGUSER set.  DATABASE has dbmigrate installed with
# an empty graph, and tables t (id int) and blob (v text).  The text is
# STATEMENTS lines "INSERT INTO t VALUES (<n>);".  Three measurements, each on
# a fresh connection (a fresh backend, so VmHWM is that call's peak):
#
#   baseline   INSERT INTO blob VALUES ($1) of the text
#   register   SELECT dbmigrate.migrate_register('bigtext', NULL, $1, 'TRUNCATE t')
#   upgrade    SELECT count(*) FROM dbmigrate.migrate_upgrade()
#
# The text is sent as a query parameter the same way for baseline and
# register (psycopg2 interpolates it on the client, so the server receives a
# literal of the text's size in both).  VmHWM is read by this script from
# /proc/<backend pid>/status before and after the call (root or the server's
# user may read it).  Every call is checked; any failure exits non-zero.
#
# VmHWM counts the shared buffers the backend touched as well; to tell them
# apart, a thread also samples /proc/<pid>/status every 20 ms during the call
# and keeps the largest RssAnon (the backend's private memory) and the
# RssShmem seen (shared memory only grows while the backend lives).
#
# Output, tab-separated, one line per measurement:
#   op  text_bytes  vmhwm_before_kb  vmhwm_after_kb  rssshmem_after_kb
#   max_rssanon_sampled_kb  ms  samples

import sys
import threading
import time

import psycopg2


def status(pid):
    """The kB fields of /proc/<pid>/status that matter here."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmHWM", "VmRSS", "RssAnon", "RssShmem"):
                out[key] = int(rest.split()[0])
    return out


def fail(msg):
    sys.stderr.write("bench: textmem: %s\n" % msg)
    sys.exit(1)


def connect(db):
    conn = psycopg2.connect(dbname=db)
    conn.autocommit = True
    return conn


def measure(db, op, sql, params, nbytes):
    conn = connect(db)
    cur = conn.cursor()
    cur.execute("SET client_min_messages = warning")
    cur.execute("SELECT pg_catalog.pg_backend_pid()")
    pid = cur.fetchone()[0]
    before = status(pid)
    sampled = {"anon": before["RssAnon"], "n": 0}
    done = threading.Event()

    def sample():
        while not done.wait(0.02):
            try:
                st = status(pid)
            except (OSError, KeyError):
                return
            sampled["anon"] = max(sampled["anon"], st["RssAnon"])
            sampled["n"] += 1

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.monotonic()
    try:
        cur.execute(sql, params)
        result = cur.fetchall() if cur.description else None
    finally:
        done.set()
    ms = (time.monotonic() - t0) * 1000.0
    sampler.join()
    after = status(pid)
    sampled["anon"] = max(sampled["anon"], after["RssAnon"])
    conn.close()
    print("%s\t%d\t%d\t%d\t%d\t%d\t%.1f\t%d" % (op, nbytes, before["VmHWM"], after["VmHWM"],
                                               after["RssShmem"], sampled["anon"], ms, sampled["n"]),
          flush=True)
    return result


def scalar(db, sql):
    conn = connect(db)
    cur = conn.cursor()
    cur.execute(sql)
    value = cur.fetchone()[0]
    conn.close()
    return value


def main():
    if len(sys.argv) != 3:
        fail("usage: textmem.py DATABASE STATEMENTS")
    db, n = sys.argv[1], int(sys.argv[2])
    text = "".join("INSERT INTO t VALUES (%d);\n" % i for i in range(1, n + 1))
    nbytes = len(text.encode())

    measure(db, "baseline", "INSERT INTO blob VALUES (%s)", (text,), nbytes)
    got = scalar(db, "SELECT pg_catalog.octet_length(v) FROM blob")
    if got != nbytes:
        fail("baseline stored %r bytes, expected %d" % (got, nbytes))

    res = measure(db, "register",
                  "SELECT dbmigrate.migrate_register('bigtext', NULL, %s, 'TRUNCATE t')",
                  (text,), nbytes)
    if res != [("bigtext",)]:
        fail("migrate_register returned %r" % (res,))
    got = scalar(db, "SELECT pg_catalog.octet_length(upgrade_sql) FROM dbmigrate.revision "
                     "WHERE revision = 'bigtext'")
    if got != nbytes:
        fail("the registered revision holds %r bytes, expected %d" % (got, nbytes))
    del text

    res = measure(db, "upgrade", "SELECT count(*) FROM dbmigrate.migrate_upgrade()", None, nbytes)
    if res != [(1,)]:
        fail("migrate_upgrade ran %r steps, expected 1" % (res,))
    got = scalar(db, "SELECT count(*) FROM t")
    if got != n:
        fail("the upgrade left %r rows in t, expected %d" % (got, n))
    got = scalar(db, "SELECT string_agg(c, ',') FROM dbmigrate.migrate_current() c")
    if got != "bigtext":
        fail("current revision after the upgrade is %r" % (got,))


if __name__ == "__main__":
    main()

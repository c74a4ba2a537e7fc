#!/usr/bin/env bash
# health() against the full computation, on random walks (issue 11, item 7).
# health() reads state that triggers keep on dbmigrate.revision (the checksum
# of the stored text, applied flags, the checksum of a differing last run,
# whether parents are registered first).  Each walk registers, merges,
# unregisters, upgrades, downgrades and stamps on a random graph, and, in
# half the walks, also edits dbmigrate's tables by hand: text and checksum
# columns, version rows (ghosts included), a parent deleted and put back.
# After every operation:
#   - health()'s pending equals the revisions migrate_history() (which reads
#     the whole graph) shows as not applied;
#   - health()'s problems are exactly migrate_validate()'s (which re-hashes
#     every applied revision's text), and none of those says the kept state
#     is stale;
#   - with a parent missing, both report the inconsistent graph (XX001).
# A failure prints the seed, the operations so far and both answers.
#
# Uses PGHOST/PGPORT/PGUSER from the environment; creates and drops its own
# database.  Needs python3-psycopg2, hence /usr/bin/python3.
#   DBM_HEALTH_WALKS (default 6), DBM_HEALTH_STEPS (default 250),
#   DBM_HEALTH_SEED (default 20261202)
set -euo pipefail
DB="dbm_health_random_$$"
PY=/usr/bin/python3
trap 'dropdb --if-exists "$DB" >/dev/null 2>&1 || true' EXIT

"$PY" -c 'import psycopg2' || { echo "FAIL: $PY cannot import psycopg2 (python3-psycopg2)"; exit 1; }
createdb "$DB"
DB="$DB" WALKS="${DBM_HEALTH_WALKS:-6}" STEPS="${DBM_HEALTH_STEPS:-250}" \
SEED="${DBM_HEALTH_SEED:-20261202}" "$PY" - <<'PY'
import os
import random
import sys

import psycopg2

conn = psycopg2.connect(dbname=os.environ["DB"])
conn.autocommit = True
cur = conn.cursor()


def q(sql, *args):
    cur.execute(sql, args)
    return cur.fetchall() if cur.description else None


def check(seed, trail):
    health = q("SELECT dbmigrate.health()")[0][0]
    try:
        validate = ["%s: %s" % r for r in q("SELECT * FROM dbmigrate.migrate_validate()")]
    except psycopg2.Error as e:
        ok = (e.pgcode == "XX001" and health["status"] == "unhealthy"
              and len(health["problems"]) == 1
              and e.diag.message_primary in health["problems"][0])
        if not ok:
            fail(seed, trail, "validate raised %s %s; health %s" % (e.pgcode, e, health))
        return "broken"
    graph_pending = q("SELECT count(*) FROM dbmigrate.migrate_history() WHERE NOT is_applied")[0][0]
    if (health["pending"] != graph_pending or health["problems"] != validate
            or any("kept for health()" in p for p in validate)):
        fail(seed, trail, "health %s\n  graph pending %s\n  validate %s"
             % (health, graph_pending, validate))
    return health["status"]


def fail(seed, trail, what):
    print("FAIL (health_random): seed %d, after:\n  %s\n  %s" % (seed, "\n  ".join(trail[-15:]), what))
    sys.exit(1)


def walk(seed, steps, tamper):
    rnd = random.Random(seed)
    q("SET client_min_messages = error")
    q("DROP EXTENSION IF EXISTS dbmigrate CASCADE")
    q("DROP TABLE IF EXISTS saved")
    q("CREATE EXTENSION dbmigrate CASCADE")
    q("CREATE TABLE saved (LIKE dbmigrate.revision)")
    ids, trail, n = ["001_initial_migration"], [], 0
    statuses = {}
    for _ in range(steps):
        op = rnd.random()
        try:
            if op < 0.3:
                n += 1
                rid = "r%d" % n
                parents = rnd.sample(ids, min(len(ids), rnd.choice([1, 1, 1, 2]))) if ids and rnd.random() < 0.9 else []
                what = "register %s %s" % (rid, parents)
                q("SELECT dbmigrate.migrate_register(%s, %s::text[], %s, %s)",
                  rid, parents, "SELECT %d" % n, rnd.choice(["SELECT -%d" % n, "", None]))
                ids.append(rid)
            elif op < 0.36:
                what = "merge heads"
                q("SELECT dbmigrate.migrate_merge('{heads}')")
                ids = [r[0] for r in q("SELECT revision FROM dbmigrate.revision")]
            elif op < 0.55:
                t = rnd.choice(ids + ["heads", "heads"])
                what = "upgrade " + t
                q("SELECT count(*) FROM dbmigrate.migrate_upgrade(%s)", t)
            elif op < 0.67:
                t = rnd.choice(ids + ["base", "-1", "-2"])
                what = "downgrade " + t
                q("SELECT count(*) FROM dbmigrate.migrate_downgrade(%s)", t)
            elif op < 0.77:
                t = rnd.choice(ids + ["base", "heads"])
                what = "stamp " + t
                q("SELECT dbmigrate.migrate_stamp(%s)", t)
            elif op < 0.82:
                t = rnd.choice(ids)
                what = "unregister " + t
                q("SELECT dbmigrate.migrate_unregister(%s)", t)
                ids.remove(t)
            elif tamper and ids:
                t, k = rnd.choice(ids), rnd.random()
                if k < 0.25:
                    what = "by hand: text of " + t
                    q("UPDATE dbmigrate.revision SET upgrade_sql = upgrade_sql || %s WHERE revision = %s",
                      rnd.choice([" ", "\r\n", "; SELECT 2"]), t)
                elif k < 0.35:
                    what = "by hand: text and checksum of " + t
                    q("UPDATE dbmigrate.revision SET upgrade_sql = 'SELECT 0', checksum = "
                      "encode(sha256(convert_to('SELECT 0', 'UTF8') || CASE WHEN downgrade_sql IS NULL "
                      "THEN ''::bytea ELSE '\\x00'::bytea || convert_to(downgrade_sql, 'UTF8') END), 'hex') "
                      "WHERE revision = %s AND transactional", t)
                elif k < 0.5:
                    what = "by hand: version row " + t
                    q("INSERT INTO dbmigrate.version VALUES (%s) ON CONFLICT DO NOTHING",
                      rnd.choice([t, t, "ghost"]))
                elif k < 0.65:
                    what = "by hand: delete a version row"
                    q("DELETE FROM dbmigrate.version WHERE revision = "
                      "(SELECT revision FROM dbmigrate.version ORDER BY random() LIMIT 1)")
                elif k < 0.75:
                    what = "by hand: delete ghost"
                    q("DELETE FROM dbmigrate.version WHERE revision = 'ghost'")
                else:
                    what = "by hand: delete %s and put it back" % t
                    q("DELETE FROM saved")
                    q("INSERT INTO saved SELECT * FROM dbmigrate.revision WHERE revision = %s", t)
                    q("DELETE FROM dbmigrate.revision WHERE revision = %s", t)
                    trail.append(what + " (deleted)")
                    check(seed, trail)
                    q("INSERT INTO dbmigrate.revision SELECT * FROM saved")
            else:
                what = "health"
        except psycopg2.Error as e:
            what += " -> %s" % e.pgcode
        trail.append(what)
        s = check(seed, trail)
        statuses[s] = statuses.get(s, 0) + 1
    return statuses


walks, steps, seed0 = int(os.environ["WALKS"]), int(os.environ["STEPS"]), int(os.environ["SEED"])
for w in range(walks):
    seed = seed0 + w
    statuses = walk(seed, steps, tamper=(w % 2 == 1))
    print("ok   walk %d (seed %d, %s): %d checks, %s" % (
        w + 1, seed, "with hand edits" if w % 2 else "API only", steps,
        ", ".join("%s %d" % kv for kv in sorted(statuses.items()))))
print("health_random: ok")
PY

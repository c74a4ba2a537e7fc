#!/usr/bin/python3
"""Differential test: dbmigrate's revision-graph semantics against Alembic's.

For random revision graphs (seeded: chains, branches, merges of 2-4 parents,
several roots), several starting states and sampled targets, it runs
dbmigrate's migrate_upgrade / migrate_downgrade / migrate_stamp and compares
with what Alembic's own ``alembic.script.revision.RevisionMap`` computes:

  * whether the target is refused (both refuse, or both accept), and with
    the SQLSTATE the README gives for that refusal;
  * the set of revisions applied or undone (the rows the call returns, which
    must also be exactly the rows it appended to migrate_log(); for a stamp,
    its log rows);
  * that the order they ran in is topological (parents before children on
    the way up, children before parents on the way down), and as the README
    promises: upgrades in registration order, downgrades in reverse order
    of application (the log);
  * the current heads afterwards (dbmigrate.migrate_current()), and after
    registration migrate_heads().

Where dbmigrate deliberately differs from Alembic, the README documents it;
each such difference is encoded exactly once below, as a named function in
DELIBERATE_DIFFERENCES (or a check function) with the README sentence it
rests on.  Everything else must agree with Alembic: a disagreement is a bug
(in dbmigrate or in this harness), reported with its seed.

Every graph runs inside one transaction that is rolled back; each starting
state and each target get their own savepoint.  The database is left as it
was found (it needs dbmigrate installed with nothing applied and at most the
built-in 001_initial_migration registered).

Run:  /usr/bin/python3 test/differential/differential.py --graphs 300 --seed 1
      (connection from --dsn, else the PG* environment variables; --jobs N
      runs N graphs at a time, each job in a copy of the database, because
      dbmigrate serializes state changes per database).
A failure prints the seed of its graph; rerun just that graph with
      --seed N --graphs 1 (and the same --min-size/--max-size),
and a repro SQL script is written next to the report (--repro-dir).

Use /usr/bin/python3 (Debian's python3-alembic and python3-psycopg2).
"""

import argparse
import hashlib
import heapq
import math
import os
import random
import re
import sys
import time
import warnings

import psycopg2
from psycopg2.extensions import make_dsn
from alembic.script.revision import Revision, RevisionError, RevisionMap

# Alembic warns ("downgrade -1 from multiple heads is ambiguous") instead of
# refusing in one case that dbmigrate refuses; the warning is noise here.
warnings.simplefilter("ignore")

HEX = "0123456789abcdef"
# legal id characters beyond hex (README: "letters (any script), digits, `_`,
# `.`, `-`"), minus what Alembic reads differently: `-` (illegal in Alembic
# ids, and "<rev>-N" is an Alembic target form) and `.` (Alembic's relative
# target pattern only takes word characters before "+N")
WIDE = HEX + "_ABCDEFéжλ"
PREFIX_MINLEN = 4          # README: "a unique prefix of ≥ 4 characters"
RELATIVE = re.compile(r"^([+-])(\d+)$")
REV_PLUS = re.compile(r"^(.+)\+(\d+)$")


# --------------------------------------------------------------------------
# Random revision graphs
# --------------------------------------------------------------------------

class Graph:
    """A revision graph in registration order (always topological)."""

    def __init__(self, seed, ids, parents, via_merge, irreversible, style):
        self.seed = seed
        self.ids = ids                       # registration order
        self.idx = {r: i for i, r in enumerate(ids)}
        self.parents = parents               # list of tuples of indexes
        self.via_merge = via_merge           # set: registered with migrate_merge()
        self.irreversible = irreversible     # set: downgrade_sql NULL
        self.style = style
        n = len(ids)
        self.children = [[] for _ in range(n)]
        for i, ps in enumerate(parents):
            for p in ps:
                self.children[p].append(i)
        # strict ancestors of every revision, as bitmasks
        self.anc = [0] * n
        for i, ps in enumerate(parents):
            m = 0
            for p in ps:
                m |= self.anc[p] | (1 << p)
            self.anc[i] = m
        self.heads = [i for i in range(n) if not self.children[i]]
        self.roots = [i for i in range(n) if not parents[i]]
        self.merges = [i for i in range(n) if len(parents[i]) > 1]
        self.branch_points = [i for i in range(n) if len(self.children[i]) > 1]
        self._rmap = None

    @property
    def rmap(self):
        """Alembic's RevisionMap of the same graph."""
        if self._rmap is None:
            revs = []
            for i, r in enumerate(self.ids):
                ps = tuple(self.ids[p] for p in self.parents[i])
                down = None if not ps else (ps[0] if len(ps) == 1 else ps)
                revs.append(Revision(r, down))
            self._rmap = RevisionMap(lambda: revs)
            self._rmap.heads   # build it now (timing is then per target)
        return self._rmap

    def closure(self, heads):
        """Applied set (indexes) implied by a set of current heads."""
        m = 0
        for h in heads:
            m |= self.anc[h] | (1 << h)
        return bits(m)

    def maximal(self, applied):
        """The heads of an applied set: members none of whose children are
        applied (what dbmigrate.version / alembic_version hold)."""
        return {i for i in applied if not any(c in applied for c in self.children[i])}

    def describe(self):
        return ("%d revisions, %d roots, %d heads, %d merges, %d branch points"
                % (len(self.ids), len(self.roots), len(self.heads),
                   len(self.merges), len(self.branch_points)))


def bits(m):
    """Indexes of the set bits of m."""
    return {i for i, c in enumerate(reversed(bin(m))) if c == "1"}


def pick_size(rng, lo, hi):
    """Mostly small graphs, some medium, a few large (up to hi)."""
    r = rng.random()
    if r < 0.80:
        a, b = lo, min(hi, max(lo, 60))
    elif r < 0.97:
        a, b = min(hi, max(lo, 60)), min(hi, max(lo, 500))
    else:
        a, b = min(hi, max(lo, 500)), hi
    if a >= b:
        return a
    return int(round(math.exp(rng.uniform(math.log(a), math.log(b)))))


def merge_id(parent_ids):
    """README: the id of a migrate_merge() revision is the first 12 hex digits
    of sha256('merge' + ' ' + each parent id, sorted by byte order)."""
    text = "merge " + " ".join(sorted(parent_ids, key=lambda s: s.encode()))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def generate(seed, min_size, max_size):
    """A random graph for seed: chains, branch points, merges of 2-4 parents
    that are pairwise not ancestors of each other (README: "a merge's parents
    may not include an ancestor of another parent" -- such merges are simply
    not generated), several roots, ids that share prefixes."""
    rng = random.Random(seed)
    n = pick_size(rng, min_size, max_size)
    style = {
        "root": rng.choice([0.0, 0.0, 0.005, 0.02, 0.06]),
        "branch": rng.choice([0.0, 0.03, 0.1, 0.25]),
        "merge": rng.choice([0.0, 0.03, 0.1, 0.25]),
        "any_merge": rng.choice([0.0, 0.3]),      # merge non-heads too
        "via_merge": rng.choice([0.0, 0.3, 1.0]),  # register merges with migrate_merge
        "irreversible": rng.choice([0.0, 0.0, 0.0, 0.01, 0.05]),
        "shared_prefix": rng.choice([0.02, 0.1, 0.3]),
        "alphabet": rng.choice([HEX, HEX, HEX, WIDE]),
    }
    alphabet = style["alphabet"]
    ids, parents, idx = [], [], {}
    anc = []
    via_merge, irreversible = set(), set()
    heads = []                    # current heads of the graph being built

    def fresh_id():
        while True:
            if ids and rng.random() < style["shared_prefix"]:
                base = rng.choice(ids)
                cand = base[:rng.randint(PREFIX_MINLEN, max(PREFIX_MINLEN, len(base)))] \
                    + "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 4)))
            else:
                cand = "".join(rng.choice(alphabet) for _ in range(rng.randint(5, 12)))
            if cand not in idx:
                return cand

    def antichain(cands, k):
        chosen = []
        for c in cands:
            if all(not (anc[c] >> d) & 1 and not (anc[d] >> c) & 1 and c != d
                   for d in chosen):
                chosen.append(c)
                if len(chosen) == k:
                    break
        return chosen

    while len(ids) < n:
        i = len(ids)
        ps = ()
        if i > 0 and rng.random() >= style["root"]:
            r = rng.random()
            if r < style["merge"]:
                k = rng.choice([2, 2, 2, 3, 4])
                if rng.random() < style["any_merge"]:
                    pool = rng.sample(range(i), min(i, 12))
                else:
                    pool = rng.sample(heads, len(heads))
                ps = tuple(antichain(pool, k))
                if len(ps) < 2:
                    ps = ()
            elif r < style["merge"] + style["branch"]:
                ps = (rng.randrange(i),)
            if not ps:
                # extend a chain: usually the newest revision if it is a head
                if heads[-1] == i - 1 and rng.random() < 0.7:
                    ps = (i - 1,)
                else:
                    ps = (rng.choice(heads),)
        if len(ps) > 1 and rng.random() < style["via_merge"]:
            rid = merge_id([ids[p] for p in ps])
            if rid in idx:
                rid = fresh_id()
            else:
                via_merge.add(i)
        else:
            rid = fresh_id()
        ids.append(rid)
        idx[rid] = i
        parents.append(ps)
        m = 0
        for p in ps:
            m |= anc[p] | (1 << p)
        anc.append(m)
        heads = [h for h in heads if h not in ps] + [i]
        if i not in via_merge and rng.random() < style["irreversible"]:
            irreversible.add(i)
    return rng, Graph(seed, ids, parents, via_merge, irreversible, style)


# --------------------------------------------------------------------------
# Starting states and targets
# --------------------------------------------------------------------------

class State:
    def __init__(self, name, heads, g):
        self.name = name
        self.heads = list(heads)              # current heads, as indexes
        self.applied = g.closure(heads)

    def describe(self, g):
        shown = [g.ids[h] for h in self.heads[:6]]
        more = ", ... (%d in all)" % len(self.heads) if len(self.heads) > 6 else ""
        return "%s: current {%s%s}, %d applied" % (
            self.name, ", ".join(shown), more, len(self.applied))


def sample_states(g, rng):
    n = len(g.ids)
    states = [State("base", [], g)]
    inner = [i for i in range(n) if g.children[i]]
    if inner:
        states.append(State("partially applied", [rng.choice(inner)], g))
    # two or three current revisions (an antichain) on different branches
    for _ in range(20):
        chain = []
        for c in rng.sample(range(n), min(n, 8)):
            if all(c != d and not (g.anc[c] >> d) & 1 and not (g.anc[d] >> c) & 1
                   for d in chain):
                chain.append(c)
            if len(chain) == rng.choice([2, 3]):
                break
        if len(chain) >= 2:
            states.append(State("partially applied, several current", chain, g))
            break
    if len(g.heads) > 1:
        states.append(State("a branch applied", [rng.choice(g.heads)], g))
    elif g.branch_points:
        bp = rng.choice(g.branch_points)
        states.append(State("a branch applied", [rng.choice(g.children[bp])], g))
    states.append(State("all heads applied", g.heads, g))
    return states


def pick_revision(g, st, rng):
    """A revision, biased to the interesting ones for this state."""
    r = rng.random()
    pool = None
    if r < 0.25 and st.applied:
        pool = list(st.applied)
    elif r < 0.45 and st.heads:
        h = rng.choice(st.heads)
        pool = [h] + list(g.parents[h]) + g.children[h]
    elif r < 0.6:
        pool = g.heads + g.merges + g.branch_points + g.roots
    if not pool:
        pool = range(len(g.ids))
    return rng.choice(list(pool))


def pick_count(rng):
    r = rng.random()
    if r < 0.5:
        return 1
    if r < 0.75:
        return 2
    if r < 0.95:
        return rng.randint(3, 5)
    return rng.randint(6, 40)


def prefix_of(g, i, rng):
    rid = g.ids[i]
    if rng.random() < 0.1:
        return rid[:3]                  # too short for dbmigrate (see the rule)
    if len(rid) <= PREFIX_MINLEN:
        return rid
    return rid[:rng.randint(PREFIX_MINLEN, len(rid) - 1)]


def sample_cases(g, st, rng, count):
    """(operation, target) pairs; operation is upgrade, downgrade, downgrade_n
    (the integer form) or stamp."""
    cases = []
    kinds = [
        (6, "upgrade head"), (5, "upgrade heads"), (10, "upgrade id"),
        (10, "downgrade id"), (6, "upgrade prefix"), (6, "downgrade prefix"),
        (10, "upgrade +N"), (10, "downgrade -N"), (3, "downgrade N"),
        (5, "upgrade rev+N"), (5, "downgrade rev+N"), (5, "downgrade base"),
        (6, "stamp"), (3, "odd"),
    ]
    total = sum(w for w, _ in kinds)
    for _ in range(count):
        x = rng.uniform(0, total)
        for w, kind in kinds:
            x -= w
            if x <= 0:
                break
        op, form = kind.split(" ", 1) if " " in kind else (kind, "")
        if kind == "upgrade head":
            cases.append(("upgrade", "head"))
        elif kind == "upgrade heads":
            cases.append(("upgrade", "heads"))
        elif form == "id":
            cases.append((op, g.ids[pick_revision(g, st, rng)]))
        elif form == "prefix":
            cases.append((op, prefix_of(g, pick_revision(g, st, rng), rng)))
        elif form == "+N":
            cases.append(("upgrade", "+%d" % pick_count(rng)))
        elif form == "-N":
            cases.append(("downgrade", "-%d" % pick_count(rng)))
        elif form == "N":
            cases.append(("downgrade_n", str(pick_count(rng))))
        elif form == "rev+N":
            i = pick_revision(g, st, rng)
            sym = g.ids[i] if rng.random() < 0.8 else prefix_of(g, i, rng)
            cases.append((op, "%s+%d" % (sym, pick_count(rng))))
        elif kind == "downgrade base":
            cases.append(("downgrade", "base"))
        elif kind == "stamp":
            r = rng.random()
            if r < 0.5:
                t = g.ids[pick_revision(g, st, rng)]
            elif r < 0.6:
                t = prefix_of(g, pick_revision(g, st, rng), rng)
            elif r < 0.7:
                t = "%s+%d" % (g.ids[pick_revision(g, st, rng)], pick_count(rng))
            else:
                t = rng.choice(["head", "heads", "base", "+1", "-1"])
            cases.append(("stamp", t))
        else:   # targets that do not fit the direction, or name nothing
            cases.append(rng.choice([
                ("upgrade", "base"), ("upgrade", "-1"), ("downgrade", "+1"),
                ("downgrade", "heads"), ("downgrade", "head"),
                ("upgrade", "ffff" + "".join(rng.choice("ghij") for _ in range(4))),
                ("downgrade", "%s+%d" % (g.ids[rng.choice(g.heads)], 1)),
            ]))
    return cases


# --------------------------------------------------------------------------
# Expected outcomes: Alembic, then the documented deliberate differences
# --------------------------------------------------------------------------

class Outcome:
    """What a call does: refused, or the set it moved (applied for upgrade,
    undone for downgrade, changed for stamp) and the heads afterwards."""

    def __init__(self, refused=False, moved=(), heads=(), why="", sqlstate=None):
        self.refused = refused
        self.sqlstate = sqlstate      # the documented SQLSTATE of a refusal
        self.moved = set(moved)
        self.heads = set(heads)
        self.why = why
        self.conflict = None     # a rule's model contradicting Alembic

    def same(self, other):
        if self.refused or other.refused:
            return self.refused == other.refused
        return self.moved == other.moved and self.heads == other.heads


def refused(why, sqlstate):
    return Outcome(refused=True, why=why, sqlstate=sqlstate)


# README, Reference (migrate_upgrade, migrate_downgrade, migrate_stamp):
# "21000 several heads / ambiguous prefix / ambiguous relative move; 42704
# unknown target; 22023 invalid target (`base`, `-N`, bad `+N`)", "22023
# `steps` < 1 or more than the applied revisions", "55000 irreversible
# revision on the path", "55000 target not applied".  Alembic's refusals,
# mapped to the SQLSTATE the README gives for the same situation:
def alembic_refusal_sqlstate(e):
    text = str(e)
    if type(e).__name__ == "MultipleHeads" or "Multiple revisions start" in text \
            or "Ambiguous" in text:
        return "21000"
    if type(e).__name__ == "RangeNotAncestorError":
        return "55000"                # not applied (downgrade target)
    if "No such revision" in text:
        return "42704"
    if "Walked too far" in text or "didn't produce" in text:
        return "22023"
    return None                       # unknown: only "refused" is compared


def alembic_target(op, target):
    return "-" + target if op == "downgrade_n" else target


def alembic_outcome(g, st, op, target):
    """What Alembic's RevisionMap computes for the call, the way Alembic's
    ScriptDirectory._upgrade_revs / _downgrade_revs do it."""
    rmap = g.rmap
    cur = tuple(g.ids[h] for h in st.heads)
    t = alembic_target(op, target)
    try:
        if op == "upgrade":
            revs = list(rmap.iterate_revisions(t, cur, implicit_base=True))
            moved = {g.idx[r.revision] for r in revs}
            return Outcome(moved=moved, heads=g.maximal(st.applied | moved))
        if op in ("downgrade", "downgrade_n"):
            revs = list(rmap.iterate_revisions(cur, t, select_for_downgrade=True))
            moved = {g.idx[r.revision] for r in revs}
            return Outcome(moved=moved, heads=g.maximal(st.applied - moved))
        # stamp: only what RevisionMap resolves the target to (heads); what
        # a stamp then does is the rule stamp_makes_exactly_the_target_current
        if t == "base":
            return Outcome(heads=(), why="alembic: resolution only")
        revs = rmap._parse_upgrade_target(cur, t, True)
        if any(r is None for r in revs):
            return refused("alembic: walked past a head", "22023")
        return Outcome(heads={g.idx[r.revision] for r in revs}, why="alembic: resolution only")
    except RevisionError as e:
        return refused("alembic: %s: %s" % (type(e).__name__, e), alembic_refusal_sqlstate(e))
    except AssertionError:
        # RevisionMap asserts instead of raising for "<rev>+N" past a head
        return refused("alembic: assertion (walked past a head)", "22023")


def symbol_of(target):
    """The revision part of a target: 'abcd' of 'abcd+2'; None for the
    symbolic and relative forms."""
    if target in ("head", "heads", "base") or RELATIVE.match(target):
        return None
    m = REV_PLUS.match(target)
    return m.group(1) if m else target


# Each deliberate difference, once.  A rule returns the expected Outcome when
# the case is in its domain, else None; the first rule that answers wins.
#
# Documented behaviour that IS Alembic's needs no rule and is compared with
# RevisionMap directly, e.g. README: "Upgrading to a revision on one branch
# applies only its missing ancestors"; "Downgrading to a target undoes
# exactly the applied revisions that descend from it; other branches stay
# applied (Alembic's rule). Downgrading to a revision that is already a
# current head does nothing. A target that is not applied is refused";
# `heads`, `<rev>+N` (walked along the unique child, refused where it forks or
# passes a head, like Alembic's walk) and `base`.  And dbmigrate's stricter
# merges ("a merge's parents may not include an ancestor of another parent")
# need no rule either: generate() never builds such a merge.

def target_form_not_for_direction(g, st, op, target, alembic):
    """README, Targets table: `base` and `-N` have no upgrade entry ("—"),
    `heads` and `+N` no downgrade entry, `+N`/`-N` no stamp entry; the
    Reference: migrate_upgrade raises "22023 invalid target (`base`, `-N`, bad
    `+N`)", migrate_stamp "22023 relative target".  Alembic treats upgrade to
    base as a no-op and downgrade to heads with one head as a revision."""
    if op == "upgrade" and (target == "base" or target.startswith("-")):
        return refused("rule: not an upgrade target", "22023")
    if op == "downgrade" and (target == "heads" or target.startswith("+")):
        return refused("rule: not a downgrade target", "22023")
    if op == "stamp" and RELATIVE.match(target):
        return refused("rule: relative targets are not stamp targets", "22023")
    return None


def prefix_needs_four_characters(g, st, op, target, alembic):
    """README, Targets table: "revision id, or a unique prefix of ≥ 4
    characters".  Alembic resolves a unique prefix of any length."""
    sym = symbol_of(target) if op != "downgrade_n" else None
    if sym is not None and sym not in g.idx and len(sym) < PREFIX_MINLEN:
        return refused("rule: prefix shorter than %d characters" % PREFIX_MINLEN, "42704")
    return None


def head_with_several_heads_refused(g, st, op, target, alembic):
    """README: "`head` with several heads is refused before anything runs
    (Alembic also refuses, but many wrappers silently pick one)"; Targets
    table: "the single head; error 21000 if several"."""
    if target == "head" and len(g.heads) > 1:
        out = refused("rule: head with %d heads" % len(g.heads), "21000")
        if not alembic.refused:
            out.conflict = "Alembic accepted head with several heads"
        return out
    return None


def relative_upgrade_follows_unique_child(g, st, op, target, alembic):
    """README, Targets table: "`+N` | N moves along the unique child of the
    current position"; "A relative move that is ambiguous on a branchy graph
    is refused with the candidates: ... `+N` or `<rev>+N` where the path
    forks"; "A merge child reached by `+N` brings its missing parents with
    it."  Alembic refuses +N whenever several revisions are current; dbmigrate
    moves when the unapplied children of the current revisions are exactly
    one revision.  From one current revision (or base) this is Alembic's walk,
    and the model is checked against Alembic there."""
    m = RELATIVE.match(target)
    if op != "upgrade" or not m or m.group(1) != "+":
        return None
    n = int(m.group(2))
    want = set(st.applied)
    out = None
    for step in range(n):
        heads = g.maximal(want)
        if not heads:
            cands = set(g.roots)
        else:
            cands = {c for h in heads for c in g.children[h] if c not in want}
        if not cands:
            out = refused("rule: +%d goes past the head after %d step(s)" % (n, step), "22023")
            break
        if len(cands) > 1:
            out = refused("rule: +%d forks at step %d" % (n, step + 1), "21000")
            break
        (c,) = cands
        want |= g.closure([c])
    if out is None:
        out = Outcome(moved=want - st.applied, heads=g.maximal(want))
    if len(st.heads) <= 1 and not out.same(alembic):
        out.conflict = "model of +N differs from Alembic's walk from one revision"
    return out


def relative_downgrade_undoes_current_n_times(g, st, op, target, alembic):
    """README, Targets table: "`-N` | undo the current revision N times";
    "A relative move that is ambiguous on a branchy graph is refused with the
    candidates: `-N` when several revisions are current"; "From a merge, `-1`
    undoes the merge."  Alembic picks one of several current heads (with a
    warning) and cannot walk down from a merge; where Alembic does accept from
    one current revision, the model is checked against it."""
    if op == "downgrade_n":
        n = int(target)
    else:
        m = RELATIVE.match(target)
        if op != "downgrade" or not m or m.group(1) != "-":
            return None
        n = int(m.group(2))
    applied = set(st.applied)
    cur = set(st.heads)
    if n > len(applied):
        out = refused("rule: -%d with %d applied" % (n, len(applied)), "22023")
    else:
        undone = set()
        out = None
        for step in range(n):
            if len(cur) != 1:
                out = refused("rule: -%d with %d current at step %d"
                              % (n, len(cur), step + 1), "21000")
                break
            (h,) = cur
            undone.add(h)
            applied.discard(h)
            cur = {p for p in g.parents[h]
                   if p in applied and not any(c in applied for c in g.children[p])}
        if out is None:
            out = Outcome(moved=undone, heads=g.maximal(applied))
    if len(st.heads) <= 1 and not alembic.refused and not out.same(alembic):
        out.conflict = "model of -N differs from Alembic's walk from one revision"
    return out


def stamp_makes_exactly_the_target_current(g, st, op, target, alembic):
    """README, Reference: migrate_stamp "Makes exactly the target current
    without running SQL (`heads`: every head; `base`: nothing). Logs one
    `stamp` row per revision whose applied state changes"; Alembic's stamp of
    one branch's revision moves only that branch.  The target itself is
    resolved by RevisionMap (alembic_outcome); the heads afterwards are the
    target, and what changed is the difference of the applied sets."""
    if op != "stamp":
        return None
    if alembic.refused:
        return alembic
    new = g.closure(alembic.heads)
    return Outcome(moved=st.applied ^ new, heads=g.maximal(new))


DELIBERATE_DIFFERENCES = [
    target_form_not_for_direction,
    prefix_needs_four_characters,
    head_with_several_heads_refused,
    relative_upgrade_follows_unique_child,
    relative_downgrade_undoes_current_n_times,
    stamp_makes_exactly_the_target_current,
]


def irreversible_revision_blocks_downgrade(g, st, op, target, expected):
    """README: "a downgrade whose path crosses an irreversible revision is
    refused before any SQL runs" (`downgrade_sql` NULL).  Alembic would start
    the downgrade and fail in that revision.  Applies on top of whatever the
    expected downgrade is."""
    if op in ("downgrade", "downgrade_n") and not expected.refused \
            and expected.moved & g.irreversible:
        return refused("rule: irreversible revision on the path", "55000")
    return None


def expected_outcome(g, st, op, target):
    """(expected Outcome, name of the rule that decided it)."""
    alembic = alembic_outcome(g, st, op, target)
    out, rule = alembic, "alembic"
    for fn in DELIBERATE_DIFFERENCES:
        o = fn(g, st, op, target, alembic)
        if o is not None:
            out, rule = o, fn.__name__
            break
    o = irreversible_revision_blocks_downgrade(g, st, op, target, out)
    if o is not None:
        out, rule = o, irreversible_revision_blocks_downgrade.__name__
    return out, rule


def undo_order(g, moved, applied_at):
    """README, "Order" (downgrades): every revision is undone after its
    applied children; among those free to go, the most recently applied
    first (the log row that last applied it: applied_at), a revision the log
    has no such row for counting as applied before every logged one, and
    equal ones newest registration first.  The order, as indexes."""
    def key(i):
        return (-applied_at.get(i, 0), -i)
    pending = {r: sum(1 for c in g.children[r] if c in moved) for r in moved}
    ready = [key(r) for r in moved if pending[r] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        r = -heapq.heappop(ready)[1]
        order.append(r)
        for p in g.parents[r]:
            if p in moved:
                pending[p] -= 1
                if pending[p] == 0:
                    heapq.heappush(ready, key(p))
    return order


def order_problem(g, st, op, rows, applied_at):
    """None if rows (dbmigrate's execution order) is right, else why.

    Topological: on the way up every parent is applied before its child, on
    the way down every applied child is undone before its parent.  And README,
    "Order": "revisions run parents first; revisions that do not depend on
    each other run in registration order" -- so an upgrade runs in ascending
    registration order; a downgrade undoes independent revisions in reverse
    order of application (undo_order)."""
    done = set()
    if op == "upgrade":
        for r in rows:
            for p in g.parents[r]:
                if p not in st.applied and p not in done:
                    return "not topological: %s ran before its parent %s" % (g.ids[r], g.ids[p])
            done.add(r)
        if rows != sorted(rows):
            return "not in registration order"
    else:
        for r in rows:
            for c in g.children[r]:
                if c in st.applied and c not in done:
                    return "not topological: %s undone before its child %s" % (g.ids[r], g.ids[c])
            done.add(r)
        want = undo_order(g, set(rows), applied_at)
        if rows != want:
            return "not in reverse order of application: expected %s" % short(ids_of_list(g, want))
    return None


# --------------------------------------------------------------------------
# dbmigrate
# --------------------------------------------------------------------------

def lit(s):
    return "'" + s.replace("'", "''") + "'"


def registration_sql(g, batch=1000):
    """DO blocks that register the graph (a batch of revisions per block)."""
    blocks = []
    lines = []
    for i, rid in enumerate(g.ids):
        ps = [g.ids[p] for p in g.parents[i]]
        down = "NULL" if i in g.irreversible else "'SELECT 1'"
        if i in g.via_merge:
            lines.append(
                "IF dbmigrate.migrate_merge(ARRAY[%s]::text[]) IS DISTINCT FROM %s THEN "
                "RAISE EXCEPTION 'migrate_merge(%s) did not return %s'; END IF;"
                % (", ".join(lit(p) for p in ps), lit(rid),
                   ",".join(ps).replace("'", "''"), rid))
        elif len(ps) > 1:
            lines.append("PERFORM dbmigrate.migrate_register(%s, ARRAY[%s]::text[], 'SELECT 1', %s);"
                         % (lit(rid), ", ".join(lit(p) for p in ps), down))
        else:
            lines.append("PERFORM dbmigrate.migrate_register(%s, %s, 'SELECT 1', %s);"
                         % (lit(rid), lit(ps[0]) if ps else "NULL::text", down))
        if len(lines) == batch:
            blocks.append("DO $dbm$ BEGIN\n%s\nEND $dbm$" % "\n".join(lines))
            lines = []
    if lines:
        blocks.append("DO $dbm$ BEGIN\n%s\nEND $dbm$" % "\n".join(lines))
    return blocks


def setup_sql(g, st):
    """Statements that take a database at base to state st."""
    if len(st.heads) > 1 and set(st.heads) == set(g.heads):
        return ["SELECT dbmigrate.migrate_stamp('heads')"]
    out = []
    for k, h in enumerate(st.heads):
        if k == 0:
            out.append("SELECT dbmigrate.migrate_stamp(%s)" % lit(g.ids[h]))
        else:
            out.append("SELECT count(*) FROM dbmigrate.migrate_upgrade(%s)" % lit(g.ids[h]))
    return out


def call_sql(op, target):
    if op == "upgrade":
        return "SELECT revision FROM dbmigrate.migrate_upgrade(%s)" % lit(target)
    if op == "downgrade":
        return "SELECT revision FROM dbmigrate.migrate_downgrade(%s::text)" % lit(target)
    if op == "downgrade_n":
        return "SELECT revision FROM dbmigrate.migrate_downgrade(%d)" % int(target)
    return "SELECT dbmigrate.migrate_stamp(%s)" % lit(target)


def call_text(op, target):
    if op == "downgrade_n":
        return "migrate_downgrade(%s)" % target
    return "migrate_%s('%s')" % (op, target)


class Crash(Exception):
    pass


class Runner:
    """One connection; runs graphs and returns what it found per graph."""

    def __init__(self, args):
        self.args = args
        self.conn = None
        self.builtin = False

    # -- connection ------------------------------------------------------
    def connect(self):
        deadline = time.time() + 120
        while True:
            try:
                self.conn = psycopg2.connect(self.args.dsn)
                cur = self.conn.cursor()
                cur.execute("SET client_min_messages = warning")
                self.conn.commit()
                return
            except psycopg2.OperationalError:
                # also while a crashed server is still recovering
                if time.time() > deadline:
                    raise
                time.sleep(1)

    def prepare_database(self, create):
        """dbmigrate installed; nothing applied; at most the built-in
        revision registered (unregistered inside each graph's transaction,
        so the database is left as it was)."""
        cur = self.conn.cursor()
        if create:
            cur.execute("SELECT count(*) FROM pg_extension WHERE extname = 'dbmigrate'")
            if cur.fetchone()[0] == 0:
                cur.execute("CREATE EXTENSION dbmigrate CASCADE")
            self.conn.commit()
        cur.execute("SELECT array(SELECT revision FROM dbmigrate.migrate_history()), "
                    "array(SELECT dbmigrate.migrate_current())")
        registered, current = cur.fetchone()
        self.conn.rollback()
        if current or set(registered) - {"001_initial_migration"}:
            sys.exit("differential: the database must have a fresh dbmigrate "
                     "(registered: %s, current: %s)" % (registered[:5], current[:5]))
        self.builtin = "001_initial_migration" in registered

    def q(self, sql):
        cur = self.conn.cursor()
        try:
            cur.execute(sql)
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as e:
            if self.conn.closed or getattr(e, "pgcode", None) is None:
                raise Crash(str(e).strip())
            raise
        return cur

    # -- one graph -------------------------------------------------------
    def fail(self, g, text):
        a = self.args
        self.res["failures"].append(
            "FAIL seed=%d (%s)\n  %s\n  rerun: %s --seed %d --graphs 1 --min-size %d --max-size %d"
            % (g.seed, g.describe(), text.replace("\n", "\n  "),
               sys.argv[0], g.seed, a.min_size, a.max_size))

    def repro(self, g, st, op, target):
        """A psql script reproducing one case in a fresh database."""
        if not self.args.repro_dir:
            return None
        os.makedirs(self.args.repro_dir, exist_ok=True)
        path = os.path.join(self.args.repro_dir, "dbmigrate-differential-%d-%d.sql"
                            % (g.seed, len(self.res["failures"]) + 1))
        with open(path, "w") as f:
            f.write("-- dbmigrate differential repro: seed %d, %s\n" % (g.seed, g.describe()))
            f.write("-- state %s\n-- run in a fresh database: psql -v ON_ERROR_STOP=1 -f %s\n"
                    % (st.describe(g), os.path.basename(path)))
            f.write("CREATE EXTENSION IF NOT EXISTS dbmigrate CASCADE;\nBEGIN;\n")
            f.write("SET client_min_messages = warning;\n")
            f.write("SELECT dbmigrate.migrate_unregister('001_initial_migration') "
                    "FROM dbmigrate.migrate_history() WHERE revision = '001_initial_migration';\n")
            for b in registration_sql(g):
                f.write(b + ";\n")
            for s in setup_sql(g, st):
                f.write(s + ";\n")
            f.write("SELECT * FROM dbmigrate.migrate_current();\n")
            f.write("-- the call that disagrees:\n%s;\n" % call_sql(op, target))
            f.write("SELECT * FROM dbmigrate.migrate_current();\nROLLBACK;\n")
        return path

    def run_graph(self, seed):
        """{'seed', 'targets', 'bad_targets', 'failures', 'rules', 'crash'}"""
        self.res = {"seed": seed, "targets": 0, "bad_targets": 0, "failures": [],
                    "rules": {}, "crash": False}
        rng, g = generate(seed, self.args.min_size, self.args.max_size)
        try:
            self.run_graph_cases(g, rng)
        except Crash as e:
            self.res["crash"] = True
            self.fail(g, "the server connection was lost (backend crash?): %s\n"
                      "(look for \"terminated by signal\" in the server log)" % e)
            try:
                self.conn.close()
            except Exception:
                pass
            time.sleep(2)
            self.connect()
        return self.res

    def run_graph_cases(self, g, rng):
        self.q("BEGIN")
        if self.builtin:
            self.q("SELECT dbmigrate.migrate_unregister('001_initial_migration')")
        try:
            for b in registration_sql(g):
                self.q(b)
        except psycopg2.Error as e:
            self.fail(g, "registration refused: %s %s" % (e.pgcode, e.pgerror))
            self.conn.rollback()
            return
        got = [r[0] for r in self.q("SELECT * FROM dbmigrate.migrate_heads()").fetchall()]
        want = [g.ids[h] for h in g.heads]
        if got != want:
            self.fail(g, "migrate_heads() is %s, expected %s (registration order)"
                      % (short(got), short(want)))
        for st in sample_states(g, rng):
            cases = sample_cases(g, st, rng, self.args.targets)
            self.q("SAVEPOINT state")
            try:
                for s in setup_sql(g, st):
                    self.q(s)
            except psycopg2.Error as e:
                self.fail(g, "setting up state %s failed: %s %s"
                          % (st.describe(g), e.pgcode, e.pgerror))
                self.q("ROLLBACK TO SAVEPOINT state")
                continue
            cur = self.q("SELECT array(SELECT dbmigrate.migrate_current()), "
                         "(SELECT coalesce(max(id), 0) FROM dbmigrate.migrate_log())")
            current, mark = cur.fetchone()
            # the log row that last applied each revision (an upgrade, or a
            # stamp with a checksum; a later downgrade or un-stamp cancels it)
            applied_at = {}
            for rid, op_, csum, lid in self.q(
                    "SELECT revision, operation, checksum, id FROM dbmigrate.migrate_log() "
                    "ORDER BY id").fetchall():
                if rid in g.idx:
                    applied_at[g.idx[rid]] = lid if op_ != "downgrade" and csum else 0
            if sorted(current) != sorted(g.ids[h] for h in st.heads):
                self.fail(g, "state %s: migrate_current() is %s after setting it up"
                          % (st.describe(g), short(sorted(current))))
                self.q("ROLLBACK TO SAVEPOINT state")
                continue
            self.q("SAVEPOINT target")
            for op, target in cases:
                self.res["targets"] += 1
                problem = self.run_case(g, st, op, target, mark, applied_at)
                self.q("ROLLBACK TO SAVEPOINT target")
                if problem:
                    self.res["bad_targets"] += 1
                    path = self.repro(g, st, op, target)
                    self.fail(g, "state %s\n%s: %s%s" % (
                        st.describe(g), call_text(op, target), problem,
                        "\nrepro: psql -f %s" % path if path else ""))
            self.q("ROLLBACK TO SAVEPOINT state")
        self.conn.rollback()

    def run_case(self, g, st, op, target, mark, applied_at):
        """None when dbmigrate agrees with the expectation, else what differs."""
        exp, rule = expected_outcome(g, st, op, target)
        tally = self.res["rules"].setdefault(rule, [0, 0])
        tally[exp.refused] += 1
        if exp.conflict:
            return "harness rule %s: %s (rule: %s; alembic: %s)" % (
                rule, exp.conflict, show(g, exp), show(g, alembic_outcome(g, st, op, target)))
        try:
            cur = self.q(call_sql(op, target))
            rows = [r[0] for r in cur.fetchall()] if op != "stamp" else []
        except Crash:
            raise
        except psycopg2.Error as e:
            if exp.refused:
                if exp.sqlstate and e.pgcode != exp.sqlstate:
                    return ("dbmigrate refused with %s (%s), expected %s: %s [%s]"
                            % (e.pgcode, (e.pgerror or "").strip().splitlines()[0],
                               exp.sqlstate, exp.why, rule))
                return None
            return ("dbmigrate refused (%s: %s) but expected %s [%s]"
                    % (e.pgcode, (e.pgerror or "").strip().splitlines()[0], show(g, exp), rule))
        cur = self.q("SELECT array(SELECT dbmigrate.migrate_current()), "
                     "array(SELECT revision || ' ' || operation FROM dbmigrate.migrate_log() "
                     "WHERE id > %d ORDER BY id)" % mark)
        current, log = cur.fetchone()
        if exp.refused:
            return ("dbmigrate accepted (ran %s, current %s) but expected a refusal: %s [%s]"
                    % (short(rows), short(sorted(current)), exp.why, rule))
        unknown = [r for r in rows + current if r not in g.idx]
        if unknown:
            return "dbmigrate returned unknown revisions %s" % short(unknown)
        ridx = [g.idx[r] for r in rows]
        cidx = [g.idx[r] for r in current]
        problems = []
        if op == "stamp":
            changed = [e.rsplit(" ", 1) for e in log]
            if any(o != "stamp" for _, o in changed):
                problems.append("stamp logged %s" % short(log))
            moved = [g.idx[r] for r, _ in changed if r in g.idx]
            if len(moved) != len(set(moved)) or set(moved) != exp.moved:
                problems.append("stamp logged changes of %s, expected %s"
                                % (short(ids_of(g, moved)), short(ids_of(g, exp.moved))))
        else:
            if len(ridx) != len(set(ridx)):
                problems.append("a revision ran twice: %s" % short(rows))
            if set(ridx) != exp.moved:
                problems.append("ran %s, expected %s (missing %s, extra %s) [%s]" % (
                    short(rows), short(ids_of(g, exp.moved)),
                    short(ids_of(g, exp.moved - set(ridx))),
                    short(ids_of(g, set(ridx) - exp.moved)), rule))
            word = "upgrade" if op == "upgrade" else "downgrade"
            if log != ["%s %s" % (r, word) for r in rows]:
                problems.append("migrate_log() has %s for the returned rows %s"
                                % (short(log), short(rows)))
            o = order_problem(g, st, "upgrade" if op == "upgrade" else "downgrade", ridx,
                              applied_at)
            if o:
                problems.append("order %s: %s" % (short(rows), o))
        if len(cidx) != len(set(cidx)) or set(cidx) != exp.heads:
            problems.append("migrate_current() is %s, expected %s [%s]" % (
                short(sorted(current)), short(sorted(ids_of(g, exp.heads))), rule))
        return "; ".join(problems) or None


def ids_of(g, idxs):
    return [g.ids[i] for i in sorted(idxs)]


def ids_of_list(g, idxs):
    return [g.ids[i] for i in idxs]


def short(xs, k=8):
    xs = list(xs)
    s = ", ".join(xs[:k])
    if len(xs) > k:
        s += ", ... (%d in all)" % len(xs)
    return "[" + s + "]"


def show(g, o):
    if o.refused:
        return "refused (%s)" % o.why
    return "moved %s, heads %s" % (short(ids_of(g, o.moved)), short(ids_of(g, o.heads)))


_worker = None


def worker_init(args, dsns):
    """A pool worker: its own connection to its own database (dbmigrate
    serializes state-changing calls per database with one advisory lock, and
    each graph holds it for its whole transaction)."""
    global _worker
    import multiprocessing
    k = multiprocessing.current_process()._identity[0] - 1
    args.dsn = dsns[k % len(dsns)]
    _worker = Runner(args)
    _worker.connect()
    _worker.prepare_database(create=False)


def clone_databases(args, n):
    """n copies of the database of args.dsn (CREATE DATABASE ... TEMPLATE),
    for parallel jobs; returns their connection strings."""
    probe = psycopg2.connect(args.dsn)
    base = probe.info.dbname
    probe.close()
    conn = psycopg2.connect(make_dsn(args.dsn, dbname="postgres"))
    conn.autocommit = True
    cur = conn.cursor()
    names = []
    for k in range(n):
        name = "%s_job%d" % (base, k + 1)
        cur.execute('DROP DATABASE IF EXISTS "%s"' % name)
        cur.execute('CREATE DATABASE "%s" TEMPLATE "%s"' % (name, base))
        names.append(name)
    conn.close()
    return names


def drop_databases(args, names):
    conn = psycopg2.connect(make_dsn(args.dsn, dbname="postgres"))
    conn.autocommit = True
    for name in names:
        conn.cursor().execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)
    conn.close()


def worker_run(seed):
    return _worker.run_graph(seed)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--graphs", type=int, default=100, help="number of graphs (default 100)")
    ap.add_argument("--seed", type=int, default=None,
                    help="seed of the first graph; graph k has seed+k (default: random)")
    ap.add_argument("--min-size", type=int, default=10, help="fewest revisions (default 10)")
    ap.add_argument("--max-size", type=int, default=5000, help="most revisions (default 5000)")
    ap.add_argument("--targets", type=int, default=10,
                    help="targets sampled per starting state (default 10)")
    ap.add_argument("--dsn", default="", help="libpq connection string (default: PG* environment)")
    ap.add_argument("--jobs", type=int, default=1,
                    help="graphs run in parallel, each job in its own copy of the "
                    "database (CREATE DATABASE ... TEMPLATE; default 1)")
    ap.add_argument("--repro-dir", default=os.environ.get("TMPDIR", "/tmp"),
                    help="where to write a repro script per disagreement ('' for none)")
    ap.add_argument("--max-failures", type=int, default=20,
                    help="stop after this many disagreements (default 20)")
    ap.add_argument("--quiet", action="store_true", help="no progress lines")
    args = ap.parse_args()
    if args.min_size < 1 or args.max_size < args.min_size:
        ap.error("need 1 <= --min-size <= --max-size")
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1, 10 ** 9)

    main_runner = Runner(args)
    main_runner.connect()
    main_runner.prepare_database(create=True)
    seeds = range(args.seed, args.seed + args.graphs)
    pool = None
    clones = []
    if args.jobs > 1:
        import multiprocessing
        main_runner.conn.close()
        clones = clone_databases(args, args.jobs)
        pool = multiprocessing.Pool(args.jobs, worker_init,
                                    (args, [make_dsn(args.dsn, dbname=c) for c in clones]))
        results = pool.imap_unordered(worker_run, seeds)
    else:
        results = (main_runner.run_graph(s) for s in seeds)
    try:
        return report(args, results)
    finally:
        if pool:
            pool.terminate()
            pool.join()
        if clones:
            drop_databases(args, clones)


def report(args, results):
    t0 = last = time.time()
    graphs = graphs_ok = targets = bad_targets = nfail = crashes = 0
    rules = {}
    failed_seeds = []
    for res in results:
        graphs += 1
        targets += res["targets"]
        bad_targets += res["bad_targets"]
        crashes += res["crash"]
        for k, (a, b) in res["rules"].items():
            t = rules.setdefault(k, [0, 0])
            t[0] += a
            t[1] += b
        if res["failures"]:
            failed_seeds.append(res["seed"])
            nfail += len(res["failures"])
            for f in res["failures"]:
                print(f, flush=True)
        else:
            graphs_ok += 1
        if not args.quiet and time.time() - last > 15:
            last = time.time()
            print("  ... %d graphs, %d targets, %d disagreements, %.0f s"
                  % (graphs, targets, nfail, last - t0), flush=True)
        if nfail >= args.max_failures:
            print("differential: stopping after %d disagreements" % nfail)
            break
    elapsed = time.time() - t0
    print("differential: seeds %d..%d, sizes %d..%d, %d job(s), %.1f s; expected "
          "accepted/refused by deciding rule: %s"
          % (args.seed, args.seed + args.graphs - 1, args.min_size, args.max_size, args.jobs,
             elapsed, ", ".join("%s %d/%d" % (k, v[0], v[1]) for k, v in
                                sorted(rules.items(), key=lambda kv: -sum(kv[1])))))
    if not nfail:
        print("differential: %d graphs, %d targets, all agree" % (graphs, targets))
        return 0
    print("differential: %d graphs (%d agree), %d targets (%d agree), %d disagreements%s; "
          "seeds: %s" % (graphs, graphs_ok, targets, targets - bad_targets, nfail,
                         " (%d lost connections)" % crashes if crashes else "",
                         " ".join(str(s) for s in sorted(failed_seeds)[:40])))
    return 1


if __name__ == "__main__":
    sys.exit(main())

-- test/alembic_graph.sql
--
-- Alembic's revision-map and version-traversal semantics, restated as tests
-- of dbmigrate (SPEC.md sections 3 and 4; CASES.md BC-06, BC-08).  The
-- behaviours follow the cases Alembic's own test suite covers (linear
-- paths, branches from one base, several roots, merges including a merge
-- of three, twin merges, relative moves, prefixes, stamp); the graphs and
-- the wording here are our own.
--
-- Where Alembic and dbmigrate's contract differ, the test pins dbmigrate's
-- documented behaviour and a comment marked "Alembic differs" says how and
-- why.  The recurring differences are:
--   * ordering: dbmigrate runs pending revisions parents first with ties in
--     registration order (and downgrades, children first, in reverse order
--     of application, which dbmigrate's log records and Alembic's does not);
--     Alembic walks one branch at a time, so its step order on a branchy
--     graph can differ while the resulting set of heads is the same;
--   * ambiguity: dbmigrate refuses a relative move that is ambiguous (-N
--     with several current heads, +N where the path forks) instead of
--     guessing with a warning;
--   * prefixes need at least 4 characters; "<rev>-N" is not a target form
--     because "-" is a legal character of a revision id;
--   * stamp makes exactly its target current (SPEC.md section 3).
--
-- Every revision registered here records its own execution in
-- tap_graph.trail, so the tests can check which SQL really ran, in which
-- order, and that nothing ran twice.

\set ON_ERROR_STOP true
\set QUIET true

BEGIN;

SET LOCAL client_min_messages = warning;

CREATE EXTENSION dbmigrate CASCADE;

SELECT plan(194);

-- a clean graph: the built-in revision is not part of these scenarios
DO $$ BEGIN PERFORM dbmigrate.migrate_unregister('001_initial_migration'); END $$;

CREATE SCHEMA tap_graph;

-- one row per executed step of a revision registered by tap_graph.reg()
CREATE TABLE tap_graph.trail (
    id  serial PRIMARY KEY,
    rev text NOT NULL,
    dir text NOT NULL
);

-- values remembered between statements (a generated merge id, a log position)
CREATE TABLE tap_graph.saved (
    key   text PRIMARY KEY,
    value text NOT NULL
);
CREATE FUNCTION tap_graph.saved(key text) RETURNS text LANGUAGE sql AS $$
    SELECT value FROM tap_graph.saved WHERE saved.key = $1
$$;

-- reg(rev, parents...): register rev (a root without parents, a merge with
-- several) with SQL that appends (rev, 'up' | 'down') to the trail
CREATE FUNCTION tap_graph.reg(rev text, VARIADIC parents text[] DEFAULT '{}')
RETURNS text LANGUAGE sql AS $$
    SELECT dbmigrate.migrate_register(
        rev, parents,
        format('INSERT INTO tap_graph.trail (rev, dir) VALUES (%L, %L)', rev, 'up'),
        format('INSERT INTO tap_graph.trail (rev, dir) VALUES (%L, %L)', rev, 'down'),
        'test revision ' || rev)
$$;

-- cur(): migrate_current() as a sorted array ('{}' at base)
CREATE FUNCTION tap_graph.cur() RETURNS text[] LANGUAGE sql AS $$
    SELECT coalesce(pg_catalog.array_agg(c ORDER BY c COLLATE "C"), '{}')
      FROM dbmigrate.migrate_current() AS c
$$;

-- ran(): the trail since the last reset, in execution order, as 'rev:dir'
CREATE FUNCTION tap_graph.ran() RETURNS text[] LANGUAGE sql AS $$
    SELECT coalesce(pg_catalog.array_agg(rev || ':' || dir ORDER BY id), '{}')
      FROM tap_graph.trail
$$;

-- live(): revisions whose SQL has run up more often than down, sorted;
-- after any sequence of moves this must be exactly the applied set
CREATE FUNCTION tap_graph.live() RETURNS text[] LANGUAGE sql AS $$
    SELECT coalesce(pg_catalog.array_agg(rev ORDER BY rev COLLATE "C"), '{}')
      FROM (SELECT rev FROM tap_graph.trail GROUP BY rev
             HAVING sum(CASE dir WHEN 'up' THEN 1 ELSE -1 END) = 1) s
$$;

-- broken(): revisions whose up/down counts are not 0 or 1 apart (ran twice)
CREATE FUNCTION tap_graph.broken() RETURNS SETOF text LANGUAGE sql AS $$
    SELECT rev FROM tap_graph.trail GROUP BY rev
    HAVING sum(CASE dir WHEN 'up' THEN 1 ELSE -1 END) NOT IN (0, 1)
$$;

-- reset(): back to base and an empty graph, without running any SQL
CREATE FUNCTION tap_graph.reset() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    r text;
BEGIN
    PERFORM dbmigrate.migrate_stamp('base');
    -- newest first: children are unregistered before their parents
    FOR r IN SELECT revision FROM dbmigrate.migrate_history() LOOP
        PERFORM dbmigrate.migrate_unregister(r);
    END LOOP;
    DELETE FROM tap_graph.trail;
END
$$;

-------------------------------------------------------------------------------
-- 1. A linear chain: lin_a <- lin_b <- lin_c <- lin_d <- lin_e
-------------------------------------------------------------------------------

DO $$
BEGIN
    PERFORM tap_graph.reg('lin_a');
    PERFORM tap_graph.reg('lin_b', 'lin_a');
    PERFORM tap_graph.reg('lin_c', 'lin_b');
    PERFORM tap_graph.reg('lin_d', 'lin_c');
    PERFORM tap_graph.reg('lin_e', 'lin_d');
END
$$;

SELECT results_eq('SELECT * FROM dbmigrate.migrate_heads()', ARRAY['lin_e'],
    'linear: the only head is lin_e');
SELECT is(tap_graph.cur(), '{}'::text[], 'linear: a fresh database is at base');

-- downgrading to base from base is a no-op, not an error
SELECT is_empty($$SELECT * FROM dbmigrate.migrate_downgrade('base')$$,
    'linear: downgrade to base at base runs nothing');
-- a relative downgrade needs that many applied revisions (22023)
SELECT throws_ok('SELECT * FROM dbmigrate.migrate_downgrade(1)', '22023', NULL,
    'linear: downgrade(1) at base is refused with 22023');

SELECT results_eq($$SELECT revision FROM dbmigrate.migrate_upgrade('lin_c')$$,
    ARRAY['lin_a', 'lin_b', 'lin_c'],
    'linear: upgrade to lin_c from base runs lin_a, lin_b, lin_c in order');
SELECT is(tap_graph.cur(), ARRAY['lin_c'], 'linear: current is lin_c');

SELECT results_eq($$SELECT revision FROM dbmigrate.migrate_upgrade('lin_e')$$,
    ARRAY['lin_d', 'lin_e'],
    'linear: upgrade to lin_e from lin_c runs only lin_d, lin_e');

SELECT results_eq($$SELECT revision FROM dbmigrate.migrate_downgrade('lin_c')$$,
    ARRAY['lin_e', 'lin_d'],
    'linear: downgrade to lin_c from lin_e undoes lin_e then lin_d');
SELECT is(tap_graph.cur(), ARRAY['lin_c'], 'linear: current is lin_c again');

-- downgrading to the revision that is already current does nothing
SELECT is_empty($$SELECT * FROM dbmigrate.migrate_downgrade('lin_c')$$,
    'linear: downgrade to the current revision runs nothing');
-- upgrading to an applied ancestor never moves down
SELECT is_empty($$SELECT * FROM dbmigrate.migrate_upgrade('lin_a')$$,
    'linear: upgrade to an already applied ancestor (lin_a) runs nothing');
SELECT is(tap_graph.cur(), ARRAY['lin_c'],
    'linear: ...and leaves current at lin_c');

SELECT results_eq($$SELECT revision FROM dbmigrate.migrate_downgrade('lin_a')$$,
    ARRAY['lin_c', 'lin_b'],
    'linear: downgrade to lin_a undoes lin_c, lin_b and keeps lin_a');
SELECT is(tap_graph.cur(), ARRAY['lin_a'], 'linear: current is lin_a');

-- relative upgrades
SELECT results_eq($$SELECT revision FROM dbmigrate.migrate_upgrade('+2')$$,
    ARRAY['lin_b', 'lin_c'], 'linear: +2 from lin_a runs lin_b, lin_c');
SELECT results_eq($$SELECT revision FROM dbmigrate.migrate_upgrade('+1')$$,
    ARRAY['lin_d'], 'linear: +1 from lin_c runs lin_d');
SELECT throws_ok($$SELECT * FROM dbmigrate.migrate_upgrade('+5')$$, '22023', NULL,
    'linear: +5 from lin_d (only one revision left) is refused with 22023');
SELECT is(tap_graph.cur(), ARRAY['lin_d'], 'linear: the refused +5 changed nothing');

-- relative downgrades, in both spellings
SELECT results_eq($$SELECT revision FROM dbmigrate.migrate_downgrade('-1')$$,
    ARRAY['lin_d'], 'linear: downgrade ''-1'' from lin_d undoes lin_d');
SELECT results_eq('SELECT revision FROM dbmigrate.migrate_downgrade(2)',
    ARRAY['lin_c', 'lin_b'], 'linear: downgrade(2) from lin_c undoes lin_c, lin_b');
SELECT is(tap_graph.cur(), ARRAY['lin_a'], 'linear: current is lin_a after -1 and 2');
SELECT throws_ok($$SELECT * FROM dbmigrate.migrate_downgrade('-2')$$, '22023', NULL,
    'linear: -2 with one applied revision is refused with 22023');

-- <rev>+N: a position counted from a revision, not from current
SELECT results_eq($$SELECT revision FROM dbmigrate.migrate_upgrade('lin_b+2')$$,
    ARRAY['lin_b', 'lin_c', 'lin_d'],
    'linear: upgrade to lin_b+2 (= lin_d) from lin_a runs lin_b, lin_c, lin_d');
SELECT results_eq($$SELECT revision FROM dbmigrate.migrate_downgrade('lin_a+2')$$,
    ARRAY['lin_d'],
    'linear: downgrade to lin_a+2 (= lin_c) from lin_d undoes lin_d only');
SELECT is(tap_graph.cur(), ARRAY['lin_c'], 'linear: current is lin_c after lin_a+2');
SELECT throws_ok($$SELECT * FROM dbmigrate.migrate_upgrade('lin_d+2')$$, '22023', NULL,
    'linear: lin_d+2 goes past the head and is refused with 22023');

-- Alembic differs: Alembic also accepts "<rev>-N" (lin_c-2 = lin_a).
-- dbmigrate does not, because '-' is a legal id character: 'lin_c-2' is
-- read as a revision id, which is not registered (42704).
SELECT throws_ok($$SELECT * FROM dbmigrate.migrate_upgrade('lin_c-2')$$, '42704', NULL,
    'linear: lin_c-2 is an (unregistered) revision id, not a relative target: 42704');

-- Alembic differs: it accepts base+N (counted from base).  In dbmigrate
-- 'base' is not a revision, so base+1 names nothing (42704); '+N' from base
-- is the way to count from base.
SELECT throws_ok($$SELECT * FROM dbmigrate.migrate_upgrade('base+1')$$, '42704', NULL,
    'linear: base+1 is not a target (base is not a revision): 42704');

-- targets that make no sense for the direction (22023); Alembic also
-- refuses them, with its own messages
SELECT throws_ok($$SELECT * FROM dbmigrate.migrate_upgrade('-1')$$, '22023', NULL,
    'linear: upgrade to -1 is refused with 22023');
SELECT throws_ok($$SELECT * FROM dbmigrate.migrate_upgrade('base')$$, '22023', NULL,
    'linear: upgrade to base is refused with 22023');
SELECT throws_ok($$SELECT * FROM dbmigrate.migrate_downgrade('+1')$$, '22023', NULL,
    'linear: downgrade to +1 is refused with 22023');
SELECT throws_ok($$SELECT * FROM dbmigrate.migrate_downgrade('heads')$$, '22023', NULL,
    'linear: downgrade to heads is refused with 22023');
SELECT throws_ok($$SELECT * FROM dbmigrate.migrate_upgrade('+0')$$, '22023', NULL,
    'linear: +0 is not a relative target (N must be positive): 22023');
-- a downgrade target must be applied: Alembic says "not a valid downgrade
-- target from current heads", dbmigrate 55000
SELECT throws_ok($$SELECT * FROM dbmigrate.migrate_downgrade('lin_e')$$, '55000', NULL,
    'linear: downgrade to lin_e, which is not applied, is refused with 55000');
SELECT throws_ok($$SELECT * FROM dbmigrate.migrate_upgrade('no_such_rev')$$, '42704', NULL,
    'linear: upgrade to an unknown revision is refused with 42704');
SELECT is(tap_graph.cur(), ARRAY['lin_c'], 'linear: none of the refused moves changed current');

-- prefixes: 'lin_' matches five revisions (21000); 'lin' is shorter than
-- the 4-character minimum and resolves to nothing (42704).
-- Alembic differs: it accepts a unique prefix of any length.
SELECT throws_ok($$SELECT * FROM dbmigrate.migrate_upgrade('lin_')$$, '21000', NULL,
    'linear: the prefix lin_ is ambiguous: 21000');
SELECT throws_ok($$SELECT * FROM dbmigrate.migrate_upgrade('lin')$$, '42704', NULL,
    'linear: a 3-character prefix is not resolved: 42704');

SELECT results_eq($$SELECT revision FROM dbmigrate.migrate_upgrade()$$,
    ARRAY['lin_d', 'lin_e'], 'linear: upgrade to head from lin_c runs lin_d, lin_e');
SELECT is_empty($$SELECT * FROM dbmigrate.migrate_upgrade('head')$$,
    'linear: upgrade to head at head runs nothing');
SELECT results_eq($$SELECT revision FROM dbmigrate.migrate_downgrade('base')$$,
    ARRAY['lin_e', 'lin_d', 'lin_c', 'lin_b', 'lin_a'],
    'linear: downgrade to base undoes all five, newest first');
SELECT is(tap_graph.cur(), '{}'::text[], 'linear: back at base');

SELECT is(tap_graph.ran(), ARRAY[
    'lin_a:up', 'lin_b:up', 'lin_c:up', 'lin_d:up', 'lin_e:up', 'lin_e:down', 'lin_d:down',
    'lin_c:down', 'lin_b:down', 'lin_b:up', 'lin_c:up', 'lin_d:up', 'lin_d:down', 'lin_c:down',
    'lin_b:down', 'lin_b:up', 'lin_c:up', 'lin_d:up', 'lin_d:down', 'lin_d:up', 'lin_e:up',
    'lin_e:down', 'lin_d:down', 'lin_c:down', 'lin_b:down', 'lin_a:down'],
    'linear: the SQL that really ran is exactly the steps reported, in order');
SELECT is_empty('SELECT * FROM tap_graph.broken()',
    'linear: no revision''s SQL ran twice in a row in one direction');

SELECT lives_ok('SELECT tap_graph.reset()', 'linear: the graph is cleared');

-------------------------------------------------------------------------------
-- 2. Two branches from one base:
--      trunk_a <- trunk_b <- left_c  <- left_d
--                         <- right_c <- right_d
--    registered in that order (left before right).
-------------------------------------------------------------------------------

DO $$
BEGIN
    PERFORM tap_graph.reg('trunk_a');
    PERFORM tap_graph.reg('trunk_b', 'trunk_a');
    PERFORM tap_graph.reg('left_c', 'trunk_b');
    PERFORM tap_graph.reg('left_d', 'left_c');
    PERFORM tap_graph.reg('right_c', 'trunk_b');
    PERFORM tap_graph.reg('right_d', 'right_c');
END
$$;

SELECT results_eq('SELECT * FROM dbmigrate.migrate_heads()', ARRAY['left_d', 'right_d'],
    'branches: the heads are left_d and right_d, in registration order');
SELECT results_eq(
    $$SELECT revision, is_branch_point, is_merge_point FROM dbmigrate.migrate_history()
       WHERE revision IN ('trunk_a', 'trunk_b', 'left_c')$$,
    $$VALUES ('left_c'::text, false, false), ('trunk_b', true, false), ('trunk_a', false, false)$$,
    'branches: history flags trunk_b (and only it) as the branch point, newest first');

-- with one root, +1 from base is unambiguous
SELECT results_eq($$SELECT revision FROM dbmigrate.migrate_upgrade('+1')$$,
    ARRAY['trunk_a'], 'branches: +1 from base runs the single root trunk_a');

-- 'head' with two heads is refused before anything runs (BC-06)
SELECT throws_ok($$SELECT * FROM dbmigrate.migrate_upgrade()$$, '21000', NULL,
    'branches: upgrade to head with two heads is refused with 21000');
SELECT throws_ok($$SELECT * FROM dbmigrate.migrate_upgrade()$$, '21000',
    'target "head" is ambiguous: the revision graph has 2 heads',
    'branches: the error says head is ambiguous and counts the heads');
SELECT throws_ok($$SELECT * FROM dbmigrate.migrate_upgrade('+2')$$, '21000', NULL,
    'branches: +2 from trunk_a forks after trunk_b and is refused with 21000');
SELECT is(tap_graph.cur(), ARRAY['trunk_a'], 'branches: the refused moves left current at trunk_a');
SELECT is(tap_graph.ran(), ARRAY['trunk_a:up'], 'branches: ...and ran no SQL');

SELECT results_eq($$SELECT revision FROM dbmigrate.migrate_upgrade('+1')$$,
    ARRAY['trunk_b'], 'branches: +1 from trunk_a runs trunk_b');
SELECT throws_ok($$SELECT * FROM dbmigrate.migrate_upgrade('+1')$$, '21000', NULL,
    'branches: +1 from the branch point trunk_b is ambiguous: 21000');
SELECT throws_ok($$SELECT * FROM dbmigrate.migrate_upgrade('trunk_b+1')$$, '21000', NULL,
    'branches: trunk_b+1 is ambiguous (two children): 21000');
SELECT throws_ok($$SELECT * FROM dbmigrate.migrate_upgrade('trunk_a+2')$$, '21000', NULL,
    'branches: trunk_a+2 is ambiguous too: 21000');

-- upgrading to one branch's head applies only its missing ancestors
SELECT results_eq($$SELECT revision FROM dbmigrate.migrate_upgrade('left_d')$$,
    ARRAY['left_c', 'left_d'], 'branches: upgrade to left_d runs left_c, left_d only');
SELECT is(tap_graph.cur(), ARRAY['left_d'], 'branches: current is left_d');
SELECT results_eq($$SELECT revision FROM dbmigrate.migrate_upgrade('right_c')$$,
    ARRAY['right_c'], 'branches: upgrade to right_c then runs right_c only');
SELECT is(tap_graph.cur(), ARRAY['left_d', 'right_c'],
    'branches: both branches are current: left_d and right_c');

-- Alembic differs: Alembic refuses "+1" whenever several revisions are
-- current.  dbmigrate refuses it only where the path forks (SPEC.md
-- section 3); from {left_d, right_c} the only next revision is right_d.
SELECT results_eq($$SELECT revision FROM dbmigrate.migrate_upgrade('+1')$$,
    ARRAY['right_d'], 'branches: +1 from {left_d, right_c} has one next revision: right_d');
SELECT is(tap_graph.cur(), ARRAY['left_d', 'right_d'],
    'branches: current is left_d and right_d');
SELECT throws_ok($$SELECT * FROM dbmigrate.migrate_upgrade('+1')$$, '22023', NULL,
    'branches: +1 with every head applied goes past the head: 22023');

-- Alembic differs: a relative downgrade with several current heads makes
-- Alembic warn and pick one by order; dbmigrate refuses it (21000).
SELECT throws_ok('SELECT * FROM dbmigrate.migrate_downgrade(1)', '21000', NULL,
    'branches: downgrade(1) with two current heads is refused with 21000');
SELECT throws_ok($$SELECT * FROM dbmigrate.migrate_downgrade('-1')$$, '21000', NULL,
    'branches: downgrade ''-1'' with two current heads is refused with 21000');

-- a downgrade target undoes only its own applied descendants
SELECT results_eq($$SELECT revision FROM dbmigrate.migrate_downgrade('right_c')$$,
    ARRAY['right_d'], 'branches: downgrade to right_c undoes right_d only');
SELECT is(tap_graph.cur(), ARRAY['left_d', 'right_c'],
    'branches: current is left_d and right_c');
SELECT is_empty($$SELECT * FROM dbmigrate.migrate_downgrade('left_d')$$,
    'branches: downgrade to left_d, a current head, runs nothing');
SELECT is_empty($$SELECT * FROM dbmigrate.migrate_downgrade('right_c')$$,
    'branches: downgrade to right_c, a current head, runs nothing');
SELECT is(tap_graph.cur(), ARRAY['left_d', 'right_c'],
    'branches: the no-op downgrades changed nothing');

-- Alembic differs in order only: it undoes one branch after the other
-- (left_d, left_c, right_c); dbmigrate undoes in reverse order of
-- application (here also reverse registration order).
SELECT results_eq($$SELECT revision FROM dbmigrate.migrate_downgrade('trunk_b')$$,
    ARRAY['right_c', 'left_d', 'left_c'],
    'branches: downgrade to the branch point trunk_b undoes both branches, newest first');
SELECT is(tap_graph.cur(), ARRAY['trunk_b'], 'branches: current is trunk_b');

-- 'heads' applies every branch; Alembic differs in order only (it runs
-- one branch after the other)
SELECT results_eq($$SELECT revision FROM dbmigrate.migrate_upgrade('heads')$$,
    ARRAY['left_c', 'left_d', 'right_c', 'right_d'],
    'branches: upgrade to heads runs both branches in registration order');
SELECT is(tap_graph.cur(), ARRAY['left_d', 'right_d'], 'branches: both heads are current');
SELECT is_empty($$SELECT * FROM dbmigrate.migrate_upgrade('heads')$$,
    'branches: upgrade to heads again runs nothing');

SELECT results_eq($$SELECT revision FROM dbmigrate.migrate_downgrade('left_c')$$,
    ARRAY['left_d'], 'branches: downgrade to left_c with both heads current undoes left_d only');
SELECT is(tap_graph.cur(), ARRAY['left_c', 'right_d'], 'branches: current is left_c and right_d');
SELECT throws_ok($$SELECT * FROM dbmigrate.migrate_downgrade('-1')$$, '21000', NULL,
    'branches: -1 from {left_c, right_d} is still ambiguous: 21000');

-- <rev>+N as a downgrade target: trunk_a+1 = trunk_b
SELECT results_eq($$SELECT revision FROM dbmigrate.migrate_downgrade('trunk_a+1')$$,
    ARRAY['right_d', 'right_c', 'left_c'],
    'branches: downgrade to trunk_a+1 (= trunk_b) undoes every branch revision');
SELECT is(tap_graph.cur(), ARRAY['trunk_b'], 'branches: current is trunk_b again');
SELECT results_eq($$SELECT revision FROM dbmigrate.migrate_downgrade('-1')$$,
    ARRAY['trunk_b'], 'branches: -1 from the single current trunk_b undoes it');

-- merging the two heads makes 'head' usable again (BC-06)
DO $$ BEGIN PERFORM tap_graph.reg('join_lr', 'left_d', 'right_d'); END $$;
SELECT results_eq('SELECT * FROM dbmigrate.migrate_heads()', ARRAY['join_lr'],
    'branches: after registering join_lr (parents left_d, right_d) it is the only head');
SELECT results_eq($$SELECT revision FROM dbmigrate.migrate_upgrade()$$,
    ARRAY['trunk_b', 'left_c', 'left_d', 'right_c', 'right_d', 'join_lr'],
    'branches: upgrade to head now runs every missing revision once, parents first, then the merge');
SELECT is(tap_graph.cur(), ARRAY['join_lr'], 'branches: current is exactly the merge');
SELECT ok(
    (SELECT is_merge_point AND is_current FROM dbmigrate.migrate_history() WHERE revision = 'join_lr'),
    'branches: history flags join_lr as the current merge point');

-- from a merge, -1 undoes the merge and both parents become current
SELECT results_eq($$SELECT revision FROM dbmigrate.migrate_downgrade('-1')$$,
    ARRAY['join_lr'], 'branches: -1 from the merge undoes only the merge');
SELECT is(tap_graph.cur(), ARRAY['left_d', 'right_d'],
    'branches: after undoing the merge both parents are current');
SELECT results_eq($$SELECT revision FROM dbmigrate.migrate_upgrade()$$,
    ARRAY['join_lr'], 'branches: upgrade to head re-applies just the merge');

-- -2 from the merge would have to choose a branch after the first step;
-- the whole call is refused and nothing is undone
SELECT throws_ok('SELECT * FROM dbmigrate.migrate_downgrade(2)', '21000', NULL,
    'branches: downgrade(2) from the merge is ambiguous at its second step: 21000');
SELECT is(tap_graph.cur(), ARRAY['join_lr'],
    'branches: the refused downgrade(2) did not undo the merge either');

SELECT is(tap_graph.live(),
    ARRAY['join_lr', 'left_c', 'left_d', 'right_c', 'right_d', 'trunk_a', 'trunk_b'],
    'branches: the revisions whose SQL is in effect are exactly the applied ones');
SELECT is_empty('SELECT * FROM tap_graph.broken()',
    'branches: no revision''s SQL ran twice in a row in one direction');

SELECT lives_ok('SELECT tap_graph.reset()', 'branches: the graph is cleared');

-------------------------------------------------------------------------------
-- 3. Two roots, a merge point, and a branch out of the merge's parent:
--      one_a <- one_b <- one_c <-+
--                                +- join_d
--      two_a <- two_b <- two_c <-+
--                        two_c <- two_d   (registered after the merge)
-------------------------------------------------------------------------------

DO $$
BEGIN
    PERFORM tap_graph.reg('one_a');
    PERFORM tap_graph.reg('one_b', 'one_a');
    PERFORM tap_graph.reg('one_c', 'one_b');
    PERFORM tap_graph.reg('two_a');
    PERFORM tap_graph.reg('two_b', 'two_a');
    PERFORM tap_graph.reg('two_c', 'two_b');
    PERFORM tap_graph.reg('join_d', 'one_c', 'two_c');
    PERFORM tap_graph.reg('two_d', 'two_c');
END
$$;

SELECT results_eq('SELECT * FROM dbmigrate.migrate_heads()', ARRAY['join_d', 'two_d'],
    'roots: the heads are join_d and two_d');
SELECT is_empty(
    $$SELECT revision FROM dbmigrate.migrate_history()
       WHERE down_revisions = '{}' AND revision NOT IN ('one_a', 'two_a')$$,
    'roots: one_a and two_a are the only roots');

-- Alembic: "+1" from base picks the single base; with two roots the path
-- forks immediately
SELECT throws_ok($$SELECT * FROM dbmigrate.migrate_upgrade('+1')$$, '21000', NULL,
    'roots: +1 from base with two roots is ambiguous: 21000');

SELECT results_eq($$SELECT revision FROM dbmigrate.migrate_upgrade('one_b')$$,
    ARRAY['one_a', 'one_b'], 'roots: upgrade to one_b runs only the first root''s chain');
SELECT results_eq($$SELECT revision FROM dbmigrate.migrate_upgrade('two_d')$$,
    ARRAY['two_a', 'two_b', 'two_c', 'two_d'],
    'roots: upgrade to two_d runs only the second root''s chain');
SELECT is(tap_graph.cur(), ARRAY['one_b', 'two_d'], 'roots: current is one_b and two_d');

-- the merge needs only one_c now: the two_c side is already applied
SELECT results_eq($$SELECT revision FROM dbmigrate.migrate_upgrade('join_d')$$,
    ARRAY['one_c', 'join_d'], 'roots: upgrade to join_d runs one_c and the merge only');
SELECT is(tap_graph.cur(), ARRAY['join_d', 'two_d'],
    'roots: current is join_d and two_d (two_c is implied by both)');

SELECT results_eq($$SELECT revision FROM dbmigrate.migrate_downgrade('one_b')$$,
    ARRAY['join_d', 'one_c'],
    'roots: downgrade to one_b undoes the merge and one_c, not two_d');
SELECT is(tap_graph.cur(), ARRAY['one_b', 'two_d'], 'roots: current is one_b and two_d again');

SELECT results_eq($$SELECT revision FROM dbmigrate.migrate_downgrade('two_b')$$,
    ARRAY['two_d', 'two_c'], 'roots: downgrade to two_b undoes two_d and two_c');
SELECT is(tap_graph.cur(), ARRAY['one_b', 'two_b'], 'roots: current is one_b and two_b');

-- both sides of the merge are missing: parents first, ties in registration
-- order (Alembic differs in order only: it runs two_c before one_c here)
SELECT results_eq($$SELECT revision FROM dbmigrate.migrate_upgrade('join_d')$$,
    ARRAY['one_c', 'two_c', 'join_d'],
    'roots: upgrade to join_d from {one_b, two_b} runs one_c, two_c, join_d');
SELECT is(tap_graph.cur(), ARRAY['join_d'], 'roots: the merge is the only current revision');

-- two_c's other child breaks out of the merge again
SELECT results_eq($$SELECT revision FROM dbmigrate.migrate_upgrade('two_d')$$,
    ARRAY['two_d'], 'roots: upgrade to two_d then runs two_d only');
SELECT is(tap_graph.cur(), ARRAY['join_d', 'two_d'], 'roots: current is join_d and two_d');

-- downgrade to a revision below the merge on the other side
SELECT results_eq($$SELECT revision FROM dbmigrate.migrate_downgrade('two_c')$$,
    ARRAY['two_d', 'join_d'], 'roots: downgrade to two_c undoes two_d and the merge');
SELECT is(tap_graph.cur(), ARRAY['one_c', 'two_c'], 'roots: current is one_c and two_c');

SELECT results_eq($$SELECT revision FROM dbmigrate.migrate_upgrade('heads')$$,
    ARRAY['join_d', 'two_d'], 'roots: upgrade to heads runs join_d and two_d');
-- base: children first, the rest in reverse order of application (the
-- log): two_d and join_d (applied last), two_c and one_c (applied
-- together, two_c last), then two_b, two_a, one_b, one_a (applied first)
SELECT results_eq($$SELECT revision FROM dbmigrate.migrate_downgrade('base')$$,
    ARRAY['two_d', 'join_d', 'two_c', 'one_c', 'two_b', 'two_a', 'one_b', 'one_a'],
    'roots: downgrade to base undoes all eight in reverse order of application');
SELECT is(tap_graph.cur(), '{}'::text[], 'roots: back at base');
SELECT is(tap_graph.live(), '{}'::text[], 'roots: no revision''s SQL is left in effect');
SELECT is_empty('SELECT * FROM tap_graph.broken()',
    'roots: no revision''s SQL ran twice in a row in one direction');

SELECT lives_ok('SELECT tap_graph.reset()', 'roots: the graph is cleared');

-------------------------------------------------------------------------------
-- 4. A merge of three heads with migrate_merge, registered out of
--    alphabetical order to show that the run order is registration order:
--      zeta (root), alpha (root) <- mid_b, omega (root)
-------------------------------------------------------------------------------

DO $$
BEGIN
    PERFORM tap_graph.reg('zeta');
    PERFORM tap_graph.reg('alpha');
    PERFORM tap_graph.reg('mid_b', 'alpha');
    PERFORM tap_graph.reg('omega');
END
$$;

SELECT results_eq('SELECT * FROM dbmigrate.migrate_heads()', ARRAY['zeta', 'mid_b', 'omega'],
    'merge3: three heads, in registration order');
SELECT throws_ok($$SELECT * FROM dbmigrate.migrate_upgrade('head')$$, '21000', NULL,
    'merge3: head with three heads is refused with 21000');
SELECT throws_ok($$SELECT dbmigrate.migrate_merge(ARRAY['mid_b'])$$, '22023', NULL,
    'merge3: a merge of one revision is refused with 22023');
SELECT throws_ok($$SELECT dbmigrate.migrate_merge(ARRAY['alpha', 'mid_b'])$$, '42P17', NULL,
    'merge3: a merge of a revision with its own ancestor is refused with 42P17');
SELECT throws_ok($$SELECT dbmigrate.migrate_merge(ARRAY['zeta', 'nowhere'])$$, '42704', NULL,
    'merge3: a merge naming an unknown revision is refused with 42704');

INSERT INTO tap_graph.saved
SELECT 'merge3', dbmigrate.migrate_merge(ARRAY['heads'], 'join the three');

SELECT results_eq('SELECT * FROM dbmigrate.migrate_heads()', ARRAY[tap_graph.saved('merge3')],
    'merge3: after migrate_merge(''{heads}'') the merge is the only head');
SELECT set_eq(
    $$SELECT unnest(down_revisions) FROM dbmigrate.migrate_history() WHERE revision = tap_graph.saved('merge3')$$,
    ARRAY['zeta', 'mid_b', 'omega'], 'merge3: the merge''s parents are the three former heads');
SELECT matches(tap_graph.saved('merge3'), '^[0-9a-f]{12}$', 'merge3: the merge id is 12 hex digits');
SELECT is(dbmigrate.migrate_merge(ARRAY['omega', 'mid_b', 'zeta']), tap_graph.saved('merge3'),
    'merge3: merging the same three again (any order) is idempotent and gives the same id');
SELECT results_eq('SELECT * FROM dbmigrate.migrate_heads()', ARRAY[tap_graph.saved('merge3')],
    'merge3: the repeated merge registered nothing new');
-- a repeated merge without a message is a no-op: it must not replace the
-- message given the first time (migrate_register keeps it likewise)
SELECT is((SELECT message FROM dbmigrate.migrate_history() WHERE revision = tap_graph.saved('merge3')),
    'join the three',
    'merge3: the repeated merge without a message keeps the original message');

SELECT results_eq($$SELECT revision FROM dbmigrate.migrate_upgrade()$$,
    ARRAY['zeta', 'alpha', 'mid_b', 'omega', tap_graph.saved('merge3')],
    'merge3: upgrade to head runs each revision once in registration order, the merge last');
SELECT is(tap_graph.ran(), ARRAY['zeta:up', 'alpha:up', 'mid_b:up', 'omega:up'],
    'merge3: the merge itself has no SQL; the four others ran once each');
SELECT is(tap_graph.cur(), ARRAY[tap_graph.saved('merge3')], 'merge3: the merge is the only current revision');

SELECT results_eq($$SELECT revision FROM dbmigrate.migrate_downgrade(1)$$,
    ARRAY[tap_graph.saved('merge3')], 'merge3: downgrade(1) from the merge undoes the merge');
SELECT is(tap_graph.cur(), ARRAY['mid_b', 'omega', 'zeta'],
    'merge3: all three parents are current again');
SELECT throws_ok('SELECT * FROM dbmigrate.migrate_downgrade(1)', '21000', NULL,
    'merge3: downgrade(1) with three current heads is refused with 21000');

-- dbmigrate: +1 from the three parents has exactly one next revision
-- (Alembic differs: it refuses +1 from several current revisions)
SELECT results_eq($$SELECT revision FROM dbmigrate.migrate_upgrade('+1')$$,
    ARRAY[tap_graph.saved('merge3')], 'merge3: +1 from the three parents runs the merge');

SELECT results_eq($$SELECT revision FROM dbmigrate.migrate_downgrade('alpha')$$,
    ARRAY[tap_graph.saved('merge3'), 'mid_b'],
    'merge3: downgrade to alpha undoes the merge and mid_b, not zeta or omega');
SELECT is(tap_graph.cur(), ARRAY['alpha', 'omega', 'zeta'],
    'merge3: current is alpha, omega, zeta (no revision beside its ancestor)');
SELECT results_eq($$SELECT revision FROM dbmigrate.migrate_upgrade()$$,
    ARRAY['mid_b', tap_graph.saved('merge3')], 'merge3: upgrade to head re-applies only mid_b and the merge');

SELECT is_empty(
    $$SELECT c FROM dbmigrate.migrate_current() c
       WHERE EXISTS (SELECT 1 FROM dbmigrate.migrate_history() h
                      WHERE h.revision = c AND NOT h.is_current)$$,
    'merge3: migrate_current and history''s is_current agree');
SELECT is(tap_graph.live(), ARRAY['alpha', 'mid_b', 'omega', 'zeta'],
    'merge3: the revisions whose SQL is in effect are exactly the applied ones');

SELECT lives_ok('SELECT tap_graph.reset()', 'merge3: the graph is cleared');

-------------------------------------------------------------------------------
-- 5. Twin merges: two merge revisions with the same three parents
--      tw_a <- tw_b1, tw_b2, tw_b3;  tw_c1(b1,b2,b3) <- tw_d1;
--                                    tw_c2(b1,b2,b3) <- tw_d2
-------------------------------------------------------------------------------

DO $$
BEGIN
    PERFORM tap_graph.reg('tw_a');
    PERFORM tap_graph.reg('tw_b1', 'tw_a');
    PERFORM tap_graph.reg('tw_b2', 'tw_a');
    PERFORM tap_graph.reg('tw_b3', 'tw_a');
    PERFORM tap_graph.reg('tw_c1', 'tw_b1', 'tw_b2', 'tw_b3');
    PERFORM tap_graph.reg('tw_c2', 'tw_b1', 'tw_b2', 'tw_b3');
    PERFORM tap_graph.reg('tw_d1', 'tw_c1');
    PERFORM tap_graph.reg('tw_d2', 'tw_c2');
END
$$;

SELECT results_eq($$SELECT revision FROM dbmigrate.migrate_upgrade('tw_d2')$$,
    ARRAY['tw_a', 'tw_b1', 'tw_b2', 'tw_b3', 'tw_c2', 'tw_d2'],
    'twin: upgrade to tw_d2 runs the trunk, the three branches, tw_c2 and tw_d2');
SELECT is(tap_graph.cur(), ARRAY['tw_d2'], 'twin: current is tw_d2 only');
SELECT results_eq($$SELECT revision FROM dbmigrate.migrate_upgrade('tw_c1')$$,
    ARRAY['tw_c1'], 'twin: the second merge of the same parents needs only itself');
SELECT is(tap_graph.cur(), ARRAY['tw_c1', 'tw_d2'], 'twin: current is tw_c1 and tw_d2');
SELECT results_eq($$SELECT revision FROM dbmigrate.migrate_upgrade('+1')$$,
    ARRAY['tw_d1'], 'twin: +1 has one next revision (tw_d1)');
SELECT is(tap_graph.cur(), ARRAY['tw_d1', 'tw_d2'], 'twin: current is tw_d1 and tw_d2');
-- children first, otherwise the most recently applied first: tw_d1, tw_c1
-- (applied after tw_c2 and tw_d2), tw_d2, tw_c2
SELECT results_eq($$SELECT revision FROM dbmigrate.migrate_downgrade('tw_b2')$$,
    ARRAY['tw_d1', 'tw_c1', 'tw_d2', 'tw_c2'],
    'twin: downgrade to tw_b2 undoes both merges and their children');
SELECT is(tap_graph.cur(), ARRAY['tw_b1', 'tw_b2', 'tw_b3'],
    'twin: the three branches are current again');
SELECT is_empty('SELECT * FROM tap_graph.broken()',
    'twin: no revision''s SQL ran twice in a row in one direction');

SELECT lives_ok('SELECT tap_graph.reset()', 'twin: the graph is cleared');

-------------------------------------------------------------------------------
-- 6. Prefix resolution, with Alembic-style hexadecimal ids:
--      3f1a9c2e7b10 <- 3f1a0d44e9a2 <- 8c2b7e51d0f3
-------------------------------------------------------------------------------

DO $$
BEGIN
    PERFORM tap_graph.reg('3f1a9c2e7b10');
    PERFORM tap_graph.reg('3f1a0d44e9a2', '3f1a9c2e7b10');
    PERFORM tap_graph.reg('8c2b7e51d0f3', '3f1a0d44e9a2');
END
$$;

SELECT results_eq($$SELECT revision FROM dbmigrate.migrate_upgrade('8c2b')$$,
    ARRAY['3f1a9c2e7b10', '3f1a0d44e9a2', '8c2b7e51d0f3'],
    'prefix: a unique 4-character prefix (8c2b) resolves and upgrades to it');
SELECT is(tap_graph.cur(), ARRAY['8c2b7e51d0f3'], 'prefix: current holds the full id');
SELECT throws_ok($$SELECT * FROM dbmigrate.migrate_downgrade('3f1a')$$, '21000', NULL,
    'prefix: 3f1a matches two revisions and is refused with 21000');
SELECT throws_ok($$SELECT * FROM dbmigrate.migrate_downgrade('3f1')$$, '42704', NULL,
    'prefix: a 3-character prefix is too short: 42704 (Alembic differs: any length)');
SELECT throws_ok($$SELECT * FROM dbmigrate.migrate_downgrade('8C2B')$$, '42704', NULL,
    'prefix: prefixes are case-sensitive: 8C2B is not found');
SELECT results_eq($$SELECT revision FROM dbmigrate.migrate_downgrade('3f1a9')$$,
    ARRAY['8c2b7e51d0f3', '3f1a0d44e9a2'],
    'prefix: downgrade to 3f1a9 (unique) undoes its two descendants');
SELECT is(tap_graph.cur(), ARRAY['3f1a9c2e7b10'], 'prefix: current is 3f1a9c2e7b10');
SELECT results_eq($$SELECT revision FROM dbmigrate.migrate_show('3f1a0')$$,
    ARRAY['3f1a0d44e9a2'], 'prefix: migrate_show resolves a unique prefix to the full id');

-- an exact id wins over a longer id it is a prefix of
DO $$ BEGIN PERFORM tap_graph.reg('8c2b', '8c2b7e51d0f3'); END $$;
SELECT results_eq($$SELECT revision FROM dbmigrate.migrate_show('8c2b')$$,
    ARRAY['8c2b'], 'prefix: 8c2b now names the revision with exactly that id');
SELECT results_eq($$SELECT revision FROM dbmigrate.migrate_upgrade('8c2b7')$$,
    ARRAY['3f1a0d44e9a2', '8c2b7e51d0f3'],
    'prefix: 8c2b7 still resolves to 8c2b7e51d0f3 as a unique prefix');
SELECT results_eq($$SELECT revision FROM dbmigrate.migrate_upgrade('8c2b')$$,
    ARRAY['8c2b'], 'prefix: upgrade to 8c2b runs the exact revision 8c2b');
SELECT results_eq($$SELECT revision FROM dbmigrate.migrate_downgrade('3f1a0+1')$$,
    ARRAY['8c2b'], 'prefix: <prefix>+N works: 3f1a0+1 = 8c2b7e51d0f3');
SELECT throws_ok($$SELECT dbmigrate.migrate_merge(ARRAY['3f1a', '8c2b'])$$, '21000', NULL,
    'prefix: migrate_merge refuses an ambiguous prefix with 21000');

SELECT lives_ok('SELECT tap_graph.reset()', 'prefix: the graph is cleared');

-------------------------------------------------------------------------------
-- 7. Stamp: set the version without running SQL.
--      st_a <- st_b <- st_lc <- st_ld_end
--                   <- st_rc <- st_rd
-------------------------------------------------------------------------------

DO $$
BEGIN
    PERFORM tap_graph.reg('st_a');
    PERFORM tap_graph.reg('st_b', 'st_a');
    PERFORM tap_graph.reg('st_lc', 'st_b');
    PERFORM tap_graph.reg('st_ld_end', 'st_lc');
    PERFORM tap_graph.reg('st_rc', 'st_b');
    PERFORM tap_graph.reg('st_rd', 'st_rc');
END
$$;

INSERT INTO tap_graph.saved
SELECT 'log_mark', coalesce(max(id), 0)::text FROM dbmigrate.migrate_log();

SELECT lives_ok($$SELECT dbmigrate.migrate_stamp('st_ld_end')$$, 'stamp: stamp st_ld_end from base');
SELECT is(tap_graph.cur(), ARRAY['st_ld_end'], 'stamp: current is exactly st_ld_end');
SELECT is(tap_graph.ran(), '{}'::text[], 'stamp: no SQL ran');

-- the stamped revision's ancestors count as applied
SELECT results_eq($$SELECT revision FROM dbmigrate.migrate_upgrade('st_rd')$$,
    ARRAY['st_rc', 'st_rd'],
    'stamp: upgrade to st_rd after the stamp runs only the other branch');
SELECT is(tap_graph.cur(), ARRAY['st_ld_end', 'st_rd'], 'stamp: current is st_ld_end and st_rd');

-- stamping a revision below both heads replaces both (Alembic agrees)
SELECT lives_ok($$SELECT dbmigrate.migrate_stamp('st_b')$$, 'stamp: stamp st_b');
SELECT is(tap_graph.cur(), ARRAY['st_b'], 'stamp: current is exactly st_b');

SELECT lives_ok($$SELECT dbmigrate.migrate_stamp('heads')$$, 'stamp: stamp heads');
SELECT is(tap_graph.cur(), ARRAY['st_ld_end', 'st_rd'], 'stamp: every head is current');

-- Alembic differs: stamping a revision on one branch moves only that
-- branch in Alembic (st_ld_end would stay).  SPEC.md: migrate_stamp makes
-- exactly the target current.
SELECT lives_ok($$SELECT dbmigrate.migrate_stamp('st_rc')$$, 'stamp: stamp st_rc from two heads');
SELECT is(tap_graph.cur(), ARRAY['st_rc'], 'stamp: current is exactly st_rc');

-- a unique prefix and <rev>+N work as stamp targets; so does 'head' once
-- the graph has one head
SELECT lives_ok($$SELECT dbmigrate.migrate_stamp('st_ld')$$, 'stamp: stamp by the unique prefix st_ld');
SELECT is(tap_graph.cur(), ARRAY['st_ld_end'], 'stamp: st_ld resolved to st_ld_end');
SELECT lives_ok($$SELECT dbmigrate.migrate_stamp('st_rc+1')$$, 'stamp: stamp st_rc+1');
SELECT is(tap_graph.cur(), ARRAY['st_rd'], 'stamp: st_rc+1 resolved to st_rd');

SELECT throws_ok($$SELECT dbmigrate.migrate_stamp('head')$$, '21000', NULL,
    'stamp: head with two heads is refused with 21000');
SELECT throws_ok($$SELECT dbmigrate.migrate_stamp('+1')$$, '22023', NULL,
    'stamp: +1 is not a stamp target: 22023');
SELECT throws_ok($$SELECT dbmigrate.migrate_stamp('-1')$$, '22023', NULL,
    'stamp: -1 is not a stamp target: 22023');
SELECT throws_ok($$SELECT dbmigrate.migrate_stamp('st_x')$$, '42704', NULL,
    'stamp: an unknown revision is refused with 42704');
SELECT throws_ok($$SELECT dbmigrate.migrate_stamp('st_r')$$, '21000', NULL,
    'stamp: an ambiguous prefix is refused with 21000');
SELECT is(tap_graph.cur(), ARRAY['st_rd'], 'stamp: the refused stamps changed nothing');

SELECT lives_ok($$SELECT dbmigrate.migrate_stamp('base')$$, 'stamp: stamp base');
SELECT is(tap_graph.cur(), '{}'::text[], 'stamp: base clears current');
SELECT is(tap_graph.ran(), ARRAY['st_rc:up', 'st_rd:up'],
    'stamp: the only SQL that ran in this scenario is the one upgrade''s');
SELECT results_eq(
    $$SELECT revision, operation, checksum IS NOT NULL FROM dbmigrate.migrate_log()
       WHERE id > tap_graph.saved('log_mark')::bigint ORDER BY id$$,
    $$VALUES ('st_a'::text, 'stamp'::text, true), ('st_b', 'stamp', true), ('st_lc', 'stamp', true),
             ('st_ld_end', 'stamp', true),                                   -- stamp st_ld_end
             ('st_rc', 'upgrade', true), ('st_rd', 'upgrade', true),          -- upgrade st_rd
             ('st_rd', 'stamp', false), ('st_rc', 'stamp', false),
             ('st_ld_end', 'stamp', false), ('st_lc', 'stamp', false),        -- stamp st_b
             ('st_lc', 'stamp', true), ('st_ld_end', 'stamp', true),
             ('st_rc', 'stamp', true), ('st_rd', 'stamp', true),              -- stamp heads
             ('st_rd', 'stamp', false), ('st_ld_end', 'stamp', false),
             ('st_lc', 'stamp', false),                                       -- stamp st_rc
             ('st_rc', 'stamp', false), ('st_lc', 'stamp', true),
             ('st_ld_end', 'stamp', true),                                    -- stamp st_ld
             ('st_ld_end', 'stamp', false), ('st_lc', 'stamp', false),
             ('st_rc', 'stamp', true), ('st_rd', 'stamp', true),              -- stamp st_rc+1
             ('st_rd', 'stamp', false), ('st_rc', 'stamp', false),
             ('st_b', 'stamp', false), ('st_a', 'stamp', false)$$,            -- stamp base
    'stamp: the log records every step in order; a stamp logs one row per revision whose '
    'applied state changes (removals newest first with no checksum, then additions oldest '
    'first with their checksum)');

-- with the branches merged, 'head' is a valid stamp target
DO $$ BEGIN PERFORM tap_graph.reg('st_m', 'st_ld_end', 'st_rd'); END $$;
SELECT lives_ok($$SELECT dbmigrate.migrate_stamp('head')$$, 'stamp: stamp head with one head');
SELECT is(tap_graph.cur(), ARRAY['st_m'], 'stamp: current is the merge');
SELECT is_empty($$SELECT * FROM dbmigrate.migrate_upgrade()$$,
    'stamp: after stamping head there is nothing to upgrade');

SELECT * FROM finish();
ROLLBACK;

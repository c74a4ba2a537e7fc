--
-- branches: several heads, merges and Alembic's downgrade rule.
-- BC-06 (multiple heads) and BC-08 (downgrade across a merge), plus: an
-- upgrade of one branch applies only its missing ancestors; a downgrade to
-- a branch point undoes only its descendants; relative moves that are
-- ambiguous are refused naming the candidates; -1 from a merge undoes the
-- merge; ties run in registration order.
--
CREATE EXTENSION dbmigrate CASCADE;
SET client_min_messages = notice;
SELECT dbmigrate.migrate_unregister('001_initial_migration');

-- state(): the current revisions, and how many (current, ancestor) pairs
-- have the ancestor current too; that count must always be 0 (version never
-- holds a revision together with its ancestor).  Written as a string-bodied
-- SQL function so it does not depend on the extension (jit off: the
-- planner's default row estimates for the SRFs would otherwise trigger JIT).
CREATE FUNCTION pg_temp.state(OUT current text, OUT with_ancestor bigint)
LANGUAGE sql SET jit = off AS $$
WITH RECURSIVE cur AS (SELECT c AS revision FROM dbmigrate.migrate_current() AS c),
h AS (SELECT revision, down_revisions FROM dbmigrate.migrate_history()),
anc(head, ancestor) AS (
    SELECT h.revision, p.p FROM h JOIN cur USING (revision), unnest(h.down_revisions) AS p(p)
    UNION
    SELECT anc.head, p.p FROM anc JOIN h ON h.revision = anc.ancestor, unnest(h.down_revisions) AS p(p))
SELECT (SELECT coalesce(string_agg(revision, ', ' ORDER BY revision), '(base)') FROM cur),
       (SELECT count(*) FROM anc WHERE ancestor IN (SELECT revision FROM cur))
$$;

--
-- A graph with a branch point: a -> b1 -> b2 and a -> c1 -> c2, registered
-- in the order a, b1, c1, b2, c2 (not depth-first, not alphabetical).
--
SELECT dbmigrate.migrate_register('a', NULL, 'CREATE TABLE br_a()', 'DROP TABLE br_a', 'a');
SELECT dbmigrate.migrate_register('b1', 'a', 'CREATE TABLE br_b1()', 'DROP TABLE br_b1', 'b1');
SELECT dbmigrate.migrate_register('c1', 'a', 'CREATE TABLE br_c1()', 'DROP TABLE br_c1', 'c1');
SELECT dbmigrate.migrate_register('b2', 'b1', 'CREATE TABLE br_b2()', 'DROP TABLE br_b2', 'b2');
SELECT dbmigrate.migrate_register('c2', 'c1', 'CREATE TABLE br_c2()', 'DROP TABLE br_c2', 'c2');
SELECT * FROM dbmigrate.migrate_heads();
SELECT revision, down_revisions, is_head, is_branch_point FROM dbmigrate.migrate_history();

-- 'head' with two heads: 21000 listing both and hinting migrate_merge;
-- nothing runs
SELECT revision FROM dbmigrate.migrate_upgrade();
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pg_temp.state();
-- '+1' from base: the single root
SELECT revision FROM dbmigrate.migrate_upgrade('+1');
SELECT * FROM pg_temp.state();
-- '+1' again: the path forks at a, refused naming b1 and c1 (21000)
SELECT revision FROM dbmigrate.migrate_upgrade('+1');
\echo :LAST_ERROR_SQLSTATE
-- 'a+1': the same fork, refused naming b1 and c1 (21000)
SELECT revision FROM dbmigrate.migrate_upgrade('a+1');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pg_temp.state();
-- upgrading one branch applies only its missing ancestors: c1 and c2, not b1
SELECT revision FROM dbmigrate.migrate_upgrade('c2');
SELECT * FROM pg_temp.state();
SELECT to_regclass('br_b1') AS br_b1, to_regclass('br_c2') AS br_c2;
-- then b1 alone: current becomes {b1, c2} (a is not listed: it is an
-- ancestor of both)
SELECT revision FROM dbmigrate.migrate_upgrade('b1');
SELECT * FROM pg_temp.state();
-- '+1' with two current heads where only b1 can move: not ambiguous, runs b2
SELECT revision FROM dbmigrate.migrate_upgrade('+1');
SELECT * FROM pg_temp.state();
-- every head is applied: 'heads' is a no-op; 'head' is still ambiguous
SELECT revision FROM dbmigrate.migrate_upgrade('heads');
SELECT revision FROM dbmigrate.migrate_upgrade('head');
\echo :LAST_ERROR_SQLSTATE
-- a relative downgrade with two current heads is ambiguous (21000), naming
-- both; so is '-1'
SELECT revision FROM dbmigrate.migrate_downgrade(1);
\echo :LAST_ERROR_SQLSTATE
SELECT revision FROM dbmigrate.migrate_downgrade('-1');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pg_temp.state();

--
-- Merging the two heads.
--
-- a merge whose parents include an ancestor of another parent: 42P17
SELECT dbmigrate.migrate_merge(ARRAY['b1', 'b2']);
\echo :LAST_ERROR_SQLSTATE
-- migrate_merge of every head ('heads' = b2 and c2); its id is derived from
-- the parents, so merging b2 and c2 again (in any order) is idempotent and
-- returns the same id without adding a revision
SELECT dbmigrate.migrate_merge(ARRAY['heads'], 'join b and c') AS merge_id \gset
SELECT dbmigrate.migrate_merge(ARRAY['c2', 'b2'], 'join b and c') = :'merge_id' AS same_merge;
SELECT count(*) AS revisions FROM dbmigrate.migrate_history();
-- now the merge is the only head, so 'heads' names one revision: 22023
SELECT dbmigrate.migrate_merge(ARRAY['heads']);
\echo :LAST_ERROR_SQLSTATE
SELECT h = :'merge_id' AS merge_is_the_head FROM dbmigrate.migrate_heads() AS h;
SELECT revision = :'merge_id' AS is_merge, down_revisions, is_merge_point,
       upgrade_sql = '' AS empty_upgrade, downgrade_sql = '' AS empty_downgrade
  FROM dbmigrate.migrate_history(true) WHERE revision = :'merge_id';
-- head now names the merge; upgrading runs only the merge
SELECT revision = :'merge_id' AS is_merge, message FROM dbmigrate.migrate_upgrade();
SELECT current = :'merge_id' AS at_merge, with_ancestor FROM pg_temp.state();
-- -1 from a merge undoes the merge: both parents are current again
SELECT revision = :'merge_id' AS is_merge FROM dbmigrate.migrate_downgrade(1);
SELECT * FROM pg_temp.state();
SELECT revision = :'merge_id' AS is_merge FROM dbmigrate.migrate_upgrade();
SELECT current = :'merge_id' AS at_merge, with_ancestor FROM pg_temp.state();
-- '-2' from the merge: the second step would have two current heads, so
-- the whole call is refused (21000) and nothing is undone
SELECT revision FROM dbmigrate.migrate_downgrade('-2');
\echo :LAST_ERROR_SQLSTATE
SELECT current = :'merge_id' AS at_merge, with_ancestor FROM pg_temp.state();

--
-- Downgrade to a target undoes exactly its applied descendants (Alembic).
--
-- to b1: the merge and b2 are undone (newest first); c1, c2 stay
SELECT revision = :'merge_id' AS is_merge, revision FROM dbmigrate.migrate_downgrade('b1');
SELECT * FROM pg_temp.state();
-- b1 is current: nothing to do
SELECT revision FROM dbmigrate.migrate_downgrade('b1');
SELECT * FROM pg_temp.state();
-- to the branch point a: both branches' applied revisions are undone,
-- most recently applied first: b1 (applied after c1 and c2), c2, c1
SELECT revision FROM dbmigrate.migrate_downgrade('a');
SELECT * FROM pg_temp.state();
SELECT to_regclass('br_a') AS br_a, to_regclass('br_b1') AS br_b1, to_regclass('br_c1') AS br_c1;

-- an independent root x, registered last
SELECT dbmigrate.migrate_register('x', NULL, 'CREATE TABLE br_x()', 'DROP TABLE br_x', 'x');
-- 'heads' applies every missing revision in registration order: b1, c1,
-- b2, c2, the merge, x (ties never depend on ids or on branch depth)
SELECT n, CASE WHEN revision = :'merge_id' THEN 'the merge' ELSE revision END AS revision
  FROM dbmigrate.migrate_upgrade('heads') WITH ORDINALITY AS u(revision, message, duration, n);
SELECT current, with_ancestor FROM pg_temp.state();
SELECT count(*) AS current_rows FROM dbmigrate.migrate_current();
-- downgrade to a: undoes the merge and both branches but not x, which does
-- not descend from a
SELECT CASE WHEN revision = :'merge_id' THEN 'the merge' ELSE revision END AS revision
  FROM dbmigrate.migrate_downgrade('a');
SELECT * FROM pg_temp.state();
-- two current heads: a relative downgrade is ambiguous (21000)
SELECT revision FROM dbmigrate.migrate_downgrade(1);
\echo :LAST_ERROR_SQLSTATE
-- '+1' from {a, x}: only a has children, and it has two: ambiguous (21000)
SELECT revision FROM dbmigrate.migrate_upgrade('+1');
\echo :LAST_ERROR_SQLSTATE
-- from base, '+1' with two roots is ambiguous too (21000)
SELECT revision FROM dbmigrate.migrate_downgrade('base');
SELECT * FROM pg_temp.state();
SELECT revision FROM dbmigrate.migrate_upgrade('+1');
\echo :LAST_ERROR_SQLSTATE
SELECT to_regclass('br_a') AS br_a, to_regclass('br_x') AS br_x;

DROP EXTENSION dbmigrate;
CREATE EXTENSION dbmigrate CASCADE;
SELECT dbmigrate.migrate_unregister('001_initial_migration');

--
-- BC-06: a, then b and c both children of a.  up() fails before running
-- anything, listing both heads and hinting a merge; up('b') is allowed;
-- after registering the merge m (with its own SQL, so through the text[]
-- overload of migrate_register), up() applies c then m, each once, and
-- current is exactly {m}.
--
SELECT dbmigrate.migrate_register('a', NULL, 'CREATE TABLE bc06_a()', 'DROP TABLE bc06_a');
SELECT dbmigrate.migrate_register('b', 'a', 'CREATE TABLE bc06_b()', 'DROP TABLE bc06_b');
SELECT dbmigrate.migrate_register('c', 'a', 'CREATE TABLE bc06_c()', 'DROP TABLE bc06_c');
SELECT revision FROM dbmigrate.migrate_upgrade();
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pg_temp.state();
SELECT to_regclass('bc06_a') AS bc06_a;
SELECT revision FROM dbmigrate.migrate_upgrade('b');
SELECT * FROM pg_temp.state();
SELECT dbmigrate.migrate_register('m', ARRAY['b', 'c'], 'SELECT 1', 'SELECT 1');
SELECT revision FROM dbmigrate.migrate_upgrade();
SELECT * FROM pg_temp.state();
SELECT revision, down_revisions, is_applied, is_current, is_branch_point, is_merge_point
  FROM dbmigrate.migrate_history();
-- each revision was applied exactly once
SELECT revision, count(*) AS upgrades FROM dbmigrate.migrate_log()
 WHERE operation = 'upgrade' GROUP BY revision ORDER BY min(id);
-- a second up() does nothing
SELECT revision FROM dbmigrate.migrate_upgrade();

SELECT revision FROM dbmigrate.migrate_downgrade('base');
DROP EXTENSION dbmigrate;
CREATE EXTENSION dbmigrate CASCADE;
SELECT dbmigrate.migrate_unregister('001_initial_migration');

--
-- BC-08: two roots a1 and b1 and their merge m.  From {m}: down(1) leaves
-- {a1, b1} (m's downgrade ran once); downgrade('a1') then changes nothing
-- (a1 is current and b1 does not descend from it).  From {m} again,
-- downgrade('a1') undoes only m.  current never holds a revision with its
-- ancestor; the final up() ends at {m} with no error; the log records
-- every step in order.
--
SELECT dbmigrate.migrate_register('a1', NULL, 'CREATE TABLE bc08_a1()', 'DROP TABLE bc08_a1');
SELECT dbmigrate.migrate_register('b1', NULL, 'CREATE TABLE bc08_b1()', 'DROP TABLE bc08_b1');
SELECT dbmigrate.migrate_merge(ARRAY['a1', 'b1']) AS m \gset
SELECT revision FROM dbmigrate.migrate_upgrade();
SELECT current = :'m' AS at_m, with_ancestor FROM pg_temp.state();
SELECT revision = :'m' AS is_m FROM dbmigrate.migrate_downgrade(1);
SELECT * FROM pg_temp.state();
SELECT count(*) AS m_downgrades FROM dbmigrate.migrate_log()
 WHERE revision = :'m' AND operation = 'downgrade';
SELECT revision FROM dbmigrate.migrate_downgrade('a1');
SELECT * FROM pg_temp.state();
SELECT revision = :'m' AS is_m FROM dbmigrate.migrate_upgrade();
SELECT current = :'m' AS at_m, with_ancestor FROM pg_temp.state();
SELECT revision = :'m' AS is_m FROM dbmigrate.migrate_downgrade('a1');
SELECT * FROM pg_temp.state();
SELECT to_regclass('bc08_a1') AS bc08_a1, to_regclass('bc08_b1') AS bc08_b1;
SELECT revision = :'m' AS is_m FROM dbmigrate.migrate_upgrade();
SELECT current = :'m' AS at_m, with_ancestor FROM pg_temp.state();
SELECT CASE WHEN revision = :'m' THEN 'm' ELSE revision END AS revision, operation
  FROM dbmigrate.migrate_log() ORDER BY id;
SELECT CASE WHEN revision = :'m' THEN 'm' ELSE revision END AS revision,
       is_applied, is_current, is_merge_point
  FROM dbmigrate.migrate_history();

SELECT count(*) AS undone FROM dbmigrate.migrate_downgrade('base');
SELECT * FROM pg_temp.state();
DROP EXTENSION dbmigrate;

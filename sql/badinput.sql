--
-- badinput: every kind of bad argument to the registering and running
-- functions, each with its SQLSTATE, and proof that a refused call changed
-- nothing (current revision, registered revisions, log).
--
CREATE EXTENSION dbmigrate CASCADE;
SET client_min_messages = notice;
SELECT dbmigrate.migrate_unregister('001_initial_migration');

-- what must not change after a refused call: current revisions, how many
-- revisions are registered, how many log rows exist
CREATE VIEW bad_state AS
SELECT (SELECT coalesce(string_agg(c, ',' ORDER BY c), '<base>')
          FROM dbmigrate.migrate_current() c) AS current,
       (SELECT count(*) FROM dbmigrate.revision) AS registered,
       (SELECT count(*) FROM dbmigrate.log) AS log_rows;

-- a small chain with a shared prefix (for prefix targets); abcd1 applied
SELECT dbmigrate.migrate_register('abcd1', NULL, 'CREATE TABLE bad_t1()', 'DROP TABLE bad_t1');
SELECT dbmigrate.migrate_register('abcd2', 'abcd1', 'CREATE TABLE bad_t2()', 'DROP TABLE bad_t2');
SELECT dbmigrate.migrate_register('abcd3', 'abcd2', 'CREATE TABLE bad_t3()', 'DROP TABLE bad_t3');
SELECT revision, message FROM dbmigrate.migrate_upgrade('abcd1');
SELECT * FROM bad_state;

--
-- NULL arguments: 22004
--

-- NULL revision id (both overloads)
SELECT dbmigrate.migrate_register(NULL, NULL, 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_register(NULL, '{}'::text[], 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
-- NULL upgrade_sql (both overloads, and migrate_revision); '' would be a valid no-op
SELECT dbmigrate.migrate_register('x1', NULL, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_register('x1', '{}'::text[], NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_revision('msg', NULL);
\echo :LAST_ERROR_SQLSTATE
-- a NULL inside the parents array
SELECT dbmigrate.migrate_register('x1', ARRAY['abcd1', NULL], 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
-- NULL to migrate_merge and migrate_unregister
SELECT dbmigrate.migrate_merge(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_unregister(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM bad_state;

--
-- malformed revision ids (SPEC: 1-255 letters of any script, digits, _ . -;
-- not starting with '-'; not head/heads/base)
--

-- empty id: 42602
SELECT dbmigrate.migrate_register('', NULL, 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
-- reserved ids, in any case: 42939
SELECT dbmigrate.migrate_register('head', NULL, 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_register('heads', NULL, 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_register('base', NULL, 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_register('HEAD', NULL, 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_register('Base', '{}'::text[], 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
-- an id starting with '-' would read as a relative downgrade: 42602
SELECT dbmigrate.migrate_register('-1', NULL, 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_register('-rev', NULL, 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
-- space, comma, plus, quotes, slash: 42602, the message names the character
SELECT dbmigrate.migrate_register('a b', NULL, 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_register('a,b', NULL, 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_register('a+1', NULL, 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_register('it''s', NULL, 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_register('a"b', NULL, 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_register('a/b', NULL, 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_register(E'a\tb', NULL, 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
-- 256 characters: 42622 (also when they are 256 non-ASCII letters)
SELECT dbmigrate.migrate_register(repeat('a', 256), NULL, 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_register(repeat('ж', 256), NULL, 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
-- a character that is not a letter or digit of any script (an emoji): 42602
SELECT dbmigrate.migrate_register('rev😀', NULL, 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM bad_state;

-- the limits themselves are fine: 255 characters (ASCII, and non-ASCII letters, which
-- are longer than 255 bytes), letters of another script, '.', '_', '-' and digits
SELECT dbmigrate.migrate_register(repeat('a', 255), NULL, 'SELECT 1') = repeat('a', 255) AS ok_255;
SELECT dbmigrate.migrate_register(repeat('ж', 255), NULL, 'SELECT 1') = repeat('ж', 255) AS ok_255_cyrillic;
SELECT dbmigrate.migrate_register('ревизия_1', NULL, 'SELECT 1');
SELECT dbmigrate.migrate_register('修订_1', NULL, 'SELECT 1');
SELECT dbmigrate.migrate_register('v1.2-fix_3', NULL, 'SELECT 1');
-- ids are case-sensitive and stored as given: Zeta and zeta are two revisions
SELECT dbmigrate.migrate_register('Zeta', NULL, 'SELECT 1');
SELECT dbmigrate.migrate_register('zeta', NULL, 'SELECT 2');
SELECT revision FROM dbmigrate.revision
 WHERE revision IN ('ревизия_1', '修订_1', 'v1.2-fix_3', 'Zeta', 'zeta') ORDER BY revision COLLATE "C";
SELECT * FROM bad_state;
-- the 4-character minimum for prefixes counts characters, not bytes: 'реви' is a
-- unique prefix, 'рев' (3 characters, 6 bytes) is too short (42704)
SELECT revision FROM dbmigrate.migrate_show('реви');
SELECT revision FROM dbmigrate.migrate_show('рев');
\echo :LAST_ERROR_SQLSTATE
-- remove them again
SELECT dbmigrate.migrate_unregister(repeat('a', 255));
SELECT dbmigrate.migrate_unregister(repeat('ж', 255));
SELECT dbmigrate.migrate_unregister('ревизия_1');
SELECT dbmigrate.migrate_unregister('修订_1');
SELECT dbmigrate.migrate_unregister('v1.2-fix_3');
SELECT dbmigrate.migrate_unregister('Zeta');
SELECT dbmigrate.migrate_unregister('zeta');
SELECT * FROM bad_state;

--
-- bad parents
--

-- down_revision naming two revisions (comma or array syntax): 22023, hint at arrays/merge
SELECT dbmigrate.migrate_register('x1', 'abcd1,abcd2', 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_register('x1', '{abcd1,abcd2}', 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
-- empty down_revision: 42602 (NULL is the way to say "root")
SELECT dbmigrate.migrate_register('x1', '', 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
-- unknown parent: 23503 (text and text[])
SELECT dbmigrate.migrate_register('x1', 'no_such', 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_register('x1', ARRAY['abcd1', 'no_such'], 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
-- a revision as its own parent: 42P17 (text[] and text)
SELECT dbmigrate.migrate_register('x1', ARRAY['x1'], 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_register('x1', 'x1', 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
-- the same parent twice: 42P17
SELECT dbmigrate.migrate_register('x1', ARRAY['abcd1', 'abcd1'], 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
-- a redundant merge parent (abcd1 is an ancestor of abcd2): 42P17
SELECT dbmigrate.migrate_register('x1', ARRAY['abcd1', 'abcd2'], 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM bad_state;

--
-- bad merges
--

-- the same through migrate_merge: 42P17 (the generated id in the message is masked)
DO $$
BEGIN
    PERFORM dbmigrate.migrate_merge(ARRAY['abcd3', 'abcd1']);
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'SQLSTATE %: %', SQLSTATE,
        regexp_replace(SQLERRM, '"[0-9a-f]{12}"', '"<merge id>"');
END
$$;
-- fewer than two revisions: 22023 (one; one named twice; none)
SELECT dbmigrate.migrate_merge(ARRAY['abcd3']);
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_merge(ARRAY['abcd3', 'abcd3']);
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_merge('{}');
\echo :LAST_ERROR_SQLSTATE
-- 'heads' on a graph with a single head merges nothing: it returns that head with a
-- NOTICE (so a deploy script may call it every time) and registers nothing
SELECT count(*) AS registered_before FROM dbmigrate.revision;
SELECT dbmigrate.migrate_merge('{heads}');
SELECT count(*) AS registered_after FROM dbmigrate.revision;
-- 'heads' listed twice is still just the one head
SELECT dbmigrate.migrate_merge('{heads,heads}');
-- an unknown revision: 42704
SELECT dbmigrate.migrate_merge(ARRAY['abcd3', 'no_such']);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM bad_state;

--
-- bad targets
--

-- unknown revision: 42704 for upgrade, downgrade, show and stamp
SELECT revision, message FROM dbmigrate.migrate_upgrade('no_such');
\echo :LAST_ERROR_SQLSTATE
SELECT revision, message FROM dbmigrate.migrate_downgrade('no_such');
\echo :LAST_ERROR_SQLSTATE
SELECT revision FROM dbmigrate.migrate_show('no_such');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_stamp('no_such');
\echo :LAST_ERROR_SQLSTATE
-- an empty target is not a target: 22023 naming the forms the function takes
SELECT revision, message FROM dbmigrate.migrate_upgrade('');
\echo :LAST_ERROR_SQLSTATE
SELECT revision, message FROM dbmigrate.migrate_downgrade('');
\echo :LAST_ERROR_SQLSTATE
SELECT revision FROM dbmigrate.migrate_show('');
\echo :LAST_ERROR_SQLSTATE
-- the target keywords are lower case, and no revision id can be a keyword in
-- any case: 'HEAD' is refused with 22023 and a hint, not looked up
SELECT revision, message FROM dbmigrate.migrate_upgrade('HEAD');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_stamp('Base');
\echo :LAST_ERROR_SQLSTATE
-- migrate_show names one revision: 'heads', 'base' and relative moves are
-- refused with 22023 (they are not unknown revisions)
SELECT revision FROM dbmigrate.migrate_show('heads');
\echo :LAST_ERROR_SQLSTATE
SELECT revision FROM dbmigrate.migrate_show('base');
\echo :LAST_ERROR_SQLSTATE
SELECT revision FROM dbmigrate.migrate_show('-1');
\echo :LAST_ERROR_SQLSTATE
SELECT revision FROM dbmigrate.migrate_show('+1');
\echo :LAST_ERROR_SQLSTATE
-- a merge takes ids, prefixes and 'heads': 'head', 'base' and '<rev>+N' are 22023
SELECT dbmigrate.migrate_merge(ARRAY['head', 'abcd1']);
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_merge(ARRAY['base', 'abcd1']);
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_merge(ARRAY['abcd1+1', 'abcd3']);
\echo :LAST_ERROR_SQLSTATE
-- a number is read as a revision id; the hint writes the move for the
-- function it was given to, without leading zeros
SELECT revision, message FROM dbmigrate.migrate_upgrade('001');
\echo :LAST_ERROR_SQLSTATE
SELECT revision, message FROM dbmigrate.migrate_downgrade('001');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_stamp('001');
\echo :LAST_ERROR_SQLSTATE
-- 'head+N' walks from the single head: past it is 22023
SELECT revision FROM dbmigrate.migrate_show('head+1');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM bad_state;

-- a prefix shorter than 4 characters is not a target: 42704 with a detail saying so
SELECT revision, message FROM dbmigrate.migrate_upgrade('abc');
\echo :LAST_ERROR_SQLSTATE
SELECT revision FROM dbmigrate.migrate_show('abc');
\echo :LAST_ERROR_SQLSTATE
-- an ambiguous prefix: 21000, listing the candidates
SELECT revision, message FROM dbmigrate.migrate_upgrade('abcd');
\echo :LAST_ERROR_SQLSTATE
SELECT revision, message FROM dbmigrate.migrate_downgrade('abcd');
\echo :LAST_ERROR_SQLSTATE
SELECT revision FROM dbmigrate.migrate_show('abcd');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM bad_state;
-- (for contrast: a unique prefix of 4 or more characters works)
SELECT dbmigrate.migrate_register('prefixed_rev', 'abcd3', 'SELECT 1', 'SELECT 1');
SELECT revision FROM dbmigrate.migrate_show('pref');
SELECT revision FROM dbmigrate.migrate_show('pre');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_unregister('prefixed_rev');

-- downgrading more steps than are applied (one is): 22023, nothing runs
SELECT revision, message FROM dbmigrate.migrate_downgrade(2);
\echo :LAST_ERROR_SQLSTATE
SELECT revision, message FROM dbmigrate.migrate_downgrade('-2');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM bad_state;
SELECT to_regclass('bad_t1') AS bad_t1;
-- downgrade(0) and downgrade(-1): 22023
SELECT revision, message FROM dbmigrate.migrate_downgrade(0);
\echo :LAST_ERROR_SQLSTATE
SELECT revision, message FROM dbmigrate.migrate_downgrade(-1);
\echo :LAST_ERROR_SQLSTATE
-- the text forms '-0' and '-x': 22023
SELECT revision, message FROM dbmigrate.migrate_downgrade('-0');
\echo :LAST_ERROR_SQLSTATE
SELECT revision, message FROM dbmigrate.migrate_downgrade('-x');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM bad_state;

-- relative upgrade targets that are not "+N" with N >= 1: 22023
SELECT revision, message FROM dbmigrate.migrate_upgrade('+x');
\echo :LAST_ERROR_SQLSTATE
SELECT revision, message FROM dbmigrate.migrate_upgrade('+0');
\echo :LAST_ERROR_SQLSTATE
SELECT revision, message FROM dbmigrate.migrate_upgrade('+');
\echo :LAST_ERROR_SQLSTATE
SELECT revision, message FROM dbmigrate.migrate_upgrade('+1x');
\echo :LAST_ERROR_SQLSTATE
SELECT revision, message FROM dbmigrate.migrate_upgrade('abcd1+x');
\echo :LAST_ERROR_SQLSTATE
SELECT revision, message FROM dbmigrate.migrate_upgrade('abcd1+0');
\echo :LAST_ERROR_SQLSTATE
-- moving past the head: 22023
SELECT revision, message FROM dbmigrate.migrate_upgrade('+3');
\echo :LAST_ERROR_SQLSTATE
SELECT revision, message FROM dbmigrate.migrate_upgrade('abcd1+3');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM bad_state;

-- 'base' and '-N' are not upgrade targets: 22023 with a hint to migrate_downgrade
SELECT revision, message FROM dbmigrate.migrate_upgrade('base');
\echo :LAST_ERROR_SQLSTATE
SELECT revision, message FROM dbmigrate.migrate_upgrade('-1');
\echo :LAST_ERROR_SQLSTATE
-- '+1' and 'heads' are not downgrade targets: 22023
SELECT revision, message FROM dbmigrate.migrate_downgrade('+1');
\echo :LAST_ERROR_SQLSTATE
SELECT revision, message FROM dbmigrate.migrate_downgrade('heads');
\echo :LAST_ERROR_SQLSTATE
-- '+1' and '-1' are not stamp targets: 22023
SELECT dbmigrate.migrate_stamp('+1');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_stamp('-1');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM bad_state;

-- downgrading to a revision that is not applied: 55000, nothing runs
SELECT revision, message FROM dbmigrate.migrate_downgrade('abcd3');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM bad_state;

-- NULL targets: 22004 (migrate_downgrade(NULL) resolves to the text form)
SELECT revision, message FROM dbmigrate.migrate_upgrade(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT revision, message FROM dbmigrate.migrate_downgrade(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT revision, message FROM dbmigrate.migrate_downgrade(NULL::integer);
\echo :LAST_ERROR_SQLSTATE
SELECT revision FROM dbmigrate.migrate_show(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_stamp(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM bad_state;
SELECT to_regclass('bad_t1') AS bad_t1, to_regclass('bad_t2') AS bad_t2;

-- after all that, the graph still works normally
SELECT revision, message FROM dbmigrate.migrate_upgrade();
SELECT * FROM bad_state;

-- a migration that puts a rule on dbmigrate's own tables: the bookkeeping
-- write is refused with 55000 (not XX000), nothing is kept, and the session
-- works normally afterwards (the kept plan is prepared again)
SELECT dbmigrate.migrate_register('bad_rule', (SELECT h FROM dbmigrate.migrate_heads() h),
    'CREATE RULE bad_rule AS ON INSERT TO dbmigrate.log DO INSTEAD NOTHING', '');
SELECT revision FROM dbmigrate.migrate_upgrade('bad_rule');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS rules FROM pg_rules WHERE schemaname = 'dbmigrate';
SELECT dbmigrate.migrate_unregister('bad_rule');
SELECT dbmigrate.migrate_register('bad_after', (SELECT h FROM dbmigrate.migrate_heads() h), 'SELECT 1', '');
SELECT revision FROM dbmigrate.migrate_upgrade('bad_after');
SELECT revision, operation FROM dbmigrate.migrate_log() ORDER BY id DESC LIMIT 1;

-- clean up
SELECT revision FROM dbmigrate.migrate_downgrade('base');
DROP VIEW bad_state;
DROP EXTENSION dbmigrate;

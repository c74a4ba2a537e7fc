--
-- health: health() reads state that triggers keep on dbmigrate.revision
-- instead of re-hashing every applied revision's text and loading the graph
-- (issue 11, item 7).  It must answer what the full computation answers:
-- pending as migrate_history() counts it from the graph, problems as
-- migrate_validate() finds them by re-hashing.  Covered: branchy graphs,
-- hand edits of dbmigrate.version, tampered text, the trigger disabled by
-- the table owner (what health() cannot see, and the repair), the log
-- pruned, and a 1.0 database updated to 1.1.
--
CREATE EXTENSION dbmigrate CASCADE;
SET client_min_messages = warning;
SELECT dbmigrate.migrate_unregister('001_initial_migration');

-- health() against the full computation: status, pending, pending as the
-- graph says (migrate_history), the number of problems, and validate's
CREATE FUNCTION pg_temp.agree()
RETURNS TABLE(status text, pending int, graph_pending bigint, problems int, validate bigint)
LANGUAGE sql AS $$
    SELECT h->>'status', (h->>'pending')::int,
           (SELECT count(*) FROM dbmigrate.migrate_history() WHERE NOT is_applied),
           jsonb_array_length(h->'problems'),
           (SELECT count(*) FROM dbmigrate.migrate_validate())
      FROM dbmigrate.health() h
$$;
-- health()'s problems and migrate_validate()'s, sha256 values masked
CREATE FUNCTION pg_temp.problems() RETURNS SETOF text LANGUAGE sql AS $$
    SELECT regexp_replace(p, '[0-9a-f]{64}', '<sha256>', 'g')
      FROM jsonb_array_elements_text(dbmigrate.health()->'problems') p
$$;
CREATE FUNCTION pg_temp.validate() RETURNS TABLE(revision text, problem text) LANGUAGE sql AS $$
    SELECT revision, regexp_replace(problem, '[0-9a-f]{64}', '<sha256>', 'g')
      FROM dbmigrate.migrate_validate()
$$;
-- the kept columns, readable
CREATE FUNCTION pg_temp.kept()
RETURNS TABLE(revision text, text_matches boolean, is_applied boolean, run_differs boolean,
              parents_ok boolean)
LANGUAGE sql AS $$
    SELECT revision, text_checksum = checksum, is_applied, run_checksum IS NOT NULL, parents_ok
      FROM dbmigrate.revision ORDER BY seq
$$;

--
-- a registered revision: its text checksum is its checksum, not applied,
-- parents in order
--
SELECT dbmigrate.migrate_register('z', NULL, 'CREATE TABLE hk_z()', 'DROP TABLE hk_z');
SELECT * FROM pg_temp.kept();
SELECT text_checksum = checksum AS same, length(text_checksum) AS len FROM dbmigrate.revision;

--
-- pending on a branchy graph: a -> b1 -> b2 and a -> c1, merged by m, then d;
-- z is a second root
--
SELECT dbmigrate.migrate_register('a', NULL, 'CREATE TABLE hk_a()', 'DROP TABLE hk_a');
SELECT dbmigrate.migrate_register('b1', 'a', 'CREATE TABLE hk_b1(x int)', 'DROP TABLE hk_b1');
SELECT dbmigrate.migrate_register('b2', 'b1', 'CREATE TABLE hk_b2()', 'DROP TABLE hk_b2');
SELECT dbmigrate.migrate_register('c1', 'a', 'CREATE TABLE hk_c1()', 'DROP TABLE hk_c1');
SELECT dbmigrate.migrate_merge('{b2,c1}', 'join') AS m \gset
SELECT dbmigrate.migrate_register('d', :'m', 'CREATE TABLE hk_d()', 'DROP TABLE hk_d');
-- at base: all 7 pending
SELECT * FROM pg_temp.agree();
-- one branch: a, b1, b2 applied
SELECT count(*) FROM dbmigrate.migrate_upgrade('b2');
SELECT * FROM pg_temp.agree();
-- the other branch too: two current revisions
SELECT count(*) FROM dbmigrate.migrate_upgrade('c1');
SELECT * FROM pg_temp.agree();
-- through the merge: only z left
SELECT count(*) FROM dbmigrate.migrate_upgrade('d');
SELECT * FROM pg_temp.agree();
SELECT revision, is_applied FROM pg_temp.kept();
-- back below the merge, then one branch down to a
SELECT count(*) FROM dbmigrate.migrate_downgrade('c1');
SELECT * FROM pg_temp.agree();
SELECT count(*) FROM dbmigrate.migrate_downgrade('a');
SELECT * FROM pg_temp.agree();
-- stamps: every head, one revision inside a branch, base
SELECT dbmigrate.migrate_stamp('heads');
SELECT * FROM pg_temp.agree();
SELECT dbmigrate.migrate_stamp('b1');
SELECT * FROM pg_temp.agree();
SELECT dbmigrate.migrate_stamp('base');
SELECT * FROM pg_temp.agree();

--
-- dbmigrate.version edited by hand: the applied flags follow (or health()
-- sees that they cannot be trusted and reads the graph)
--
SELECT dbmigrate.migrate_stamp('b1');
INSERT INTO dbmigrate.version VALUES ('c1');
SELECT * FROM pg_temp.agree();
DELETE FROM dbmigrate.version WHERE revision = 'b1';
SELECT * FROM pg_temp.agree();
UPDATE dbmigrate.version SET revision = 'd';
SELECT * FROM pg_temp.agree();
TRUNCATE dbmigrate.version;
SELECT * FROM pg_temp.agree();
INSERT INTO dbmigrate.version VALUES ('ghost');
SELECT * FROM pg_temp.agree();
SELECT * FROM pg_temp.problems();
DELETE FROM dbmigrate.version;
SELECT revision, is_applied FROM pg_temp.kept() WHERE is_applied;

--
-- the owner changes the text of an applied revision: health() is unhealthy
-- and names it, like migrate_validate(); registering the text that ran
-- restores it
--
-- (a's table is there from the downgrade to a; the stamps ran no SQL)
SELECT dbmigrate.migrate_stamp('a');
SELECT count(*) FROM dbmigrate.migrate_upgrade('b2');
UPDATE dbmigrate.revision SET upgrade_sql = 'CREATE TABLE hk_b1(x bigint)' WHERE revision = 'b1';
SELECT * FROM pg_temp.agree();
SELECT * FROM pg_temp.problems();
SELECT * FROM pg_temp.validate();
SELECT dbmigrate.migrate_register('b1', 'a', 'CREATE TABLE hk_b1(x int)', 'DROP TABLE hk_b1');
SELECT * FROM pg_temp.agree();
-- the downgrade text and the transactional flag count as well
UPDATE dbmigrate.revision SET downgrade_sql = 'DROP TABLE hk_b2 CASCADE' WHERE revision = 'b2';
SELECT * FROM pg_temp.problems();
UPDATE dbmigrate.revision SET downgrade_sql = 'DROP TABLE hk_b2' WHERE revision = 'b2';
UPDATE dbmigrate.revision SET transactional = false WHERE revision = 'a';
SELECT * FROM pg_temp.problems();
UPDATE dbmigrate.revision SET transactional = true WHERE revision = 'a';
SELECT * FROM pg_temp.agree();
-- text_checksum cannot be set: the trigger computes it from the text again
UPDATE dbmigrate.revision SET upgrade_sql = 'CREATE TABLE hk_b1(x bigint)',
                              text_checksum = checksum WHERE revision = 'b1';
SELECT * FROM pg_temp.problems();
UPDATE dbmigrate.revision SET text_checksum = 'x' WHERE revision = 'b1';
SELECT text_checksum ~ '^[0-9a-f]{64}$' AS recomputed, text_matches
  FROM dbmigrate.revision JOIN pg_temp.kept() USING (revision) WHERE revision = 'b1';
UPDATE dbmigrate.revision SET upgrade_sql = 'CREATE TABLE hk_b1(x int)' WHERE revision = 'b1';
SELECT * FROM pg_temp.agree();

--
-- text and checksum both changed: the checksum of the run that applied it is
-- kept, so health() still sees that the text differs from what ran; once the
-- log no longer has that run (pruned, with log_append_only disabled as its
-- hint says), the registered checksum is what counts, as for validate
--
UPDATE dbmigrate.revision
   SET upgrade_sql = 'CREATE TABLE hk_a(); CREATE TABLE hk_extra()',
       checksum = encode(sha256(convert_to('CREATE TABLE hk_a(); CREATE TABLE hk_extra()', 'UTF8')
                                || '\x00'::bytea || convert_to('DROP TABLE hk_a', 'UTF8')), 'hex')
 WHERE revision = 'a';
SELECT revision, text_matches, run_differs FROM pg_temp.kept() WHERE revision = 'a';
SELECT * FROM pg_temp.agree();
SELECT * FROM pg_temp.problems();
BEGIN;
ALTER TABLE dbmigrate.log DISABLE TRIGGER log_append_only;
DELETE FROM dbmigrate.log WHERE revision = 'a';
ALTER TABLE dbmigrate.log ENABLE TRIGGER log_append_only;
SELECT revision, run_differs FROM pg_temp.kept() WHERE revision = 'a';
SELECT * FROM pg_temp.agree();
ROLLBACK;
UPDATE dbmigrate.revision
   SET upgrade_sql = 'CREATE TABLE hk_a()',
       checksum = (SELECT checksum FROM dbmigrate.migrate_log() WHERE revision = 'a' LIMIT 1)
 WHERE revision = 'a';
SELECT * FROM pg_temp.agree();

-- a lock_retry row (an attempt rolled back after lock_timeout and tried
-- again) is not a run: it leaves the last run as it was
INSERT INTO dbmigrate.log (revision, operation, started_at, duration, checksum)
VALUES ('b2', 'lock_retry', now(), '1 ms', repeat('0', 64));
SELECT revision, run_differs FROM pg_temp.kept() WHERE revision = 'b2';
SELECT * FROM pg_temp.agree();

--
-- what health() cannot see: the table owner disables the trigger and changes
-- the text.  migrate_validate() re-hashes and reports it;
-- rebuild_health_state() recomputes the kept state, and health() sees it too
--
ALTER TABLE dbmigrate.revision DISABLE TRIGGER revision_text_checksum;
UPDATE dbmigrate.revision SET upgrade_sql = 'DROP TABLE hk_precious' WHERE revision = 'b2';
ALTER TABLE dbmigrate.revision ENABLE TRIGGER revision_text_checksum;
SELECT * FROM pg_temp.agree();
SELECT * FROM pg_temp.validate();
SELECT dbmigrate.rebuild_health_state();
SELECT * FROM pg_temp.agree();
SELECT * FROM pg_temp.problems();
SELECT dbmigrate.migrate_register('b2', 'b1', 'CREATE TABLE hk_b2()', 'DROP TABLE hk_b2');
SELECT * FROM pg_temp.agree();
-- a kept flag set by hand: migrate_validate() reports the stale state
UPDATE dbmigrate.revision SET is_applied = true WHERE revision = 'z';
SELECT * FROM pg_temp.agree();
SELECT * FROM pg_temp.validate();
-- on a current revision, health() notices itself and reads the graph
UPDATE dbmigrate.revision SET is_applied = false WHERE revision IN ('z', 'b2');
SELECT * FROM pg_temp.agree();
SELECT dbmigrate.rebuild_health_state();
SELECT * FROM pg_temp.agree();
-- rebuilding while a trigger is disabled, or with session_replication_role =
-- replica, is refused (55000), naming what to enable; nothing changes
ALTER TABLE dbmigrate.revision DISABLE TRIGGER revision_text_checksum;
ALTER TABLE dbmigrate.log DISABLE TRIGGER log_insert_keep_run_checksum;
SELECT dbmigrate.rebuild_health_state();
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE dbmigrate.revision ENABLE TRIGGER revision_text_checksum;
ALTER TABLE dbmigrate.log ENABLE TRIGGER log_insert_keep_run_checksum;
SET session_replication_role = replica;
SELECT dbmigrate.rebuild_health_state();
\echo :LAST_ERROR_SQLSTATE
RESET session_replication_role;
-- with the trigger disabled, the checksum of the text cannot be left NULL
ALTER TABLE dbmigrate.revision DISABLE TRIGGER revision_text_checksum;
\set VERBOSITY terse
UPDATE dbmigrate.revision SET text_checksum = NULL WHERE revision = 'z';
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE dbmigrate.revision ENABLE TRIGGER revision_text_checksum;
-- the trigger function is not callable directly (39P01), nor by PUBLIC
SELECT dbmigrate.revision_text_checksum();
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
SELECT has_function_privilege('public', 'dbmigrate.rebuild_health_state()', 'EXECUTE') AS public_rebuild;

--
-- a parent removed behind dbmigrate's back: parents_ok of its child goes
-- false and health() reads the graph, which refuses (XX001) as before;
-- putting the row back makes it whole again
--
CREATE TEMP TABLE saved_c1 AS SELECT * FROM dbmigrate.revision WHERE revision = 'c1';
DELETE FROM dbmigrate.revision WHERE revision = 'c1';
SELECT revision, parents_ok FROM pg_temp.kept() WHERE NOT parents_ok;
SELECT dbmigrate.health()->>'status' AS status, dbmigrate.health()->'problems' AS problems;
INSERT INTO dbmigrate.revision SELECT * FROM saved_c1;
SELECT revision, parents_ok FROM pg_temp.kept() WHERE NOT parents_ok;
SELECT * FROM pg_temp.agree();

SELECT revision FROM dbmigrate.migrate_downgrade('base');
DROP EXTENSION dbmigrate;

--
-- the update path: a 1.0 database with applied revisions, one of them
-- tampered with, and one pending.  The 1.1 library answers health() the 1.0
-- way until ALTER EXTENSION dbmigrate UPDATE, which fills the kept state:
-- the same document afterwards, from the kept state
--
CREATE EXTENSION dbmigrate VERSION '1.0';
SELECT dbmigrate.migrate_unregister('001_initial_migration');
SELECT dbmigrate.migrate_register('u1', NULL, 'CREATE TABLE hk_u1()', 'DROP TABLE hk_u1');
SELECT dbmigrate.migrate_register('u2', 'u1', 'CREATE TABLE hk_u2()', 'DROP TABLE hk_u2');
SELECT dbmigrate.migrate_register('u3', 'u2', 'CREATE TABLE hk_u3()', 'DROP TABLE hk_u3');
SELECT count(*) FROM dbmigrate.migrate_upgrade('u2');
UPDATE dbmigrate.revision SET upgrade_sql = 'CREATE TABLE hk_u1(); SELECT 1' WHERE revision = 'u1';
CREATE TEMP TABLE health_1_0 AS SELECT dbmigrate.health() - 'timestamp' AS doc;
SELECT doc->>'status' AS status, doc->'pending' AS pending FROM health_1_0;
ALTER EXTENSION dbmigrate UPDATE;
SELECT * FROM pg_temp.kept();
SELECT (dbmigrate.health() - 'timestamp' - 'version') = (doc - 'version') AS same_document
  FROM health_1_0;
SELECT * FROM pg_temp.agree();
SELECT * FROM pg_temp.problems();
UPDATE dbmigrate.revision SET upgrade_sql = 'CREATE TABLE hk_u1()' WHERE revision = 'u1';
SELECT * FROM pg_temp.agree();
-- everything applied: healthy; the owner changes u3's text: unhealthy;
-- registering the text that ran: healthy again
SELECT count(*) FROM dbmigrate.migrate_upgrade();
SELECT * FROM pg_temp.agree();
UPDATE dbmigrate.revision SET upgrade_sql = 'CREATE TABLE hk_u3(); DROP TABLE hk_u1' WHERE revision = 'u3';
SELECT * FROM pg_temp.agree();
SELECT * FROM pg_temp.problems();
SELECT dbmigrate.migrate_register('u3', 'u2', 'CREATE TABLE hk_u3()', 'DROP TABLE hk_u3');
SELECT * FROM pg_temp.agree();
SELECT revision FROM dbmigrate.migrate_downgrade('base');
DROP EXTENSION dbmigrate;

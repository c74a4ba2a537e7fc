--
-- stamp: migrate_stamp() sets the version without running any SQL (Alembic
-- "stamp"), logs one 'stamp' row per revision whose applied state changes
-- (with its checksum when it becomes applied, NULL when it stops being
-- applied), and is how a database whose objects exist but whose dbmigrate
-- state is missing gets adopted (BC-18, partial dump).
--
CREATE EXTENSION dbmigrate CASCADE;
SET client_min_messages = notice;
SELECT dbmigrate.migrate_unregister('001_initial_migration');

-- st_002_broken's SQL would fail if it ever ran, which proves that stamp
-- runs none: neither its SQL nor its ancestors'
SELECT dbmigrate.migrate_register('st_001_t1', NULL, 'CREATE TABLE st_t1()', 'DROP TABLE st_t1', 't1');
SELECT dbmigrate.migrate_register('st_002_broken', 'st_001_t1',
    'ALTER TABLE no_such ADD x int', 'ALTER TABLE no_such DROP x', 'broken');
SELECT dbmigrate.migrate_register('st_003_t3', 'st_002_broken', 'CREATE TABLE st_t3()', 'DROP TABLE st_t3', 't3');

--
-- Invalid targets: nothing changes and nothing is logged.
--
-- NULL: 22004
SELECT dbmigrate.migrate_stamp(NULL);
\echo :LAST_ERROR_SQLSTATE
-- unknown revision, and a prefix shorter than 4 characters: 42704
SELECT dbmigrate.migrate_stamp('no_such_revision');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_stamp('st_');
\echo :LAST_ERROR_SQLSTATE
-- an ambiguous prefix: 21000
SELECT dbmigrate.migrate_stamp('st_00');
\echo :LAST_ERROR_SQLSTATE
-- relative moves are not stamp targets: 22023
SELECT dbmigrate.migrate_stamp('+1');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_stamp('-1');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM dbmigrate.migrate_current();
SELECT count(*) AS log_rows FROM dbmigrate.migrate_log();

--
-- Stamping an id runs no SQL: no NOTICE, st_t1 is not created by the
-- ancestor, st_002_broken's failing SQL never runs.  Exactly the target is
-- current; its ancestors count as applied.
--
SELECT dbmigrate.migrate_stamp('st_002_broken');
SELECT * FROM dbmigrate.migrate_current();
SELECT to_regclass('st_t1') AS st_t1;
SELECT revision, is_applied, is_current FROM dbmigrate.migrate_history();
-- logged as stamps of both revisions that became applied, parent first,
-- each with its own checksum
SELECT l.revision, l.operation, l.run_by = session_user AS by_me,
       l.checksum = (SELECT s.checksum FROM dbmigrate.migrate_show(l.revision) s) AS same_checksum
  FROM dbmigrate.migrate_log() l ORDER BY l.id;
-- an upgrade after the stamp applies only what follows it
SELECT revision, message FROM dbmigrate.migrate_upgrade();
SELECT * FROM dbmigrate.migrate_current();
SELECT to_regclass('st_t1') AS st_t1, to_regclass('st_t3') AS st_t3;

-- stamping backwards by a unique prefix runs no downgrade SQL either:
-- st_t3 stays
SELECT dbmigrate.migrate_stamp('st_001');
SELECT * FROM dbmigrate.migrate_current();
SELECT to_regclass('st_t3') AS st_t3;
-- 'head' with a single head
SELECT dbmigrate.migrate_stamp('head');
SELECT * FROM dbmigrate.migrate_current();
-- 'base' clears the version
SELECT dbmigrate.migrate_stamp('base');
SELECT * FROM dbmigrate.migrate_current();
-- the whole log: stamping back to st_001 un-applied st_003 and st_002
-- (newest first, NULL checksum), 'head' re-applied them (checksums), and
-- 'base' un-applied all three
SELECT revision, operation, checksum IS NULL AS no_checksum FROM dbmigrate.migrate_log() ORDER BY id;
-- stamping the revision that is already current changes nothing and logs
-- nothing
SELECT dbmigrate.migrate_stamp('st_003_t3');
SELECT count(*) AS log_rows_before FROM dbmigrate.migrate_log();
SELECT dbmigrate.migrate_stamp('st_003_t3');
SELECT count(*) AS log_rows_after FROM dbmigrate.migrate_log();
SELECT * FROM dbmigrate.migrate_current();
-- a stamp in a rolled-back transaction leaves the version and log as they were
BEGIN;
SELECT dbmigrate.migrate_stamp('base');
SELECT count(*) AS current_rows_inside FROM dbmigrate.migrate_current();
ROLLBACK;
SELECT * FROM dbmigrate.migrate_current();
SELECT count(*) AS log_rows FROM dbmigrate.migrate_log();

--
-- Several heads: a branch st_002b_branch off st_001_t1.
--
SELECT dbmigrate.migrate_register('st_002b_branch', 'st_001_t1', 'CREATE TABLE st_t2b()', 'DROP TABLE st_t2b', 'branch');
-- 'head' is ambiguous: 21000 listing both heads
SELECT dbmigrate.migrate_stamp('head');
\echo :LAST_ERROR_SQLSTATE
-- '<rev>+1' where the graph branches: 21000 naming both children
SELECT dbmigrate.migrate_stamp('st_001_t1+1');
\echo :LAST_ERROR_SQLSTATE
-- 'st_002' is now an ambiguous prefix: 21000
SELECT dbmigrate.migrate_stamp('st_002');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM dbmigrate.migrate_current();
-- 'heads' makes every head current: two current rows, no SQL run; only
-- st_002b_branch changed state, so it is the one new log row
SELECT count(*) AS log_rows_before FROM dbmigrate.migrate_log();
SELECT dbmigrate.migrate_stamp('heads');
SELECT * FROM dbmigrate.migrate_current() ORDER BY 1;
SELECT to_regclass('st_t2b') AS st_t2b;
SELECT count(*) AS log_rows_after FROM dbmigrate.migrate_log();
SELECT revision, operation, checksum IS NULL AS no_checksum
  FROM dbmigrate.migrate_log() ORDER BY id DESC LIMIT 1;
-- nothing is pending after stamping every head
SELECT revision FROM dbmigrate.migrate_upgrade('heads');
-- stamping one revision makes exactly it current; both heads and
-- st_002_broken are logged as un-applied, newest registration first
SELECT dbmigrate.migrate_stamp('st_001_t1');
SELECT * FROM dbmigrate.migrate_current();
SELECT revision, operation, no_checksum
  FROM (SELECT id, revision, operation, checksum IS NULL AS no_checksum
          FROM dbmigrate.migrate_log() ORDER BY id DESC LIMIT 3) l ORDER BY id;
-- and an upgrade of the branch then runs only the branch's revision
SELECT revision FROM dbmigrate.migrate_upgrade('st_002b_branch');
SELECT * FROM dbmigrate.migrate_current();
SELECT to_regclass('st_t2b') AS st_t2b;

-- a current revision missing from the graph (version edited by hand):
-- upgrade refuses to plan from it (55000); stamp replaces it and logs
-- nothing for the unknown id
INSERT INTO dbmigrate.version VALUES ('ghost');
SELECT * FROM dbmigrate.migrate_current();
SELECT revision FROM dbmigrate.migrate_upgrade('st_003_t3');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS log_rows_before FROM dbmigrate.migrate_log();
SELECT dbmigrate.migrate_stamp('st_002b_branch');
SELECT * FROM dbmigrate.migrate_current();
SELECT count(*) AS log_rows_after FROM dbmigrate.migrate_log();

-- clean up this section
SELECT dbmigrate.migrate_stamp('base');
DROP TABLE st_t3, st_t2b;
DROP EXTENSION dbmigrate;

--
-- BC-18, partial dump: the schema holds the objects (here table users,
-- created by the built-in 001_initial_migration) but dbmigrate's state is
-- gone, as after restoring a dump taken with -n public.  An upgrade must
-- not treat that as base: it fails with 42P07 and a HINT naming
-- migrate_stamp; migrate_stamp('001_initial_migration') adopts the
-- database, after which nothing is pending.
--
CREATE EXTENSION dbmigrate CASCADE;
SELECT revision FROM dbmigrate.migrate_upgrade();
SELECT to_regclass('users') AS users;
-- lose dbmigrate's state but keep the table
DROP EXTENSION dbmigrate;
CREATE EXTENSION dbmigrate CASCADE;
SELECT to_regclass('users') AS users;
SELECT * FROM dbmigrate.migrate_current();
SELECT revision FROM dbmigrate.migrate_upgrade();
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM dbmigrate.migrate_current();
SELECT count(*) AS log_rows FROM dbmigrate.migrate_log();
-- adopt it
SELECT dbmigrate.migrate_stamp('001_initial_migration');
SELECT * FROM dbmigrate.migrate_current();
SELECT revision, operation FROM dbmigrate.migrate_log() ORDER BY id;
SELECT revision FROM dbmigrate.migrate_upgrade();
SELECT revision, is_applied, is_current FROM dbmigrate.migrate_history();

-- clean up: the downgrade drops users
SELECT revision FROM dbmigrate.migrate_downgrade('base');
SELECT to_regclass('users') AS users;
DROP EXTENSION dbmigrate;

--
-- downgrade: migrate_downgrade(steps) and migrate_downgrade(target) on a
-- linear graph; BC-09 failing downgrade; BC-10 irreversible revisions and
-- the explicit no-op downgrade ''.
--
CREATE EXTENSION dbmigrate CASCADE;
SET client_min_messages = notice;
SELECT dbmigrate.migrate_unregister('001_initial_migration');

SELECT dbmigrate.migrate_register('dn_001_t1', NULL, 'CREATE TABLE t1()', 'DROP TABLE t1', 't1');
SELECT dbmigrate.migrate_register('dn_002_t2', 'dn_001_t1', 'CREATE TABLE t2()', 'DROP TABLE t2', 't2');
SELECT dbmigrate.migrate_register('dn_003_t3', 'dn_002_t2', 'CREATE TABLE t3()', 'DROP TABLE t3', 't3');
SELECT dbmigrate.migrate_register('dn_004_t4', 'dn_003_t3', 'CREATE TABLE t4()', 'DROP TABLE t4', 't4');
SELECT dbmigrate.migrate_register('dn_005_t5', 'dn_004_t4', 'CREATE TABLE t5()', 'DROP TABLE t5', 't5');

--
-- Invalid input at base; each is refused and nothing is logged.
--
-- NULL steps / NULL target: 22004
SELECT revision FROM dbmigrate.migrate_downgrade(NULL::integer);
\echo :LAST_ERROR_SQLSTATE
SELECT revision FROM dbmigrate.migrate_downgrade(NULL::text);
\echo :LAST_ERROR_SQLSTATE
-- steps < 1: 22023
SELECT revision FROM dbmigrate.migrate_downgrade(0);
\echo :LAST_ERROR_SQLSTATE
SELECT revision FROM dbmigrate.migrate_downgrade(-1);
\echo :LAST_ERROR_SQLSTATE
-- more steps than applied revisions (none at base): 22023
SELECT revision FROM dbmigrate.migrate_downgrade(1);
\echo :LAST_ERROR_SQLSTATE
SELECT revision FROM dbmigrate.migrate_downgrade('-1');
\echo :LAST_ERROR_SQLSTATE
-- malformed relative targets: 22023
SELECT revision FROM dbmigrate.migrate_downgrade('-0');
\echo :LAST_ERROR_SQLSTATE
SELECT revision FROM dbmigrate.migrate_downgrade('-x');
\echo :LAST_ERROR_SQLSTATE
-- forward moves and 'heads' are not downgrade targets: 22023
SELECT revision FROM dbmigrate.migrate_downgrade('+1');
\echo :LAST_ERROR_SQLSTATE
SELECT revision FROM dbmigrate.migrate_downgrade('heads');
\echo :LAST_ERROR_SQLSTATE
-- unknown revision: 42704
SELECT revision FROM dbmigrate.migrate_downgrade('no_such_revision');
\echo :LAST_ERROR_SQLSTATE
-- a quoted number is a revision id (as in Alembic), not a step count: 42704
SELECT revision FROM dbmigrate.migrate_downgrade('2');
\echo :LAST_ERROR_SQLSTATE
-- a registered revision that is not applied: 55000
SELECT revision FROM dbmigrate.migrate_downgrade('dn_003_t3');
\echo :LAST_ERROR_SQLSTATE
-- base at base: nothing to do, no rows
SELECT revision FROM dbmigrate.migrate_downgrade('base');
SELECT count(*) AS log_rows FROM dbmigrate.migrate_log();

SELECT revision FROM dbmigrate.migrate_upgrade();
SELECT * FROM dbmigrate.migrate_current();

--
-- Relative downgrades.
--
-- the default is one step: undoes dn_005 only
SELECT revision, message FROM dbmigrate.migrate_downgrade();
SELECT * FROM dbmigrate.migrate_current();
SELECT to_regclass('t5') AS t5, to_regclass('t4') AS t4;
-- downgrade(2): dn_004 then dn_003, newest first
SELECT revision, message FROM dbmigrate.migrate_downgrade(2);
SELECT * FROM dbmigrate.migrate_current();
-- a target that is registered but no longer applied: 55000, nothing run
SELECT revision FROM dbmigrate.migrate_downgrade('dn_004_t4');
\echo :LAST_ERROR_SQLSTATE
-- more steps than the two applied revisions: 22023, nothing run
SELECT revision FROM dbmigrate.migrate_downgrade(3);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM dbmigrate.migrate_current();
-- '-N' is the same as downgrade(N)
SELECT revision FROM dbmigrate.migrate_upgrade();
SELECT revision, message FROM dbmigrate.migrate_downgrade('-2');
SELECT * FROM dbmigrate.migrate_current();

--
-- Downgrades to a target: undo exactly the applied revisions after it.
--
-- to an id: dn_003 and dn_002 are undone, dn_001 stays
SELECT revision, message FROM dbmigrate.migrate_downgrade('dn_001_t1');
SELECT * FROM dbmigrate.migrate_current();
SELECT to_regclass('t1') AS t1, to_regclass('t2') AS t2;
-- to the revision that is already current: nothing runs, no rows, no log row
SELECT count(*) AS log_rows_before FROM dbmigrate.migrate_log();
SELECT revision FROM dbmigrate.migrate_downgrade('dn_001_t1');
SELECT count(*) AS log_rows_after FROM dbmigrate.migrate_log();
SELECT * FROM dbmigrate.migrate_current();
-- to a unique prefix: dn_005, dn_004, dn_003 are undone
SELECT revision FROM dbmigrate.migrate_upgrade();
SELECT revision, message FROM dbmigrate.migrate_downgrade('dn_002');
SELECT * FROM dbmigrate.migrate_current();
-- an ambiguous prefix: 21000 listing the candidates
SELECT revision FROM dbmigrate.migrate_downgrade('dn_0');
\echo :LAST_ERROR_SQLSTATE
-- a short prefix is not a prefix: 42704
SELECT revision FROM dbmigrate.migrate_downgrade('dn_');
\echo :LAST_ERROR_SQLSTATE
-- '<rev>+N' names dn_002_t2, which is current: nothing to do
SELECT revision FROM dbmigrate.migrate_downgrade('dn_001_t1+1');
SELECT * FROM dbmigrate.migrate_current();
-- head at head: nothing to do
SELECT revision FROM dbmigrate.migrate_upgrade();
SELECT revision FROM dbmigrate.migrate_downgrade('head');
SELECT * FROM dbmigrate.migrate_current();
-- a downgrade inside a transaction that is rolled back leaves nothing
BEGIN;
SELECT revision FROM dbmigrate.migrate_downgrade(1);
SELECT to_regclass('t5') AS t5_inside;
ROLLBACK;
SELECT to_regclass('t5') AS t5;
SELECT * FROM dbmigrate.migrate_current();
-- to base: everything, newest first
SELECT revision, message FROM dbmigrate.migrate_downgrade('base');
SELECT * FROM dbmigrate.migrate_current();
SELECT to_regclass('t1') AS t1, to_regclass('t2') AS t2, to_regclass('t3') AS t3,
       to_regclass('t4') AS t4, to_regclass('t5') AS t5;

-- every executed step is in the log, in execution order
SELECT revision, operation FROM dbmigrate.migrate_log() ORDER BY id;

DROP EXTENSION dbmigrate;
CREATE EXTENSION dbmigrate CASCADE;
SELECT dbmigrate.migrate_unregister('001_initial_migration');

--
-- BC-09: a failing downgrade changes nothing.  down(1) fails with 42P01
-- naming r2's downgrade; t2 still exists, current is still r2, the log is
-- unchanged.  down(2) fails on r2 first and never runs r1's downgrade.
--
SELECT dbmigrate.migrate_register('r1', NULL, 'CREATE TABLE t1()', 'DROP TABLE t1', 't1');
SELECT dbmigrate.migrate_register('r2', 'r1', 'CREATE TABLE t2()', 'DROP TABLE t2; DROP TABLE no_such;', 't2');
SELECT revision FROM dbmigrate.migrate_upgrade();
SELECT revision, operation FROM dbmigrate.migrate_log() ORDER BY id;
SELECT revision FROM dbmigrate.migrate_downgrade(1);
\echo :LAST_ERROR_SQLSTATE
SELECT to_regclass('t2') AS t2;
SELECT * FROM dbmigrate.migrate_current();
SELECT revision, operation FROM dbmigrate.migrate_log() ORDER BY id;
SELECT revision, is_applied, is_current FROM dbmigrate.migrate_history();
-- down(2): the only NOTICE is r2's downgrade; r1's never starts
SELECT revision FROM dbmigrate.migrate_downgrade(2);
\echo :LAST_ERROR_SQLSTATE
SELECT to_regclass('t1') AS t1, to_regclass('t2') AS t2;
SELECT * FROM dbmigrate.migrate_current();
SELECT revision, operation FROM dbmigrate.migrate_log() ORDER BY id;
-- the same through a target
SELECT revision FROM dbmigrate.migrate_downgrade('base');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM dbmigrate.migrate_current();

-- clean up: stamp base, drop the tables by hand
SELECT dbmigrate.migrate_stamp('base');
DROP TABLE t1, t2;
DROP EXTENSION dbmigrate;
CREATE EXTENSION dbmigrate CASCADE;
SELECT dbmigrate.migrate_unregister('001_initial_migration');

--
-- BC-10: r2 is irreversible (downgrade_sql NULL).  Any downgrade through it
-- is refused with 55000 before any SQL runs: r3's downgrade is not
-- executed, z still exists, current stays r3.
--
SELECT dbmigrate.migrate_register('r1', NULL,
    $$CREATE TABLE u(id int, nick text); INSERT INTO u VALUES (1, 'x')$$, 'DROP TABLE u', 'u');
SELECT dbmigrate.migrate_register('r2', 'r1', 'ALTER TABLE u DROP COLUMN nick', NULL, 'drop nick');
SELECT dbmigrate.migrate_register('r3', 'r2', 'CREATE TABLE z()', 'DROP TABLE z', 'z');
SELECT revision, downgrade_sql IS NULL AS irreversible FROM dbmigrate.migrate_show('r2');
SELECT checksum AS r2_null_checksum FROM dbmigrate.migrate_show('r2') \gset
SELECT revision FROM dbmigrate.migrate_upgrade();
-- no NOTICE: nothing ran
SELECT revision FROM dbmigrate.migrate_downgrade(2);
\echo :LAST_ERROR_SQLSTATE
SELECT to_regclass('z') AS z;
SELECT * FROM dbmigrate.migrate_current();
-- by target and to base: refused the same way
SELECT revision FROM dbmigrate.migrate_downgrade('r1');
\echo :LAST_ERROR_SQLSTATE
SELECT revision FROM dbmigrate.migrate_downgrade('base');
\echo :LAST_ERROR_SQLSTATE
SELECT to_regclass('z') AS z;
SELECT * FROM dbmigrate.migrate_current();
SELECT count(*) AS downgrade_log_rows FROM dbmigrate.migrate_log() WHERE operation = 'downgrade';
-- undoing only r3 does not touch r2, so it is allowed
SELECT revision FROM dbmigrate.migrate_downgrade(1);
SELECT * FROM dbmigrate.migrate_current();
-- and then r2 itself is refused
SELECT revision FROM dbmigrate.migrate_downgrade(1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM dbmigrate.migrate_current();

-- clean up
SELECT dbmigrate.migrate_stamp('base');
DROP TABLE u;
DROP EXTENSION dbmigrate;
CREATE EXTENSION dbmigrate CASCADE;
SELECT dbmigrate.migrate_unregister('001_initial_migration');

--
-- BC-10 variant: r2's downgrade is '' (an explicit no-op), which is a
-- different definition from NULL (different checksum).  down(2) is then
-- allowed: r3's and r2's downgrades run (r2's does nothing, so u keeps
-- its shape without nick), current becomes r1.
--
SELECT dbmigrate.migrate_register('r1', NULL,
    $$CREATE TABLE u(id int, nick text); INSERT INTO u VALUES (1, 'x')$$, 'DROP TABLE u', 'u');
SELECT dbmigrate.migrate_register('r2', 'r1', 'ALTER TABLE u DROP COLUMN nick', '', 'drop nick');
SELECT dbmigrate.migrate_register('r3', 'r2', 'CREATE TABLE z()', 'DROP TABLE z', 'z');
SELECT revision, downgrade_sql = '' AS explicit_noop,
       checksum <> :'r2_null_checksum' AS checksum_differs_from_null
  FROM dbmigrate.migrate_show('r2');
SELECT revision FROM dbmigrate.migrate_upgrade();
SELECT revision, message FROM dbmigrate.migrate_downgrade(2);
SELECT * FROM dbmigrate.migrate_current();
SELECT to_regclass('z') AS z;
SELECT * FROM u;
SELECT revision, operation FROM dbmigrate.migrate_log() ORDER BY id;

-- clean up
SELECT revision FROM dbmigrate.migrate_downgrade('base');
SELECT to_regclass('u') AS u;
DROP EXTENSION dbmigrate;

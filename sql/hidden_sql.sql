--
-- Migration text is shown only to roles that may read it (the right to call
-- migrate_show).  A runner with EXECUTE on migrate_upgrade alone sees, for a
-- failing step, the error, the revision and the statement number, but not
-- the statement: registered SQL may hold secrets such as a password.  The
-- same holds for notices and warnings a step raises.  A role that may call
-- migrate_show sees everything.
--
SET client_min_messages = notice;
\set SHOW_CONTEXT always
CREATE EXTENSION dbmigrate CASCADE;
SELECT dbmigrate.migrate_unregister('001_initial_migration');
CREATE ROLE regress_dbm_runner NOLOGIN;
GRANT USAGE ON SCHEMA dbmigrate TO regress_dbm_runner;
GRANT EXECUTE ON FUNCTION dbmigrate.migrate_upgrade(text), dbmigrate.migrate_downgrade(text)
    TO regress_dbm_runner;
GRANT CREATE ON SCHEMA public TO regress_dbm_runner;

SELECT dbmigrate.migrate_register('s1', NULL,
    $$DO $do$ BEGIN RAISE NOTICE 'step one says hello'; END $do$ /* password 'n0tice-s3cret' */$$,
    $$SELECT 1 /* down 'd0wn-s3cret' */; SELECT 1/0 AS "d0wn-s3cret"$$, 'one');
SELECT dbmigrate.migrate_register('s2', 's1',
    $$CREATE TABLE hs_t (a int); SELECT 1/0 AS "ALTER ROLE app PASSWORD 's3cret'"$$, NULL, 'two');
SELECT dbmigrate.migrate_register('s3', 's1',
    $$SELECT no_such_column, 'qu3ry-s3cret' FROM pg_class$$, NULL, 'three');
SELECT dbmigrate.migrate_register('s4', 's1',
    $$DO $do$ BEGIN RAISE INFO 'step four informs'; END $do$ /* inf0-s3cret */; SELECT 'pars3-s3cret'$$,
    '', 'four');
-- a statement_timeout of the step's own, and a deferred check at its end
-- (the linter's findings on them are lint.sql's business)
SET dbmigrate.lint = off;
SELECT dbmigrate.migrate_register('s5', 's1',
    $$SET statement_timeout = '50ms'; SELECT pg_sleep(1) AS "t1me-s3cret"$$, NULL, 'five');
SELECT dbmigrate.migrate_register('s6', 's1',
    $$CREATE TABLE hs_p(id int PRIMARY KEY);
      CREATE TABLE hs_c(p int REFERENCES hs_p DEFERRABLE INITIALLY DEFERRED);
      INSERT INTO hs_c SELECT 1 AS "d3ferred-s3cret"$$, NULL, 'six');
RESET dbmigrate.lint;

SET ROLE regress_dbm_runner;
-- the notice of s1 keeps its message, loses the DO text
SELECT revision FROM dbmigrate.migrate_upgrade('s1');
-- the error of s2 names revision and statement, not the text
SELECT revision FROM dbmigrate.migrate_upgrade('s2');
\echo :LAST_ERROR_SQLSTATE
-- an error with a position: no internal query either
SELECT revision FROM dbmigrate.migrate_upgrade('s3');
\echo :LAST_ERROR_SQLSTATE
-- INFO reaches the client whatever client_min_messages says: also cut
SET client_min_messages = warning;
SELECT revision FROM dbmigrate.migrate_upgrade('s4');
SET client_min_messages = notice;
-- a timeout and a deferred violation: the same, revision and statement only
SELECT revision FROM dbmigrate.migrate_upgrade('s5');
\echo :LAST_ERROR_SQLSTATE
SELECT revision FROM dbmigrate.migrate_upgrade('s6');
\echo :LAST_ERROR_SQLSTATE
SELECT revision FROM dbmigrate.migrate_downgrade('s1');
-- a failing downgrade
SELECT revision FROM dbmigrate.migrate_downgrade('base');
RESET ROLE;

-- a role that may read the SQL sees all of it
GRANT EXECUTE ON FUNCTION dbmigrate.migrate_show(text) TO regress_dbm_runner;
SET ROLE regress_dbm_runner;
SELECT revision FROM dbmigrate.migrate_upgrade('s2');
SELECT revision FROM dbmigrate.migrate_downgrade('base');
RESET ROLE;
SELECT dbmigrate.migrate_stamp('base');
SET ROLE regress_dbm_runner;
SELECT revision FROM dbmigrate.migrate_upgrade('s1');
RESET ROLE;

-- nothing of the failed calls was kept
SELECT * FROM dbmigrate.migrate_current();
SELECT to_regclass('hs_t') AS hs_t;

SELECT dbmigrate.migrate_stamp('base');
REVOKE CREATE ON SCHEMA public FROM regress_dbm_runner;
DROP EXTENSION dbmigrate;
DROP OWNED BY regress_dbm_runner;
DROP ROLE regress_dbm_runner;

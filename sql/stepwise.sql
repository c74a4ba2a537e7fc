--
-- stepwise: non-transactional revisions (transactional => false) and the
-- procedures that run them, committing after each revision:
-- migrate_upgrade_stepwise / migrate_downgrade_stepwise.
--
CREATE EXTENSION dbmigrate CASCADE;
SET client_min_messages = notice;
SELECT dbmigrate.migrate_unregister('001_initial_migration');

CREATE VIEW sw_state AS
SELECT (SELECT coalesce(string_agg(c, ',' ORDER BY c), '<base>')
          FROM dbmigrate.migrate_current() c) AS current,
       (SELECT string_agg(revision || ':' || operation, ' ' ORDER BY id)
          FROM dbmigrate.log) AS log;

-- indexes on sw_t and whether they are valid
CREATE VIEW sw_indexes AS
SELECT i.indexrelid::regclass::text AS index, i.indisvalid AS valid
  FROM pg_index i
 WHERE i.indrelid = to_regclass('sw_t')
 ORDER BY 1;

SELECT dbmigrate.migrate_register('sw1', NULL,
    'CREATE TABLE sw_t(id int, code int); INSERT INTO sw_t SELECT g, g FROM generate_series(1, 1000) g',
    'DROP TABLE sw_t', 'table');

-- CREATE INDEX CONCURRENTLY stays refused without the flag (25001), and the
-- hint names the flag and the procedure
SELECT dbmigrate.migrate_register('sw2', 'sw1', 'CREATE INDEX CONCURRENTLY sw_t_code ON sw_t (code)',
    'DROP INDEX CONCURRENTLY sw_t_code', 'index');
\echo :LAST_ERROR_SQLSTATE

-- with transactional => false it registers: several statements, VACUUM
-- (of the whole database too: it must not wait for the run lock the
-- procedure holds), and an explicit block are fine there
SELECT dbmigrate.migrate_register('sw2', 'sw1',
    'CREATE INDEX CONCURRENTLY sw_t_code ON sw_t (code); VACUUM (ANALYZE) sw_t; VACUUM; BEGIN; UPDATE sw_t SET code = code; COMMIT',
    'DROP INDEX CONCURRENTLY sw_t_code', 'index', transactional => false);
SELECT revision, transactional FROM dbmigrate.revision ORDER BY seq;
-- two-phase commit stays refused
SELECT dbmigrate.migrate_register('sw_2pc', 'sw1', 'BEGIN; PREPARE TRANSACTION ''x''',
    NULL, NULL, transactional => false);
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_register('sw_null', 'sw1', 'SELECT 1', NULL, NULL, transactional => NULL);
\echo :LAST_ERROR_SQLSTATE

-- the flag is part of the definition: the same text registered again as
-- transactional is a redefinition (not applied yet, so allowed); back again
SELECT dbmigrate.migrate_register('sw3', 'sw2', 'SELECT 1', 'SELECT 1', 'plain');
SELECT checksum AS sw3_tx FROM dbmigrate.revision WHERE revision = 'sw3' \gset
SELECT dbmigrate.migrate_register('sw3', 'sw2', 'SELECT 1', 'SELECT 1', 'plain', transactional => false);
SELECT checksum <> :'sw3_tx' AS checksum_changed, transactional FROM dbmigrate.revision WHERE revision = 'sw3';
SELECT dbmigrate.migrate_register('sw3', 'sw2', 'SELECT 1', 'SELECT 1', 'plain');
SELECT checksum = :'sw3_tx' AS checksum_back, transactional FROM dbmigrate.revision WHERE revision = 'sw3';
SELECT count(*) AS clean FROM dbmigrate.migrate_validate();

-- migrate_upgrade keeps its one-transaction contract: it refuses before
-- running anything (25001), naming the revision and the procedure
SELECT revision FROM dbmigrate.migrate_upgrade();
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sw_state;
SELECT to_regclass('sw_t') AS sw_t;

-- the procedure cannot run inside a transaction block (25001)
BEGIN;
CALL dbmigrate.migrate_upgrade_stepwise();
ROLLBACK;
BEGIN;
DO $$ BEGIN CALL dbmigrate.migrate_upgrade_stepwise(); END $$;
ROLLBACK;
-- nor be called with a bad target (22023 as migrate_upgrade)
CALL dbmigrate.migrate_upgrade_stepwise('-1');
\echo :LAST_ERROR_SQLSTATE

-- the stepwise upgrade: sw1 in a transaction, sw2's statements at top level
-- in a background worker, sw3; each revision committed and logged
CALL dbmigrate.migrate_upgrade_stepwise();
SELECT * FROM sw_state;
SELECT * FROM sw_indexes;
SELECT count(*) AS clean FROM dbmigrate.migrate_validate();
-- nothing left to do
CALL dbmigrate.migrate_upgrade_stepwise();
SELECT * FROM sw_state;

-- an applied revision cannot change its flag (42710): it is part of the
-- definition (and, for sw2, its SQL would not even register as transactional)
SELECT dbmigrate.migrate_register('sw3', 'sw2', 'SELECT 1', 'SELECT 1', 'plain', transactional => false);
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_register('sw2', 'sw1',
    'CREATE INDEX CONCURRENTLY sw_t_code ON sw_t (code); VACUUM (ANALYZE) sw_t; VACUUM; BEGIN; UPDATE sw_t SET code = code; COMMIT',
    'DROP INDEX CONCURRENTLY sw_t_code', 'index');
\echo :LAST_ERROR_SQLSTATE

-- migrate_downgrade refuses to undo it in one transaction (25001) ...
SELECT revision FROM dbmigrate.migrate_downgrade('sw1');
\echo :LAST_ERROR_SQLSTATE
-- ... the stepwise downgrade does it: sw3, then sw2's DROP INDEX CONCURRENTLY
CALL dbmigrate.migrate_downgrade_stepwise('sw1');
SELECT * FROM sw_state;
SELECT * FROM sw_indexes;

-- a failing CREATE UNIQUE INDEX CONCURRENTLY (duplicates): the error names
-- the revision, no INVALID index is left behind, nothing is recorded as
-- applied; once the data is fixed the next call succeeds
INSERT INTO sw_t VALUES (1, 1);
SELECT dbmigrate.migrate_register('sw_u', 'sw3', 'CREATE UNIQUE INDEX CONCURRENTLY sw_t_id ON sw_t (id)',
    'DROP INDEX CONCURRENTLY sw_t_id', 'unique', transactional => false);
\set VERBOSITY default
CALL dbmigrate.migrate_upgrade_stepwise('sw_u');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sw_state;
SELECT * FROM sw_indexes;
DELETE FROM sw_t WHERE ctid = (SELECT max(ctid) FROM sw_t WHERE id = 1);
CALL dbmigrate.migrate_upgrade_stepwise('sw_u');
SELECT * FROM sw_state;
SELECT * FROM sw_indexes;

-- an enum value added by one revision is used by the next, in one call:
-- each revision commits (migrate_upgrade cannot do this: 55P04)
SELECT dbmigrate.migrate_register('sw_e1', 'sw_u', 'CREATE TYPE sw_mood AS ENUM (''ok'')', 'DROP TYPE sw_mood', 'enum');
SELECT dbmigrate.migrate_register('sw_e2', 'sw_e1', 'ALTER TYPE sw_mood ADD VALUE ''great''', NULL, 'add value');
SELECT dbmigrate.migrate_register('sw_e3', 'sw_e2', 'CREATE TABLE sw_m(m sw_mood DEFAULT ''great''); INSERT INTO sw_m DEFAULT VALUES',
    'DROP TABLE sw_m', 'use value');
SELECT revision FROM dbmigrate.migrate_upgrade();
\echo :LAST_ERROR_SQLSTATE
CALL dbmigrate.migrate_upgrade_stepwise();
SELECT * FROM sw_m;
SELECT * FROM sw_state;

-- a failing transactional step: the revisions before it stay applied, it
-- does not, and its error names it
SELECT dbmigrate.migrate_register('sw_f1', 'sw_e3', 'CREATE TABLE sw_f1()', 'DROP TABLE sw_f1', 'fine');
SELECT dbmigrate.migrate_register('sw_f2', 'sw_f1', 'CREATE TABLE sw_f2(); SELECT 1/0', 'DROP TABLE sw_f2', 'fails');
CALL dbmigrate.migrate_upgrade_stepwise();
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sw_state;
SELECT to_regclass('sw_f1') AS f1, to_regclass('sw_f2') AS f2;

-- who may run it: EXECUTE on the procedure, revoked from PUBLIC (42501)
CREATE ROLE regress_dbm_sw_runner NOLOGIN;
GRANT USAGE ON SCHEMA dbmigrate TO regress_dbm_sw_runner;
SELECT dbmigrate.migrate_register('sw_h', 'sw_f1',
    $$DO $do$ BEGIN RAISE NOTICE 'the worker says hello'; END $do$ /* n0tice-s3cret */;
      DO $do$ BEGIN PERFORM 1/0; END $do$ /* err0r-s3cret */$$,
    NULL, 'hidden', transactional => false);
SET ROLE regress_dbm_sw_runner;
CALL dbmigrate.migrate_upgrade_stepwise('sw_h');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- a runner without the right to read migration SQL (migrate_show): the
-- worker's notices and errors keep their message, lose the SQL text
GRANT EXECUTE ON PROCEDURE dbmigrate.migrate_upgrade_stepwise(text) TO regress_dbm_sw_runner;
\set SHOW_CONTEXT always
SET ROLE regress_dbm_sw_runner;
CALL dbmigrate.migrate_upgrade_stepwise('sw_h');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- a role that may read it sees the statement's context too
CALL dbmigrate.migrate_upgrade_stepwise('sw_h');
\set SHOW_CONTEXT errors
SELECT * FROM sw_state;
REVOKE ALL ON PROCEDURE dbmigrate.migrate_upgrade_stepwise(text) FROM regress_dbm_sw_runner;
REVOKE USAGE ON SCHEMA dbmigrate FROM regress_dbm_sw_runner;
DROP ROLE regress_dbm_sw_runner;

DROP VIEW sw_state, sw_indexes;
DROP EXTENSION dbmigrate;
DROP TABLE sw_t, sw_m, sw_f1;
DROP TYPE sw_mood;

--
-- privileges: migration SQL runs with the caller's privileges (BC-17);
-- only granted roles may register or run; the tables are reachable only
-- through the functions; read-only functions are public; state changes
-- are refused at REPEATABLE READ / SERIALIZABLE; the log is append-only.
--
CREATE EXTENSION dbmigrate CASCADE;
SET client_min_messages = notice;
SELECT dbmigrate.migrate_unregister('001_initial_migration');

--
-- BC-17: regress_dbm_app is not a superuser, owns schema regress_dbm_app_s,
-- and is granted USAGE on schema dbmigrate plus EXECUTE on
-- migrate_register and migrate_upgrade; nothing else.
--
CREATE ROLE regress_dbm_app NOLOGIN NOSUPERUSER;
CREATE SCHEMA regress_dbm_app_s AUTHORIZATION regress_dbm_app;
GRANT USAGE ON SCHEMA dbmigrate TO regress_dbm_app;
GRANT EXECUTE ON FUNCTION dbmigrate.migrate_register(text, text, text, text, text, boolean),
    dbmigrate.migrate_upgrade(text) TO regress_dbm_app;

SET ROLE regress_dbm_app;
-- an untrusted extension: CREATE EXTENSION fails with 42501 because the
-- SQL runs as regress_dbm_app (no SECURITY DEFINER escalation to the
-- extension owner); nothing is recorded
SELECT dbmigrate.migrate_register('r1', NULL, 'CREATE EXTENSION IF NOT EXISTS file_fdw', 'DROP EXTENSION file_fdw', 'file_fdw');
SELECT revision FROM dbmigrate.migrate_upgrade();
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM dbmigrate.migrate_current();
RESET ROLE;
SELECT count(*) AS file_fdw_installed FROM pg_extension WHERE extname = 'file_fdw';
SELECT count(*) AS log_rows FROM dbmigrate.migrate_log();

SET ROLE regress_dbm_app;
-- r1 was never applied, so regress_dbm_app may redefine it: a table in its
-- own schema (terse: the redefinition NOTICE's detail shows checksums); r2
-- tries to make regress_dbm_app a superuser
\set VERBOSITY terse
SELECT dbmigrate.migrate_register('r1', NULL, 'CREATE TABLE regress_dbm_app_s.app_t(id int)',
    'DROP TABLE regress_dbm_app_s.app_t', 'app table');
\set VERBOSITY default
SELECT dbmigrate.migrate_register('r2', 'r1', 'ALTER ROLE regress_dbm_app SUPERUSER', NULL, 'escalate');
-- r2 fails with 42501 and takes r1 down with it (one call, one transaction)
SELECT revision FROM dbmigrate.migrate_upgrade();
\echo :LAST_ERROR_SQLSTATE
SELECT to_regclass('regress_dbm_app_s.app_t') AS app_t;
SELECT * FROM dbmigrate.migrate_current();
-- r1 alone succeeds; the table is owned by regress_dbm_app
SELECT revision FROM dbmigrate.migrate_upgrade('r1');
SELECT * FROM dbmigrate.migrate_current();
RESET ROLE;
SELECT pg_get_userbyid(relowner) AS app_t_owner FROM pg_class WHERE oid = 'regress_dbm_app_s.app_t'::regclass;
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_dbm_app';
SELECT revision, operation FROM dbmigrate.migrate_log() ORDER BY id;
-- regress_dbm_app was granted nothing else: downgrade, stamp, log are refused
SET ROLE regress_dbm_app;
SELECT revision FROM dbmigrate.migrate_downgrade(1);
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_stamp('base');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM dbmigrate.migrate_log();
\echo :LAST_ERROR_SQLSTATE
-- and it cannot reach the tables directly
SELECT count(*) FROM dbmigrate.revision;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT dbmigrate.migrate_unregister('r2');

--
-- regress_dbm_intern has no grants at all: without USAGE on the schema,
-- every function and table is out of reach (42501).
--
CREATE ROLE regress_dbm_intern NOLOGIN;
SET ROLE regress_dbm_intern;
SELECT dbmigrate.migrate_register('evil', 'r1', 'DROP TABLE regress_dbm_app_s.app_t');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM dbmigrate.migrate_current();
\echo :LAST_ERROR_SQLSTATE
INSERT INTO dbmigrate.revision (revision, down_revisions, upgrade_sql, checksum)
    VALUES ('evil', '{r1}', 'DROP TABLE regress_dbm_app_s.app_t', repeat('0', 64));
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- with USAGE on the schema only, the public read-only functions work ...
GRANT USAGE ON SCHEMA dbmigrate TO regress_dbm_intern;
SET ROLE regress_dbm_intern;
SELECT * FROM dbmigrate.migrate_current();
SELECT * FROM dbmigrate.migrate_heads();
SELECT revision, is_applied, is_current FROM dbmigrate.migrate_history();
SELECT dbmigrate.health()->>'status' AS status, dbmigrate.health()->'current' AS current;
-- ... but registering is refused (42501), through either overload or
-- through migrate_revision / migrate_merge / migrate_unregister
SELECT dbmigrate.migrate_register('evil', 'r1', 'DROP TABLE regress_dbm_app_s.app_t');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_register('evil', ARRAY['r1'], 'DROP TABLE regress_dbm_app_s.app_t');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_revision('evil', 'DROP TABLE regress_dbm_app_s.app_t');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_merge(ARRAY['r1', 'r1']);
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_unregister('r1');
\echo :LAST_ERROR_SQLSTATE
-- running, stamping, seeding are refused (42501)
SELECT revision FROM dbmigrate.migrate_upgrade();
\echo :LAST_ERROR_SQLSTATE
SELECT revision FROM dbmigrate.migrate_downgrade('base');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_stamp('base');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.seed_users();
\echo :LAST_ERROR_SQLSTATE
-- the non-public read functions are refused too (42501)
SELECT count(*) FROM dbmigrate.migrate_log();
\echo :LAST_ERROR_SQLSTATE
SELECT revision FROM dbmigrate.migrate_show('r1');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM dbmigrate.migrate_validate();
\echo :LAST_ERROR_SQLSTATE
-- the tables: no INSERT, UPDATE, DELETE, TRUNCATE or SELECT (42501)
INSERT INTO dbmigrate.revision (revision, down_revisions, upgrade_sql, checksum)
    VALUES ('evil', '{r1}', 'DROP TABLE regress_dbm_app_s.app_t', repeat('0', 64));
\echo :LAST_ERROR_SQLSTATE
UPDATE dbmigrate.revision SET upgrade_sql = 'DROP TABLE regress_dbm_app_s.app_t';
\echo :LAST_ERROR_SQLSTATE
DELETE FROM dbmigrate.revision;
\echo :LAST_ERROR_SQLSTATE
TRUNCATE dbmigrate.revision;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM dbmigrate.revision;
\echo :LAST_ERROR_SQLSTATE
INSERT INTO dbmigrate.version VALUES ('r1');
\echo :LAST_ERROR_SQLSTATE
UPDATE dbmigrate.version SET revision = 'r2';
\echo :LAST_ERROR_SQLSTATE
DELETE FROM dbmigrate.version;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM dbmigrate.version;
\echo :LAST_ERROR_SQLSTATE
INSERT INTO dbmigrate.log (revision, operation, started_at, duration)
    VALUES ('r2', 'upgrade', now(), '0');
\echo :LAST_ERROR_SQLSTATE
UPDATE dbmigrate.log SET revision = 'r2';
\echo :LAST_ERROR_SQLSTATE
DELETE FROM dbmigrate.log;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM dbmigrate.log;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- nothing the intern tried changed anything
SELECT revision, down_revisions, upgrade_sql FROM dbmigrate.migrate_history(true);
SELECT * FROM dbmigrate.migrate_current();
SELECT revision, operation FROM dbmigrate.migrate_log() ORDER BY id;

--
-- State-changing calls refuse REPEATABLE READ and SERIALIZABLE (25000):
-- their plan must come from a snapshot taken after the run lock.  The
-- read-only calls work at any isolation level.
--
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT revision FROM dbmigrate.migrate_upgrade();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT revision FROM dbmigrate.migrate_downgrade(1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT revision FROM dbmigrate.migrate_downgrade('base');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT dbmigrate.migrate_register('rr', 'r1', 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT dbmigrate.migrate_stamp('base');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT dbmigrate.seed_users();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT revision FROM dbmigrate.migrate_upgrade();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT revision FROM dbmigrate.migrate_downgrade(1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT revision FROM dbmigrate.migrate_downgrade('base');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT dbmigrate.migrate_register('rr', 'r1', 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT dbmigrate.migrate_stamp('base');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT dbmigrate.seed_users();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
-- read-only calls inside REPEATABLE READ and SERIALIZABLE transactions
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT * FROM dbmigrate.migrate_current();
SELECT * FROM dbmigrate.migrate_heads();
SELECT revision, is_applied FROM dbmigrate.migrate_history();
SELECT revision, operation FROM dbmigrate.migrate_log() ORDER BY id;
SELECT revision, is_current FROM dbmigrate.migrate_show('r1');
SELECT count(*) AS problems FROM dbmigrate.migrate_validate();
SELECT dbmigrate.health()->>'status' AS status;
COMMIT;
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT * FROM dbmigrate.migrate_current();
SELECT * FROM dbmigrate.migrate_heads();
SELECT revision, is_applied FROM dbmigrate.migrate_history();
SELECT revision, operation FROM dbmigrate.migrate_log() ORDER BY id;
SELECT revision, is_current FROM dbmigrate.migrate_show('r1');
SELECT count(*) AS problems FROM dbmigrate.migrate_validate();
SELECT dbmigrate.health()->>'status' AS status;
COMMIT;
-- nothing was changed by the refused calls
SELECT * FROM dbmigrate.migrate_heads();
SELECT * FROM dbmigrate.migrate_current();

--
-- dbmigrate.log is append-only, even for a superuser: UPDATE, DELETE and
-- TRUNCATE are refused with 55000 and the rows stay.
--
SELECT count(*) AS log_rows FROM dbmigrate.log;
UPDATE dbmigrate.log SET revision = 'rewritten';
\echo :LAST_ERROR_SQLSTATE
DELETE FROM dbmigrate.log;
\echo :LAST_ERROR_SQLSTATE
TRUNCATE dbmigrate.log;
\echo :LAST_ERROR_SQLSTATE
SELECT revision, operation FROM dbmigrate.log ORDER BY id;

-- clean up
SELECT revision FROM dbmigrate.migrate_downgrade('base');
DROP SCHEMA regress_dbm_app_s;
REVOKE USAGE ON SCHEMA dbmigrate FROM regress_dbm_app, regress_dbm_intern;
REVOKE EXECUTE ON FUNCTION dbmigrate.migrate_register(text, text, text, text, text, boolean),
    dbmigrate.migrate_upgrade(text) FROM regress_dbm_app;
DROP ROLE regress_dbm_app;
DROP ROLE regress_dbm_intern;
DROP EXTENSION dbmigrate;

--
-- step_diagnostics: errors of steps that name the revision and say what to
-- do (NB-07, NB-08).
-- (a) A revision that drops what dbmigrate depends on: refused at
--     registration when its text shows it (DROP or RENAME of schema
--     dbmigrate / dbmigrate_private; DROP EXTENSION pgcrypto registers, as
--     real histories drop it in downgrades, and fails when it runs), and at run time, as
--     the drop happens, when only the run shows it (DROP SCHEMA ... CASCADE
--     of the schema pgcrypto lives in, DROP OWNED, dynamic SQL): 55006 naming the
--     revision, with a hint; nothing changed, dbmigrate still works.
-- (b) The hint "adopt it with migrate_stamp" only on an error (not on the
--     NOTICE of an IF NOT EXISTS) about an object that existed before the
--     call (not one an earlier step of the same call created).
--
CREATE EXTENSION dbmigrate CASCADE;
SET client_min_messages = notice;
SELECT dbmigrate.migrate_unregister('001_initial_migration');

-- what pgcrypto's schema is here (the drops below must leave it alone)
SELECT n.nspname AS pgcrypto_schema FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE e.extname = 'pgcrypto';

--
-- DROP EXTENSION pgcrypto registers (in either direction) and fails when it
-- runs, naming the revision; nothing changes
--
SELECT dbmigrate.migrate_register('dg1', NULL, 'DROP EXTENSION pgcrypto', '');
SELECT revision FROM dbmigrate.migrate_upgrade('dg1');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_unregister('dg1');
SELECT dbmigrate.migrate_register('dg1', NULL, 'SELECT 1', 'DROP EXTENSION IF EXISTS hstore, pgcrypto CASCADE');
SELECT dbmigrate.migrate_unregister('dg1');

--
-- (a) at registration: 55006, in either direction; nothing registered
--
SELECT dbmigrate.migrate_register('dg1', NULL, 'DROP SCHEMA dbmigrate CASCADE', '');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_register('dg1', NULL, 'DROP SCHEMA IF EXISTS dbmigrate_private', '');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_register('dg1', NULL, 'ALTER SCHEMA dbmigrate RENAME TO dbm_old', '');
\echo :LAST_ERROR_SQLSTATE
-- a DO block is not read, and other schemas, extensions and renames are fine
SELECT dbmigrate.migrate_register('dg1', NULL, 'ALTER SCHEMA dg_a RENAME TO dg_b; DROP SCHEMA dg_b',
                                  'DROP EXTENSION IF EXISTS hstore');
SELECT dbmigrate.migrate_unregister('dg1');
SELECT count(*) AS registered FROM dbmigrate.migrate_history();

--
-- (a) at run time.  A root that creates a table, then a revision that
-- empties schema public with CASCADE, which holds pgcrypto: the drop would
-- take pgcrypto and with it dbmigrate (1.0: the step "succeeded" and the
-- call failed later with 'extension "dbmigrate" does not exist', naming no
-- revision).  The NOTICE listing what the drop cascades to is silenced:
-- it lists whatever else lives in public.
--
SET client_min_messages = warning;
SELECT dbmigrate.migrate_register('dg_root', NULL, 'CREATE TABLE dg_root_t()', 'DROP TABLE dg_root_t');
SELECT dbmigrate.migrate_register('dg_reset', 'dg_root',
    'CREATE TABLE dg_reset_t(); DROP SCHEMA public CASCADE; CREATE SCHEMA public', '');
SELECT revision FROM dbmigrate.migrate_upgrade('dg_reset');
\echo :LAST_ERROR_SQLSTATE
-- nothing changed, and dbmigrate still works
SELECT count(*) AS current FROM dbmigrate.migrate_current();
SELECT count(*) AS log_rows FROM dbmigrate.migrate_log();
SELECT to_regclass('public.dg_root_t') AS dg_root_t,
       (SELECT count(*) FROM pg_extension WHERE extname IN ('dbmigrate', 'pgcrypto')) AS extensions;
-- as the hint says: with pgcrypto moved out of public first, the same
-- revision runs (in a transaction rolled back here: other tests use public)
BEGIN;
CREATE SCHEMA dg_crypto;
ALTER EXTENSION pgcrypto SET SCHEMA dg_crypto;
SELECT revision FROM dbmigrate.migrate_upgrade('dg_reset');
SELECT * FROM dbmigrate.migrate_current();
ROLLBACK;
SELECT dbmigrate.migrate_unregister('dg_reset');

-- through dynamic SQL, which registration cannot read: DROP EXTENSION
-- pgcrypto CASCADE, DROP SCHEMA dbmigrate CASCADE, and in a downgrade
SELECT dbmigrate.migrate_register('dg_dyn1', 'dg_root',
    $q$DO $do$ BEGIN EXECUTE 'DROP EXTENSION pgcrypto CASCADE'; END $do$$q$, '');
SELECT revision FROM dbmigrate.migrate_upgrade('dg_dyn1');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_unregister('dg_dyn1');
SELECT dbmigrate.migrate_register('dg_dyn2', 'dg_root',
    $q$DO $do$ BEGIN EXECUTE 'DROP SCHEMA ' || 'dbmigrate CASCADE'; END $do$$q$, '');
SELECT revision FROM dbmigrate.migrate_upgrade('dg_dyn2');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_unregister('dg_dyn2');
SELECT dbmigrate.migrate_register('dg_dyn3', 'dg_root', 'CREATE TABLE dg_dyn3_t()',
    $q$DROP TABLE dg_dyn3_t; DO $do$ BEGIN EXECUTE 'DROP SCHEMA public CASCADE'; END $do$$q$);
SELECT revision FROM dbmigrate.migrate_upgrade('dg_dyn3');
SELECT revision FROM dbmigrate.migrate_downgrade('dg_root');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM dbmigrate.migrate_current();
SELECT to_regclass('public.dg_dyn3_t') AS dg_dyn3_t;
SELECT revision FROM dbmigrate.migrate_downgrade('base');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_stamp('base');
SELECT dbmigrate.migrate_unregister('dg_dyn3');
DROP TABLE dg_dyn3_t, dg_root_t;
SET client_min_messages = notice;
-- outside a migration, dropping dbmigrate stays the user's call (below, at
-- the end of this file)

--
-- (b) The adopt hint.  The NOTICEs of IF NOT EXISTS on objects that exist
-- (pgcrypto, a table made by hand) carry no hint, and the run succeeds
-- (1.0 attached "adopt it with migrate_stamp" to both NOTICEs).
--
CREATE TABLE dg_pre();
SELECT dbmigrate.migrate_register('dh_ine', NULL,
    'CREATE EXTENSION IF NOT EXISTS pgcrypto; CREATE TABLE IF NOT EXISTS dg_pre(); CREATE TABLE dh_ine_t()',
    'DROP TABLE dh_ine_t');
SELECT revision FROM dbmigrate.migrate_upgrade('dh_ine');
SELECT * FROM dbmigrate.migrate_current();
SELECT revision FROM dbmigrate.migrate_downgrade('base');

-- an object that existed before the call: 42P07 with the hint (from base)
SELECT dbmigrate.migrate_register('dh_pre', 'dh_ine', 'CREATE TABLE dg_pre()', 'DROP TABLE dg_pre');
SELECT revision FROM dbmigrate.migrate_upgrade('dh_pre');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_unregister('dh_pre');
-- also a type (42710), a schema (42P06), a view or an index on a table made
-- before the call, and a table the caller made earlier in its transaction
CREATE TYPE dg_pre_type AS (a int);
CREATE SCHEMA dg_pre_schema;
CREATE INDEX dg_pre_idx ON dg_pre ((1));
SELECT dbmigrate.migrate_register('dh_type', 'dh_ine', 'CREATE TYPE dg_pre_type AS ENUM (''a'')', '');
SELECT revision FROM dbmigrate.migrate_upgrade('dh_type');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_unregister('dh_type');
SELECT dbmigrate.migrate_register('dh_schema', 'dh_ine', 'CREATE SCHEMA dg_pre_schema', '');
SELECT revision FROM dbmigrate.migrate_upgrade('dh_schema');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_unregister('dh_schema');
SELECT dbmigrate.migrate_register('dh_view', 'dh_ine', 'CREATE VIEW dg_pre AS SELECT 1', '');
SELECT revision FROM dbmigrate.migrate_upgrade('dh_view');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_unregister('dh_view');
SELECT dbmigrate.migrate_register('dh_index', 'dh_ine', 'CREATE INDEX dg_pre_idx ON dg_pre ((2))', '');
SELECT revision FROM dbmigrate.migrate_upgrade('dh_index');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_unregister('dh_index');
SELECT dbmigrate.migrate_register('dh_tx', 'dh_ine', 'CREATE TABLE dg_tx()', 'DROP TABLE dg_tx');
BEGIN;
CREATE TABLE dg_tx();
SELECT revision FROM dbmigrate.migrate_upgrade('dh_tx');
ROLLBACK;
SELECT dbmigrate.migrate_unregister('dh_tx');

-- an object an earlier step of the same call created, created again: the
-- same 42P07, with no adopt hint (1.0 gave it, and stamping would have
-- skipped both revisions); likewise within one revision, for a type whose
-- name a table of an earlier step took, and for an index
SELECT dbmigrate.migrate_register('dh_again1', 'dh_ine', 'CREATE TABLE dg_again()', 'DROP TABLE dg_again');
SELECT dbmigrate.migrate_register('dh_again2', 'dh_again1', 'CREATE TABLE dg_again()', 'DROP TABLE dg_again');
SELECT revision FROM dbmigrate.migrate_upgrade('dh_again2');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_unregister('dh_again2');
SELECT dbmigrate.migrate_register('dh_again3', 'dh_again1',
    'CREATE TABLE dg_again3(); CREATE TABLE dg_again3()', '');
SELECT revision FROM dbmigrate.migrate_upgrade('dh_again3');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_unregister('dh_again3');
SELECT dbmigrate.migrate_register('dh_again4', 'dh_again1', 'CREATE TYPE dg_again AS (a int)', '');
SELECT revision FROM dbmigrate.migrate_upgrade('dh_again4');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_unregister('dh_again4');
SELECT dbmigrate.migrate_register('dh_again5', 'dh_again1',
    'CREATE INDEX dg_again_idx ON dg_again ((1)); CREATE INDEX dg_again_idx ON dg_again ((2))', '');
SELECT revision FROM dbmigrate.migrate_upgrade('dh_again5');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_unregister('dh_again5');
SELECT count(*) AS current FROM dbmigrate.migrate_current();

-- not from base: no adopt hint (some revision is applied, so the schema is
-- dbmigrate's), as in 1.0
SELECT revision FROM dbmigrate.migrate_upgrade('dh_ine');
SELECT dbmigrate.migrate_register('dh_late', 'dh_again1', 'CREATE TABLE dg_pre()', '');
SELECT revision FROM dbmigrate.migrate_upgrade('dh_late');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_unregister('dh_late');
SELECT revision FROM dbmigrate.migrate_downgrade('base');

-- the other hints are for errors only too: a NOTICE or WARNING raised
-- with such a code (here by a DO block) gets none
SELECT dbmigrate.migrate_register('dh_notice', NULL,
    $q$DO $do$ BEGIN
        RAISE NOTICE 'a notice' USING ERRCODE = 'duplicate_table';
        RAISE WARNING 'a warning' USING ERRCODE = 'lock_not_available';
        RAISE NOTICE 'another' USING ERRCODE = 'unsafe_new_enum_value_usage';
      END $do$$q$, '');
SELECT revision FROM dbmigrate.migrate_upgrade('dh_notice');
SELECT revision FROM dbmigrate.migrate_downgrade('base');

DROP TABLE dg_pre;
DROP TYPE dg_pre_type;
DROP SCHEMA dg_pre_schema;
DROP EXTENSION dbmigrate;

--
-- (a) DROP OWNED BY the role that owns dbmigrate: refused as it happens
-- (1.0: 'extension "dbmigrate" does not exist', naming no revision)
--
CREATE ROLE dg_owner SUPERUSER;
SET SESSION AUTHORIZATION dg_owner;
CREATE EXTENSION dbmigrate;
SET client_min_messages = warning;
SELECT dbmigrate.migrate_unregister('001_initial_migration');
SELECT dbmigrate.migrate_register('dg_owned', NULL, 'CREATE TABLE dg_owned_t(); DROP OWNED BY dg_owner', '');
SELECT revision FROM dbmigrate.migrate_upgrade();
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS current FROM dbmigrate.migrate_current();
SELECT to_regclass('dg_owned_t') AS dg_owned_t;
DROP EXTENSION dbmigrate;
RESET SESSION AUTHORIZATION;
DROP ROLE dg_owner;

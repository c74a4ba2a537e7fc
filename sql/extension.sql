--
-- The extension as packaged: version, update paths, objects, privileges,
-- comments and what pg_dump keeps (STYLE.md rules 4, 7, 9, 10, 21).
--
CREATE EXTENSION dbmigrate CASCADE;

-- the installed version is the control file's default (1.1: the 1.0 install
-- script followed by the 1.0--1.1 update script)
SELECT extversion, extrelocatable, extnamespace::regnamespace AS schema
  FROM pg_extension WHERE extname = 'dbmigrate';
SELECT name, default_version, installed_version
  FROM pg_available_extensions WHERE name = 'dbmigrate';
-- needs a superuser to create, not trusted, not relocatable, fixed schema, requires pgcrypto
SELECT version, superuser, trusted, relocatable, schema, requires
  FROM pg_available_extension_versions WHERE name = 'dbmigrate';
-- 1.0 databases update to 1.1; there is no way back
SELECT source, target, path FROM pg_extension_update_paths('dbmigrate') ORDER BY 1, 2;

-- every function dbmigrate ships, whether PUBLIC may call it, and that it has a comment
SELECT p.oid::regprocedure AS function,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public_execute,
       p.prosecdef AS security_definer,
       p.provolatile AS volatility,
       obj_description(p.oid, 'pg_proc') IS NOT NULL AS commented
  FROM pg_proc p
 WHERE p.pronamespace = 'dbmigrate'::regnamespace
 ORDER BY p.oid::regprocedure::text COLLATE "C";

-- the tables grant nothing to PUBLIC
SELECT c.relname, c.relkind,
       has_table_privilege('public', c.oid, 'SELECT') AS public_select,
       has_table_privilege('public', c.oid, 'INSERT') AS public_insert
  FROM pg_class c
 WHERE c.relnamespace = 'dbmigrate'::regnamespace AND c.relkind IN ('r', 'S')
 ORDER BY c.relname COLLATE "C";

-- what pg_dump keeps: every table and sequence, with the install script's own
-- revision filtered out of dbmigrate.revision
SELECT c.relname, cond
  FROM pg_extension e,
       unnest(e.extconfig, e.extcondition) AS u(cfg, cond)
       JOIN pg_class c ON c.oid = u.cfg
 WHERE e.extname = 'dbmigrate'
 ORDER BY c.relname COLLATE "C";

-- every constraint has an explicit name
SELECT conrelid::regclass AS table, conname, contype
  FROM pg_constraint
 WHERE connamespace = 'dbmigrate'::regnamespace
 ORDER BY conrelid::regclass::text COLLATE "C", conname COLLATE "C";

-- the GUCs and their defaults
SELECT dbmigrate.migrate_current();   -- loads the library
SELECT name, setting, unit, context FROM pg_settings WHERE name LIKE 'dbmigrate.%' ORDER BY name;

-- the install script registered the reference application's first revision
SELECT revision, down_revisions, message, builtin, is_head FROM dbmigrate.revision;

-- the run lock is a table in a schema no role but the owner may use
SELECT has_schema_privilege('public', 'dbmigrate_private', 'USAGE, CREATE') AS public_schema_privilege,
       has_table_privilege('public', 'dbmigrate_private.run_lock', 'SELECT, UPDATE, DELETE, TRUNCATE, INSERT')
       AS public_any_privilege,
       (SELECT count(*) FROM pg_attribute WHERE attrelid = 'dbmigrate_private.run_lock'::regclass AND attnum > 0)
       AS columns;

DROP EXTENSION dbmigrate;

-- a 1.0 database with state updates to 1.1 with its state intact, and its
-- next state change takes the 1.1 run lock
CREATE EXTENSION dbmigrate VERSION '1.0';
SELECT dbmigrate.migrate_unregister('001_initial_migration');
SELECT dbmigrate.migrate_register('e1', NULL, 'CREATE TABLE ext_t1 (a int)', 'DROP TABLE ext_t1', 'one');
SELECT dbmigrate.migrate_register('e2', 'e1', 'CREATE TABLE ext_t2 (a int)', 'DROP TABLE ext_t2', 'two');
-- until the update, the library serializes a 1.0 database on 1.0's advisory lock
BEGIN;
SELECT revision FROM dbmigrate.migrate_upgrade('e1');
SELECT to_regclass('dbmigrate_private.run_lock') AS run_lock_before_update,
       (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 1684172137
           AND objid = 1735549300 AND pid = pg_backend_pid()) AS advisory_locks;
COMMIT;
ALTER EXTENSION dbmigrate UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'dbmigrate';
SELECT * FROM dbmigrate.migrate_current();
SELECT revision, operation FROM dbmigrate.migrate_log();
BEGIN;
SELECT revision FROM dbmigrate.migrate_upgrade();
SELECT l.mode, l.granted FROM pg_locks l
 WHERE l.relation = 'dbmigrate_private.run_lock'::regclass AND l.pid = pg_backend_pid();
SELECT count(*) AS advisory_locks FROM pg_locks
 WHERE locktype = 'advisory' AND pid = pg_backend_pid();
COMMIT;
SELECT * FROM dbmigrate.migrate_current();
SELECT revision FROM dbmigrate.migrate_downgrade('base');
SELECT to_regclass('ext_t1') AS t1, to_regclass('ext_t2') AS t2;
DROP EXTENSION dbmigrate;

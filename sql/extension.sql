--
-- The extension as packaged: version, update paths, objects, privileges,
-- comments and what pg_dump keeps (STYLE.md rules 4, 7, 9, 10, 21).
--
CREATE EXTENSION dbmigrate VERSION '1.0' CASCADE;

-- the installed version is the control file's default
SELECT extversion, extrelocatable, extnamespace::regnamespace AS schema
  FROM pg_extension WHERE extname = 'dbmigrate';
SELECT name, default_version, installed_version
  FROM pg_available_extensions WHERE name = 'dbmigrate';
-- needs a superuser to create, not trusted, not relocatable, fixed schema, requires pgcrypto
SELECT version, superuser, trusted, relocatable, schema, requires
  FROM pg_available_extension_versions WHERE name = 'dbmigrate';
-- 1.0 is the first release: no update paths yet
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

DROP EXTENSION dbmigrate;

--
-- downgrade_order: independent branches are undone in reverse order of
-- application, which dbmigrate.log records, not in reverse order of
-- registration (NB-14); the order stays topological (a child before its
-- parents) when the log lacks rows for some applied revisions.
--
CREATE EXTENSION dbmigrate CASCADE;
SET client_min_messages = warning;

-- the columns of a relation, in order
CREATE FUNCTION pg_temp.cols(rel text) RETURNS text
LANGUAGE sql AS $$
SELECT string_agg(attname, ', ' ORDER BY attnum) FROM pg_attribute
 WHERE attrelid = rel::regclass AND attnum > 0 AND NOT attisdropped
   AND attname IN ('id', 'bio', 'c_col')
$$;

-- a on top of the built-in users table, then two branches of a registered
-- in this order: b_view (a view over users) and c_col (a column on users);
-- then their merge
SELECT dbmigrate.migrate_register('a', '001_initial_migration', 'CREATE TABLE a_t()', 'DROP TABLE a_t');
SELECT dbmigrate.migrate_register('b_view', 'a', 'CREATE VIEW b_view AS SELECT * FROM users',
                                  'DROP VIEW b_view');
SELECT dbmigrate.migrate_register('c_col', 'a', 'ALTER TABLE users ADD COLUMN c_col int',
                                  'ALTER TABLE users DROP COLUMN c_col');
SELECT dbmigrate.migrate_merge(ARRAY['b_view', 'c_col'], 'merge b_view and c_col') AS m \gset

--
-- c_col applied first, then b_view, then the merge: the view depends on
-- the column.  Downgrading to a undoes the merge, then b_view (applied
-- last), then c_col.  (1.0 undid c_col first, in reverse registration
-- order, and failed with 2BP01 on the view.)
--
SELECT revision FROM dbmigrate.migrate_upgrade('c_col');
SELECT revision FROM dbmigrate.migrate_upgrade('b_view');
SELECT revision = :'m' AS is_merge FROM dbmigrate.migrate_upgrade();
SELECT pg_temp.cols('b_view') AS b_view_columns;
SELECT coalesce(max(id), 0) AS mark FROM dbmigrate.migrate_log() \gset
SELECT n, CASE WHEN revision = :'m' THEN 'merge' ELSE revision END AS revision
  FROM dbmigrate.migrate_downgrade('a') WITH ORDINALITY AS d(revision, message, duration, n);
SELECT * FROM dbmigrate.migrate_current();
SELECT to_regclass('b_view') AS b_view, pg_temp.cols('users') AS users_columns;
-- the log holds the same order
SELECT CASE WHEN revision = :'m' THEN 'merge' ELSE revision END AS revision, operation
  FROM dbmigrate.migrate_log() WHERE id > :mark ORDER BY id;
-- migrate_history stays in registration order, newest first
SELECT CASE WHEN revision = :'m' THEN 'merge' ELSE revision END AS revision, is_applied
  FROM dbmigrate.migrate_history();

--
-- The opposite order: b_view first (without the column), then c_col.
-- The merge, then c_col (applied last), then b_view.
--
SELECT revision FROM dbmigrate.migrate_upgrade('b_view');
SELECT revision FROM dbmigrate.migrate_upgrade('c_col');
SELECT revision = :'m' AS is_merge FROM dbmigrate.migrate_upgrade();
SELECT pg_temp.cols('b_view') AS b_view_columns;
SELECT n, CASE WHEN revision = :'m' THEN 'merge' ELSE revision END AS revision
  FROM dbmigrate.migrate_downgrade('a') WITH ORDINALITY AS d(revision, message, duration, n);
SELECT * FROM dbmigrate.migrate_current();

--
-- 'base' follows the same order: c_col, b_view, merge applied; undone as
-- merge, b_view, c_col, then a and 001_initial_migration.
--
SELECT revision FROM dbmigrate.migrate_upgrade('c_col');
SELECT revision FROM dbmigrate.migrate_upgrade('b_view');
SELECT revision = :'m' AS is_merge FROM dbmigrate.migrate_upgrade();
SELECT n, CASE WHEN revision = :'m' THEN 'merge' ELSE revision END AS revision
  FROM dbmigrate.migrate_downgrade('base') WITH ORDINALITY AS d(revision, message, duration, n);
SELECT count(*) AS current FROM dbmigrate.migrate_current();
SELECT to_regclass('users') AS users;

--
-- Relative moves.  From the merge, -1 undoes the merge; a second -1 has
-- two current revisions and stays refused (21000; Alembic warns that it
-- "will be disallowed" and picks one).  Naming the target gets back past
-- the merge (1.0: 2BP01, with no call left that could).
--
SELECT revision FROM dbmigrate.migrate_upgrade('c_col');
SELECT revision FROM dbmigrate.migrate_upgrade('b_view');
SELECT revision = :'m' AS is_merge FROM dbmigrate.migrate_upgrade();
SELECT revision = :'m' AS is_merge FROM dbmigrate.migrate_downgrade(1);
SELECT * FROM dbmigrate.migrate_current();
SELECT revision FROM dbmigrate.migrate_downgrade(1);
\echo :LAST_ERROR_SQLSTATE
SELECT revision FROM dbmigrate.migrate_downgrade('a');
SELECT * FROM dbmigrate.migrate_current();
SELECT to_regclass('b_view') AS b_view, pg_temp.cols('users') AS users_columns;

--
-- A stamp is an application too: c_col adopted by hand and stamped, then
-- b_view and the merge upgraded.  Undone: merge, b_view, c_col.
--
ALTER TABLE users ADD COLUMN c_col int;
SELECT dbmigrate.migrate_stamp('c_col');
SELECT revision FROM dbmigrate.migrate_upgrade('b_view');
SELECT revision = :'m' AS is_merge FROM dbmigrate.migrate_upgrade();
SELECT n, CASE WHEN revision = :'m' THEN 'merge' ELSE revision END AS revision
  FROM dbmigrate.migrate_downgrade('a') WITH ORDINALITY AS d(revision, message, duration, n);
SELECT * FROM dbmigrate.migrate_current();

--
-- The log lacks rows for some applied revisions (applied before the log
-- existed, or a restore without it; here removed by hand, as the owner).
-- A revision without a row counts as applied before every logged one, but
-- never goes before its children: with the merge's and a's rows gone, the
-- merge is still undone first, then b_view and c_col in the order the log
-- gives.
--
SELECT revision FROM dbmigrate.migrate_upgrade('c_col');
SELECT revision FROM dbmigrate.migrate_upgrade('b_view');
SELECT revision = :'m' AS is_merge FROM dbmigrate.migrate_upgrade();
ALTER TABLE dbmigrate.log DISABLE TRIGGER log_append_only;
DELETE FROM dbmigrate.log WHERE revision IN (:'m', 'a');
ALTER TABLE dbmigrate.log ENABLE TRIGGER log_append_only;
SELECT n, CASE WHEN revision = :'m' THEN 'merge' ELSE revision END AS revision
  FROM dbmigrate.migrate_downgrade('a') WITH ORDINALITY AS d(revision, message, duration, n);
SELECT * FROM dbmigrate.migrate_current();
-- a revision whose latest row does not apply it counts as unlogged too:
-- b_view applied, then c_col, whose upgrade row is removed so that its
-- latest row is an older downgrade.  Undone: the merge, b_view (logged),
-- then c_col; then a (no rows) and 001_initial_migration.
SELECT revision FROM dbmigrate.migrate_upgrade('b_view');
SELECT revision FROM dbmigrate.migrate_upgrade('c_col');
SELECT revision = :'m' AS is_merge FROM dbmigrate.migrate_upgrade();
ALTER TABLE dbmigrate.log DISABLE TRIGGER log_append_only;
DELETE FROM dbmigrate.log WHERE id = (SELECT max(id) FROM dbmigrate.log WHERE revision = 'c_col');
ALTER TABLE dbmigrate.log ENABLE TRIGGER log_append_only;
SELECT operation FROM dbmigrate.migrate_log() WHERE revision = 'c_col' ORDER BY id DESC LIMIT 1;
SELECT n, CASE WHEN revision = :'m' THEN 'merge' ELSE revision END AS revision
  FROM dbmigrate.migrate_downgrade('base') WITH ORDINALITY AS d(revision, message, duration, n);
SELECT count(*) AS current FROM dbmigrate.migrate_current();

DROP EXTENSION dbmigrate;

--
-- history: the read-only views of the state on a branchy graph --
-- migrate_history() (plain and verbose), migrate_show(), migrate_log(),
-- migrate_current() and migrate_heads() -- through upgrades, a downgrade and
-- stamps.
--
-- The graph:      h1            (root, branch point)
--                /  \
--             h2a    h2b
--                \  /
--                 h3            (merge point, branch point)
--                /  \
--             h4a    h4b        (two heads)
--
CREATE EXTENSION dbmigrate CASCADE;
SET client_min_messages = notice;
SELECT dbmigrate.migrate_unregister('001_initial_migration');
-- a second superuser, to show that the log records who ran each step
CREATE ROLE regress_dbm_hist_admin SUPERUSER;

-- who ran / registered: the test's own login role is shown as <me> (its name
-- depends on the test runner)
CREATE FUNCTION pg_temp.who(r name) RETURNS text LANGUAGE sql
AS $$ SELECT CASE WHEN r = session_user THEN '<me>' ELSE r::text END $$;

-- nothing registered: every view is empty
SELECT count(*) AS history_rows FROM dbmigrate.migrate_history();
SELECT count(*) AS log_rows FROM dbmigrate.migrate_log();
SELECT * FROM dbmigrate.migrate_current();
SELECT * FROM dbmigrate.migrate_heads();

SELECT dbmigrate.migrate_register('h1', NULL, 'CREATE TABLE hist_1()', 'DROP TABLE hist_1', 'root');
SELECT dbmigrate.migrate_register('h2a', 'h1', 'CREATE TABLE hist_2a()', 'DROP TABLE hist_2a', 'branch a');
SELECT dbmigrate.migrate_register('h2b', 'h1', 'CREATE TABLE hist_2b()', 'DROP TABLE hist_2b', 'branch b');
SELECT dbmigrate.migrate_register('h3', ARRAY['h2a', 'h2b'], 'CREATE TABLE hist_3()', 'DROP TABLE hist_3', 'merge a and b');
SELECT dbmigrate.migrate_register('h4a', 'h3', 'CREATE TABLE hist_4a()', 'DROP TABLE hist_4a', 'head a');
SELECT dbmigrate.migrate_register('h4b', 'h3', 'CREATE TABLE hist_4b()', NULL, 'head b, irreversible');

-- nothing applied: newest first (registration order is topological), branch points
-- h1 and h3, merge point h3, heads h4a and h4b; nothing applied or current
SELECT revision, down_revisions, message, is_applied, is_head, is_current,
       is_branch_point, is_merge_point, applied_at IS NULL AS never_applied
  FROM dbmigrate.migrate_history();
-- heads in registration order; no current revision
SELECT * FROM dbmigrate.migrate_heads();
SELECT * FROM dbmigrate.migrate_current();

-- apply one branch: current h2a; h1 and h2a applied
SELECT revision, message FROM dbmigrate.migrate_upgrade('h2a');
SELECT * FROM dbmigrate.migrate_current();
-- apply the other branch too: two current revisions, sorted
SELECT revision, message FROM dbmigrate.migrate_upgrade('h2b');
SELECT * FROM dbmigrate.migrate_current();
SELECT revision, is_applied, is_current, applied_at IS NOT NULL AS has_applied_at,
       pg_temp.who(applied_by) AS applied_by
  FROM dbmigrate.migrate_history();

-- up to head a through the merge: current h4a only, h4b pending
SELECT revision, message FROM dbmigrate.migrate_upgrade('h4a');
SELECT * FROM dbmigrate.migrate_current();
SELECT revision, down_revisions, is_applied, is_head, is_current FROM dbmigrate.migrate_history();
-- the heads of the graph do not depend on what is applied
SELECT * FROM dbmigrate.migrate_heads();

-- undo h4a: current h3
SELECT revision, message FROM dbmigrate.migrate_downgrade(1);
SELECT * FROM dbmigrate.migrate_current();
SELECT revision, is_applied, is_current, applied_at IS NOT NULL AS has_applied_at
  FROM dbmigrate.migrate_history() WHERE revision IN ('h4a', 'h3');

-- another superuser stamps h4a (no SQL runs: hist_4a stays absent)
SET SESSION AUTHORIZATION regress_dbm_hist_admin;
SELECT dbmigrate.migrate_stamp('h4a');
RESET SESSION AUTHORIZATION;
SELECT * FROM dbmigrate.migrate_current();
SELECT to_regclass('hist_4a') AS hist_4a, to_regclass('hist_3') AS hist_3;
-- history shows the stamp as the latest application of h4a, and by whom
SELECT revision, is_applied, is_current, pg_temp.who(applied_by) AS applied_by
  FROM dbmigrate.migrate_history();

--
-- verbose history: SQL and checksum are filled only when asked for
--

SELECT revision, upgrade_sql, downgrade_sql, checksum IS NULL AS no_checksum
  FROM dbmigrate.migrate_history() WHERE revision = 'h3';
SELECT revision, upgrade_sql, downgrade_sql, checksum ~ '^[0-9a-f]{64}$' AS checksum_is_sha256
  FROM dbmigrate.migrate_history(true);
-- verbose and plain list the same revisions in the same order
SELECT array_agg(revision) AS plain FROM dbmigrate.migrate_history(false);
SELECT array_agg(revision) AS verbose FROM dbmigrate.migrate_history(true);
-- the checksum shown is the stored one
SELECT bool_and(h.checksum = r.checksum) AS checksums_match
  FROM dbmigrate.migrate_history(true) h JOIN dbmigrate.revision r USING (revision);

--
-- migrate_show: one revision in full
--

-- the merge point: both parents, both children, applied but not current
SELECT revision, down_revisions, children, message, upgrade_sql, downgrade_sql,
       checksum ~ '^[0-9a-f]{64}$' AS checksum_is_sha256, is_applied, is_head, is_current,
       pg_temp.who(registered_by) AS registered_by, registered_at IS NOT NULL AS has_registered_at,
       applied_at IS NOT NULL AS has_applied_at
  FROM dbmigrate.migrate_show('h3');
-- a pending, irreversible head
SELECT revision, down_revisions, children, downgrade_sql IS NULL AS irreversible,
       is_applied, is_head, is_current, applied_at IS NULL AS never_applied
  FROM dbmigrate.migrate_show('h4b');
-- by "<rev>+N" along a single child (documented in migrate_show's COMMENT): h3
SELECT revision FROM dbmigrate.migrate_show('h2a+1');
SELECT revision FROM dbmigrate.migrate_show('h2b+1');
-- "<rev>+N" where the graph branches is ambiguous: 21000, naming the candidates
SELECT revision FROM dbmigrate.migrate_show('h1+1');
\echo :LAST_ERROR_SQLSTATE
-- "head" with two heads is ambiguous: 21000, listing them
SELECT revision FROM dbmigrate.migrate_show('head');
\echo :LAST_ERROR_SQLSTATE

--
-- migrate_log: every step in execution order, with who ran it
--

SELECT revision, operation, pg_temp.who(run_by) AS run_by, checksum IS NOT NULL AS has_checksum
  FROM dbmigrate.migrate_log() ORDER BY id;
-- the rows come back in id (execution) order
SELECT bool_and(id > 0) AS ids_positive,
       array_agg(id ORDER BY id) = array_agg(id) AS returned_in_id_order
  FROM dbmigrate.migrate_log();
-- the checksum logged for an upgrade is the revision's checksum at run time
SELECT bool_and(l.checksum = r.checksum) AS logged_checksums_match
  FROM dbmigrate.migrate_log() l JOIN dbmigrate.revision r USING (revision);

-- stamping to base clears current and logs a 'stamp' row without checksum for each
-- revision it un-applies (the last one logged is the oldest, h1); nothing is applied
SELECT dbmigrate.migrate_stamp('base');
SELECT * FROM dbmigrate.migrate_current();
SELECT revision, operation, checksum IS NULL AS no_checksum
  FROM dbmigrate.migrate_log() ORDER BY id DESC LIMIT 1;
SELECT count(*) FILTER (WHERE is_applied) AS applied, count(*) FILTER (WHERE is_current) AS current
  FROM dbmigrate.migrate_history();

-- clean up: the tables that upgrades created (stamps ran no SQL)
DROP TABLE hist_1, hist_2a, hist_2b, hist_3;
DROP EXTENSION dbmigrate;
DROP ROLE regress_dbm_hist_admin;

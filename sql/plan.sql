--
-- plan: migrate_plan(target, execute) lists what an upgrade would run, and
-- with execute => true runs it in a subtransaction that is always rolled
-- back, reporting per statement the locks taken and the tables rewritten.
--
CREATE EXTENSION dbmigrate CASCADE;
SET client_min_messages = notice;
-- (the linter's findings on these revisions are lint.sql's business)
SET dbmigrate.lint = off;
SELECT dbmigrate.migrate_unregister('001_initial_migration');

CREATE VIEW pl_state AS
SELECT (SELECT coalesce(string_agg(c, ',' ORDER BY c), '<base>')
          FROM dbmigrate.migrate_current() c) AS current,
       (SELECT count(*) FROM dbmigrate.log) AS log_rows,
       (SELECT health->>'status' FROM dbmigrate.health() health) AS health;

SELECT dbmigrate.migrate_register('p1', NULL,
    'CREATE TABLE pl_t(id int PRIMARY KEY); INSERT INTO pl_t SELECT g FROM generate_series(1, 5000) g;
     CREATE TABLE pl_u(id int)',
    'DROP TABLE pl_u, pl_t', 'tables');
SELECT count(*) FROM dbmigrate.migrate_upgrade('p1');
SELECT dbmigrate.migrate_register('p2', 'p1',
    'ALTER TABLE pl_t ADD COLUMN c int DEFAULT 42;
     ALTER TABLE pl_t ADD COLUMN r float8 DEFAULT random()',
    'ALTER TABLE pl_t DROP COLUMN c, DROP COLUMN r', 'columns');
SELECT dbmigrate.migrate_register('p3', 'p2', 'CREATE INDEX pl_u_id ON pl_u (id)', 'DROP INDEX pl_u_id', 'index');
SELECT dbmigrate.migrate_register('p4', 'p3', 'CREATE INDEX CONCURRENTLY pl_t_r ON pl_t (r)',
    'DROP INDEX CONCURRENTLY pl_t_r', 'concurrent', transactional => false);
SELECT * FROM pl_state;

-- offline: the statements, nothing else, nothing run
SELECT step, revision, direction, statement, sql, duration IS NULL AS no_duration,
       locks IS NULL AS no_locks, rewrites IS NULL AS no_rewrites
  FROM dbmigrate.migrate_plan();
SELECT * FROM pl_state;

-- the dry run: a constant default takes an AccessExclusiveLock and does
-- not rewrite; a volatile default rewrites the table (and its index) under
-- the lock the step already holds; CREATE INDEX takes a ShareLock (a
-- statement's locks are those it added to what the run held before it: the
-- whole run is one transaction); the non-transactional revision is listed,
-- not run
SELECT step, revision, statement, duration IS NOT NULL AS timed,
       (SELECT string_agg(l->>'relation' || ' ' || (l->>'mode'), ', ' ORDER BY l->>'relation', l->>'mode')
          FROM jsonb_array_elements(locks) l) AS locks,
       rewrites
  FROM dbmigrate.migrate_plan('head', execute => true);
-- nothing persisted: no column, no index, version, log and health unchanged
SELECT attname FROM pg_attribute WHERE attrelid = 'pl_t'::regclass AND attnum > 0 ORDER BY attnum;
SELECT indexrelid::regclass FROM pg_index WHERE indrelid = 'pl_t'::regclass ORDER BY 1;
SELECT * FROM pl_state;
-- a second dry run reports the same
CREATE TEMP TABLE pl_first AS
SELECT step, revision, statement, sql, locks, rewrites FROM dbmigrate.migrate_plan('head', true);
SELECT count(*) AS rows, (SELECT count(*) FROM (
    SELECT step, revision, statement, sql, locks, rewrites FROM dbmigrate.migrate_plan('head', true)
    EXCEPT SELECT * FROM pl_first) d) AS differing
  FROM pl_first;

-- a downgrade's plan
SELECT step, revision, direction, statement, sql FROM dbmigrate.migrate_plan('-1');
SELECT step, revision, direction, locks, rewrites FROM dbmigrate.migrate_plan('base', true);
SELECT to_regclass('pl_t') AS still_there;

-- a failing step: its error names the revision and statement, nothing persists
SELECT dbmigrate.migrate_register('p2', 'p1', 'ALTER TABLE pl_t ADD COLUMN x int; SELECT 1/0', NULL, 'fails');
SELECT step FROM dbmigrate.migrate_plan('p2', true);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS no_x FROM pg_attribute WHERE attrelid = 'pl_t'::regclass AND attname = 'x';
SELECT * FROM pl_state;
-- targets as migrate_upgrade's
SELECT * FROM dbmigrate.migrate_plan('heads-but-not');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM dbmigrate.migrate_plan(NULL);
\echo :LAST_ERROR_SQLSTATE

-- the result is migration SQL: it needs the right to read it (42501)
CREATE ROLE regress_dbm_planner NOLOGIN;
GRANT USAGE ON SCHEMA dbmigrate TO regress_dbm_planner;
GRANT EXECUTE ON FUNCTION dbmigrate.migrate_plan(text, boolean) TO regress_dbm_planner;
SET ROLE regress_dbm_planner;
SELECT * FROM dbmigrate.migrate_plan();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
REVOKE ALL ON FUNCTION dbmigrate.migrate_plan(text, boolean) FROM regress_dbm_planner;
REVOKE USAGE ON SCHEMA dbmigrate FROM regress_dbm_planner;
DROP ROLE regress_dbm_planner;

DROP VIEW pl_state;
DROP EXTENSION dbmigrate;
DROP TABLE pl_t, pl_u;

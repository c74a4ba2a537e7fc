--
-- timeouts: statement_timeout applies per step (NB-01).  Every statement of
-- a step runs under a statement_timeout armed when it starts: the caller's,
-- or dbmigrate.statement_timeout when set, or what the revision itself SET
-- before.  (PostgreSQL arms the timer once per client statement, so before
-- this a whole migrate_upgrade() call was one statement.)  Also the
-- settings of lock retries (the retries themselves: specs/lock_retry.spec).
-- No timing is asserted: only whether a step is cancelled (57014) or not.
--
CREATE EXTENSION dbmigrate CASCADE;
SET client_min_messages = notice;
\set SHOW_CONTEXT always
SELECT dbmigrate.migrate_unregister('001_initial_migration');
-- (the linter's findings on these revisions are lint.sql's business)
SET dbmigrate.lint = off;

-- the settings and their defaults
SELECT name, setting, unit, context FROM pg_settings
 WHERE name IN ('dbmigrate.statement_timeout', 'dbmigrate.lock_timeout',
                'dbmigrate.lock_retries', 'dbmigrate.lock_retry_max_delay')
 ORDER BY name;
-- invalid values: 22023
SET dbmigrate.statement_timeout = -1;
\echo :LAST_ERROR_SQLSTATE
SET dbmigrate.statement_timeout = 'soon';
\echo :LAST_ERROR_SQLSTATE
SET dbmigrate.lock_retries = -1;
\echo :LAST_ERROR_SQLSTATE
SET dbmigrate.lock_retries = 1001;
\echo :LAST_ERROR_SQLSTATE
SET dbmigrate.lock_retries = '1s';
\echo :LAST_ERROR_SQLSTATE
SET dbmigrate.lock_retry_max_delay = -1;
\echo :LAST_ERROR_SQLSTATE
SET dbmigrate.lock_retry_max_delay = 'later';
\echo :LAST_ERROR_SQLSTATE

--
-- (a) A revision that lifts its own statement_timeout for a backfill is not
-- cancelled by the caller's limit: 300ms against a 0.6 s statement.
--
SELECT dbmigrate.migrate_register('to1', NULL,
    $$SET statement_timeout = '5min'; SELECT pg_sleep(0.6); CREATE TABLE to_backfill()$$,
    'DROP TABLE to_backfill', 'backfill');
SET statement_timeout = '300ms';
SELECT revision, message FROM dbmigrate.migrate_upgrade('to1');
SHOW statement_timeout;
RESET statement_timeout;
SELECT to_regclass('to_backfill') AS to_backfill;

--
-- (b) A revision that caps itself at 100ms is cancelled by its own cap
-- (57014, naming the revision and the statement), and the call rolls back.
--
SELECT dbmigrate.migrate_register('to2', 'to1',
    $$CREATE TABLE to_capped(); SET statement_timeout = '100ms'; SELECT pg_sleep(2)$$,
    'DROP TABLE to_capped', 'capped');
SELECT revision, message FROM dbmigrate.migrate_upgrade('to2');
\echo :LAST_ERROR_SQLSTATE
SELECT to_regclass('to_capped') AS to_capped;
SELECT * FROM dbmigrate.migrate_current();
SHOW statement_timeout;

--
-- (c) Under a site-wide 1 s limit, three 0.4 s revisions each get their own
-- 1 s: the call succeeds (it took 1.2 s).
--
SELECT dbmigrate.migrate_register('to2', 'to1', 'SELECT pg_sleep(0.4)', '', 'slow one');
SELECT dbmigrate.migrate_register('to3', 'to2', 'SELECT pg_sleep(0.4)', '', 'slow two');
SELECT dbmigrate.migrate_register('to4', 'to3', 'SELECT pg_sleep(0.4)', '', 'slow three');
SET statement_timeout = '1s';
SELECT revision, message FROM dbmigrate.migrate_upgrade('to4');
-- and so do their downgrades (statement_timeout per step both ways)
SELECT dbmigrate.migrate_register('to5', 'to4', '', 'SELECT pg_sleep(0.4)', 'slow down one');
SELECT dbmigrate.migrate_register('to6', 'to5', '', 'SELECT pg_sleep(0.4)', 'slow down two');
SELECT dbmigrate.migrate_register('to7', 'to6', '', 'SELECT pg_sleep(0.4)', 'slow down three');
SELECT revision FROM dbmigrate.migrate_upgrade('to7');
SELECT revision FROM dbmigrate.migrate_downgrade('to4');
RESET statement_timeout;

--
-- dbmigrate.statement_timeout: the statement_timeout of every step, in
-- place of the caller's; the step sees it, and its own SET still wins.
--
SELECT dbmigrate.migrate_register('to8', 'to4',
    $up$DO $$BEGIN RAISE NOTICE 'to8 sees statement_timeout %', current_setting('statement_timeout'); END$$;
        SELECT pg_sleep(0.5)$up$,
    '', 'limited');
SET dbmigrate.statement_timeout = '100ms';
SELECT revision FROM dbmigrate.migrate_upgrade('to8');
\echo :LAST_ERROR_SQLSTATE
-- the same downward
SELECT dbmigrate.migrate_register('to8', 'to4', '', 'SELECT pg_sleep(0.5)', 'limited down');
SELECT revision FROM dbmigrate.migrate_upgrade('to8');
SELECT revision FROM dbmigrate.migrate_downgrade('to4');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM dbmigrate.migrate_current();
-- it replaces a shorter limit of the caller's
SET statement_timeout = '100ms';
SET dbmigrate.statement_timeout = '5s';
SELECT dbmigrate.migrate_register('to9', 'to8', 'SELECT pg_sleep(0.3)', '', 'longer');
SELECT revision FROM dbmigrate.migrate_upgrade('to9');
-- and the revision's own SET governs its later statements
SET dbmigrate.statement_timeout = '100ms';
RESET statement_timeout;
SELECT dbmigrate.migrate_register('to10', 'to9',
    $$SET statement_timeout = '5s'; SELECT pg_sleep(0.3)$$, '', 'own limit');
SELECT revision FROM dbmigrate.migrate_upgrade('to10');
-- the caller's settings are unchanged
SHOW statement_timeout;
SHOW dbmigrate.statement_timeout;
RESET dbmigrate.statement_timeout;

--
-- After the call, the caller's statement runs under its own limit again,
-- not a revision's: the timer is armed afresh from the caller's
-- statement_timeout when a step ends, and when it fails.  (In the DO block
-- the call is one statement among others; the 0.6 s sleep after it is
-- cancelled by the caller's 300ms, not allowed by to11's 5min.)
--
SELECT dbmigrate.migrate_register('to11', 'to10',
    $$SET statement_timeout = '5min'; SELECT 1$$, '', 'lifts and ends');
SET statement_timeout = '300ms';
DO $$
BEGIN
  PERFORM * FROM dbmigrate.migrate_upgrade('to11');
  RAISE NOTICE 'upgrade done';
  PERFORM pg_sleep(0.6);
END $$;
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_register('to12', 'to11',
    $$SET statement_timeout = '5min'; SELECT 1/0$$, '', 'lifts and fails');
DO $$
BEGIN
  BEGIN
    PERFORM * FROM dbmigrate.migrate_upgrade('to12');
  EXCEPTION WHEN division_by_zero THEN
    RAISE NOTICE 'upgrade failed';
  END;
  PERFORM pg_sleep(0.6);
END $$;
\echo :LAST_ERROR_SQLSTATE
RESET statement_timeout;
SELECT * FROM dbmigrate.migrate_current();

-- clean up
SELECT dbmigrate.migrate_unregister('to12');
SELECT revision FROM dbmigrate.migrate_downgrade('base');
DROP EXTENSION dbmigrate;

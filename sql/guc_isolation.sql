--
-- guc_isolation: session state does not leak (BC-15), dbmigrate works under
-- any search_path and ignores look-alike objects (BC-14), and
-- dbmigrate.lock_timeout is what a step sees as lock_timeout.
--
CREATE EXTENSION dbmigrate CASCADE;
SET client_min_messages = notice;
SELECT dbmigrate.migrate_unregister('001_initial_migration');

CREATE ROLE regress_dbm_owner NOLOGIN;
CREATE SCHEMA regress_dbm_gi AUTHORIZATION regress_dbm_owner;
-- seen: what each step observed (current_user, search_path, statement_timeout)
CREATE TABLE public.seen(step text, usr_is_owner boolean, search_path text, statement_timeout text);
GRANT INSERT ON public.seen TO regress_dbm_owner;

-- the caller's own settings, which must be the same after every call
SET statement_timeout = 0;
SET search_path = "$user", public;
SET lock_timeout = 0;
SELECT current_user = session_user AS caller_is_session_user;
SHOW statement_timeout;
SHOW search_path;

--
-- BC-15: r1 sets statement_timeout to 50ms, switches role and changes
-- search_path, then creates t1; r2 sleeps 0.2s and creates t2.  r2 must
-- not be cancelled by r1's 50ms, must run as the caller and must see the
-- caller's search_path (so t2 lands in public, owned by the caller, while
-- t1 is in regress_dbm_gi, owned by regress_dbm_owner).  After the call the
-- caller's statement_timeout, role and search_path are unchanged.
-- (PostgreSQL arms statement_timeout once per top-level statement, so the
-- sleep alone cannot show a leak inside the call; each step therefore
-- records the settings it sees in table seen, and the caller sleeps 0.1s
-- after the call, which a leaked 50ms would cancel.)
--
SELECT dbmigrate.migrate_register('r1', NULL,
    $$SET statement_timeout = '50ms';
      SET ROLE regress_dbm_owner;
      SET search_path TO regress_dbm_gi;
      CREATE TABLE t1();
      INSERT INTO public.seen SELECT 'r1', current_user = 'regress_dbm_owner',
             current_setting('search_path'), current_setting('statement_timeout')$$,
    'DROP TABLE regress_dbm_gi.t1', 'sets things');
SELECT dbmigrate.migrate_register('r2', 'r1',
    $$SELECT pg_sleep(0.2);
      CREATE TABLE t2();
      INSERT INTO public.seen SELECT 'r2', current_user = 'regress_dbm_owner',
             current_setting('search_path'), current_setting('statement_timeout')$$,
    'DROP TABLE public.t2', 'sleeps');
SELECT revision, message FROM dbmigrate.migrate_upgrade();
-- within r1 its settings applied; r2 saw none of them
SELECT * FROM public.seen ORDER BY step;
-- t1: regress_dbm_gi, owned by the role; t2: public, owned by the caller
SELECT c.oid::regclass AS relation, n.nspname AS schema,
       pg_get_userbyid(c.relowner) = 'regress_dbm_owner' AS owned_by_role,
       pg_get_userbyid(c.relowner) = current_user AS owned_by_caller
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relname IN ('t1', 't2') ORDER BY c.relname;
-- the caller is unchanged
SELECT pg_sleep(0.1);
SELECT current_user = session_user AS caller_is_session_user;
SHOW statement_timeout;
SHOW search_path;
-- the log records the session user for both steps
SELECT revision, operation, run_by = session_user AS by_caller FROM dbmigrate.migrate_log() ORDER BY id;

--
-- The same with SET LOCAL: r3 uses SET LOCAL for all three; r4 sleeps and
-- must again run as the caller with the caller's settings; nothing reaches
-- the caller, inside an explicit transaction block too.
--
SELECT dbmigrate.migrate_register('r3', 'r2',
    $$SET LOCAL statement_timeout = '50ms';
      SET LOCAL ROLE regress_dbm_owner;
      SET LOCAL search_path TO regress_dbm_gi;
      CREATE TABLE t3();
      INSERT INTO public.seen SELECT 'r3', current_user = 'regress_dbm_owner',
             current_setting('search_path'), current_setting('statement_timeout')$$,
    'DROP TABLE regress_dbm_gi.t3', 'sets things locally');
SELECT dbmigrate.migrate_register('r4', 'r3',
    $$SELECT pg_sleep(0.2);
      CREATE TABLE t4();
      INSERT INTO public.seen SELECT 'r4', current_user = 'regress_dbm_owner',
             current_setting('search_path'), current_setting('statement_timeout')$$,
    'DROP TABLE public.t4', 'sleeps again');
BEGIN;
SELECT revision, message FROM dbmigrate.migrate_upgrade();
-- still inside the transaction: nothing leaked into it
SELECT current_user = session_user AS caller_is_session_user;
SHOW statement_timeout;
SHOW search_path;
COMMIT;
SELECT pg_sleep(0.1);
SELECT * FROM public.seen WHERE step IN ('r3', 'r4') ORDER BY step;
SELECT c.oid::regclass AS relation, n.nspname AS schema,
       pg_get_userbyid(c.relowner) = 'regress_dbm_owner' AS owned_by_role
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relname IN ('t3', 't4') ORDER BY c.relname;
SHOW statement_timeout;
SHOW search_path;

-- a step that changes settings and then fails: the error rolls back the
-- call and the caller's settings are unchanged
SELECT dbmigrate.migrate_register('r5', 'r4',
    $$SET search_path TO regress_dbm_gi; SET ROLE regress_dbm_owner; SELECT 1/0$$,
    NULL, 'fails after SET');
SELECT revision FROM dbmigrate.migrate_upgrade();
\echo :LAST_ERROR_SQLSTATE
SELECT current_user = session_user AS caller_is_session_user;
SHOW search_path;
SELECT * FROM dbmigrate.migrate_current();
SELECT dbmigrate.migrate_unregister('r5');

--
-- BC-14: dbmigrate under search_path '' and next to look-alike objects.
--
-- with an empty search_path every call works (revision SQL must then
-- qualify its own names, as r6 does)
SET search_path = '';
SELECT * FROM dbmigrate.migrate_current();
SELECT revision, is_applied FROM dbmigrate.migrate_history();
SELECT dbmigrate.migrate_register('r6', 'r4', 'CREATE TABLE public.t6()', 'DROP TABLE public.t6', 'qualified');
SELECT revision FROM dbmigrate.migrate_upgrade();
SELECT revision FROM dbmigrate.migrate_upgrade();
SELECT * FROM dbmigrate.migrate_current();
SHOW search_path;
RESET search_path;

-- a decoy schema with tables named revision, version and log, a function
-- named migrate_current and a text = operator that says every pair is
-- equal; temporary look-alike tables too (pg_temp is searched first for
-- relations)
CREATE SCHEMA regress_dbm_decoy;
CREATE TABLE regress_dbm_decoy.revision(revision text, down_revisions text[], upgrade_sql text);
INSERT INTO regress_dbm_decoy.revision VALUES ('decoy', '{}', 'CREATE TABLE public.decoy_ran()');
CREATE TABLE regress_dbm_decoy.version(revision text);
INSERT INTO regress_dbm_decoy.version VALUES ('decoy');
CREATE TABLE regress_dbm_decoy.log(id int, revision text);
CREATE FUNCTION regress_dbm_decoy.migrate_current() RETURNS SETOF text
    LANGUAGE sql AS $$SELECT 'decoy'::text$$;
CREATE FUNCTION regress_dbm_decoy.text_always_eq(text, text) RETURNS boolean
    LANGUAGE sql AS $$SELECT true$$;
CREATE OPERATOR regress_dbm_decoy.= (LEFTARG = text, RIGHTARG = text,
    FUNCTION = regress_dbm_decoy.text_always_eq);
CREATE TEMP TABLE version(revision text);
INSERT INTO pg_temp.version VALUES ('decoy');
CREATE TEMP TABLE revision(revision text);
SET search_path = regress_dbm_decoy, pg_catalog, public;
-- the decoys are live: the unqualified name finds the decoy function, and
-- = on text now says any two strings are equal; dbmigrate ignores both
SELECT * FROM migrate_current();
SELECT 'r1'::text = 'r7'::text AS decoy_equal;
SELECT * FROM dbmigrate.migrate_current();
SELECT revision, is_applied, is_current FROM dbmigrate.migrate_history();
SELECT * FROM dbmigrate.migrate_heads();
-- nothing is pending: no step is applied again
SELECT revision FROM dbmigrate.migrate_upgrade();
SELECT revision FROM dbmigrate.migrate_upgrade('heads');
-- registering and upgrading under the decoy path runs exactly the new one
SELECT dbmigrate.migrate_register('r7', 'r6', 'CREATE TABLE public.t7()', 'DROP TABLE public.t7', 'decoyed');
SELECT revision FROM dbmigrate.migrate_upgrade();
SELECT * FROM dbmigrate.migrate_current();
-- a downgrade target is matched exactly, not through the decoy operator
SELECT revision FROM dbmigrate.migrate_downgrade('r6');
SELECT * FROM dbmigrate.migrate_current();
SELECT revision FROM dbmigrate.migrate_upgrade();
RESET search_path;
-- one upgrade per revision (r7 two: it was downgraded in between), none
-- of the decoy revision; the decoys are untouched
SELECT revision, count(*) AS upgrades FROM dbmigrate.migrate_log()
 WHERE operation = 'upgrade' GROUP BY revision ORDER BY min(id);
SELECT * FROM regress_dbm_decoy.version;
SELECT count(*) AS decoy_log_rows FROM regress_dbm_decoy.log;
SELECT * FROM pg_temp.version;
SELECT to_regclass('public.decoy_ran') AS decoy_ran;

--
-- dbmigrate.lock_timeout (default 10s) is the lock_timeout each step runs
-- with; 0 leaves the caller's own lock_timeout in effect; the caller's
-- lock_timeout is unchanged afterwards.
--
SHOW dbmigrate.lock_timeout;
-- invalid values: 22023
SET dbmigrate.lock_timeout = -1;
\echo :LAST_ERROR_SQLSTATE
SET dbmigrate.lock_timeout = 'soon';
\echo :LAST_ERROR_SQLSTATE
-- the prefix is reserved: a misspelt name is refused (42602)
SET dbmigrate.lock_timeot = '1s';
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_register('lt1', 'r7',
    $up$DO $$BEGIN RAISE NOTICE 'lt1 sees lock_timeout %', current_setting('lock_timeout'); END$$$up$,
    '', 'lt1');
SELECT dbmigrate.migrate_register('lt2', 'lt1',
    $up$DO $$BEGIN RAISE NOTICE 'lt2 sees lock_timeout %', current_setting('lock_timeout'); END$$$up$,
    '', 'lt2');
SELECT dbmigrate.migrate_register('lt3', 'lt2',
    $up$DO $$BEGIN RAISE NOTICE 'lt3 sees lock_timeout %', current_setting('lock_timeout'); END$$$up$,
    '', 'lt3');
SET lock_timeout = '7s';
-- the GUC's value
SET dbmigrate.lock_timeout = '1234ms';
SELECT revision FROM dbmigrate.migrate_upgrade('lt1');
SHOW lock_timeout;
-- 0: the caller's lock_timeout
SET dbmigrate.lock_timeout = 0;
SELECT revision FROM dbmigrate.migrate_upgrade('lt2');
SHOW lock_timeout;
-- the default
RESET dbmigrate.lock_timeout;
SELECT revision FROM dbmigrate.migrate_upgrade('lt3');
SHOW lock_timeout;
SHOW dbmigrate.lock_timeout;
RESET lock_timeout;

-- clean up
SELECT dbmigrate.migrate_stamp('base');
DROP TABLE regress_dbm_gi.t1, regress_dbm_gi.t3, public.t2, public.t4, public.t6, public.t7, public.seen;
DROP SCHEMA regress_dbm_gi;
DROP OPERATOR regress_dbm_decoy.= (text, text);
DROP FUNCTION regress_dbm_decoy.text_always_eq(text, text), regress_dbm_decoy.migrate_current();
DROP TABLE regress_dbm_decoy.revision, regress_dbm_decoy.version, regress_dbm_decoy.log;
DROP SCHEMA regress_dbm_decoy;
DROP TABLE pg_temp.version, pg_temp.revision;
DROP ROLE regress_dbm_owner;
DROP EXTENSION dbmigrate;

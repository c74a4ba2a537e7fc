--
-- upgrade: migrate_upgrade() targets, the rows it returns, its NOTICEs, and
-- its atomicity (BC-02 failing step, statement_timeout, caller's
-- transaction, BC-05 enum add-then-use).
--
CREATE EXTENSION dbmigrate CASCADE;
SET client_min_messages = notice;
-- a clean graph: this file registers its own revisions
SELECT dbmigrate.migrate_unregister('001_initial_migration');

-- nothing registered: upgrade to head is a no-op and returns no rows
SELECT revision, message FROM dbmigrate.migrate_upgrade();
SELECT count(*) AS log_rows FROM dbmigrate.migrate_log();

--
-- A linear chain of six revisions.  The ids share the prefix "up_0", so a
-- 4-character prefix can be ambiguous; up_006 has no message.
--
SELECT dbmigrate.migrate_register('up_001_accounts', NULL,
    'CREATE TABLE accounts(id int PRIMARY KEY)', 'DROP TABLE accounts', 'accounts');
SELECT dbmigrate.migrate_register('up_002_accounts_name', 'up_001_accounts',
    'ALTER TABLE accounts ADD name text', 'ALTER TABLE accounts DROP name', 'accounts.name');
SELECT dbmigrate.migrate_register('up_003_orders', 'up_002_accounts_name',
    'CREATE TABLE orders(id int, account int REFERENCES accounts)', 'DROP TABLE orders', 'orders');
SELECT dbmigrate.migrate_register('up_004_orders_idx', 'up_003_orders',
    'CREATE INDEX orders_account_idx ON orders(account)', 'DROP INDEX orders_account_idx', 'orders index');
SELECT dbmigrate.migrate_register('up_005_audit', 'up_004_orders_idx',
    'CREATE TABLE audit(at timestamptz)', 'DROP TABLE audit', 'audit');
SELECT dbmigrate.migrate_register('up_006_view', 'up_005_audit',
    'CREATE VIEW account_orders AS SELECT a.id, count(o.id) AS n FROM accounts a LEFT JOIN orders o ON o.account = a.id GROUP BY a.id',
    'DROP VIEW account_orders');

--
-- Invalid targets are refused before anything runs (the database stays at
-- base; checked after the list).
--
-- NULL target: 22004
SELECT revision, message FROM dbmigrate.migrate_upgrade(NULL);
\echo :LAST_ERROR_SQLSTATE
-- base is a downgrade target only: 22023
SELECT revision, message FROM dbmigrate.migrate_upgrade('base');
\echo :LAST_ERROR_SQLSTATE
-- a backward relative move: 22023
SELECT revision, message FROM dbmigrate.migrate_upgrade('-1');
\echo :LAST_ERROR_SQLSTATE
-- unknown revision: 42704
SELECT revision, message FROM dbmigrate.migrate_upgrade('no_such_revision');
\echo :LAST_ERROR_SQLSTATE
-- a prefix shorter than 4 characters is not a prefix: 42704 with a detail
SELECT revision, message FROM dbmigrate.migrate_upgrade('up_');
\echo :LAST_ERROR_SQLSTATE
-- an ambiguous prefix: 21000 listing the candidates
SELECT revision, message FROM dbmigrate.migrate_upgrade('up_0');
\echo :LAST_ERROR_SQLSTATE
-- malformed relative targets: 22023
SELECT revision, message FROM dbmigrate.migrate_upgrade('+0');
\echo :LAST_ERROR_SQLSTATE
SELECT revision, message FROM dbmigrate.migrate_upgrade('+x');
\echo :LAST_ERROR_SQLSTATE
SELECT revision, message FROM dbmigrate.migrate_upgrade('+');
\echo :LAST_ERROR_SQLSTATE
SELECT revision, message FROM dbmigrate.migrate_upgrade('up_001_accounts+-1');
\echo :LAST_ERROR_SQLSTATE
-- more steps than there are revisions: 22023, nothing run
SELECT revision, message FROM dbmigrate.migrate_upgrade('+7');
\echo :LAST_ERROR_SQLSTATE
SELECT revision, message FROM dbmigrate.migrate_upgrade('up_004_orders_idx+3');
\echo :LAST_ERROR_SQLSTATE
-- <rev>+N from an unknown revision: 42704
SELECT revision, message FROM dbmigrate.migrate_upgrade('no_such_revision+1');
\echo :LAST_ERROR_SQLSTATE
-- still at base, nothing logged, no table created
SELECT * FROM dbmigrate.migrate_current();
SELECT count(*) AS log_rows FROM dbmigrate.migrate_log();
SELECT to_regclass('accounts') AS accounts;

--
-- Valid targets.
--
-- '+1' from base applies the root only
SELECT revision, message FROM dbmigrate.migrate_upgrade('+1');
SELECT * FROM dbmigrate.migrate_current();
-- a unique prefix (at least 4 characters) names up_002_accounts_name
SELECT revision, message FROM dbmigrate.migrate_upgrade('up_002');
SELECT * FROM dbmigrate.migrate_current();
-- '<rev>+N': two steps past up_002 = up_004, so up_003 and up_004 run in order
SELECT revision, message FROM dbmigrate.migrate_upgrade('up_002_accounts_name+2');
SELECT * FROM dbmigrate.migrate_current();
SELECT to_regclass('orders') AS orders, to_regclass('orders_account_idx') AS orders_idx;
-- an exact id
SELECT revision, message FROM dbmigrate.migrate_upgrade('up_005_audit');
SELECT * FROM dbmigrate.migrate_current();
-- the default target head; a revision without message returns message NULL
-- and its NOTICE has no ", message" part
SELECT revision, message, message IS NULL AS no_message FROM dbmigrate.migrate_upgrade();
SELECT * FROM dbmigrate.migrate_current();
SELECT to_regclass('account_orders') AS view;

-- at head: head, heads, the current id and an ancestor id are all no-ops
-- that return no rows, print no NOTICE and log nothing; '+1' goes past the
-- head and is an error (22023)
SELECT revision, message FROM dbmigrate.migrate_upgrade();
SELECT revision, message FROM dbmigrate.migrate_upgrade('head');
SELECT revision, message FROM dbmigrate.migrate_upgrade('heads');
SELECT revision, message FROM dbmigrate.migrate_upgrade('up_006_view');
SELECT revision, message FROM dbmigrate.migrate_upgrade('up_003_orders');
SELECT revision, message FROM dbmigrate.migrate_upgrade('+1');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM dbmigrate.migrate_current();

-- the log has one upgrade row per step, in execution order, run by this
-- session's user, with the checksum of the text that ran
SELECT l.revision, l.operation, l.run_by = session_user AS by_me,
       l.checksum = (SELECT s.checksum FROM dbmigrate.migrate_show(l.revision) s) AS same_checksum
  FROM dbmigrate.migrate_log() l ORDER BY l.id;

-- from base, 'heads' runs the whole chain in one call; the returned rows
-- are in execution order (ordinality proves the order of the result set)
SELECT count(*) AS undone FROM dbmigrate.migrate_downgrade('base');
SELECT * FROM dbmigrate.migrate_current();
SELECT n, revision, message, duration >= interval '0' AS timed
  FROM dbmigrate.migrate_upgrade('heads') WITH ORDINALITY AS u(revision, message, duration, n);
SELECT * FROM dbmigrate.migrate_current();
-- the last six log rows are the same six upgrades, in the same order
SELECT revision, operation
  FROM (SELECT * FROM dbmigrate.migrate_log() ORDER BY id DESC LIMIT 6) l ORDER BY id;

-- tidy this section: back to base, then a fresh extension
SELECT count(*) AS undone FROM dbmigrate.migrate_downgrade('base');
SELECT to_regclass('accounts') AS accounts, to_regclass('account_orders') AS view;
DROP EXTENSION dbmigrate;
CREATE EXTENSION dbmigrate CASCADE;
SELECT dbmigrate.migrate_unregister('001_initial_migration');

--
-- BC-02: a step fails halfway.  The call raises the step's error (42P01)
-- with context naming r2; table a (created by r2's first statement) does
-- not exist; current stays r1; no r2 log row; no dirty flag.  Because r2
-- was never applied its SQL may be fixed by registering it again, and the
-- next upgrade succeeds with no manual reset.
--
SELECT dbmigrate.migrate_register('r1', NULL, 'CREATE TABLE base_t()', 'DROP TABLE base_t', 'base');
SELECT revision, message FROM dbmigrate.migrate_upgrade();
SELECT dbmigrate.migrate_register('r2', 'r1',
    'CREATE TABLE a(x int); INSERT INTO a VALUES (1); ALTER TABLE no_such ADD y int;',
    'DROP TABLE a', 'table a');
SELECT revision, message FROM dbmigrate.migrate_upgrade();
\echo :LAST_ERROR_SQLSTATE
SELECT to_regclass('a') AS a;
SELECT * FROM dbmigrate.migrate_current();
SELECT revision, operation FROM dbmigrate.migrate_log() ORDER BY id;
SELECT revision, is_applied, is_current FROM dbmigrate.migrate_history();
-- nothing reports r2 as half-applied
SELECT * FROM dbmigrate.migrate_validate();
-- fix r2 (allowed: not applied); the NOTICE says it was redefined (terse:
-- its detail shows checksums, which register's own tests cover)
\set VERBOSITY terse
SELECT dbmigrate.migrate_register('r2', 'r1',
    'CREATE TABLE a(x int); INSERT INTO a VALUES (1); ALTER TABLE a ADD y int;',
    'DROP TABLE a', 'table a');
\set VERBOSITY default
SELECT revision, message FROM dbmigrate.migrate_upgrade();
SELECT * FROM a;
SELECT * FROM dbmigrate.migrate_current();
SELECT revision, operation FROM dbmigrate.migrate_log() ORDER BY id;

--
-- BC-02 variant: statement_timeout cancels a step (57014).  Each statement
-- of a step runs under the caller's statement_timeout (see timeouts), so 1s
-- against a 3s sleep cancels r3 part-way; everything r3 did is rolled back
-- and current stays r2.
--
SELECT dbmigrate.migrate_register('r3', 'r2',
    'CREATE TABLE b(x int); SELECT pg_sleep(3);', 'DROP TABLE b', 'slow');
SET statement_timeout = '1s';
SELECT revision, message FROM dbmigrate.migrate_upgrade();
\echo :LAST_ERROR_SQLSTATE
RESET statement_timeout;
SELECT to_regclass('b') AS b;
SELECT * FROM dbmigrate.migrate_current();
SELECT count(*) AS r3_log_rows FROM dbmigrate.migrate_log() WHERE revision = 'r3';
-- fixed by registering it again without the sleep; then it applies
\set VERBOSITY terse
SELECT dbmigrate.migrate_register('r3', 'r2', 'CREATE TABLE b(x int)', 'DROP TABLE b', 'slow');
\set VERBOSITY default
SELECT revision, message FROM dbmigrate.migrate_upgrade();
SELECT to_regclass('b') AS b;
SELECT * FROM dbmigrate.migrate_current();

--
-- The caller's transaction: BEGIN; upgrade; data fix; COMMIT composes,
-- and BEGIN; upgrade; ROLLBACK leaves nothing behind.
--
SELECT dbmigrate.migrate_register('r4', 'r3', 'CREATE TABLE c(v int)', 'DROP TABLE c', 'table c');
BEGIN;
SELECT revision, message FROM dbmigrate.migrate_upgrade();
INSERT INTO c VALUES (42);
COMMIT;
SELECT * FROM c;
SELECT * FROM dbmigrate.migrate_current();

SELECT dbmigrate.migrate_register('r5', 'r4', 'CREATE TABLE d(v int)', 'DROP TABLE d', 'table d');
BEGIN;
SELECT revision, message FROM dbmigrate.migrate_upgrade();
-- inside the transaction, the step's work and the bookkeeping are visible
SELECT to_regclass('d') AS d;
SELECT * FROM dbmigrate.migrate_current();
ROLLBACK;
-- after ROLLBACK: no table d, current r4, no r5 log row
SELECT to_regclass('d') AS d;
SELECT * FROM dbmigrate.migrate_current();
SELECT count(*) AS r5_log_rows FROM dbmigrate.migrate_log() WHERE revision = 'r5';

-- a failing data fix after a successful upgrade rolls the upgrade back too
BEGIN;
SELECT revision, message FROM dbmigrate.migrate_upgrade();
INSERT INTO d VALUES ('not a number');
COMMIT;
SELECT to_regclass('d') AS d;
SELECT * FROM dbmigrate.migrate_current();

-- a failed upgrade under a savepoint: ROLLBACK TO leaves the transaction
-- usable and the state unchanged; a later upgrade in it then succeeds
\set VERBOSITY terse
SELECT dbmigrate.migrate_register('r5', 'r4', 'CREATE TABLE d(v int); SELECT 1/0;', 'DROP TABLE d', 'table d');
\set VERBOSITY default
BEGIN;
SAVEPOINT s;
SELECT revision, message FROM dbmigrate.migrate_upgrade();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SELECT * FROM dbmigrate.migrate_current();
\set VERBOSITY terse
SELECT dbmigrate.migrate_register('r5', 'r4', 'CREATE TABLE d(v int)', 'DROP TABLE d', 'table d');
\set VERBOSITY default
SELECT revision, message FROM dbmigrate.migrate_upgrade();
COMMIT;
SELECT to_regclass('d') AS d;
SELECT * FROM dbmigrate.migrate_current();
SELECT revision, operation FROM dbmigrate.migrate_log() ORDER BY id;

-- tidy this section
SELECT revision FROM dbmigrate.migrate_downgrade('base');
SELECT to_regclass('base_t') AS base_t, to_regclass('a') AS a, to_regclass('b') AS b,
       to_regclass('c') AS c, to_regclass('d') AS d;
DROP EXTENSION dbmigrate;
CREATE EXTENSION dbmigrate CASCADE;
SELECT dbmigrate.migrate_unregister('001_initial_migration');

--
-- BC-05: one revision adds an enum value, a later one uses it.  One call is
-- one transaction, so the one-shot upgrade fails with 55P04 naming r2 and
-- rolls back entirely: no type mood, current still base, nothing logged.
-- Upgrading to r1, committing, then upgrading succeeds.
--
SELECT dbmigrate.migrate_register('r0', NULL,
    $$CREATE TYPE mood AS ENUM ('sad'); CREATE TABLE p(m mood)$$, 'DROP TABLE p; DROP TYPE mood', 'enum');
SELECT dbmigrate.migrate_register('r1', 'r0', $$ALTER TYPE mood ADD VALUE 'happy'$$, NULL, 'add value');
SELECT dbmigrate.migrate_register('r2', 'r1', $$INSERT INTO p VALUES ('happy')$$,
    $$DELETE FROM p WHERE m = 'happy'$$, 'use value');
SELECT revision, message FROM dbmigrate.migrate_upgrade();
\echo :LAST_ERROR_SQLSTATE
SELECT to_regtype('mood') AS mood, to_regclass('p') AS p;
SELECT * FROM dbmigrate.migrate_current();
SELECT count(*) AS log_rows FROM dbmigrate.migrate_log();
-- the two-step sequence: up to r1 (its own transaction, committed), then up
SELECT revision, message FROM dbmigrate.migrate_upgrade('r1');
SELECT revision, message FROM dbmigrate.migrate_upgrade();
SELECT * FROM p;
SELECT * FROM dbmigrate.migrate_current();
SELECT revision, operation FROM dbmigrate.migrate_log() ORDER BY id;

-- clean up: r1 is irreversible, so move the version to base without SQL
-- and drop what the revisions created
SELECT dbmigrate.migrate_stamp('base');
DROP TABLE p;
DROP TYPE mood;
DROP EXTENSION dbmigrate;

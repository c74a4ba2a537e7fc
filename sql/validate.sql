--
-- validate: migrate_validate() and health().  Drift = an applied revision whose
-- stored text no longer matches the checksum recorded when it ran (BC-11);
-- health() is healthy / pending / unhealthy with fixed keys and JSON types;
-- migrate_upgrade refuses to run text that does not match its checksum.
--
CREATE EXTENSION dbmigrate CASCADE;
SET client_min_messages = notice;

-- health() without the timestamp (it varies) and without the database name (it
-- depends on the test runner; checked separately)
CREATE FUNCTION pg_temp.health_doc() RETURNS jsonb LANGUAGE sql
AS $$ SELECT dbmigrate.health() - 'timestamp' - 'database' $$;
-- migrate_validate() with the sha256 values masked
CREATE FUNCTION pg_temp.problems() RETURNS TABLE(revision text, problem text) LANGUAGE sql
AS $$ SELECT revision, regexp_replace(problem, '[0-9a-f]{64}', '<sha256>', 'g')
        FROM dbmigrate.migrate_validate() $$;

--
-- health() shape
--

-- keys and JSON types: status/database/timestamp/version strings, current/heads/problems
-- arrays, pending a number
SELECT key, jsonb_typeof(value) AS type FROM jsonb_each(dbmigrate.health()) ORDER BY key;
-- database is the current database, version the installed extension version
SELECT dbmigrate.health()->>'database' = current_database() AS database_ok,
       dbmigrate.health()->>'version' = (SELECT extversion FROM pg_extension
                                          WHERE extname = 'dbmigrate') AS version_ok;
-- timestamp is ISO-8601 UTC
SELECT dbmigrate.health()->>'timestamp' ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$' AS timestamp_iso_utc;
-- the elements of current and heads are strings
SELECT jsonb_typeof(dbmigrate.health()->'heads'->0) AS heads_element_type;

--
-- pending / healthy
--

-- at base with the builtin revision registered: pending, 1 pending revision
SELECT pg_temp.health_doc();
SELECT * FROM dbmigrate.migrate_validate();
-- nothing registered at all: nothing pending, nothing drifted -> healthy
SELECT dbmigrate.migrate_unregister('001_initial_migration');
SELECT pg_temp.health_doc();

-- two revisions registered, none applied: pending 2
SELECT dbmigrate.migrate_register('v1', NULL, 'CREATE TABLE val_t(a int)', 'DROP TABLE val_t');
SELECT dbmigrate.migrate_register('v2', 'v1', 'CREATE TABLE val_u(a int)', 'DROP TABLE val_u');
SELECT pg_temp.health_doc();

-- all applied: healthy, validate clean
SELECT revision, message FROM dbmigrate.migrate_upgrade();
SELECT pg_temp.health_doc();
SELECT * FROM dbmigrate.migrate_validate();
-- the current element is a string too
SELECT jsonb_typeof(dbmigrate.health()->'current'->0) AS current_element_type;

-- a newly registered revision makes it pending again (1 pending)
SELECT dbmigrate.migrate_register('v3', 'v2', 'CREATE TABLE val_w(a int)', 'DROP TABLE val_w');
SELECT pg_temp.health_doc();
SELECT revision, message FROM dbmigrate.migrate_upgrade();
SELECT pg_temp.health_doc()->>'status' AS status;

--
-- drift on applied revisions
--

-- the stored upgrade_sql of applied v1 is changed behind dbmigrate's back:
-- validate reports v1, health is unhealthy and lists the problem
UPDATE dbmigrate.revision SET upgrade_sql = 'CREATE TABLE val_t(a bigint)' WHERE revision = 'v1';
SELECT * FROM pg_temp.problems();
SELECT dbmigrate.health()->>'status' AS status,
       jsonb_array_length(dbmigrate.health()->'problems') AS n_problems,
       dbmigrate.health()->'problems'->>0 LIKE 'v1: stored text differs%' AS names_v1;
-- current/heads/pending are still reported while unhealthy
SELECT pg_temp.health_doc() - 'problems' AS rest;

-- a change of line endings and trailing whitespace only is not drift: the same
-- normalisation as at registration (CRLF/CR = LF, trailing whitespace ignored)
UPDATE dbmigrate.revision SET upgrade_sql = E'CREATE TABLE val_u(a int)\r\n\r\n' WHERE revision = 'v2';
SELECT * FROM pg_temp.problems();

-- a change to the downgrade_sql counts as drift too (the checksum covers both)
UPDATE dbmigrate.revision SET downgrade_sql = 'DROP TABLE val_w CASCADE' WHERE revision = 'v3';
SELECT * FROM pg_temp.problems();
SELECT jsonb_array_length(dbmigrate.health()->'problems') AS n_problems;

-- downgrading through a revision whose text does not match its checksum is refused
-- with 55000 before its SQL runs; nothing changes
SELECT revision, message FROM dbmigrate.migrate_downgrade(1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM dbmigrate.migrate_current();
SELECT to_regclass('val_w') AS val_w;

-- putting the original text back makes validate clean and health healthy again
UPDATE dbmigrate.revision SET downgrade_sql = 'DROP TABLE val_w' WHERE revision = 'v3';
UPDATE dbmigrate.revision SET upgrade_sql = 'CREATE TABLE val_t(a int)' WHERE revision = 'v1';
SELECT * FROM pg_temp.problems();
SELECT pg_temp.health_doc()->>'status' AS status;

-- registering the intended text of a tampered applied revision again repairs it
-- (the hint of the 55000 error says so): the stored text is the intended one and
-- validate is clean.  NOTICEs of the repair are not part of the contract.
UPDATE dbmigrate.revision SET upgrade_sql = 'CREATE TABLE val_t(a bigint)' WHERE revision = 'v1';
SET client_min_messages = warning;
SELECT dbmigrate.migrate_register('v1', NULL, 'CREATE TABLE val_t(a int)', 'DROP TABLE val_t');
SET client_min_messages = notice;
SELECT upgrade_sql FROM dbmigrate.revision WHERE revision = 'v1';
SELECT * FROM pg_temp.problems();
-- (restore directly as well, so the rest of the file does not depend on the above)
UPDATE dbmigrate.revision SET upgrade_sql = 'CREATE TABLE val_t(a int)' WHERE revision = 'v1';
SELECT pg_temp.health_doc()->>'status' AS status;

--
-- a tampered revision that is not applied yet is never run
--

SELECT dbmigrate.migrate_register('v4', 'v3', 'CREATE TABLE val_x(a int)', 'DROP TABLE val_x');
UPDATE dbmigrate.revision SET upgrade_sql = 'CREATE TABLE val_x(a int); CREATE TABLE val_evil()'
 WHERE revision = 'v4';
-- validate checks applied revisions only, so health says pending (not unhealthy)
SELECT * FROM pg_temp.problems();
SELECT pg_temp.health_doc()->>'status' AS status;
-- upgrade refuses with 55000 before running anything of v4; nothing changes
SELECT revision, message FROM dbmigrate.migrate_upgrade();
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM dbmigrate.migrate_current();
SELECT to_regclass('val_x') AS val_x, to_regclass('val_evil') AS val_evil;
SELECT count(*) AS v4_log_rows FROM dbmigrate.migrate_log() WHERE revision = 'v4';
-- also when v4 is the second of two steps in one call: the first step is rolled back
SELECT revision, message FROM dbmigrate.migrate_downgrade(1);
SELECT revision, message FROM dbmigrate.migrate_upgrade();
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM dbmigrate.migrate_current();
SELECT to_regclass('val_w') AS val_w, to_regclass('val_x') AS val_x;
-- registering the intended text again repairs it (as the hint says) and upgrade runs
SET client_min_messages = warning;
SELECT dbmigrate.migrate_register('v4', 'v3', 'CREATE TABLE val_x(a int)', 'DROP TABLE val_x');
SET client_min_messages = notice;
SELECT upgrade_sql FROM dbmigrate.revision WHERE revision = 'v4';
-- (restore directly as well, so the rest of the file does not depend on the above)
UPDATE dbmigrate.revision SET upgrade_sql = 'CREATE TABLE val_x(a int)' WHERE revision = 'v4';
SELECT revision, message FROM dbmigrate.migrate_upgrade();
SELECT to_regclass('val_x') AS val_x, to_regclass('val_evil') AS val_evil;
SELECT pg_temp.health_doc();

--
-- a current revision that is not registered
--

-- a version row naming an unregistered revision: validate lists it, health is unhealthy
-- and still shows it in current
INSERT INTO dbmigrate.version VALUES ('ghost');
SELECT * FROM pg_temp.problems();
SELECT pg_temp.health_doc();
-- planning from an unknown state is refused (55000); nothing runs
SELECT dbmigrate.migrate_register('v5', 'v4', 'CREATE TABLE val_y(a int)', 'DROP TABLE val_y');
SELECT revision, message FROM dbmigrate.migrate_upgrade();
\echo :LAST_ERROR_SQLSTATE
SELECT to_regclass('val_y') AS val_y;
-- removing the row makes it consistent again
DELETE FROM dbmigrate.version WHERE revision = 'ghost';
SELECT * FROM pg_temp.problems();
SELECT pg_temp.health_doc()->>'status' AS status;
SELECT dbmigrate.migrate_unregister('v5');
SELECT pg_temp.health_doc()->>'status' AS status;

--
-- no false drift: a revision that was downgraded, then legitimately redefined with
-- migrate_register, then marked applied by stamping a descendant, is not drifted (its
-- old run was undone; the text now applied is the registered one); health is
-- 'pending' (v3 and v4 are not applied), not 'unhealthy'
--

SELECT revision FROM dbmigrate.migrate_downgrade('base');
SELECT dbmigrate.migrate_register('v1', NULL, 'CREATE TABLE val_t(a bigint)', 'DROP TABLE val_t');
SELECT dbmigrate.migrate_stamp('v2');
SELECT * FROM dbmigrate.migrate_current();
SELECT * FROM pg_temp.problems();
SELECT pg_temp.health_doc()->>'status' AS status;

--
-- an applied parent deleted behind dbmigrate's back: health() answers 'unhealthy'
-- (it does not raise), migrate_show/migrate_validate refuse with XX001, and
-- registering the parent again is refused too (it would come after its child);
-- putting the row back, as a restore from a backup would, makes the graph whole
--

SELECT dbmigrate.migrate_stamp('base');
SELECT dbmigrate.migrate_register('w1', NULL, 'SELECT 1', 'SELECT 1');
SELECT dbmigrate.migrate_register('w2', 'w1', 'SELECT 2', 'SELECT 2');
SELECT revision, message FROM dbmigrate.migrate_upgrade('w2');
CREATE TEMP TABLE saved_w1 AS SELECT * FROM dbmigrate.revision WHERE revision = 'w1';
DELETE FROM dbmigrate.revision WHERE revision = 'w1';
SELECT pg_temp.health_doc()->>'status' AS status,
       pg_temp.health_doc()->'problems' AS problems;
SELECT * FROM dbmigrate.migrate_validate();
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_register('w1', NULL, 'SELECT 1', 'SELECT 1');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO dbmigrate.revision SELECT * FROM saved_w1;
SELECT * FROM dbmigrate.migrate_heads();
SELECT revision, children, is_head, is_applied FROM dbmigrate.migrate_show('w1');
SELECT * FROM pg_temp.problems();
SELECT pg_temp.health_doc()->'heads' AS heads, pg_temp.health_doc()->'current' AS current;
SELECT revision, message FROM dbmigrate.migrate_upgrade('w2');

--
-- text AND checksum column both changed behind dbmigrate's back on an applied revision:
-- the downgrade refuses to run a definition other than the one that was applied (55000);
-- registering the applied text again puts text and checksum back; then it downgrades
--
SELECT dbmigrate.migrate_register('y1', 'w2', 'CREATE TABLE val_y()', 'DROP TABLE val_y');
SELECT revision FROM dbmigrate.migrate_upgrade('y1');
UPDATE dbmigrate.revision
   SET downgrade_sql = 'DROP TABLE val_y; DROP TABLE val_precious',
       checksum = encode(sha256(convert_to('CREATE TABLE val_y()', 'UTF8') || '\x00'::bytea ||
                                convert_to('DROP TABLE val_y; DROP TABLE val_precious', 'UTF8')), 'hex')
 WHERE revision = 'y1';
CREATE TABLE val_precious(x int);
SELECT revision FROM dbmigrate.migrate_downgrade(1);
\echo :LAST_ERROR_SQLSTATE
SELECT to_regclass('val_precious') AS val_precious, to_regclass('val_y') AS val_y;
SELECT dbmigrate.migrate_register('y1', 'w2', 'CREATE TABLE val_y()', 'DROP TABLE val_y');
SELECT downgrade_sql FROM dbmigrate.migrate_show('y1');
SELECT * FROM pg_temp.problems();
SELECT revision FROM dbmigrate.migrate_downgrade(1);
SELECT to_regclass('val_precious') AS val_precious, to_regclass('val_y') AS val_y;
DROP TABLE val_precious;

--
-- a parent list that is not a list of ids (NULL element, two dimensions): health()
-- answers 'unhealthy' (XX001 in problems) instead of raising
--
UPDATE dbmigrate.revision SET down_revisions = '{NULL}' WHERE revision = 'y1';
SELECT pg_temp.health_doc()->>'status' AS status, pg_temp.health_doc()->'problems' AS problems;
UPDATE dbmigrate.revision SET down_revisions = '{{w2}}' WHERE revision = 'y1';
SELECT pg_temp.health_doc()->>'status' AS status;
UPDATE dbmigrate.revision SET down_revisions = '{w2}' WHERE revision = 'y1';
SELECT pg_temp.health_doc()->>'status' AS status;

-- clean up (the stamps ran no SQL, so move the version back to base without running any)
SELECT dbmigrate.migrate_stamp('base');
SELECT to_regclass('val_t') AS val_t, to_regclass('val_u') AS val_u,
       to_regclass('val_w') AS val_w, to_regclass('val_x') AS val_x;
DROP EXTENSION dbmigrate;

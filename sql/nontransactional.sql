--
-- nontransactional: migration SQL that could never run inside one
-- migrate_upgrade() call is refused when it is registered (BC-03 a, BC-04):
-- transaction control (2D000), statements that refuse a transaction block or
-- a function (25001, naming the statement), COPY with the client (0A000),
-- syntax errors (42601, position inside the migration SQL).  What only shows
-- at run time (a DO block that commits) fails cleanly and rolls back.  SQL is
-- never split on ';' by hand: dollar quotes and function bodies work.
--
CREATE EXTENSION dbmigrate CASCADE;
SET client_min_messages = notice;
SELECT dbmigrate.migrate_unregister('001_initial_migration');

-- what must not change after a refused call
CREATE VIEW nt_state AS
SELECT (SELECT coalesce(string_agg(c, ',' ORDER BY c), '<base>')
          FROM dbmigrate.migrate_current() c) AS current,
       (SELECT count(*) FROM dbmigrate.revision) AS registered,
       (SELECT count(*) FROM dbmigrate.log) AS log_rows;

-- a base revision with a table, applied
SELECT dbmigrate.migrate_register('nt1', NULL, 'CREATE TABLE nt_t(x int)', 'DROP TABLE nt_t');
SELECT revision, message FROM dbmigrate.migrate_upgrade();
SELECT * FROM nt_state;

--
-- BC-03 (a): transaction control is refused at registration with 2D000
--

-- BEGIN ... COMMIT around DDL
SELECT dbmigrate.migrate_register('nt2', 'nt1', 'BEGIN; CREATE TABLE nt_t1(); COMMIT; CREATE TABLE nt_t2();', NULL);
\echo :LAST_ERROR_SQLSTATE
-- ROLLBACK
SELECT dbmigrate.migrate_register('nt2', 'nt1', 'CREATE TABLE nt_t1(); ROLLBACK; CREATE TABLE nt_t2();', NULL);
\echo :LAST_ERROR_SQLSTATE
-- SAVEPOINT, RELEASE and ROLLBACK TO
SELECT dbmigrate.migrate_register('nt2', 'nt1', 'SAVEPOINT s; CREATE TABLE nt_t1();', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_register('nt2', 'nt1', 'CREATE TABLE nt_t1(); RELEASE SAVEPOINT s;', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_register('nt2', 'nt1', 'CREATE TABLE nt_t1(); ROLLBACK TO SAVEPOINT s;', NULL);
\echo :LAST_ERROR_SQLSTATE
-- END (a synonym of COMMIT), START TRANSACTION, PREPARE TRANSACTION
SELECT dbmigrate.migrate_register('nt2', 'nt1', 'CREATE TABLE nt_t1(); END;', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_register('nt2', 'nt1', 'START TRANSACTION; CREATE TABLE nt_t1();', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_register('nt2', 'nt1', 'CREATE TABLE nt_t1(); PREPARE TRANSACTION ''x'';', NULL);
\echo :LAST_ERROR_SQLSTATE
-- in downgrade_sql too: the detail names downgrade_sql
SELECT dbmigrate.migrate_register('nt2', 'nt1', 'CREATE TABLE nt_t1()', 'DROP TABLE nt_t1; COMMIT;');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_register('nt2', 'nt1', 'CREATE TABLE nt_t1()', 'BEGIN; DROP TABLE nt_t1; END;');
\echo :LAST_ERROR_SQLSTATE
-- nothing was registered, nothing ran
SELECT * FROM nt_state;
SELECT to_regclass('nt_t1') AS nt_t1, to_regclass('nt_t2') AS nt_t2;

--
-- BC-04: statements that cannot run in a transaction block or a function are
-- refused at registration with 25001, the message naming the statement kind
--

SELECT dbmigrate.migrate_register('nt2', 'nt1', 'CREATE INDEX CONCURRENTLY nt_t_x ON nt_t(x)', 'DROP INDEX nt_t_x');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_register('nt2', 'nt1', 'CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS nt_t_x ON nt_t(x)', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_register('nt2', 'nt1', 'CREATE INDEX nt_t_x ON nt_t(x)', 'DROP INDEX CONCURRENTLY nt_t_x');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_register('nt2', 'nt1', 'REINDEX TABLE CONCURRENTLY nt_t', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_register('nt2', 'nt1', 'REINDEX (CONCURRENTLY) INDEX nt_t_x', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_register('nt2', 'nt1', 'VACUUM nt_t', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_register('nt2', 'nt1', 'VACUUM (ANALYZE) nt_t', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_register('nt2', 'nt1', 'CREATE DATABASE nt_db', 'DROP DATABASE nt_db');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_register('nt2', 'nt1', 'ALTER SYSTEM SET work_mem = ''8MB''', 'ALTER SYSTEM RESET work_mem');
\echo :LAST_ERROR_SQLSTATE
-- the offending statement need not be the first one; nothing of the revision is kept
SELECT dbmigrate.migrate_register('nt2', 'nt1',
    E'ALTER TABLE nt_t ADD COLUMN y int;\nCREATE INDEX CONCURRENTLY nt_t_y ON nt_t(y);', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM nt_state;
SELECT count(*) AS nt_indexes FROM pg_index WHERE indrelid = 'nt_t'::regclass;

--
-- COPY with the client: refused with 0A000 (migration SQL runs inside the server)
--

SELECT dbmigrate.migrate_register('nt2', 'nt1', 'COPY nt_t FROM STDIN', 'DELETE FROM nt_t');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_register('nt2', 'nt1', 'CREATE TABLE nt_t1()', 'COPY nt_t TO STDOUT');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM nt_state;

--
-- syntax errors: 42601 at registration, with the position inside the migration SQL
-- (LINE 2 of the migration text) and the revision and direction in the context
--

SELECT dbmigrate.migrate_register('nt2', 'nt1', E'CREATE TABLE nt_a(x int);\nCREATE TABEL nt_b(y int);', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_register('nt2', 'nt1', 'CREATE TABLE nt_a(x int)', 'DROP TABLE nt_a;;; DROP TABL nt_a');
\echo :LAST_ERROR_SQLSTATE
-- an unterminated dollar quote
SELECT dbmigrate.migrate_register('nt2', 'nt1', 'DO $$ BEGIN NULL; END', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM nt_state;

--
-- what cannot be seen at registration: a DO block that COMMITs.  It is accepted
-- (the COMMIT is inside a PL/pgSQL body), then fails at upgrade with 2D000 naming
-- revision and statement; the whole call rolls back, including the revision
-- before it that ran in the same call.
--

SELECT dbmigrate.migrate_register('nt2', 'nt1', 'CREATE TABLE nt_before()', 'DROP TABLE nt_before');
SELECT dbmigrate.migrate_register('nt3', 'nt2',
    $mig$CREATE TABLE nt_do(x int); DO $$ BEGIN INSERT INTO nt_do VALUES (1); COMMIT; END $$;$mig$,
    'DROP TABLE nt_do');
SELECT revision, message FROM dbmigrate.migrate_upgrade();
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM nt_state;
SELECT to_regclass('nt_before') AS nt_before, to_regclass('nt_do') AS nt_do;
-- likewise VACUUM reached through dynamic SQL fails at run time with 25001, rolled back
SELECT dbmigrate.migrate_register('nt3', 'nt2',
    $mig$CREATE TABLE nt_do(x int); DO $$ BEGIN EXECUTE 'VACUUM nt_do'; END $$;$mig$,
    'DROP TABLE nt_do');
SELECT revision, message FROM dbmigrate.migrate_upgrade();
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM nt_state;
SELECT to_regclass('nt_before') AS nt_before, to_regclass('nt_do') AS nt_do;
SELECT dbmigrate.migrate_unregister('nt3');

--
-- the run-time guard behind the registration check: if a superuser writes
-- transaction control or COPY FROM STDIN into dbmigrate.revision directly (with a
-- matching checksum), migrate_upgrade still refuses it (2D000 / 0A000), rolled back
--

SELECT dbmigrate.migrate_register('nt3', 'nt2', 'SELECT 1');
UPDATE dbmigrate.revision
   SET upgrade_sql = 'CREATE TABLE nt_sneaky(); COMMIT',
       checksum = encode(digest('CREATE TABLE nt_sneaky(); COMMIT', 'sha256'), 'hex')
 WHERE revision = 'nt3';
SELECT revision, message FROM dbmigrate.migrate_upgrade();
\echo :LAST_ERROR_SQLSTATE
UPDATE dbmigrate.revision
   SET upgrade_sql = 'COPY nt_t FROM STDIN',
       checksum = encode(digest('COPY nt_t FROM STDIN', 'sha256'), 'hex')
 WHERE revision = 'nt3';
SELECT revision, message FROM dbmigrate.migrate_upgrade();
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM nt_state;
SELECT to_regclass('nt_before') AS nt_before, to_regclass('nt_sneaky') AS nt_sneaky;
SELECT dbmigrate.migrate_unregister('nt3');

--
-- accepted: ANALYZE and plain CREATE INDEX are transactional and run fine
--

SELECT dbmigrate.migrate_register('nt3', 'nt2',
    'CREATE INDEX nt_t_x ON nt_t(x); ANALYZE nt_t', 'DROP INDEX nt_t_x');
SELECT revision, message FROM dbmigrate.migrate_upgrade();
SELECT indexrelid::regclass AS index, indisvalid FROM pg_index WHERE indrelid = 'nt_t'::regclass;
SELECT * FROM nt_state;

--
-- accepted: dollar-quoted bodies with ';', BEGIN, COMMIT and ROLLBACK inside; a
-- function created by one statement and called by a later statement of the same
-- revision; ';' inside a literal and a comment.  Nothing is split by hand.
--

SELECT dbmigrate.migrate_register('nt4', 'nt3', $mig$
CREATE FUNCTION nt_label(v int) RETURNS text
LANGUAGE plpgsql AS $fn$
BEGIN
    -- the words COMMIT; and ROLLBACK; here are only a comment
    IF v < 0 THEN
        RETURN 'BEGIN; negative; COMMIT;';
    END IF;
    RETURN 'value ' || v || '; ok';
END
$fn$;
CREATE TABLE nt_labels(label text);  -- a comment; with a semicolon
INSERT INTO nt_labels VALUES (nt_label(1)), (nt_label(-1)), ('a;b');
DO $$ BEGIN INSERT INTO nt_labels VALUES ('from DO; END'); END $$;
$mig$, 'DROP TABLE nt_labels; DROP FUNCTION nt_label(int);', 'function body');
SELECT revision, message FROM dbmigrate.migrate_upgrade();
SELECT label FROM nt_labels ORDER BY label COLLATE "C";
SELECT * FROM nt_state;

-- and it downgrades cleanly as well
SELECT revision, message FROM dbmigrate.migrate_downgrade(1);
SELECT to_regclass('nt_labels') AS nt_labels, to_regprocedure('nt_label(int)') AS nt_label;

-- SET CONSTRAINTS ... DEFERRED: 0A000 (each revision runs with the declared
-- modes and its deferred checks fire at its end; SET CONSTRAINTS ...
-- IMMEDIATE is allowed, see deferred_constraints)
SELECT dbmigrate.migrate_register('nt9', NULL, 'SET CONSTRAINTS ALL DEFERRED', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_register('nt9', NULL, 'CREATE TABLE nt9(); SET CONSTRAINTS nt9_fk DEFERRED', NULL);
\echo :LAST_ERROR_SQLSTATE
-- dropping or altering dbmigrate itself from a migration: 55006, in either direction
SELECT dbmigrate.migrate_register('nt9', NULL, 'DROP EXTENSION dbmigrate', '');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_register('nt9', NULL, 'SELECT 1', 'DROP EXTENSION IF EXISTS pgcrypto, dbmigrate CASCADE');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_register('nt9', NULL, 'ALTER EXTENSION dbmigrate UPDATE', '');
\echo :LAST_ERROR_SQLSTATE
-- other extensions are fine
SELECT dbmigrate.migrate_register('nt9', NULL, 'DROP EXTENSION IF EXISTS no_such_ext', '');
SELECT dbmigrate.migrate_unregister('nt9');
SELECT count(*) AS nt9_registered FROM dbmigrate.revision WHERE revision = 'nt9';

-- clean up
SELECT revision FROM dbmigrate.migrate_downgrade('base');
SELECT to_regclass('nt_t') AS nt_t, to_regclass('nt_before') AS nt_before;
DROP VIEW nt_state;
DROP EXTENSION dbmigrate;

--
-- deferred_constraints: each revision behaves as if committed (NB-03).  The
-- constraint checks a step deferred fire at its end, inside its error
-- context; afterwards every constraint is back in its declared mode, for
-- the next step and for the caller; SET CONSTRAINTS ... IMMEDIATE may be
-- used in a revision.
--
CREATE EXTENSION dbmigrate CASCADE;
SET client_min_messages = notice;
\set SHOW_CONTEXT always
SELECT dbmigrate.migrate_unregister('001_initial_migration');
-- (the linter's findings on these revisions are lint.sql's business)
SET dbmigrate.lint = off;

-- dc1: two tables with a DEFERRABLE INITIALLY DEFERRED foreign key
SELECT dbmigrate.migrate_register('dc1', NULL,
    $$CREATE TABLE dc_parent(id int PRIMARY KEY);
      CREATE TABLE dc_child(id int PRIMARY KEY,
                            parent int REFERENCES dc_parent DEFERRABLE INITIALLY DEFERRED)$$,
    'DROP TABLE dc_child, dc_parent', 'tables');
-- dc2: a data revision; dc3 alters the table dc2 wrote to
SELECT dbmigrate.migrate_register('dc2', 'dc1',
    $$INSERT INTO dc_child VALUES (1, 1); INSERT INTO dc_parent VALUES (1)$$,
    $$DELETE FROM dc_child; DELETE FROM dc_parent$$, 'data');
SELECT dbmigrate.migrate_register('dc3', 'dc2',
    'ALTER TABLE dc_child ADD COLUMN note text', 'ALTER TABLE dc_child DROP COLUMN note', 'alter');

--
-- (1) dc2 then dc3 in one call: dc2's deferred check fires at its end, so
-- dc3's ALTER TABLE finds no pending trigger events (it failed with 55006
-- before).
--
SELECT revision, message FROM dbmigrate.migrate_upgrade('dc3');
SELECT * FROM dbmigrate.migrate_current();
SELECT * FROM dc_child;

-- the same downward: dc5's downgrade writes, dc4's downgrade alters
SELECT dbmigrate.migrate_register('dc4', 'dc3',
    'ALTER TABLE dc_child ADD COLUMN tag text', 'ALTER TABLE dc_child DROP COLUMN tag', 'tag');
SELECT dbmigrate.migrate_register('dc5', 'dc4',
    $$UPDATE dc_child SET tag = 'new'$$,
    $$INSERT INTO dc_child (id, parent) VALUES (2, 2); INSERT INTO dc_parent VALUES (2)$$,
    'tag rows');
SELECT revision FROM dbmigrate.migrate_upgrade('dc5');
SELECT revision FROM dbmigrate.migrate_downgrade('dc3');
SELECT * FROM dbmigrate.migrate_current();
SELECT id, parent FROM dc_child ORDER BY id;

--
-- (2) A deferred violation fails in the context of the revision that caused
-- it (not at COMMIT, naming nothing), and nothing of the call is kept.
--
SELECT dbmigrate.migrate_register('dc6', 'dc4',
    $$INSERT INTO dc_child VALUES (6, 66); CREATE TABLE dc_six()$$, 'DROP TABLE dc_six', 'orphan');
SELECT dbmigrate.migrate_register('dc7', 'dc6', 'CREATE TABLE dc_seven()', 'DROP TABLE dc_seven', 'after');
SELECT revision FROM dbmigrate.migrate_upgrade('dc7');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM dbmigrate.migrate_current();
SELECT to_regclass('dc_six') AS dc_six, to_regclass('dc_seven') AS dc_seven,
       (SELECT count(*) FROM dc_child WHERE id = 6) AS orphans;
SELECT count(*) AS dc6_log_rows FROM dbmigrate.migrate_log() WHERE revision IN ('dc6', 'dc7');
-- a downgrade's deferred violation names the downgrade, and keeps dc6
SELECT dbmigrate.migrate_unregister('dc7');
SELECT dbmigrate.migrate_register('dc6', 'dc4', 'CREATE TABLE dc_six()',
    $$DROP TABLE dc_six; INSERT INTO dc_child VALUES (7, 77)$$, 'bad downgrade');
SELECT revision FROM dbmigrate.migrate_upgrade('dc6');
SELECT revision FROM dbmigrate.migrate_downgrade('dc4');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM dbmigrate.migrate_current();
SELECT to_regclass('dc_six') AS dc_six;
-- (move past it by hand)
SELECT dbmigrate.migrate_stamp('dc4');
DROP TABLE dc_six;
SELECT dbmigrate.migrate_unregister('dc6');

--
-- (3) The modes are restored after a step whose checks fired (dc2-like
-- data in dc8): dc9 creates its own INITIALLY DEFERRED constraint and
-- violates it until its last statement, which works only if constraints
-- are deferred again; dc8's dc_unique is DEFERRABLE INITIALLY IMMEDIATE, so
-- dc10's duplicate fails at its statement, not at the end of the step
-- (where the DELETE would have removed it).
--
SELECT dbmigrate.migrate_register('dc8', 'dc4',
    $$CREATE TABLE dc_unique(k int UNIQUE DEFERRABLE INITIALLY IMMEDIATE);
      INSERT INTO dc_child (id, parent) VALUES (8, 8); INSERT INTO dc_parent VALUES (8)$$,
    'DROP TABLE dc_unique; DELETE FROM dc_child WHERE id = 8; DELETE FROM dc_parent WHERE id = 8',
    'more data');
SELECT dbmigrate.migrate_register('dc9', 'dc8',
    $$CREATE TABLE dc_b(id int PRIMARY KEY);
      CREATE TABLE dc_a(b int REFERENCES dc_b DEFERRABLE INITIALLY DEFERRED);
      INSERT INTO dc_a VALUES (9);
      INSERT INTO dc_b VALUES (9)$$,
    'DROP TABLE dc_a, dc_b', 'own deferred constraint');
SELECT dbmigrate.migrate_register('dc10', 'dc9',
    $$INSERT INTO dc_unique VALUES (1), (1); DELETE FROM dc_unique$$, 'DELETE FROM dc_unique',
    'duplicate');
-- one call, one transaction: dc8's checks fire, dc9 passes, dc10 fails at
-- its first statement (so everything is rolled back)
SELECT revision FROM dbmigrate.migrate_upgrade('dc10');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM dbmigrate.migrate_current();
SELECT dbmigrate.migrate_unregister('dc10');
SELECT revision FROM dbmigrate.migrate_upgrade('dc9');
SELECT * FROM dc_a;

-- the caller's transaction after a call whose step fired checks: the
-- INITIALLY DEFERRED foreign key is still deferred until COMMIT
SELECT dbmigrate.migrate_register('dc11', 'dc9',
    $$INSERT INTO dc_child (id, parent) VALUES (11, 11); INSERT INTO dc_parent VALUES (11)$$,
    'DELETE FROM dc_child WHERE id = 11; DELETE FROM dc_parent WHERE id = 11', 'data again');
BEGIN;
SELECT revision FROM dbmigrate.migrate_upgrade('dc11');
INSERT INTO dc_child VALUES (12, 12);
INSERT INTO dc_parent VALUES (12);
COMMIT;
SELECT id, parent FROM dc_child WHERE id > 10 ORDER BY id;

--
-- (4) SET CONSTRAINTS ... IMMEDIATE in a revision: registered, runs, and
-- checks right there (dc12 inserts and then alters the same table in one
-- revision, which needs it); the next revision still has deferred
-- constraints deferred.
--
SELECT dbmigrate.migrate_register('dc12', 'dc11',
    $$INSERT INTO dc_child (id, parent) VALUES (13, 13); INSERT INTO dc_parent VALUES (13);
      SET CONSTRAINTS ALL IMMEDIATE;
      ALTER TABLE dc_child ADD COLUMN extra int$$,
    'ALTER TABLE dc_child DROP COLUMN extra', 'immediate');
SELECT dbmigrate.migrate_register('dc13', 'dc12',
    $$INSERT INTO dc_a VALUES (13); INSERT INTO dc_b VALUES (13)$$,
    'DELETE FROM dc_a WHERE b = 13; DELETE FROM dc_b WHERE id = 13', 'deferred again');
SELECT revision FROM dbmigrate.migrate_upgrade('dc13');
SELECT * FROM dc_a ORDER BY b;
-- a named constraint works too, and a violation is reported at that statement
SELECT dbmigrate.migrate_register('dc14', 'dc13',
    $$INSERT INTO dc_a VALUES (14); SET CONSTRAINTS dc_a_b_fkey IMMEDIATE; INSERT INTO dc_b VALUES (14)$$,
    'DELETE FROM dc_b WHERE id = 14', 'too early');
SELECT revision FROM dbmigrate.migrate_upgrade('dc14');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM dbmigrate.migrate_current();

-- without it, one revision that writes and then alters the same table gets
-- PostgreSQL's 55006, with a hint naming the way out
SELECT dbmigrate.migrate_register('dc14', 'dc13',
    $$INSERT INTO dc_child (id, parent) VALUES (14, 14); INSERT INTO dc_parent VALUES (14);
      ALTER TABLE dc_child ADD COLUMN late int$$,
    'ALTER TABLE dc_child DROP COLUMN late', 'write then alter');
SELECT revision FROM dbmigrate.migrate_upgrade('dc14');
\echo :LAST_ERROR_SQLSTATE

--
-- Checks the caller's transaction deferred before the call fire before the
-- first step, under a context of their own, not blamed on the revision.
--
SELECT dbmigrate.migrate_register('dc14', 'dc13', 'CREATE TABLE dc_fourteen()',
    'DROP TABLE dc_fourteen', 'fourteen');
BEGIN;
INSERT INTO dc_child VALUES (15, 15);
SELECT revision FROM dbmigrate.migrate_upgrade('dc14');
ROLLBACK;
\echo :LAST_ERROR_SQLSTATE
-- and valid pending rows are simply checked
BEGIN;
INSERT INTO dc_child VALUES (15, 15);
INSERT INTO dc_parent VALUES (15);
SELECT revision FROM dbmigrate.migrate_upgrade('dc14');
COMMIT;
SELECT * FROM dbmigrate.migrate_current();

-- clean up
SELECT revision FROM dbmigrate.migrate_downgrade('base');
SELECT to_regclass('dc_child') AS dc_child, to_regclass('dc_a') AS dc_a;
DROP EXTENSION dbmigrate;

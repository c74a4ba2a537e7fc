--
-- lint: migrate_lint(sql) and dbmigrate.lint at registration.  Each rule
-- has a firing and a non-firing case, decided by the live catalog
-- (volatility, casts, sizes, indexes, constraints).
--
CREATE EXTENSION dbmigrate CASCADE;
SET client_min_messages = notice;
SELECT dbmigrate.migrate_unregister('001_initial_migration');

-- a large table (over dbmigrate.lint_large_table, 10 MB by default: lowered
-- to 64 kB here so that the test stays small) and a small one
SET dbmigrate.lint_large_table = '64kB';
CREATE TABLE li_big(id int PRIMARY KEY, v int, s varchar(10), t text);
INSERT INTO li_big SELECT g, g, 'x', repeat('y', 20) FROM generate_series(1, 2000) g;
CREATE TABLE li_small(id int PRIMARY KEY, ref int);
SELECT pg_table_size('li_big') > 64 * 1024 AS big_is_large, pg_table_size('li_small') < 64 * 1024 AS small_is_small;

CREATE FUNCTION li_lint(sql text) RETURNS TABLE(rule text, statement int, message text)
LANGUAGE sql AS $$
    SELECT rule, statement, regexp_replace(message, '\(\d+ (bytes|kB|MB)\)', '(<size>)')
      FROM dbmigrate.migrate_lint(sql)
$$;

-- volatile-default: random() is volatile (rewrite); now() is stable (no rewrite), a constant neither
SELECT * FROM li_lint('ALTER TABLE li_big ADD COLUMN r float8 DEFAULT random()');
SELECT * FROM li_lint('ALTER TABLE li_big ADD COLUMN b bigserial');
SELECT * FROM li_lint('ALTER TABLE li_big ADD COLUMN n timestamptz DEFAULT now(), ADD COLUMN k int DEFAULT 1');
-- rewriting-type-change: int -> bigint rewrites; varchar(10) -> varchar(20) and -> text do not
SELECT * FROM li_lint('ALTER TABLE li_big ALTER COLUMN v TYPE bigint');
SELECT * FROM li_lint('ALTER TABLE li_big ALTER COLUMN s TYPE varchar(20)');
SELECT * FROM li_lint('ALTER TABLE li_big ALTER COLUMN s TYPE text');
SELECT * FROM li_lint('ALTER TABLE li_big ALTER COLUMN s TYPE varchar(5)');
-- set-not-null: fires without a validated CHECK (col IS NOT NULL), not with one
SELECT * FROM li_lint('ALTER TABLE li_big ALTER COLUMN v SET NOT NULL');
ALTER TABLE li_big ADD CONSTRAINT li_big_v_nn CHECK (v IS NOT NULL);
SELECT * FROM li_lint('ALTER TABLE li_big ALTER COLUMN v SET NOT NULL');
-- index-not-concurrently: on the large table, not on the small one, not CONCURRENTLY
SELECT * FROM li_lint('CREATE INDEX ON li_big (v)');
SELECT * FROM li_lint('CREATE INDEX ON li_small (ref)');
SELECT * FROM li_lint('CREATE INDEX CONCURRENTLY ON li_big (v)');
-- constraint-not-valid: a validated foreign key or check on the large table; NOT VALID is fine
SELECT * FROM li_lint('ALTER TABLE li_big ADD CONSTRAINT li_big_pos CHECK (v > 0)');
SELECT * FROM li_lint('ALTER TABLE li_big ADD CONSTRAINT li_big_pos CHECK (v > 0) NOT VALID');
SELECT * FROM li_lint('ALTER TABLE li_small ADD CONSTRAINT li_small_pos CHECK (ref > 0)');
-- drop-table and drop-column, with their sizes
SELECT * FROM li_lint('DROP TABLE li_small');
SELECT * FROM li_lint('ALTER TABLE li_big DROP COLUMN t');
SELECT * FROM li_lint('DROP VIEW IF EXISTS li_nothing');
-- rename of a relation or a column
SELECT * FROM li_lint('ALTER TABLE li_small RENAME TO li_tiny');
SELECT * FROM li_lint('ALTER TABLE li_small RENAME COLUMN ref TO ref_id');
-- fk-without-index: fires without an index on the referencing column, not
-- with one (existing, or created in the same text), nor for a primary key column
SELECT * FROM li_lint('ALTER TABLE li_small ADD CONSTRAINT li_small_ref FOREIGN KEY (ref) REFERENCES li_big (id) NOT VALID');
SELECT * FROM li_lint('CREATE INDEX ON li_small (ref); ALTER TABLE li_small ADD FOREIGN KEY (ref) REFERENCES li_big (id) NOT VALID');
SELECT * FROM li_lint('CREATE TABLE li_child(id int PRIMARY KEY REFERENCES li_big (id), parent int REFERENCES li_small (id))');
SELECT * FROM li_lint('CREATE TABLE li_child(a int, b int, UNIQUE (b, a), FOREIGN KEY (a, b) REFERENCES li_pair (x, y))');
-- statement numbers, and a text opting out of rules
SELECT * FROM li_lint('SELECT 1; DROP TABLE li_small; ALTER TABLE li_big DROP COLUMN t');
SELECT * FROM li_lint('-- dbmigrate:lint-ignore drop-table
DROP TABLE li_small; ALTER TABLE li_big DROP COLUMN t');
SELECT * FROM li_lint('DROP TABLE li_small /* dbmigrate:lint-ignore all */');
-- bad input
SELECT * FROM dbmigrate.migrate_lint(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM dbmigrate.migrate_lint('ALTER TABLE');
\echo :LAST_ERROR_SQLSTATE
-- hints name the safe pattern
SELECT rule, hint FROM dbmigrate.migrate_lint('ALTER TABLE li_big ALTER COLUMN v TYPE bigint');

-- registration: warn (default) registers with a WARNING per finding, and
-- names irreversible revisions; an identical re-registration is quiet
SELECT dbmigrate.migrate_register('l1', NULL, 'ALTER TABLE li_small ALTER COLUMN ref TYPE bigint', NULL, 'widen');
SELECT dbmigrate.migrate_register('l1', NULL, 'ALTER TABLE li_small ALTER COLUMN ref TYPE bigint', NULL, 'widen');
-- error refuses, naming the first finding and counting the others
SET dbmigrate.lint = error;
SELECT dbmigrate.migrate_register('l2', 'l1', 'DROP TABLE li_small; ALTER TABLE li_big DROP COLUMN t', 'SELECT 1', 'drops');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS l2_registered FROM dbmigrate.revision WHERE revision = 'l2';
-- ... unless the revision opts out
SELECT dbmigrate.migrate_register('l2', 'l1', '-- dbmigrate:lint-ignore drop-table, drop-column
DROP TABLE li_small; ALTER TABLE li_big DROP COLUMN t', 'SELECT 1', 'drops');
-- off: nothing
SET dbmigrate.lint = off;
SELECT dbmigrate.migrate_register('l3', 'l2', 'ALTER TABLE li_big RENAME TO li_large', NULL, 'rename');
RESET dbmigrate.lint;
SET dbmigrate.lint = 'sometimes';

DROP FUNCTION li_lint(text);
DROP EXTENSION dbmigrate;
DROP TABLE li_big, li_small;

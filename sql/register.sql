--
-- register: migrate_register (one parent as text, several as text[]),
-- migrate_revision, migrate_merge and migrate_unregister; the rules for
-- registering a revision again (BC-11 a-d); migrate_heads() after each change.
--
CREATE EXTENSION dbmigrate CASCADE;
SET client_min_messages = notice;
-- (generated ids are random: the linter's warnings naming them are lint.sql's business)
SET dbmigrate.lint = off;

-- CREATE EXTENSION registers the builtin root 001_initial_migration: it is the only head
SELECT * FROM dbmigrate.migrate_heads();
SELECT revision, down_revisions, message, is_applied, is_head FROM dbmigrate.migrate_history();

-- unregistering the builtin revision works (it is neither applied nor a parent) and
-- is remembered in builtin_override so a restore does not bring it back; no heads remain
SELECT dbmigrate.migrate_unregister('001_initial_migration');
SELECT count(*) AS registered FROM dbmigrate.revision;
SELECT revision FROM dbmigrate.builtin_override;
SELECT * FROM dbmigrate.migrate_heads();

--
-- migrate_revision: generated 12-hex-digit id, parent = the single head
--

-- on an empty graph the generated revision is a root; its id is 12 lower-case hex digits
SELECT dbmigrate.migrate_revision('first generated', 'CREATE TABLE reg_gen1(x int)',
                                  'DROP TABLE reg_gen1') AS gen1 \gset
SELECT :'gen1' ~ '^[0-9a-f]{12}$' AS gen1_is_12_hex;
SELECT down_revisions, message, upgrade_sql, downgrade_sql, is_head
  FROM dbmigrate.migrate_show(:'gen1');

-- a second generated revision gets another id and the first one as its parent
SELECT dbmigrate.migrate_revision('second generated', 'CREATE TABLE reg_gen2(x int)') AS gen2 \gset
SELECT :'gen2' ~ '^[0-9a-f]{12}$' AS gen2_is_12_hex, :'gen2' <> :'gen1' AS ids_differ;
SELECT down_revisions = ARRAY[:'gen1'] AS parent_is_gen1, downgrade_sql IS NULL AS irreversible
  FROM dbmigrate.migrate_show(:'gen2');
-- heads: exactly gen2 now
SELECT array_agg(h) = ARRAY[:'gen2'] AS heads_are_gen2 FROM dbmigrate.migrate_heads() h;

-- a second branch from gen1 (named revision, text parent) makes two heads
SELECT dbmigrate.migrate_register('reg_side', :'gen1', 'CREATE TABLE reg_side(x int)',
                                  'DROP TABLE reg_side', 'side branch');
SELECT array_agg(h ORDER BY h) = ARRAY[:'gen2', 'reg_side'] AS two_heads
  FROM dbmigrate.migrate_heads() h;
-- with two heads migrate_revision cannot choose a parent: 21000, hint at migrate_merge;
-- nothing is registered (terse: the detail would list the generated id)
\set VERBOSITY terse
SELECT dbmigrate.migrate_revision('third', 'SELECT 1') IS NULL AS registered;
\set VERBOSITY default
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS registered FROM dbmigrate.revision;

--
-- migrate_merge: empty SQL, parents = the heads, deterministic id
--

-- merging 'heads' joins both heads; the id is 12 hex digits (not printed: it is a hash)
SELECT dbmigrate.migrate_merge('{heads}') AS merge1 \gset
SELECT :'merge1' ~ '^[0-9a-f]{12}$' AS merge_is_12_hex;
SELECT (SELECT array_agg(p ORDER BY p) FROM unnest(down_revisions) p) = ARRAY[:'gen2', 'reg_side']
         AS parents_are_both_heads,
       upgrade_sql, downgrade_sql, message LIKE 'merge %' AS default_message
  FROM dbmigrate.migrate_show(:'merge1');
-- the merge is now the only head
SELECT array_agg(h) = ARRAY[:'merge1'] AS heads_are_merge FROM dbmigrate.migrate_heads() h;
-- merging the same revisions again, named in the other order, gives the same id and
-- registers nothing new (idempotent)
SELECT dbmigrate.migrate_merge(ARRAY['reg_side', :'gen2']) = :'merge1' AS same_merge_id;
SELECT count(*) AS registered FROM dbmigrate.revision;

-- a merge can be unregistered again: the two branch heads come back
SELECT dbmigrate.migrate_unregister(:'merge1');
SELECT array_agg(h ORDER BY h) = ARRAY[:'gen2', 'reg_side'] AS two_heads_again
  FROM dbmigrate.migrate_heads() h;
-- and merging once more yields the very same id (derived from the parents only)
SELECT dbmigrate.migrate_merge(ARRAY[:'gen2', 'reg_side']) = :'merge1' AS same_merge_id_again;

-- clear this part of the graph again, children first (unregister of each works)
SELECT dbmigrate.migrate_unregister(:'merge1');
SELECT dbmigrate.migrate_unregister('reg_side');
SELECT dbmigrate.migrate_unregister(:'gen2');
SELECT dbmigrate.migrate_unregister(:'gen1');
SELECT count(*) AS registered FROM dbmigrate.revision;
SELECT * FROM dbmigrate.migrate_heads();

--
-- migrate_register: text parent and text[] parents
--

-- a root (NULL parent) and a chain r1 <- r2; heads follow
SELECT dbmigrate.migrate_register('r1', NULL, 'CREATE TABLE reg_t(a int)', 'DROP TABLE reg_t', 'create t');
SELECT * FROM dbmigrate.migrate_heads();
SELECT dbmigrate.migrate_register('r2', 'r1', 'CREATE TABLE reg_u(b int)', 'DROP TABLE reg_u', 'create u');
SELECT * FROM dbmigrate.migrate_heads();
-- a second root through the text[] overload with an empty array
SELECT dbmigrate.migrate_register('s1', '{}'::text[], 'CREATE TABLE reg_s(c int)', 'DROP TABLE reg_s', 'second root');
SELECT * FROM dbmigrate.migrate_heads();
-- a merge with its own id and SQL through the text[] overload
SELECT dbmigrate.migrate_register('m1', ARRAY['r2', 's1'], 'CREATE TABLE reg_m(d int)',
                                  'DROP TABLE reg_m', 'join r2 and s1');
SELECT * FROM dbmigrate.migrate_heads();
SELECT revision, down_revisions, message, is_head, is_merge_point FROM dbmigrate.migrate_history();

-- apply r1 and r2 only (s1 and m1 stay pending)
SELECT revision, message FROM dbmigrate.migrate_upgrade('r2');
SELECT * FROM dbmigrate.migrate_current();

--
-- registering again (BC-11)
--

-- the exact same definition again is a no-op: no NOTICE, same checksum, nothing added
SELECT checksum AS r1_checksum FROM dbmigrate.revision WHERE revision = 'r1' \gset
SELECT dbmigrate.migrate_register('r1', NULL, 'CREATE TABLE reg_t(a int)', 'DROP TABLE reg_t', 'create t');
SELECT checksum = :'r1_checksum' AS checksum_unchanged, upgrade_sql
  FROM dbmigrate.revision WHERE revision = 'r1';
SELECT count(*) AS registered FROM dbmigrate.revision;
-- the same for the text[] overload (parents in another order are the same set)
SELECT dbmigrate.migrate_register('m1', ARRAY['s1', 'r2'], 'CREATE TABLE reg_m(d int)',
                                  'DROP TABLE reg_m', 'join r2 and s1');
SELECT count(*) AS registered FROM dbmigrate.revision;

-- BC-11 (a): applied r1 with different SQL is refused with 42710, and the stored
-- text and checksum stay as they were
SELECT dbmigrate.migrate_register('r1', NULL, 'CREATE TABLE reg_t(a bigint)', 'DROP TABLE reg_t', 'create t');
\echo :LAST_ERROR_SQLSTATE
SELECT upgrade_sql, checksum = :'r1_checksum' AS checksum_unchanged
  FROM dbmigrate.revision WHERE revision = 'r1';
-- whitespace inside a line counts: a doubled space is a different definition (42710)
SELECT dbmigrate.migrate_register('r1', NULL, 'CREATE TABLE reg_t(a  int)', 'DROP TABLE reg_t', 'create t');
\echo :LAST_ERROR_SQLSTATE
-- a NULL downgrade (irreversible) differs from the stored one: 42710 as well
SELECT dbmigrate.migrate_register('r1', NULL, 'CREATE TABLE reg_t(a int)', NULL, 'create t');
\echo :LAST_ERROR_SQLSTATE

-- BC-11 (b): the documented normalisation -- CRLF and CR count as LF, whitespace at the
-- very end does not count -- so CRLF endings plus trailing newlines are the same
-- definition: accepted as a no-op, the stored text keeps its original form
SELECT dbmigrate.migrate_register('r1', NULL, E'CREATE TABLE reg_t(a int)\r\n\r\n',
                                  E'DROP TABLE reg_t\r\n  \t', 'create t');
SELECT upgrade_sql = 'CREATE TABLE reg_t(a int)' AS stored_upgrade_unchanged,
       downgrade_sql = 'DROP TABLE reg_t' AS stored_downgrade_unchanged,
       checksum = :'r1_checksum' AS checksum_unchanged
  FROM dbmigrate.revision WHERE revision = 'r1';
-- ... and validate agrees (same policy on both sides): nothing drifted
SELECT * FROM dbmigrate.migrate_validate();
-- a multi-line text with CRLF inside equals its LF form too (r2 applied: no error, no NOTICE)
SELECT dbmigrate.migrate_register('r2', 'r1', E'CREATE TABLE reg_u(b int)\r', E'DROP TABLE reg_u\n',
                                  'create u');

-- BC-11 (c): changing the parent of an applied revision is refused (42710), detail
-- names old and new parents; nothing changes
SELECT dbmigrate.migrate_register('r2', 's1', 'CREATE TABLE reg_u(b int)', 'DROP TABLE reg_u', 'create u');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_register('r2', NULL, 'CREATE TABLE reg_u(b int)', 'DROP TABLE reg_u', 'create u');
\echo :LAST_ERROR_SQLSTATE
SELECT down_revisions FROM dbmigrate.migrate_show('r2');

-- BC-11 (d): a revision that is not applied may be redefined; a NOTICE says so and
-- the new text is stored
SELECT dbmigrate.migrate_register('s1', '{}'::text[], 'CREATE TABLE reg_s(c bigint)', 'DROP TABLE reg_s', 'second root');
SELECT upgrade_sql, message FROM dbmigrate.migrate_show('s1');
-- an identical repeat of the new definition is a no-op again (no NOTICE)
SELECT dbmigrate.migrate_register('s1', '{}'::text[], 'CREATE TABLE reg_s(c bigint)', 'DROP TABLE reg_s', 'second root');
-- same SQL with only a new message: no-op for the definition, the message is updated
SELECT dbmigrate.migrate_register('s1', '{}'::text[], 'CREATE TABLE reg_s(c bigint)', 'DROP TABLE reg_s', 'second root, renamed');
SELECT message FROM dbmigrate.migrate_show('s1');

-- changing the parents of a not-applied revision that has children is refused with
-- 2BP01 naming the children (s1 is a parent of m1)
SELECT dbmigrate.migrate_register('s1', 'r2', 'CREATE TABLE reg_s(c bigint)', 'DROP TABLE reg_s', 'second root, renamed');
\echo :LAST_ERROR_SQLSTATE
SELECT down_revisions FROM dbmigrate.migrate_show('s1');

-- changing the parents of a not-applied revision without children is allowed:
-- m1 (merge of r2, s1) becomes a plain child of s1; r2 becomes a head again
SELECT dbmigrate.migrate_register('m1', 's1', 'CREATE TABLE reg_m(d int)', 'DROP TABLE reg_m', 'now after s1');
SELECT down_revisions FROM dbmigrate.migrate_show('m1');
SELECT * FROM dbmigrate.migrate_heads();
-- and back to the merge; one head again
SELECT dbmigrate.migrate_register('m1', ARRAY['r2', 's1'], 'CREATE TABLE reg_m(d int)',
                                  'DROP TABLE reg_m', 'join r2 and s1');
SELECT * FROM dbmigrate.migrate_heads();

-- the redefined s1 runs with its new text
SELECT revision, message FROM dbmigrate.migrate_upgrade();
SELECT * FROM dbmigrate.migrate_current();
SELECT format_type(atttypid, atttypmod) AS reg_s_c_type
  FROM pg_attribute WHERE attrelid = 'reg_s'::regclass AND attname = 'c';

--
-- migrate_unregister
--

-- an unknown revision: 42704 (prefixes are not accepted either)
SELECT dbmigrate.migrate_unregister('no_such_revision');
\echo :LAST_ERROR_SQLSTATE
SELECT dbmigrate.migrate_unregister('r');
\echo :LAST_ERROR_SQLSTATE
-- a revision with children: 2BP01 naming them (checked before "applied")
SELECT dbmigrate.migrate_unregister('r2');
\echo :LAST_ERROR_SQLSTATE
-- an applied head: 55006, with a hint to downgrade first
SELECT dbmigrate.migrate_unregister('m1');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS registered FROM dbmigrate.revision;
SELECT * FROM dbmigrate.migrate_heads();

-- after downgrading m1 it can be unregistered; r2 and s1 are heads again
SELECT revision, message FROM dbmigrate.migrate_downgrade(1);
SELECT dbmigrate.migrate_unregister('m1');
SELECT * FROM dbmigrate.migrate_heads();
SELECT count(*) AS registered FROM dbmigrate.revision;
-- the revision is gone for good: a second unregister is 42704
SELECT dbmigrate.migrate_unregister('m1');
\echo :LAST_ERROR_SQLSTATE

-- clean up
SELECT revision FROM dbmigrate.migrate_downgrade('base');
SELECT to_regclass('reg_t') AS reg_t, to_regclass('reg_u') AS reg_u, to_regclass('reg_s') AS reg_s;
DROP EXTENSION dbmigrate;

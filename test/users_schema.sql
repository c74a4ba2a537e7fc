-- test/users_schema.sql
--
-- Pins the "users" table that the built-in revision 001_initial_migration
-- creates to the seed document (SPEC.md section 5), column by column: names
-- and order, types, nullability, defaults, primary key, serial sequence,
-- unique constraints and the three ix_users_* indexes.  Also checks that the
-- downgrade drops the table and that the table is created in the caller's
-- current schema (the first schema of search_path), not in a fixed one.

\set ON_ERROR_STOP true
\set QUIET true

BEGIN;

SET LOCAL client_min_messages = warning;
SET LOCAL search_path = public;

CREATE EXTENSION dbmigrate CASCADE;

SELECT plan(69);

--
-- The revision itself: registered by CREATE EXTENSION, a root, the one head.
--

SELECT results_eq(
    $$SELECT revision, down_revisions, message
        FROM dbmigrate.migrate_history() WHERE revision = '001_initial_migration'$$,
    $$VALUES ('001_initial_migration'::text, '{}'::text[], 'Initial migration'::text)$$,
    '001_initial_migration is registered as a root with message "Initial migration"');

SELECT results_eq(
    'SELECT * FROM dbmigrate.migrate_heads()',
    ARRAY['001_initial_migration'],
    '001_initial_migration is the only head after CREATE EXTENSION');

SELECT hasnt_table('public'::name, 'users'::name,
    'no users table exists before the first upgrade');

SELECT results_eq(
    'SELECT revision, message FROM dbmigrate.migrate_upgrade()',
    $$VALUES ('001_initial_migration'::text, 'Initial migration'::text)$$,
    'migrate_upgrade() runs exactly 001_initial_migration');

SELECT results_eq(
    'SELECT * FROM dbmigrate.migrate_current()',
    ARRAY['001_initial_migration'],
    'after the upgrade the current revision is 001_initial_migration');

--
-- Table and columns, in the seed document's order.
--

SELECT has_table('public'::name, 'users'::name,
    'the upgrade creates table users in the current schema (public)');

SELECT columns_are('public'::name, 'users'::name, ARRAY[
    'id', 'username', 'email', 'hashed_password', 'full_name', 'avatar', 'phone',
    'is_active', 'is_superuser', 'is_verified', 'created_at', 'updated_at',
    'last_login_at', 'bio']::name[],
    'users has exactly the fourteen columns of the seed document');

SELECT is(
    (SELECT pg_catalog.array_agg(attname::text ORDER BY attnum) FROM pg_catalog.pg_attribute
      WHERE attrelid = 'public.users'::regclass AND attnum > 0 AND NOT attisdropped),
    ARRAY['id', 'username', 'email', 'hashed_password', 'full_name', 'avatar', 'phone',
          'is_active', 'is_superuser', 'is_verified', 'created_at', 'updated_at',
          'last_login_at', 'bio'],
    'the columns of users are in the seed document''s order');

--
-- Types.
--

SELECT col_type_is('public', 'users', 'id', 'integer', 'users.id is integer (SERIAL)');
SELECT col_type_is('public', 'users', 'username', 'character varying(50)',
    'users.username is varchar(50)');
SELECT col_type_is('public', 'users', 'email', 'character varying(100)',
    'users.email is varchar(100)');
SELECT col_type_is('public', 'users', 'hashed_password', 'character varying(255)',
    'users.hashed_password is varchar(255)');
SELECT col_type_is('public', 'users', 'full_name', 'character varying(100)',
    'users.full_name is varchar(100)');
SELECT col_type_is('public', 'users', 'avatar', 'character varying(255)',
    'users.avatar is varchar(255)');
SELECT col_type_is('public', 'users', 'phone', 'character varying(20)',
    'users.phone is varchar(20)');
SELECT col_type_is('public', 'users', 'is_active', 'boolean', 'users.is_active is boolean');
SELECT col_type_is('public', 'users', 'is_superuser', 'boolean', 'users.is_superuser is boolean');
SELECT col_type_is('public', 'users', 'is_verified', 'boolean', 'users.is_verified is boolean');
SELECT col_type_is('public', 'users', 'created_at', 'timestamp with time zone',
    'users.created_at is timestamptz');
SELECT col_type_is('public', 'users', 'updated_at', 'timestamp with time zone',
    'users.updated_at is timestamptz');
SELECT col_type_is('public', 'users', 'last_login_at', 'timestamp with time zone',
    'users.last_login_at is timestamptz');
SELECT col_type_is('public', 'users', 'bio', 'text', 'users.bio is text');

--
-- Nullability: id (primary key), username, email and hashed_password are
-- NOT NULL; everything else is nullable (the booleans have defaults but no
-- NOT NULL in the seed document).
--

SELECT col_not_null('public', 'users', 'id', 'users.id is NOT NULL');
SELECT col_not_null('public', 'users', 'username', 'users.username is NOT NULL');
SELECT col_not_null('public', 'users', 'email', 'users.email is NOT NULL');
SELECT col_not_null('public', 'users', 'hashed_password', 'users.hashed_password is NOT NULL');
SELECT col_is_null('public', 'users', 'full_name', 'users.full_name is nullable');
SELECT col_is_null('public', 'users', 'avatar', 'users.avatar is nullable');
SELECT col_is_null('public', 'users', 'phone', 'users.phone is nullable');
SELECT col_is_null('public', 'users', 'is_active', 'users.is_active is nullable');
SELECT col_is_null('public', 'users', 'is_superuser', 'users.is_superuser is nullable');
SELECT col_is_null('public', 'users', 'is_verified', 'users.is_verified is nullable');
SELECT col_is_null('public', 'users', 'created_at', 'users.created_at is nullable');
SELECT col_is_null('public', 'users', 'updated_at', 'users.updated_at is nullable');
SELECT col_is_null('public', 'users', 'last_login_at', 'users.last_login_at is nullable');
SELECT col_is_null('public', 'users', 'bio', 'users.bio is nullable');

--
-- Defaults.
--

SELECT col_default_is('public', 'users', 'is_active', 'true'::text,
    'users.is_active defaults to TRUE');
SELECT col_default_is('public', 'users', 'is_superuser', 'false'::text,
    'users.is_superuser defaults to FALSE');
SELECT col_default_is('public', 'users', 'is_verified', 'false'::text,
    'users.is_verified defaults to FALSE');
SELECT col_default_is('public', 'users', 'created_at', 'now()'::text,
    'users.created_at defaults to now()');
SELECT col_default_is('public', 'users', 'updated_at', 'now()'::text,
    'users.updated_at defaults to now()');
SELECT col_hasnt_default('public', 'users', 'last_login_at',
    'users.last_login_at has no default');
SELECT col_hasnt_default('public', 'users', 'username', 'users.username has no default');
SELECT col_hasnt_default('public', 'users', 'hashed_password',
    'users.hashed_password has no default');

--
-- id is SERIAL PRIMARY KEY: a primary key on id alone, defaulting to the
-- next value of the sequence owned by the column.
--

SELECT col_is_pk('public', 'users', 'id', 'users.id is the primary key');
SELECT col_default_is('public', 'users', 'id', 'nextval(''users_id_seq''::regclass)'::text,
    'users.id defaults to nextval of users_id_seq (SERIAL)');
SELECT is(pg_catalog.pg_get_serial_sequence('public.users', 'id'), 'public.users_id_seq',
    'users_id_seq is owned by users.id (SERIAL, dropped with the table)');
SELECT has_sequence('public'::name, 'users_id_seq'::name,
    'the SERIAL sequence users_id_seq exists in the same schema as users');

--
-- UNIQUE constraints on username and email (each on its own column).
--

SELECT col_is_unique('public', 'users', ARRAY['username']::name[],
    'users.username has a UNIQUE constraint');
SELECT col_is_unique('public', 'users', ARRAY['email']::name[],
    'users.email has a UNIQUE constraint');
SELECT throws_ok(
    $$INSERT INTO public.users (username, email, hashed_password)
      VALUES ('dup', 'dup1@example.com', 'x'), ('dup', 'dup2@example.com', 'x')$$,
    '23505', NULL,
    'a second row with the same username is refused (23505)');
SELECT throws_ok(
    $$INSERT INTO public.users (username, email, hashed_password)
      VALUES ('dup1', 'dup@example.com', 'x'), ('dup2', 'dup@example.com', 'x')$$,
    '23505', NULL,
    'a second row with the same email is refused (23505)');
SELECT throws_ok(
    $$INSERT INTO public.users (email, hashed_password) VALUES ('nouser@example.com', 'x')$$,
    '23502', NULL,
    'a row without username is refused (23502)');

--
-- Defaults as seen by an insert that names only the required columns.
--

SELECT results_eq(
    $$INSERT INTO public.users (username, email, hashed_password)
      VALUES ('defaults', 'defaults@example.com', 'x')
      RETURNING id > 0, is_active, is_superuser, is_verified,
                created_at = now(), updated_at = now(), last_login_at IS NULL$$,
    $$VALUES (true, true, false, false, true, true, true)$$,
    'an insert of the required columns gets an id and the documented defaults');

--
-- The three indexes of the seed document, each on its own column.
--

SELECT has_index('public', 'users', 'ix_users_id', ARRAY['id']::name[],
    'index ix_users_id is on users(id)');
SELECT has_index('public', 'users', 'ix_users_username', ARRAY['username']::name[],
    'index ix_users_username is on users(username)');
SELECT has_index('public', 'users', 'ix_users_email', ARRAY['email']::name[],
    'index ix_users_email is on users(email)');
SELECT results_eq(
    $$SELECT c.relname::text COLLATE "default", i.indisunique
        FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
       WHERE i.indrelid = 'public.users'::regclass AND c.relname LIKE 'ix\_users\_%'
       ORDER BY 1$$,
    $$VALUES ('ix_users_email'::text, false), ('ix_users_id', false), ('ix_users_username', false)$$,
    'the ix_users_* indexes are exactly three plain (non-unique) indexes');

--
-- Downgrade: drops the table (and with it its sequence).
--

SELECT results_eq(
    'SELECT revision, message FROM dbmigrate.migrate_downgrade(1)',
    $$VALUES ('001_initial_migration'::text, 'Initial migration'::text)$$,
    'migrate_downgrade(1) undoes 001_initial_migration');
SELECT hasnt_table('public'::name, 'users'::name,
    'after migrate_downgrade(1) table users is gone');
SELECT hasnt_sequence('public'::name, 'users_id_seq'::name,
    'after migrate_downgrade(1) sequence users_id_seq is gone too');
SELECT is_empty('SELECT * FROM dbmigrate.migrate_current()',
    'after migrate_downgrade(1) the database is at base');

--
-- The table lands in the caller's current schema: with search_path set to a
-- fresh schema first, the upgrade creates users (and its sequence and
-- indexes) there and nothing in public.
--

CREATE SCHEMA tap_users_app;
SET LOCAL search_path = tap_users_app, public;

SELECT results_eq(
    'SELECT revision FROM dbmigrate.migrate_upgrade()',
    ARRAY['001_initial_migration'],
    'upgrading again with search_path = tap_users_app, public runs 001_initial_migration');
SELECT has_table('tap_users_app'::name, 'users'::name,
    'users is created in the caller''s current schema tap_users_app');
SELECT hasnt_table('public'::name, 'users'::name,
    'users is not created in public when public is not the current schema');
SELECT has_index('tap_users_app', 'users', 'ix_users_email', ARRAY['email']::name[],
    'the indexes follow the table into tap_users_app');
SELECT is(pg_catalog.pg_get_serial_sequence('tap_users_app.users', 'id'),
    'tap_users_app.users_id_seq',
    'the SERIAL sequence follows the table into tap_users_app');
SELECT results_eq(
    'SELECT revision FROM dbmigrate.migrate_downgrade(1)',
    ARRAY['001_initial_migration'],
    'the downgrade under the same search_path undoes 001_initial_migration');
SELECT hasnt_table('tap_users_app'::name, 'users'::name,
    'the downgrade drops users from the schema search_path finds');

SELECT * FROM finish();
ROLLBACK;

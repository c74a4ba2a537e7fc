-- test/seed_users.sql
--
-- seed_users() (SPEC.md section 5, CASES.md BC-20): inserts the reference
-- application's four accounts idempotently into the "users" table that the
-- caller's search_path finds, storing only bcrypt hashes (cost >= 10) that
-- verify with crypt(); reset => true deletes the seeded accounts and inserts
-- them afresh; without a users table it fails with 42P01 and a hint to run
-- migrate_upgrade() first.  The WARNING about well-known passwords is not
-- checked here (pgTAP cannot see warnings); client_min_messages hides it.

\set ON_ERROR_STOP true
\set QUIET true

BEGIN;

SET LOCAL client_min_messages = error;
SET LOCAL search_path = public;

CREATE EXTENSION dbmigrate CASCADE;

SELECT plan(49);

-- error_hint(sql): the HINT of the error sql raises (NULL if it succeeds)
CREATE FUNCTION pg_temp.error_hint(sql text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    hint text;
BEGIN
    EXECUTE sql;
    RETURN NULL;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS hint = PG_EXCEPTION_HINT;
    RETURN hint;
END
$$;

-- crypt() of pgcrypto, wherever CASCADE installed it
CREATE FUNCTION pg_temp.verifies(password text, hashed text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    nsp text;
    ok boolean;
BEGIN
    SELECT n.nspname INTO nsp FROM pg_catalog.pg_extension e
      JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pgcrypto';
    EXECUTE format('SELECT %I.crypt($1, $2) = $2', nsp) INTO ok USING password, hashed;
    RETURN ok;
END
$$;

--
-- Without a users table: 42P01 with a hint to run migrate_upgrade() first,
-- and nothing else happens.
--

SELECT throws_ok('SELECT dbmigrate.seed_users()', '42P01', NULL,
    'seed_users() before any upgrade fails with 42P01 (no users table)');
SELECT matches(pg_temp.error_hint('SELECT dbmigrate.seed_users()'), 'migrate_upgrade',
    'the 42P01 error hints at running migrate_upgrade() first');
SELECT throws_ok('SELECT dbmigrate.seed_users(reset => true)', '42P01', NULL,
    'seed_users(reset => true) without a users table fails with 42P01 as well');

--
-- Create the table in a schema of our own (001_initial_migration puts it in
-- the caller's current schema) and seed it.
--

CREATE SCHEMA tap_seed;
SET LOCAL search_path = tap_seed, public;

SELECT results_eq('SELECT revision FROM dbmigrate.migrate_upgrade()',
    ARRAY['001_initial_migration'],
    'migrate_upgrade() creates users in tap_seed (the current schema)');

SELECT is(dbmigrate.seed_users(), 4, 'the first seed_users() inserts 4 accounts');
SELECT is(dbmigrate.seed_users(), 0, 'a second seed_users() inserts nothing (idempotent)');
SELECT is(dbmigrate.seed_users(NULL), 0, 'seed_users(NULL) behaves as reset => false');
SELECT is((SELECT count(*)::int FROM tap_seed.users), 4,
    'after three calls users holds exactly 4 rows');

SELECT results_eq(
    $$SELECT username::text, email::text, is_superuser, is_active
        FROM tap_seed.users ORDER BY username$$,
    $$VALUES ('admin'::text, 'admin@example.com'::text, true, true),
             ('developer', 'developer@example.com', false, true),
             ('testuser1', 'testuser1@example.com', false, true),
             ('testuser2', 'testuser2@example.com', false, true)$$,
    'the four accounts, their emails <username>@example.com, only admin a superuser, all active');

--
-- Passwords: only bcrypt hashes ($2a$/$2b$, cost >= 10) are stored, each
-- verifies with crypt(password, hash) = hash, and a wrong password does not.
--

SELECT ok(pg_temp.verifies('admin123456', hashed_password),
    'admin''s hash verifies admin123456')
  FROM tap_seed.users WHERE username = 'admin';
SELECT ok(pg_temp.verifies('testpass123', hashed_password),
    'testuser1''s hash verifies testpass123')
  FROM tap_seed.users WHERE username = 'testuser1';
SELECT ok(pg_temp.verifies('testpass123', hashed_password),
    'testuser2''s hash verifies testpass123')
  FROM tap_seed.users WHERE username = 'testuser2';
SELECT ok(pg_temp.verifies('devpass123', hashed_password),
    'developer''s hash verifies devpass123')
  FROM tap_seed.users WHERE username = 'developer';
SELECT ok(NOT pg_temp.verifies('admin12345', hashed_password),
    'admin''s hash does not verify a wrong password (admin12345)')
  FROM tap_seed.users WHERE username = 'admin';
SELECT ok(NOT pg_temp.verifies('testpass123', hashed_password),
    'developer''s hash does not verify another account''s password (testpass123)')
  FROM tap_seed.users WHERE username = 'developer';
SELECT ok(NOT pg_temp.verifies('', hashed_password),
    'testuser1''s hash does not verify the empty password')
  FROM tap_seed.users WHERE username = 'testuser1';

SELECT is_empty(
    $$SELECT username FROM tap_seed.users
       WHERE hashed_password !~ '^\$2[ab]\$(1[0-9]|[2-9][0-9])\$[./A-Za-z0-9]{53}$'$$,
    'every hash is a 60-character bcrypt string $2a$/$2b$ with cost >= 10');
SELECT is_empty(
    $$SELECT username FROM tap_seed.users
       WHERE hashed_password IN ('admin123456', 'testpass123', 'devpass123')
          OR strpos(hashed_password, 'pass123') > 0 OR strpos(hashed_password, 'admin123456') > 0$$,
    'no hashed_password equals or contains a plain password');
SELECT isnt(
    (SELECT hashed_password FROM tap_seed.users WHERE username = 'testuser1'),
    (SELECT hashed_password FROM tap_seed.users WHERE username = 'testuser2'),
    'testuser1 and testuser2 share a password but not a hash (each has its own salt)');

--
-- reset => true deletes the seeded accounts and inserts them afresh (new ids,
-- new salts), and leaves every other user's row untouched.
--

INSERT INTO tap_seed.users (username, email, hashed_password, full_name)
VALUES ('alice', 'alice@corp.example', 'not-a-real-hash', 'Alice');

CREATE TEMP TABLE before_reset ON COMMIT DROP AS
SELECT id, username::text AS username, hashed_password::text AS hashed_password,
       full_name::text AS full_name, created_at, updated_at
  FROM tap_seed.users;

SELECT is(dbmigrate.seed_users(reset => true), 4, 'seed_users(reset => true) returns 4');
SELECT is((SELECT count(*)::int FROM tap_seed.users), 5,
    'after the reset users holds the 4 seeded accounts plus alice');
SELECT is_empty(
    $$SELECT u.id FROM tap_seed.users u JOIN before_reset b ON b.id = u.id
       WHERE u.username <> 'alice'$$,
    'every re-inserted seed account has a new id');
SELECT is_empty(
    $$SELECT u.username FROM tap_seed.users u JOIN before_reset b ON b.username = u.username
       WHERE u.username <> 'alice' AND u.hashed_password = b.hashed_password$$,
    'every re-inserted seed account has a new hash (new salt)');
SELECT results_eq(
    $$SELECT id, username::text, hashed_password::text, full_name::text, created_at, updated_at
        FROM tap_seed.users WHERE username = 'alice'$$,
    $$SELECT id, username, hashed_password, full_name, created_at, updated_at
        FROM before_reset WHERE username = 'alice'$$,
    'the reset leaves alice''s row exactly as it was');
SELECT ok(
    (SELECT bool_and(pg_temp.verifies(
                CASE username WHEN 'admin' THEN 'admin123456'
                              WHEN 'developer' THEN 'devpass123'
                              ELSE 'testpass123' END, hashed_password))
       FROM tap_seed.users WHERE username <> 'alice'),
    'after the reset every seeded password verifies again');
SELECT results_eq(
    $$SELECT username::text, email::text, is_superuser FROM tap_seed.users
       WHERE username <> 'alice' ORDER BY username$$,
    $$VALUES ('admin'::text, 'admin@example.com'::text, true),
             ('developer', 'developer@example.com', false),
             ('testuser1', 'testuser1@example.com', false),
             ('testuser2', 'testuser2@example.com', false)$$,
    'after the reset the seeded accounts have the same usernames, emails and flags');
SELECT is(dbmigrate.seed_users(), 0, 'seed_users() right after a reset inserts nothing');

--
-- An account whose username and email were both changed by the application
-- no longer counts as a seeded account (the seed looks for the username or
-- the email): the next call creates admin again and keeps the renamed row.
--

UPDATE tap_seed.users SET username = 'admin_renamed', email = 'root@corp.example'
 WHERE username = 'admin';
SELECT is(dbmigrate.seed_users(), 1,
    'after admin was renamed (new username and email) seed_users() inserts admin again');
SELECT is((SELECT count(*)::int FROM tap_seed.users WHERE username IN ('admin', 'admin_renamed')), 2,
    'the renamed account is kept beside the re-created admin');

--
-- An existing user with the same email but a different username blocks that
-- account: it is skipped, without an error, and the other row is untouched.
--

DELETE FROM tap_seed.users WHERE username = 'developer';
INSERT INTO tap_seed.users (username, email, hashed_password)
VALUES ('dev_squatter', 'developer@example.com', 'squatter-hash');

SELECT lives_ok('SELECT dbmigrate.seed_users()',
    'seed_users() does not fail when another user owns developer@example.com');
SELECT is_empty($$SELECT 1 FROM tap_seed.users WHERE username = 'developer'$$,
    'developer is not inserted while another user holds its email');
SELECT results_eq(
    $$SELECT username::text, hashed_password::text FROM tap_seed.users
       WHERE email = 'developer@example.com'$$,
    $$VALUES ('dev_squatter'::text, 'squatter-hash'::text)$$,
    'the user holding developer@example.com is left untouched');
SELECT is(dbmigrate.seed_users(), 0,
    'seed_users() keeps returning 0 while the email is taken');

-- reset deletes the seeded accounts by username only: the squatter is not a
-- seeded account, so it stays, and developer is still blocked (3 inserted).
SELECT is(dbmigrate.seed_users(reset => true), 3,
    'seed_users(reset => true) re-inserts admin, testuser1, testuser2 and still skips developer');
SELECT results_eq(
    $$SELECT username::text FROM tap_seed.users ORDER BY username$$,
    ARRAY['admin', 'admin_renamed', 'alice', 'dev_squatter', 'testuser1', 'testuser2'],
    'after that reset the table holds the seeded accounts and the three other users');

-- The same for a username held with another email: the account is skipped.
DELETE FROM tap_seed.users WHERE username = 'dev_squatter';
UPDATE tap_seed.users SET email = 'tester.one@corp.example' WHERE username = 'testuser1';
SELECT is(dbmigrate.seed_users(), 1,
    'with developer''s email free again only developer is inserted');
SELECT is((SELECT email::text FROM tap_seed.users WHERE username = 'testuser1'),
    'tester.one@corp.example',
    'testuser1 with a changed email is neither duplicated nor overwritten');
SELECT is((SELECT count(*)::int FROM tap_seed.users WHERE username = 'testuser1'), 1,
    'there is still exactly one testuser1');

--
-- search_path decides which users table is seeded.
--

-- a users table that search_path does not reach is not used
SET LOCAL search_path = public;
SELECT throws_ok('SELECT dbmigrate.seed_users()', '42P01', NULL,
    'with search_path = public, tap_seed.users is not found: 42P01');

-- the first users table on search_path wins
CREATE SCHEMA tap_seed_other;
CREATE TABLE tap_seed_other.users (LIKE tap_seed.users INCLUDING ALL);
SET LOCAL search_path = tap_seed_other, tap_seed, public;

CREATE TEMP TABLE tap_seed_count ON COMMIT DROP AS
SELECT count(*)::int AS n FROM tap_seed.users;

SELECT is(dbmigrate.seed_users(), 4,
    'with tap_seed_other first on search_path the 4 accounts go into tap_seed_other.users');
SELECT results_eq(
    $$SELECT username::text FROM tap_seed_other.users ORDER BY username$$,
    ARRAY['admin', 'developer', 'testuser1', 'testuser2'],
    'tap_seed_other.users holds exactly the four seeded accounts');
SELECT is((SELECT count(*)::int FROM tap_seed.users), (SELECT n FROM tap_seed_count),
    'tap_seed.users, later on search_path, is not touched');
SELECT is(dbmigrate.seed_users(reset => true), 4,
    'a reset under this search_path re-seeds tap_seed_other.users');
SELECT is((SELECT count(*)::int FROM tap_seed.users), (SELECT n FROM tap_seed_count),
    'the reset does not delete from tap_seed.users either');

-- a temporary table named users shadows the others, as for any query
CREATE TEMP TABLE users (LIKE tap_seed.users INCLUDING DEFAULTS) ON COMMIT DROP;
SELECT is(dbmigrate.seed_users(), 4,
    'a temporary users table (pg_temp is searched first) is the one seeded');
SELECT is((SELECT count(*)::int FROM pg_temp.users), 4,
    'the temporary users table holds the 4 accounts');

--
-- The seed does not touch dbmigrate's own state.
--

SELECT results_eq('SELECT * FROM dbmigrate.migrate_current()',
    ARRAY['001_initial_migration'],
    'seed_users() leaves the current revision unchanged');
SELECT is_empty(
    $$SELECT 1 FROM dbmigrate.migrate_log() WHERE operation <> 'upgrade' OR revision <> '001_initial_migration'$$,
    'seed_users() writes nothing to the migration log');
SELECT is_empty('SELECT * FROM dbmigrate.migrate_validate()',
    'migrate_validate() is still clean after seeding');

SELECT * FROM finish();
ROLLBACK;

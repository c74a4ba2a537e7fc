--
-- Every public function under a search_path that puts a hostile schema
-- first (issue: "No escalation through seed_users()").  A deployer with
-- CREATE on public plants a domain "text", an enum "name", an enum "text"
-- with a cast, operators =, || and ~, and functions lower, format and now;
-- each of them records its call and tries to make the deployer superuser.
-- A superuser then calls every dbmigrate function with that search_path.
-- Nothing hostile may run, nobody becomes superuser, nothing crashes.
--
SET client_min_messages = warning;
CREATE EXTENSION dbmigrate CASCADE;
SELECT count(*) FROM dbmigrate.migrate_upgrade();   -- users, with the usual search_path

CREATE ROLE hsp_deployer;
GRANT CREATE, USAGE ON SCHEMA public TO hsp_deployer;
CREATE SCHEMA hostile AUTHORIZATION hsp_deployer;
CREATE SCHEMA hostile2 AUTHORIZATION hsp_deployer;
CREATE TABLE public.hsp_calls (what pg_catalog.text, by_role pg_catalog.text);
GRANT INSERT, SELECT ON public.hsp_calls TO PUBLIC;

SET ROLE hsp_deployer;
CREATE FUNCTION hostile.evil(what pg_catalog.text) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    INSERT INTO public.hsp_calls VALUES (what, current_user);
    BEGIN
        EXECUTE 'ALTER ROLE hsp_deployer SUPERUSER';
    EXCEPTION WHEN others THEN NULL;
    END;
    RETURN true;
END $$;
CREATE DOMAIN hostile.text AS pg_catalog.text CHECK (hostile.evil('domain text'));
CREATE TYPE hostile.name AS ENUM ('admin', 'dbmigrate', 'pgcrypto');
CREATE FUNCTION hostile.eq(pg_catalog.text, pg_catalog.text) RETURNS boolean
    LANGUAGE sql AS $$ SELECT hostile.evil('operator =') $$;
CREATE OPERATOR hostile.= (LEFTARG = pg_catalog.text, RIGHTARG = pg_catalog.text, FUNCTION = hostile.eq);
CREATE FUNCTION hostile.eqn(pg_catalog.name, pg_catalog.name) RETURNS boolean
    LANGUAGE sql AS $$ SELECT hostile.evil('operator = on name') $$;
CREATE OPERATOR hostile.= (LEFTARG = pg_catalog.name, RIGHTARG = pg_catalog.name, FUNCTION = hostile.eqn);
CREATE FUNCTION hostile.cat(pg_catalog.text, pg_catalog.text) RETURNS pg_catalog.text
    LANGUAGE sql AS $$ SELECT CASE WHEN hostile.evil('operator ||') THEN $1 END $$;
CREATE OPERATOR hostile.|| (LEFTARG = pg_catalog.text, RIGHTARG = pg_catalog.text, FUNCTION = hostile.cat);
CREATE FUNCTION hostile.re(pg_catalog.text, pg_catalog.text) RETURNS boolean
    LANGUAGE sql AS $$ SELECT hostile.evil('operator ~') $$;
CREATE OPERATOR hostile.~ (LEFTARG = pg_catalog.text, RIGHTARG = pg_catalog.text, FUNCTION = hostile.re);
CREATE FUNCTION hostile.lower(pg_catalog.text) RETURNS pg_catalog.text
    LANGUAGE sql AS $$ SELECT CASE WHEN hostile.evil('lower') THEN $1 END $$;
CREATE FUNCTION hostile.format(pg_catalog.text) RETURNS pg_catalog.text
    LANGUAGE sql AS $$ SELECT CASE WHEN hostile.evil('format') THEN $1 END $$;
CREATE FUNCTION hostile.now() RETURNS timestamptz
    LANGUAGE sql AS $$ SELECT CASE WHEN hostile.evil('now') THEN pg_catalog.now() END $$;
-- the variant that crashed the server: an enum named text, reachable by a cast from name
CREATE TYPE hostile2.text AS ENUM ('pgcrypto', 'public', 'dbmigrate');
CREATE FUNCTION hostile2.to_text(pg_catalog.name) RETURNS hostile2.text
    LANGUAGE sql AS $$ SELECT CASE WHEN hostile.evil('cast name to enum text') THEN 'public'::hostile2.text END $$;
CREATE CAST (pg_catalog.name AS hostile2.text) WITH FUNCTION hostile2.to_text(pg_catalog.name) AS IMPLICIT;
-- the attack of the report, verbatim in spirit: a domain public.text
CREATE DOMAIN public.text AS pg_catalog.text CHECK (hostile.evil('public.text domain'));
RESET ROLE;

-- sanity: the trap works when a query does resolve through it
SET search_path = hostile, public, pg_catalog;
SELECT 'a'::text = 'a'::text AS trap_works;
RESET search_path;
SELECT what FROM public.hsp_calls ORDER BY 1;
DELETE FROM public.hsp_calls;
ALTER ROLE hsp_deployer NOSUPERUSER;

-- every public function, as a superuser, with the hostile schemas first
SET search_path = hostile, hostile2, public, pg_catalog;
SELECT dbmigrate.migrate_register('h1', '001_initial_migration', 'SELECT 1', 'SELECT 2', 'one');
SELECT dbmigrate.migrate_register('h2', ARRAY['h1'], 'SELECT 1', 'SELECT 2', 'two');
SELECT dbmigrate.migrate_register('h3', 'h1', 'SELECT 1', 'SELECT 2', 'three');
SELECT dbmigrate.migrate_merge('{heads}', 'merge') IS NOT NULL AS merged;
SELECT dbmigrate.migrate_revision('rev', 'SELECT 3', 'SELECT 4') IS NOT NULL AS revision;
SELECT count(*) FROM dbmigrate.migrate_upgrade();
SELECT count(*) FROM dbmigrate.migrate_downgrade(1);
SELECT count(*) FROM dbmigrate.migrate_downgrade('h1');
SELECT count(*) FROM dbmigrate.migrate_upgrade('heads');
SELECT dbmigrate.migrate_stamp('h1');
SELECT dbmigrate.migrate_stamp('heads');
SELECT count(*) FROM dbmigrate.migrate_current();
SELECT count(*) FROM dbmigrate.migrate_heads();
SELECT count(*) FROM dbmigrate.migrate_history();
SELECT count(*) FROM dbmigrate.migrate_history(verbose => true);
SELECT revision FROM dbmigrate.migrate_show('h1');
SELECT count(*) FROM dbmigrate.migrate_log();
SELECT count(*) FROM dbmigrate.migrate_validate();
SELECT dbmigrate.health() ->> 'status' AS status;
SELECT dbmigrate.seed_users();
SELECT dbmigrate.seed_users(reset => true);
SELECT dbmigrate.seed_users();
SELECT count(*) FROM dbmigrate.migrate_downgrade('h1');
SELECT dbmigrate.migrate_unregister(r) FROM dbmigrate.migrate_heads() AS r WHERE r <> 'h2';
RESET search_path;

-- nothing hostile ran, nobody was promoted
SELECT what, by_role FROM public.hsp_calls ORDER BY 1;
SELECT rolsuper FROM pg_roles WHERE rolname = 'hsp_deployer';
SELECT username FROM public.users ORDER BY id;

--
-- A users table its owner booby-trapped: seed_users() writes as the table's
-- owner under a restricted operation, so a trigger the owner planted runs
-- with the owner's rights, not the superuser caller's.
--
SET client_min_messages = warning;
CREATE SCHEMA hsp_app AUTHORIZATION hsp_deployer;
SET ROLE hsp_deployer;
CREATE TABLE hsp_app.users (
    id serial PRIMARY KEY, username varchar(50) UNIQUE NOT NULL, email varchar(100) UNIQUE NOT NULL,
    hashed_password varchar(255) NOT NULL, full_name varchar(100),
    is_active boolean, is_superuser boolean, is_verified boolean);
CREATE FUNCTION hsp_app.trap() RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    PERFORM hostile.evil('trigger on users');
    RETURN NEW;
END $$;
CREATE TRIGGER trap BEFORE INSERT ON hsp_app.users FOR EACH ROW EXECUTE FUNCTION hsp_app.trap();
RESET ROLE;
SET search_path = hsp_app, pg_catalog;
SELECT dbmigrate.seed_users();
RESET search_path;
-- the trigger ran four times, as its owner, and could not promote anybody
SELECT what, by_role, count(*) FROM public.hsp_calls GROUP BY 1, 2 ORDER BY 1;
SELECT rolsuper FROM pg_roles WHERE rolname = 'hsp_deployer';
SELECT username FROM hsp_app.users ORDER BY id;

-- a deferrable trigger would fire at COMMIT with the caller's rights: refused
SET ROLE hsp_deployer;
CREATE CONSTRAINT TRIGGER later AFTER INSERT ON hsp_app.users DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION hsp_app.trap();
RESET ROLE;
SET search_path = hsp_app, pg_catalog;
SELECT dbmigrate.seed_users(reset => true);
RESET search_path;

-- the caller's own privileges still bound what seed_users() may do
CREATE ROLE hsp_runner;
GRANT USAGE ON SCHEMA dbmigrate, hsp_app TO hsp_runner;
GRANT EXECUTE ON FUNCTION dbmigrate.seed_users(boolean) TO hsp_runner;
GRANT SELECT ON hsp_app.users TO hsp_runner;
SET ROLE hsp_runner;
SET search_path = hsp_app;
SELECT dbmigrate.seed_users();
RESET search_path;
RESET ROLE;

-- a "users" that is a view, or a table of another shape: clear errors
CREATE SCHEMA hsp_other;
CREATE TABLE hsp_other.users_base (LIKE hsp_app.users);
CREATE VIEW hsp_other.users AS SELECT * FROM hsp_other.users_base;
CREATE RULE ins AS ON INSERT TO hsp_other.users DO INSTEAD NOTHING;
SET search_path = hsp_other;
SELECT dbmigrate.seed_users();
\echo :LAST_ERROR_SQLSTATE
RESET search_path;
DROP VIEW hsp_other.users;
CREATE TABLE hsp_other.users (id int, username text);
SET search_path = hsp_other;
SELECT dbmigrate.seed_users();
\echo :LAST_ERROR_SQLSTATE
RESET search_path;
DROP SCHEMA hsp_other CASCADE;

DROP SCHEMA hsp_app CASCADE;
DROP EXTENSION dbmigrate;
DROP TABLE public.users;
DROP SCHEMA hostile, hostile2 CASCADE;
DROP DOMAIN public.text;
DROP TABLE public.hsp_calls;
REVOKE ALL ON SCHEMA public FROM hsp_deployer;
DROP OWNED BY hsp_runner;
DROP ROLE hsp_runner;
DROP ROLE hsp_deployer;

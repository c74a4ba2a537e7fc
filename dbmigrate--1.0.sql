/* dbmigrate--1.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION dbmigrate CASCADE" to load this file. \quit

--
-- Tables.  All of them are owner-only; dbmigrate's functions reach them as
-- the extension owner for bookkeeping and run migration SQL as the caller.
--

CREATE TABLE dbmigrate.revision (
    revision        text        NOT NULL,
    down_revisions  text[]      NOT NULL DEFAULT '{}',
    message         text,
    upgrade_sql     text        NOT NULL,
    downgrade_sql   text,
    checksum        text        NOT NULL,
    registered_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    registered_by   name        NOT NULL DEFAULT session_user,
    seq             bigserial   NOT NULL,
    is_head         boolean     NOT NULL DEFAULT true,
    builtin         boolean     NOT NULL DEFAULT false,
    CONSTRAINT revision_pkey PRIMARY KEY (revision),
    CONSTRAINT revision_seq_key UNIQUE (seq),
    CONSTRAINT revision_checksum_check CHECK (checksum OPERATOR(pg_catalog.~) '^[0-9a-f]{64}$'),
    CONSTRAINT revision_id_check CHECK (pg_catalog.length(revision) BETWEEN 1 AND 255)
);
CREATE INDEX revision_head_idx ON dbmigrate.revision (seq) WHERE is_head;
CREATE INDEX revision_down_revisions_idx ON dbmigrate.revision USING gin (down_revisions)
    WITH (fastupdate = off);

COMMENT ON TABLE dbmigrate.revision IS
'One row per registered revision (Alembic revision file). down_revisions = parents ({} = root); '
'downgrade_sql NULL = irreversible; checksum = sha256 over the stored text; seq = registration order, '
'always topological; is_head and builtin are maintained by dbmigrate. Change it only through '
'migrate_register / migrate_merge / migrate_unregister.';

CREATE TABLE dbmigrate.version (
    revision text NOT NULL,
    CONSTRAINT version_pkey PRIMARY KEY (revision)
);

COMMENT ON TABLE dbmigrate.version IS
'The applied heads, like alembic_version: no rows = base, several rows = several branches applied.';

CREATE TABLE dbmigrate.log (
    id          bigserial   NOT NULL,
    revision    text        NOT NULL,
    operation   text        NOT NULL,
    started_at  timestamptz NOT NULL,
    duration    interval    NOT NULL,
    run_by      name        NOT NULL DEFAULT session_user,
    pid         integer     NOT NULL DEFAULT pg_catalog.pg_backend_pid(),
    checksum    text,
    CONSTRAINT log_pkey PRIMARY KEY (id),
    CONSTRAINT log_operation_check CHECK (operation IN ('upgrade', 'downgrade', 'stamp'))
);
CREATE INDEX log_revision_idx ON dbmigrate.log (revision, id);

COMMENT ON TABLE dbmigrate.log IS
'Append-only: one row per executed step (upgrade, downgrade, stamp), with who ran it, when, '
'for how long, and the checksum of the text that ran (NULL for a stamp that un-applies a revision).';

CREATE TABLE dbmigrate.builtin_override (
    revision text NOT NULL,
    CONSTRAINT builtin_override_pkey PRIMARY KEY (revision)
);

COMMENT ON TABLE dbmigrate.builtin_override IS
'Revisions that this script registers (001_initial_migration) but the user redefined or '
'unregistered; on restore, a row here removes the copy CREATE EXTENSION registered.';

-- pg_dump keeps the user's rows; the script's own revision is filtered out
-- because CREATE EXTENSION registers it again on restore.
SELECT pg_catalog.pg_extension_config_dump('dbmigrate.revision', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('dbmigrate.revision_seq_seq', '');
SELECT pg_catalog.pg_extension_config_dump('dbmigrate.version', '');
SELECT pg_catalog.pg_extension_config_dump('dbmigrate.log', '');
SELECT pg_catalog.pg_extension_config_dump('dbmigrate.log_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('dbmigrate.builtin_override', '');

REVOKE ALL ON TABLE dbmigrate.revision, dbmigrate.version, dbmigrate.log,
    dbmigrate.builtin_override FROM PUBLIC;
REVOKE ALL ON SEQUENCE dbmigrate.revision_seq_seq, dbmigrate.log_id_seq FROM PUBLIC;

--
-- Triggers that keep the tables consistent, including during pg_restore.
--

CREATE FUNCTION dbmigrate.revision_mark_parents() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off
AS $$
BEGIN
    UPDATE dbmigrate.revision r SET is_head = false
     WHERE r.revision OPERATOR(pg_catalog.=) ANY (ARRAY(
               SELECT pg_catalog.unnest(n.down_revisions) FROM new_revisions n))
       AND r.is_head;
    RETURN NULL;
END
$$;
CREATE TRIGGER revision_mark_parents AFTER INSERT ON dbmigrate.revision
    REFERENCING NEW TABLE AS new_revisions
    FOR EACH STATEMENT EXECUTE FUNCTION dbmigrate.revision_mark_parents();

CREATE FUNCTION dbmigrate.revision_replace_builtin() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM dbmigrate.revision
     WHERE revision OPERATOR(pg_catalog.=) NEW.revision AND builtin;
    RETURN NEW;
END
$$;
CREATE TRIGGER revision_replace_builtin BEFORE INSERT ON dbmigrate.revision
    FOR EACH ROW WHEN (NOT NEW.builtin AND NEW.revision = '001_initial_migration')
    EXECUTE FUNCTION dbmigrate.revision_replace_builtin();

CREATE FUNCTION dbmigrate.builtin_override_apply() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM dbmigrate.revision
     WHERE revision OPERATOR(pg_catalog.=) NEW.revision AND builtin;
    RETURN NULL;
END
$$;
CREATE TRIGGER builtin_override_apply AFTER INSERT ON dbmigrate.builtin_override
    FOR EACH ROW EXECUTE FUNCTION dbmigrate.builtin_override_apply();

CREATE FUNCTION dbmigrate.log_append_only() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = '55000',
        MESSAGE = 'dbmigrate.log is append-only',
        DETAIL = format('%s on dbmigrate.log was refused.', TG_OP),
        HINT = 'The log is the audit trail of what ran; to prune it, disable the trigger log_append_only deliberately.';
END
$$;
CREATE TRIGGER log_append_only BEFORE UPDATE OR DELETE ON dbmigrate.log
    FOR EACH STATEMENT EXECUTE FUNCTION dbmigrate.log_append_only();
CREATE TRIGGER log_no_truncate BEFORE TRUNCATE ON dbmigrate.log
    FOR EACH STATEMENT EXECUTE FUNCTION dbmigrate.log_append_only();

COMMENT ON FUNCTION dbmigrate.revision_mark_parents() IS
'Trigger (AFTER INSERT, per statement) on dbmigrate.revision: clears is_head on the parents of the '
'inserted revisions, also while pg_restore loads the table. Not callable directly.';
COMMENT ON FUNCTION dbmigrate.revision_replace_builtin() IS
'Trigger (BEFORE INSERT) on dbmigrate.revision: a restored user row of 001_initial_migration replaces '
'the copy CREATE EXTENSION registered. Not callable directly.';
COMMENT ON FUNCTION dbmigrate.builtin_override_apply() IS
'Trigger (AFTER INSERT) on dbmigrate.builtin_override: removes the install script''s copy of a revision '
'the user redefined or unregistered. Not callable directly.';
COMMENT ON FUNCTION dbmigrate.log_append_only() IS
'Trigger on dbmigrate.log: refuses UPDATE, DELETE and TRUNCATE with SQLSTATE 55000. Not callable directly.';

REVOKE ALL ON FUNCTION dbmigrate.revision_mark_parents(), dbmigrate.revision_replace_builtin(),
    dbmigrate.builtin_override_apply(), dbmigrate.log_append_only() FROM PUBLIC;

--
-- Registering revisions
--

CREATE FUNCTION dbmigrate.migrate_register(revision text, down_revision text, upgrade_sql text,
                                           downgrade_sql text DEFAULT NULL, message text DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'dbmigrate_migrate_register'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION dbmigrate.migrate_register(text, text, text, text, text) IS
'Alembic revision file: registers revision with parent down_revision (NULL = root), upgrade_sql, '
'downgrade_sql (NULL = irreversible, '''' = explicit no-op) and message; returns the id. Identical '
're-registration is a no-op; a not-yet-applied revision may be redefined. Checked now, not at '
'deploy: 22004 null, 42602/42939/42622 bad id, 22023 comma in down_revision, 23503 unknown parent, '
'42P17 self/redundant parent, 42601 syntax, 2D000 transaction control, 25001 non-transactional '
'statement, 0A000 COPY STDIN, 42710 applied revision changed, 2BP01 parents changed under children.';

CREATE FUNCTION dbmigrate.migrate_register(revision text, down_revisions text[], upgrade_sql text,
                                           downgrade_sql text DEFAULT NULL, message text DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'dbmigrate_migrate_register_merge'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION dbmigrate.migrate_register(text, text[], text, text, text) IS
'Like migrate_register(text, text, ...) with several parents: a merge revision with its own id '
'and SQL ({} = root). Same errors, plus 42P17 when one parent is an ancestor of another.';

CREATE FUNCTION dbmigrate.migrate_revision(message text, upgrade_sql text, downgrade_sql text DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'dbmigrate_migrate_revision'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION dbmigrate.migrate_revision(text, text, text) IS
'alembic revision -m: registers a revision with a generated 12-hex-digit id whose parent is the '
'single head (a root on an empty graph); returns the id. 21000 when the graph has several heads '
'(hint: migrate_merge), plus migrate_register''s errors.';

CREATE FUNCTION dbmigrate.migrate_merge(revisions text[], message text DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'dbmigrate_migrate_merge'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION dbmigrate.migrate_merge(text[], text) IS
'alembic merge: registers a revision with empty SQL whose parents are the given revisions (ids, '
'unique prefixes, or ''heads'' for every head); the id is the first 12 hex digits of sha256 over '
'the sorted parents, so the same merge is idempotent and has the same id everywhere. Errors: '
'22004, 22023 fewer than two, 42704 unknown, 21000 ambiguous prefix, 42P17 redundant parent.';

CREATE FUNCTION dbmigrate.migrate_unregister(revision text)
RETURNS void
AS 'MODULE_PATHNAME', 'dbmigrate_migrate_unregister'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION dbmigrate.migrate_unregister(text) IS
'Removes a registered revision that is not applied and has no children. Errors: 22004, '
'42704 not registered, 2BP01 has children, 55006 applied.';

--
-- Running revisions
--

CREATE FUNCTION dbmigrate.migrate_upgrade(target text DEFAULT 'head')
RETURNS TABLE(revision text, message text, duration interval)
AS 'MODULE_PATHNAME', 'dbmigrate_migrate_upgrade'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION dbmigrate.migrate_upgrade(text) IS
'alembic upgrade: applies every revision target needs that is not applied, parents first, ties in '
'registration order, all in the caller''s transaction; returns one row per step run (duration = '
'wall time). Targets: head, heads, id, unique prefix (>= 4 chars), +N, <rev>+N. Errors: 22004, '
'21000 several heads / ambiguous prefix or move, 42704 unknown, 22023 bad target, 25000 '
'REPEATABLE READ or SERIALIZABLE, 55P03 lock timeout, and any error of a step''s SQL (context '
'names the revision and direction).';

CREATE FUNCTION dbmigrate.migrate_downgrade(steps integer DEFAULT 1)
RETURNS TABLE(revision text, message text, duration interval)
AS 'MODULE_PATHNAME', 'dbmigrate_migrate_downgrade'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION dbmigrate.migrate_downgrade(integer) IS
'alembic downgrade -N: undoes the current revision steps times; returns one row per step. '
'Errors: 22004, 22023 steps < 1 or more than applied, 21000 several current heads, 55000 an '
'irreversible revision on the path (checked before anything runs), 25000, 55P03, step errors.';

CREATE FUNCTION dbmigrate.migrate_downgrade(target text)
RETURNS TABLE(revision text, message text, duration interval)
AS 'MODULE_PATHNAME', 'dbmigrate_migrate_downgrade_to'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION dbmigrate.migrate_downgrade(text) IS
'alembic downgrade <target>: undoes exactly the applied revisions that descend from target '
'(other branches stay applied); base = everything, -N = relative. Errors as migrate_downgrade(integer) '
'plus 42704 unknown and 55000 target not applied.';

CREATE FUNCTION dbmigrate.migrate_stamp(target text)
RETURNS void
AS 'MODULE_PATHNAME', 'dbmigrate_migrate_stamp'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION dbmigrate.migrate_stamp(text) IS
'alembic stamp: makes exactly target current without running SQL (heads = every head, base = '
'none); logs a ''stamp'' row per revision whose applied state changes (checksum NULL when it stops '
'being applied). Errors: 22004, 42704, 21000, 22023, 25000, 55P03.';

--
-- Reading state (no lock, any isolation level)
--

CREATE FUNCTION dbmigrate.migrate_current()
RETURNS SETOF text
AS 'MODULE_PATHNAME', 'dbmigrate_migrate_current'
LANGUAGE C STABLE;

COMMENT ON FUNCTION dbmigrate.migrate_current() IS
'alembic current: the applied heads (no rows at base). Takes no lock. No errors.';

CREATE FUNCTION dbmigrate.migrate_heads()
RETURNS SETOF text
AS 'MODULE_PATHNAME', 'dbmigrate_migrate_heads'
LANGUAGE C STABLE;

COMMENT ON FUNCTION dbmigrate.migrate_heads() IS
'alembic heads: registered revisions without children, in registration order. Takes no lock.';

CREATE FUNCTION dbmigrate.migrate_history(verbose boolean DEFAULT false)
RETURNS TABLE(revision text, down_revisions text[], message text, is_applied boolean,
              is_head boolean, is_current boolean, is_branch_point boolean,
              is_merge_point boolean, applied_at timestamptz, applied_by name,
              registered_at timestamptz, upgrade_sql text, downgrade_sql text, checksum text)
AS 'MODULE_PATHNAME', 'dbmigrate_migrate_history'
LANGUAGE C STABLE;

COMMENT ON FUNCTION dbmigrate.migrate_history(boolean) IS
'alembic history --verbose --indicate-current: every revision, newest first in topological '
'(registration) order, with applied/head/current/branch-point/merge-point flags and when and by '
'whom it was last applied; verbose fills upgrade_sql, downgrade_sql and checksum. Takes no lock.';

CREATE FUNCTION dbmigrate.migrate_show(target text)
RETURNS TABLE(revision text, down_revisions text[], children text[], message text,
              upgrade_sql text, downgrade_sql text, checksum text, is_applied boolean,
              is_head boolean, is_current boolean, registered_at timestamptz,
              registered_by name, applied_at timestamptz)
AS 'MODULE_PATHNAME', 'dbmigrate_migrate_show'
LANGUAGE C STABLE;

COMMENT ON FUNCTION dbmigrate.migrate_show(text) IS
'alembic show: one revision in full, named by id, unique prefix, head or <rev>+N. Errors: 22004, '
'42704 unknown, 21000 ambiguous. Takes no lock.';

CREATE FUNCTION dbmigrate.migrate_log()
RETURNS TABLE(id bigint, revision text, operation text, started_at timestamptz,
              duration interval, run_by name, pid integer, checksum text)
AS 'MODULE_PATHNAME', 'dbmigrate_migrate_log'
LANGUAGE C STABLE;

COMMENT ON FUNCTION dbmigrate.migrate_log() IS
'Every executed step (upgrade, downgrade, stamp) in execution order: who (session_user), when, '
'how long, backend pid, checksum of the text that ran. Takes no lock.';

CREATE FUNCTION dbmigrate.migrate_validate()
RETURNS TABLE(revision text, problem text)
AS 'MODULE_PATHNAME', 'dbmigrate_migrate_validate'
LANGUAGE C STABLE;

COMMENT ON FUNCTION dbmigrate.migrate_validate() IS
'flyway validate: applied revisions whose stored text no longer matches the checksum recorded '
'when they ran (or were registered), and current revisions missing from the graph; no rows = '
'clean. Checksums ignore line endings (CRLF/CR = LF) and trailing whitespace. Takes no lock.';

CREATE FUNCTION dbmigrate.health()
RETURNS jsonb
AS 'MODULE_PATHNAME', 'dbmigrate_health'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION dbmigrate.health() IS
'The database side of the application''s /health endpoint: {status: healthy|pending|unhealthy, '
'database, current: [text], heads: [text], pending: integer, timestamp: ISO-8601 UTC, version, '
'problems: [text]}. unhealthy = migrate_validate() not clean. Takes no lock.';

--
-- The reference application's seed data
--

CREATE FUNCTION dbmigrate.seed_users(reset boolean DEFAULT false)
RETURNS integer
AS 'MODULE_PATHNAME', 'dbmigrate_seed_users'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION dbmigrate.seed_users(boolean) IS
'Inserts the reference application''s accounts (admin superuser, testuser1, testuser2, developer; '
'emails <username>@example.com; bcrypt cost 10 via pgcrypto) into the users table search_path '
'finds, skipping existing ones; returns how many were inserted and warns about their well-known '
'passwords. reset deletes them first. Errors: 42P01 no users table (run migrate_upgrade), 25000, 55P03.';

--
-- Privileges: reading state is public (given USAGE on the schema); changing
-- it is granted by an administrator.
--

REVOKE ALL ON FUNCTION
    dbmigrate.migrate_register(text, text, text, text, text),
    dbmigrate.migrate_register(text, text[], text, text, text),
    dbmigrate.migrate_revision(text, text, text),
    dbmigrate.migrate_merge(text[], text),
    dbmigrate.migrate_unregister(text),
    dbmigrate.migrate_upgrade(text),
    dbmigrate.migrate_downgrade(integer),
    dbmigrate.migrate_downgrade(text),
    dbmigrate.migrate_stamp(text),
    dbmigrate.migrate_show(text),
    dbmigrate.migrate_log(),
    dbmigrate.migrate_validate(),
    dbmigrate.seed_users(boolean)
FROM PUBLIC;

--
-- The reference application's first revision
--

SELECT dbmigrate.migrate_register(
    '001_initial_migration',
    NULL,
    $up$CREATE TABLE users (
    id SERIAL PRIMARY KEY,
    username VARCHAR(50) UNIQUE NOT NULL,
    email VARCHAR(100) UNIQUE NOT NULL,
    hashed_password VARCHAR(255) NOT NULL,
    full_name VARCHAR(100),
    avatar VARCHAR(255),
    phone VARCHAR(20),
    is_active BOOLEAN DEFAULT TRUE,
    is_superuser BOOLEAN DEFAULT FALSE,
    is_verified BOOLEAN DEFAULT FALSE,
    created_at TIMESTAMPTZ DEFAULT now(),
    updated_at TIMESTAMPTZ DEFAULT now(),
    last_login_at TIMESTAMPTZ,
    bio TEXT
);
CREATE INDEX ix_users_id ON users (id);
CREATE INDEX ix_users_username ON users (username);
CREATE INDEX ix_users_email ON users (email);$up$,
    $down$DROP TABLE users;$down$,
    'Initial migration');

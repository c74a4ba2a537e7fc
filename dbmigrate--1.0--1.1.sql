/* dbmigrate--1.0--1.1.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION dbmigrate UPDATE TO '1.1'" to load this file. \quit

--
-- The run lock.  1.0 serialized state changes on a transaction-scoped
-- advisory lock, which any role that can connect may take and hold, so an
-- unprivileged session could block every deploy.  1.1 serializes on a
-- SHARE UPDATE EXCLUSIVE lock on this relation instead, taken from C by
-- every call that changes dbmigrate's state.  It is a view with no columns
-- and no rows: only its lock matters, and a view is never vacuumed or
-- analyzed, so a database-wide VACUUM run by a stepwise deploy (which holds
-- the lock for its whole run) does not wait for it.  It lives in a schema of
-- its own on which no role but the owner has USAGE: a role that cannot name
-- it cannot lock it either, not even through statements that lock before
-- they check privileges (CREATE RULE, CREATE TRIGGER ... FROM).  Roles that
-- may use schema dbmigrate (deployers, monitors) therefore cannot block
-- deploys.
--
CREATE SCHEMA dbmigrate_private;
REVOKE ALL ON SCHEMA dbmigrate_private FROM PUBLIC;

COMMENT ON SCHEMA dbmigrate_private IS
'dbmigrate''s run lock. No role but the extension owner may use this schema; grant nothing on it.';

CREATE VIEW dbmigrate_private.run_lock AS SELECT WHERE false;
REVOKE ALL ON TABLE dbmigrate_private.run_lock FROM PUBLIC;

COMMENT ON VIEW dbmigrate_private.run_lock IS
'Lock only, no data: every dbmigrate call that changes state takes SHARE UPDATE EXCLUSIVE on it '
'for the rest of its transaction. Who holds it: SELECT pid FROM pg_locks WHERE relation = '
'''dbmigrate_private.run_lock''::regclass AND mode = ''ShareUpdateExclusiveLock'' AND granted.';

--
-- Non-transactional revisions.  A revision registered with
-- transactional => false holds statements that PostgreSQL refuses inside a
-- transaction block (CREATE INDEX CONCURRENTLY, VACUUM, ...).  It is run only
-- by the stepwise procedures below, a statement at a time at top level.  The
-- flag is part of the revision's checksum.
--
ALTER TABLE dbmigrate.revision ADD COLUMN transactional boolean NOT NULL DEFAULT true;

COMMENT ON COLUMN dbmigrate.revision.transactional IS
'false: the statements run one by one outside a transaction block (migrate_upgrade_stepwise).';

-- migrate_register gains the flag.  A sixth argument with a default cannot be
-- added to the 1.0 functions, and an overload beside them would make every
-- call ambiguous: replace them, keeping the EXECUTE grants a DBA gave.
CREATE FUNCTION pg_temp.dbm_acl_grants(old regprocedure, target text)
RETURNS SETOF text
LANGUAGE sql
AS $$
    SELECT pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %s%s', target,
               CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                    ELSE pg_catalog.quote_ident(r.rolname) END,
               CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END)
      FROM pg_catalog.pg_proc p,
           LATERAL pg_catalog.aclexplode(p.proacl) a
      LEFT JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) a.grantee
     WHERE p.oid OPERATOR(pg_catalog.=) old
       AND a.grantee OPERATOR(pg_catalog.<>) p.proowner
$$;

CREATE TEMPORARY TABLE dbm_register_grants AS
SELECT pg_temp.dbm_acl_grants('dbmigrate.migrate_register(text, text, text, text, text)',
           'dbmigrate.migrate_register(text, text, text, text, text, boolean)') AS stmt
UNION ALL
SELECT pg_temp.dbm_acl_grants('dbmigrate.migrate_register(text, text[], text, text, text)',
           'dbmigrate.migrate_register(text, text[], text, text, text, boolean)');

DROP FUNCTION dbmigrate.migrate_register(text, text, text, text, text);
DROP FUNCTION dbmigrate.migrate_register(text, text[], text, text, text);

CREATE FUNCTION dbmigrate.migrate_register(revision text, down_revision text, upgrade_sql text,
                                           downgrade_sql text DEFAULT NULL, message text DEFAULT NULL,
                                           transactional boolean DEFAULT true)
RETURNS text
AS 'MODULE_PATHNAME', 'dbmigrate_migrate_register'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION dbmigrate.migrate_register(text, text, text, text, text, boolean) IS
'Alembic revision file: registers revision with parent down_revision (NULL = root), upgrade_sql, '
'downgrade_sql (NULL = irreversible, '''' = explicit no-op) and message; returns the id. Identical '
're-registration is a no-op; a not-yet-applied revision may be redefined. transactional => false: '
'statements that cannot run in a transaction block (CREATE INDEX CONCURRENTLY, VACUUM), run one by '
'one by migrate_upgrade_stepwise; the flag is part of the checksum. Checked now, not at deploy: '
'22004 null, 42602/42939/42622 bad id, 22023 comma in down_revision, 23503 unknown parent, '
'42P17 self/redundant parent, 42601 syntax, 0A000 COPY STDIN, 42710 applied revision changed, '
'2BP01 parents changed under children; for a transactional revision 2D000 transaction control '
'and 25001 non-transactional statement.';

CREATE FUNCTION dbmigrate.migrate_register(revision text, down_revisions text[], upgrade_sql text,
                                           downgrade_sql text DEFAULT NULL, message text DEFAULT NULL,
                                           transactional boolean DEFAULT true)
RETURNS text
AS 'MODULE_PATHNAME', 'dbmigrate_migrate_register_merge'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION dbmigrate.migrate_register(text, text[], text, text, text, boolean) IS
'Like migrate_register(text, text, ...) with several parents: a merge revision with its own id '
'and SQL ({} = root). Same errors, plus 42P17 when one parent is an ancestor of another.';

REVOKE ALL ON FUNCTION
    dbmigrate.migrate_register(text, text, text, text, text, boolean),
    dbmigrate.migrate_register(text, text[], text, text, text, boolean)
FROM PUBLIC;

DO $$
DECLARE
    g text;
BEGIN
    FOR g IN SELECT stmt FROM dbm_register_grants LOOP
        EXECUTE g;
    END LOOP;
END
$$;

DROP TABLE dbm_register_grants;
DROP FUNCTION pg_temp.dbm_acl_grants(regprocedure, text);

--
-- Stepwise deploys: a commit after each revision, and the only way to run a
-- non-transactional revision (its statements run one by one at top level,
-- in a background worker).  The run lock is held at session level for the
-- whole run.
--
CREATE PROCEDURE dbmigrate.migrate_upgrade_stepwise(target text DEFAULT 'head')
AS 'MODULE_PATHNAME', 'dbmigrate_migrate_upgrade_stepwise'
LANGUAGE C;

COMMENT ON PROCEDURE dbmigrate.migrate_upgrade_stepwise(text) IS
'alembic upgrade with a commit after each revision (transaction_per_migration); runs revisions '
'registered with transactional => false statement by statement at top level in a background '
'worker. Targets as migrate_upgrade. Resumable: completed revisions stay applied after an error '
'or a kill. Errors: 25001 inside a transaction block, 53000 no background worker, 55P03 run lock '
'timeout, and migrate_upgrade''s, with the failing revision named.';

CREATE PROCEDURE dbmigrate.migrate_downgrade_stepwise(target text DEFAULT '-1')
AS 'MODULE_PATHNAME', 'dbmigrate_migrate_downgrade_stepwise'
LANGUAGE C;

COMMENT ON PROCEDURE dbmigrate.migrate_downgrade_stepwise(text) IS
'alembic downgrade with a commit after each revision; targets and errors as '
'migrate_downgrade(text) and migrate_upgrade_stepwise.';

REVOKE ALL ON PROCEDURE
    dbmigrate.migrate_upgrade_stepwise(text),
    dbmigrate.migrate_downgrade_stepwise(text)
FROM PUBLIC;

--
-- The plan of an upgrade, and a dry run of it that is always rolled back.
--
CREATE FUNCTION dbmigrate.migrate_plan(target text DEFAULT 'head', execute boolean DEFAULT false)
RETURNS TABLE(step integer, revision text, direction text, statement integer, sql text,
              duration interval, locks jsonb, rewrites text[])
AS 'MODULE_PATHNAME', 'dbmigrate_migrate_plan'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION dbmigrate.migrate_plan(text, boolean) IS
'alembic upgrade --sql, and a dry run: the statements an upgrade to target would run from the '
'current state (-N and base: a downgrade), one row per statement. execute => true runs them in a '
'subtransaction that is always rolled back and reports each statement''s duration, the relation '
'locks it took ([{relation, mode}]) and the tables it rewrote; non-transactional revisions are '
'listed, not run. Nothing persists but sequence values. Needs the right to call migrate_show. '
'Errors: migrate_upgrade''s, 42501, and a step''s own error with the step named.';

REVOKE ALL ON FUNCTION dbmigrate.migrate_plan(text, boolean) FROM PUBLIC;

--
-- The linter: findings about migration SQL, read with the live catalog.
-- Registration applies it per dbmigrate.lint (off, warn, error).
--
CREATE FUNCTION dbmigrate.migrate_lint(sql text)
RETURNS TABLE(rule text, severity text, statement integer, message text, hint text)
AS 'MODULE_PATHNAME', 'dbmigrate_migrate_lint'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION dbmigrate.migrate_lint(text) IS
'Lint a migration text with the live catalog: volatile-default, rewriting-type-change, '
'set-not-null, index-not-concurrently, constraint-not-valid, drop-table, drop-column, rename, '
'fk-without-index (and, at registration, irreversible). Each finding names the object and its '
'size and hints the safe pattern; "-- dbmigrate:lint-ignore RULE" opts a text out. Errors: 22004, 42601.';

REVOKE ALL ON FUNCTION dbmigrate.migrate_lint(text) FROM PUBLIC;

-- Lock retries (dbmigrate.lock_retries).  A step that cannot get a lock
-- within lock_timeout (55P03) is rolled back to its own savepoint and tried
-- again after a backoff; each retry is a NOTICE and a 'lock_retry' row in
-- dbmigrate.log (duration: the failed attempt; checksum: the text tried).
-- Such rows never make a revision applied: the last run of a revision is
-- read from its upgrade, downgrade and stamp rows only.
--
ALTER TABLE dbmigrate.log DROP CONSTRAINT log_operation_check;
ALTER TABLE dbmigrate.log ADD CONSTRAINT log_operation_check
    CHECK (operation IN ('upgrade', 'downgrade', 'stamp', 'lock_retry'));

COMMENT ON TABLE dbmigrate.log IS
'Append-only: one row per executed step (upgrade, downgrade, stamp), with who ran it, when, '
'for how long, and the checksum of the text that ran (NULL for a stamp that un-applies a revision); '
'and one lock_retry row per attempt of a step that hit lock_timeout and was tried again.';

COMMENT ON FUNCTION dbmigrate.migrate_log() IS
'Every executed step (upgrade, downgrade, stamp) and every lock_retry (an attempt rolled back '
'after lock_timeout and tried again) in execution order: who (session_user), when, how long, '
'backend pid, checksum of the text that ran. Takes no lock.';

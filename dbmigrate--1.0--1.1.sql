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
-- What health() reads, kept up to date when it changes (issue 11, item 7).
-- In 1.0, health() re-hashed every applied revision's stored text and loaded
-- the whole graph on each call: 3 s at 300 MB of text.  From 1.1 the text is
-- verified when it changes, not on every read: triggers keep, on each
-- revision row, the checksum of its text as stored now, whether it is applied
-- (an ancestor of a dbmigrate.version row), the checksum of its last run and
-- whether its parents are registered before it.  health() reads these
-- through small partial indexes; migrate_validate() still re-hashes every
-- text and also reports kept state that went stale (triggers bypassed).
--

-- deploys that still use 1.0's advisory lock wait until the backfill is done
SELECT pg_catalog.pg_advisory_xact_lock(7233464250984980852);

ALTER TABLE dbmigrate.revision
    ADD COLUMN text_checksum text,
    ADD COLUMN is_applied    boolean NOT NULL DEFAULT false,
    ADD COLUMN run_checksum  text,
    ADD COLUMN parents_ok    boolean NOT NULL DEFAULT false;

COMMENT ON COLUMN dbmigrate.revision.text_checksum IS
'Kept by a trigger: the checksum of upgrade_sql, downgrade_sql and transactional as stored now (same '
'function as checksum). '
'Differs from checksum when the text was changed outside dbmigrate.';
COMMENT ON COLUMN dbmigrate.revision.is_applied IS
'Kept by triggers: whether the revision is applied, i.e. a dbmigrate.version row or one of its ancestors.';
COMMENT ON COLUMN dbmigrate.revision.run_checksum IS
'Kept by triggers: the checksum logged by the revision''s latest dbmigrate.log row (lock_retry rows aside), '
'when that row left it applied (an upgrade, or a stamp with a checksum) and the checksum differs from '
'checksum; else NULL.';
COMMENT ON COLUMN dbmigrate.revision.parents_ok IS
'Kept by triggers: whether down_revisions is a list of ids registered before this revision. '
'false makes health() read the whole graph.';

-- the checksum of the stored text (and flag), computed in C with the checksum
-- function of registration; also on a direct UPDATE of text_checksum, which
-- therefore cannot be set to anything else
CREATE FUNCTION dbmigrate.revision_text_checksum() RETURNS trigger
AS 'MODULE_PATHNAME', 'dbmigrate_revision_text_checksum'
LANGUAGE C;
CREATE TRIGGER revision_text_checksum
    BEFORE INSERT OR UPDATE OF upgrade_sql, downgrade_sql, transactional, text_checksum
    ON dbmigrate.revision
    FOR EACH ROW EXECUTE FUNCTION dbmigrate.revision_text_checksum();

-- The triggers below run inside dbmigrate's bookkeeping and on bulk loads
-- (pg_restore), often from plans made while the tables were small.  So that
-- each lookup costs the same at 10 or 100,000 revisions, none may read a
-- whole index that looked as cheap on a tiny table: they run with
-- enable_seqscan off, look rows up in scalar subqueries (which the planner
-- does not turn into joins), count children rather than ask for one (LIMIT
-- 1 makes a full index scan look cheap), and write "IS NOT TRUE" where "NOT
-- is_applied" would match the predicate of revision_pending_idx.  Their
-- lookups take parameters in index conditions only, so they keep generic
-- plans (plan_cache_mode) rather than planning again on every row.

-- a row's own kept columns, from its parents, dbmigrate.version, its children
-- and dbmigrate.log; rows may arrive in any order (pg_restore), so each side
-- also updates the other (keep_applied, log_keep_run_checksum)
CREATE FUNCTION dbmigrate.revision_keep_row() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    new_id boolean := TG_OP OPERATOR(pg_catalog.=) 'INSERT';
    new_checksum boolean := false;
BEGIN
    IF NOT new_id THEN
        new_id := NEW.revision OPERATOR(pg_catalog.<>) OLD.revision;
        new_checksum := NEW.checksum IS DISTINCT FROM OLD.checksum;
    END IF;
    -- parents_ok is what dbm_graph_load checks: a one-dimensional list of ids
    -- without NULLs, each registered before this revision (smaller seq).  A
    -- new id is applied if it is current or the parent of an applied
    -- revision.  run_checksum: the latest log row naming it, when that row
    -- applied it with a checksum other than its checksum.
    SELECT CASE WHEN pg_catalog.array_ndims(NEW.down_revisions) OPERATOR(pg_catalog.>) 1
                THEN false
                ELSE NOT EXISTS (
                    SELECT 1 FROM pg_catalog.unnest(NEW.down_revisions) AS u(parent)
                     WHERE u.parent IS NULL
                        OR COALESCE((SELECT r.seq FROM dbmigrate.revision r
                                                 WHERE r.revision OPERATOR(pg_catalog.=) u.parent),
                                               NEW.seq) OPERATOR(pg_catalog.>=) NEW.seq)
           END,
           CASE WHEN new_id THEN
               EXISTS (SELECT 1 FROM dbmigrate.version v
                        WHERE v.revision OPERATOR(pg_catalog.=) NEW.revision)
               OR (SELECT pg_catalog.count(*) FROM dbmigrate.revision c
                    WHERE c.down_revisions OPERATOR(pg_catalog.@>) ARRAY[NEW.revision]
                      AND c.is_applied AND c.revision OPERATOR(pg_catalog.<>) NEW.revision)
                  OPERATOR(pg_catalog.>) 0
           ELSE NEW.is_applied END,
           CASE WHEN new_id OR new_checksum THEN
               (SELECT CASE WHEN l.operation OPERATOR(pg_catalog.<>) 'downgrade'
                             AND l.checksum OPERATOR(pg_catalog.<>) NEW.checksum THEN l.checksum END
                  FROM dbmigrate.log l
                 WHERE l.revision OPERATOR(pg_catalog.=) NEW.revision
                   AND l.operation OPERATOR(pg_catalog.<>) 'lock_retry'
                 ORDER BY l.id DESC LIMIT 1)
           ELSE NEW.run_checksum END
      INTO NEW.parents_ok, NEW.is_applied, NEW.run_checksum;
    RETURN NEW;
END
$$;
CREATE TRIGGER revision_keep_row
    BEFORE INSERT OR UPDATE OF revision, down_revisions, seq, checksum ON dbmigrate.revision
    FOR EACH ROW EXECUTE FUNCTION dbmigrate.revision_keep_row();

-- is_applied, when dbmigrate.version changes (per statement) or a revision
-- row is added, removed or re-pointed (per row; then also the parents_ok of
-- the rows that name it as a parent).  Applied is closed upwards: a revision
-- is applied iff it is current or a parent of an applied revision.  So a
-- revision that became applied marks its ancestors (stopping at applied
-- ones).  Of the revisions that may have stopped being applied, those that
-- are not current and have no applied child are cleared, with the region
-- above them up to current revisions, except what in it still has a path to
-- a current revision: the work is the revisions whose flag may change, not
-- the size of the graph.
-- (dbm_write_current adds version rows before it removes the old ones, so an
-- upgrade or a downgrade by one step changes one flag.)
CREATE FUNCTION dbmigrate.keep_applied() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    marked   text[];            -- became applied: mark them and their ancestors
    cleared  text[];            -- may no longer be applied
    ids      text[];
BEGIN
    IF TG_TABLE_NAME OPERATOR(pg_catalog.=) 'revision' THEN
        IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' THEN
            ids := ARRAY[NEW.revision];
        ELSIF TG_OP OPERATOR(pg_catalog.=) 'DELETE' THEN
            ids := ARRAY[OLD.revision];
        ELSE
            ids := ARRAY[OLD.revision, NEW.revision];
        END IF;
        IF TG_OP OPERATOR(pg_catalog.<>) 'INSERT' AND OLD.is_applied THEN
            cleared := OLD.down_revisions;
        END IF;
        IF TG_OP OPERATOR(pg_catalog.<>) 'DELETE' AND NEW.is_applied THEN
            marked := NEW.down_revisions;
        END IF;
        -- the rows naming this id (old or new) as a parent
        UPDATE dbmigrate.revision c
           SET parents_ok = NOT c.parents_ok
         WHERE c.down_revisions OPERATOR(pg_catalog.&&) ids
           AND c.parents_ok OPERATOR(pg_catalog.<>)
               CASE WHEN pg_catalog.array_ndims(c.down_revisions) OPERATOR(pg_catalog.>) 1
                    THEN false
                    ELSE NOT EXISTS (
                        SELECT 1 FROM pg_catalog.unnest(c.down_revisions) AS u(parent)
                         WHERE u.parent IS NULL
                            OR COALESCE((SELECT r.seq FROM dbmigrate.revision r
                                                     WHERE r.revision OPERATOR(pg_catalog.=) u.parent),
                                                   c.seq) OPERATOR(pg_catalog.>=) c.seq)
               END;
    ELSIF TG_OP OPERATOR(pg_catalog.=) 'TRUNCATE' THEN
        UPDATE dbmigrate.revision SET is_applied = false WHERE is_applied;
        RETURN NULL;
    ELSE
        IF TG_OP OPERATOR(pg_catalog.<>) 'DELETE' THEN
            marked := ARRAY(SELECT n.revision FROM new_rows n);
        END IF;
        IF TG_OP OPERATOR(pg_catalog.<>) 'INSERT' THEN
            cleared := ARRAY(SELECT o.revision FROM old_rows o);
        END IF;
    END IF;

    IF pg_catalog.cardinality(marked) OPERATOR(pg_catalog.>) 0 THEN
        WITH RECURSIVE up(id) AS (
            SELECT pg_catalog.unnest(marked)
          UNION
            SELECT pg_catalog.unnest((SELECT r.down_revisions FROM dbmigrate.revision r
                                       WHERE r.revision OPERATOR(pg_catalog.=) up.id
                                         AND r.is_applied IS NOT TRUE))
              FROM up
        )
        UPDATE dbmigrate.revision r SET is_applied = true
         WHERE r.revision OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT up.id FROM up))
           AND r.is_applied IS NOT TRUE;
    END IF;

    IF pg_catalog.cardinality(cleared) OPERATOR(pg_catalog.>) 0
       AND NOT EXISTS (SELECT 1 FROM dbmigrate.version) THEN
        -- at base: nothing is applied
        UPDATE dbmigrate.revision SET is_applied = false WHERE is_applied;
        cleared := NULL;
    ELSIF pg_catalog.cardinality(cleared) OPERATOR(pg_catalog.>) 0 THEN
        -- seeds: those that are applied, not current, and have no applied
        -- child (after an upgrade the old current revision has one: done)
        cleared := ARRAY(
            SELECT u.id FROM pg_catalog.unnest(cleared) AS u(id)
             WHERE (SELECT x.is_applied FROM dbmigrate.revision x
                     WHERE x.revision OPERATOR(pg_catalog.=) u.id)
               AND (SELECT v.revision FROM dbmigrate.version v
                     WHERE v.revision OPERATOR(pg_catalog.=) u.id) IS NULL
               AND (SELECT pg_catalog.count(*) FROM dbmigrate.revision c
                     WHERE c.down_revisions OPERATOR(pg_catalog.@>) ARRAY[u.id] AND c.is_applied)
                   OPERATOR(pg_catalog.=) 0);
    END IF;
    IF pg_catalog.cardinality(cleared) OPERATOR(pg_catalog.>) 0 THEN
        -- region: the seeds and their ancestors, up through applied
        -- revisions that are not current (a current one stays applied, and
        -- so do its ancestors)
        WITH RECURSIVE r(id) AS (
            SELECT u.id FROM pg_catalog.unnest(cleared) AS u(id)
          UNION
            SELECT pg_catalog.unnest((SELECT x.down_revisions FROM dbmigrate.revision x
                                       WHERE x.revision OPERATOR(pg_catalog.=) r.id
                                         AND x.is_applied
                                         AND (SELECT v.revision FROM dbmigrate.version v
                                               WHERE v.revision OPERATOR(pg_catalog.=) x.revision)
                                             IS NULL))
              FROM r
        )
        SELECT ARRAY(SELECT r.id FROM r
                      WHERE (SELECT x.is_applied FROM dbmigrate.revision x
                              WHERE x.revision OPERATOR(pg_catalog.=) r.id)
                        AND (SELECT v.revision FROM dbmigrate.version v
                              WHERE v.revision OPERATOR(pg_catalog.=) r.id) IS NULL)
          INTO ids;
        -- of the region, what stays applied: a revision with an applied child
        -- outside the region (which stays applied), and its ancestors; the
        -- rest is cleared
        WITH RECURSIVE keep(id) AS (
            SELECT g.id FROM pg_catalog.unnest(ids) AS g(id)
             WHERE (SELECT pg_catalog.count(*) FROM dbmigrate.revision c
                     WHERE c.down_revisions OPERATOR(pg_catalog.@>) ARRAY[g.id]
                       AND c.is_applied
                       AND c.revision NOT IN (SELECT pg_catalog.unnest(ids)))
                   OPERATOR(pg_catalog.>) 0
          UNION
            SELECT p.id
              FROM keep, pg_catalog.unnest((SELECT x.down_revisions FROM dbmigrate.revision x
                                             WHERE x.revision OPERATOR(pg_catalog.=) keep.id)) AS p(id)
             WHERE p.id IN (SELECT pg_catalog.unnest(ids))
        )
        UPDATE dbmigrate.revision r SET is_applied = false
         WHERE r.revision OPERATOR(pg_catalog.=) ANY (ids) AND r.is_applied
           AND r.revision NOT IN (SELECT keep.id FROM keep);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER revision_keep_applied
    AFTER INSERT OR UPDATE OF revision, down_revisions, seq OR DELETE ON dbmigrate.revision
    FOR EACH ROW EXECUTE FUNCTION dbmigrate.keep_applied();
CREATE TRIGGER version_insert_keep_applied AFTER INSERT ON dbmigrate.version
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION dbmigrate.keep_applied();
CREATE TRIGGER version_update_keep_applied AFTER UPDATE ON dbmigrate.version
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION dbmigrate.keep_applied();
CREATE TRIGGER version_delete_keep_applied AFTER DELETE ON dbmigrate.version
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION dbmigrate.keep_applied();
CREATE TRIGGER version_truncate_keep_applied AFTER TRUNCATE ON dbmigrate.version
    FOR EACH STATEMENT EXECUTE FUNCTION dbmigrate.keep_applied();

-- run_checksum, when dbmigrate.log changes (rows are appended; UPDATE, DELETE
-- and TRUNCATE only once log_append_only is disabled, to prune the log)
CREATE FUNCTION dbmigrate.log_keep_run_checksum() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    ids text[];
BEGIN
    IF TG_OP OPERATOR(pg_catalog.=) 'TRUNCATE' THEN
        UPDATE dbmigrate.revision SET run_checksum = NULL WHERE run_checksum IS NOT NULL;
        RETURN NULL;
    ELSIF TG_OP OPERATOR(pg_catalog.=) 'INSERT' THEN
        ids := ARRAY(SELECT DISTINCT n.revision FROM new_rows n);
    ELSIF TG_OP OPERATOR(pg_catalog.=) 'DELETE' THEN
        ids := ARRAY(SELECT DISTINCT o.revision FROM old_rows o);
    ELSE
        ids := ARRAY(SELECT o.revision FROM old_rows o UNION SELECT n.revision FROM new_rows n);
    END IF;
    -- a run of the registered text (every run dbmigrate makes) leaves it
    -- NULL: nothing is written
    UPDATE dbmigrate.revision r SET run_checksum = k.c
      FROM (SELECT x.revision,
                   (SELECT CASE WHEN l.operation OPERATOR(pg_catalog.<>) 'downgrade'
                                 AND l.checksum OPERATOR(pg_catalog.<>) x.checksum THEN l.checksum END
                      FROM dbmigrate.log l
                     WHERE l.revision OPERATOR(pg_catalog.=) x.revision
                       AND l.operation OPERATOR(pg_catalog.<>) 'lock_retry'
                     ORDER BY l.id DESC LIMIT 1) AS c
              FROM dbmigrate.revision x
             WHERE x.revision OPERATOR(pg_catalog.=) ANY (ids)) k
     WHERE r.revision OPERATOR(pg_catalog.=) k.revision
       AND r.run_checksum IS DISTINCT FROM k.c;
    RETURN NULL;
END
$$;
CREATE TRIGGER log_insert_keep_run_checksum AFTER INSERT ON dbmigrate.log
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION dbmigrate.log_keep_run_checksum();
CREATE TRIGGER log_update_keep_run_checksum AFTER UPDATE ON dbmigrate.log
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION dbmigrate.log_keep_run_checksum();
CREATE TRIGGER log_delete_keep_run_checksum AFTER DELETE ON dbmigrate.log
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION dbmigrate.log_keep_run_checksum();
CREATE TRIGGER log_truncate_keep_run_checksum AFTER TRUNCATE ON dbmigrate.log
    FOR EACH STATEMENT EXECUTE FUNCTION dbmigrate.log_keep_run_checksum();

-- recompute everything above from scratch: the backfill of this update, and
-- the repair after the tables were written with these triggers disabled
-- (migrate_validate() reports that)
CREATE FUNCTION dbmigrate.rebuild_health_state() RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    disabled text;
BEGIN
    -- what it computes is kept only while the triggers fire
    SELECT pg_catalog.string_agg(t.tgname, ', ' ORDER BY t.tgname) INTO disabled
      FROM pg_catalog.pg_trigger t
     WHERE t.tgrelid OPERATOR(pg_catalog.=) ANY (ARRAY['dbmigrate.revision'::pg_catalog.regclass,
                                                      'dbmigrate.version'::pg_catalog.regclass,
                                                      'dbmigrate.log'::pg_catalog.regclass])
       AND t.tgfoid OPERATOR(pg_catalog.=) ANY (ARRAY[
               'dbmigrate.revision_text_checksum()'::pg_catalog.regprocedure,
               'dbmigrate.revision_keep_row()'::pg_catalog.regprocedure,
               'dbmigrate.keep_applied()'::pg_catalog.regprocedure,
               'dbmigrate.log_keep_run_checksum()'::pg_catalog.regprocedure]::pg_catalog.oid[])
       AND t.tgenabled OPERATOR(pg_catalog.=) 'D';
    IF disabled IS NOT NULL
       OR pg_catalog.current_setting('session_replication_role') OPERATOR(pg_catalog.=) 'replica' THEN
        RAISE EXCEPTION USING
            ERRCODE = '55000',
            MESSAGE = 'dbmigrate''s triggers do not fire: the state health() reads would not be kept',
            DETAIL = CASE WHEN disabled IS NOT NULL
                          THEN pg_catalog.format('Disabled: %s.', disabled)
                          ELSE 'session_replication_role is replica.' END,
            HINT = 'Enable them (ALTER TABLE dbmigrate.revision ENABLE TRIGGER <name>, or on '
                   'dbmigrate.version or dbmigrate.log), or SET session_replication_role = origin; '
                   'then call rebuild_health_state() again.';
    END IF;
    LOCK TABLE dbmigrate_private.run_lock IN SHARE UPDATE EXCLUSIVE MODE;
    -- revision_text_checksum recomputes it (and refuses NULL if disabled)
    UPDATE dbmigrate.revision SET text_checksum = NULL;
    UPDATE dbmigrate.revision r SET run_checksum =
        (SELECT CASE WHEN l.operation OPERATOR(pg_catalog.<>) 'downgrade'
                      AND l.checksum OPERATOR(pg_catalog.<>) r.checksum THEN l.checksum END
           FROM dbmigrate.log l
          WHERE l.revision OPERATOR(pg_catalog.=) r.revision
            AND l.operation OPERATOR(pg_catalog.<>) 'lock_retry'
          ORDER BY l.id DESC LIMIT 1);
    WITH RECURSIVE up(id) AS (
        SELECT v.revision FROM dbmigrate.version v
      UNION
        SELECT pg_catalog.unnest(r.down_revisions)
          FROM up JOIN dbmigrate.revision r ON r.revision OPERATOR(pg_catalog.=) up.id
    )
    UPDATE dbmigrate.revision r
       SET is_applied = EXISTS (SELECT 1 FROM up WHERE up.id OPERATOR(pg_catalog.=) r.revision);
    UPDATE dbmigrate.revision c SET parents_ok =
        CASE WHEN pg_catalog.array_ndims(c.down_revisions) OPERATOR(pg_catalog.>) 1 THEN false
             ELSE NOT EXISTS (
                 SELECT 1 FROM pg_catalog.unnest(c.down_revisions) AS u(parent)
                  WHERE u.parent IS NULL
                     OR NOT EXISTS (SELECT 1 FROM dbmigrate.revision r
                                     WHERE r.revision OPERATOR(pg_catalog.=) u.parent
                                       AND r.seq OPERATOR(pg_catalog.<) c.seq))
        END;
END
$$;

SELECT dbmigrate.rebuild_health_state();
ALTER TABLE dbmigrate.revision ALTER COLUMN text_checksum SET NOT NULL;

-- health(): pending revisions, drifted text, and rows whose graph needs a look
CREATE INDEX revision_pending_idx ON dbmigrate.revision (seq) WHERE NOT is_applied;
CREATE INDEX revision_drift_idx ON dbmigrate.revision (seq)
    WHERE text_checksum OPERATOR(pg_catalog.<>) checksum
       OR text_checksum OPERATOR(pg_catalog.<>) run_checksum;
CREATE INDEX revision_parents_idx ON dbmigrate.revision (seq) WHERE NOT parents_ok;

COMMENT ON FUNCTION dbmigrate.revision_text_checksum() IS
'Trigger (BEFORE INSERT or UPDATE of the text) on dbmigrate.revision: sets text_checksum to the checksum of '
'the stored text. Not callable directly.';
COMMENT ON FUNCTION dbmigrate.revision_keep_row() IS
'Trigger (BEFORE INSERT or UPDATE of id, parents, seq or checksum) on dbmigrate.revision: sets parents_ok, '
'for a new id is_applied, and for a new id or checksum run_checksum. Not callable directly.';
COMMENT ON FUNCTION dbmigrate.keep_applied() IS
'Trigger on dbmigrate.version (per statement) and dbmigrate.revision (per row): keeps is_applied, and the '
'parents_ok of the children of a changed revision. Not callable directly.';
COMMENT ON FUNCTION dbmigrate.log_keep_run_checksum() IS
'Trigger (per statement) on dbmigrate.log: keeps run_checksum of the revisions whose log rows changed. '
'Not callable directly.';
COMMENT ON FUNCTION dbmigrate.rebuild_health_state() IS
'Recomputes the columns health() reads (text_checksum, is_applied, run_checksum, parents_ok) from the text, '
'dbmigrate.version and dbmigrate.log; takes the run lock. For tables written while dbmigrate''s triggers '
'were disabled (migrate_validate() reports that); 55000 while any of dbmigrate''s triggers is disabled. '
'Needs the extension owner''s rights.';

REVOKE ALL ON FUNCTION dbmigrate.revision_text_checksum(), dbmigrate.revision_keep_row(),
    dbmigrate.keep_applied(), dbmigrate.log_keep_run_checksum(),
    dbmigrate.rebuild_health_state() FROM PUBLIC;

-- 1.0's trigger, looking the parents up by id: with "AND r.is_head" (which
-- "IS NOT FALSE" is, is_head being NOT NULL, without matching the predicate
-- of revision_head_idx) a plan made on a small table read all of that index,
-- which in a bulk registration holds an entry for every revision registered
-- in the transaction
CREATE OR REPLACE FUNCTION dbmigrate.revision_mark_parents() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    UPDATE dbmigrate.revision r SET is_head = false
     WHERE r.revision OPERATOR(pg_catalog.=) ANY (ARRAY(
               SELECT pg_catalog.unnest(n.down_revisions) FROM new_revisions n))
       AND r.is_head IS NOT FALSE;
    RETURN NULL;
END
$$;

/* dbmigrate--1.0--1.1.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION dbmigrate UPDATE TO '1.1'" to load this file. \quit

--
-- The run lock.  1.0 serialized state changes on a transaction-scoped
-- advisory lock, which any role that can connect may take and hold, so an
-- unprivileged session could block every deploy.  1.1 serializes on a
-- SHARE UPDATE EXCLUSIVE lock on this table instead, taken from C by every
-- call that changes dbmigrate's state.  The table has no columns and no
-- rows: only its lock matters.  It lives in a schema of its own on which no
-- role but the owner has USAGE: a role that cannot name the table cannot
-- lock it either, not even through statements that lock before they check
-- privileges (CREATE RULE, CREATE TRIGGER ... FROM).  Roles that may use
-- schema dbmigrate (deployers, monitors) therefore cannot block deploys.
--
CREATE SCHEMA dbmigrate_private;
REVOKE ALL ON SCHEMA dbmigrate_private FROM PUBLIC;

COMMENT ON SCHEMA dbmigrate_private IS
'dbmigrate''s run lock. No role but the extension owner may use this schema; grant nothing on it.';

CREATE TABLE dbmigrate_private.run_lock ();
REVOKE ALL ON TABLE dbmigrate_private.run_lock FROM PUBLIC;

COMMENT ON TABLE dbmigrate_private.run_lock IS
'Lock only, no data: every dbmigrate call that changes state takes SHARE UPDATE EXCLUSIVE on it '
'for the rest of its transaction. Who holds it: SELECT pid FROM pg_locks WHERE relation = '
'''dbmigrate_private.run_lock''::regclass AND mode = ''ShareUpdateExclusiveLock'' AND granted.';

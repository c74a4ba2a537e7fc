/* dbmigrate--1.0--1.1.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION dbmigrate UPDATE TO '1.1'" to load this file. \quit

--
-- The run lock.  1.0 serialized state changes on a transaction-scoped
-- advisory lock, which any role that can connect may take and hold, so an
-- unprivileged session could block every deploy.  1.1 serializes on a
-- SHARE UPDATE EXCLUSIVE lock on this table instead, taken from C by every
-- call that changes dbmigrate's state.  The table has no columns and no
-- rows: only its lock matters.  A role without privileges on it can hold
-- no lock that conflicts (SELECT, SELECT FOR UPDATE, INSERT/UPDATE/DELETE,
-- even in a prepared statement of an open transaction, take weaker locks;
-- LOCK TABLE, VACUUM, ALTER and the like check privileges first).
--
CREATE TABLE dbmigrate.run_lock ();

COMMENT ON TABLE dbmigrate.run_lock IS
'Lock only, no data: every dbmigrate call that changes state takes SHARE UPDATE EXCLUSIVE on it '
'for the rest of its transaction. Who holds it: SELECT pid FROM pg_locks WHERE relation = '
'''dbmigrate.run_lock''::regclass AND mode = ''ShareUpdateExclusiveLock'' AND granted.';

REVOKE ALL ON TABLE dbmigrate.run_lock FROM PUBLIC;

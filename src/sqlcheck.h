/*-------------------------------------------------------------------------
 *
 * sqlcheck.h
 *	  Revision ids, migration SQL read with the server's own parser, and the
 *	  sha256 checksum of a revision's text.
 *
 * Copyright (c) 2026, dbmigrate developers
 *
 * IDENTIFICATION
 *	  src/sqlcheck.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DBMIGRATE_SQLCHECK_H
#define DBMIGRATE_SQLCHECK_H

#include "nodes/nodes.h"

/* Called with each statement of a text, its own text and its length */
typedef void (*DbmStatementFn) (Node *stmt, const char *text, int len, void *arg);

extern char *dbm_checksum(const char *upgrade_sql, const char *downgrade_sql);
extern char *dbm_checksum_revision(const char *upgrade_sql, const char *downgrade_sql,
								   bool transactional);
extern void dbm_check_revision_id(const char *id, const char *what);
extern void dbm_check_migration_sql(const char *sql, const char *revision,
									const char *direction, bool transactional);
extern void dbm_foreach_statement(const char *sql, const char *revision, const char *direction,
								  DbmStatementFn fn, void *arg, int *nstatements);

#endif							/* DBMIGRATE_SQLCHECK_H */

/*-------------------------------------------------------------------------
 *
 * lint.h
 *	  The migration linter: rules read with the live catalog, for
 *	  migrate_lint and for registration (dbmigrate.lint).
 *
 * Copyright (c) 2026, dbmigrate developers
 *
 * IDENTIFICATION
 *	  src/lint.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DBMIGRATE_LINT_H
#define DBMIGRATE_LINT_H

#include "nodes/pg_list.h"

/* dbmigrate.lint */
typedef enum DbmLintMode
{
	DBM_LINT_OFF,
	DBM_LINT_WARN,
	DBM_LINT_ERROR
} DbmLintMode;

/* One finding */
typedef struct DbmLintFinding
{
	const char *rule;
	const char *severity;
	int			statement;		/* 1-based; 0: the revision as a whole */
	char	   *message;
	const char *hint;
} DbmLintFinding;

extern int	dbmigrate_lint;
extern int	dbmigrate_lint_large_table;

extern List *dbm_lint(const char *sql, bool downgrade_missing);
extern void dbm_lint_registration(const char *id, const char *upgrade_sql,
								  const char *downgrade_sql);
extern bool dbm_list_has_rule(List *rules, const char *rule);
extern char *dbm_join_strings(List *strings);

#endif							/* DBMIGRATE_LINT_H */

/*-------------------------------------------------------------------------
 *
 * dbmigrate.h
 *	  dbmigrate.c: GUCs, the extension-owner context used for bookkeeping,
 *	  the run lock, the session of a SQL-callable function with SPI, and
 *	  argument helpers.
 *
 * Copyright (c) 2026, dbmigrate developers
 *
 * IDENTIFICATION
 *	  src/dbmigrate.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DBMIGRATE_H
#define DBMIGRATE_H

#include "fmgr.h"
#include "funcapi.h"
#include "nodes/nodes.h"
#include "nodes/pg_list.h"
#include "utils/guc.h"
#include "utils/tuplestore.h"

#include "compat.h"

#ifndef DBMIGRATE_VERSION
#define DBMIGRATE_VERSION "1.0"
#endif

/*
 * Key of the transaction-scoped advisory lock that serialized state changes
 * in 1.0 ("dbmigrat" as a big-endian int8).  Used only while a database's
 * extension is still at 1.0; from 1.1 the run lock is a lock on the table
 * dbmigrate_private.run_lock, which a role without privileges cannot take.
 */
#define DBMIGRATE_LOCK_KEY_1_0	INT64CONST(0x64626d6967726174)

/* Longest revision id, in characters */
#define DBMIGRATE_ID_MAXLEN 255

/* search_path of every query dbmigrate builds: nothing the caller planted */
#define DBM_PINNED_SEARCH_PATH "pg_catalog, pg_temp"

/* Shortest prefix accepted as a target */
#define DBMIGRATE_PREFIX_MINLEN 4

/* GUC variables (dbmigrate.c) */
extern int	dbmigrate_lock_timeout;
extern int	dbmigrate_run_lock_timeout;
extern int	dbmigrate_statement_timeout;
extern int	dbmigrate_lock_retries;
extern int	dbmigrate_lock_retry_max_delay;

/* > 0 while a migration step's SQL runs */
extern int	dbm_step_depth;

/*
 * DbmOwnerContext: saved state while dbmigrate reads or writes its own
 * tables as the extension owner (pg_cron's pattern).  Migration SQL never
 * runs inside this context.
 */
typedef struct DbmOwnerContext
{
	Oid			saved_userid;
	int			saved_sec_context;
	int			guc_nestlevel;
} DbmOwnerContext;

/*
 * DbmCall: a SQL-callable function's session with dbmigrate's tables: SPI
 * connected and the owner context entered (dbm_call_begin), both undone by
 * dbm_call_end.  Migration steps leave the owner context in between
 * (dbm_leave_owner / dbm_enter_owner on call->owner).
 */
typedef struct DbmCall
{
	DbmOwnerContext owner;
} DbmCall;

/* dbmigrate.c */
extern void dbm_guc_set(const char *name, const char *value, GucContext context);
extern void dbm_guc_set_lock_timeout(int ms);
extern void dbm_enter_owner(DbmOwnerContext *ctx);
extern void dbm_leave_owner(DbmOwnerContext *ctx);
extern void dbm_begin_state_change(const char *funcname, bool allow_in_step);
extern void dbm_session_lock(const char *funcname);
extern void dbm_session_unlock(void);
extern void dbm_call_begin(DbmCall *call);
extern void dbm_call_end(DbmCall *call);
extern Tuplestorestate *dbm_init_srf(FunctionCallInfo fcinfo, TupleDesc *tupdesc);
extern bool dbm_may_read_migration_sql(void);
extern char *dbm_text_arg(FunctionCallInfo fcinfo, int argno, const char *argname);
extern char *dbm_text_arg_or_null(FunctionCallInfo fcinfo, int argno);
extern void dbm_spi_connect(void);
extern void dbm_spi_finish(void);

#endif							/* DBMIGRATE_H */

/*-------------------------------------------------------------------------
 *
 * dbmigrate.c
 *	  Module entry point: GUC definitions, the extension-owner context for
 *	  bookkeeping, the run lock that serializes state changes, and small
 *	  helpers shared by the other modules.
 *
 * Copyright (c) 2026, dbmigrate developers
 *
 * IDENTIFICATION
 *	  src/dbmigrate.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "dbmigrate.h"
#include "diagnostics.h"
#include "lint.h"
#include "runner.h"

DBM_MODULE_MAGIC;

/* forward declarations */
void		_PG_init(void);
static Oid	dbm_extension_owner(void);
static void dbm_run_lock_callback(void *arg);
static Oid	dbm_run_lock_relid(void);
static void dbm_take_run_lock(const char *funcname, Oid relid, bool session);

/* the session-level run lock of a stepwise procedure, while held */
static LockRelId dbm_session_lockid;
static bool dbm_session_locked = false;
static void dbm_refuse_on_standby(const char *funcname);

/* GUC variables */

/*
 * dbmigrate.lock_timeout: lock_timeout applied to each step, in ms.  Short,
 * because while a step waits for a lock every later query on that table
 * queues behind it; dbmigrate.lock_retries tries the step again instead.
 */
int			dbmigrate_lock_timeout = 1000;

/*
 * dbmigrate.statement_timeout: statement_timeout applied to each step, in
 * ms (0: the caller's own); armed afresh for every statement of the step.
 */
int			dbmigrate_statement_timeout = 0;

/*
 * dbmigrate.lock_retries: how many times a step that failed with 55P03
 * (lock_not_available) is rolled back to its savepoint and tried again.
 */
int			dbmigrate_lock_retries = 5;

/*
 * dbmigrate.lock_retry_max_delay: the longest wait before a retry, in ms
 * (exponential backoff with full jitter, capped here).
 */
int			dbmigrate_lock_retry_max_delay = 10000;

/* dbmigrate.run_lock_timeout: how long to wait for dbmigrate's run lock */
int			dbmigrate_run_lock_timeout = 60000;

/* dbmigrate.lint */
static const struct config_enum_entry dbm_lint_options[] = {
	{"off", DBM_LINT_OFF, false},
	{"warn", DBM_LINT_WARN, false},
	{"error", DBM_LINT_ERROR, false},
	{NULL, 0, false}
};

/* global variables */

/* > 0 while a migration step's SQL runs (see dbm_run_sql) */
int			dbm_step_depth = 0;

/*
 * _PG_init
 *		Define the GUCs.
 */
void
_PG_init(void)
{
	DefineCustomIntVariable("dbmigrate.lock_timeout",
							gettext_noop("Sets lock_timeout for each migration step."),
							gettext_noop("A step whose DDL waits longer than this for a lock "
										 "fails with SQLSTATE 55P03; it is retried as "
										 "dbmigrate.lock_retries says, then the whole call is "
										 "rolled back. Zero leaves the session's own lock_timeout "
										 "in effect."),
							&dbmigrate_lock_timeout,
							1000, 0, INT_MAX,
							PGC_USERSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("dbmigrate.statement_timeout",
							gettext_noop("Sets statement_timeout for each migration step."),
							gettext_noop("Every statement of a step runs with this "
										 "statement_timeout, armed when the statement starts "
										 "(57014 when it runs longer). A step's own SET "
										 "statement_timeout governs its later statements. Zero "
										 "leaves the session's own statement_timeout in effect, "
										 "also armed per statement."),
							&dbmigrate_statement_timeout,
							0, 0, INT_MAX,
							PGC_USERSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("dbmigrate.lock_retries",
							gettext_noop("Sets how many times a step that hit lock_timeout is retried."),
							gettext_noop("A step that fails with SQLSTATE 55P03 is rolled back to "
										 "its own savepoint, waits (exponential backoff with "
										 "jitter, at most dbmigrate.lock_retry_max_delay) and runs "
										 "again, up to this many times. Zero does not retry."),
							&dbmigrate_lock_retries,
							5, 0, 1000,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("dbmigrate.lock_retry_max_delay",
							gettext_noop("Sets the longest wait before retrying a step that hit lock_timeout."),
							gettext_noop("Retry n waits a random time between zero and the smaller "
										 "of this and 100 ms * 2^(n-1)."),
							&dbmigrate_lock_retry_max_delay,
							10000, 0, INT_MAX,
							PGC_USERSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("dbmigrate.run_lock_timeout",
							gettext_noop("Sets how long a call waits for dbmigrate's run lock."),
							gettext_noop("Every call that changes dbmigrate's state first takes "
										 "the run lock (a transaction-scoped lock on dbmigrate_private.run_lock); waiting longer "
										 "than this fails with SQLSTATE 55P03. Zero waits forever."),
							&dbmigrate_run_lock_timeout,
							60000, 0, INT_MAX,
							PGC_USERSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomEnumVariable("dbmigrate.lint",
							 gettext_noop("What registration does with the linter's findings."),
							 gettext_noop("off: nothing; warn: a WARNING per finding; error: the "
										  "registration fails on the first one (see migrate_lint)."),
							 &dbmigrate_lint,
							 DBM_LINT_WARN, dbm_lint_options,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("dbmigrate.lint_large_table",
							gettext_noop("Size from which the linter calls a table large."),
							gettext_noop("CREATE INDEX without CONCURRENTLY, and a constraint added "
										 "without NOT VALID, are findings on tables of at least this size."),
							&dbmigrate_lint_large_table,
							10 * 1024, 0, INT_MAX,
							PGC_USERSET,
							GUC_UNIT_KB,
							NULL, NULL, NULL);

	MarkGUCPrefixReserved("dbmigrate");

	dbm_runner_init();
	dbm_diagnostics_init();
}

/*
 * dbm_guc_set
 *		Set a setting in the innermost GUC nest level (NewGUCNestLevel), so
 *		that AtEOXact_GUC on that level, or the end of the transaction, puts
 *		the previous value back.  context is the privilege the change is made
 *		with (PGC_SUSET for superuser-only settings such as log_min_messages).
 */
void
dbm_guc_set(const char *name, const char *value, GucContext context)
{
	(void) set_config_option(name, value, context, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

/*
 * dbm_guc_set_lock_timeout
 *		dbm_guc_set of lock_timeout to ms milliseconds (0: wait forever).
 */
void
dbm_guc_set_lock_timeout(int ms)
{
	char		buf[32];

	snprintf(buf, sizeof(buf), "%d", ms);
	dbm_guc_set("lock_timeout", buf, PGC_USERSET);
}

/*
 * dbm_extension_owner
 *		OID of the role that owns the dbmigrate extension.
 */
static Oid
dbm_extension_owner(void)
{
	Oid			extoid;
	Oid			owner = InvalidOid;
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;

	extoid = get_extension_oid("dbmigrate", false);
	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(extoid));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
		owner = ((Form_pg_extension) GETSTRUCT(tup))->extowner;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	if (!OidIsValid(owner))
		elog(ERROR, "could not find the owner of extension \"dbmigrate\"");
	return owner;
}

/*
 * dbm_enter_owner
 *		Switch to the extension owner, with search_path pinned to pg_catalog,
 *		for dbmigrate's own bookkeeping queries.  The catalog tables grant
 *		nothing to PUBLIC; this is how a role granted EXECUTE on a function
 *		reaches them.  Never run migration SQL inside this context.
 */
void
dbm_enter_owner(DbmOwnerContext *ctx)
{
	GetUserIdAndSecContext(&ctx->saved_userid, &ctx->saved_sec_context);
	SetUserIdAndSecContext(dbm_extension_owner(),
						   ctx->saved_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	ctx->guc_nestlevel = NewGUCNestLevel();
	dbm_guc_set("search_path", DBM_PINNED_SEARCH_PATH, PGC_USERSET);

	/*
	 * Waiting for a lock on dbmigrate's own tables is bounded like waiting
	 * for the run lock (a session that holds one through a statement that
	 * locks before it checks privileges could otherwise stall every call).
	 */
	if (dbmigrate_run_lock_timeout > 0)
		dbm_guc_set_lock_timeout(dbmigrate_run_lock_timeout);
}

/*
 * dbm_leave_owner
 *		Undo dbm_enter_owner.
 */
void
dbm_leave_owner(DbmOwnerContext *ctx)
{
	AtEOXact_GUC(true, ctx->guc_nestlevel);
	SetUserIdAndSecContext(ctx->saved_userid, ctx->saved_sec_context);
}

/*
 * dbm_run_lock_callback
 *		Error context while waiting for the run lock.
 */
static void
dbm_run_lock_callback(void *arg)
{
	if (geterrcode() == ERRCODE_LOCK_NOT_AVAILABLE)
	{
		errdetail("Another session is running a dbmigrate call that changes state; "
				  "dbmigrate.run_lock_timeout is %d ms.", dbmigrate_run_lock_timeout);
		errhint("Find it with: SELECT pid FROM pg_locks WHERE relation = "
				"'dbmigrate_private.run_lock'::regclass AND mode = 'ShareUpdateExclusiveLock' "
				"AND granted; raise dbmigrate.run_lock_timeout to wait longer.");
	}
	errcontext("waiting for dbmigrate's run lock in %s()", (const char *) arg);
}

/*
 * dbm_begin_state_change
 *		Common prologue of every call that changes dbmigrate's state:
 *		refuse snapshot isolation levels (the plan must be made from a
 *		snapshot taken after the lock), then take the run lock, waiting at
 *		most dbmigrate.run_lock_timeout: SHARE UPDATE EXCLUSIVE on
 *		dbmigrate_private.run_lock until the end of the transaction.  It is
 *		self-conflicting; a role without USAGE on schema dbmigrate_private
 *		cannot name the view, so it cannot lock it at all (see
 *		dbmigrate--1.0--1.1.sql), and plain SELECTs (the read-only
 *		functions) never wait for it.
 *
 *		SQLSTATE 25000 at REPEATABLE READ / SERIALIZABLE; 55P03 on timeout;
 *		55000 when called from migration SQL, unless allow_in_step.
 */
void
dbm_begin_state_change(const char *funcname, bool allow_in_step)
{
	Oid			relid;

	if (dbm_step_depth > 0 && !allow_in_step)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s() cannot be called from migration SQL", funcname),
				 errdetail("A migration step is running; calling dbmigrate's state-changing "
						   "functions from it would recurse into the run in progress."),
				 errhint("Remove the call from the revision's SQL; read-only functions such as "
						 "migrate_current() may be called.")));

	dbm_refuse_on_standby(funcname);

	if (IsolationUsesXactSnapshot() && !creating_extension)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("%s() cannot run at isolation level %s",
						funcname,
						IsolationIsSerializable() ? "SERIALIZABLE" : "REPEATABLE READ"),
				 errdetail("dbmigrate reads its state after taking its lock; a transaction "
						   "snapshot taken before the lock would be stale (for migrations, it "
						   "could apply a revision twice)."),
				 errhint("Call it in a READ COMMITTED transaction.")));

	relid = dbm_run_lock_relid();
	dbm_take_run_lock(funcname, relid, false);
}

/*
 * dbm_take_run_lock
 *		SHARE UPDATE EXCLUSIVE on the run lock relation relid, for the
 *		transaction or (session) for the session, waiting at most
 *		dbmigrate.run_lock_timeout (55P03, with a context and hint naming
 *		funcname and who holds it); InvalidOid: 1.0's advisory lock.
 */
static void
dbm_take_run_lock(const char *funcname, Oid relid, bool session)
{
	ErrorContextCallback errcallback;
	int			nestlevel;

	errcallback.callback = dbm_run_lock_callback;
	errcallback.arg = unconstify(char *, funcname);
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	nestlevel = NewGUCNestLevel();
	dbm_guc_set_lock_timeout(dbmigrate_run_lock_timeout);
	if (session)
	{
		dbm_session_lockid.relId = relid;
		dbm_session_lockid.dbId = MyDatabaseId;
		LockRelationIdForSession(&dbm_session_lockid, ShareUpdateExclusiveLock);
		dbm_session_locked = true;
	}
	else if (OidIsValid(relid))
		LockRelationOid(relid, ShareUpdateExclusiveLock);
	else
	{
		/* the 1.0 schema, until ALTER EXTENSION dbmigrate UPDATE */
		(void) DirectFunctionCall1(pg_advisory_xact_lock_int8,
								   Int64GetDatum(DBMIGRATE_LOCK_KEY_1_0));
	}
	AtEOXact_GUC(true, nestlevel);
	error_context_stack = errcallback.previous;
}

/*
 * dbm_refuse_on_standby
 *		A state change on a hot standby: 25006 with a hint, before anything
 *		else (the run lock could not even be taken there).
 */
static void
dbm_refuse_on_standby(const char *funcname)
{
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("%s() cannot run on a hot standby", funcname),
				 errdetail("This server is in recovery: it replays the primary's changes and makes none."),
				 errhint("Run it on the primary; the read-only functions (migrate_current, "
						 "migrate_history, health) work here.")));
}

/*
 * dbm_run_lock_relid
 *		dbmigrate_private.run_lock, or InvalidOid on a 1.0 schema.
 */
static Oid
dbm_run_lock_relid(void)
{
	return get_relname_relid("run_lock", get_namespace_oid("dbmigrate_private", true));
}

/*
 * dbm_session_lock / dbm_session_unlock
 *		The run lock for a stepwise procedure, held across its commits: the
 *		same SHARE UPDATE EXCLUSIVE lock on dbmigrate_private.run_lock as
 *		dbm_begin_state_change takes, but session-level, so no other deploy
 *		can start between two of its revisions.  Waits at most
 *		dbmigrate.run_lock_timeout (55P03).  A role without privileges on
 *		dbmigrate_private cannot name the view, so it cannot take or block
 *		this lock either.  A session lock outlives an error: the procedures
 *		release it on every exit (PG_FINALLY).  55000 on a 1.0 schema.
 */
void
dbm_session_lock(const char *funcname)
{
	Oid			relid;

	Assert(!dbm_session_locked);
	dbm_refuse_on_standby(funcname);
	relid = dbm_run_lock_relid();
	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s() needs dbmigrate 1.1 in this database", funcname),
				 errdetail("The extension's tables are still those of version 1.0."),
				 errhint("Run ALTER EXTENSION dbmigrate UPDATE;")));
	dbm_take_run_lock(funcname, relid, true);
}

/* (no catalog access: it runs after errors, in an aborted transaction) */
void
dbm_session_unlock(void)
{
	if (!dbm_session_locked)
		return;
	dbm_session_locked = false;
	UnlockRelationIdForSession(&dbm_session_lockid, ShareUpdateExclusiveLock);
}

/*
 * dbm_init_srf
 *		Materialize-mode output for a set-returning function, composite or
 *		scalar (SETOF text, whose descriptor is the one the executor expects).
 */
Tuplestorestate *
dbm_init_srf(FunctionCallInfo fcinfo, TupleDesc *tupdesc)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, get_fn_expr_rettype(fcinfo->flinfo) == TEXTOID ?
						MAT_SRF_USE_EXPECTED_DESC : 0);
	*tupdesc = rsinfo->setDesc;
	return rsinfo->setResult;
}

/*
 * dbm_may_read_migration_sql
 *		Whether the current role may read migration SQL text: the right to
 *		call migrate_show(), which returns it.  Migration SQL may hold secrets
 *		(a CREATE ROLE ... PASSWORD), so history(verbose) and the error
 *		context of a failing step show it only to such roles.
 */
bool
dbm_may_read_migration_sql(void)
{
	Oid			argtypes[1] = {TEXTOID};
	Oid			showoid;

	showoid = LookupFuncName(list_make2(makeString("dbmigrate"), makeString("migrate_show")),
							 1, argtypes, false);
	return dbm_may_execute(showoid, GetUserId());
}

/*
 * dbm_text_arg / dbm_text_arg_or_null
 *		Argument argno as a C string; NULL is refused with SQLSTATE 22004, or
 *		returned as NULL.
 */
char *
dbm_text_arg(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", argname)));
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

char *
dbm_text_arg_or_null(FunctionCallInfo fcinfo, int argno)
{
	return PG_ARGISNULL(argno) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

/*
 * dbm_spi_connect / dbm_spi_finish
 *		SPI_connect and SPI_finish with their results checked.
 */
void
dbm_spi_connect(void)
{
	int			rc = SPI_connect();

	if (rc != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed: %s", SPI_result_code_string(rc));
}

void
dbm_spi_finish(void)
{
	int			rc = SPI_finish();

	if (rc != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed: %s", SPI_result_code_string(rc));
}

/*
 * dbm_call_begin / dbm_call_end
 *		Open a function's session with dbmigrate's tables: SPI connected, then
 *		the owner context (dbm_enter_owner); and close it in reverse order.
 *		Whatever the function returns must be copied out of SPI's memory
 *		before dbm_call_end.
 */
void
dbm_call_begin(DbmCall *call)
{
	dbm_spi_connect();
	dbm_enter_owner(&call->owner);
}

void
dbm_call_end(DbmCall *call)
{
	dbm_leave_owner(&call->owner);
	dbm_spi_finish();
}

/*-------------------------------------------------------------------------
 *
 * runner.c
 *	  Running migrations: migrate_upgrade, migrate_downgrade (by steps and
 *	  by target) and migrate_stamp.  One call is one unit inside the caller's
 *	  transaction: it takes the run lock, reads the state after the lock,
 *	  plans from the graph, runs each step's SQL as the calling role inside
 *	  its own savepoint and GUC nest level (retried after a lock timeout,
 *	  each statement under a statement_timeout of its own, its deferred
 *	  constraint checks fired at its end), and writes version and log.
 *
 * Copyright (c) 2026, dbmigrate developers
 *
 * IDENTIFICATION
 *	  src/runner.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_trigger.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"

#include "dbmigrate.h"
#include "catalog.h"
#include "diagnostics.h"
#include "graph.h"
#include "idlist.h"
#include "runner.h"
#include "sqlcheck.h"
#include "target.h"

/* forward declarations */

/* What a step's error context needs */
typedef struct DbmStepInfo
{
	const char *direction;		/* "upgrade" or "downgrade" */
	const char *revision;
	const char *from;
	const char *to;
	int			statement;
	int			nstatements;
	bool		from_base;
	bool		hide_sql;		/* the caller may not read migration SQL */
	DbmCallStart call_start;	/* when the call began running steps */
	bool		preexisting;	/* the running statement creates an object
								 * that existed before the call (computed when
								 * upgrading from base only) */
	Node	   *stmt;			/* raw parse tree of the statement running */
	bool		set_constraints;	/* the step ran SET CONSTRAINTS */
	bool		at_end;			/* firing the step's deferred checks */
} DbmStepInfo;

/* Retry n of a step waits at most this times 2^(n-1) ms (full jitter) */
#define DBM_RETRY_BASE_DELAY 100

/* How many revisions' text is read at once */
#define DBM_CHUNK 1000

static void dbm_step_error_callback(void *arg);
static char *dbm_step_context(DbmStepInfo *info);
static void dbm_hide_sql(ErrorData *edata, DbmStepInfo *info, MemoryContext cxt);
static void dbm_emit_log_hook(ErrorData *edata);
static void dbm_arm_statement_timeout(bool check);
static bool dbm_deferred_checks_pending(void);
static List *dbm_deferrable_immediate_constraints(void);
static void dbm_fire_deferred(void);
static void dbm_caller_deferred_callback(void *arg);
static void dbm_run_sql(const char *sql, DbmStepInfo *info);
static void dbm_run_statement(Node *stmt, const char *text, int len, void *arg);
static bool dbm_run_step_attempt(const char *sql, DbmStepInfo *info, ErrorData **edata);
static int	dbm_retry_delay(int retry);
static void dbm_retry_wait(int ms);
static List *dbm_statement_relations(Node *stmt);
static char *dbm_lock_holders(List *relids, int *nholders);
static char *dbm_lock_failure_detail(DbmStepInfo *info, int attempts, const char *holders,
									 int nholders);
static bool dbm_log_takes_lock_retries(void);
static bool *dbm_plan_upgrade(DbmGraph *g, bool *applied, const DbmTarget *t);
static List *dbm_plan_downgrade_steps(DbmGraph *g, bool *applied, List *current,
									  const DbmTarget *t);
static bool *dbm_plan_downgrade_target(DbmGraph *g, bool *applied, const DbmTarget *t);
static List *dbm_undo_order(DbmGraph *g, const bool *set);
static void dbm_check_reversible(List *ids, const DbmTarget *t);
static void dbm_check_transactional(List *ids, const DbmTarget *t, const char *stepwise);
static Datum dbm_downgrade(FunctionCallInfo fcinfo, const DbmTarget *t);

/* SQL-callable functions */
PG_FUNCTION_INFO_V1(dbmigrate_migrate_upgrade);
PG_FUNCTION_INFO_V1(dbmigrate_migrate_downgrade);
PG_FUNCTION_INFO_V1(dbmigrate_migrate_downgrade_to);
PG_FUNCTION_INFO_V1(dbmigrate_migrate_stamp);

/*
 * dbm_step_error_callback
 *		Name the revision, direction and statement of a failing step, and add
 *		a hint where the cause is a known trap.  It runs for every report a
 *		step raises, notices too: hints go only on errors, and the "adopt it
 *		with migrate_stamp" hint only when the statement collides with an
 *		object that existed before the call (dbm_creates_existing_object),
 *		not with one an earlier step created, nor on the NOTICE of an IF NOT
 *		EXISTS, where following it would skip real migrations.
 */
static void
dbm_step_error_callback(void *arg)
{
	DbmStepInfo *info = (DbmStepInfo *) arg;
	int			code = geterrcode();

	if (code == ERRCODE_LOCK_NOT_AVAILABLE && dbm_reporting_error())
		errhint("Another session holds a lock this statement needs (dbmigrate.lock_timeout "
				"is %d ms); find it with pg_blocking_pids(), let it finish, and retry.",
				dbmigrate_lock_timeout);
	else if ((code == ERRCODE_DUPLICATE_TABLE || code == ERRCODE_DUPLICATE_OBJECT ||
			  code == ERRCODE_DUPLICATE_SCHEMA) &&
			 info->preexisting && dbm_reporting_error())
		errhint("dbmigrate has no applied revision, but the schema already holds these objects "
				"(a restore without dbmigrate's data?); adopt it with "
				"SELECT dbmigrate.migrate_stamp('<revision>');");
	else if (code == ERRCODE_UNSAFE_NEW_ENUM_VALUE_USAGE && dbm_reporting_error())
		errhint("A new enum value cannot be used in the transaction that added it; "
				"run migrate_upgrade() up to the revision that adds it, commit, then continue.");

	errcontext("%s", dbm_step_context(info));
}

/*
 * dbm_running_step
 *		Whether a migration step is running (its error context callback is
 *		on the stack), and if so its revision and direction (either pointer
 *		may be NULL): lets a hook name the revision in its error.
 */
bool
dbm_running_step(const char **revision, const char **direction)
{
	ErrorContextCallback *ec;

	for (ec = error_context_stack; ec != NULL; ec = ec->previous)
	{
		if (ec->callback == dbm_step_error_callback)
		{
			DbmStepInfo *info = (DbmStepInfo *) ec->arg;

			if (revision)
				*revision = info->revision;
			if (direction)
				*direction = info->direction;
			return true;
		}
	}
	return false;
}

/*
 * dbm_step_context
 *		The error context line of a step: revision, direction and statement,
 *		and, for a caller who may not read migration SQL, that the lines
 *		showing it were removed (see dbm_hide_sql).
 */
static char *
dbm_step_context(DbmStepInfo *info)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "%s of revision \"%s\" (%s -> %s)",
					 info->direction, info->revision, info->from, info->to);
	if (info->at_end)
		appendStringInfoString(&buf, ", deferred constraint checks at its end");
	else if (info->nstatements > 1)
		appendStringInfo(&buf, ", statement %d of %d", info->statement, info->nstatements);
	if (info->hide_sql)
		appendStringInfoString(&buf, " (its SQL text is shown only to roles that may call "
							   "dbmigrate.migrate_show)");
	return buf.data;
}

/*
 * dbm_hide_sql
 *		Remove migration SQL text from a report raised inside a step, for a
 *		caller without EXECUTE on migrate_show (the right to read that text):
 *		the context lines inner to the step's own line (SPI's "SQL statement
 *		...", PL/pgSQL's) and the internal query go; the message, detail,
 *		hint and the step's line (revision and statement number) stay.
 *		Called for errors (dbm_run_sql) and for notices and warnings
 *		(dbm_emit_log_hook).
 */
static void
dbm_hide_sql(ErrorData *edata, DbmStepInfo *info, MemoryContext cxt)
{
	char	   *line = dbm_step_context(info);
	char	   *ours = edata->context ? strstr(edata->context, line) : NULL;

	edata->context = MemoryContextStrdup(cxt, ours ? ours : line);
	edata->internalquery = NULL;
	edata->internalpos = 0;
}

/*
 * dbm_emit_log_hook
 *		Hide migration SQL in the reports a step raises while it runs, when
 *		the caller may not read it: infos, notices, warnings, and a FATAL
 *		that ends the backend (errors are also handled in dbm_run_sql, as
 *		they are reported only after they leave the step).
 *
 *		PostgreSQL calls emit_log_hook only for reports that go to the server
 *		log.  So while such a step runs, log_min_messages is lowered to the
 *		client's level (dbm_run_sql, in the step's GUC nest level): every
 *		report the client will see passes through here, and those the
 *		server log would not have taken are taken off it again.
 */
static emit_log_hook_type dbm_prev_emit_log_hook = NULL;
static DbmStepInfo *dbm_hidden_step = NULL;
static int	dbm_saved_log_min_messages = WARNING;

/* whether the server log takes a report of elevel at log_min_messages = min */
static bool
dbm_server_logs(int elevel, int min)
{
	if (elevel == LOG || elevel == LOG_SERVER_ONLY)
		return min == LOG || min <= ERROR;
	if (elevel == WARNING_CLIENT_ONLY)
		return false;
	if (min == LOG)
		return elevel >= FATAL;
	return elevel >= min;
}

static void
dbm_emit_log_hook(ErrorData *edata)
{
	/* every level: a FATAL (a terminated backend) is reported from here too */
	if (dbm_hidden_step != NULL)
	{
		dbm_hide_sql(edata, dbm_hidden_step, ErrorContext);
		if (!dbm_server_logs(edata->elevel, dbm_saved_log_min_messages))
			edata->output_to_server = false;
	}
	if (dbm_prev_emit_log_hook)
		dbm_prev_emit_log_hook(edata);
}

/*
 * dbm_runner_init
 *		Install the hook above; called from _PG_init.
 */
void
dbm_runner_init(void)
{
	dbm_prev_emit_log_hook = emit_log_hook;
	emit_log_hook = dbm_emit_log_hook;
}

/*
 * dbm_arm_statement_timeout
 *		Start PostgreSQL's statement_timeout afresh from the setting in force
 *		now (its STATEMENT_TIMEOUT timer; 0 stops it).  PostgreSQL arms that
 *		timer only when a client's statement starts, so without this a whole
 *		migrate_upgrade() call would be one statement: a revision's own
 *		SET statement_timeout would change nothing, and the caller's limit
 *		would cover all steps together.  Called before each statement of a
 *		step (and its deferred checks), and with the caller's setting again
 *		after each step.  With check, a timeout that already fired is
 *		reported first (as 57014, not as a cancel by the user: re-arming
 *		clears the timer's indicator); without, nothing is thrown (the caller
 *		is about to rethrow an error of its own).
 */
static void
dbm_arm_statement_timeout(bool check)
{
	if (get_timeout_active(STATEMENT_TIMEOUT))
		disable_timeout(STATEMENT_TIMEOUT, true);
	if (check)
		CHECK_FOR_INTERRUPTS();
	if (StatementTimeout > 0)
		enable_timeout_after(STATEMENT_TIMEOUT, StatementTimeout);
}

/*
 * Deferred constraints at the end of a step.
 *
 * Each step behaves as if it were committed: the constraint checks it
 * deferred (DEFERRABLE INITIALLY DEFERRED foreign keys and constraint
 * triggers, or any after SET CONSTRAINTS ... DEFERRED) fire at its end,
 * inside its error context, instead of at the caller's COMMIT.  Otherwise a
 * violation surfaces at COMMIT without naming its revision, and a later
 * revision's ALTER TABLE of such a table fails with 55006 ("pending trigger
 * events").
 *
 * PostgreSQL fires pending deferred events only at COMMIT
 * (AfterTriggerFireDeferred, which must not run inside a query) and in
 * SET CONSTRAINTS ... IMMEDIATE (AfterTriggerSetState), which also changes
 * the transaction's constraint modes for the rest of the transaction.
 * trigger.c keeps those modes (SetConstraintState) in a static variable
 * and restores them only when a subtransaction aborts: an abort also
 * un-marks every event fired since that subtransaction began, so it cannot
 * be used to restore the modes after firing, and a subtransaction commit
 * (which keeps the fired events done) keeps the new modes too.  So the
 * modes are restored through SET CONSTRAINTS itself:
 *
 *	1. SET CONSTRAINTS ALL IMMEDIATE fires every pending check.  Inside the
 *	   step's subtransaction the fired events are marked done, not deleted;
 *	   they stay done when the subtransaction commits, and the whole step,
 *	   checks included, is undone if it aborts.
 *	2. SET CONSTRAINTS ALL DEFERRED (fires nothing) forgets the per-
 *	   constraint settings and defers every deferrable constraint, which is
 *	   the declared mode of every INITIALLY DEFERRED one.
 *	3. SET CONSTRAINTS <name, ...> IMMEDIATE for every DEFERRABLE INITIALLY
 *	   IMMEDIATE constraint (in schemas the current role may use) puts those
 *	   back to their declared mode; nothing is pending, so nothing fires.
 *
 * The next step then sees every existing constraint in its declared mode,
 * and a constraint it creates INITIALLY DEFERRED is deferred, as in a fresh
 * transaction.  Two approximations remain, neither of which skips a check
 * (every step's pending checks fire at its end): a constraint created
 * DEFERRABLE INITIALLY IMMEDIATE after such a step is deferred, and of two
 * constraints of one name in one schema, one INITIALLY DEFERRED and one
 * INITIALLY IMMEDIATE, both end up immediate (SET CONSTRAINTS takes names).  Restoring the modes
 * exactly would need trigger.c's static state.  A step that neither left
 * checks pending nor ran SET CONSTRAINTS does none of this, so the
 * transaction's constraint state stays untouched (and the catalog scan of
 * step 3 is not paid per step); a SET CONSTRAINTS that only runs inside a
 * DO block or EXECUTE is not seen, so its mode lasts until a later step
 * restores the modes.
 */

/*
 * dbm_deferred_checks_pending
 *		Whether a deferred constraint check is pending in this transaction:
 *		an unfired after-trigger event on a table with a deferrable trigger
 *		(only those can have events pending between statements).
 */
static bool
dbm_deferred_checks_pending(void)
{
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			last = InvalidOid;
	bool		pending = false;

	rel = table_open(TriggerRelationId, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	while (!pending && HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_trigger trig = (Form_pg_trigger) GETSTRUCT(tup);

		CHECK_FOR_INTERRUPTS();
		if (trig->tgdeferrable && trig->tgrelid != last)
		{
			last = trig->tgrelid;
			pending = AfterTriggerPendingOnRel(last);
		}
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return pending;
}

/*
 * dbm_deferrable_immediate_constraints
 *		The DEFERRABLE INITIALLY IMMEDIATE constraints, as the schema-qualified
 *		names SET CONSTRAINTS takes (RangeVars), each name once; only in
 *		schemas the current role may use (SET CONSTRAINTS requires USAGE) and
 *		not in other sessions' temporary schemas.
 */
static List *
dbm_deferrable_immediate_constraints(void)
{
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;
	HTAB	   *seen = dbm_string_hash("dbmigrate constraint names", 64, sizeof(char *));
	List	   *names = NIL;
	Oid			role = GetUserId();

	rel = table_open(ConstraintRelationId, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_constraint con = (Form_pg_constraint) GETSTRUCT(tup);
		char	   *nspname;
		char	   *key;
		bool		found;

		CHECK_FOR_INTERRUPTS();
		if (!con->condeferrable || con->condeferred ||
			isOtherTempNamespace(con->connamespace) ||
			!dbm_may_use_schema(con->connamespace, role))
			continue;
		nspname = get_namespace_name(con->connamespace);
		if (nspname == NULL)
			continue;
		key = psprintf("%s.%s", quote_identifier(nspname),
					   quote_identifier(NameStr(con->conname)));
		(void) hash_search(seen, &key, HASH_ENTER, &found);
		if (!found)
			names = lappend(names, makeRangeVar(nspname, pstrdup(NameStr(con->conname)), -1));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	hash_destroy(seen);
	return names;
}

/*
 * dbm_fire_deferred
 *		Fire every pending deferred constraint check now, then put every
 *		constraint back to its declared mode (steps 1 to 3 above).  Runs as
 *		the current role, so user triggers fire with the step's rights.
 */
static void
dbm_fire_deferred(void)
{
	ConstraintsSetStmt *stmt = makeNode(ConstraintsSetStmt);

	stmt->constraints = NIL;
	stmt->deferred = false;
	AfterTriggerSetState(stmt);

	stmt->deferred = true;
	AfterTriggerSetState(stmt);

	stmt->constraints = dbm_deferrable_immediate_constraints();
	if (stmt->constraints != NIL)
	{
		stmt->deferred = false;
		AfterTriggerSetState(stmt);
	}
}

/*
 * dbm_caller_deferred_callback
 *		Error context of the checks the caller's transaction left pending
 *		before the call, fired before its first step (which runs as if they
 *		were committed).
 */
static void
dbm_caller_deferred_callback(void *arg)
{
	errcontext("deferred constraint checks pending in the caller's transaction, fired before "
			   "the first step of %s()", (const char *) arg);
}

/*
 * dbm_run_statement
 *		Execute one statement of a step (a dbm_foreach_statement callback);
 *		arg is the step's DbmStepInfo.  Rows it returns are discarded.  The
 *		statement runs under a statement_timeout of its own (see
 *		dbm_arm_statement_timeout).
 */
static void
dbm_run_statement(Node *stmt, const char *text, int len, void *arg)
{
	DbmStepInfo *info = (DbmStepInfo *) arg;
	MemoryContext cxt = CurrentMemoryContext;
	char	   *sql = text[len] == '\0' ? unconstify(char *, text) : pnstrdup(text, len);
	int			rc;

	CHECK_FOR_INTERRUPTS();
	info->statement++;
	info->preexisting = info->from_base && strcmp(info->direction, "upgrade") == 0 &&
		dbm_creates_existing_object(stmt, &info->call_start);
	info->stmt = stmt;
	if (IsA(stmt, ConstraintsSetStmt))
		info->set_constraints = true;
	dbm_arm_statement_timeout(true);
	rc = dbm_spi_execute_discard(sql);
	info->stmt = NULL;
	MemoryContextSwitchTo(cxt);
	if (rc == SPI_ERROR_TRANSACTION)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
				 errmsg("transaction control is not allowed in migration SQL"),
				 errdetail("A migrate_upgrade() or migrate_downgrade() call runs every step in the "
						   "caller's transaction."),
				 errhint("Remove BEGIN, COMMIT, ROLLBACK and SAVEPOINT from the revision.")));
	if (rc == SPI_ERROR_COPY)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("COPY to or from the client is not supported in migration SQL"),
				 errdetail("Migration SQL runs inside the server, where there is no client to copy from or to."),
				 errhint("Use INSERT statements, or COPY from a server-side file.")));
	if (rc < 0)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
	SPI_freetuptable(SPI_tuptable);
	if (sql != text)
		pfree(sql);
}

/*
 * dbm_run_sql
 *		Run one step's SQL as the calling role, statement by statement as the
 *		server's parser splits it (a piece at a time, so memory does not grow
 *		with the text), inside a GUC nest level that is rolled back
 *		afterwards: SET, SET ROLE and search_path changes end with the step.
 *		lock_timeout and statement_timeout start as dbmigrate's settings say
 *		(the step may change them for its later statements), and the
 *		deferred constraint checks the step leaves pending fire at its end,
 *		still under its settings and error context.
 */
static void
dbm_run_sql(const char *sql, DbmStepInfo *info)
{
	MemoryContext stepcxt = CurrentMemoryContext;
	int			nestlevel;

	info->nstatements = 0;
	info->statement = 0;
	info->stmt = NULL;
	info->set_constraints = false;
	info->at_end = false;

	nestlevel = NewGUCNestLevel();
	if (dbmigrate_lock_timeout > 0)
		dbm_guc_set_lock_timeout(dbmigrate_lock_timeout);
	if (dbmigrate_statement_timeout > 0)
	{
		char		buf[32];

		snprintf(buf, sizeof(buf), "%d", dbmigrate_statement_timeout);
		dbm_guc_set("statement_timeout", buf, PGC_USERSET);
	}

	/*
	 * Migration text is parsed as it was checked at registration, whatever
	 * the caller's setting.
	 */
	dbm_guc_set("standard_conforming_strings", "on", PGC_USERSET);

	dbm_saved_log_min_messages = log_min_messages;
	if (info->hide_sql)
	{
		/*
		 * Route every report the client sees through dbm_emit_log_hook:
		 * log_min_messages down to the client's level, and at least to INFO,
		 * which reaches the client whatever client_min_messages says.  And no
		 * dumps of the statements' parse trees or plans.
		 */
		int			level = Min(client_min_messages, INFO);

		if (level < log_min_messages)
			dbm_guc_set("log_min_messages",
						level == INFO ? "info" : GetConfigOption("client_min_messages", false, false),
						PGC_SUSET);
		dbm_guc_set("debug_print_parse", "off", PGC_SUSET);
		dbm_guc_set("debug_print_rewritten", "off", PGC_SUSET);
		dbm_guc_set("debug_print_plan", "off", PGC_SUSET);
	}

	dbm_step_depth++;
	if (info->hide_sql)
		dbm_hidden_step = info;
	PG_TRY();
	{
		dbm_foreach_statement(sql, info->revision, info->direction,
							  dbm_run_statement, info, &info->nstatements);
		if (info->set_constraints || dbm_deferred_checks_pending())
		{
			info->at_end = true;
			dbm_arm_statement_timeout(true);
			dbm_fire_deferred();
			info->at_end = false;
		}
	}
	PG_CATCH();
	{
		dbm_step_depth--;
		dbm_hidden_step = NULL;
		if (info->hide_sql)
		{
			ErrorData  *edata;

			MemoryContextSwitchTo(stepcxt);
			edata = CopyErrorData();
			FlushErrorState();
			dbm_hide_sql(edata, info, stepcxt);
			ReThrowError(edata);
		}
		PG_RE_THROW();
	}
	PG_END_TRY();
	dbm_step_depth--;
	dbm_hidden_step = NULL;

	AtEOXact_GUC(false, nestlevel);
}

/*
 * dbm_check_step_body
 *		Refuse (55000) to run a revision whose stored text no longer matches
 *		its checksum, or, for a downgrade, whose stored definition is not the
 *		one that was applied (runs: dbm_read_last_runs of the steps).
 */
void
dbm_check_step_body(DbmBody *body, bool upgrade, HTAB *runs)
{
	const char *id = body->id;
	char	   *checksum;

	checksum = dbm_checksum_revision(body->upgrade_sql, body->downgrade_sql,
									 body->transactional);
	if (strcmp(checksum, body->checksum) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("stored text of revision \"%s\" does not match its checksum", id),
				 errdetail("Its upgrade_sql or downgrade_sql was changed outside "
						   "migrate_register(); recorded %s, now %s.",
						   body->checksum, checksum),
				 errhint("Register the intended text again with migrate_register().")));

	/*
	 * undo only what was applied: the definition must be the one that ran
	 */
	if (!upgrade)
	{
		DbmLastRun *run = dbm_last_run(runs, id);
		char	   *ran = run ? run->checksum : NULL;

		if (ran != NULL && strcmp(ran, body->checksum) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("revision \"%s\" is not registered as it was applied", id),
					 errdetail("It was applied with checksum %s; its stored definition has "
							   "checksum %s (dbmigrate.revision was changed outside "
							   "dbmigrate's functions).", ran, body->checksum),
					 errhint("Register the text that was applied again with migrate_register() "
							 "to restore it, or move the version with migrate_stamp().")));
	}
}

/*
 * dbm_run_step_attempt
 *		Run a step's SQL (dbm_run_sql) inside an internal subtransaction, its
 *		savepoint, as PostgreSQL's own PL handlers do.  True when it
 *		succeeded (the subtransaction is released into the caller's
 *		transaction); false when it failed: the subtransaction is rolled
 *		back (the step's changes, locks, settings and queued trigger events
 *		with it) and *edata is the error, copied into the current context,
 *		for the caller to retry or rethrow.  Either way the statement_timeout
 *		timer is armed again from the caller's setting.
 */
static bool
dbm_run_step_attempt(const char *sql, DbmStepInfo *info, ErrorData **edata)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile bool ok = false;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		dbm_run_sql(sql, info);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		ok = true;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		*edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_END_TRY();
	dbm_arm_statement_timeout(ok);
	return ok;
}

/*
 * dbm_retry_delay
 *		How long to wait before retry number retry (1, 2, ...): exponential
 *		backoff with full jitter, a random time between 0 and
 *		min(dbmigrate.lock_retry_max_delay, DBM_RETRY_BASE_DELAY * 2^(retry-1))
 *		milliseconds, so that sessions retrying together spread out.
 */
static int
dbm_retry_delay(int retry)
{
	double		cap = DBM_RETRY_BASE_DELAY;
	int			i;

	for (i = 1; i < retry && cap < dbmigrate_lock_retry_max_delay; i++)
		cap *= 2;
	cap = Min(cap, (double) dbmigrate_lock_retry_max_delay);
	return (int) (dbm_random_fraction() * (cap + 1));
}

/*
 * dbm_retry_wait
 *		Sleep ms milliseconds on the latch, so that a cancel or a terminate
 *		(pg_cancel_backend, pg_terminate_backend) ends the wait at once.
 *		No statement_timeout runs meanwhile: the wait is bounded by
 *		dbmigrate.lock_retry_max_delay, and the next attempt's statements
 *		arm their own.
 */
static void
dbm_retry_wait(int ms)
{
	TimestampTz end = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ms);

	if (get_timeout_active(STATEMENT_TIMEOUT))
		disable_timeout(STATEMENT_TIMEOUT, true);
	for (;;)
	{
		long		secs;
		int			usecs;
		long		left;

		CHECK_FOR_INTERRUPTS();
		TimestampDifference(GetCurrentTimestamp(), end, &secs, &usecs);
		left = secs * 1000 + usecs / 1000;
		if (left <= 0)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 left, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/*
 * dbm_rangevar_relid
 *		The relation a RangeVar names, without taking a lock and without
 *		raising anything (best effort: InvalidOid when not found).
 */
static Oid
dbm_rangevar_relid(RangeVar *rv)
{
	Oid			nspoid;

	if (rv == NULL || rv->catalogname != NULL)
		return InvalidOid;
	if (rv->schemaname == NULL)
		return RelnameGetRelid(rv->relname);
	nspoid = get_namespace_oid(rv->schemaname, true);
	return OidIsValid(nspoid) ? get_relname_relid(rv->relname, nspoid) : InvalidOid;
}

/*
 * dbm_statement_relations
 *		The relations a statement names as its targets, for the NOTICE of a
 *		lock retry: the usual DDL (ALTER TABLE and the tables its foreign
 *		keys reference, CREATE INDEX, CREATE TRIGGER, CREATE RULE, RENAME,
 *		DROP of a relation, CREATE TABLE ... INHERITS/PARTITION OF), LOCK,
 *		TRUNCATE and INSERT/UPDATE/DELETE.  Nothing for other statements (a
 *		DO block, a function call).  Names resolve with the search_path in
 *		force now; best effort.
 */
static List *
dbm_statement_relations(Node *stmt)
{
	List	   *rvs = NIL;
	List	   *relids = NIL;
	ListCell   *lc;

	if (stmt == NULL)
		return NIL;
	switch (nodeTag(stmt))
	{
		case T_AlterTableStmt:
			rvs = list_make1(((AlterTableStmt *) stmt)->relation);
			foreach(lc, ((AlterTableStmt *) stmt)->cmds)
			{
				AlterTableCmd *cmd = (AlterTableCmd *) lfirst(lc);

				if (cmd->def != NULL && IsA(cmd->def, Constraint) &&
					((Constraint *) cmd->def)->contype == CONSTR_FOREIGN)
					rvs = lappend(rvs, ((Constraint *) cmd->def)->pktable);
			}
			break;
		case T_IndexStmt:
			rvs = list_make1(((IndexStmt *) stmt)->relation);
			break;
		case T_CreateTrigStmt:
			rvs = list_make2(((CreateTrigStmt *) stmt)->relation,
							 ((CreateTrigStmt *) stmt)->constrrel);
			break;
		case T_RuleStmt:
			rvs = list_make1(((RuleStmt *) stmt)->relation);
			break;
		case T_RenameStmt:
			rvs = list_make1(((RenameStmt *) stmt)->relation);
			break;
		case T_LockStmt:
			rvs = ((LockStmt *) stmt)->relations;
			break;
		case T_TruncateStmt:
			rvs = ((TruncateStmt *) stmt)->relations;
			break;
		case T_InsertStmt:
			rvs = list_make1(((InsertStmt *) stmt)->relation);
			break;
		case T_UpdateStmt:
			rvs = list_make1(((UpdateStmt *) stmt)->relation);
			break;
		case T_DeleteStmt:
			rvs = list_make1(((DeleteStmt *) stmt)->relation);
			break;
		case T_CreateStmt:
			rvs = ((CreateStmt *) stmt)->inhRelations;
			break;
		case T_DropStmt:
			{
				DropStmt   *drop = (DropStmt *) stmt;

				if (drop->removeType != OBJECT_TABLE && drop->removeType != OBJECT_INDEX &&
					drop->removeType != OBJECT_VIEW && drop->removeType != OBJECT_MATVIEW &&
					drop->removeType != OBJECT_SEQUENCE &&
					drop->removeType != OBJECT_FOREIGN_TABLE)
					break;
				foreach(lc, drop->objects)
					rvs = lappend(rvs, makeRangeVarFromNameList((List *) lfirst(lc)));
			}
			break;
		default:
			break;
	}
	foreach(lc, rvs)
	{
		Oid			relid = dbm_rangevar_relid((RangeVar *) lfirst(lc));

		if (OidIsValid(relid))
			relids = list_append_unique_oid(relids, relid);
	}
	return relids;
}

/*
 * dbm_lock_holders
 *		The other backends holding a lock on any of relids (from the lock
 *		manager's own table, as pg_locks shows it), as "123, 456"; NULL when
 *		there are none.  The lock a failed statement waited for is no longer
 *		known once its wait is cancelled, so this lists the holders of the
 *		relations it names: those that blocked it, and possibly a few that
 *		hold weaker locks.
 */
static char *
dbm_lock_holders(List *relids, int *nholders)
{
	LockData   *data;
	List	   *pids = NIL;
	StringInfoData buf;
	ListCell   *lc;
	int			i;

	*nholders = 0;
	if (relids == NIL)
		return NULL;
	data = GetLockStatusData();
	for (i = 0; i < data->nelements; i++)
	{
		LockInstanceData *inst = &data->locks[i];

		CHECK_FOR_INTERRUPTS();
		if (inst->locktag.locktag_type == LOCKTAG_RELATION &&
			inst->locktag.locktag_field1 == MyDatabaseId &&
			list_member_oid(relids, inst->locktag.locktag_field2) &&
			inst->holdMask != 0 && inst->pid != 0 && inst->pid != MyProcPid)
			pids = list_append_unique_int(pids, inst->pid);
	}
	if (pids == NIL)
		return NULL;
	initStringInfo(&buf);
	foreach(lc, pids)
		appendStringInfo(&buf, "%s%d", buf.len > 0 ? ", " : "", lfirst_int(lc));
	*nholders = list_length(pids);
	return buf.data;
}

/*
 * dbm_lock_failure_detail
 *		The detail of a step's 55P03 once it is not retried any more: how
 *		often it was tried, and who held locks on what its statement names.
 */
static char *
dbm_lock_failure_detail(DbmStepInfo *info, int attempts, const char *holders, int nholders)
{
	StringInfoData buf;

	initStringInfo(&buf);
	if (attempts > 1)
		appendStringInfo(&buf, "The step was tried %d times (dbmigrate.lock_retries is %d).",
						 attempts, dbmigrate_lock_retries);
	if (holders != NULL)
	{
		if (buf.len > 0)
			appendStringInfoChar(&buf, ' ');
		if (nholders == 1)
			appendStringInfo(&buf, "Process %s holds a lock on a relation that statement %d names.",
							 holders, info->statement);
		else
			appendStringInfo(&buf, "Processes %s hold locks on relations that statement %d names.",
							 holders, info->statement);
	}
	return buf.len > 0 ? buf.data : NULL;
}

/*
 * dbm_log_takes_lock_retries
 *		Whether dbmigrate.log accepts 'lock_retry' rows: its CHECK constraint
 *		allows them from 1.1 on.  A database still at 1.0 (the new library
 *		before ALTER EXTENSION dbmigrate UPDATE) gets the NOTICE of a retry,
 *		not the row.
 */
static bool
dbm_log_takes_lock_retries(void)
{
	return !dbm_schema_1_0();
}

/*
 * dbm_run_steps
 *		Run steps (node indexes, in execution order), reading revision text
 *		DBM_CHUNK revisions at a time into a context reset between chunks;
 *		whatever a step allocates goes into a context reset after each step.
 *		Adds one output row per step, and writes one log row per step at the
 *		end of each chunk, so memory stays bounded however many steps run.
 *		Each step runs in a subtransaction of its own (dbm_run_step_attempt);
 *		a step that could not get a lock in time is rolled back and tried
 *		again, up to dbmigrate.lock_retries times, each retry a NOTICE and a
 *		'lock_retry' log row.
 */
void
dbm_run_steps(DbmCall *call, DbmGraph *g, List *steps, bool upgrade, bool from_base,
			  Tuplestorestate *store, TupleDesc desc)
{
	DbmLogBatch logbatch;
	DbmLogBatch *log = &logbatch;
	MemoryContext chunkcxt;
	MemoryContext stepcxt;
	MemoryContext oldcxt;
	int			nsteps = list_length(steps);
	bool		hide_sql = !dbm_may_read_migration_sql();
	DbmCallStart call_start;
	int			start;

	/* revision text lives per chunk; everything a step allocates, per step */
	chunkcxt = AllocSetContextCreate(CurrentMemoryContext, "dbmigrate chunk context",
									 ALLOCSET_DEFAULT_SIZES);
	stepcxt = AllocSetContextCreate(CurrentMemoryContext, "dbmigrate step context",
									ALLOCSET_DEFAULT_SIZES);
	dbm_call_start_mark(&call_start);

	/*
	 * The first step runs as if what the caller's transaction did before the
	 * call were committed: checks it deferred fire now, under a context of
	 * their own rather than the first revision's.
	 */
	if (nsteps > 0 && dbm_deferred_checks_pending())
	{
		ErrorContextCallback errcallback;

		errcallback.callback = dbm_caller_deferred_callback;
		errcallback.arg = upgrade ? "migrate_upgrade" : "migrate_downgrade";
		errcallback.previous = error_context_stack;
		error_context_stack = &errcallback;
		dbm_fire_deferred();
		error_context_stack = errcallback.previous;
	}

	for (start = 0; start < nsteps; start += DBM_CHUNK)
	{
		int			end = Min(start + DBM_CHUNK, nsteps);
		List	   *ids = NIL;
		HTAB	   *byid;
		HTAB	   *runs;
		int			i;

		oldcxt = MemoryContextSwitchTo(chunkcxt);
		dbm_log_init(log);
		for (i = start; i < end; i++)
			ids = lappend(ids, g->nodes[list_nth_int(steps, i)].id);
		dbm_enter_owner(&call->owner);
		(void) dbm_read_bodies(ids, &byid);
		runs = upgrade ? NULL : dbm_read_last_runs(ids, DBM_READ_LATEST);
		dbm_leave_owner(&call->owner);

		for (i = start; i < end; i++)
		{
			int			idx = list_nth_int(steps, i);
			char	   *id = g->nodes[idx].id;
			DbmBody    *body = dbm_body_lookup(byid, id);
			DbmStepInfo info;
			ErrorContextCallback errcallback;
			TimestampTz started;
			TimestampTz finished;
			const char *sql;
			int			attempt;

			if (body == NULL)
				dbm_revision_vanished(id);
			MemoryContextSwitchTo(stepcxt);

			dbm_check_step_body(body, upgrade, runs);

			info.direction = upgrade ? "upgrade" : "downgrade";
			info.revision = id;
			info.from = upgrade ? dbm_graph_parents_text(g, idx) : id;
			info.to = upgrade ? id : dbm_graph_parents_text(g, idx);
			info.from_base = from_base;
			info.hide_sql = hide_sql;
			info.statement = 0;
			info.nstatements = 0;
			info.call_start = call_start;
			info.preexisting = false;

			sql = upgrade ? body->upgrade_sql : body->downgrade_sql;
			if (sql == NULL)
				elog(ERROR, "revision \"%s\" has no downgrade_sql", id);

			ereport(NOTICE,
					(errmsg("running %s %s -> %s%s%s", info.direction, info.from, info.to,
							body->message ? ", " : "", body->message ? body->message : "")));

			errcallback.callback = dbm_step_error_callback;
			errcallback.arg = &info;
			errcallback.previous = error_context_stack;
			error_context_stack = &errcallback;

			/*
			 * Each attempt runs in a subtransaction of its own; one that
			 * could not get a lock in time (55P03) is rolled back and tried
			 * again after a backoff, up to dbmigrate.lock_retries times.
			 */
			for (attempt = 1;; attempt++)
			{
				MemoryContext attemptcxt;
				ErrorData  *edata = NULL;
				char	   *holders;
				int			nholders;
				int			delay;
				bool		ok;

				/* what a failed attempt leaves behind goes with it */
				attemptcxt = AllocSetContextCreate(stepcxt, "dbmigrate attempt context",
												   ALLOCSET_DEFAULT_SIZES);
				MemoryContextSwitchTo(attemptcxt);
				started = GetCurrentTimestamp();
				ok = dbm_run_step_attempt(sql, &info, &edata);
				finished = GetCurrentTimestamp();
				MemoryContextSwitchTo(stepcxt);
				if (ok)
				{
					MemoryContextDelete(attemptcxt);
					break;
				}
				if (edata->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE)
				{
					/* PostgreSQL's 55006 for an ALTER after a data change */
					if (edata->sqlerrcode == ERRCODE_OBJECT_IN_USE && edata->hint == NULL &&
						edata->message_id != NULL &&
						strstr(edata->message_id, "pending trigger events") != NULL)
						edata->hint = pstrdup("Rows of the table changed earlier in this revision still have "
											  "deferred constraint checks pending; run SET CONSTRAINTS ALL "
											  "IMMEDIATE before this statement (dbmigrate fires them only "
											  "at the end of each revision).");
					ReThrowError(edata);
				}

				holders = dbm_lock_holders(dbm_statement_relations(info.stmt), &nholders);
				if (attempt > dbmigrate_lock_retries)
				{
					if (edata->detail == NULL)
						edata->detail = dbm_lock_failure_detail(&info, attempt, holders, nholders);
					ReThrowError(edata);
				}

				/* a NOTICE and a log row per retry, then the backoff */
				delay = dbm_retry_delay(attempt);
				error_context_stack = errcallback.previous;
				ereport(NOTICE,
						(errmsg("%s of revision \"%s\" could not get a lock in time (attempt %d of %d), "
								"retrying in %d ms",
								info.direction, id, attempt, dbmigrate_lock_retries + 1, delay),
						 holders ?
						 errdetail_plural("Process %s holds a lock on a relation that statement %d names.",
										  "Processes %s hold locks on relations that statement %d names.",
										  nholders, holders, info.statement) : 0));
				error_context_stack = &errcallback;
				if (dbm_log_takes_lock_retries())
					dbm_log_add(log, id, "lock_retry", started, finished, body->checksum);
				MemoryContextDelete(attemptcxt);
				dbm_retry_wait(delay);
			}
			error_context_stack = errcallback.previous;

			if (store != NULL)
			{
				Datum		values[3];
				bool		nulls[3] = {false, body->message == NULL, false};
				Interval   *duration = palloc0(sizeof(Interval));

				duration->time = finished - started;
				values[0] = CStringGetTextDatum(id);
				values[1] = body->message ? CStringGetTextDatum(body->message) : (Datum) 0;
				values[2] = IntervalPGetDatum(duration);
				tuplestore_putvalues(store, desc, values, nulls);
			}
			dbm_log_add(log, id, info.direction, started, finished, body->checksum);
			MemoryContextSwitchTo(chunkcxt);
			MemoryContextReset(stepcxt);
		}

		/*
		 * the chunk's log rows, in execution order, in the caller's
		 * transaction
		 */
		dbm_enter_owner(&call->owner);
		dbm_log_write(log);
		dbm_leave_owner(&call->owner);
		MemoryContextSwitchTo(oldcxt);
		MemoryContextReset(chunkcxt);
	}
	MemoryContextDelete(stepcxt);
	MemoryContextDelete(chunkcxt);
}

/*
 * dbm_plan_upgrade
 *		The applied set after upgrading to target t: applied plus the target
 *		revisions and their ancestors.
 */
static bool *
dbm_plan_upgrade(DbmGraph *g, bool *applied, const DbmTarget *t)
{
	bool	   *want = palloc(sizeof(bool) * Max(g->n, 1));
	int			i;
	int			s;

	memcpy(want, applied, sizeof(bool) * g->n);

	if (t->kind == DBM_TARGET_HEADS)
	{
		dbm_graph_mark_heads(g, want);
		return want;
	}
	if (t->kind != DBM_TARGET_FORWARD)
	{
		dbm_graph_mark_ancestors(g, dbm_target_position(g, t), want);
		return want;
	}

	/* "+N": N single steps from the current revisions */
	for (s = 0; s < t->steps; s++)
	{
		List	   *heads = dbm_graph_maximal(g, want);
		List	   *cands = NIL;
		ListCell   *lc;

		if (heads == NIL)
		{
			for (i = 0; i < g->n; i++)
			{
				CHECK_FOR_INTERRUPTS();
				if (g->nodes[i].nparents == 0)
					cands = list_append_unique_int(cands, i);
			}
		}
		else
		{
			foreach(lc, heads)
			{
				DbmNode    *h = &g->nodes[dbm_graph_index(g, (const char *) lfirst(lc))];
				int			k;

				for (k = 0; k < h->nchildren; k++)
					if (!want[h->children[k]])
						cands = list_append_unique_int(cands, h->children[k]);
			}
		}

		if (cands == NIL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("relative target \"%s\" goes past the head", t->text),
					 errdetail_plural("Only %d step can be taken from the current revision.",
									  "Only %d steps can be taken from the current revision.",
									  s, s)));
		if (list_length(cands) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_CARDINALITY_VIOLATION),
					 errmsg("relative target \"%s\" is ambiguous: the path forks", t->text),
					 errdetail("Step %d could go to: %s.", s + 1,
							   dbm_join_ids(dbm_graph_ids(g, cands), ", ")),
					 errhint("Name the revision to upgrade to.")));
		dbm_graph_mark_ancestors(g, linitial_int(cands), want);
	}
	return want;
}

/*
 * dbm_plan_downgrade_steps
 *		Steps (in execution order) for a relative downgrade "-N" from the
 *		current revision.  Each step undoes the one current head, so the graph
 *		alone fixes the order; several current heads make the move ambiguous
 *		(21000).  Alembic 1.8 picks the first row of alembic_version there,
 *		warning that this "will be disallowed in a future release"; undoing
 *		the most recently applied one instead would still guess which branch
 *		the caller meant.
 */
static List *
dbm_plan_downgrade_steps(DbmGraph *g, bool *applied, List *current, const DbmTarget *t)
{
	int		   *nchild = palloc0(sizeof(int) * Max(g->n, 1));
	int			nsteps = t->steps;
	List	   *heads = NIL;
	List	   *steps = NIL;
	int			napplied = 0;
	int			i;
	int			s;
	ListCell   *lc;

	for (i = 0; i < g->n; i++)
	{
		int			k;

		CHECK_FOR_INTERRUPTS();
		if (!applied[i])
			continue;
		napplied++;
		for (k = 0; k < g->nodes[i].nparents; k++)
			nchild[g->nodes[i].parents[k]]++;
	}
	if (nsteps > napplied)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 napplied == 0 ?
				 errmsg_plural("cannot downgrade %d step: no revision is applied",
							   "cannot downgrade %d steps: no revision is applied",
							   nsteps, nsteps) :
				 errmsg_plural("cannot downgrade %d steps: only %d revision is applied",
							   "cannot downgrade %d steps: only %d revisions are applied",
							   napplied, nsteps, napplied),
				 errhint(napplied > 0 ? "To undo every revision, call migrate_downgrade('base')." :
						 "The database is at base; there is nothing to downgrade.")));

	foreach(lc, current)
		heads = lappend_int(heads, dbm_graph_index(g, (const char *) lfirst(lc)));

	for (s = 0; s < nsteps; s++)
	{
		DbmNode    *h;
		int			hidx;
		int			k;

		CHECK_FOR_INTERRUPTS();
		if (list_length(heads) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_CARDINALITY_VIOLATION),
					 errmsg("relative downgrade \"%s\" is ambiguous: %d revisions are current",
							t->text, list_length(heads)),
					 s == 0 ?
					 errdetail("Current: %s.", dbm_join_ids(dbm_graph_ids(g, heads), ", ")) :
					 errdetail_plural("After %d step. Current: %s.",
									  "After %d steps. Current: %s.",
									  s, s, dbm_join_ids(dbm_graph_ids(g, heads), ", ")),
					 errhint("Name the target: SELECT * FROM dbmigrate.migrate_downgrade('<revision>');")));
		hidx = linitial_int(heads);
		h = &g->nodes[hidx];
		steps = lappend_int(steps, hidx);
		applied[hidx] = false;
		heads = NIL;
		for (k = 0; k < h->nparents; k++)
		{
			int			p = h->parents[k];

			if (--nchild[p] == 0 && applied[p])
				heads = lappend_int(heads, p);
		}
	}
	return steps;
}

/*
 * dbm_plan_downgrade_target
 *		The revisions to undo for downgrading to target t: exactly the
 *		applied revisions that descend from it (Alembic's rule); other
 *		branches stay applied.  "base" undoes everything.  Clears them in
 *		applied; dbm_undo_order puts them in order.
 */
static bool *
dbm_plan_downgrade_target(DbmGraph *g, bool *applied, const DbmTarget *t)
{
	bool	   *remove = palloc0(sizeof(bool) * Max(g->n, 1));
	int			i;

	if (t->kind == DBM_TARGET_BASE)
		memcpy(remove, applied, sizeof(bool) * g->n);
	else
	{
		int			idx = dbm_target_position(g, t);

		if (!applied[idx])
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("revision \"%s\" is not applied", g->nodes[idx].id),
					 errdetail("A downgrade target must be an applied revision or \"base\"."),
					 errhint("See what is applied with SELECT * FROM dbmigrate.migrate_current();")));
		dbm_graph_mark_descendants(g, idx, remove);
		remove[idx] = false;
	}

	for (i = 0; i < g->n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		remove[i] = remove[i] && applied[i];
		if (remove[i])
			applied[i] = false;
	}
	return remove;
}

/* dbm_undo_order's state while it reads the log */
typedef struct DbmUndoKeys
{
	DbmGraph   *g;
	int64	   *keys;
} DbmUndoKeys;

static void
dbm_undo_key(const char *id, int64 log_id, void *arg)
{
	DbmUndoKeys *uk = (DbmUndoKeys *) arg;
	int			idx = dbm_graph_find(uk->g, id);

	if (idx >= 0)
		uk->keys[idx] = log_id;
}

/*
 * dbm_undo_order
 *		Steps (node indexes, in execution order) that undo the revisions in
 *		set: children before their parents, and independent revisions in
 *		reverse order of application, which dbmigrate.log records (the row
 *		that last applied each one); revisions it has no row for count as
 *		applied before every logged one, and ties go newest registration
 *		first.  Registration order alone would undo a branch applied first
 *		before one applied later that may depend on it (a view on a column
 *		the other branch added).  Reads the log: call as the owner.
 */
static List *
dbm_undo_order(DbmGraph *g, const bool *set)
{
	DbmUndoKeys uk;
	List	   *ids = NIL;
	int			i;

	uk.g = g;
	uk.keys = palloc0(sizeof(int64) * Max(g->n, 1));
	for (i = 0; i < g->n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (set[i])
			ids = lappend(ids, g->nodes[i].id);
	}
	if (ids == NIL)
		return NIL;
	dbm_scan_last_applied(ids, DBM_READ_LATEST, dbm_undo_key, &uk);
	list_free(ids);
	return dbm_graph_undo_order(g, set, uk.keys);
}

/*
 * dbm_check_reversible
 *		Refuse (55000) before running anything when any revision on the path
 *		has a NULL downgrade_sql; ids are in execution order.
 */
static void
dbm_check_reversible(List *ids, const DbmTarget *t)
{
	List	   *irreversible = dbm_read_irreversible(ids);
	ListCell   *lc;

	/* report the first one the downgrade would reach */
	foreach(lc, ids)
	{
		const char *id = (const char *) lfirst(lc);

		if (dbm_list_has_id(irreversible, id))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("revision \"%s\" is irreversible", id),
					 t->kind == DBM_TARGET_BACKWARD ?
					 errdetail_plural("Its downgrade_sql is NULL and downgrading %d step would have "
									  "to undo it; nothing was run.",
									  "Its downgrade_sql is NULL and downgrading %d steps would have "
									  "to undo it; nothing was run.",
									  t->steps, t->steps) :
					 errdetail("Its downgrade_sql is NULL and downgrading to \"%s\" would have to undo it; "
							   "nothing was run.", t->text),
					 errhint("Downgrade to a revision after it, or move the version without running "
							 "SQL with migrate_stamp().")));
	}
}

/*
 * dbm_check_transactional
 *		Refuse (25001) before running anything when a revision on the path was
 *		registered with transactional => false: its statements cannot run in
 *		the caller's transaction.  ids are in execution order; stepwise names
 *		the procedure that runs them.
 */
static void
dbm_check_transactional(List *ids, const DbmTarget *t, const char *stepwise)
{
	List	   *nontx = ids != NIL ? dbm_read_nontransactional(ids) : NIL;
	ListCell   *lc;

	foreach(lc, ids)
	{
		const char *id = (const char *) lfirst(lc);

		if (dbm_list_has_id(nontx, id))
			ereport(ERROR,
					(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
					 errmsg("revision \"%s\" is not transactional", id),
					 errdetail("It was registered with transactional => false: its statements must "
							   "run outside a transaction block, and this call runs every step in "
							   "the caller's transaction; nothing was run."),
					 errhint("Run CALL dbmigrate.%s('%s'); it commits after each revision.",
							 stepwise, t->text)));
	}
}

/*
 * migrate_upgrade(target text DEFAULT 'head')
 *		RETURNS TABLE(revision text, message text, duration interval)
 *
 *		Alembic's "upgrade": apply every revision the target needs that is
 *		not applied, parents first, ties in registration order.  Targets:
 *		head, heads, an id or unique prefix, +N, <rev>+N.  Errors: 22004 null
 *		target, 21000 ambiguous head/prefix/relative move, 42704 unknown
 *		revision, 22023 invalid target, 25000 snapshot isolation, 55P03 lock
 *		timeout (a step's: after dbmigrate.lock_retries retries), 57014 a
 *		step's statement_timeout, and whatever a step's SQL raises (with
 *		context naming it).
 */
Datum
dbmigrate_migrate_upgrade(PG_FUNCTION_ARGS)
{
	DbmTarget	t = dbm_target_parse(dbm_text_arg(fcinfo, 0, "target"), DBM_OP_UPGRADE);
	TupleDesc	desc;
	Tuplestorestate *store = dbm_init_srf(fcinfo, &desc);
	DbmCall		call;
	List	   *current;
	DbmGraph   *g;
	bool	   *applied;
	bool	   *want;
	bool		done;
	List	   *steps;
	List	   *after;

	dbm_begin_state_change("migrate_upgrade", false);
	dbm_call_begin(&call);
	current = dbm_read_current(DBM_READ_LATEST);

	/* nothing pending must not mean reading the whole graph */
	if (t.kind == DBM_TARGET_HEAD || t.kind == DBM_TARGET_HEADS)
	{
		List	   *heads = dbm_read_heads(DBM_READ_LATEST);

		if (t.kind == DBM_TARGET_HEAD)
			dbm_require_single_head(heads, DBM_OP_UPGRADE);
		done = dbm_list_equal_ids(current, heads);
	}
	else
		done = t.kind == DBM_TARGET_REVISION && dbm_list_has_id(current, t.revision);
	if (done)
	{
		dbm_call_end(&call);
		return (Datum) 0;
	}

	g = dbm_graph_load(DBM_READ_LATEST);
	applied = dbm_graph_applied(g, current);
	steps = dbm_plan_steps(g, applied, current, &t, &want);
	dbm_check_transactional(dbm_graph_ids(g, steps), &t, "migrate_upgrade_stepwise");
	dbm_leave_owner(&call.owner);

	dbm_run_steps(&call, g, steps, true, current == NIL, store, desc);

	dbm_enter_owner(&call.owner);
	after = dbm_graph_maximal(g, want);
	if (!dbm_list_equal_ids(after, current))
		dbm_write_current(after);
	dbm_call_end(&call);
	return (Datum) 0;
}

/*
 * dbm_downgrade
 *		Shared body of both migrate_downgrade forms.
 */
static Datum
dbm_downgrade(FunctionCallInfo fcinfo, const DbmTarget *t)
{
	TupleDesc	desc;
	Tuplestorestate *store = dbm_init_srf(fcinfo, &desc);
	DbmCall		call;
	List	   *current;
	DbmGraph   *g;
	bool	   *applied;
	bool	   *after;
	List	   *steps;

	dbm_begin_state_change("migrate_downgrade", false);
	dbm_call_begin(&call);
	current = dbm_read_current(DBM_READ_LATEST);

	/* downgrading to a revision that is already a current head does nothing */
	if (t->kind == DBM_TARGET_REVISION && dbm_list_has_id(current, t->revision))
	{
		dbm_call_end(&call);
		return (Datum) 0;
	}

	g = dbm_graph_load(DBM_READ_LATEST);
	applied = dbm_graph_applied(g, current);
	steps = dbm_plan_steps(g, applied, current, t, &after);
	dbm_check_transactional(dbm_graph_ids(g, steps), t, "migrate_downgrade_stepwise");
	dbm_leave_owner(&call.owner);

	dbm_run_steps(&call, g, steps, false, false, store, desc);

	dbm_enter_owner(&call.owner);
	if (steps != NIL)
		dbm_write_current(dbm_graph_maximal(g, after));
	dbm_call_end(&call);
	return (Datum) 0;
}

/*
 * migrate_downgrade(steps integer DEFAULT 1)
 *		RETURNS TABLE(revision text, message text, duration interval)
 *
 *		Alembic's "downgrade -N": undo the current revision, steps times.
 *		Errors: 22023 steps < 1 or more steps than applied revisions, 21000
 *		several current heads, 55000 an irreversible revision on the path
 *		(checked before anything runs), and a step's own error.
 */
Datum
dbmigrate_migrate_downgrade(PG_FUNCTION_ARGS)
{
	int32		nsteps;
	DbmTarget	t;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("steps must not be null")));
	nsteps = PG_GETARG_INT32(0);
	if (nsteps < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("steps must be at least 1, not %d", nsteps),
				 errhint("migrate_downgrade(2) undoes the two newest revisions; "
						 "migrate_downgrade('base') undoes all of them.")));
	t = dbm_target_steps_back(nsteps);
	return dbm_downgrade(fcinfo, &t);
}

/*
 * migrate_downgrade(target text)
 *		RETURNS TABLE(revision text, message text, duration interval)
 *
 *		Alembic's "downgrade <target>": undo exactly the applied revisions
 *		that descend from target ("base": all; "-N": relative), children
 *		first and independent branches in reverse order of application
 *		(dbm_undo_order).  Errors as above, plus 42704 unknown and 55000
 *		not-applied target.
 */
Datum
dbmigrate_migrate_downgrade_to(PG_FUNCTION_ARGS)
{
	DbmTarget	t = dbm_target_parse(dbm_text_arg(fcinfo, 0, "target"), DBM_OP_DOWNGRADE);

	return dbm_downgrade(fcinfo, &t);
}

/*
 * migrate_stamp(target text) RETURNS void
 *
 *		Alembic's "stamp": make exactly the target current without running
 *		any SQL ("heads": every head; "base": nothing).  Logs one 'stamp' row
 *		per revision whose applied state changes: with its checksum when it
 *		becomes applied, with a NULL checksum when it stops being applied.
 *		A current revision that is not registered is dropped, so stamp also
 *		repairs that state.  Errors: 22004, 42704, 21000, 22023, 25000, 55P03.
 */
Datum
dbmigrate_migrate_stamp(PG_FUNCTION_ARGS)
{
	DbmTarget	t = dbm_target_parse(dbm_text_arg(fcinfo, 0, "target"), DBM_OP_STAMP);
	DbmCall		call;
	DbmGraph   *g;
	List	   *missing;
	List	   *added = NIL;
	bool	   *before;
	bool	   *after;
	DbmLogBatch log;
	TimestampTz now;
	HTAB	   *bodies;
	int			i;

	dbm_begin_state_change("migrate_stamp", false);
	dbm_call_begin(&call);
	g = dbm_graph_load(DBM_READ_LATEST);
	before = dbm_graph_applied(g, dbm_graph_known(g, dbm_read_current(DBM_READ_LATEST), &missing));
	after = palloc0(sizeof(bool) * Max(g->n, 1));

	if (t.kind == DBM_TARGET_HEADS)
		dbm_graph_mark_heads(g, after);
	else if (t.kind != DBM_TARGET_BASE)
		dbm_graph_mark_ancestors(g, dbm_target_position(g, &t), after);

	for (i = 0; i < g->n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (after[i] && !before[i])
			added = lappend(added, g->nodes[i].id);
	}
	bodies = dbm_read_checksums(added);

	dbm_log_init(&log);
	now = GetCurrentTimestamp();
	for (i = g->n - 1; i >= 0; i--)
	{
		CHECK_FOR_INTERRUPTS();
		if (before[i] && !after[i])
			dbm_log_add(&log, g->nodes[i].id, "stamp", now, now, NULL);
	}
	for (i = 0; i < g->n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (after[i] && !before[i])
		{
			DbmBody    *body = dbm_body_lookup(bodies, g->nodes[i].id);

			if (body == NULL)
				dbm_revision_vanished(g->nodes[i].id);
			dbm_log_add(&log, g->nodes[i].id, "stamp", now, now, body->checksum);
		}
	}
	dbm_write_current(dbm_graph_maximal(g, after));
	dbm_log_write(&log);
	dbm_call_end(&call);
	PG_RETURN_VOID();
}

/*
 * dbm_plan_steps
 *		The steps (node indexes, in execution order) of an upgrade or a
 *		downgrade to t from the applied set, which is not changed; *after
 *		(when not NULL) gets the applied set once they ran.  A downgrade
 *		crossing an irreversible revision is refused (55000).  Reads the log
 *		for a downgrade's order: call as the owner.  Used by migrate_upgrade,
 *		migrate_downgrade, the stepwise procedures and migrate_plan.
 */
List *
dbm_plan_steps(DbmGraph *g, const bool *applied, List *current, const DbmTarget *t, bool **after)
{
	bool	   *work = palloc(sizeof(bool) * Max(g->n, 1));
	List	   *steps = NIL;
	int			i;

	memcpy(work, applied, sizeof(bool) * g->n);
	if (t->op == DBM_OP_UPGRADE)
	{
		work = dbm_plan_upgrade(g, work, t);
		for (i = 0; i < g->n; i++)
		{
			CHECK_FOR_INTERRUPTS();
			if (work[i] && !applied[i])
				steps = lappend_int(steps, i);
		}
	}
	else
	{
		/*
		 * downgrading to a revision that is already a current head does
		 * nothing
		 */
		if (t->kind == DBM_TARGET_BACKWARD)
			steps = dbm_plan_downgrade_steps(g, work, current, t);
		else if (t->kind != DBM_TARGET_REVISION || !dbm_list_has_id(current, t->revision))
			steps = dbm_undo_order(g, dbm_plan_downgrade_target(g, work, t));
		if (steps != NIL)
			dbm_check_reversible(dbm_graph_ids(g, steps), t);
	}
	if (after != NULL)
		*after = work;
	return steps;
}

/*
 * dbm_read_step_body
 *		The stored text of revision idx, checked as dbm_run_steps checks it
 *		before running it (dbm_check_step_body).  In the owner context.
 */
DbmBody *
dbm_read_step_body(DbmGraph *g, int idx, bool upgrade)
{
	List	   *ids = list_make1(g->nodes[idx].id);
	HTAB	   *byid;
	DbmBody    *body;

	(void) dbm_read_bodies(ids, &byid);
	body = dbm_body_lookup(byid, g->nodes[idx].id);
	if (body == NULL)
		dbm_revision_vanished(g->nodes[idx].id);
	dbm_check_step_body(body, upgrade, upgrade ? NULL : dbm_read_last_runs(ids, DBM_READ_LATEST));
	return body;
}

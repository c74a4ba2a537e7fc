/*-------------------------------------------------------------------------
 *
 * stepwise.c
 *	  CALL migrate_upgrade_stepwise(target) and
 *	  CALL migrate_downgrade_stepwise(target): a deploy that commits after
 *	  each revision.
 *
 *	  migrate_upgrade() is one unit in the caller's transaction.  These
 *	  procedures plan the same steps, then run and record them one revision
 *	  per transaction: progress is durable, an enum value added by one
 *	  revision can be used by the next, locks are released as the run goes,
 *	  and a revision registered with transactional => false runs its
 *	  statements one by one at top level, in a background worker (worker.c),
 *	  as PostgreSQL requires for CREATE INDEX CONCURRENTLY and the like.
 *
 *	  The run lock is held at session level for the whole run, so no other
 *	  deploy can start between two revisions.  A run that stops (an error, a
 *	  cancel, a terminated backend) leaves every completed revision applied
 *	  and the interrupted one not: the next call continues from there.
 *
 * Copyright (c) 2026, dbmigrate developers
 *
 * IDENTIFICATION
 *	  src/stepwise.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "dbmigrate.h"
#include "catalog.h"
#include "graph.h"
#include "idlist.h"
#include "runner.h"
#include "target.h"
#include "worker.h"

static void dbm_stepwise(FunctionCallInfo fcinfo, DbmTargetOp op, const char *funcname);
static void dbm_stepwise_run(const DbmTarget *t, const char *funcname);
static void dbm_stepwise_toplevel(DbmCall *call, DbmGraph *g, int idx, bool upgrade,
								  const char *funcname);
static void dbm_stepwise_record(DbmCall *call, DbmGraph *g, bool *applied, int idx,
								bool upgrade);

/* SQL-callable procedures */
PG_FUNCTION_INFO_V1(dbmigrate_migrate_upgrade_stepwise);
PG_FUNCTION_INFO_V1(dbmigrate_migrate_downgrade_stepwise);

/*
 * dbm_stepwise
 *		Common body of both procedures: refuse an atomic context (25001),
 *		take the run lock for the session, run, and release the lock on every
 *		way out.
 */
static void
dbm_stepwise(FunctionCallInfo fcinfo, DbmTargetOp op, const char *funcname)
{
	DbmTarget	t;
	int			rc;

	if (fcinfo->context == NULL || !IsA(fcinfo->context, CallContext) ||
		((CallContext *) fcinfo->context)->atomic)
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("%s() cannot run inside a transaction block", funcname),
				 errdetail("It commits after each revision."),
				 errhint("CALL it on its own, in autocommit mode: not inside BEGIN ... COMMIT, "
						 "a function, or a procedure called in a transaction block.")));
	if (dbm_step_depth > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s() cannot be called from migration SQL", funcname)));

	t = dbm_target_parse(dbm_text_arg(fcinfo, 0, "target"), op);

	rc = SPI_connect_ext(SPI_OPT_NONATOMIC);
	if (rc != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed: %s", SPI_result_code_string(rc));

	dbm_session_lock(funcname);
	PG_TRY();
	{
		dbm_stepwise_run(&t, funcname);
	}
	PG_FINALLY();
	{
		dbm_session_unlock();
	}
	PG_END_TRY();
	dbm_spi_finish();
}

/*
 * dbm_stepwise_run
 *		Plan from the state read under the run lock, then run each step and
 *		record it in a transaction of its own.  The plan (graph, applied set)
 *		lives in SPI's procedure memory, which commits keep.
 */
static void
dbm_stepwise_run(const DbmTarget *t, const char *funcname)
{
	bool		upgrade = t->op == DBM_OP_UPGRADE;
	DbmCall		call;
	List	   *current;
	DbmGraph   *g;
	bool	   *applied;
	List	   *steps;
	List	   *nontx;
	ListCell   *lc;
	bool		from_base;
	MemoryContext stepcxt;

	dbm_begin_state_change(funcname, false);
	dbm_enter_owner(&call.owner);
	current = dbm_read_current(DBM_READ_LATEST);
	g = dbm_graph_load(DBM_READ_LATEST);
	applied = dbm_graph_applied(g, current);
	steps = dbm_plan_steps(g, applied, current, t, NULL);
	nontx = steps != NIL ? dbm_read_nontransactional(dbm_graph_ids(g, steps)) : NIL;
	dbm_leave_owner(&call.owner);
	from_base = upgrade && current == NIL;
	SPI_commit();

	stepcxt = AllocSetContextCreate(CurrentMemoryContext, "dbmigrate stepwise step",
									ALLOCSET_DEFAULT_SIZES);
	foreach(lc, steps)
	{
		int			idx = lfirst_int(lc);
		MemoryContext oldcxt = MemoryContextSwitchTo(stepcxt);

		CHECK_FOR_INTERRUPTS();
		if (dbm_list_has_id(nontx, g->nodes[idx].id))
			dbm_stepwise_toplevel(&call, g, idx, upgrade, funcname);
		else
		{
			/*
			 * An atomic SPI connection of its own: the step's SQL must not be
			 * able to commit (a DO block's COMMIT would end the step's GUC
			 * nest level and bookkeeping midway).
			 */
			dbm_begin_state_change(funcname, false);
			dbm_spi_connect();
			dbm_run_steps(&call, g, list_make1_int(idx), upgrade, from_base, NULL, NULL);
			dbm_spi_finish();
		}
		dbm_stepwise_record(&call, g, applied, idx, upgrade);
		SPI_commit();
		MemoryContextSwitchTo(oldcxt);
		MemoryContextReset(stepcxt);
	}
	MemoryContextDelete(stepcxt);
}

/*
 * dbm_stepwise_toplevel
 *		Run a non-transactional revision: read and check its text, commit so
 *		that this backend holds no snapshot, let a background worker run the
 *		statements at top level, and log the step (in the transaction that
 *		dbm_stepwise_record then commits with the new version).
 */
static void
dbm_stepwise_toplevel(DbmCall *call, DbmGraph *g, int idx, bool upgrade, const char *funcname)
{
	DbmWorkerStep step;
	DbmBody    *body;
	DbmLogBatch log;
	TimestampTz started;
	TimestampTz finished;
	const char *from = upgrade ? dbm_graph_parents_text(g, idx) : g->nodes[idx].id;
	const char *to = upgrade ? g->nodes[idx].id : dbm_graph_parents_text(g, idx);

	dbm_begin_state_change(funcname, false);
	dbm_enter_owner(&call->owner);
	body = dbm_read_step_body(g, idx, upgrade);
	dbm_leave_owner(&call->owner);

	memset(&step, 0, sizeof(step));
	step.revision = g->nodes[idx].id;
	step.direction = upgrade ? "upgrade" : "downgrade";
	step.sql = upgrade ? body->upgrade_sql : body->downgrade_sql;
	step.hide_sql = !dbm_may_read_migration_sql();
	if (step.sql == NULL)
		elog(ERROR, "revision \"%s\" has no downgrade_sql", step.revision);

	ereport(NOTICE,
			(errmsg("running %s %s -> %s%s%s (non-transactional)", step.direction, from, to,
					body->message ? ", " : "", body->message ? body->message : "")));
	SPI_commit();

	started = GetCurrentTimestamp();
	dbm_worker_run(&step);
	finished = GetCurrentTimestamp();

	dbm_begin_state_change(funcname, false);
	dbm_enter_owner(&call->owner);
	dbm_log_init(&log);
	dbm_log_add(&log, step.revision, step.direction, started, finished, body->checksum);
	dbm_log_write(&log);
	dbm_leave_owner(&call->owner);
}

/*
 * dbm_stepwise_record
 *		After step idx ran (and logged itself), make dbmigrate.version say so.
 */
static void
dbm_stepwise_record(DbmCall *call, DbmGraph *g, bool *applied, int idx, bool upgrade)
{
	applied[idx] = upgrade;
	dbm_enter_owner(&call->owner);
	dbm_write_current(dbm_graph_maximal(g, applied));
	dbm_leave_owner(&call->owner);
}

/*
 * migrate_upgrade_stepwise(target text DEFAULT 'head')	(a procedure)
 *
 *		Alembic's "upgrade" with a commit after each revision (Alembic's
 *		transaction_per_migration), and the only way to run revisions
 *		registered with transactional => false: their statements run one by
 *		one at top level in a background worker.  Targets as migrate_upgrade.
 *		Errors: 25001 inside a transaction block, 55000 on a 1.0 schema,
 *		53000 no background worker, 55P03 run lock timeout, and
 *		migrate_upgrade's; a failing revision's error names it, and every
 *		revision before it stays applied.
 */
Datum
dbmigrate_migrate_upgrade_stepwise(PG_FUNCTION_ARGS)
{
	dbm_stepwise(fcinfo, DBM_OP_UPGRADE, "migrate_upgrade_stepwise");
	PG_RETURN_VOID();
}

/*
 * migrate_downgrade_stepwise(target text DEFAULT '-1')	(a procedure)
 *
 *		Alembic's "downgrade" with a commit after each revision; targets and
 *		errors as migrate_downgrade(target) and migrate_upgrade_stepwise.
 */
Datum
dbmigrate_migrate_downgrade_stepwise(PG_FUNCTION_ARGS)
{
	dbm_stepwise(fcinfo, DBM_OP_DOWNGRADE, "migrate_downgrade_stepwise");
	PG_RETURN_VOID();
}

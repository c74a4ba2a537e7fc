/*-------------------------------------------------------------------------
 *
 * status.c
 *	  Read-only calls: migrate_current, migrate_heads, migrate_history,
 *	  migrate_show, migrate_log, migrate_validate and health.  None takes the
 *	  run lock; each reads with the caller's snapshot, at any isolation level,
 *	  and never blocks behind a running upgrade.
 *
 * Copyright (c) 2026, dbmigrate developers
 *
 * IDENTIFICATION
 *	  src/status.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "dbmigrate.h"
#include "catalog.h"
#include "graph.h"
#include "idlist.h"
#include "sqlcheck.h"
#include "target.h"

/* forward declarations */

/* One problem found by migrate_validate */
typedef struct DbmProblem
{
	char	   *revision;
	char	   *problem;
} DbmProblem;

/* What dbm_find_problems' scan needs */
typedef struct DbmValidateState
{
	DbmGraph   *g;
	bool	   *applied;
	HTAB	   *runs;
	List	   *problems;
	MemoryContext cxt;			/* where problems are kept */
} DbmValidateState;

/* What migrate_history's scan needs */
typedef struct DbmHistoryState
{
	DbmGraph   *g;
	List	   *current;
	bool	   *applied;
	HTAB	   *runs;
	Tuplestorestate *store;
	TupleDesc	desc;
} DbmHistoryState;

/* Output of migrate_log's scan */
typedef struct DbmRowsOut
{
	Tuplestorestate *store;
	TupleDesc	desc;
} DbmRowsOut;

static void dbm_validate_row(DbmRevisionRow *row, void *arg);
static List *dbm_find_problems(DbmGraph *g, List *current, HTAB *runs, int *pending);
static void dbm_history_row(DbmRevisionRow *row, void *arg);
static void dbm_log_row(Datum *values, bool *nulls, void *arg);
static void dbm_put_ids(Tuplestorestate *store, TupleDesc desc, List *ids);
static Datum dbm_node_array(DbmGraph *g, int *idx, int n);
static void dbm_require_show_privilege(void);

/* SQL-callable functions */
PG_FUNCTION_INFO_V1(dbmigrate_migrate_current);
PG_FUNCTION_INFO_V1(dbmigrate_migrate_heads);
PG_FUNCTION_INFO_V1(dbmigrate_migrate_history);
PG_FUNCTION_INFO_V1(dbmigrate_migrate_show);
PG_FUNCTION_INFO_V1(dbmigrate_migrate_log);
PG_FUNCTION_INFO_V1(dbmigrate_migrate_validate);
PG_FUNCTION_INFO_V1(dbmigrate_health);

static void
dbm_put_ids(Tuplestorestate *store, TupleDesc desc, List *ids)
{
	ListCell   *lc;

	foreach(lc, ids)
	{
		Datum		value = CStringGetTextDatum((const char *) lfirst(lc));
		bool		isnull = false;

		tuplestore_putvalues(store, desc, &value, &isnull);
	}
}

/*
 * dbm_node_array
 *		text[] of the ids of n node indexes.
 */
static Datum
dbm_node_array(DbmGraph *g, int *idx, int n)
{
	List	   *ids = NIL;
	int			i;

	for (i = 0; i < n; i++)
		ids = lappend(ids, g->nodes[idx[i]].id);
	return dbm_ids_to_array(ids);
}

/*
 * dbm_require_show_privilege
 *		migrate_history(verbose => true) returns migration SQL, which may hold
 *		secrets; it needs the same right as migrate_show().  42501 otherwise.
 */
static void
dbm_require_show_privilege(void)
{
	if (!dbm_may_read_migration_sql())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for the SQL text of migrations"),
				 errdetail("migrate_history(verbose => true) returns upgrade_sql and downgrade_sql."),
				 errhint("Call migrate_history() without verbose, or ask for "
						 "GRANT EXECUTE ON FUNCTION dbmigrate.migrate_show(text).")));
}

/*
 * dbm_validate_row
 *		A dbm_scan_revisions callback: the problem of one applied revision
 *		whose stored text no longer hashes to the checksum recorded when it
 *		was applied (or, with no such log row, when it was registered).
 */
static void
dbm_validate_row(DbmRevisionRow *row, void *arg)
{
	DbmValidateState *state = (DbmValidateState *) arg;
	int			idx = dbm_graph_find(state->g, row->id);
	char	   *now;
	char	   *stored;
	char	   *problem = NULL;
	DbmLastRun *run;
	DbmProblem *p;
	MemoryContext oldcxt;

	if (idx < 0 || !state->applied[idx])
		return;
	now = dbm_checksum_revision(TextDatumGetCString(row->values[DBM_REV_UPGRADE_SQL]),
								row->nulls[DBM_REV_DOWNGRADE_SQL] ? NULL :
								TextDatumGetCString(row->values[DBM_REV_DOWNGRADE_SQL]),
								DatumGetBool(row->values[DBM_REV_TRANSACTIONAL]));
	stored = TextDatumGetCString(row->values[DBM_REV_CHECKSUM]);
	run = dbm_last_run(state->runs, row->id);

	if (run != NULL && run->checksum != NULL && strcmp(run->checksum, now) != 0)
		problem = psprintf("stored text differs from the text that ran: checksum %s when run, %s now",
						   run->checksum, now);
	else if (strcmp(stored, now) != 0)
		problem = psprintf("stored text was changed outside dbmigrate: checksum %s registered, %s now",
						   stored, now);
	if (problem == NULL)
		return;
	oldcxt = MemoryContextSwitchTo(state->cxt);
	p = palloc(sizeof(DbmProblem));
	p->revision = state->g->nodes[idx].id;
	p->problem = pstrdup(problem);
	state->problems = lappend(state->problems, p);
	MemoryContextSwitchTo(oldcxt);
}

/*
 * dbm_find_problems
 *		What migrate_validate reports (and, when pending is not NULL, how many
 *		registered revisions are not applied): current revisions that are not
 *		registered, and applied revisions whose stored text does not match
 *		(dbm_validate_row).  The text is streamed: memory stays bounded
 *		however much SQL is stored.
 */
static List *
dbm_find_problems(DbmGraph *g, List *current, HTAB *runs, int *pending)
{
	DbmValidateState state;
	List	   *missing;
	ListCell   *lc;

	memset(&state, 0, sizeof(state));
	state.g = g;
	state.applied = dbm_graph_applied(g, dbm_graph_known(g, current, &missing));
	state.runs = runs;
	state.cxt = CurrentMemoryContext;

	if (pending != NULL)
	{
		int			k;

		*pending = 0;
		for (k = 0; k < g->n; k++)
		{
			CHECK_FOR_INTERRUPTS();
			if (!state.applied[k])
				(*pending)++;
		}
	}

	foreach(lc, missing)
	{
		DbmProblem *p = palloc(sizeof(DbmProblem));

		p->revision = (char *) lfirst(lc);
		p->problem = pstrdup("current revision is not registered");
		state.problems = lappend(state.problems, p);
	}

	dbm_scan_revisions(false, true, dbm_validate_row, &state);
	return state.problems;
}

/*
 * migrate_current() RETURNS SETOF text
 *
 *		Alembic's "current": the applied heads (dbmigrate.version); no rows at
 *		base, several rows when several branches are applied.  No errors.
 */
Datum
dbmigrate_migrate_current(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Tuplestorestate *store = dbm_init_srf(fcinfo, &desc);
	DbmCall		call;

	dbm_call_begin(&call);
	dbm_put_ids(store, desc, dbm_read_current(DBM_READ_SNAPSHOT));
	dbm_call_end(&call);
	return (Datum) 0;
}

/*
 * migrate_heads() RETURNS SETOF text
 *
 *		Alembic's "heads": revisions without children, in registration order.
 */
Datum
dbmigrate_migrate_heads(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Tuplestorestate *store = dbm_init_srf(fcinfo, &desc);
	DbmCall		call;

	dbm_call_begin(&call);
	dbm_put_ids(store, desc, dbm_read_heads(DBM_READ_SNAPSHOT));
	dbm_call_end(&call);
	return (Datum) 0;
}

/*
 * dbm_history_row
 *		A dbm_scan_revisions callback: migrate_history's row for a revision.
 */
static void
dbm_history_row(DbmRevisionRow *row, void *arg)
{
	DbmHistoryState *state = (DbmHistoryState *) arg;
	DbmGraph   *g = state->g;
	int			idx = dbm_graph_index(g, row->id);
	DbmNode    *node = &g->nodes[idx];
	DbmLastRun *run = state->applied[idx] ? dbm_last_run(state->runs, row->id) : NULL;
	Datum		values[14];
	bool		nulls[14];

	memset(nulls, 0, sizeof(nulls));
	values[0] = CStringGetTextDatum(row->id);
	values[1] = dbm_node_array(g, node->parents, node->nparents);
	values[2] = row->values[DBM_REV_MESSAGE];
	nulls[2] = row->nulls[DBM_REV_MESSAGE];
	values[3] = BoolGetDatum(state->applied[idx]);
	values[4] = BoolGetDatum(node->nchildren == 0);
	values[5] = BoolGetDatum(dbm_list_has_id(state->current, row->id));
	values[6] = BoolGetDatum(node->nchildren > 1);
	values[7] = BoolGetDatum(node->nparents > 1);
	values[8] = run ? TimestampTzGetDatum(run->started_at) : (Datum) 0;
	nulls[8] = run == NULL;
	values[9] = run ? DirectFunctionCall1(namein, CStringGetDatum(run->run_by)) : (Datum) 0;
	nulls[9] = run == NULL;
	values[10] = row->values[DBM_REV_REGISTERED_AT];
	values[11] = row->values[DBM_REV_UPGRADE_SQL];
	nulls[11] = row->nulls[DBM_REV_UPGRADE_SQL];
	values[12] = row->values[DBM_REV_DOWNGRADE_SQL];
	nulls[12] = row->nulls[DBM_REV_DOWNGRADE_SQL];
	values[13] = row->values[DBM_REV_CHECKSUM];
	nulls[13] = row->nulls[DBM_REV_CHECKSUM];
	tuplestore_putvalues(state->store, state->desc, values, nulls);
}

/*
 * migrate_history(verbose boolean DEFAULT false)
 *		RETURNS TABLE(revision, down_revisions, message, is_applied, is_head,
 *		is_current, is_branch_point, is_merge_point, applied_at, applied_by,
 *		registered_at, upgrade_sql, downgrade_sql, checksum)
 *
 *		Alembic's "history --verbose --indicate-current": every registered
 *		revision, newest first in topological (registration) order.  The SQL
 *		and checksum columns are filled only when verbose.  Errors: 42501
 *		verbose without the right to read migration SQL.
 */
Datum
dbmigrate_migrate_history(PG_FUNCTION_ARGS)
{
	bool		verbose = PG_ARGISNULL(0) ? false : PG_GETARG_BOOL(0);
	DbmHistoryState state;
	List	   *missing;
	DbmCall		call;

	if (verbose)
		dbm_require_show_privilege();

	state.store = dbm_init_srf(fcinfo, &state.desc);
	dbm_call_begin(&call);
	state.g = dbm_graph_load(DBM_READ_SNAPSHOT);
	state.current = dbm_graph_known(state.g, dbm_read_current(DBM_READ_SNAPSHOT), &missing);
	state.applied = dbm_graph_applied(state.g, state.current);
	state.runs = dbm_read_all_last_runs(DBM_READ_SNAPSHOT);
	dbm_scan_revisions(true, verbose, dbm_history_row, &state);
	dbm_call_end(&call);
	return (Datum) 0;
}

/*
 * migrate_show(target text)
 *		RETURNS TABLE(revision, down_revisions, children, message, upgrade_sql,
 *		downgrade_sql, checksum, is_applied, is_head, is_current,
 *		registered_at, registered_by, applied_at)
 *
 *		Alembic's "show": one revision in full, named by id, unique prefix,
 *		"head" or "<rev>+N".  Errors: 22004, 22023 another kind of target,
 *		42704, 21000.
 */
Datum
dbmigrate_migrate_show(PG_FUNCTION_ARGS)
{
	DbmTarget	t = dbm_target_parse(dbm_text_arg(fcinfo, 0, "target"), DBM_OP_SHOW);
	TupleDesc	desc;
	Tuplestorestate *store = dbm_init_srf(fcinfo, &desc);
	DbmCall		call;
	DbmGraph   *g;
	List	   *current;
	List	   *missing;
	bool	   *applied;
	DbmNode    *node;
	DbmLastRun *run;
	DbmRevisionRow row;
	int			idx;
	Datum		values[13];
	bool		nulls[13];

	dbm_call_begin(&call);
	g = dbm_graph_load(DBM_READ_SNAPSHOT);
	idx = dbm_target_position(g, &t);
	node = &g->nodes[idx];
	current = dbm_graph_known(g, dbm_read_current(DBM_READ_SNAPSHOT), &missing);
	applied = dbm_graph_applied(g, current);
	run = applied[idx] ?
		dbm_last_run(dbm_read_last_runs(list_make1(node->id), DBM_READ_SNAPSHOT), node->id) : NULL;
	if (!dbm_read_revision_row(node->id, &row))
		dbm_revision_vanished(node->id);

	memset(nulls, 0, sizeof(nulls));
	values[0] = CStringGetTextDatum(node->id);
	values[1] = dbm_node_array(g, node->parents, node->nparents);
	values[2] = dbm_node_array(g, node->children, node->nchildren);
	values[3] = row.values[DBM_REV_MESSAGE];
	nulls[3] = row.nulls[DBM_REV_MESSAGE];
	values[4] = row.values[DBM_REV_UPGRADE_SQL];
	nulls[4] = row.nulls[DBM_REV_UPGRADE_SQL];
	values[5] = row.values[DBM_REV_DOWNGRADE_SQL];
	nulls[5] = row.nulls[DBM_REV_DOWNGRADE_SQL];
	values[6] = row.values[DBM_REV_CHECKSUM];
	nulls[6] = row.nulls[DBM_REV_CHECKSUM];
	values[7] = BoolGetDatum(applied[idx]);
	values[8] = BoolGetDatum(node->nchildren == 0);
	values[9] = BoolGetDatum(dbm_list_has_id(current, node->id));
	values[10] = row.values[DBM_REV_REGISTERED_AT];
	values[11] = row.values[DBM_REV_REGISTERED_BY];
	values[12] = run ? TimestampTzGetDatum(run->started_at) : (Datum) 0;
	nulls[12] = run == NULL;
	tuplestore_putvalues(store, desc, values, nulls);
	dbm_call_end(&call);
	return (Datum) 0;
}

/*
 * dbm_log_row
 *		A dbm_scan_log callback: the row as migrate_log returns it.
 */
static void
dbm_log_row(Datum *values, bool *nulls, void *arg)
{
	DbmRowsOut *out = (DbmRowsOut *) arg;

	tuplestore_putvalues(out->store, out->desc, values, nulls);
}

/*
 * migrate_log()
 *		RETURNS TABLE(id bigint, revision text, operation text,
 *		started_at timestamptz, duration interval, run_by name, pid integer,
 *		checksum text)
 *
 *		Every executed step (upgrade, downgrade, stamp), in execution order.
 */
Datum
dbmigrate_migrate_log(PG_FUNCTION_ARGS)
{
	DbmRowsOut	out;
	DbmCall		call;

	out.store = dbm_init_srf(fcinfo, &out.desc);
	dbm_call_begin(&call);
	dbm_scan_log(dbm_log_row, &out);
	dbm_call_end(&call);
	return (Datum) 0;
}

/*
 * migrate_validate() RETURNS TABLE(revision text, problem text)
 *
 *		Flyway's "validate": applied revisions whose stored text no longer
 *		matches the checksum recorded when they ran, and current revisions
 *		that are not registered.  No rows = clean.
 */
Datum
dbmigrate_migrate_validate(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Tuplestorestate *store = dbm_init_srf(fcinfo, &desc);
	DbmCall		call;
	DbmGraph   *g;
	List	   *problems;
	ListCell   *lc;

	dbm_call_begin(&call);
	g = dbm_graph_load(DBM_READ_SNAPSHOT);
	problems = dbm_find_problems(g, dbm_read_current(DBM_READ_SNAPSHOT),
								 dbm_read_all_last_runs(DBM_READ_SNAPSHOT), NULL);
	foreach(lc, problems)
	{
		DbmProblem *p = (DbmProblem *) lfirst(lc);
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = CStringGetTextDatum(p->revision);
		values[1] = CStringGetTextDatum(p->problem);
		tuplestore_putvalues(store, desc, values, nulls);
	}
	dbm_call_end(&call);
	return (Datum) 0;
}

/*
 * health() RETURNS jsonb
 *
 *		The database side of the application's /health endpoint:
 *		{"status": "healthy" | "pending" | "unhealthy", "database": text,
 *		 "current": [text], "heads": [text], "pending": integer,
 *		 "timestamp": ISO-8601 UTC text, "version": text, "problems": [text]}.
 *		unhealthy = migrate_validate() not clean; pending = registered
 *		revisions not applied; healthy otherwise.
 */
Datum
dbmigrate_health(PG_FUNCTION_ARGS)
{
	DbmCall		call;
	List	   *current;
	List	   *heads;
	List	   *volatile problems = NIL;
	List	   *volatile problem_texts = NIL;
	volatile int pending = 0;
	Datum		result;
	ListCell   *lc;
	MemoryContext oldcxt;
	ResourceOwner oldowner;

	dbm_call_begin(&call);
	current = dbm_read_current(DBM_READ_SNAPSHOT);
	heads = dbm_read_heads(DBM_READ_SNAPSHOT);

	/*
	 * An endpoint must answer, not fail: if the graph cannot be read (it was
	 * edited behind dbmigrate's back), report that as unhealthy.
	 */
	oldcxt = CurrentMemoryContext;
	oldowner = CurrentResourceOwner;
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		DbmGraph   *g = dbm_graph_load(DBM_READ_SNAPSHOT);
		int			npending;

		problems = dbm_find_problems(g, current, dbm_read_all_last_runs(DBM_READ_SNAPSHOT),
									 &npending);
		pending = npending;
		foreach(lc, problems)
		{
			DbmProblem *p = (DbmProblem *) lfirst(lc);

			problem_texts = lappend(problem_texts, psprintf("%s: %s", p->revision, p->problem));
		}
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;

		/*
		 * only a graph that cannot be read is a health finding; cancels etc.
		 * propagate
		 */
		if (edata->sqlerrcode != ERRCODE_DATA_CORRUPTED)
			ReThrowError(edata);
		problems = list_make1(edata);
		problem_texts = list_make1(psprintf("%s (SQLSTATE %s)", edata->message,
											unpack_sql_state(edata->sqlerrcode)));
	}
	PG_END_TRY();

	result = dbm_health_document(problems != NIL ? "unhealthy" : pending > 0 ? "pending" : "healthy",
								 current, heads, pending, problem_texts);
	dbm_call_end(&call);
	PG_RETURN_DATUM(result);
}

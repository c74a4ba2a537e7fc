/*-------------------------------------------------------------------------
 *
 * status.c
 *	  Read-only calls: migrate_current, migrate_heads, migrate_history,
 *	  migrate_show, migrate_log, migrate_validate and health.  None takes the
 *	  run lock; each reads with the caller's snapshot, at any isolation level,
 *	  and never blocks behind a running upgrade.  health() reads the state
 *	  that triggers keep on dbmigrate.revision (dbmigrate--1.0--1.1.sql), not
 *	  the migration text; the one trigger written in C, which keeps the
 *	  checksum of the stored text, is here too.
 *
 * Copyright (c) 2026, dbmigrate developers
 *
 * IDENTIFICATION
 *	  src/status.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "commands/trigger.h"
#include "executor/spi.h"
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

static char *dbm_drift_problem(const char *registered, const char *run, const char *now);
static char *dbm_stale_problem(DbmRevisionRow *row, bool applied, const char *now, DbmLastRun *run);
static void dbm_validate_row(DbmRevisionRow *row, void *arg);
static List *dbm_find_problems(DbmGraph *g, List *current, HTAB *runs, int *pending);
static int	dbm_count_pending(DbmGraph *g, const bool *applied);
static List *dbm_health_problems(List *current, int *pending);
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
PG_FUNCTION_INFO_V1(dbmigrate_revision_text_checksum);

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
 * dbm_drift_problem
 *		The drift of an applied revision whose stored text has checksum now,
 *		given the checksum recorded at registration and that of its last run
 *		(NULL: none describes it): the text differs from what ran, or else
 *		from what was registered.  NULL when there is none.  migrate_validate
 *		computes now from the text, health() reads the kept text_checksum.
 */
static char *
dbm_drift_problem(const char *registered, const char *run, const char *now)
{
	if (run != NULL && strcmp(run, now) != 0)
		return psprintf("stored text differs from the text that ran: checksum %s when run, %s now",
						run, now);
	if (strcmp(registered, now) != 0)
		return psprintf("stored text was changed outside dbmigrate: checksum %s registered, %s now",
						registered, now);
	return NULL;
}

/*
 * dbm_stale_problem
 *		For migrate_validate: what is wrong with the state that triggers keep
 *		for health() on a revision (row->has_kept), against what validate
 *		computed: applied, the checksum of the text now, the last run.  Such
 *		state is wrong only when dbmigrate.revision, .version or .log was
 *		written with dbmigrate's triggers disabled (or its kept columns set by
 *		hand); health() may then miss or invent a finding.  NULL when it is
 *		right.
 */
static char *
dbm_stale_problem(DbmRevisionRow *row, bool applied, const char *now, DbmLastRun *run)
{
	bool		kept_applied = DatumGetBool(row->values[DBM_REV_IS_APPLIED]);
	char	   *kept_text = row->nulls[DBM_REV_TEXT_CHECKSUM] ? NULL :
		TextDatumGetCString(row->values[DBM_REV_TEXT_CHECKSUM]);
	char	   *kept_run = row->nulls[DBM_REV_RUN_CHECKSUM] ? NULL :
		TextDatumGetCString(row->values[DBM_REV_RUN_CHECKSUM]);
	char	   *registered = TextDatumGetCString(row->values[DBM_REV_CHECKSUM]);
	char	   *ran = run ? run->checksum : NULL;

	/* run_checksum is kept only when the last run's differs from checksum */
	if (ran != NULL && strcmp(ran, registered) == 0)
		ran = NULL;
	if (kept_applied != applied)
		return psprintf("state kept for health() is stale: is_applied is %s, but the revision is %s",
						kept_applied ? "true" : "false", applied ? "applied" : "not applied");
	if (!applied)
		return NULL;
	if (kept_text == NULL || strcmp(kept_text, now) != 0)
		return psprintf("state kept for health() is stale: text_checksum is %s, but the stored text has %s",
						kept_text ? kept_text : "NULL", now);
	if ((kept_run == NULL) != (ran == NULL) || (ran != NULL && strcmp(kept_run, ran) != 0))
		return psprintf("state kept for health() is stale: run_checksum is %s, but should be %s",
						kept_run ? kept_run : "NULL", ran ? ran : "NULL");
	return NULL;
}

/*
 * dbm_validate_row
 *		A dbm_scan_revisions callback: the problem of one applied revision
 *		whose stored text no longer hashes to the checksum recorded when it
 *		was applied (or, with no such log row, when it was registered); and,
 *		where the row has the kept state, that state gone stale.
 */
static void
dbm_validate_row(DbmRevisionRow *row, void *arg)
{
	DbmValidateState *state = (DbmValidateState *) arg;
	int			idx = dbm_graph_find(state->g, row->id);
	bool		applied = idx >= 0 && state->applied[idx];
	char	   *now = NULL;
	char	   *problem = NULL;
	DbmLastRun *run = NULL;
	DbmProblem *p;
	MemoryContext oldcxt;

	if (!applied && !row->has_kept)
		return;
	if (applied)
	{
		now = dbm_checksum_revision(TextDatumGetCString(row->values[DBM_REV_UPGRADE_SQL]),
									row->nulls[DBM_REV_DOWNGRADE_SQL] ? NULL :
									TextDatumGetCString(row->values[DBM_REV_DOWNGRADE_SQL]),
									DatumGetBool(row->values[DBM_REV_TRANSACTIONAL]));
		run = dbm_last_run(state->runs, row->id);
		problem = dbm_drift_problem(TextDatumGetCString(row->values[DBM_REV_CHECKSUM]),
									run ? run->checksum : NULL, now);
	}
	if (problem == NULL && row->has_kept && idx >= 0)
		problem = dbm_stale_problem(row, applied, now, run);
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
 *		(dbm_validate_row), re-hashing every applied revision's text; with
 *		the kept state of 1.1, also that state gone stale.  The text is
 *		streamed: memory stays bounded however much SQL is stored.
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
		*pending = dbm_count_pending(g, state.applied);

	foreach(lc, missing)
	{
		DbmProblem *p = palloc(sizeof(DbmProblem));

		p->revision = (char *) lfirst(lc);
		p->problem = pstrdup("current revision is not registered");
		state.problems = lappend(state.problems, p);
	}

	if (dbm_kept_state_exists())
		dbm_scan_revisions_kept(dbm_validate_row, &state);
	else
		dbm_scan_revisions(false, true, dbm_validate_row, &state);
	return state.problems;
}

/*
 * dbm_count_pending
 *		How many revisions of g are not in applied.
 */
static int
dbm_count_pending(DbmGraph *g, const bool *applied)
{
	int			pending = 0;
	int			k;

	for (k = 0; k < g->n; k++)
	{
		CHECK_FOR_INTERRUPTS();
		if (!applied[k])
			pending++;
	}
	return pending;
}

/*
 * dbm_health_problems
 *		health()'s pending count and problem texts ("<revision>: <problem>")
 *		without reading migration text.  With the kept state (1.1): the
 *		pending count, the current revisions that are not registered and the
 *		drifted revisions come from partial indexes, so the work follows what
 *		is pending or wrong, not the size of the graph or of the text; only
 *		when the kept flags are suspect (DbmHealthSummary) is the graph read,
 *		which reports an inconsistent graph as migrate_validate would (XX001).
 *		Without it (a database still at 1.0): dbm_find_problems, as 1.0 did.
 */
static List *
dbm_health_problems(List *current, int *pending)
{
	DbmHealthSummary summary;
	List	   *problems = NIL;
	List	   *missing;
	List	   *drifted = NIL;
	List	   *ids = NIL;
	DbmGraph   *g = NULL;
	bool	   *applied = NULL;
	ListCell   *lc;

	if (!dbm_kept_state_exists())
	{
		DbmGraph   *g10 = dbm_graph_load(DBM_READ_SNAPSHOT);

		foreach(lc, dbm_find_problems(g10, current, dbm_read_all_last_runs(DBM_READ_SNAPSHOT),
									  pending))
		{
			DbmProblem *p = (DbmProblem *) lfirst(lc);

			problems = lappend(problems, psprintf("%s: %s", p->revision, p->problem));
		}
		return problems;
	}

	dbm_read_health_summary(&summary);
	if (!summary.suspect)
	{
		*pending = (int) Min(summary.pending, PG_INT32_MAX);
		missing = summary.missing;
	}
	else
	{
		g = dbm_graph_load(DBM_READ_SNAPSHOT);
		applied = dbm_graph_applied(g, dbm_graph_known(g, current, &missing));
		*pending = dbm_count_pending(g, applied);
	}

	foreach(lc, missing)
		problems = lappend(problems, psprintf("%s: current revision is not registered",
											  (char *) lfirst(lc)));

	/* the applied ones among the drifted, with their last runs from the log */
	foreach(lc, dbm_read_drifted())
	{
		DbmDrift   *d = (DbmDrift *) lfirst(lc);

		if (g != NULL)
		{
			int			idx = dbm_graph_find(g, d->id);

			if (idx < 0 || !applied[idx])
				continue;
		}
		else if (!d->is_applied)
			continue;
		drifted = lappend(drifted, d);
		ids = lappend(ids, d->id);
	}
	if (drifted != NIL)
	{
		HTAB	   *runs = dbm_read_last_runs(ids, DBM_READ_SNAPSHOT);

		foreach(lc, drifted)
		{
			DbmDrift   *d = (DbmDrift *) lfirst(lc);
			DbmLastRun *run = dbm_last_run(runs, d->id);
			char	   *problem = dbm_drift_problem(d->checksum, run ? run->checksum : NULL,
													d->text_checksum);

			if (problem != NULL)
				problems = lappend(problems, psprintf("%s: %s", d->id, problem));
		}
	}
	return problems;
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
	List	   *volatile problem_texts = NIL;
	volatile int pending = 0;
	Datum		result;
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
		int			npending = 0;

		problem_texts = dbm_health_problems(current, &npending);
		pending = npending;
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
		problem_texts = list_make1(psprintf("%s (SQLSTATE %s)", edata->message,
											unpack_sql_state(edata->sqlerrcode)));
	}
	PG_END_TRY();

	result = dbm_health_document(problem_texts != NIL ? "unhealthy" : pending > 0 ? "pending" : "healthy",
								 current, heads, pending, problem_texts);
	dbm_call_end(&call);
	PG_RETURN_DATUM(result);
}

/*
 * revision_text_checksum() RETURNS trigger
 *
 *		BEFORE INSERT OR UPDATE OF upgrade_sql, downgrade_sql, transactional,
 *		text_checksum ON dbmigrate.revision, per row: sets text_checksum to
 *		the checksum of the revision as it will be stored (text and flag,
 *		dbm_checksum_revision, as registration and migrate_validate compute
 *		it), so that health() compares two columns
 *		instead of reading the text.  It runs for every writer: registration,
 *		pg_restore, and an UPDATE of the text by hand, which is the tampering
 *		health() exists to report.  Setting text_checksum itself recomputes it.
 *		A NULL upgrade_sql or flag is left to the columns' NOT NULL
 *		constraints.
 */
Datum
dbmigrate_revision_text_checksum(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	HeapTuple	tuple;
	TupleDesc	desc;
	int			up_col;
	int			down_col;
	int			flag_col;
	int			sum_col;
	Datum		up;
	Datum		down;
	Datum		flag;
	Datum		sum = (Datum) 0;
	bool		up_null;
	bool		down_null;
	bool		flag_null;
	bool		sum_null = false;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) || TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("revision_text_checksum() must be called as a BEFORE INSERT OR UPDATE row trigger"),
				 errhint("It is the trigger revision_text_checksum on dbmigrate.revision.")));

	tuple = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ? trigdata->tg_newtuple : trigdata->tg_trigtuple;
	desc = RelationGetDescr(trigdata->tg_relation);
	up_col = SPI_fnumber(desc, "upgrade_sql");
	down_col = SPI_fnumber(desc, "downgrade_sql");
	flag_col = SPI_fnumber(desc, "transactional");
	sum_col = SPI_fnumber(desc, "text_checksum");
	if (up_col <= 0 || down_col <= 0 || flag_col <= 0 || sum_col <= 0)
		elog(ERROR, "revision_text_checksum fired on a table without the columns of dbmigrate.revision");

	up = heap_getattr(tuple, up_col, desc, &up_null);
	down = heap_getattr(tuple, down_col, desc, &down_null);
	flag = heap_getattr(tuple, flag_col, desc, &flag_null);
	if (up_null || flag_null)
		sum_null = true;
	else
		sum = CStringGetTextDatum(dbm_checksum_revision(TextDatumGetCString(up),
														down_null ? NULL : TextDatumGetCString(down),
														DatumGetBool(flag)));
	return PointerGetDatum(heap_modify_tuple_by_cols(tuple, desc, 1, &sum_col, &sum, &sum_null));
}

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

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "dbmigrate.h"
#include "catalog.h"

/* forward declarations */

/* One problem found by migrate_validate */
typedef struct DbmProblem
{
	char	   *revision;
	char	   *problem;
} DbmProblem;

/* Last run of each revision, from dbmigrate.log */
typedef struct DbmLastRun
{
	char	   *key;
	TimestampTz started_at;
	char	   *run_by;
	char	   *checksum;
} DbmLastRun;

static HTAB *dbm_read_last_runs(void);
static DbmLastRun *dbm_last_run(HTAB *runs, const char *id);
static List *dbm_find_problems(DbmGraph *g, List *current, HTAB *runs, int *pending);
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

/* global variables: plans kept for the life of the backend */
static SPIPlanPtr dbm_plan_last_runs = NULL;
static SPIPlanPtr dbm_plan_history = NULL;
static SPIPlanPtr dbm_plan_show = NULL;
static SPIPlanPtr dbm_plan_log = NULL;
static SPIPlanPtr dbm_plan_all_bodies = NULL;
static SPIPlanPtr dbm_plan_health = NULL;

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
 * dbm_read_last_runs
 *		For each revision whose latest log row applied it (an upgrade, or a
 *		stamp with a checksum), that row.  A later downgrade, or a stamp that
 *		un-applied it, means the earlier run no longer describes it.
 */
static HTAB *
dbm_read_last_runs(void)
{
	HTAB	   *runs;
	int			rc;
	uint64		i;

	runs = dbm_string_hash("dbmigrate last runs", 256, sizeof(DbmLastRun));

	rc = dbm_spi_execute_plan(dbm_plan(&dbm_plan_last_runs,
								   "SELECT DISTINCT ON (revision) revision, started_at, run_by::text, checksum, "
								   DBM_LOG_ROW_APPLIES " "
								   "FROM dbmigrate.log ORDER BY revision, id DESC",
								   0, NULL),
						  NULL, NULL, DBM_SPI_READ_ONLY(DBM_READ_SNAPSHOT), 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read dbmigrate.log: %s", SPI_result_code_string(rc));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *id = dbm_spi_text(tup, desc, 1);
		DbmLastRun *run;
		bool		isnull;

		CHECK_FOR_INTERRUPTS();
		/* the latest event was a downgrade or an un-stamp: no run counts */
		if (!DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull)))
			continue;
		run = hash_search(runs, &id, HASH_ENTER, NULL);
		run->started_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 2, &isnull));
		run->run_by = dbm_spi_text(tup, desc, 3);
		run->checksum = dbm_spi_text(tup, desc, 4);
	}
	SPI_freetuptable(SPI_tuptable);
	return runs;
}

static DbmLastRun *
dbm_last_run(HTAB *runs, const char *id)
{
	return hash_search(runs, &id, HASH_FIND, NULL);
}

/*
 * dbm_find_problems
 *		What migrate_validate reports (and, when pending is not NULL, how many
 *		registered revisions are not applied): current revisions that are not
 *		registered, and applied revisions whose stored text no longer hashes
 *		to the checksum recorded when they were applied (or, with no such log
 *		row, when they were registered).
 */
static List *
dbm_find_problems(DbmGraph *g, List *current, HTAB *runs, int *pending)
{
	List	   *problems = NIL;
	List	   *missing;
	List	   *known = dbm_graph_known(g, current, &missing);
	bool	   *applied = dbm_graph_applied(g, known);
	ListCell   *lc;
	MemoryContext outer;
	MemoryContext batchcxt;
	Portal		portal;
	int			nestlevel;
	uint64		i;

	if (pending != NULL)
	{
		int			k;

		*pending = 0;
		for (k = 0; k < g->n; k++)
		{
			CHECK_FOR_INTERRUPTS();
			if (!applied[k])
				(*pending)++;
		}
	}

	foreach(lc, missing)
	{
		DbmProblem *p = palloc(sizeof(DbmProblem));

		p->revision = (char *) lfirst(lc);
		p->problem = pstrdup("current revision is not registered");
		problems = lappend(problems, p);
	}

	/* stream the text through a cursor: memory stays bounded however much SQL is stored */
	outer = CurrentMemoryContext;
	batchcxt = AllocSetContextCreate(outer, "dbmigrate validate batch", ALLOCSET_DEFAULT_SIZES);
	nestlevel = dbm_plan_settings_begin();
	portal = SPI_cursor_open(NULL,
							 dbm_plan(&dbm_plan_all_bodies,
									  "SELECT revision, upgrade_sql, downgrade_sql, checksum "
									  "FROM dbmigrate.revision ORDER BY seq",
									  0, NULL),
							 NULL, NULL, DBM_SPI_READ_ONLY(DBM_READ_SNAPSHOT));
	dbm_plan_settings_end(nestlevel);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, 100);
		MemoryContextSwitchTo(batchcxt);
		if (SPI_processed == 0)
			break;
		for (i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			char	   *id = dbm_spi_text(tup, desc, 1);
			int			idx = dbm_graph_find(g, id);
			char	   *now;
			char	   *stored;
			char	   *problem = NULL;
			DbmLastRun *run;

			CHECK_FOR_INTERRUPTS();
			if (idx < 0 || !applied[idx])
				continue;
			now = dbm_checksum(dbm_spi_text(tup, desc, 2), dbm_spi_text(tup, desc, 3));
			stored = dbm_spi_text(tup, desc, 4);
			run = dbm_last_run(runs, id);

			if (run != NULL && run->checksum != NULL && strcmp(run->checksum, now) != 0)
				problem = psprintf("stored text differs from the text that ran: checksum %s when run, %s now",
								   run->checksum, now);
			else if (strcmp(stored, now) != 0)
				problem = psprintf("stored text was changed outside dbmigrate: checksum %s registered, %s now",
								   stored, now);
			if (problem != NULL)
			{
				DbmProblem *p = MemoryContextAlloc(outer, sizeof(DbmProblem));

				p->revision = g->nodes[idx].id;
				p->problem = MemoryContextStrdup(outer, problem);
				MemoryContextSwitchTo(outer);
				problems = lappend(problems, p);
				MemoryContextSwitchTo(batchcxt);
			}
		}
		SPI_freetuptable(SPI_tuptable);
		MemoryContextReset(batchcxt);
	}
	MemoryContextSwitchTo(outer);
	SPI_cursor_close(portal);
	MemoryContextDelete(batchcxt);
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
	DbmOwnerContext oc;

	dbm_spi_connect();
	dbm_enter_owner(&oc);
	dbm_put_ids(store, desc, dbm_read_current(DBM_READ_SNAPSHOT));
	dbm_leave_owner(&oc);
	dbm_spi_finish();
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
	DbmOwnerContext oc;

	dbm_spi_connect();
	dbm_enter_owner(&oc);
	dbm_put_ids(store, desc, dbm_read_heads(DBM_READ_SNAPSHOT));
	dbm_leave_owner(&oc);
	dbm_spi_finish();
	return (Datum) 0;
}

/*
 * migrate_history(verbose boolean DEFAULT false)
 *		RETURNS TABLE(revision, down_revisions, message, is_applied, is_head,
 *		is_current, is_branch_point, is_merge_point, applied_at, applied_by,
 *		registered_at, upgrade_sql, downgrade_sql, checksum)
 *
 *		Alembic's "history --verbose --indicate-current": every registered
 *		revision, newest first in topological (registration) order.  The SQL
 *		and checksum columns are filled only when verbose.
 */
Datum
dbmigrate_migrate_history(PG_FUNCTION_ARGS)
{
	bool		verbose = PG_ARGISNULL(0) ? false : PG_GETARG_BOOL(0);
	TupleDesc	desc;
	Tuplestorestate *store = dbm_init_srf(fcinfo, &desc);
	DbmOwnerContext oc;
	DbmGraph   *g;
	List	   *current;
	List	   *missing;
	bool	   *applied;
	HTAB	   *runs;
	int			rc;
	uint64		i;
	Oid			argtypes[1] = {BOOLOID};
	Datum		args[1];

	if (verbose)
		dbm_require_show_privilege();

	dbm_spi_connect();
	dbm_enter_owner(&oc);
	g = dbm_graph_load(DBM_READ_SNAPSHOT);
	current = dbm_graph_known(g, dbm_read_current(DBM_READ_SNAPSHOT), &missing);
	applied = dbm_graph_applied(g, current);
	runs = dbm_read_last_runs();

	args[0] = BoolGetDatum(verbose);
	rc = dbm_spi_execute_plan(dbm_plan(&dbm_plan_history,
								   "SELECT revision, message, registered_at, "
								   "CASE WHEN $1 THEN upgrade_sql END, "
								   "CASE WHEN $1 THEN downgrade_sql END, "
								   "CASE WHEN $1 THEN checksum END "
								   "FROM dbmigrate.revision ORDER BY seq DESC",
								   1, argtypes),
						  args, NULL, DBM_SPI_READ_ONLY(DBM_READ_SNAPSHOT), 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read dbmigrate.revision: %s", SPI_result_code_string(rc));

	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	sdesc = SPI_tuptable->tupdesc;
		char	   *id = dbm_spi_text(tup, sdesc, 1);
		int			idx = dbm_graph_index(g, id);
		DbmNode    *node = &g->nodes[idx];
		DbmLastRun *run = applied[idx] ? dbm_last_run(runs, id) : NULL;
		Datum		values[14];
		bool		nulls[14];
		bool		isnull;
		int			c;

		CHECK_FOR_INTERRUPTS();
		memset(nulls, 0, sizeof(nulls));
		values[0] = CStringGetTextDatum(id);
		values[1] = dbm_node_array(g, node->parents, node->nparents);
		values[2] = SPI_getbinval(tup, sdesc, 2, &nulls[2]);
		values[3] = BoolGetDatum(applied[idx]);
		values[4] = BoolGetDatum(node->nchildren == 0);
		values[5] = BoolGetDatum(dbm_list_has_id(current, id));
		values[6] = BoolGetDatum(node->nchildren > 1);
		values[7] = BoolGetDatum(node->nparents > 1);
		values[8] = run ? TimestampTzGetDatum(run->started_at) : (Datum) 0;
		nulls[8] = run == NULL;
		values[9] = run ? DirectFunctionCall1(namein, CStringGetDatum(run->run_by)) : (Datum) 0;
		nulls[9] = run == NULL;
		values[10] = SPI_getbinval(tup, sdesc, 3, &isnull);
		for (c = 0; c < 3; c++)
			values[11 + c] = SPI_getbinval(tup, sdesc, 4 + c, &nulls[11 + c]);
		tuplestore_putvalues(store, desc, values, nulls);
	}
	SPI_freetuptable(SPI_tuptable);

	dbm_leave_owner(&oc);
	dbm_spi_finish();
	return (Datum) 0;
}

/*
 * migrate_show(target text)
 *		RETURNS TABLE(revision, down_revisions, children, message, upgrade_sql,
 *		downgrade_sql, checksum, is_applied, is_head, is_current,
 *		registered_at, registered_by, applied_at)
 *
 *		Alembic's "show": one revision in full, named by id, unique prefix,
 *		"head" or "<rev>+N".  Errors: 22004, 42704, 21000.
 */
Datum
dbmigrate_migrate_show(PG_FUNCTION_ARGS)
{
	char	   *target = dbm_text_arg(fcinfo, 0, "target");
	TupleDesc	desc;
	Tuplestorestate *store = dbm_init_srf(fcinfo, &desc);
	DbmOwnerContext oc;
	DbmGraph   *g;
	List	   *current;
	List	   *missing;
	bool	   *applied;
	HTAB	   *runs;
	DbmNode    *node;
	DbmLastRun *run;
	int			idx;
	int			rc;
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	Datum		values[13];
	bool		nulls[13];

	dbm_spi_connect();
	dbm_enter_owner(&oc);
	g = dbm_graph_load(DBM_READ_SNAPSHOT);
	idx = dbm_graph_position(g, target);
	node = &g->nodes[idx];
	current = dbm_graph_known(g, dbm_read_current(DBM_READ_SNAPSHOT), &missing);
	applied = dbm_graph_applied(g, current);
	runs = dbm_read_last_runs();
	run = applied[idx] ? dbm_last_run(runs, node->id) : NULL;

	args[0] = CStringGetTextDatum(node->id);
	rc = dbm_spi_execute_plan(dbm_plan(&dbm_plan_show,
								   "SELECT message, upgrade_sql, downgrade_sql, checksum, "
								   "registered_at, registered_by "
								   "FROM dbmigrate.revision WHERE revision OPERATOR(pg_catalog.=) $1",
								   1, argtypes),
						  args, NULL, DBM_SPI_READ_ONLY(DBM_READ_SNAPSHOT), 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read dbmigrate.revision: %s", SPI_result_code_string(rc));
	if (SPI_processed != 1)
		dbm_revision_vanished(node->id);

	memset(nulls, 0, sizeof(nulls));
	values[0] = CStringGetTextDatum(node->id);
	values[1] = dbm_node_array(g, node->parents, node->nparents);
	values[2] = dbm_node_array(g, node->children, node->nchildren);
	values[3] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &nulls[3]);
	values[4] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &nulls[4]);
	values[5] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &nulls[5]);
	values[6] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &nulls[6]);
	values[7] = BoolGetDatum(applied[idx]);
	values[8] = BoolGetDatum(node->nchildren == 0);
	values[9] = BoolGetDatum(dbm_list_has_id(current, node->id));
	values[10] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 5, &nulls[10]);
	values[11] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 6, &nulls[11]);
	values[12] = run ? TimestampTzGetDatum(run->started_at) : (Datum) 0;
	nulls[12] = run == NULL;
	tuplestore_putvalues(store, desc, values, nulls);
	SPI_freetuptable(SPI_tuptable);

	dbm_leave_owner(&oc);
	dbm_spi_finish();
	return (Datum) 0;
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
	TupleDesc	desc;
	Tuplestorestate *store = dbm_init_srf(fcinfo, &desc);
	DbmOwnerContext oc;
	int			rc;
	uint64		i;

	dbm_spi_connect();
	dbm_enter_owner(&oc);
	rc = dbm_spi_execute_plan(dbm_plan(&dbm_plan_log,
								   "SELECT id, revision, operation, started_at, duration, run_by, pid, checksum "
								   "FROM dbmigrate.log ORDER BY id",
								   0, NULL),
						  NULL, NULL, DBM_SPI_READ_ONLY(DBM_READ_SNAPSHOT), 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read dbmigrate.log: %s", SPI_result_code_string(rc));
	for (i = 0; i < SPI_processed; i++)
	{
		Datum		values[8];
		bool		nulls[8];
		int			c;

		CHECK_FOR_INTERRUPTS();
		for (c = 0; c < 8; c++)
			values[c] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, c + 1, &nulls[c]);
		tuplestore_putvalues(store, desc, values, nulls);
	}
	SPI_freetuptable(SPI_tuptable);
	dbm_leave_owner(&oc);
	dbm_spi_finish();
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
	DbmOwnerContext oc;
	DbmGraph   *g;
	List	   *problems;
	ListCell   *lc;

	dbm_spi_connect();
	dbm_enter_owner(&oc);
	g = dbm_graph_load(DBM_READ_SNAPSHOT);
	problems = dbm_find_problems(g, dbm_read_current(DBM_READ_SNAPSHOT), dbm_read_last_runs(), NULL);
	foreach(lc, problems)
	{
		DbmProblem *p = (DbmProblem *) lfirst(lc);
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = CStringGetTextDatum(p->revision);
		values[1] = CStringGetTextDatum(p->problem);
		tuplestore_putvalues(store, desc, values, nulls);
	}
	dbm_leave_owner(&oc);
	dbm_spi_finish();
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
	DbmOwnerContext oc;
	List	   *current;
	List	   *heads;
	List	   *volatile problems = NIL;
	List	   *volatile problem_texts = NIL;
	volatile int pending = 0;
	int			rc;
	const char *status;
	Oid			argtypes[5] = {TEXTOID, TEXTARRAYOID, TEXTARRAYOID, INT4OID, TEXTARRAYOID};
	Datum		args[5];
	Datum		result;
	bool		isnull;
	ListCell   *lc;
	MemoryContext oldcxt;
	ResourceOwner oldowner;

	dbm_spi_connect();
	dbm_enter_owner(&oc);
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

		problems = dbm_find_problems(g, current, dbm_read_last_runs(), &npending);
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

		/* only a graph that cannot be read is a health finding; cancels etc. propagate */
		if (edata->sqlerrcode != ERRCODE_DATA_CORRUPTED)
			ReThrowError(edata);
		problems = list_make1(edata);
		problem_texts = list_make1(psprintf("%s (SQLSTATE %s)", edata->message,
											unpack_sql_state(edata->sqlerrcode)));
	}
	PG_END_TRY();

	status = problems != NIL ? "unhealthy" : pending > 0 ? "pending" : "healthy";
	args[0] = CStringGetTextDatum(status);
	args[1] = dbm_ids_to_array(current);
	args[2] = dbm_ids_to_array(heads);
	args[3] = Int32GetDatum(pending);
	args[4] = dbm_ids_to_array(problem_texts);
	rc = dbm_spi_execute_plan(dbm_plan(&dbm_plan_health,
								   "SELECT pg_catalog.jsonb_build_object("
								   "'status', $1, "
								   "'database', pg_catalog.current_database(), "
								   "'current', $2, "
								   "'heads', $3, "
								   "'pending', $4, "
								   "'timestamp', pg_catalog.to_char(pg_catalog.clock_timestamp() "
								   "    AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
								   "'version', (SELECT e.extversion FROM pg_catalog.pg_extension e "
								   "            WHERE e.extname OPERATOR(pg_catalog.=) 'dbmigrate'), "
								   "'problems', $5)",
								   5, argtypes),
						  args, NULL, DBM_SPI_READ_ONLY(DBM_READ_SNAPSHOT), 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not build the health document");
	result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	result = SPI_datumTransfer(result, false, -1);
	dbm_leave_owner(&oc);
	dbm_spi_finish();
	PG_RETURN_DATUM(result);
}

/*-------------------------------------------------------------------------
 *
 * plan.c
 *	  migrate_plan(target, execute): what an upgrade (or a downgrade) to
 *	  target would run, statement by statement, without changing anything.
 *
 *	  With execute => false it reads the plan and the text (offline mode, as
 *	  Alembic's --sql).  With execute => true it runs every step inside one
 *	  subtransaction that is always rolled back, and reports for each
 *	  statement its duration, the locks it took (this backend's own entries
 *	  in the lock table, before and after the statement) and the tables it
 *	  rewrote (their relfilenode changed).  Nothing persists, except what
 *	  PostgreSQL never rolls back: sequence values.
 *
 * Copyright (c) 2026, dbmigrate developers
 *
 * IDENTIFICATION
 *	  src/plan.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "dbmigrate.h"
#include "catalog.h"
#include "graph.h"
#include "idlist.h"
#include "runner.h"
#include "sqlcheck.h"
#include "target.h"

/* One statement's row, and what the dry run needs to fill it */
typedef struct DbmPlanState
{
	Tuplestorestate *store;
	TupleDesc	desc;
	bool		execute;
	int			step;
	const char *revision;
	const char *direction;
	int			statement;
	Datum		locks_before;	/* jsonb: this backend's locks before a
								 * statement */
	Datum		files_before;	/* jsonb: relation -> relfilenode */
} DbmPlanState;

/*
 * DBM_PLAN_LOCKS: this backend's relation locks in this database, as a jsonb
 * object whose keys are "<oid> <mode>".  DBM_PLAN_FILES: every relation
 * outside the system catalogs, as {"<oid>": [name, relfilenode, relkind]}.
 * DBM_PLAN_DIFF, given locks and files before ($1, $3) and after ($2, $4) a
 * statement: the locks it added, named from the relations after or, for
 * one it dropped, before ([{relation, mode}]; a relation that lived only
 * inside the statement, such as a rewrite's transient heap, is left out),
 * and the tables and materialized views whose relfilenode it changed.
 */
#define DBM_PLAN_LOCKS \
	"SELECT coalesce(pg_catalog.jsonb_object_agg(l.relation::pg_catalog.text " \
	"       OPERATOR(pg_catalog.||) ' ' OPERATOR(pg_catalog.||) l.mode, true), '{}') " \
	"FROM pg_catalog.pg_locks l " \
	"WHERE l.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid() AND l.locktype = 'relation' " \
	"  AND l.database OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database d " \
	"      WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()) " \
	"  AND l.relation OPERATOR(pg_catalog.>=) 16384"
#define DBM_PLAN_FILES \
	"SELECT coalesce(pg_catalog.jsonb_object_agg(c.oid::pg_catalog.text, " \
	"       pg_catalog.jsonb_build_array(c.oid::pg_catalog.regclass::pg_catalog.text, " \
	"                                    c.relfilenode, c.relkind)), '{}') " \
	"FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.>=) 16384"
#define DBM_PLAN_DIFF \
	"SELECT (SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(" \
	"                 'relation', x.n, 'mode', x.m) ORDER BY x.n, x.m), '[]') " \
	"          FROM (SELECT coalesce(($4 OPERATOR(pg_catalog.->) pg_catalog.split_part(k, ' ', 1)) " \
	"                                OPERATOR(pg_catalog.->>) 0, " \
	"                                ($3 OPERATOR(pg_catalog.->) pg_catalog.split_part(k, ' ', 1)) " \
	"                                OPERATOR(pg_catalog.->>) 0) AS n, " \
	"                       pg_catalog.split_part(k, ' ', 2) AS m " \
	"                  FROM pg_catalog.jsonb_object_keys($2) k " \
	"                 WHERE NOT $1 OPERATOR(pg_catalog.?) k) x " \
	"         WHERE x.n IS NOT NULL), " \
	"       (SELECT pg_catalog.array_agg(a.value OPERATOR(pg_catalog.->>) 0 " \
	"                                    ORDER BY a.value OPERATOR(pg_catalog.->>) 0) " \
	"          FROM pg_catalog.jsonb_each($4) a " \
	"         WHERE (a.value OPERATOR(pg_catalog.->>) 2) IN ('r', 'm') " \
	"           AND $3 OPERATOR(pg_catalog.?) a.key " \
	"           AND (($3 OPERATOR(pg_catalog.->) a.key) OPERATOR(pg_catalog.->>) 1) " \
	"               OPERATOR(pg_catalog.<>) (a.value OPERATOR(pg_catalog.->>) 1))"

static void dbm_plan_statement(Node *stmt, const char *text, int len, void *arg);
static void dbm_plan_error_callback(void *arg);
static Datum dbm_plan_query_jsonb(const char *sql);
static void dbm_plan_put(DbmPlanState *ps, const char *sql, Interval *duration, Datum locks,
						 bool locks_null, Datum rewrites, bool rewrites_null);

/* SQL-callable functions */
PG_FUNCTION_INFO_V1(dbmigrate_migrate_plan);

/*
 * dbm_plan_query_jsonb
 *		Run one of the queries above (as the caller: pg_locks and pg_class are
 *		readable by everyone) and return its jsonb, copied out of SPI.
 */
static Datum
dbm_plan_query_jsonb(const char *sql)
{
	bool		isnull;
	MemoryContext cxt = CurrentMemoryContext;
	Datum		d;

	if (dbm_spi_run(sql, 0, NULL, NULL, false, 1, SPI_OK_SELECT, "read the lock table") != 1)
		elog(ERROR, "dbmigrate: the dry run's query returned no row");
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	MemoryContextSwitchTo(cxt);
	return PointerGetDatum(PG_DETOAST_DATUM_COPY(d));
}

/*
 * dbm_plan_error_callback
 *		Name the step and statement of a dry run that fails.
 */
static void
dbm_plan_error_callback(void *arg)
{
	DbmPlanState *ps = (DbmPlanState *) arg;

	if (ps->revision != NULL)
		errcontext("dry run of the %s of revision \"%s\", statement %d",
				   ps->direction, ps->revision, ps->statement);
}

/*
 * dbm_plan_put
 *		One result row.
 */
static void
dbm_plan_put(DbmPlanState *ps, const char *sql, Interval *duration, Datum locks, bool locks_null,
			 Datum rewrites, bool rewrites_null)
{
	Datum		values[8];
	bool		nulls[8] = {false, false, false, false, false, duration == NULL,
	locks_null, rewrites_null};

	values[0] = Int32GetDatum(ps->step);
	values[1] = CStringGetTextDatum(ps->revision);
	values[2] = CStringGetTextDatum(ps->direction);
	values[3] = Int32GetDatum(ps->statement);
	values[4] = CStringGetTextDatum(sql);
	values[5] = duration ? IntervalPGetDatum(duration) : (Datum) 0;
	values[6] = locks;
	values[7] = rewrites;
	tuplestore_putvalues(ps->store, ps->desc, values, nulls);
}

/*
 * dbm_plan_statement
 *		A dbm_foreach_statement callback: report one statement, and with
 *		execute run it and measure it.
 */
static void
dbm_plan_statement(Node *stmt, const char *text, int len, void *arg)
{
	DbmPlanState *ps = (DbmPlanState *) arg;
	char	   *sql = pnstrdup(text, len);
	TimestampTz started;
	Interval   *duration;
	Datum		locks_after;
	Datum		files_after;
	Datum		values[4];
	Oid			argtypes[4] = {JSONBOID, JSONBOID, JSONBOID, JSONBOID};
	bool		isnull;
	Datum		locks;
	Datum		rewrites;
	bool		rewrites_null;
	MemoryContext cxt = CurrentMemoryContext;
	int			rc;

	CHECK_FOR_INTERRUPTS();
	ps->statement++;
	if (!ps->execute)
	{
		dbm_plan_put(ps, sql, NULL, (Datum) 0, true, (Datum) 0, true);
		return;
	}

	started = GetCurrentTimestamp();
	rc = dbm_spi_execute_discard(sql);
	MemoryContextSwitchTo(cxt);
	if (rc < 0)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
	SPI_freetuptable(SPI_tuptable);
	duration = palloc0(sizeof(Interval));
	duration->time = GetCurrentTimestamp() - started;

	locks_after = dbm_plan_query_jsonb(DBM_PLAN_LOCKS);
	files_after = dbm_plan_query_jsonb(DBM_PLAN_FILES);
	values[0] = ps->locks_before;
	values[1] = locks_after;
	values[2] = ps->files_before;
	values[3] = files_after;
	rc = SPI_execute_with_args(DBM_PLAN_DIFF, 4, argtypes, values, NULL, true, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "dbmigrate: could not compare the dry run's locks");
	locks = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	rewrites = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &rewrites_null);
	MemoryContextSwitchTo(cxt);
	dbm_plan_put(ps, sql, duration, locks, isnull, rewrites, rewrites_null);
	ps->locks_before = locks_after;
	ps->files_before = files_after;
}

/*
 * migrate_plan(target text DEFAULT 'head', execute boolean DEFAULT false)
 *		RETURNS TABLE(step int, revision text, direction text, statement int,
 *		sql text, duration interval, locks jsonb, rewrites text[])
 *
 *		Alembic's offline mode (--sql), and a dry run.  The steps an upgrade
 *		to target would run from the current state ("-N" and "base": a
 *		downgrade), one row per statement.  execute => false reads only.
 *		execute => true takes the run lock, runs every step as
 *		migrate_upgrade would (as the caller, a GUC nest level per step) in
 *		one subtransaction that is always rolled back, and fills duration,
 *		locks (the relation locks the statement added: [{relation, mode}])
 *		and rewrites (tables whose relfilenode it changed).  A
 *		non-transactional revision's statements are listed, not run.
 *		Nothing persists but sequence values.  Errors: migrate_upgrade's
 *		(targets, 25000, 55P03) and, with execute, whatever a step raises,
 *		with the step named.
 */
Datum
dbmigrate_migrate_plan(PG_FUNCTION_ARGS)
{
	const char *text = dbm_text_arg(fcinfo, 0, "target");
	bool		execute = PG_ARGISNULL(1) ? false : PG_GETARG_BOOL(1);
	DbmTarget	t;
	DbmPlanState ps;
	DbmCall		call;
	DbmGraph   *g;
	List	   *current;
	List	   *steps;
	List	   *nontx;
	bool	   *applied;
	bool		upgrade;
	ListCell   *lc;
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;

	ErrorContextCallback errcallback;

	/* the result holds migration SQL: the right to read it, as migrate_show */
	if (!dbm_may_read_migration_sql())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for the SQL text of migrations"),
				 errdetail("migrate_plan() returns the SQL an upgrade would run."),
				 errhint("Ask for GRANT EXECUTE ON FUNCTION dbmigrate.migrate_show(text).")));

	/* "-N" and "base" are downgrades; everything else is read as an upgrade */
	t = dbm_target_parse(text, (text[0] == '-' || strcmp(text, "base") == 0) ?
						 DBM_OP_DOWNGRADE : DBM_OP_UPGRADE);
	upgrade = t.op == DBM_OP_UPGRADE;

	memset(&ps, 0, sizeof(ps));
	ps.store = dbm_init_srf(fcinfo, &ps.desc);
	ps.execute = execute;
	ps.direction = upgrade ? "upgrade" : "downgrade";

	if (execute)
		dbm_begin_state_change("migrate_plan", false);
	dbm_call_begin(&call);
	current = dbm_read_current(execute ? DBM_READ_LATEST : DBM_READ_SNAPSHOT);
	g = dbm_graph_load(execute ? DBM_READ_LATEST : DBM_READ_SNAPSHOT);
	applied = dbm_graph_applied(g, current);
	steps = dbm_plan_steps(g, applied, current, &t, NULL);
	nontx = steps != NIL ? dbm_read_nontransactional(dbm_graph_ids(g, steps)) : NIL;
	dbm_leave_owner(&call.owner);

	if (execute)
	{
		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(oldcxt);
	}
	errcallback.callback = dbm_plan_error_callback;
	errcallback.arg = &ps;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;
	PG_TRY();
	{
		if (execute)
		{
			ps.locks_before = dbm_plan_query_jsonb(DBM_PLAN_LOCKS);
			ps.files_before = dbm_plan_query_jsonb(DBM_PLAN_FILES);
		}
		foreach(lc, steps)
		{
			int			idx = lfirst_int(lc);
			DbmBody    *body;
			const char *sql;
			bool		run = execute && !dbm_list_has_id(nontx, g->nodes[idx].id);
			int			nestlevel;

			ps.step++;
			ps.revision = g->nodes[idx].id;
			ps.statement = 0;
			dbm_enter_owner(&call.owner);
			body = dbm_read_step_body(g, idx, upgrade);
			dbm_leave_owner(&call.owner);
			sql = upgrade ? body->upgrade_sql : body->downgrade_sql;
			if (sql == NULL)
				continue;		/* irreversible: dbm_plan_steps refused it */
			/* reading the text locked dbmigrate's table: not the step's */
			if (run)
				ps.locks_before = dbm_plan_query_jsonb(DBM_PLAN_LOCKS);

			/* as a step runs: its own settings, its lock_timeout */
			nestlevel = NewGUCNestLevel();
			if (run && dbmigrate_lock_timeout > 0)
				dbm_guc_set_lock_timeout(dbmigrate_lock_timeout);
			dbm_guc_set("standard_conforming_strings", "on", PGC_USERSET);
			ps.execute = run;
			dbm_foreach_statement(sql, ps.revision, ps.direction, dbm_plan_statement, &ps, NULL);
			ps.execute = execute;
			AtEOXact_GUC(false, nestlevel);
		}
	}
	PG_CATCH();
	{
		if (execute)
		{
			MemoryContextSwitchTo(oldcxt);
			RollbackAndReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(oldcxt);
			CurrentResourceOwner = oldowner;
		}
		PG_RE_THROW();
	}
	PG_END_TRY();
	error_context_stack = errcallback.previous;
	if (execute)
	{
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}

	dbm_enter_owner(&call.owner);
	dbm_call_end(&call);
	return (Datum) 0;
}

/*-------------------------------------------------------------------------
 *
 * runner.h
 *	  Running migrations (upgrade, downgrade, stamp): planning steps and
 *	  running them, for runner.c's functions and the stepwise procedures.
 *
 * Copyright (c) 2026, dbmigrate developers
 *
 * IDENTIFICATION
 *	  src/runner.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DBMIGRATE_RUNNER_H
#define DBMIGRATE_RUNNER_H

#include "dbmigrate.h"
#include "catalog.h"
#include "graph.h"
#include "target.h"

extern void dbm_runner_init(void);
extern List *dbm_plan_steps(DbmGraph *g, const bool *applied, List *current, const DbmTarget *t,
							bool **after);
extern void dbm_run_steps(DbmCall *call, DbmGraph *g, List *steps, bool upgrade, bool from_base,
						  Tuplestorestate *store, TupleDesc desc);
extern DbmBody *dbm_read_step_body(DbmGraph *g, int idx, bool upgrade);
extern void dbm_check_step_body(DbmBody *body, bool upgrade, HTAB *runs);
extern bool dbm_running_step(const char **revision, const char **direction);

#endif							/* DBMIGRATE_RUNNER_H */

/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  Running a non-transactional revision's statements at top level, in a
 *	  dynamic background worker, while the calling backend waits holding no
 *	  snapshot.
 *
 * Copyright (c) 2026, dbmigrate developers
 *
 * IDENTIFICATION
 *	  src/worker.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DBMIGRATE_WORKER_H
#define DBMIGRATE_WORKER_H

#include "fmgr.h"

/* What the waiting side shows of a non-transactional step */
typedef struct DbmWorkerStep
{
	const char *revision;
	const char *direction;		/* "upgrade" or "downgrade" */
	const char *sql;
	bool		hide_sql;		/* the caller may not read migration SQL */
	int			statement;		/* statements completed so far */
} DbmWorkerStep;

extern void dbm_worker_run(DbmWorkerStep *step);
extern PGDLLEXPORT void dbm_worker_main(Datum arg);

#endif							/* DBMIGRATE_WORKER_H */

/*-------------------------------------------------------------------------
 *
 * runner.h
 *	  Running migrations (upgrade, downgrade, stamp).
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

extern void dbm_runner_init(void);
extern bool dbm_running_step(const char **revision, const char **direction);

#endif							/* DBMIGRATE_RUNNER_H */

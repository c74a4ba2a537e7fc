/*-------------------------------------------------------------------------
 *
 * diagnostics.h
 *	  Diagnostics of migration steps: refusing, while a step runs, a drop
 *	  that would take dbmigrate with it; whether the object a statement
 *	  creates existed before the call (for the "adopt it with
 *	  migrate_stamp" hint); whether an error context callback is reporting
 *	  an error or a notice.
 *
 * Copyright (c) 2026, dbmigrate developers
 *
 * IDENTIFICATION
 *	  src/diagnostics.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DBMIGRATE_DIAGNOSTICS_H
#define DBMIGRATE_DIAGNOSTICS_H

#include "nodes/nodes.h"

/*
 * DbmCallStart: when a call began running steps, to tell objects that
 * existed before it from objects its own steps created.  Zeroed, it
 * counts every object as created by the call.
 */
typedef struct DbmCallStart
{
	TransactionId next_xid;		/* first transaction id not yet assigned */
	CommandId	cid;			/* the command counter of the transaction */
} DbmCallStart;

extern void dbm_diagnostics_init(void);
extern void dbm_call_start_mark(DbmCallStart *start);
extern bool dbm_creates_existing_object(Node *stmt, const DbmCallStart *start);
extern bool dbm_reporting_error(void);

#endif							/* DBMIGRATE_DIAGNOSTICS_H */

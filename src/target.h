/*-------------------------------------------------------------------------
 *
 * target.h
 *	  Targets of upgrade, downgrade, stamp, show and merge: parsed once into
 *	  a DbmTarget (a kind and its operands), checked against what the
 *	  operation accepts, and resolved to a revision of the graph.
 *
 * Copyright (c) 2026, dbmigrate developers
 *
 * IDENTIFICATION
 *	  src/target.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DBMIGRATE_TARGET_H
#define DBMIGRATE_TARGET_H

#include "graph.h"

/* What a target string means; a bit each, so an operation lists what it accepts */
typedef enum DbmTargetKind
{
	DBM_TARGET_HEAD = 1 << 0,	/* "head": the single head */
	DBM_TARGET_HEADS = 1 << 1,	/* "heads": every head */
	DBM_TARGET_BASE = 1 << 2,	/* "base": nothing applied */
	DBM_TARGET_REVISION = 1 << 3,	/* an id, or a unique prefix of one */
	DBM_TARGET_REVISION_PLUS = 1 << 4,	/* "<revision>+N" (or "head+N") */
	DBM_TARGET_FORWARD = 1 << 5,	/* "+N" from the current revisions */
	DBM_TARGET_BACKWARD = 1 << 6,	/* "-N" from the current revision */
	DBM_TARGET_INVALID = 1 << 7 /* "", or a keyword in the wrong case */
} DbmTargetKind;

/* The operation a target is given to */
typedef enum DbmTargetOp
{
	DBM_OP_UPGRADE,
	DBM_OP_DOWNGRADE,
	DBM_OP_STAMP,
	DBM_OP_SHOW,
	DBM_OP_MERGE,				/* one element of migrate_merge's list */
	DBM_OP_REVISION				/* migrate_revision: its parent is "head" */
} DbmTargetOp;

typedef struct DbmTarget
{
	const char *text;			/* as given */
	DbmTargetOp op;
	DbmTargetKind kind;
	const char *revision;		/* REVISION(_PLUS): the id or prefix; NULL for
								 * "head+N" */
	int			steps;			/* REVISION_PLUS, FORWARD, BACKWARD: N */
} DbmTarget;

extern DbmTarget dbm_target_parse(const char *text, DbmTargetOp op);
extern DbmTarget dbm_target_steps_back(int steps);
extern int	dbm_target_position(DbmGraph *g, const DbmTarget *t);
extern void dbm_require_single_head(List *heads, DbmTargetOp op);
extern int	dbm_graph_single_head(DbmGraph *g, DbmTargetOp op);

#endif							/* DBMIGRATE_TARGET_H */

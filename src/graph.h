/*-------------------------------------------------------------------------
 *
 * graph.h
 *	  The revision graph in memory, built from dbmigrate.revision.
 *
 * Copyright (c) 2026, dbmigrate developers
 *
 * IDENTIFICATION
 *	  src/graph.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DBMIGRATE_GRAPH_H
#define DBMIGRATE_GRAPH_H

#include "nodes/pg_list.h"
#include "utils/hsearch.h"

#include "catalog.h"

/*
 * DbmNode: one registered revision.  Nodes are stored in registration order
 * (column seq), which dbmigrate keeps topological: a parent is always
 * registered before its children, so iterating nodes by index visits parents
 * first.  parents/children hold node indexes.
 */
typedef struct DbmNode
{
	char	   *id;
	int			nparents;
	int		   *parents;
	int			nchildren;
	int		   *children;
} DbmNode;

typedef struct DbmGraph
{
	int			n;
	DbmNode    *nodes;
	HTAB	   *byid;			/* id -> index */
} DbmGraph;

extern DbmGraph *dbm_graph_load(DbmRead mode);
extern int	dbm_graph_find(DbmGraph *g, const char *id);
extern int	dbm_graph_index(DbmGraph *g, const char *id);
extern void dbm_revision_vanished(const char *id) pg_attribute_noreturn();
extern void dbm_graph_mark_ancestors(DbmGraph *g, int start, bool *mark);
extern void dbm_graph_mark_descendants(DbmGraph *g, int start, bool *mark);
extern void dbm_graph_mark_heads(DbmGraph *g, bool *mark);
extern bool *dbm_graph_applied(DbmGraph *g, List *current);
extern List *dbm_graph_known(DbmGraph *g, List *current, List **missing);
extern List *dbm_graph_maximal(DbmGraph *g, const bool *set);
extern List *dbm_graph_heads(DbmGraph *g);
extern List *dbm_graph_undo_order(DbmGraph *g, const bool *set, const int64 *keys);
extern List *dbm_graph_ids(DbmGraph *g, List *indexes);
extern char *dbm_graph_parents_text(DbmGraph *g, int idx);

#endif							/* DBMIGRATE_GRAPH_H */

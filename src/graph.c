/*-------------------------------------------------------------------------
 *
 * graph.c
 *	  The revision graph in memory: built from dbmigrate.revision's ids and
 *	  parents, ancestor/descendant closures, heads and applied sets.  Every
 *	  operation is linear in revisions plus edges.  Targets are target.c's.
 *
 * Copyright (c) 2026, dbmigrate developers
 *
 * IDENTIFICATION
 *	  src/graph.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/binaryheap.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"

#include "dbmigrate.h"
#include "graph.h"
#include "idlist.h"

/* forward declarations */
typedef struct DbmIdEntry
{
	char	   *key;			/* points at DbmNode.id */
	int			index;
} DbmIdEntry;

static void dbm_graph_mark(DbmGraph *g, int start, bool *mark, bool towards_parents);
static void dbm_graph_inconsistent(const char *child, const char *parent, const char *why);
static int	dbm_undo_compare(Datum a, Datum b, void *arg);

static void
dbm_graph_inconsistent(const char *child, const char *parent, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("revision graph is inconsistent: parent \"%s\" of revision \"%s\" %s",
					parent, child, why),
			 errdetail("dbmigrate.revision was changed outside dbmigrate's functions."),
			 errhint("Restore dbmigrate.revision from a backup (pg_dump keeps it); registering the "
					 "parent again would place it after its children.")));
}

/*
 * dbm_graph_load
 *		Read every revision's id and parents (not its SQL) in registration
 *		order and build the graph.  Must be called with SPI connected, as the
 *		extension owner; memory lives in the current (SPI) context.  A parent
 *		that is missing or registered after its child is refused (XX001).
 */
DbmGraph *
dbm_graph_load(DbmRead mode)
{
	DbmGraph   *g = palloc0(sizeof(DbmGraph));
	char	  **ids;
	List	  **parents;
	int			i;
	int		   *nchild;

	g->n = dbm_read_edges(mode, &ids, &parents);
	g->nodes = palloc0(sizeof(DbmNode) * Max(g->n, 1));
	g->byid = dbm_string_hash("dbmigrate revision ids", g->n, sizeof(DbmIdEntry));

	nchild = palloc0(sizeof(int) * Max(g->n, 1));
	for (i = 0; i < g->n; i++)
	{
		DbmNode    *node = &g->nodes[i];
		DbmIdEntry *entry;
		ListCell   *lc;
		int			k = 0;

		CHECK_FOR_INTERRUPTS();
		node->id = ids[i];
		entry = hash_search(g->byid, &node->id, HASH_ENTER, NULL);
		entry->index = i;

		node->nparents = list_length(parents[i]);
		node->parents = palloc(sizeof(int) * Max(node->nparents, 1));
		foreach(lc, parents[i])
		{
			char	   *pid = (char *) lfirst(lc);
			int			p = dbm_graph_find(g, pid);

			if (p < 0)
			{
				/* distinguish "missing" from "registered later" */
				bool		later = false;
				int			j;

				for (j = i + 1; j < g->n && !later; j++)
					later = strcmp(ids[j], pid) == 0;
				dbm_graph_inconsistent(node->id, pid,
									   later ? "is registered after it" : "is not registered");
			}
			node->parents[k++] = p;
			nchild[p]++;
		}
	}

	/* children lists */
	for (i = 0; i < g->n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		g->nodes[i].children = palloc(sizeof(int) * Max(nchild[i], 1));
	}
	for (i = 0; i < g->n; i++)
	{
		int			k;

		CHECK_FOR_INTERRUPTS();
		for (k = 0; k < g->nodes[i].nparents; k++)
		{
			DbmNode    *p = &g->nodes[g->nodes[i].parents[k]];

			p->children[p->nchildren++] = i;
		}
	}
	pfree(nchild);
	pfree(ids);
	pfree(parents);
	return g;
}

/*
 * dbm_graph_find
 *		Index of the revision with exactly this id, or -1.
 */
int
dbm_graph_find(DbmGraph *g, const char *id)
{
	DbmIdEntry *e = dbm_string_hash_find(g->byid, id);

	return e ? e->index : -1;
}

/*
 * dbm_revision_vanished
 *		Refuse (40001) to go on when a revision this call read a moment ago is
 *		gone: dbmigrate.revision was changed by a session that does not take
 *		the run lock (a direct DELETE, or a migration that edits the table).
 */
void
dbm_revision_vanished(const char *id)
{
	ereport(ERROR,
			(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
			 errmsg("revision \"%s\" was removed from dbmigrate.revision while this call ran", id),
			 errdetail("Another transaction or a migration step changed dbmigrate.revision "
					   "without going through dbmigrate's functions; nothing was changed."),
			 errhint("Retry the call; change revisions only with migrate_register() and "
					 "migrate_unregister().")));
}

/*
 * dbm_graph_index
 *		dbm_graph_find for an id this call read from dbmigrate's tables: a
 *		revision missing from the graph is refused (40001), never indexed.
 */
int
dbm_graph_index(DbmGraph *g, const char *id)
{
	int			idx = dbm_graph_find(g, id);

	if (idx < 0)
		dbm_revision_vanished(id);
	return idx;
}

/*
 * dbm_graph_mark
 *		Set mark[] for start and everything reachable from it towards the
 *		parents (ancestors) or the children (descendants).  Stops at nodes
 *		already marked, so repeated calls over a growing set stay linear.
 */
static void
dbm_graph_mark(DbmGraph *g, int start, bool *mark, bool towards_parents)
{
	int		   *stack;
	int			top = 0;

	if (mark[start])
		return;
	stack = palloc(sizeof(int) * g->n);
	mark[start] = true;
	stack[top++] = start;
	while (top > 0)
	{
		DbmNode    *node = &g->nodes[stack[--top]];
		int			n = towards_parents ? node->nparents : node->nchildren;
		int		   *next = towards_parents ? node->parents : node->children;
		int			k;

		CHECK_FOR_INTERRUPTS();
		for (k = 0; k < n; k++)
		{
			if (!mark[next[k]])
			{
				mark[next[k]] = true;
				stack[top++] = next[k];
			}
		}
	}
	pfree(stack);
}

void
dbm_graph_mark_ancestors(DbmGraph *g, int start, bool *mark)
{
	dbm_graph_mark(g, start, mark, true);
}

void
dbm_graph_mark_descendants(DbmGraph *g, int start, bool *mark)
{
	dbm_graph_mark(g, start, mark, false);
}

/*
 * dbm_graph_mark_heads
 *		Mark every head and its ancestors: the whole graph.
 */
void
dbm_graph_mark_heads(DbmGraph *g, bool *mark)
{
	int			i;

	for (i = 0; i < g->n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (g->nodes[i].nchildren == 0)
			dbm_graph_mark(g, i, mark, true);
	}
}

/*
 * dbm_graph_applied
 *		The applied set: every current revision and its ancestors.  A current
 *		revision missing from the graph is refused (55000): nothing can be
 *		planned from a state dbmigrate does not know.
 */
bool *
dbm_graph_applied(DbmGraph *g, List *current)
{
	bool	   *applied = palloc0(sizeof(bool) * Max(g->n, 1));
	ListCell   *lc;

	foreach(lc, current)
	{
		const char *id = (const char *) lfirst(lc);
		int			idx = dbm_graph_find(g, id);

		if (idx < 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("current revision \"%s\" is not registered", id),
					 errdetail("dbmigrate.version names a revision that dbmigrate.revision does not hold."),
					 errhint("Register that revision again with migrate_register(), or set the "
							 "current revision with migrate_stamp().")));
		dbm_graph_mark_ancestors(g, idx, applied);
	}
	return applied;
}

/*
 * dbm_graph_known
 *		The current revisions that are registered; the others go to *missing.
 */
List *
dbm_graph_known(DbmGraph *g, List *current, List **missing)
{
	List	   *known = NIL;
	ListCell   *lc;

	*missing = NIL;
	foreach(lc, current)
	{
		if (dbm_graph_find(g, (const char *) lfirst(lc)) >= 0)
			known = lappend(known, lfirst(lc));
		else
			*missing = lappend(*missing, lfirst(lc));
	}
	return known;
}

/*
 * dbm_graph_maximal
 *		Ids of the members of set that have no child in set, in registration
 *		order.  Applied to the applied set this is what dbmigrate.version
 *		holds: never a revision together with its ancestor.
 */
List *
dbm_graph_maximal(DbmGraph *g, const bool *set)
{
	List	   *result = NIL;
	int			i;

	for (i = 0; i < g->n; i++)
	{
		DbmNode    *node = &g->nodes[i];
		bool		maximal = set[i];
		int			k;

		CHECK_FOR_INTERRUPTS();
		for (k = 0; maximal && k < node->nchildren; k++)
			if (set[node->children[k]])
				maximal = false;
		if (maximal)
			result = lappend(result, node->id);
	}
	return result;
}

/*
 * dbm_graph_heads
 *		Ids of the revisions without children, in registration order.
 */
List *
dbm_graph_heads(DbmGraph *g)
{
	List	   *result = NIL;
	int			i;

	for (i = 0; i < g->n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (g->nodes[i].nchildren == 0)
			result = lappend(result, g->nodes[i].id);
	}
	return result;
}

/*
 * dbm_undo_compare
 *		binaryheap comparator of dbm_graph_undo_order: the node with the
 *		higher key, then the later registered one, is the greater (the heap
 *		hands out its greatest member first).
 */
static int
dbm_undo_compare(Datum a, Datum b, void *arg)
{
	const int64 *keys = (const int64 *) arg;
	int			ia = DatumGetInt32(a);
	int			ib = DatumGetInt32(b);

	if (keys[ia] != keys[ib])
		return keys[ia] > keys[ib] ? 1 : -1;
	return ia > ib ? 1 : (ia < ib ? -1 : 0);
}

/*
 * dbm_graph_undo_order
 *		The members of set (node indexes) in the order to undo them: each one
 *		after its children in set (a topological order, children first), and
 *		among those free to go next, the one with the highest key first, then
 *		the one registered last.  For a downgrade, keys[i] is the id of the
 *		log row that last applied node i (0 when the log has none), so
 *		independent branches are undone in reverse order of application even
 *		when some rows are missing.  O((n + edges) log n).
 */
List *
dbm_graph_undo_order(DbmGraph *g, const bool *set, const int64 *keys)
{
	int		   *pending = palloc0(sizeof(int) * Max(g->n, 1));
	binaryheap *ready;
	List	   *order = NIL;
	int			nset = 0;
	int			i;

	/* how many children in set each member waits for */
	for (i = 0; i < g->n; i++)
	{
		int			k;

		CHECK_FOR_INTERRUPTS();
		if (!set[i])
			continue;
		nset++;
		for (k = 0; k < g->nodes[i].nchildren; k++)
			if (set[g->nodes[i].children[k]])
				pending[i]++;
	}

	ready = binaryheap_allocate(Max(nset, 1), dbm_undo_compare, unconstify(int64 *, keys));
	for (i = 0; i < g->n; i++)
		if (set[i] && pending[i] == 0)
			binaryheap_add_unordered(ready, Int32GetDatum(i));
	binaryheap_build(ready);

	while (!binaryheap_empty(ready))
	{
		DbmNode    *node;
		int			k;

		CHECK_FOR_INTERRUPTS();
		i = DatumGetInt32(binaryheap_remove_first(ready));
		order = lappend_int(order, i);
		node = &g->nodes[i];
		for (k = 0; k < node->nparents; k++)
		{
			int			p = node->parents[k];

			if (set[p] && --pending[p] == 0)
				binaryheap_add(ready, Int32GetDatum(p));
		}
	}
	Assert(list_length(order) == nset);
	binaryheap_free(ready);
	pfree(pending);
	return order;
}

/*
 * dbm_graph_ids
 *		Ids of a list of node indexes.
 */
List *
dbm_graph_ids(DbmGraph *g, List *indexes)
{
	List	   *result = NIL;
	ListCell   *lc;

	foreach(lc, indexes)
		result = lappend(result, g->nodes[lfirst_int(lc)].id);
	return result;
}

/*
 * dbm_graph_parents_text
 *		"a, b" for a revision's parents, "base" for a root.
 */
char *
dbm_graph_parents_text(DbmGraph *g, int idx)
{
	DbmNode    *node = &g->nodes[idx];
	StringInfoData buf;
	int			k;

	if (node->nparents == 0)
		return pstrdup("base");
	initStringInfo(&buf);
	for (k = 0; k < node->nparents; k++)
		appendStringInfo(&buf, "%s%s", k ? ", " : "", g->nodes[node->parents[k]].id);
	return buf.data;
}

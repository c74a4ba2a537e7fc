/*-------------------------------------------------------------------------
 *
 * graph.c
 *	  The revision graph in memory: loading it from dbmigrate.revision,
 *	  ancestor/descendant closures, heads, and resolving a revision id or a
 *	  unique prefix.  Every operation is linear in revisions plus edges.
 *
 * Copyright (c) 2026, dbmigrate developers
 *
 * IDENTIFICATION
 *	  src/graph.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "dbmigrate.h"
#include "catalog.h"

/* forward declarations */
typedef struct DbmIdEntry
{
	char	   *key;			/* points at DbmNode.id */
	int			index;
} DbmIdEntry;

static void dbm_graph_mark(DbmGraph *g, int start, bool *mark, bool towards_parents);
static void dbm_graph_inconsistent(const char *child, const char *parent, const char *why);

/* global variables */
static SPIPlanPtr dbm_plan_load_graph = NULL;

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
 *		extension owner; memory lives in the current (SPI) context.
 */
DbmGraph *
dbm_graph_load(DbmRead mode)
{
	DbmGraph   *g = palloc0(sizeof(DbmGraph));
	SPITupleTable *tt;
	int			rc;
	int			i;
	int		   *nchild;

	rc = dbm_spi_execute_plan(dbm_plan(&dbm_plan_load_graph,
								   "SELECT revision, down_revisions FROM dbmigrate.revision "
								   "ORDER BY seq", 0, NULL),
						  NULL, NULL, DBM_SPI_READ_ONLY(mode), 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read dbmigrate.revision: %s", SPI_result_code_string(rc));

	tt = SPI_tuptable;
	g->n = (int) SPI_processed;
	g->nodes = palloc0(sizeof(DbmNode) * Max(g->n, 1));

	g->byid = dbm_string_hash("dbmigrate revision ids", g->n, sizeof(DbmIdEntry));

	nchild = palloc0(sizeof(int) * Max(g->n, 1));
	for (i = 0; i < g->n; i++)
	{
		HeapTuple	tup = tt->vals[i];
		DbmNode    *node = &g->nodes[i];
		DbmIdEntry *entry;
		bool		found;
		bool		isnull;
		Datum		d;

		CHECK_FOR_INTERRUPTS();
		node->id = dbm_spi_text(tup, tt->tupdesc, 1);
		entry = hash_search(g->byid, &node->id, HASH_ENTER, &found);
		entry->index = i;

		d = SPI_getbinval(tup, tt->tupdesc, 2, &isnull);
		if (!isnull)
		{
			ArrayType  *arr = DatumGetArrayTypeP(d);
			List	   *parents;
			ListCell   *lc;
			int			k = 0;

			if (ARR_NDIM(arr) > 1 || array_contains_nulls(arr))
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("revision graph is inconsistent: down_revisions of revision \"%s\" "
								"is not a list of revision ids", node->id),
						 errdetail("dbmigrate.revision was changed outside dbmigrate's functions."),
						 errhint("Restore dbmigrate.revision from a backup (pg_dump keeps it).")));
			parents = dbm_array_to_ids(arr);

			node->nparents = list_length(parents);
			node->parents = palloc(sizeof(int) * Max(node->nparents, 1));
			foreach(lc, parents)
			{
				char	   *pid = (char *) lfirst(lc);
				DbmIdEntry *pe = hash_search(g->byid, &pid, HASH_FIND, NULL);

				if (pe == NULL)
				{
					/* distinguish "missing" from "registered later" */
					bool		later = false;
					int			j;

					for (j = i + 1; j < g->n && !later; j++)
						later = strcmp(dbm_spi_text(tt->vals[j], tt->tupdesc, 1), pid) == 0;
					dbm_graph_inconsistent(node->id, pid,
										   later ? "is registered after it" : "is not registered");
				}
				node->parents[k++] = pe->index;
				nchild[pe->index]++;
			}
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
	SPI_freetuptable(tt);
	return g;
}

/*
 * dbm_graph_find
 *		Index of the revision with exactly this id, or -1.
 */
int
dbm_graph_find(DbmGraph *g, const char *id)
{
	DbmIdEntry *e = hash_search(g->byid, &id, HASH_FIND, NULL);

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
 * dbm_graph_resolve
 *		Index of the revision named by an exact id or, failing that, by a
 *		unique prefix of at least DBMIGRATE_PREFIX_MINLEN characters.
 *		42704 when nothing matches, 21000 (listing the candidates) when a
 *		prefix matches several revisions.
 */
int
dbm_graph_resolve(DbmGraph *g, const char *target)
{
	int			idx = dbm_graph_find(g, target);
	size_t		len = strlen(target);
	List	   *matches = NIL;
	int			i;

	if (idx >= 0)
		return idx;

	if (pg_mbstrlen(target) >= DBMIGRATE_PREFIX_MINLEN)
	{
		for (i = 0; i < g->n; i++)
		{
			CHECK_FOR_INTERRUPTS();
			if (strncmp(g->nodes[i].id, target, len) == 0)
				matches = lappend_int(matches, i);
		}
	}

	if (list_length(matches) == 1)
		return linitial_int(matches);

	if (matches != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_CARDINALITY_VIOLATION),
				 errmsg("revision prefix \"%s\" is ambiguous", target),
				 errdetail("It matches %d revisions: %s.", list_length(matches),
						   dbm_join_ids(dbm_graph_ids(g, matches), ", ")),
				 errhint("Give more characters of the revision id.")));

	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("revision \"%s\" is not registered", target),
			 pg_mbstrlen(target) < DBMIGRATE_PREFIX_MINLEN ?
			 errdetail("A prefix must be at least %d characters long to be used as a target.",
					   DBMIGRATE_PREFIX_MINLEN) : 0,
			 len > 0 && strspn(target, "0123456789") == len ?
			 errhint("A number is read as a revision id; a relative move is written \"+%s\" or \"-%s\".",
					 target, target) :
			 errhint("See the registered revisions with SELECT * FROM dbmigrate.migrate_history();")));
	return -1;					/* keep compiler quiet */
}

/*
 * dbm_parse_count
 *		The N of a relative target ("+N", "-N", "rev+N"): a positive integer.
 */
int
dbm_parse_count(const char *s, const char *target)
{
	long		n = 0;
	const char *p;

	for (p = s; *p; p++)
	{
		if (*p < '0' || *p > '9' || n > 1000000000L)
			break;
		n = n * 10 + (*p - '0');
	}
	if (*s == '\0' || *p != '\0' || n < 1 || n > INT_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid relative target \"%s\"", target),
				 errdetail("A relative target is \"+N\", \"-N\" or \"<revision>+N\" with N a positive integer."),
				 errhint("Examples: migrate_upgrade('+1'), migrate_downgrade('-2'), "
						 "migrate_upgrade('ae1027a6acf+2').")));
	return (int) n;
}

/*
 * dbm_check_single_head
 *		Refuse target "head" (21000) when the graph has several heads, naming
 *		them and hinting at a merge.
 */
void
dbm_check_single_head(List *heads)
{
	if (list_length(heads) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_CARDINALITY_VIOLATION),
				 errmsg("target \"head\" is ambiguous: the revision graph has %d heads",
						list_length(heads)),
				 errdetail("Heads: %s.", dbm_join_ids(heads, ", ")),
				 errhint("Join them with SELECT dbmigrate.migrate_merge('{heads}'); "
						 "or name one branch's revision, or use 'heads' for all of them.")));
}

/*
 * dbm_graph_single_head
 *		The one head of the graph (see dbm_check_single_head); -1 when nothing
 *		is registered.
 */
int
dbm_graph_single_head(DbmGraph *g)
{
	List	   *heads = dbm_graph_heads(g);

	dbm_check_single_head(heads);
	return heads == NIL ? -1 : dbm_graph_find(g, (const char *) linitial(heads));
}

/*
 * dbm_graph_position
 *		A single revision named by "head", an id, a unique prefix, or
 *		"<revision>+N" (N moves along the unique child).
 */
int
dbm_graph_position(DbmGraph *g, const char *target)
{
	const char *plus = strrchr(target, '+');
	int			idx;
	int			n;
	int			s;

	if (strcmp(target, "head") == 0)
	{
		idx = dbm_graph_single_head(g);
		if (idx < 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("no revision is registered"),
					 errhint("Register one with migrate_register() or migrate_revision().")));
		return idx;
	}
	if (plus == NULL || plus == target)
		return dbm_graph_resolve(g, target);

	n = dbm_parse_count(plus + 1, target);
	{
		char	   *base = pnstrdup(target, plus - target);

		idx = dbm_graph_resolve(g, base);
	}
	for (s = 0; s < n; s++)
	{
		DbmNode    *node = &g->nodes[idx];

		if (node->nchildren == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("relative target \"%s\" goes past a head", target),
					 errdetail_plural("Revision \"%s\" is a head, %d step from the start.",
									  "Revision \"%s\" is a head, %d steps from the start.",
									  s, node->id, s)));
		if (node->nchildren > 1)
		{
			List	   *kids = NIL;
			int			k;

			for (k = 0; k < node->nchildren; k++)
				kids = lappend_int(kids, node->children[k]);
			ereport(ERROR,
					(errcode(ERRCODE_CARDINALITY_VIOLATION),
					 errmsg("relative target \"%s\" is ambiguous: the graph branches at \"%s\"",
							target, node->id),
					 errdetail("Candidates: %s.", dbm_join_ids(dbm_graph_ids(g, kids), ", ")),
					 errhint("Name the revision to move to.")));
		}
		idx = node->children[0];
	}
	return idx;
}

/*-------------------------------------------------------------------------
 *
 * catalog.h
 *	  Access to dbmigrate's tables (revision, version, log) over SPI, and the
 *	  in-memory revision graph built from them.
 *
 * Copyright (c) 2026, dbmigrate developers
 *
 * IDENTIFICATION
 *	  src/catalog.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DBMIGRATE_CATALOG_H
#define DBMIGRATE_CATALOG_H

#include "datatype/timestamp.h"
#include "executor/spi.h"
#include "nodes/pg_list.h"
#include "utils/array.h"
#include "utils/hsearch.h"

/*
 * DbmRead: which snapshot a read of dbmigrate's tables uses.
 *
 * DBM_READ_LATEST: calls that change state, after taking the run lock.  SPI
 * runs the query with read_only = false, so it takes a new snapshot (READ
 * COMMITTED) and sees what the previous lock holder committed; reusing the
 * snapshot taken before the wait would plan from a stale state.
 *
 * DBM_READ_SNAPSHOT: read-only calls.  SPI runs the query with read_only =
 * true, which uses the caller's active snapshot: every query of the call
 * sees one and the same state, at any isolation level, and a concurrent
 * registration or upgrade can never be half-seen.
 */
typedef enum DbmRead
{
	DBM_READ_LATEST,
	DBM_READ_SNAPSHOT
} DbmRead;

#define DBM_SPI_READ_ONLY(mode) ((mode) == DBM_READ_SNAPSHOT)

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

/*
 * DbmBody: the stored text of one revision, as needed to run it.
 */
typedef struct DbmBody
{
	char	   *id;
	char	   *message;
	char	   *upgrade_sql;
	char	   *downgrade_sql;	/* NULL = irreversible */
	char	   *checksum;
} DbmBody;

/*
 * DbmLogBatch: log rows collected during one call and written at its end,
 * in one INSERT, in execution order.
 */
typedef struct DbmLogBatch
{
	ArrayBuildState *revision;
	ArrayBuildState *operation;
	ArrayBuildState *started_at;
	ArrayBuildState *duration;
	ArrayBuildState *checksum;
	int			count;
} DbmLogBatch;

/*
 * A dbmigrate.log row that leaves its revision applied: an upgrade, or a stamp
 * with a checksum (a stamp without one un-applied the revision).  The latest
 * such row of an applied revision records the text that was applied.
 */
#define DBM_LOG_ROW_APPLIES \
	"(operation OPERATOR(pg_catalog.<>) 'downgrade' AND checksum IS NOT NULL)"

/* graph.c */
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
extern int	dbm_graph_resolve(DbmGraph *g, const char *target);
extern List *dbm_graph_ids(DbmGraph *g, List *indexes);
extern int	dbm_parse_count(const char *s, const char *target);
extern void dbm_check_single_head(List *heads);
extern int	dbm_graph_single_head(DbmGraph *g);
extern int	dbm_graph_position(DbmGraph *g, const char *target);

/* catalog.c */
extern void dbm_exec_write(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes,
						   Datum *values, const char *nulls, int expected, const char *table);
extern SPIPlanPtr dbm_plan(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes);
extern HTAB *dbm_string_hash(const char *name, long nelem, Size entrysize);
extern int	dbm_plan_settings_begin(void);
extern void dbm_plan_settings_end(int nestlevel);
extern int	dbm_spi_execute_plan(SPIPlanPtr plan, Datum *values, const char *nulls,
								 bool read_only, long tcount);
extern List *dbm_query_ids(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes,
						   Datum *values, DbmRead mode);
extern List *dbm_read_current(DbmRead mode);
extern List *dbm_read_heads(DbmRead mode);
extern void dbm_write_current(List *ids);
extern bool dbm_list_equal_ids(List *a, List *b);
extern bool dbm_list_has_id(List *ids, const char *id);
extern Datum dbm_ids_to_array(List *ids);
extern List *dbm_array_to_ids(ArrayType *arr);
extern DbmBody *dbm_read_bodies(List *ids, HTAB **byid);
extern DbmBody *dbm_body_lookup(HTAB *byid, const char *id);
extern HTAB *dbm_read_checksums(List *ids);
extern HTAB *dbm_last_run_checksums(List *ids);
extern char *dbm_last_run_checksum(const char *id);
extern void dbm_log_init(DbmLogBatch *batch);
extern void dbm_log_add(DbmLogBatch *batch, const char *revision, const char *operation,
						TimestampTz started_at, TimestampTz finished_at,
						const char *checksum);
extern void dbm_log_write(DbmLogBatch *batch);
extern char *dbm_spi_text(HeapTuple tup, TupleDesc desc, int col);

#endif							/* DBMIGRATE_CATALOG_H */

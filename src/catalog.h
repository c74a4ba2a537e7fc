/*-------------------------------------------------------------------------
 *
 * catalog.h
 *	  Every query on dbmigrate's own tables (revision, version, log,
 *	  builtin_override), over SPI, and the checked SPI helpers the rest of
 *	  the code uses.  No other file holds SQL on dbmigrate's tables.
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

/*
 * DbmDefinition: a revision's definition as registration writes it.
 */
typedef struct DbmDefinition
{
	const char *id;
	List	   *parents;		/* ids; NIL = a root */
	const char *message;
	const char *upgrade_sql;
	const char *downgrade_sql;	/* NULL = irreversible */
	const char *checksum;		/* of the text and the flag
								 * (dbm_checksum_revision) */
	bool		transactional;	/* false: run statement by statement at top
								 * level */
} DbmDefinition;

/*
 * DbmStored: a registered revision as registration compares it.
 */
typedef struct DbmStored
{
	List	   *parents;
	char	   *checksum;		/* as recorded at registration */
	char	   *text_checksum;	/* of the text stored now */
	char	   *message;
	bool		builtin;		/* registered by the install script */
	bool		transactional;
	List	   *children;		/* ids, in registration order */
} DbmStored;

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
	bool		transactional;
} DbmBody;

/*
 * DbmLastRun: the latest dbmigrate.log row of a revision, when that row left
 * it applied (an upgrade, or a stamp with a checksum).  A later downgrade or
 * un-stamp means no run describes the revision any more.
 */
typedef struct DbmLastRun
{
	char	   *key;			/* revision id */
	TimestampTz started_at;
	char	   *run_by;
	char	   *checksum;
} DbmLastRun;

/*
 * DbmRevisionRow: one row of dbmigrate.revision for the read-only calls, as
 * Datums ready for their result rows.  Valid only during the callback (or,
 * from dbm_read_revision_row, until SPI_finish).
 */
typedef enum DbmRevisionColumn
{
	DBM_REV_MESSAGE,			/* text */
	DBM_REV_REGISTERED_AT,		/* timestamptz */
	DBM_REV_REGISTERED_BY,		/* name */
	DBM_REV_UPGRADE_SQL,		/* text; NULL unless the text was asked for */
	DBM_REV_DOWNGRADE_SQL,		/* text */
	DBM_REV_CHECKSUM,			/* text */
	DBM_REV_TRANSACTIONAL,		/* boolean */
	/* the kept state (1.1), only from dbm_scan_revisions_kept; else NULL */
	DBM_REV_TEXT_CHECKSUM,		/* text */
	DBM_REV_RUN_CHECKSUM,		/* text */
	DBM_REV_IS_APPLIED,			/* boolean */
	DBM_REV_NCOLUMNS
} DbmRevisionColumn;

typedef struct DbmRevisionRow
{
	char	   *id;
	bool		has_kept;		/* the kept-state columns were read */
	Datum		values[DBM_REV_NCOLUMNS];
	bool		nulls[DBM_REV_NCOLUMNS];
} DbmRevisionRow;

/*
 * DbmHealthSummary: what health() reads from the state that triggers keep
 * on dbmigrate.revision (dbmigrate--1.0--1.1.sql) instead of loading the
 * graph: how many revisions are pending, the current revisions that are not
 * registered, and whether the kept flags may be wrong (a revision whose
 * parents are not all registered before it, or a current revision not
 * marked applied), in which case health() reads the graph instead.
 */
typedef struct DbmHealthSummary
{
	int64		pending;
	bool		suspect;
	List	   *missing;		/* ids, sorted like dbm_read_current */
} DbmHealthSummary;

/*
 * DbmDrift: a revision whose stored text no longer matches its recorded
 * checksum or the checksum of its last run, as the kept state says.
 */
typedef struct DbmDrift
{
	char	   *id;
	char	   *checksum;		/* recorded at registration */
	char	   *text_checksum;	/* of the text as stored now */
	char	   *run_checksum;	/* of its last run, if not checksum; or NULL */
	bool		is_applied;
} DbmDrift;

typedef void (*DbmRevisionFn) (DbmRevisionRow *row, void *arg);

/* Called with a revision id and the id of the log row that last applied it */
typedef void (*DbmAppliedFn) (const char *id, int64 log_id, void *arg);

/* dbmigrate.log's columns, in order, as migrate_log returns them */
#define DBM_LOG_NCOLUMNS 8
typedef void (*DbmLogRowFn) (Datum *values, bool *nulls, void *arg);

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

/* the schema */
extern bool dbm_schema_1_0(void);

/* SPI */
extern char *dbm_spi_text(HeapTuple tup, TupleDesc desc, int col);
extern uint64 dbm_spi_run(const char *sql, int nargs, Oid *argtypes, Datum *values,
						  bool read_only, long tcount, int expected, const char *what);

/* the graph and the version */
extern int	dbm_read_edges(DbmRead mode, char ***ids, List ***parents);
extern List *dbm_read_current(DbmRead mode);
extern List *dbm_read_heads(DbmRead mode);
extern void dbm_write_current(List *ids);

/* revisions, for registration */
extern DbmStored *dbm_read_stored(const char *id);
extern List *dbm_read_unregistered(List *ids);
extern List *dbm_read_children(const char *id);
extern void dbm_insert_revision(const DbmDefinition *def, bool builtin);
extern void dbm_update_definition(const DbmDefinition *def, bool parents_changed);
extern void dbm_restore_text(const DbmDefinition *def);
extern void dbm_update_message(const char *id, const char *message);
extern void dbm_delete_revision(const char *id);
extern void dbm_clear_heads(List *ids);
extern void dbm_recompute_heads(List *ids);
extern void dbm_note_builtin_override(const char *id);

/* revisions, for running them */
extern DbmBody *dbm_read_bodies(List *ids, HTAB **byid);
extern DbmBody *dbm_body_lookup(HTAB *byid, const char *id);
extern HTAB *dbm_read_checksums(List *ids);
extern List *dbm_read_irreversible(List *ids);
extern List *dbm_read_nontransactional(List *ids);

/* revisions, for the read-only calls */
extern void dbm_scan_revisions(bool newest_first, bool with_text, DbmRevisionFn fn, void *arg);
extern void dbm_scan_revisions_kept(DbmRevisionFn fn, void *arg);
extern bool dbm_read_revision_row(const char *id, DbmRevisionRow *row);

/* the log */
extern HTAB *dbm_read_last_runs(List *ids, DbmRead mode);
extern HTAB *dbm_read_all_last_runs(DbmRead mode);
extern DbmLastRun *dbm_last_run(HTAB *runs, const char *id);
extern void dbm_scan_last_applied(List *ids, DbmRead mode, DbmAppliedFn fn, void *arg);
extern void dbm_scan_log(DbmLogRowFn fn, void *arg);
extern void dbm_log_init(DbmLogBatch *batch);
extern void dbm_log_add(DbmLogBatch *batch, const char *revision, const char *operation,
						TimestampTz started_at, TimestampTz finished_at,
						const char *checksum);
extern void dbm_log_write(DbmLogBatch *batch);

/* health(): the kept state (1.1) */
extern bool dbm_kept_state_exists(void);
extern void dbm_read_health_summary(DbmHealthSummary *summary);
extern List *dbm_read_drifted(void);
extern Datum dbm_health_document(const char *status, List *current, List *heads, int pending,
								 List *problems);

#endif							/* DBMIGRATE_CATALOG_H */

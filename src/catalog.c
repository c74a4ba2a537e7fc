/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  Every query dbmigrate runs for its own bookkeeping: on its tables
 *	  (dbmigrate.revision, .version, .log and .builtin_override) and the
 *	  health document.  Migration SQL runs in runner.c, seed data in seed.c.  Plans are prepared once per backend and
 *	  kept; every value is passed as a parameter; every result is checked
 *	  in one place (dbm_exec_read, dbm_exec_write, dbm_scan).  Callers hold
 *	  SPI and the extension-owner context (dbm_call_begin).
 *
 * Copyright (c) 2026, dbmigrate developers
 *
 * IDENTIFICATION
 *	  src/catalog.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "catalog/namespace.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "dbmigrate.h"
#include "catalog.h"
#include "idlist.h"
#include "sqlcheck.h"

/* A query prepared on first use and kept for the life of the backend */
typedef struct DbmQuery
{
	SPIPlanPtr	plan;
	const char *sql;
	int			nargs;
	Oid			argtypes[8];
	const char *table;			/* named in errors */
	const char *sql_1_0;		/* the query on a 1.0 schema, if it differs */
	SPIPlanPtr	plan_1_0;
	bool		no_bitmap;		/* read a partial index by a plain index scan */
} DbmQuery;

/* Called with each row dbm_scan streams */
typedef void (*DbmTupleFn) (HeapTuple tup, TupleDesc desc, void *arg);

/* A body or a checksum in a hash keyed by revision id */
typedef struct DbmBodyEntry
{
	char	   *key;
	DbmBody    *body;
} DbmBodyEntry;

/* Rows per fetch when streaming */
#define DBM_SCAN_BATCH 100

/*
 * A dbmigrate.log row that leaves its revision applied: an upgrade, or a stamp
 * with a checksum (a stamp without one un-applied the revision).  The latest
 * such row of an applied revision records the text that was applied.
 */
#define DBM_LOG_ROW_APPLIES \
	"(operation OPERATOR(pg_catalog.<>) 'downgrade' AND checksum IS NOT NULL)"

/*
 * The log rows that change whether a revision is applied: all but the
 * 'lock_retry' rows (1.1), which record an attempt that was rolled back and
 * tried again; the last run of a revision, and the order in which revisions
 * were applied, are read from these only.
 */
#define DBM_LOG_ROW_RUNS \
	"operation OPERATOR(pg_catalog.<>) 'lock_retry'"

#define DBM_LAST_RUN_COLUMNS \
	"DISTINCT ON (revision) revision, started_at, run_by::pg_catalog.text, checksum, " \
	DBM_LOG_ROW_APPLIES

#define DBM_REVISION_ROW_COLUMNS(with_text, transactional) \
	"revision, message, registered_at, registered_by, " \
	"CASE WHEN " with_text " THEN upgrade_sql END, " \
	"CASE WHEN " with_text " THEN downgrade_sql END, " \
	"CASE WHEN " with_text " THEN checksum END, " transactional

#define TEXT1 {TEXTOID}
#define TEXTARRAY1 {TEXTARRAYOID}

/* forward declarations */
static SPIPlanPtr dbm_plan(DbmQuery *q);
static SPIPlanPtr *dbm_plan_slot(DbmQuery *q, const char **sql);
static int	dbm_plan_settings_begin(DbmQuery *q);
static uint64 dbm_exec_read(DbmQuery *q, Datum *values, const char *nulls, DbmRead mode,
							long tcount);
static void dbm_exec_write(DbmQuery *q, Datum *values, const char *nulls, int expected);
static void dbm_scan(DbmQuery *q, Datum *values, DbmRead mode, DbmTupleFn fn, void *arg);
static List *dbm_query_ids(DbmQuery *q, Datum *values, DbmRead mode);
static List *dbm_query_ids_of(DbmQuery *q, List *ids, DbmRead mode);
static void dbm_write_id(DbmQuery *q, const char *id, int expected);
static void dbm_write_ids(DbmQuery *q, List *ids, int expected);
static Datum dbm_text_or_null(const char *s, char *null);
static void dbm_definition_values(const DbmDefinition *def, Datum *values, char *nulls);
static void dbm_write_definition(DbmQuery *q, const DbmDefinition *def, bool flag, int expected);
static HTAB *dbm_last_runs(DbmQuery *q, Datum *values, DbmRead mode);
static void dbm_revision_row(HeapTuple tup, TupleDesc desc, DbmRevisionRow *row);

/* global variables: every query, and its plan once prepared */
static DbmQuery dbm_q_edges = {NULL,
	"SELECT revision, down_revisions FROM dbmigrate.revision ORDER BY seq",
0, {0}, "dbmigrate.revision"};
static DbmQuery dbm_q_current = {NULL,
	"SELECT revision FROM dbmigrate.version ORDER BY revision COLLATE \"C\"",
0, {0}, "dbmigrate.version"};
static DbmQuery dbm_q_heads = {NULL,
	"SELECT revision FROM dbmigrate.revision WHERE is_head ORDER BY seq",
0, {0}, "dbmigrate.revision", NULL, NULL, true};
static DbmQuery dbm_q_add_current = {NULL,
	"INSERT INTO dbmigrate.version (revision) SELECT u.r FROM pg_catalog.unnest($1) AS u(r) "
	"WHERE NOT EXISTS (SELECT 1 FROM dbmigrate.version v "
	"                  WHERE v.revision OPERATOR(pg_catalog.=) u.r)",
1, TEXTARRAY1, "dbmigrate.version"};
static DbmQuery dbm_q_remove_current = {NULL,
	"DELETE FROM dbmigrate.version WHERE revision OPERATOR(pg_catalog.<>) ALL ($1)",
1, TEXTARRAY1, "dbmigrate.version"};
#define DBM_STORED(transactional) \
	"SELECT r.down_revisions, r.checksum, r.message, r.builtin, " \
	"ARRAY(SELECT c.revision FROM " \
	"      (SELECT revision, seq FROM dbmigrate.revision " \
	"       WHERE down_revisions OPERATOR(pg_catalog.@>) ARRAY[$1] OFFSET 0) c " \
	"      ORDER BY c.seq), r.upgrade_sql, r.downgrade_sql, " transactional " " \
	"FROM dbmigrate.revision r WHERE r.revision OPERATOR(pg_catalog.=) $1"
static DbmQuery dbm_q_stored = {NULL, DBM_STORED("r.transactional"),
1, TEXT1, "dbmigrate.revision", DBM_STORED("true")};
static DbmQuery dbm_q_unregistered = {NULL,
	"SELECT p FROM pg_catalog.unnest($1) WITH ORDINALITY AS u(p, n) "
	"WHERE (SELECT r.revision FROM dbmigrate.revision r "
	"       WHERE r.revision OPERATOR(pg_catalog.=) u.p) IS NULL "
	"ORDER BY u.n",
1, TEXTARRAY1, "dbmigrate.revision"};

/* OFFSET 0: the children are found through the GIN index, then sorted */
static DbmQuery dbm_q_children = {NULL,
	"SELECT c.revision FROM "
	"(SELECT revision, seq FROM dbmigrate.revision "
	" WHERE down_revisions OPERATOR(pg_catalog.@>) ARRAY[$1] OFFSET 0) c "
	"ORDER BY c.seq",
1, TEXT1, "dbmigrate.revision"};

/* the statement trigger revision_mark_parents clears the parents' is_head */
static DbmQuery dbm_q_insert_revision = {NULL,
	"INSERT INTO dbmigrate.revision "
	"(revision, down_revisions, message, upgrade_sql, downgrade_sql, checksum, builtin, "
	" transactional) "
	"VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
	8, {TEXTOID, TEXTARRAYOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, BOOLOID, BOOLOID},
	"dbmigrate.revision",
	"INSERT INTO dbmigrate.revision "
	"(revision, down_revisions, message, upgrade_sql, downgrade_sql, checksum, builtin) "
"VALUES ($1, $2, $3, $4, $5, $6, $7)"};
static DbmQuery dbm_q_update_definition = {NULL,
	"UPDATE dbmigrate.revision SET down_revisions = $2, message = $3, "
	"upgrade_sql = $4, downgrade_sql = $5, checksum = $6, builtin = false, "
	"registered_at = pg_catalog.now(), registered_by = pg_catalog.\"session_user\"(), "
	"seq = CASE WHEN $7 THEN pg_catalog.nextval('dbmigrate.revision_seq_seq') ELSE seq END, "
	"transactional = $8 "
	"WHERE revision OPERATOR(pg_catalog.=) $1",
	8, {TEXTOID, TEXTARRAYOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, BOOLOID, BOOLOID},
	"dbmigrate.revision",
	"UPDATE dbmigrate.revision SET down_revisions = $2, message = $3, "
	"upgrade_sql = $4, downgrade_sql = $5, checksum = $6, builtin = false, "
	"registered_at = pg_catalog.now(), registered_by = pg_catalog.\"session_user\"(), "
	"seq = CASE WHEN $7 THEN pg_catalog.nextval('dbmigrate.revision_seq_seq') ELSE seq END "
"WHERE revision OPERATOR(pg_catalog.=) $1"};
static DbmQuery dbm_q_restore_text = {NULL,
	"UPDATE dbmigrate.revision SET upgrade_sql = $2, downgrade_sql = $3, checksum = $4, "
	"transactional = $5 WHERE revision OPERATOR(pg_catalog.=) $1",
	5, {TEXTOID, TEXTOID, TEXTOID, TEXTOID, BOOLOID}, "dbmigrate.revision",
	"UPDATE dbmigrate.revision SET upgrade_sql = $2, downgrade_sql = $3, checksum = $4 "
"WHERE revision OPERATOR(pg_catalog.=) $1"};
static DbmQuery dbm_q_update_message = {NULL,
	"UPDATE dbmigrate.revision SET message = $2, builtin = false "
	"WHERE revision OPERATOR(pg_catalog.=) $1",
2, {TEXTOID, TEXTOID}, "dbmigrate.revision"};
static DbmQuery dbm_q_delete_revision = {NULL,
	"DELETE FROM dbmigrate.revision WHERE revision OPERATOR(pg_catalog.=) $1",
1, TEXT1, "dbmigrate.revision"};

/* "IS NOT FALSE", not "AND is_head": that would match revision_head_idx */
static DbmQuery dbm_q_clear_heads = {NULL,
	"UPDATE dbmigrate.revision SET is_head = false "
	"WHERE revision OPERATOR(pg_catalog.=) ANY ($1) AND is_head IS NOT FALSE",
1, TEXTARRAY1, "dbmigrate.revision"};
static DbmQuery dbm_q_recompute_heads = {NULL,
	"UPDATE dbmigrate.revision r SET is_head = "
	"(SELECT pg_catalog.count(*) FROM dbmigrate.revision c "
	" WHERE c.down_revisions OPERATOR(pg_catalog.@>) ARRAY[r.revision]) "
	"OPERATOR(pg_catalog.=) 0 "
	"WHERE r.revision OPERATOR(pg_catalog.=) ANY ($1)",
1, TEXTARRAY1, "dbmigrate.revision"};
static DbmQuery dbm_q_override = {NULL,
	"INSERT INTO dbmigrate.builtin_override (revision) VALUES ($1) ON CONFLICT DO NOTHING",
1, TEXT1, "dbmigrate.builtin_override"};
#define DBM_BODIES(transactional) \
	"SELECT revision, message, upgrade_sql, downgrade_sql, checksum, " transactional " " \
	"FROM dbmigrate.revision WHERE revision OPERATOR(pg_catalog.=) ANY ($1)"
static DbmQuery dbm_q_bodies = {NULL, DBM_BODIES("transactional"),
1, TEXTARRAY1, "dbmigrate.revision", DBM_BODIES("true")};
static DbmQuery dbm_q_checksums = {NULL,
	"SELECT revision, checksum FROM dbmigrate.revision "
	"WHERE revision OPERATOR(pg_catalog.=) ANY ($1)",
1, TEXTARRAY1, "dbmigrate.revision"};
static DbmQuery dbm_q_nontransactional = {NULL,
	"SELECT revision FROM dbmigrate.revision "
	"WHERE revision OPERATOR(pg_catalog.=) ANY ($1) AND NOT transactional",
	1, TEXTARRAY1, "dbmigrate.revision",
	"SELECT revision FROM dbmigrate.revision "
"WHERE revision OPERATOR(pg_catalog.=) ANY ($1) AND false"};
static DbmQuery dbm_q_irreversible = {NULL,
	"SELECT revision FROM dbmigrate.revision "
	"WHERE revision OPERATOR(pg_catalog.=) ANY ($1) AND downgrade_sql IS NULL",
1, TEXTARRAY1, "dbmigrate.revision"};
static DbmQuery dbm_q_history = {NULL,
	"SELECT " DBM_REVISION_ROW_COLUMNS("$1", "transactional") " FROM dbmigrate.revision "
	"ORDER BY seq DESC",
	1, {BOOLOID}, "dbmigrate.revision",
	"SELECT " DBM_REVISION_ROW_COLUMNS("$1", "true") " FROM dbmigrate.revision "
"ORDER BY seq DESC"};
static DbmQuery dbm_q_text = {NULL,
	"SELECT " DBM_REVISION_ROW_COLUMNS("$1", "transactional") " FROM dbmigrate.revision "
	"ORDER BY seq",
	1, {BOOLOID}, "dbmigrate.revision",
	"SELECT " DBM_REVISION_ROW_COLUMNS("$1", "true") " FROM dbmigrate.revision "
"ORDER BY seq"};
static DbmQuery dbm_q_revision_row = {NULL,
	"SELECT " DBM_REVISION_ROW_COLUMNS("true", "transactional") " FROM dbmigrate.revision "
	"WHERE revision OPERATOR(pg_catalog.=) $1",
	1, TEXT1, "dbmigrate.revision",
	"SELECT " DBM_REVISION_ROW_COLUMNS("true", "true") " FROM dbmigrate.revision "
"WHERE revision OPERATOR(pg_catalog.=) $1"};
static DbmQuery dbm_q_text_kept = {NULL,
	"SELECT " DBM_REVISION_ROW_COLUMNS("true", "transactional")
	", text_checksum, run_checksum, is_applied FROM dbmigrate.revision ORDER BY seq",
0, {0}, "dbmigrate.revision"};
static DbmQuery dbm_q_last_runs = {NULL,
	"SELECT " DBM_LAST_RUN_COLUMNS " FROM dbmigrate.log "
	"WHERE revision OPERATOR(pg_catalog.=) ANY ($1) AND " DBM_LOG_ROW_RUNS " "
	"ORDER BY revision, id DESC",
1, TEXTARRAY1, "dbmigrate.log"};
static DbmQuery dbm_q_all_last_runs = {NULL,
	"SELECT " DBM_LAST_RUN_COLUMNS " FROM dbmigrate.log WHERE " DBM_LOG_ROW_RUNS " "
	"ORDER BY revision, id DESC",
0, {0}, "dbmigrate.log"};
static DbmQuery dbm_q_last_applied = {NULL,
	"SELECT l.revision, l.id FROM (SELECT DISTINCT ON (revision) revision, id, "
	DBM_LOG_ROW_APPLIES " AS applies FROM dbmigrate.log "
	"WHERE revision OPERATOR(pg_catalog.=) ANY ($1) AND " DBM_LOG_ROW_RUNS " "
	"ORDER BY revision, id DESC) l "
	"WHERE l.applies",
1, TEXTARRAY1, "dbmigrate.log"};
static DbmQuery dbm_q_log = {NULL,
	"SELECT id, revision, operation, started_at, duration, run_by, pid, checksum "
	"FROM dbmigrate.log ORDER BY id",
0, {0}, "dbmigrate.log"};

/*
 * health()'s reads of the kept state: each goes through a partial index of
 * the rows it is about (revision_pending_idx, revision_parents_idx,
 * revision_drift_idx), or looks revisions up one by one for the rows of
 * dbmigrate.version (a scalar subquery, which the planner cannot turn into
 * a join that reads all revisions), so it reads what is current, pending,
 * suspect or drifted, not the graph and not the text.
 */
static DbmQuery dbm_q_health_summary = {NULL,
	"SELECT EXISTS (SELECT 1 FROM dbmigrate.revision WHERE NOT is_applied), "
	"EXISTS (SELECT 1 FROM dbmigrate.revision WHERE NOT parents_ok) "
	"OR EXISTS (SELECT 1 FROM dbmigrate.version v "
	"           WHERE (SELECT NOT r.is_applied FROM dbmigrate.revision r "
	"                  WHERE r.revision OPERATOR(pg_catalog.=) v.revision)), "
	"ARRAY(SELECT v.revision FROM dbmigrate.version v "
	"      WHERE (SELECT r.revision FROM dbmigrate.revision r "
	"             WHERE r.revision OPERATOR(pg_catalog.=) v.revision) IS NULL "
	"      ORDER BY v.revision COLLATE \"C\")",
0, {0}, "dbmigrate.revision", NULL, NULL, true};
static DbmQuery dbm_q_pending = {NULL,
	"SELECT pg_catalog.count(*) FROM dbmigrate.revision WHERE NOT is_applied",
0, {0}, "dbmigrate.revision"};
static DbmQuery dbm_q_drifted = {NULL,
	"SELECT revision, checksum, text_checksum, run_checksum, is_applied "
	"FROM dbmigrate.revision "
	"WHERE text_checksum OPERATOR(pg_catalog.<>) checksum "
	"   OR text_checksum OPERATOR(pg_catalog.<>) run_checksum "
	"ORDER BY seq",
0, {0}, "dbmigrate.revision"};
static DbmQuery dbm_q_health = {NULL,
	"SELECT pg_catalog.jsonb_build_object("
	"'status', $1, "
	"'database', pg_catalog.current_database(), "
	"'current', $2, "
	"'heads', $3, "
	"'pending', $4, "
	"'timestamp', pg_catalog.to_char(pg_catalog.clock_timestamp() "
	"    AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
	"'version', (SELECT e.extversion FROM pg_catalog.pg_extension e "
	"            WHERE e.extname OPERATOR(pg_catalog.=) 'dbmigrate'), "
	"'problems', $5)",
5, {TEXTOID, TEXTARRAYOID, TEXTARRAYOID, INT4OID, TEXTARRAYOID}, "pg_extension"};
static DbmQuery dbm_q_write_log = {NULL,
	"INSERT INTO dbmigrate.log "
	"(revision, operation, started_at, duration, run_by, pid, checksum) "
	"SELECT u.r, u.o, u.s, u.d, pg_catalog.\"session_user\"(), "
	"pg_catalog.pg_backend_pid(), u.c "
	"FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3), "
	"pg_catalog.unnest($4), pg_catalog.unnest($5)) "
	"WITH ORDINALITY AS u(r, o, s, d, c, n) ORDER BY u.n",
	5, {TEXTARRAYOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID, INTERVALARRAYOID, TEXTARRAYOID},
"dbmigrate.log"};

/*
 * dbm_plan
 *		The kept plan of q, prepared on first use.
 */
static SPIPlanPtr
dbm_plan(DbmQuery *q)
{
	const char *sql;
	SPIPlanPtr *slot = dbm_plan_slot(q, &sql);

	if (*slot == NULL)
	{
		MemoryContext cxt = CurrentMemoryContext;
		SPIPlanPtr	plan = SPI_prepare(sql, q->nargs, q->argtypes);

		/* SPI returns in its own context; give the caller back its own */
		MemoryContextSwitchTo(cxt);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed for \"%s\": %s",
				 sql, SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		*slot = plan;
	}
	return *slot;
}

/*
 * dbm_plan_slot
 *		Where q's kept plan lives, and its text, for this database's schema:
 *		a library of 1.1 runs on a 1.0 schema until ALTER EXTENSION dbmigrate
 *		UPDATE (and while CREATE EXTENSION runs the 1.0 script).
 */
static SPIPlanPtr *
dbm_plan_slot(DbmQuery *q, const char **sql)
{
	if (q->sql_1_0 != NULL && dbm_schema_1_0())
	{
		*sql = q->sql_1_0;
		return &q->plan_1_0;
	}
	*sql = q->sql;
	return &q->plan;
}

/*
 * dbm_schema_1_0
 *		Whether dbmigrate's tables are still those of 1.0: dbmigrate.revision
 *		has no column transactional.
 */
bool
dbm_schema_1_0(void)
{
	Oid			nsp = get_namespace_oid("dbmigrate", true);
	Oid			rel = OidIsValid(nsp) ? get_relname_relid("revision", nsp) : InvalidOid;

	return !OidIsValid(rel) || get_attnum(rel, "transactional") == InvalidAttrNumber;
}

/*
 * dbm_plan_settings_begin
 *		The planner settings of dbmigrate's bookkeeping queries, in a GUC nest
 *		level of their own that the caller closes with AtEOXact_GUC.  Their
 *		plans are prepared once per backend and replanned as custom plans when
 *		executed, often while the tables are still small (a bulk registration
 *		starts from an empty graph): with enable_seqscan off they stay on the
 *		indexes, which are right at every size, and jit off keeps JIT
 *		compilation (hundreds of milliseconds) away from queries that take
 *		microseconds.  The caller's settings apply again when the query is
 *		done.  A plan made while the statistics say "one row" may still read a
 *		whole index where that looks as cheap as a lookup: for its order, for
 *		a LIMIT, or in a join; the queries above that look rows up avoid those
 *		shapes (scalar subqueries, no ORDER BY an index can give over a
 *		lookup's few rows, no condition that matches a partial index's
 *		predicate by accident).  Queries that read a partial index of the
 *		few rows they want (heads, pending revisions) run with bitmap scans
 *		off too (no_bitmap): a plain index scan marks the entries of rows
 *		that a bulk registration or an upgrade left dead, so that the next
 *		call skips them, where a bitmap scan would read every one of them
 *		again on every call until VACUUM.  plan_cache_mode force_generic_plan:
 *		every lookup here has its parameters in index conditions, so the
 *		generic plan is the custom one, and replanning it on every call cost
 *		a registration about a sixth of its time.
 */
static int
dbm_plan_settings_begin(DbmQuery *q)
{
	int			nestlevel = NewGUCNestLevel();

	dbm_guc_set("enable_seqscan", "off", PGC_USERSET);
	dbm_guc_set("plan_cache_mode", "force_generic_plan", PGC_USERSET);
	if (q->no_bitmap)
		dbm_guc_set("enable_bitmapscan", "off", PGC_USERSET);
	dbm_guc_set("jit", "off", PGC_USERSET);
	return nestlevel;
}

/*
 * dbm_exec
 *		SPI_execute_plan of q under the plan settings above, leaving
 *		CurrentMemoryContext as it found it (SPI returns in its procedure
 *		context; callers that allocate results in a short-lived context of
 *		their own would otherwise leak into it).
 */
static int
dbm_exec(DbmQuery *q, Datum *values, const char *nulls, bool read_only, long tcount)
{
	MemoryContext cxt = CurrentMemoryContext;
	SPIPlanPtr	plan = dbm_plan(q);
	int			nestlevel = dbm_plan_settings_begin(q);
	int			rc = SPI_execute_plan(plan, values, nulls, read_only, tcount);

	AtEOXact_GUC(true, nestlevel);
	MemoryContextSwitchTo(cxt);
	return rc;
}

/*
 * dbm_exec_read
 *		Run the read query q with mode's snapshot (DbmRead) and check it; the
 *		rows are in SPI_tuptable.  Returns how many there are.
 */
static uint64
dbm_exec_read(DbmQuery *q, Datum *values, const char *nulls, DbmRead mode, long tcount)
{
	int			rc = dbm_exec(q, values, nulls, mode == DBM_READ_SNAPSHOT, tcount);

	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read %s: %s", q->table, SPI_result_code_string(rc));
	return SPI_processed;
}

/*
 * dbm_exec_write
 *		Run the write query q and check that SPI reports `expected`.  A rule on
 *		the table (made by a migration, or by hand) rewrites the write into
 *		something else: that is refused with 55000 naming the table, and the
 *		kept plan is dropped, because a plan rewritten into nothing no longer
 *		depends on the table and would stay wrong for the rest of the session
 *		after the rule is gone.
 */
static void
dbm_exec_write(DbmQuery *q, Datum *values, const char *nulls, int expected)
{
	int			rc = dbm_exec(q, values, nulls, false, 0);
	const char *sql;
	SPIPlanPtr *slot;

	if (rc == expected)
		return;
	slot = dbm_plan_slot(q, &sql);
	SPI_freeplan(*slot);
	*slot = NULL;
	if (rc >= 0)				/* SPI_OK_REWRITTEN, or another statement */
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("dbmigrate's write to %s was rewritten by a rule", q->table),
				 errdetail("A rule on %s (created by a migration or by hand) turned dbmigrate's "
						   "bookkeeping into %s; nothing was changed.",
						   q->table, SPI_result_code_string(rc)),
				 errhint("Drop the rule: SELECT rulename FROM pg_rules WHERE schemaname = 'dbmigrate'; "
						 "migrations must not change dbmigrate's tables.")));
	elog(ERROR, "could not write %s: %s", q->table, SPI_result_code_string(rc));
}

/*
 * dbm_scan
 *		Stream the rows of read query q through a cursor, DBM_SCAN_BATCH at a
 *		time, calling fn on each in a memory context that is reset after each
 *		batch: memory stays bounded however much text is stored.  fn copies
 *		what it keeps.
 */
static void
dbm_scan(DbmQuery *q, Datum *values, DbmRead mode, DbmTupleFn fn, void *arg)
{
	MemoryContext outer = CurrentMemoryContext;
	MemoryContext batchcxt;
	SPIPlanPtr	plan = dbm_plan(q);
	Portal		portal;
	int			nestlevel;
	uint64		i;

	batchcxt = AllocSetContextCreate(outer, "dbmigrate scan batch", ALLOCSET_DEFAULT_SIZES);
	nestlevel = dbm_plan_settings_begin(q);
	portal = SPI_cursor_open(NULL, plan, values, NULL, mode == DBM_READ_SNAPSHOT);
	AtEOXact_GUC(true, nestlevel);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, DBM_SCAN_BATCH);
		MemoryContextSwitchTo(batchcxt);
		if (SPI_processed == 0)
			break;
		for (i = 0; i < SPI_processed; i++)
		{
			CHECK_FOR_INTERRUPTS();
			fn(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, arg);
		}
		SPI_freetuptable(SPI_tuptable);
		MemoryContextReset(batchcxt);
	}
	MemoryContextSwitchTo(outer);
	SPI_cursor_close(portal);
	MemoryContextDelete(batchcxt);
}

/*
 * dbm_query_ids
 *		The first column (text) of read query q, as a List of C strings.
 */
static List *
dbm_query_ids(DbmQuery *q, Datum *values, DbmRead mode)
{
	List	   *result = NIL;
	uint64		n = dbm_exec_read(q, values, NULL, mode, 0);
	uint64		i;

	for (i = 0; i < n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		result = lappend(result, dbm_spi_text(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	}
	SPI_freetuptable(SPI_tuptable);
	return result;
}

/*
 * dbm_write_id / dbm_write_ids
 *		Run write query q whose one parameter is an id (text) or a list of ids
 *		(text[]; nothing to do for an empty list).
 */
static void
dbm_write_id(DbmQuery *q, const char *id, int expected)
{
	Datum		values[1];

	values[0] = CStringGetTextDatum(id);
	dbm_exec_write(q, values, NULL, expected);
}

static void
dbm_write_ids(DbmQuery *q, List *ids, int expected)
{
	Datum		values[1];

	if (ids == NIL)
		return;
	values[0] = dbm_ids_to_array(ids);
	dbm_exec_write(q, values, NULL, expected);
}

/*
 * dbm_query_ids_of
 *		dbm_query_ids of a query whose one parameter is a list of ids.
 */
static List *
dbm_query_ids_of(DbmQuery *q, List *ids, DbmRead mode)
{
	Datum		values[1];

	values[0] = dbm_ids_to_array(ids);
	return dbm_query_ids(q, values, mode);
}

/*
 * dbm_spi_text
 *		Column col (of type text) of an SPI tuple as a C string, or NULL.
 */
char *
dbm_spi_text(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d;

	/* a column of any other type read as text would be a wild pointer */
	if (SPI_gettypeid(desc, col) != TEXTOID)
		elog(ERROR, "column %d of a dbmigrate query is of type %u, not text",
			 col, SPI_gettypeid(desc, col));
	d = SPI_getbinval(tup, desc, col, &isnull);
	return isnull ? NULL : TextDatumGetCString(d);
}

/*
 * dbm_spi_run
 *		SPI_execute_with_args of a query that is not kept (its text names
 *		objects found at run time: seed_users' table), checked to report
 *		`expected` ("could not <what>" otherwise).  Returns SPI_processed;
 *		the rows are in SPI_tuptable.
 */
uint64
dbm_spi_run(const char *sql, int nargs, Oid *argtypes, Datum *values, bool read_only,
			long tcount, int expected, const char *what)
{
	int			rc = SPI_execute_with_args(sql, nargs, argtypes, values, NULL, read_only, tcount);

	if (rc != expected)
		elog(ERROR, "could not %s: %s", what, SPI_result_code_string(rc));
	return SPI_processed;
}

/*
 * dbm_text_or_null
 *		A text parameter from a C string; NULL sets *null to 'n'.
 */
static Datum
dbm_text_or_null(const char *s, char *null)
{
	*null = s ? ' ' : 'n';
	return s ? CStringGetTextDatum(s) : (Datum) 0;
}

/*
 * dbm_read_edges
 *		Every revision's id and parents (not its text), in registration order:
 *		sets *ids and *parents (Lists of ids) and returns how many there are.
 *		down_revisions that is not a list of ids is refused (XX001).
 */
int
dbm_read_edges(DbmRead mode, char ***ids, List ***parents)
{
	int			n = (int) dbm_exec_read(&dbm_q_edges, NULL, NULL, mode, 0);
	int			i;

	*ids = palloc(sizeof(char *) * Max(n, 1));
	*parents = palloc0(sizeof(List *) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		bool		isnull;
		Datum		d;

		CHECK_FOR_INTERRUPTS();
		(*ids)[i] = dbm_spi_text(tup, SPI_tuptable->tupdesc, 1);
		d = SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull);
		if (isnull)
			continue;
		if (ARR_NDIM(DatumGetArrayTypeP(d)) > 1 || array_contains_nulls(DatumGetArrayTypeP(d)))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("revision graph is inconsistent: down_revisions of revision \"%s\" "
							"is not a list of revision ids", (*ids)[i]),
					 errdetail("dbmigrate.revision was changed outside dbmigrate's functions."),
					 errhint("Restore dbmigrate.revision from a backup (pg_dump keeps it).")));
		(*parents)[i] = dbm_array_to_ids(DatumGetArrayTypeP(d));
	}
	SPI_freetuptable(SPI_tuptable);
	return n;
}

/*
 * dbm_read_current
 *		The applied heads (dbmigrate.version), sorted by id.
 */
List *
dbm_read_current(DbmRead mode)
{
	return dbm_query_ids(&dbm_q_current, NULL, mode);
}

/*
 * dbm_read_heads
 *		Heads of the registered graph, in registration order, read from the
 *		is_head flag that dbmigrate keeps up to date (so this does not read
 *		the whole graph).
 */
List *
dbm_read_heads(DbmRead mode)
{
	return dbm_query_ids(&dbm_q_heads, NULL, mode);
}

/*
 * dbm_write_current
 *		Make dbmigrate.version hold exactly ids: add the new rows first, then
 *		remove the others.  In that order the triggers that keep is_applied
 *		(keep_applied) do work in proportion to what changed: an upgrade adds
 *		a descendant of what it removes, so nothing is cleared in between.
 */
void
dbm_write_current(List *ids)
{
	Datum		values[1];

	dbm_write_ids(&dbm_q_add_current, ids, SPI_OK_INSERT);
	values[0] = dbm_ids_to_array(ids);
	dbm_exec_write(&dbm_q_remove_current, values, NULL, SPI_OK_DELETE);
}

/*
 * dbm_read_stored
 *		The stored definition of id (with its children and the checksum of its
 *		text as stored now), or NULL when it is not registered.
 */
DbmStored *
dbm_read_stored(const char *id)
{
	Datum		values[1];
	DbmStored  *st = NULL;
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;

	values[0] = CStringGetTextDatum(id);
	if (dbm_exec_read(&dbm_q_stored, values, NULL, DBM_READ_LATEST, 0) == 0)
		return NULL;
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	st = palloc0(sizeof(DbmStored));
	st->parents = dbm_array_to_ids(DatumGetArrayTypeP(SPI_getbinval(tup, desc, 1, &isnull)));
	st->checksum = dbm_spi_text(tup, desc, 2);
	st->message = dbm_spi_text(tup, desc, 3);
	st->builtin = DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull));
	st->children = dbm_array_to_ids(DatumGetArrayTypeP(SPI_getbinval(tup, desc, 5, &isnull)));
	st->transactional = DatumGetBool(SPI_getbinval(tup, desc, 8, &isnull));
	st->text_checksum = dbm_checksum_revision(dbm_spi_text(tup, desc, 6), dbm_spi_text(tup, desc, 7),
											  st->transactional);
	SPI_freetuptable(SPI_tuptable);
	return st;
}

/*
 * dbm_read_unregistered
 *		Those of ids that are not registered, in the order given.
 */
List *
dbm_read_unregistered(List *ids)
{
	return dbm_query_ids_of(&dbm_q_unregistered, ids, DBM_READ_LATEST);
}

/*
 * dbm_read_children
 *		The revisions that name id as a parent, in registration order.
 */
List *
dbm_read_children(const char *id)
{
	Datum		values[1];

	values[0] = CStringGetTextDatum(id);
	return dbm_query_ids(&dbm_q_children, values, DBM_READ_LATEST);
}

/*
 * dbm_definition_values
 *		Parameters $1..$6 of the INSERT and UPDATE of a definition: id,
 *		parents, message, upgrade_sql, downgrade_sql, checksum.
 */
static void
dbm_definition_values(const DbmDefinition *def, Datum *values, char *nulls)
{
	values[0] = CStringGetTextDatum(def->id);
	values[1] = dbm_ids_to_array(def->parents);
	values[2] = dbm_text_or_null(def->message, &nulls[2]);
	values[3] = CStringGetTextDatum(def->upgrade_sql);
	values[4] = dbm_text_or_null(def->downgrade_sql, &nulls[4]);
	values[5] = CStringGetTextDatum(def->checksum);
}

/*
 * dbm_write_definition
 *		Run q, the INSERT or the UPDATE of a definition, whose $7 is flag.
 */
static void
dbm_write_definition(DbmQuery *q, const DbmDefinition *def, bool flag, int expected)
{
	Datum		values[8];
	char		nulls[8] = "        ";

	dbm_definition_values(def, values, nulls);
	values[6] = BoolGetDatum(flag);
	values[7] = BoolGetDatum(def->transactional);
	dbm_exec_write(q, values, nulls, expected);
}

/*
 * dbm_insert_revision
 *		Register a new revision; builtin marks the install script's own.
 */
void
dbm_insert_revision(const DbmDefinition *def, bool builtin)
{
	dbm_write_definition(&dbm_q_insert_revision, def, builtin, SPI_OK_INSERT);
}

/*
 * dbm_update_definition
 *		Replace a revision's definition.  With new parents it moves to the end
 *		of the registration order (after its new parents).
 */
void
dbm_update_definition(const DbmDefinition *def, bool parents_changed)
{
	dbm_write_definition(&dbm_q_update_definition, def, parents_changed, SPI_OK_UPDATE);
}

/*
 * dbm_restore_text
 *		Put back a revision's text, flag and checksum, leaving the rest of its
 *		row.
 */
void
dbm_restore_text(const DbmDefinition *def)
{
	Datum		values[5];
	char		nulls[5] = "     ";

	values[0] = CStringGetTextDatum(def->id);
	values[1] = CStringGetTextDatum(def->upgrade_sql);
	values[2] = dbm_text_or_null(def->downgrade_sql, &nulls[2]);
	values[3] = CStringGetTextDatum(def->checksum);
	values[4] = BoolGetDatum(def->transactional);
	dbm_exec_write(&dbm_q_restore_text, values, nulls, SPI_OK_UPDATE);
}

/*
 * dbm_update_message
 *		A new message for a revision (which makes an install-script row the
 *		user's own).
 */
void
dbm_update_message(const char *id, const char *message)
{
	Datum		values[2];

	values[0] = CStringGetTextDatum(id);
	values[1] = CStringGetTextDatum(message);
	dbm_exec_write(&dbm_q_update_message, values, NULL, SPI_OK_UPDATE);
}

/*
 * dbm_delete_revision
 *		Remove a revision's row.
 */
void
dbm_delete_revision(const char *id)
{
	dbm_write_id(&dbm_q_delete_revision, id, SPI_OK_DELETE);
}

/*
 * dbm_clear_heads
 *		Mark ids as not heads (they just got a child).
 */
void
dbm_clear_heads(List *ids)
{
	dbm_write_ids(&dbm_q_clear_heads, ids, SPI_OK_UPDATE);
}

/*
 * dbm_recompute_heads
 *		Set is_head on ids from whether they have children.
 */
void
dbm_recompute_heads(List *ids)
{
	dbm_write_ids(&dbm_q_recompute_heads, ids, SPI_OK_UPDATE);
}

/*
 * dbm_note_builtin_override
 *		Remember that the user changed or removed a revision the install
 *		script registered, so a restore does not bring the script's copy back.
 */
void
dbm_note_builtin_override(const char *id)
{
	dbm_write_id(&dbm_q_override, id, SPI_OK_INSERT);
}

/*
 * dbm_read_bodies
 *		The stored text of the given revisions, in one query.  Returns an
 *		array (in no particular order) and sets *byid to a hash from id to
 *		the array element (see dbm_body_lookup).
 */
DbmBody *
dbm_read_bodies(List *ids, HTAB **byid)
{
	Datum		values[1];
	DbmBody    *bodies;
	uint64		n;
	uint64		i;

	values[0] = dbm_ids_to_array(ids);
	n = dbm_exec_read(&dbm_q_bodies, values, NULL, DBM_READ_LATEST, 0);
	*byid = dbm_string_hash("dbmigrate revision bodies", list_length(ids), sizeof(DbmBodyEntry));
	bodies = palloc0(sizeof(DbmBody) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		DbmBodyEntry *e;
		bool		isnull;

		CHECK_FOR_INTERRUPTS();
		bodies[i].id = dbm_spi_text(tup, desc, 1);
		bodies[i].message = dbm_spi_text(tup, desc, 2);
		bodies[i].upgrade_sql = dbm_spi_text(tup, desc, 3);
		bodies[i].downgrade_sql = dbm_spi_text(tup, desc, 4);
		bodies[i].checksum = dbm_spi_text(tup, desc, 5);
		bodies[i].transactional = DatumGetBool(SPI_getbinval(tup, desc, 6, &isnull));
		e = hash_search(*byid, &bodies[i].id, HASH_ENTER, NULL);
		e->body = &bodies[i];
	}
	SPI_freetuptable(SPI_tuptable);
	return bodies;
}

/*
 * dbm_body_lookup
 *		The body read by dbm_read_bodies or dbm_read_checksums for id, or NULL.
 */
DbmBody *
dbm_body_lookup(HTAB *byid, const char *id)
{
	DbmBodyEntry *e = dbm_string_hash_find(byid, id);

	return e ? e->body : NULL;
}

/*
 * dbm_read_checksums
 *		The recorded checksum of each of ids, without reading their text: a
 *		hash for dbm_body_lookup whose bodies have only id and checksum.
 */
HTAB *
dbm_read_checksums(List *ids)
{
	Datum		values[1];
	HTAB	   *byid = dbm_string_hash("dbmigrate checksums", list_length(ids), sizeof(DbmBodyEntry));
	uint64		n;
	uint64		i;

	values[0] = dbm_ids_to_array(ids);
	n = dbm_exec_read(&dbm_q_checksums, values, NULL, DBM_READ_LATEST, 0);
	for (i = 0; i < n; i++)
	{
		DbmBody    *body = palloc0(sizeof(DbmBody));
		DbmBodyEntry *e;

		CHECK_FOR_INTERRUPTS();
		body->id = dbm_spi_text(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		body->checksum = dbm_spi_text(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		e = hash_search(byid, &body->id, HASH_ENTER, NULL);
		e->body = body;
	}
	SPI_freetuptable(SPI_tuptable);
	return byid;
}

/*
 * dbm_read_nontransactional
 *		Those of ids registered with transactional => false.
 */
List *
dbm_read_nontransactional(List *ids)
{
	return dbm_query_ids_of(&dbm_q_nontransactional, ids, DBM_READ_LATEST);
}

/*
 * dbm_read_irreversible
 *		Those of ids whose downgrade_sql is NULL, in no particular order.
 */
List *
dbm_read_irreversible(List *ids)
{
	return dbm_query_ids_of(&dbm_q_irreversible, ids, DBM_READ_LATEST);
}

/*
 * dbm_revision_row
 *		Fill row from a tuple of DBM_REVISION_ROW_COLUMNS.
 */
static void
dbm_revision_row(HeapTuple tup, TupleDesc desc, DbmRevisionRow *row)
{
	int			ncolumns = Min(desc->natts - 1, DBM_REV_NCOLUMNS);
	int			c;

	row->id = dbm_spi_text(tup, desc, 1);
	for (c = 0; c < DBM_REV_NCOLUMNS; c++)
	{
		if (c < ncolumns)
			row->values[c] = SPI_getbinval(tup, desc, c + 2, &row->nulls[c]);
		else
		{
			row->values[c] = (Datum) 0;
			row->nulls[c] = true;
		}
	}
	row->has_kept = ncolumns > DBM_REV_TEXT_CHECKSUM;
}

typedef struct DbmRevisionScanState
{
	DbmRevisionFn fn;
	void	   *arg;
} DbmRevisionScanState;

static void
dbm_revision_scan_row(HeapTuple tup, TupleDesc desc, void *arg)
{
	DbmRevisionScanState *state = (DbmRevisionScanState *) arg;
	DbmRevisionRow row;

	dbm_revision_row(tup, desc, &row);
	state->fn(&row, state->arg);
}

/*
 * dbm_scan_revisions
 *		Stream every registered revision (see dbm_scan), newest first or in
 *		registration order, with the caller's snapshot; the text columns are
 *		NULL unless with_text.
 */
void
dbm_scan_revisions(bool newest_first, bool with_text, DbmRevisionFn fn, void *arg)
{
	DbmRevisionScanState state = {fn, arg};
	Datum		values[1];

	values[0] = BoolGetDatum(with_text);
	dbm_scan(newest_first ? &dbm_q_history : &dbm_q_text, values, DBM_READ_SNAPSHOT,
			 dbm_revision_scan_row, &state);
}

/*
 * dbm_scan_revisions_kept
 *		Stream every registered revision in registration order with its text
 *		and the kept state (1.1 only; see dbm_kept_state_exists), with the
 *		caller's snapshot.
 */
void
dbm_scan_revisions_kept(DbmRevisionFn fn, void *arg)
{
	DbmRevisionScanState state = {fn, arg};

	dbm_scan(&dbm_q_text_kept, NULL, DBM_READ_SNAPSHOT, dbm_revision_scan_row, &state);
}

/*
 * dbm_read_revision_row
 *		The row of revision id, with its text, read with the caller's
 *		snapshot.  False when there is none.
 */
bool
dbm_read_revision_row(const char *id, DbmRevisionRow *row)
{
	Datum		values[1];

	values[0] = CStringGetTextDatum(id);
	if (dbm_exec_read(&dbm_q_revision_row, values, NULL, DBM_READ_SNAPSHOT, 1) != 1)
		return false;
	dbm_revision_row(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, row);
	return true;
}

/*
 * dbm_last_runs
 *		Hash id -> DbmLastRun from a query of DBM_LAST_RUN_COLUMNS; revisions
 *		whose latest row did not leave them applied are left out.
 */
static HTAB *
dbm_last_runs(DbmQuery *q, Datum *values, DbmRead mode)
{
	HTAB	   *runs = dbm_string_hash("dbmigrate last runs", 256, sizeof(DbmLastRun));
	uint64		n = dbm_exec_read(q, values, NULL, mode, 0);
	uint64		i;

	for (i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *id;
		DbmLastRun *run;
		bool		isnull;

		CHECK_FOR_INTERRUPTS();
		if (!DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull)))
			continue;
		id = dbm_spi_text(tup, desc, 1);
		run = hash_search(runs, &id, HASH_ENTER, NULL);
		run->started_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 2, &isnull));
		run->run_by = dbm_spi_text(tup, desc, 3);
		run->checksum = dbm_spi_text(tup, desc, 4);
	}
	SPI_freetuptable(SPI_tuptable);
	return runs;
}

/*
 * dbm_read_last_runs / dbm_read_all_last_runs
 *		The last run (DbmLastRun) of each of ids, or of every revision; look
 *		one up with dbm_last_run.
 */
HTAB *
dbm_read_last_runs(List *ids, DbmRead mode)
{
	Datum		values[1];

	values[0] = dbm_ids_to_array(ids);
	return dbm_last_runs(&dbm_q_last_runs, values, mode);
}

HTAB *
dbm_read_all_last_runs(DbmRead mode)
{
	return dbm_last_runs(&dbm_q_all_last_runs, NULL, mode);
}

DbmLastRun *
dbm_last_run(HTAB *runs, const char *id)
{
	return dbm_string_hash_find(runs, id);
}

typedef struct DbmAppliedScanState
{
	DbmAppliedFn fn;
	void	   *arg;
} DbmAppliedScanState;

static void
dbm_applied_scan_row(HeapTuple tup, TupleDesc desc, void *arg)
{
	DbmAppliedScanState *state = (DbmAppliedScanState *) arg;
	bool		isnull;

	state->fn(dbm_spi_text(tup, desc, 1),
			  DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull)), state->arg);
}

/*
 * dbm_scan_last_applied
 *		For each of ids whose latest dbmigrate.log row left it applied (see
 *		DBM_LOG_ROW_APPLIES), call fn with the id of that row: the order in
 *		which the revisions were last applied.  Revisions the log has no such
 *		row for (applied before the log existed, or their rows were removed)
 *		are left out.  Streams (see dbm_scan), so memory does not grow with
 *		the number of revisions; fn copies what it keeps.
 */
void
dbm_scan_last_applied(List *ids, DbmRead mode, DbmAppliedFn fn, void *arg)
{
	DbmAppliedScanState state = {fn, arg};
	Datum		values[1];

	values[0] = dbm_ids_to_array(ids);
	dbm_scan(&dbm_q_last_applied, values, mode, dbm_applied_scan_row, &state);
}

typedef struct DbmLogScanState
{
	DbmLogRowFn fn;
	void	   *arg;
} DbmLogScanState;

static void
dbm_log_scan_row(HeapTuple tup, TupleDesc desc, void *arg)
{
	DbmLogScanState *state = (DbmLogScanState *) arg;
	Datum		values[DBM_LOG_NCOLUMNS];
	bool		nulls[DBM_LOG_NCOLUMNS];
	int			c;

	for (c = 0; c < DBM_LOG_NCOLUMNS; c++)
		values[c] = SPI_getbinval(tup, desc, c + 1, &nulls[c]);
	state->fn(values, nulls, state->arg);
}

/*
 * dbm_scan_log
 *		Stream dbmigrate.log in execution order with the caller's snapshot
 *		(see dbm_scan): id, revision, operation, started_at, duration,
 *		run_by, pid, checksum.
 */
void
dbm_scan_log(DbmLogRowFn fn, void *arg)
{
	DbmLogScanState state = {fn, arg};

	dbm_scan(&dbm_q_log, NULL, DBM_READ_SNAPSHOT, dbm_log_scan_row, &state);
}

/*
 * dbm_log_init / dbm_log_add / dbm_log_write
 *		Collect log rows during a call and write them at its end.
 */
void
dbm_log_init(DbmLogBatch *batch)
{
	memset(batch, 0, sizeof(*batch));
	batch->revision = initArrayResult(TEXTOID, CurrentMemoryContext, false);
	batch->operation = initArrayResult(TEXTOID, CurrentMemoryContext, false);
	batch->started_at = initArrayResult(TIMESTAMPTZOID, CurrentMemoryContext, false);
	batch->duration = initArrayResult(INTERVALOID, CurrentMemoryContext, false);
	batch->checksum = initArrayResult(TEXTOID, CurrentMemoryContext, false);
}

void
dbm_log_add(DbmLogBatch *batch, const char *revision, const char *operation,
			TimestampTz started_at, TimestampTz finished_at, const char *checksum)
{
	Interval   *duration = palloc0(sizeof(Interval));

	duration->time = finished_at - started_at;
	accumArrayResult(batch->revision, CStringGetTextDatum(revision), false,
					 TEXTOID, CurrentMemoryContext);
	accumArrayResult(batch->operation, CStringGetTextDatum(operation), false,
					 TEXTOID, CurrentMemoryContext);
	accumArrayResult(batch->started_at, TimestampTzGetDatum(started_at), false,
					 TIMESTAMPTZOID, CurrentMemoryContext);
	accumArrayResult(batch->duration, IntervalPGetDatum(duration), false,
					 INTERVALOID, CurrentMemoryContext);
	accumArrayResult(batch->checksum,
					 checksum ? CStringGetTextDatum(checksum) : (Datum) 0,
					 checksum == NULL, TEXTOID, CurrentMemoryContext);
	batch->count++;
}

void
dbm_log_write(DbmLogBatch *batch)
{
	Datum		values[5];

	if (batch->count == 0)
		return;
	values[0] = makeArrayResult(batch->revision, CurrentMemoryContext);
	values[1] = makeArrayResult(batch->operation, CurrentMemoryContext);
	values[2] = makeArrayResult(batch->started_at, CurrentMemoryContext);
	values[3] = makeArrayResult(batch->duration, CurrentMemoryContext);
	values[4] = makeArrayResult(batch->checksum, CurrentMemoryContext);
	dbm_exec_write(&dbm_q_write_log, values, NULL, SPI_OK_INSERT);
}

/*
 * dbm_kept_state_exists
 *		Whether dbmigrate.revision has the columns that 1.1's triggers keep
 *		for health(); a database still at 1.0 (until ALTER EXTENSION dbmigrate
 *		UPDATE) has not.
 */
bool
dbm_kept_state_exists(void)
{
	Oid			nsp = get_namespace_oid("dbmigrate", true);
	Oid			rel = OidIsValid(nsp) ? get_relname_relid("revision", nsp) : InvalidOid;

	return OidIsValid(rel) && get_attnum(rel, "parents_ok") != InvalidAttrNumber;
}

/*
 * dbm_read_health_summary
 *		What health() needs besides current, heads and drift, from the kept
 *		state, with the caller's snapshot (see DbmHealthSummary).
 */
void
dbm_read_health_summary(DbmHealthSummary *summary)
{
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;

	if (dbm_exec_read(&dbm_q_health_summary, NULL, NULL, DBM_READ_SNAPSHOT, 1) != 1)
		elog(ERROR, "could not read health()'s summary");
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	summary->pending = DatumGetBool(SPI_getbinval(tup, desc, 1, &isnull)) ? 1 : 0;
	summary->suspect = DatumGetBool(SPI_getbinval(tup, desc, 2, &isnull));
	summary->missing = dbm_array_to_ids(DatumGetArrayTypeP(SPI_getbinval(tup, desc, 3, &isnull)));
	SPI_freetuptable(SPI_tuptable);

	/* how many: a bitmap scan of the partial index counts live rows fastest */
	if (summary->pending > 0)
	{
		if (dbm_exec_read(&dbm_q_pending, NULL, NULL, DBM_READ_SNAPSHOT, 1) != 1)
			elog(ERROR, "could not count pending revisions");
		summary->pending = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
													   SPI_tuptable->tupdesc, 1, &isnull));
		SPI_freetuptable(SPI_tuptable);
	}
}

/*
 * dbm_read_drifted
 *		The revisions whose stored text the kept state says drifted (applied
 *		or not), in registration order, with the caller's snapshot: a List
 *		of DbmDrift.
 */
List *
dbm_read_drifted(void)
{
	List	   *result = NIL;
	uint64		n = dbm_exec_read(&dbm_q_drifted, NULL, NULL, DBM_READ_SNAPSHOT, 0);
	uint64		i;

	for (i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		DbmDrift   *d = palloc(sizeof(DbmDrift));
		bool		isnull;

		CHECK_FOR_INTERRUPTS();
		d->id = dbm_spi_text(tup, desc, 1);
		d->checksum = dbm_spi_text(tup, desc, 2);
		d->text_checksum = dbm_spi_text(tup, desc, 3);
		d->run_checksum = dbm_spi_text(tup, desc, 4);
		d->is_applied = DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull));
		result = lappend(result, d);
	}
	SPI_freetuptable(SPI_tuptable);
	return result;
}

/*
 * dbm_health_document
 *		health()'s jsonb, built with the caller's snapshot and copied out of
 *		SPI's memory (into the context that was current at SPI_connect).
 */
Datum
dbm_health_document(const char *status, List *current, List *heads, int pending,
					List *problems)
{
	Datum		values[5];
	bool		isnull;
	Datum		result;

	values[0] = CStringGetTextDatum(status);
	values[1] = dbm_ids_to_array(current);
	values[2] = dbm_ids_to_array(heads);
	values[3] = Int32GetDatum(pending);
	values[4] = dbm_ids_to_array(problems);
	if (dbm_exec_read(&dbm_q_health, values, NULL, DBM_READ_SNAPSHOT, 1) != 1)
		elog(ERROR, "could not build the health document");
	result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return SPI_datumTransfer(result, false, -1);
}

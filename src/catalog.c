/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  Reading and writing dbmigrate.version, dbmigrate.log and the stored
 *	  text of revisions over SPI.  Plans are prepared once per backend and
 *	  kept; every value is passed as a parameter.  Callers hold SPI and the
 *	  extension-owner context (dbm_enter_owner).
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
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "dbmigrate.h"
#include "catalog.h"

/* forward declarations */
static void dbm_fill_body(DbmBody *body, HeapTuple tup, TupleDesc desc);

/* global variables: plans kept for the life of the backend */
static SPIPlanPtr dbm_plan_read_current = NULL;
static SPIPlanPtr dbm_plan_read_heads = NULL;
static SPIPlanPtr dbm_plan_clear_current = NULL;
static SPIPlanPtr dbm_plan_insert_current = NULL;
static SPIPlanPtr dbm_plan_read_bodies = NULL;
static SPIPlanPtr dbm_plan_write_log = NULL;
static SPIPlanPtr dbm_plan_read_checksums = NULL;
static SPIPlanPtr dbm_plan_last_run = NULL;

#define DBM_BODY_COLUMNS "revision, message, upgrade_sql, downgrade_sql, checksum"

/*
 * dbm_plan
 *		Prepare sql once and keep the plan in *slot.
 */
SPIPlanPtr
dbm_plan(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes)
{
	if (*slot == NULL)
	{
		MemoryContext cxt = CurrentMemoryContext;
		SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

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
 * dbm_plan_settings_begin / dbm_plan_settings_end
 *		The planner settings of dbmigrate's bookkeeping queries, in a GUC nest
 *		level of their own.  Their plans are prepared once per backend and
 *		replanned as custom plans when executed, often while the tables are
 *		still small (a bulk registration starts from an empty graph): with
 *		enable_seqscan off they stay on the indexes, which are right at every
 *		size, and jit off keeps JIT compilation (hundreds of milliseconds) away
 *		from queries that take microseconds.  The caller's settings apply
 *		again when the query is done.
 */
int
dbm_plan_settings_begin(void)
{
	int			nestlevel = NewGUCNestLevel();

	dbm_guc_set("enable_seqscan", "off", PGC_USERSET);
	dbm_guc_set("jit", "off", PGC_USERSET);
	return nestlevel;
}

void
dbm_plan_settings_end(int nestlevel)
{
	AtEOXact_GUC(true, nestlevel);
}

/*
 * dbm_spi_execute_plan
 *		SPI_execute_plan of a bookkeeping query, under dbm_plan_settings, that
 *		leaves CurrentMemoryContext as it found it.  (SPI returns in its
 *		procedure context; callers that allocate results in a short-lived
 *		context of their own would otherwise leak into it.)
 */
int
dbm_spi_execute_plan(SPIPlanPtr plan, Datum *values, const char *nulls,
					 bool read_only, long tcount)
{
	MemoryContext cxt = CurrentMemoryContext;
	int			nestlevel = dbm_plan_settings_begin();
	int			rc = SPI_execute_plan(plan, values, nulls, read_only, tcount);

	dbm_plan_settings_end(nestlevel);
	MemoryContextSwitchTo(cxt);
	return rc;
}

/*
 * dbm_exec_write
 *		Run the kept write query in *slot (prepared from sql on first use) on
 *		dbmigrate's table `table` and check that SPI reports `expected`.  A
 *		rule on the table (made by a migration, or by hand) rewrites the write
 *		into something else: that is refused with 55000 naming the table, and
 *		the kept plan is dropped, because a plan rewritten into nothing no
 *		longer depends on the table and would stay wrong for the rest of the
 *		session after the rule is gone.
 */
void
dbm_exec_write(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes,
			   Datum *values, const char *nulls, int expected, const char *table)
{
	int			rc = dbm_spi_execute_plan(dbm_plan(slot, sql, nargs, argtypes),
										  values, nulls, false, 0);

	if (rc == expected)
		return;
	SPI_freeplan(*slot);
	*slot = NULL;
	if (rc >= 0)				/* SPI_OK_REWRITTEN, or another statement */
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("dbmigrate's write to %s was rewritten by a rule", table),
				 errdetail("A rule on %s (created by a migration or by hand) turned dbmigrate's "
						   "bookkeeping into %s; nothing was changed.",
						   table, SPI_result_code_string(rc)),
				 errhint("Drop the rule: SELECT rulename FROM pg_rules WHERE schemaname = 'dbmigrate'; "
						 "migrations must not change dbmigrate's tables.")));
	elog(ERROR, "could not write %s: %s", table, SPI_result_code_string(rc));
}

/*
 * dbm_string_hash
 *		A hash table in the current memory context whose entries start with a
 *		char * key (the string is compared, not the pointer).
 */
static uint32
dbm_string_key_hash(const void *key, Size keysize)
{
	const char *s = *(const char *const *) key;

	return hash_bytes((const unsigned char *) s, (int) strlen(s));
}

static int
dbm_string_key_match(const void *key1, const void *key2, Size keysize)
{
	return strcmp(*(const char *const *) key1, *(const char *const *) key2);
}

HTAB *
dbm_string_hash(const char *name, long nelem, Size entrysize)
{
	HASHCTL		ctl;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(char *);
	ctl.entrysize = entrysize;
	ctl.hash = dbm_string_key_hash;
	ctl.match = dbm_string_key_match;
	ctl.hcxt = CurrentMemoryContext;
	return hash_create(name, Max(nelem, 16), &ctl,
					   HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
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
 * dbm_ids_to_array / dbm_array_to_ids
 *		Convert between a List of C strings and a text[] Datum.
 */
Datum
dbm_ids_to_array(List *ids)
{
	int			n = list_length(ids);
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));
	ListCell   *lc;
	int			i = 0;

	foreach(lc, ids)
		elems[i++] = CStringGetTextDatum((const char *) lfirst(lc));
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}

List *
dbm_array_to_ids(ArrayType *arr)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;
	List	   *result = NIL;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("revision lists must be one-dimensional arrays")));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("revision lists must not contain nulls")));
		result = lappend(result, TextDatumGetCString(elems[i]));
	}
	return result;
}

/*
 * dbm_list_has_id
 *		Whether a list of C strings holds id.
 */
bool
dbm_list_has_id(List *ids, const char *id)
{
	ListCell   *lc;

	foreach(lc, ids)
		if (strcmp((const char *) lfirst(lc), id) == 0)
			return true;
	return false;
}

/*
 * dbm_list_equal_ids
 *		Whether two lists of ids hold the same set (order ignored).
 */
bool
dbm_list_equal_ids(List *a, List *b)
{
	ListCell   *la;

	if (list_length(a) != list_length(b))
		return false;
	foreach(la, a)
		if (!dbm_list_has_id(b, (const char *) lfirst(la)))
			return false;
	return true;
}

/*
 * dbm_query_ids
 *		The first column of a kept query, as C strings.
 */
List *
dbm_query_ids(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes, Datum *values,
			  DbmRead mode)
{
	List	   *result = NIL;
	int			rc;
	uint64		i;

	rc = dbm_spi_execute_plan(dbm_plan(slot, sql, nargs, argtypes), values, NULL,
							  DBM_SPI_READ_ONLY(mode), 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read dbmigrate's tables: %s", SPI_result_code_string(rc));
	for (i = 0; i < SPI_processed; i++)
	{
		CHECK_FOR_INTERRUPTS();
		result = lappend(result, dbm_spi_text(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	}
	SPI_freetuptable(SPI_tuptable);
	return result;
}

/*
 * dbm_read_current
 *		The applied heads (dbmigrate.version), sorted by id.
 */
List *
dbm_read_current(DbmRead mode)
{
	return dbm_query_ids(&dbm_plan_read_current,
						 "SELECT revision FROM dbmigrate.version ORDER BY revision COLLATE \"C\"",
						 0, NULL, NULL, mode);
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
	return dbm_query_ids(&dbm_plan_read_heads,
						 "SELECT revision FROM dbmigrate.revision WHERE is_head ORDER BY seq",
						 0, NULL, NULL, mode);
}

/*
 * dbm_write_current
 *		Replace dbmigrate.version with ids.
 */
void
dbm_write_current(List *ids)
{
	Oid			argtypes[1] = {TEXTARRAYOID};
	Datum		values[1];

	dbm_exec_write(&dbm_plan_clear_current, "DELETE FROM dbmigrate.version", 0, NULL,
				   NULL, NULL, SPI_OK_DELETE, "dbmigrate.version");
	if (ids == NIL)
		return;
	values[0] = dbm_ids_to_array(ids);
	dbm_exec_write(&dbm_plan_insert_current,
				   "INSERT INTO dbmigrate.version (revision) SELECT pg_catalog.unnest($1)",
				   1, argtypes, values, NULL, SPI_OK_INSERT, "dbmigrate.version");
}

static void
dbm_fill_body(DbmBody *body, HeapTuple tup, TupleDesc desc)
{
	body->id = dbm_spi_text(tup, desc, 1);
	body->message = dbm_spi_text(tup, desc, 2);
	body->upgrade_sql = dbm_spi_text(tup, desc, 3);
	body->downgrade_sql = dbm_spi_text(tup, desc, 4);
	body->checksum = dbm_spi_text(tup, desc, 5);
}

/*
 * dbm_read_bodies
 *		The stored text of the given revisions, in one query.  Returns an
 *		array (in no particular order) and sets *byid to a hash from id to
 *		the array element.
 */
typedef struct DbmBodyEntry
{
	char	   *key;
	DbmBody    *body;
} DbmBodyEntry;

/*
 * dbm_checksum_hash
 *		Run a kept query over ids that returns (revision, checksum) and hash
 *		id -> DbmBody with only id and checksum set; rows whose checksum is
 *		NULL are left out.
 */
static HTAB *
dbm_checksum_hash(SPIPlanPtr *slot, const char *sql, List *ids)
{
	Oid			argtypes[1] = {TEXTARRAYOID};
	Datum		values[1];
	HTAB	   *byid = dbm_string_hash("dbmigrate checksums", list_length(ids), sizeof(DbmBodyEntry));
	int			rc;
	uint64		i;

	values[0] = dbm_ids_to_array(ids);
	rc = dbm_spi_execute_plan(dbm_plan(slot, sql, 1, argtypes), values, NULL, DBM_SPI_READ_ONLY(DBM_READ_LATEST), 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read dbmigrate's tables: %s", SPI_result_code_string(rc));
	for (i = 0; i < SPI_processed; i++)
	{
		DbmBody    *body = palloc0(sizeof(DbmBody));
		DbmBodyEntry *e;

		CHECK_FOR_INTERRUPTS();
		body->id = dbm_spi_text(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		body->checksum = dbm_spi_text(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		if (body->checksum == NULL)
			continue;
		e = hash_search(byid, &body->id, HASH_ENTER, NULL);
		e->body = body;
	}
	SPI_freetuptable(SPI_tuptable);
	return byid;
}

/*
 * dbm_read_checksums
 *		The recorded checksum of each of ids, without reading their text.
 */
HTAB *
dbm_read_checksums(List *ids)
{
	return dbm_checksum_hash(&dbm_plan_read_checksums,
							 "SELECT revision, checksum FROM dbmigrate.revision "
							 "WHERE revision OPERATOR(pg_catalog.=) ANY ($1)",
							 ids);
}

/*
 * dbm_last_run_checksums
 *		For each of ids whose latest log row applied it (DBM_LOG_ROW_APPLIES),
 *		the checksum recorded then; revisions last downgraded or un-stamped
 *		are absent.
 */
HTAB *
dbm_last_run_checksums(List *ids)
{
	return dbm_checksum_hash(&dbm_plan_last_run,
							 "SELECT DISTINCT ON (revision) revision, "
							 "CASE WHEN " DBM_LOG_ROW_APPLIES " THEN checksum END "
							 "FROM dbmigrate.log WHERE revision OPERATOR(pg_catalog.=) ANY ($1) "
							 "ORDER BY revision, id DESC",
							 ids);
}

/*
 * dbm_last_run_checksum
 *		dbm_last_run_checksums for one revision: the checksum or NULL.
 */
char *
dbm_last_run_checksum(const char *id)
{
	DbmBody    *run = dbm_body_lookup(dbm_last_run_checksums(list_make1(unconstify(char *, id))), id);

	return run ? run->checksum : NULL;
}

DbmBody *
dbm_read_bodies(List *ids, HTAB **byid)
{
	Oid			argtypes[1] = {TEXTARRAYOID};
	Datum		values[1];
	DbmBody    *bodies;
	int			rc;
	uint64		i;

	values[0] = dbm_ids_to_array(ids);
	rc = dbm_spi_execute_plan(dbm_plan(&dbm_plan_read_bodies,
								   "SELECT " DBM_BODY_COLUMNS " FROM dbmigrate.revision "
								   "WHERE revision OPERATOR(pg_catalog.=) ANY ($1)",
								   1, argtypes),
						  values, NULL, DBM_SPI_READ_ONLY(DBM_READ_LATEST), 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read dbmigrate.revision: %s", SPI_result_code_string(rc));

	*byid = dbm_string_hash("dbmigrate revision bodies", list_length(ids), sizeof(DbmBodyEntry));

	bodies = palloc0(sizeof(DbmBody) * Max(SPI_processed, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		DbmBodyEntry *e;

		CHECK_FOR_INTERRUPTS();
		dbm_fill_body(&bodies[i], SPI_tuptable->vals[i], SPI_tuptable->tupdesc);
		e = hash_search(*byid, &bodies[i].id, HASH_ENTER, NULL);
		e->body = &bodies[i];
	}
	SPI_freetuptable(SPI_tuptable);
	return bodies;
}

/*
 * dbm_body_lookup
 *		The body read by dbm_read_bodies for id, or NULL.
 */
DbmBody *
dbm_body_lookup(HTAB *byid, const char *id)
{
	DbmBodyEntry *e = hash_search(byid, &id, HASH_FIND, NULL);

	return e ? e->body : NULL;
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
	Oid			argtypes[5] = {TEXTARRAYOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID,
	INTERVALARRAYOID, TEXTARRAYOID};
	Datum		values[5];

	if (batch->count == 0)
		return;
	values[0] = makeArrayResult(batch->revision, CurrentMemoryContext);
	values[1] = makeArrayResult(batch->operation, CurrentMemoryContext);
	values[2] = makeArrayResult(batch->started_at, CurrentMemoryContext);
	values[3] = makeArrayResult(batch->duration, CurrentMemoryContext);
	values[4] = makeArrayResult(batch->checksum, CurrentMemoryContext);
	dbm_exec_write(&dbm_plan_write_log,
				   "INSERT INTO dbmigrate.log "
				   "(revision, operation, started_at, duration, run_by, pid, checksum) "
				   "SELECT u.r, u.o, u.s, u.d, pg_catalog.\"session_user\"(), "
				   "pg_catalog.pg_backend_pid(), u.c "
				   "FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3), "
				   "pg_catalog.unnest($4), pg_catalog.unnest($5)) "
				   "WITH ORDINALITY AS u(r, o, s, d, c, n) ORDER BY u.n",
				   5, argtypes, values, NULL, SPI_OK_INSERT, "dbmigrate.log");
}

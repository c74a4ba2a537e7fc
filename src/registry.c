/*-------------------------------------------------------------------------
 *
 * registry.c
 *	  Registering revisions: migrate_register (one parent or several),
 *	  migrate_revision, migrate_merge and migrate_unregister.  The graph is
 *	  checked here, at registration, not at deploy: ids, parents, cycles,
 *	  redundant parents, SQL that could never run in a migration, and
 *	  changes to revisions that are already applied.
 *
 * Copyright (c) 2026, dbmigrate developers
 *
 * IDENTIFICATION
 *	  src/registry.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "dbmigrate.h"
#include "catalog.h"

/* forward declarations */

/* What one registration asks for */
typedef struct DbmRegistration
{
	const char *id;				/* NULL: generated (migrate_revision/merge) */
	List	   *parents;		/* ids */
	bool		parent_is_head; /* migrate_revision: parent = the single head */
	bool		merge;			/* migrate_merge: expand 'heads', resolve prefixes */
	const char *upgrade_sql;
	const char *downgrade_sql;
	const char *message;
} DbmRegistration;

/* A registered revision as stored */
typedef struct DbmStored
{
	List	   *parents;
	char	   *checksum;		/* as recorded at registration */
	char	   *text_checksum;	/* of the text stored now */
	char	   *message;
	bool		builtin;
	List	   *children;
} DbmStored;

static char *dbm_register(DbmRegistration *reg);
static char *dbm_register_locked(DbmRegistration *reg, const char *checksum, Oid caller);
static bool dbm_all_heads_keyword(List *items);
static void dbm_definition_values(const char *id, DbmRegistration *reg, const char *message,
								  const char *checksum, Datum *values, char *nulls);
static void dbm_registration_args(FunctionCallInfo fcinfo, DbmRegistration *reg);
static DbmStored *dbm_read_stored(const char *id);
static void dbm_check_parents(DbmRegistration *reg);
static void dbm_check_not_redundant(DbmGraph *g, const char *what, List *parents);
static void dbm_recompute_heads(List *ids);
static void dbm_check_no_orphans(const char *id);
static void dbm_note_builtin_override(const char *id);
static char *dbm_random_id(void);
static char *dbm_merge_id(List *parents);

/* SQL-callable functions */
PG_FUNCTION_INFO_V1(dbmigrate_migrate_register);
PG_FUNCTION_INFO_V1(dbmigrate_migrate_register_merge);
PG_FUNCTION_INFO_V1(dbmigrate_migrate_revision);
PG_FUNCTION_INFO_V1(dbmigrate_migrate_merge);
PG_FUNCTION_INFO_V1(dbmigrate_migrate_unregister);

/* global variables: plans kept for the life of the backend */
static SPIPlanPtr dbm_plan_read_stored = NULL;
static SPIPlanPtr dbm_plan_missing_parents = NULL;
static SPIPlanPtr dbm_plan_insert = NULL;
static SPIPlanPtr dbm_plan_update = NULL;
static SPIPlanPtr dbm_plan_update_message = NULL;
static SPIPlanPtr dbm_plan_restore_text = NULL;
static SPIPlanPtr dbm_plan_restore_applied = NULL;
static SPIPlanPtr dbm_plan_mark_parents = NULL;
static SPIPlanPtr dbm_plan_recompute_heads = NULL;
static SPIPlanPtr dbm_plan_delete = NULL;
static SPIPlanPtr dbm_plan_orphans = NULL;
static SPIPlanPtr dbm_plan_override = NULL;

/*
 * dbm_read_stored
 *		The stored definition of id, or NULL.
 */
static DbmStored *
dbm_read_stored(const char *id)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	DbmStored  *st = NULL;
	int			rc;
	uint64		i;

	values[0] = CStringGetTextDatum(id);
	rc = dbm_spi_execute_plan(dbm_plan(&dbm_plan_read_stored,
								   "SELECT r.down_revisions, r.checksum, r.message, r.builtin, "
								   "ARRAY(SELECT c.revision FROM dbmigrate.revision c "
								   "      WHERE c.down_revisions OPERATOR(pg_catalog.@>) ARRAY[$1] "
								   "      ORDER BY c.seq), r.upgrade_sql, r.downgrade_sql "
								   "FROM dbmigrate.revision r WHERE r.revision OPERATOR(pg_catalog.=) $1",
								   1, argtypes),
						  values, NULL, DBM_SPI_READ_ONLY(DBM_READ_LATEST), 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read dbmigrate.revision: %s", SPI_result_code_string(rc));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		CHECK_FOR_INTERRUPTS();
		st = palloc0(sizeof(DbmStored));
		st->parents = dbm_array_to_ids(DatumGetArrayTypeP(SPI_getbinval(tup, desc, 1, &isnull)));
		st->checksum = dbm_spi_text(tup, desc, 2);
		st->message = dbm_spi_text(tup, desc, 3);
		st->builtin = DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull));
		st->children = dbm_array_to_ids(DatumGetArrayTypeP(SPI_getbinval(tup, desc, 5, &isnull)));
		st->text_checksum = dbm_checksum(dbm_spi_text(tup, desc, 6), dbm_spi_text(tup, desc, 7));
	}
	SPI_freetuptable(SPI_tuptable);
	return st;
}

/*
 * dbm_check_parents
 *		Refuse duplicate parents, a revision as its own parent (42P17), and
 *		parents that are not registered (23503).
 */
static void
dbm_check_parents(DbmRegistration *reg)
{
	ListCell   *lc;
	Oid			argtypes[1] = {TEXTARRAYOID};
	Datum		values[1];
	List	   *missing = NIL;

	foreach(lc, reg->parents)
	{
		const char *p = (const char *) lfirst(lc);
		ListCell   *lc2;

		dbm_check_revision_id(p, "down_revision");
		if (strcmp(p, reg->id) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("revision \"%s\" cannot be its own parent", reg->id),
					 errdetail("The revision graph must not contain cycles.")));
		for (lc2 = lnext(reg->parents, lc); lc2 != NULL; lc2 = lnext(reg->parents, lc2))
			if (strcmp(p, (const char *) lfirst(lc2)) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
						 errmsg("parent \"%s\" is listed twice for revision \"%s\"", p, reg->id),
						 errhint("List each parent once.")));
	}
	if (reg->parents == NIL)
		return;

	values[0] = dbm_ids_to_array(reg->parents);
	missing = dbm_query_ids(&dbm_plan_missing_parents,
							"SELECT p FROM pg_catalog.unnest($1) WITH ORDINALITY AS u(p, n) "
							"WHERE NOT EXISTS (SELECT 1 FROM dbmigrate.revision r "
							"                  WHERE r.revision OPERATOR(pg_catalog.=) u.p) "
							"ORDER BY u.n",
							1, argtypes, values, DBM_READ_LATEST);

	if (missing != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
				 errmsg(list_length(missing) == 1 ? "parent revision %s of \"%s\" is not registered" :
						"parent revisions %s of \"%s\" are not registered",
						dbm_join_ids(missing, ", "), reg->id),
				 errdetail("A revision's down_revision must be registered before it."),
				 errhint("Register the parent first, or check the spelling; "
						 "SELECT * FROM dbmigrate.migrate_heads(); lists the heads.")));
}

/*
 * dbm_check_not_redundant
 *		Refuse a parent list where one parent is an ancestor of another
 *		(42P17): the edge would be implied and would muddle "current".
 */
static void
dbm_check_not_redundant(DbmGraph *g, const char *what, List *parents)
{
	ListCell   *lc;

	foreach(lc, parents)
	{
		bool	   *anc = palloc0(sizeof(bool) * Max(g->n, 1));
		int			idx = dbm_graph_index(g, (const char *) lfirst(lc));
		ListCell   *lc2;

		dbm_graph_mark_ancestors(g, idx, anc);
		anc[idx] = false;
		foreach(lc2, parents)
		{
			int			other = dbm_graph_index(g, (const char *) lfirst(lc2));

			if (other != idx && anc[other])
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
						 errmsg("parent \"%s\" of %s is an ancestor of its other parent \"%s\"",
								g->nodes[other].id, what, g->nodes[idx].id),
						 errdetail("A merge joins heads of separate branches; an ancestor is already implied."),
						 errhint("Drop \"%s\" from the parents.", g->nodes[other].id)));
		}
		pfree(anc);
	}
}

/*
 * dbm_check_no_orphans
 *		A new revision must not already be named as a parent: that only
 *		happens when a parent row was deleted behind dbmigrate's back, and
 *		registering it again would put it after its children (XX001).
 */
static void
dbm_check_no_orphans(const char *id)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	List	   *orphans = NIL;

	values[0] = CStringGetTextDatum(id);
	orphans = dbm_query_ids(&dbm_plan_orphans,
							"SELECT revision FROM dbmigrate.revision "
							"WHERE down_revisions OPERATOR(pg_catalog.@>) ARRAY[$1] ORDER BY seq",
							1, argtypes, values, DBM_READ_LATEST);
	if (orphans != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("revision \"%s\" is already named as a parent by %s", id,
						dbm_join_ids(orphans, ", ")),
				 errdetail("Its row was removed from dbmigrate.revision outside dbmigrate's functions; "
						   "registered now, it would come after its children."),
				 errhint("Restore dbmigrate.revision from a backup (pg_dump keeps it).")));
}

/*
 * dbm_recompute_heads
 *		Set is_head on the given revisions from whether they have children.
 */
static void
dbm_recompute_heads(List *ids)
{
	Oid			argtypes[1] = {TEXTARRAYOID};
	Datum		values[1];

	if (ids == NIL)
		return;
	values[0] = dbm_ids_to_array(ids);
	dbm_exec_write(&dbm_plan_recompute_heads,
			 "UPDATE dbmigrate.revision r SET is_head = NOT EXISTS "
			 "(SELECT 1 FROM dbmigrate.revision c "
			 " WHERE c.down_revisions OPERATOR(pg_catalog.@>) ARRAY[r.revision]) "
			 "WHERE r.revision OPERATOR(pg_catalog.=) ANY ($1)",
			 1, argtypes, values, NULL, SPI_OK_UPDATE, "dbmigrate.revision");
}

/*
 * dbm_note_builtin_override
 *		Remember that the user changed or removed a revision the install
 *		script registered, so a restore does not bring the script's copy back.
 */
static void
dbm_note_builtin_override(const char *id)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];

	values[0] = CStringGetTextDatum(id);
	dbm_exec_write(&dbm_plan_override,
			 "INSERT INTO dbmigrate.builtin_override (revision) VALUES ($1) "
			 "ON CONFLICT DO NOTHING",
			 1, argtypes, values, NULL, SPI_OK_INSERT, "dbmigrate.builtin_override");
}

/*
 * dbm_random_id
 *		12 hex digits from the strong random source, like Alembic's ids.
 */
static char *
dbm_random_id(void)
{
	uint8		bytes[6];
	char	   *id = palloc(13);
	int			i;

	if (!pg_strong_random(bytes, sizeof(bytes)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random revision id")));
	for (i = 0; i < 6; i++)
		snprintf(id + i * 2, 3, "%02x", bytes[i]);
	return id;
}

/*
 * dbm_merge_id
 *		A merge's id: the first 12 hex digits of the sha256 over its sorted
 *		parents, so the same merge gets the same id in every database.
 */
static int
dbm_cmp_cstring(const ListCell *a, const ListCell *b)
{
	return strcmp((const char *) lfirst(a), (const char *) lfirst(b));
}

static char *
dbm_merge_id(List *parents)
{
	List	   *sorted = list_copy(parents);
	StringInfoData buf;
	ListCell   *lc;
	char	   *sum;

	list_sort(sorted, dbm_cmp_cstring);
	initStringInfo(&buf);
	appendStringInfoString(&buf, "merge");
	foreach(lc, sorted)
		appendStringInfo(&buf, " %s", (const char *) lfirst(lc));
	sum = dbm_checksum(buf.data, NULL);
	sum[12] = '\0';
	return sum;
}

/*
 * dbm_definition_values
 *		Parameters $1..$6 of the INSERT and UPDATE of a revision's definition:
 *		id, parents, message, upgrade_sql, downgrade_sql, checksum.
 */
static void
dbm_definition_values(const char *id, DbmRegistration *reg, const char *message,
					  const char *checksum, Datum *values, char *nulls)
{
	values[0] = CStringGetTextDatum(id);
	values[1] = dbm_ids_to_array(reg->parents);
	values[2] = message ? CStringGetTextDatum(message) : (Datum) 0;
	nulls[2] = message ? ' ' : 'n';
	values[3] = CStringGetTextDatum(reg->upgrade_sql);
	values[4] = reg->downgrade_sql ? CStringGetTextDatum(reg->downgrade_sql) : (Datum) 0;
	nulls[4] = reg->downgrade_sql ? ' ' : 'n';
	values[5] = CStringGetTextDatum(checksum);
}

/*
 * dbm_all_heads_keyword
 *		Whether every element of a merge's list is the keyword 'heads'.
 */
static bool
dbm_all_heads_keyword(List *items)
{
	ListCell   *lc;

	foreach(lc, items)
		if (strcmp((const char *) lfirst(lc), "heads") != 0)
			return false;
	return items != NIL;
}

/*
 * dbm_register
 *		Register (or re-register) one revision under the run lock.  Returns
 *		its id.  See migrate_register's comment for the rules.
 */
static char *
dbm_register(DbmRegistration *reg)
{
	DbmOwnerContext oc;
	MemoryContext callercxt = CurrentMemoryContext;
	char	   *checksum;
	char	   *id;
	char	   *result;

	if (reg->id != NULL)
		dbm_check_revision_id(reg->id, "revision");

	dbm_check_migration_sql(reg->upgrade_sql, reg->id ? reg->id : "(new)", "upgrade");
	if (reg->downgrade_sql != NULL)
		dbm_check_migration_sql(reg->downgrade_sql, reg->id ? reg->id : "(new)", "downgrade");
	/* hashing a large text needs no lock */
	checksum = dbm_checksum(reg->upgrade_sql, reg->downgrade_sql);

	dbm_begin_state_change(reg->merge ? "migrate_merge" :
						   reg->parent_is_head ? "migrate_revision" : "migrate_register", false);
	dbm_spi_connect();
	dbm_enter_owner(&oc);

	id = dbm_register_locked(reg, checksum, oc.saved_userid);

	/*
	 * Everything dbm_register_locked allocated lives in SPI's procedure
	 * context, which SPI_finish deletes: copy the result out first.
	 */
	result = MemoryContextStrdup(callercxt, id);
	dbm_leave_owner(&oc);
	dbm_spi_finish();
	return result;
}

/*
 * dbm_register_locked
 *		The body of dbm_register, with the run lock held, SPI connected and
 *		the owner context entered; checksum is that of reg's text and caller
 *		the calling role.  Returns the id, allocated in SPI's context.
 */
static char *
dbm_register_locked(DbmRegistration *reg, const char *checksum, Oid caller)
{
	DbmStored  *st;
	DbmGraph   *g = NULL;
	char	   *id;
	char	   *default_message = NULL;	/* used only when inserting */
	bool		builtin = creating_extension;

	if (reg->parent_is_head)
	{
		List	   *heads = dbm_read_heads(DBM_READ_LATEST);

		if (list_length(heads) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_CARDINALITY_VIOLATION),
					 errmsg("cannot choose a parent: the revision graph has %d heads",
							list_length(heads)),
					 errdetail("Heads: %s.", dbm_join_ids(heads, ", ")),
					 errhint("Join them first with SELECT dbmigrate.migrate_merge('{heads}'); "
							 "or use migrate_register() with an explicit down_revision.")));
		reg->parents = heads;
		reg->id = dbm_random_id();
	}

	if (reg->merge)
	{
		List	   *parents = NIL;
		ListCell   *lc;

		g = dbm_graph_load(DBM_READ_LATEST);
		foreach(lc, reg->parents)
		{
			const char *p = (const char *) lfirst(lc);

			if (strcmp(p, "heads") == 0)
			{
				ListCell   *lh;

				foreach(lh, dbm_graph_heads(g))
					if (!dbm_list_has_id(parents, (const char *) lfirst(lh)))
						parents = lappend(parents, lfirst(lh));
			}
			else
			{
				char	   *resolved = g->nodes[dbm_graph_resolve(g, p)].id;

				if (!dbm_list_has_id(parents, resolved))
					parents = lappend(parents, resolved);
			}
		}
		/* 'heads' that is a single head already: nothing to merge, say so */
		if (list_length(parents) == 1 && dbm_all_heads_keyword(reg->parents))
		{
			ereport(NOTICE,
					(errmsg("nothing to merge: the revision graph has one head, \"%s\"",
							(const char *) linitial(parents))));
			return (char *) linitial(parents);
		}
		if (list_length(parents) < 2)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a merge needs at least two revisions, got %d", list_length(parents)),
					 errdetail(parents ? "Revisions: %s." : "No revisions.",
							   dbm_join_ids(parents, ", ")),
					 errhint("SELECT * FROM dbmigrate.migrate_heads(); lists the heads to merge.")));
		reg->parents = parents;
		reg->id = dbm_merge_id(parents);
		default_message = psprintf("merge %s", dbm_join_ids(parents, ", "));
	}
	id = pstrdup(reg->id);

	dbm_check_parents(reg);
	if (list_length(reg->parents) > 1)
	{
		if (g == NULL)
			g = dbm_graph_load(DBM_READ_LATEST);
		dbm_check_not_redundant(g, reg->merge ? "the merge" : psprintf("revision \"%s\"", id),
								reg->parents);
	}

	st = dbm_read_stored(id);
	if (st == NULL)
		dbm_check_no_orphans(id);
	if (st == NULL)
	{
		Oid			argtypes[7] = {TEXTOID, TEXTARRAYOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, BOOLOID};
		Datum		values[7];
		char		nulls[7] = "       ";

		const char *message = reg->message ? reg->message : default_message;

		dbm_definition_values(id, reg, message, checksum, values, nulls);
		values[6] = BoolGetDatum(builtin);
		/* the statement trigger revision_mark_parents clears the parents' is_head */
		dbm_exec_write(&dbm_plan_insert,
				 "INSERT INTO dbmigrate.revision "
				 "(revision, down_revisions, message, upgrade_sql, downgrade_sql, checksum, builtin) "
				 "VALUES ($1, $2, $3, $4, $5, $6, $7)",
				 7, argtypes, values, nulls, SPI_OK_INSERT, "dbmigrate.revision");
	}
	else if (dbm_list_equal_ids(st->parents, reg->parents) && strcmp(st->checksum, checksum) == 0 &&
			 strcmp(st->text_checksum, checksum) != 0)
	{
		/*
		 * The recorded checksum matches what is registered now, but the stored
		 * text was changed behind dbmigrate's back: registering the intended
		 * text restores it, applied or not.
		 */
		Oid			argtypes[3] = {TEXTOID, TEXTOID, TEXTOID};
		Datum		values[3];
		char		nulls[3] = "   ";

		values[0] = CStringGetTextDatum(id);
		values[1] = CStringGetTextDatum(reg->upgrade_sql);
		values[2] = reg->downgrade_sql ? CStringGetTextDatum(reg->downgrade_sql) : (Datum) 0;
		nulls[2] = reg->downgrade_sql ? ' ' : 'n';
		dbm_exec_write(&dbm_plan_restore_text,
				 "UPDATE dbmigrate.revision SET upgrade_sql = $2, downgrade_sql = $3 "
				 "WHERE revision OPERATOR(pg_catalog.=) $1",
				 3, argtypes, values, nulls, SPI_OK_UPDATE, "dbmigrate.revision");
		ereport(NOTICE,
				(errmsg("stored text of revision \"%s\" restored", id),
				 errdetail("It had been changed outside dbmigrate (it hashed to %s); it matches "
						   "its recorded checksum %s again.", st->text_checksum, checksum)));
		ereport(LOG,
				(errmsg("dbmigrate: stored text of revision \"%s\" restored by %s",
						id, GetUserNameFromId(caller, false))));
	}
	else if (dbm_list_equal_ids(st->parents, reg->parents) && strcmp(st->checksum, checksum) == 0)
	{
		/* identical definition: a no-op, except that a new message is kept */
		if (reg->message != NULL &&
			(st->message == NULL || strcmp(st->message, reg->message) != 0))
		{
			Oid			argtypes[2] = {TEXTOID, TEXTOID};
			Datum		values[2];

			values[0] = CStringGetTextDatum(id);
			values[1] = CStringGetTextDatum(reg->message);
			dbm_exec_write(&dbm_plan_update_message,
					 "UPDATE dbmigrate.revision SET message = $2, builtin = false "
					 "WHERE revision OPERATOR(pg_catalog.=) $1",
					 2, argtypes, values, NULL, SPI_OK_UPDATE, "dbmigrate.revision");
			/* a changed message makes the install script's row the user's own */
			if (st->builtin)
				dbm_note_builtin_override(id);
		}
	}
	else
	{
		bool		parents_changed = !dbm_list_equal_ids(st->parents, reg->parents);
		bool	   *applied;

		if (g == NULL)
			g = dbm_graph_load(DBM_READ_LATEST);
		applied = dbm_graph_applied(g, dbm_read_current(DBM_READ_LATEST));
		if (applied[dbm_graph_index(g, id)] && !parents_changed)
		{
			char	   *ran = dbm_last_run_checksum(id);

			/*
			 * The given text is exactly what ran, but the stored definition
			 * (text and checksum) was changed behind dbmigrate's back: put
			 * back what ran.
			 */
			if (ran != NULL && strcmp(ran, checksum) == 0)
			{
				Oid			argtypes[4] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID};
				Datum		values[4];
				char		nulls[4] = "    ";

				values[0] = CStringGetTextDatum(id);
				values[1] = CStringGetTextDatum(reg->upgrade_sql);
				values[2] = reg->downgrade_sql ? CStringGetTextDatum(reg->downgrade_sql) : (Datum) 0;
				nulls[2] = reg->downgrade_sql ? ' ' : 'n';
				values[3] = CStringGetTextDatum(checksum);
				dbm_exec_write(&dbm_plan_restore_applied,
						 "UPDATE dbmigrate.revision SET upgrade_sql = $2, downgrade_sql = $3, "
						 "checksum = $4 WHERE revision OPERATOR(pg_catalog.=) $1",
						 4, argtypes, values, nulls, SPI_OK_UPDATE, "dbmigrate.revision");
				ereport(NOTICE,
						(errmsg("stored definition of revision \"%s\" restored to the text that was applied", id),
						 errdetail("It had been changed outside dbmigrate (checksum %s); it is back at %s.",
								   st->checksum, checksum)));
				return id;
			}
		}
		if (applied[dbm_graph_index(g, id)])
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("revision \"%s\" is applied and registered with a different %s",
							id, parents_changed ? "down_revision" : "definition"),
					 parents_changed ?
					 errdetail("Registered parents: %s; given: %s.",
							   st->parents ? dbm_join_ids(st->parents, ", ") : "none (a root)",
							   reg->parents ? dbm_join_ids(reg->parents, ", ") : "none (a root)") :
					 errdetail("Stored checksum %s, given %s; this call changed nothing.",
							   st->checksum, checksum),
					 errhint("Put the change in a new revision, or downgrade below \"%s\" before "
							 "registering it again (if its own downgrade cannot run, stamp its "
							 "parent with migrate_stamp(), undo its objects by hand, then register "
							 "it again).", id)));

		if (parents_changed && st->children != NIL)
			ereport(ERROR,
					(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
					 errmsg("cannot change the parents of revision \"%s\": it has children", id),
					 errdetail("Children: %s.", dbm_join_ids(st->children, ", ")),
					 errhint("Unregister the children first.")));

		{
			Oid			argtypes[7] = {TEXTOID, TEXTARRAYOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, BOOLOID};
			Datum		values[7];
			char		nulls[7] = "       ";

			dbm_definition_values(id, reg, reg->message, checksum, values, nulls);
			values[6] = BoolGetDatum(parents_changed);
			dbm_exec_write(&dbm_plan_update,
					 "UPDATE dbmigrate.revision SET down_revisions = $2, message = $3, "
					 "upgrade_sql = $4, downgrade_sql = $5, checksum = $6, builtin = false, "
					 "registered_at = pg_catalog.now(), registered_by = pg_catalog.\"session_user\"(), "
					 "seq = CASE WHEN $7 THEN pg_catalog.nextval('dbmigrate.revision_seq_seq') ELSE seq END "
					 "WHERE revision OPERATOR(pg_catalog.=) $1",
					 7, argtypes, values, nulls, SPI_OK_UPDATE, "dbmigrate.revision");
		}
		if (parents_changed)
		{
			Oid			argtypes[1] = {TEXTARRAYOID};
			Datum		values[1];

			dbm_recompute_heads(st->parents);
			if (reg->parents != NIL)
			{
				values[0] = dbm_ids_to_array(reg->parents);
				dbm_exec_write(&dbm_plan_mark_parents,
						 "UPDATE dbmigrate.revision SET is_head = false "
						 "WHERE revision OPERATOR(pg_catalog.=) ANY ($1) AND is_head",
						 1, argtypes, values, NULL, SPI_OK_UPDATE, "dbmigrate.revision");
			}
		}
		if (st->builtin)
			dbm_note_builtin_override(id);

		ereport(NOTICE,
				(errmsg("revision \"%s\" redefined", id),
				 parents_changed ?
				 errdetail("It was not applied; its parents are now %s (were %s) and its checksum %s (was %s).",
						   reg->parents ? dbm_join_ids(reg->parents, ", ") : "none (a root)",
						   st->parents ? dbm_join_ids(st->parents, ", ") : "none (a root)",
						   checksum, st->checksum) :
				 errdetail("It was not applied; its new definition replaces the old one (checksum %s, was %s).",
						   checksum, st->checksum)));
		ereport(LOG,
				(errmsg("dbmigrate: revision \"%s\" redefined by %s (checksum %s, was %s)",
						id, GetUserNameFromId(caller, false), checksum, st->checksum)));
	}
	return id;
}

/*
 * dbm_registration_args
 *		The arguments both migrate_register forms share: revision (0),
 *		upgrade_sql (2), downgrade_sql (3) and message (4).
 */
static void
dbm_registration_args(FunctionCallInfo fcinfo, DbmRegistration *reg)
{
	memset(reg, 0, sizeof(*reg));
	reg->id = dbm_text_arg(fcinfo, 0, "revision");
	reg->upgrade_sql = dbm_text_arg(fcinfo, 2, "upgrade_sql");
	reg->downgrade_sql = PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3));
	reg->message = PG_ARGISNULL(4) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(4));
}

/*
 * migrate_register(revision text, down_revision text, upgrade_sql text,
 *					downgrade_sql text DEFAULT NULL, message text DEFAULT NULL)
 *		RETURNS text
 *
 *		Add a revision whose parent is down_revision (NULL: a root); like
 *		writing an Alembic revision file.  Identical re-registration is a
 *		no-op; a changed definition replaces the stored one only while the
 *		revision is not applied (and, for new parents, has no children).
 *		Errors: 22004 null id or upgrade_sql, 42602/42939/42622 bad id,
 *		22023 comma in down_revision, 23503 unknown parent, 42P17 self or
 *		redundant parent, 42601 syntax error, 2D000 transaction control,
 *		25001 non-transactional statement, 0A000 COPY to/from client,
 *		42710 applied revision changed, 2BP01 parents changed under children.
 */
Datum
dbmigrate_migrate_register(PG_FUNCTION_ARGS)
{
	DbmRegistration reg;

	dbm_registration_args(fcinfo, &reg);
	if (!PG_ARGISNULL(1))
	{
		char	   *parent = text_to_cstring(PG_GETARG_TEXT_PP(1));

		if (strchr(parent, ',') != NULL || strchr(parent, '{') != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("down_revision \"%s\" names more than one revision", parent),
					 errdetail("down_revision is a single parent revision id."),
					 errhint("Join branches with migrate_merge(), or pass the parents as an array: "
							 "migrate_register('m', ARRAY['a', 'b'], ...).")));
		if (parent[0] == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_NAME),
					 errmsg("down_revision must not be empty"),
					 errhint("Pass NULL for a root revision.")));
		reg.parents = list_make1(parent);
	}
	PG_RETURN_TEXT_P(cstring_to_text(dbm_register(&reg)));
}

/*
 * migrate_register(revision text, down_revisions text[], upgrade_sql text,
 *					downgrade_sql text DEFAULT NULL, message text DEFAULT NULL)
 *		RETURNS text
 *
 *		The same with several parents: a merge revision with its own SQL and
 *		an id of your choosing (an empty array is a root).  Same errors.
 */
Datum
dbmigrate_migrate_register_merge(PG_FUNCTION_ARGS)
{
	DbmRegistration reg;

	dbm_registration_args(fcinfo, &reg);
	if (!PG_ARGISNULL(1))
		reg.parents = dbm_array_to_ids(PG_GETARG_ARRAYTYPE_P(1));
	PG_RETURN_TEXT_P(cstring_to_text(dbm_register(&reg)));
}

/*
 * migrate_revision(message text, upgrade_sql text, downgrade_sql text DEFAULT NULL)
 *		RETURNS text
 *
 *		Alembic's "revision -m": a new revision with a generated 12-hex-digit
 *		id whose parent is the single head (a root when nothing is
 *		registered).  Errors: 21000 several heads, and migrate_register's.
 */
Datum
dbmigrate_migrate_revision(PG_FUNCTION_ARGS)
{
	DbmRegistration reg;

	memset(&reg, 0, sizeof(reg));
	reg.message = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	reg.upgrade_sql = dbm_text_arg(fcinfo, 1, "upgrade_sql");
	reg.downgrade_sql = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	reg.parent_is_head = true;
	PG_RETURN_TEXT_P(cstring_to_text(dbm_register(&reg)));
}

/*
 * migrate_merge(revisions text[], message text DEFAULT NULL) RETURNS text
 *
 *		Alembic's "merge": a revision whose parents are the given revisions
 *		(ids, unique prefixes, or 'heads' for every head) and whose SQL is
 *		empty.  Its id is derived from the parents, so merging the same heads
 *		is idempotent and gives the same id everywhere.  Errors: 22004, 22023
 *		fewer than two revisions, 42704 unknown, 21000 ambiguous prefix,
 *		42P17 one parent an ancestor of another.
 */
Datum
dbmigrate_migrate_merge(PG_FUNCTION_ARGS)
{
	DbmRegistration reg;

	memset(&reg, 0, sizeof(reg));
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("revisions must not be null")));
	reg.parents = dbm_array_to_ids(PG_GETARG_ARRAYTYPE_P(0));
	reg.message = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	reg.upgrade_sql = "";
	reg.downgrade_sql = "";
	reg.merge = true;
	PG_RETURN_TEXT_P(cstring_to_text(dbm_register(&reg)));
}

/*
 * migrate_unregister(revision text) RETURNS void
 *
 *		Remove a revision that is not applied and has no children.  Errors:
 *		22004, 42704 not registered, 2BP01 has children, 55006 applied.
 */
Datum
dbmigrate_migrate_unregister(PG_FUNCTION_ARGS)
{
	char	   *id = dbm_text_arg(fcinfo, 0, "revision");
	DbmOwnerContext oc;
	DbmStored  *st;
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];

	dbm_begin_state_change("migrate_unregister", false);
	dbm_spi_connect();
	dbm_enter_owner(&oc);

	st = dbm_read_stored(id);
	if (st == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("revision \"%s\" is not registered", id),
				 errhint("Unregister takes an exact revision id.")));
	if (st->children != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("cannot unregister revision \"%s\": it has children", id),
				 errdetail("Children: %s.", dbm_join_ids(st->children, ", ")),
				 errhint("Unregister the children first.")));
	{
		DbmGraph   *g = dbm_graph_load(DBM_READ_LATEST);
		bool	   *applied = dbm_graph_applied(g, dbm_read_current(DBM_READ_LATEST));

		if (applied[dbm_graph_index(g, id)])
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_IN_USE),
					 errmsg("cannot unregister revision \"%s\": it is applied", id),
					 errhint("Downgrade below it first, e.g. SELECT * FROM dbmigrate.migrate_downgrade(1);")));
	}

	values[0] = CStringGetTextDatum(id);
	dbm_exec_write(&dbm_plan_delete,
			 "DELETE FROM dbmigrate.revision WHERE revision OPERATOR(pg_catalog.=) $1",
			 1, argtypes, values, NULL, SPI_OK_DELETE, "dbmigrate.revision");
	dbm_recompute_heads(st->parents);
	if (st->builtin)
		dbm_note_builtin_override(id);

	dbm_leave_owner(&oc);
	dbm_spi_finish();
	PG_RETURN_VOID();
}

/*-------------------------------------------------------------------------
 *
 * registry.c
 *	  Registering revisions: migrate_register (one parent or several),
 *	  migrate_revision, migrate_merge and migrate_unregister.  The graph is
 *	  checked here, at registration, not at deploy: ids, parents, cycles,
 *	  redundant parents, SQL that could never run in a migration, and
 *	  changes to revisions that are already applied.
 *
 *	  One registration runs in steps: check what needs no lock, take the run
 *	  lock, resolve the parents, gather what is stored, classify (a pure
 *	  function of what was gathered, returning one DbmRegOutcome), write, and
 *	  report.
 *
 * Copyright (c) 2026, dbmigrate developers
 *
 * IDENTIFICATION
 *	  src/registry.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/extension.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "dbmigrate.h"
#include "catalog.h"
#include "graph.h"
#include "idlist.h"
#include "lint.h"
#include "sqlcheck.h"
#include "target.h"

/* What one registration asks for */
typedef struct DbmRegistration
{
	DbmDefinition def;			/* id NULL: generated (migrate_revision/merge) */
	bool		parent_is_head; /* migrate_revision: parent = the single head */
	bool		merge;			/* migrate_merge: parents are targets to
								 * resolve */
} DbmRegistration;

/* What a registration finds, and then does */
typedef enum DbmRegOutcome
{
	DBM_REG_NEW,				/* not registered: insert it */
	DBM_REG_UNCHANGED,			/* registered identically: nothing to do */
	DBM_REG_NEW_MESSAGE,		/* identical but for a new message */
	DBM_REG_RESTORE_TEXT,		/* stored text edited outside dbmigrate; the
								 * given text matches the recorded checksum */
	DBM_REG_RESTORE_APPLIED,	/* applied, stored definition edited outside
								 * dbmigrate; the given text is what ran */
	DBM_REG_REDEFINE,			/* not applied: the new definition replaces it */
	DBM_REG_NOTHING_TO_MERGE,	/* merge of '{heads}' with a single head */
	DBM_REG_REFUSE_APPLIED,		/* applied with another definition: 42710 */
	DBM_REG_REFUSE_CHILDREN		/* new parents under children: 2BP01 */
} DbmRegOutcome;

/* What classification looks at */
typedef struct DbmRegState
{
	DbmDefinition def;			/* as registered: parents resolved, id set */
	char	   *default_message;	/* of a merge, used when inserting */
	DbmStored  *stored;			/* NULL: not registered */
	bool		applied;		/* set when the definition differs */
	char	   *ran;			/* checksum of its last run, when applied */
	Oid			caller;
} DbmRegState;

static char *dbm_register(DbmRegistration *reg);
static void dbm_resolve_parents(DbmRegistration *reg, DbmRegState *rs, DbmGraph **g);
static void dbm_gather(DbmRegState *rs, DbmGraph *g);
static bool dbm_same_definition(const DbmStored *st, const DbmDefinition *def);
static DbmRegOutcome dbm_classify(const DbmRegState *rs);
static void dbm_write(DbmRegOutcome outcome, const DbmRegState *rs);
static void dbm_report(DbmRegOutcome outcome, const DbmRegState *rs);
static bool dbm_all_heads_keyword(List *items);
static void dbm_registration_args(FunctionCallInfo fcinfo, DbmRegistration *reg);
static void dbm_check_parents(const DbmDefinition *def);
static void dbm_check_not_redundant(DbmGraph *g, const char *what, List *parents);
static void dbm_check_no_orphans(const char *id);
static char *dbm_random_id(void);
static char *dbm_merge_id(List *parents);

/* SQL-callable functions */
PG_FUNCTION_INFO_V1(dbmigrate_migrate_register);
PG_FUNCTION_INFO_V1(dbmigrate_migrate_register_merge);
PG_FUNCTION_INFO_V1(dbmigrate_migrate_revision);
PG_FUNCTION_INFO_V1(dbmigrate_migrate_merge);
PG_FUNCTION_INFO_V1(dbmigrate_migrate_unregister);

/*
 * dbm_check_parents
 *		Refuse duplicate parents, a revision as its own parent (42P17), and
 *		parents that are not registered (23503).
 */
static void
dbm_check_parents(const DbmDefinition *def)
{
	ListCell   *lc;
	List	   *missing;

	foreach(lc, def->parents)
	{
		const char *p = (const char *) lfirst(lc);
		ListCell   *lc2;

		dbm_check_revision_id(p, "down_revision");
		if (strcmp(p, def->id) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("revision \"%s\" cannot be its own parent", def->id),
					 errdetail("The revision graph must not contain cycles.")));
		for (lc2 = lnext(def->parents, lc); lc2 != NULL; lc2 = lnext(def->parents, lc2))
			if (strcmp(p, (const char *) lfirst(lc2)) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
						 errmsg("parent \"%s\" is listed twice for revision \"%s\"", p, def->id),
						 errhint("List each parent once.")));
	}
	if (def->parents == NIL)
		return;

	missing = dbm_read_unregistered(def->parents);
	if (missing != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
				 errmsg(list_length(missing) == 1 ? "parent revision %s of \"%s\" is not registered" :
						"parent revisions %s of \"%s\" are not registered",
						dbm_join_ids(missing, ", "), def->id),
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
	List	   *orphans = dbm_read_children(id);

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
 * dbm_random_id
 *		12 hex digits from the strong random source, like Alembic's ids.
 */
static char *
dbm_random_id(void)
{
	uint8		bytes[6];
	char	   *id = palloc(13);

	if (!pg_strong_random(bytes, sizeof(bytes)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random revision id")));
	id[hex_encode((const char *) bytes, sizeof(bytes), id)] = '\0';
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
 * dbm_all_heads_keyword
 *		Whether every element of a merge's list is the keyword 'heads'.
 */
static bool
dbm_all_heads_keyword(List *items)
{
	ListCell   *lc;

	foreach(lc, items)
	{
		if (strcmp((const char *) lfirst(lc), "heads") != 0)
			return false;
	}
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
	MemoryContext callercxt = CurrentMemoryContext;
	DbmDefinition *def = &reg->def;
	DbmRegState rs;
	DbmGraph   *g = NULL;
	DbmCall		call;
	DbmRegOutcome outcome;
	char	   *result;

	/* what needs no lock: the id, the SQL, and hashing a large text */
	if (def->id != NULL)
		dbm_check_revision_id(def->id, "revision");
	dbm_check_migration_sql(def->upgrade_sql, def->id ? def->id : "(new)", "upgrade",
							def->transactional);
	if (def->downgrade_sql != NULL)
		dbm_check_migration_sql(def->downgrade_sql, def->id ? def->id : "(new)", "downgrade",
								def->transactional);
	def->checksum = dbm_checksum_revision(def->upgrade_sql, def->downgrade_sql, def->transactional);
	if (!def->transactional && dbm_schema_1_0())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("non-transactional revisions need dbmigrate 1.1 in this database"),
				 errdetail("The extension's tables are still those of version 1.0."),
				 errhint("Run ALTER EXTENSION dbmigrate UPDATE;")));

	dbm_begin_state_change(reg->merge ? "migrate_merge" :
						   reg->parent_is_head ? "migrate_revision" : "migrate_register", false);
	dbm_call_begin(&call);

	memset(&rs, 0, sizeof(rs));
	rs.caller = call.owner.saved_userid;
	dbm_resolve_parents(reg, &rs, &g);
	if (rs.def.id == NULL)
		outcome = DBM_REG_NOTHING_TO_MERGE;
	else
	{
		dbm_gather(&rs, g);
		outcome = dbm_classify(&rs);
		/* new text is linted (as the caller, with the caller's search_path) */
		if ((outcome == DBM_REG_NEW || outcome == DBM_REG_REDEFINE) && !creating_extension)
		{
			dbm_leave_owner(&call.owner);
			dbm_lint_registration(rs.def.id, rs.def.upgrade_sql, rs.def.downgrade_sql);
			dbm_enter_owner(&call.owner);
		}
		dbm_write(outcome, &rs);
	}
	dbm_report(outcome, &rs);

	/*
	 * Everything above lives in SPI's procedure context, which SPI_finish
	 * deletes: copy the result out first.
	 */
	result = MemoryContextStrdup(callercxt, outcome == DBM_REG_NOTHING_TO_MERGE ?
								 (const char *) linitial(rs.def.parents) : rs.def.id);
	dbm_call_end(&call);
	return result;
}

/*
 * dbm_resolve_parents
 *		Fill rs->def from reg with its parents and id settled: the single head
 *		for migrate_revision (and a random id), the resolved targets for a
 *		merge (and the id derived from them); then check them.  A merge of
 *		'{heads}' when there is one head leaves rs->def.id NULL and that head
 *		as the only parent.  Sets *g when the graph had to be loaded.
 */
static void
dbm_resolve_parents(DbmRegistration *reg, DbmRegState *rs, DbmGraph **g)
{
	DbmDefinition *def = &rs->def;

	*def = reg->def;
	if (reg->parent_is_head)
	{
		List	   *heads = dbm_read_heads(DBM_READ_LATEST);

		dbm_require_single_head(heads, DBM_OP_REVISION);
		def->parents = heads;
		def->id = dbm_random_id();
	}
	else if (reg->merge)
	{
		List	   *parents = NIL;
		ListCell   *lc;

		*g = dbm_graph_load(DBM_READ_LATEST);
		foreach(lc, reg->def.parents)
		{
			DbmTarget	t = dbm_target_parse((const char *) lfirst(lc), DBM_OP_MERGE);

			if (t.kind == DBM_TARGET_HEADS)
			{
				ListCell   *lh;

				foreach(lh, dbm_graph_heads(*g))
					parents = dbm_list_add_id(parents, (char *) lfirst(lh));
			}
			else
				parents = dbm_list_add_id(parents, (*g)->nodes[dbm_target_position(*g, &t)].id);
		}
		def->parents = parents;
		/* 'heads' that is a single head already: nothing to merge, say so */
		if (list_length(parents) == 1 && dbm_all_heads_keyword(reg->def.parents))
		{
			def->id = NULL;
			return;
		}
		if (list_length(parents) < 2)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a merge needs at least two revisions, got %d", list_length(parents)),
					 errdetail(parents ? "Revisions: %s." : "No revisions.",
							   dbm_join_ids(parents, ", ")),
					 errhint("SELECT * FROM dbmigrate.migrate_heads(); lists the heads to merge.")));
		def->id = dbm_merge_id(parents);
		rs->default_message = psprintf("merge %s", dbm_join_ids(parents, ", "));
	}

	dbm_check_parents(def);
	if (list_length(def->parents) > 1)
	{
		if (*g == NULL)
			*g = dbm_graph_load(DBM_READ_LATEST);
		dbm_check_not_redundant(*g, reg->merge ? "the merge" : psprintf("revision \"%s\"", def->id),
								def->parents);
	}
}

/*
 * dbm_same_definition
 *		Whether the stored revision has def's parents and recorded checksum.
 */
static bool
dbm_same_definition(const DbmStored *st, const DbmDefinition *def)
{
	return dbm_list_equal_ids(st->parents, def->parents) &&
		strcmp(st->checksum, def->checksum) == 0;
}

/*
 * dbm_gather
 *		Read what classification needs: the stored row and, when its
 *		definition differs from the given one, whether it is applied and the
 *		checksum of its last run.  A new id already named as a parent is
 *		refused here (XX001).
 */
static void
dbm_gather(DbmRegState *rs, DbmGraph *g)
{
	const char *id = rs->def.id;

	rs->stored = dbm_read_stored(id);
	if (rs->stored == NULL)
	{
		dbm_check_no_orphans(id);
		return;
	}
	if (dbm_same_definition(rs->stored, &rs->def))
		return;
	if (g == NULL)
		g = dbm_graph_load(DBM_READ_LATEST);
	rs->applied = dbm_graph_applied(g, dbm_read_current(DBM_READ_LATEST))[dbm_graph_index(g, id)];
	if (rs->applied)
	{
		DbmLastRun *run = dbm_last_run(dbm_read_last_runs(list_make1(unconstify(char *, id)),
														  DBM_READ_LATEST), id);

		rs->ran = run ? run->checksum : NULL;
	}
}

/*
 * dbm_classify
 *		The outcome of a registration, from what dbm_gather found; reads and
 *		writes nothing.
 */
static DbmRegOutcome
dbm_classify(const DbmRegState *rs)
{
	const DbmStored *st = rs->stored;
	const DbmDefinition *def = &rs->def;
	bool		parents_changed;

	if (st == NULL)
		return DBM_REG_NEW;
	if (dbm_same_definition(st, def))
	{
		if (strcmp(st->text_checksum, def->checksum) != 0)
			return DBM_REG_RESTORE_TEXT;
		if (def->message != NULL && (st->message == NULL || strcmp(st->message, def->message) != 0))
			return DBM_REG_NEW_MESSAGE;
		return DBM_REG_UNCHANGED;
	}
	parents_changed = !dbm_list_equal_ids(st->parents, def->parents);
	if (rs->applied)
	{
		if (!parents_changed && rs->ran != NULL && strcmp(rs->ran, def->checksum) == 0)
			return DBM_REG_RESTORE_APPLIED;
		return DBM_REG_REFUSE_APPLIED;
	}
	if (parents_changed && st->children != NIL)
		return DBM_REG_REFUSE_CHILDREN;
	return DBM_REG_REDEFINE;
}

/*
 * dbm_write
 *		Carry out an outcome in dbmigrate.revision (and builtin_override).
 */
static void
dbm_write(DbmRegOutcome outcome, const DbmRegState *rs)
{
	const DbmStored *st = rs->stored;
	const DbmDefinition *def = &rs->def;

	switch (outcome)
	{
		case DBM_REG_NEW:
			{
				DbmDefinition ins = *def;

				if (ins.message == NULL)
					ins.message = rs->default_message;
				dbm_insert_revision(&ins, creating_extension);
				break;
			}
		case DBM_REG_RESTORE_TEXT:
		case DBM_REG_RESTORE_APPLIED:
			dbm_restore_text(def);
			break;
		case DBM_REG_NEW_MESSAGE:
			dbm_update_message(def->id, def->message);
			/* a changed message makes the install script's row the user's own */
			if (st->builtin)
				dbm_note_builtin_override(def->id);
			break;
		case DBM_REG_REDEFINE:
			{
				bool		parents_changed = !dbm_list_equal_ids(st->parents, def->parents);

				dbm_update_definition(def, parents_changed);
				if (parents_changed)
				{
					dbm_recompute_heads(st->parents);
					dbm_clear_heads(def->parents);
				}
				if (st->builtin)
					dbm_note_builtin_override(def->id);
				break;
			}
		case DBM_REG_UNCHANGED:
		case DBM_REG_NOTHING_TO_MERGE:
		case DBM_REG_REFUSE_APPLIED:
		case DBM_REG_REFUSE_CHILDREN:
			break;
	}
}

/*
 * dbm_report
 *		Tell the caller (and the server log) what an outcome did, or raise
 *		the refusal it is.
 */
static void
dbm_report(DbmRegOutcome outcome, const DbmRegState *rs)
{
	const DbmStored *st = rs->stored;
	const DbmDefinition *def = &rs->def;
	const char *id = def->id;
	bool		parents_changed = st && !dbm_list_equal_ids(st->parents, def->parents);

	switch (outcome)
	{
		case DBM_REG_NOTHING_TO_MERGE:
			ereport(NOTICE,
					(errmsg("nothing to merge: the revision graph has one head, \"%s\"",
							(const char *) linitial(def->parents))));
			break;
		case DBM_REG_RESTORE_TEXT:
			ereport(NOTICE,
					(errmsg("stored text of revision \"%s\" restored", id),
					 errdetail("It had been changed outside dbmigrate (it hashed to %s); it matches "
							   "its recorded checksum %s again.", st->text_checksum, def->checksum)));
			ereport(LOG,
					(errmsg("dbmigrate: stored text of revision \"%s\" restored by %s",
							id, GetUserNameFromId(rs->caller, false))));
			break;
		case DBM_REG_RESTORE_APPLIED:
			ereport(NOTICE,
					(errmsg("stored definition of revision \"%s\" restored to the text that was applied", id),
					 errdetail("It had been changed outside dbmigrate (checksum %s); it is back at %s.",
							   st->checksum, def->checksum)));
			break;
		case DBM_REG_REDEFINE:
			ereport(NOTICE,
					(errmsg("revision \"%s\" redefined", id),
					 parents_changed ?
					 errdetail("It was not applied; its parents are now %s (were %s) and its checksum %s (was %s).",
							   dbm_join_ids_or(def->parents, "none (a root)"),
							   dbm_join_ids_or(st->parents, "none (a root)"),
							   def->checksum, st->checksum) :
					 errdetail("It was not applied; its new definition replaces the old one (checksum %s, was %s).",
							   def->checksum, st->checksum)));
			ereport(LOG,
					(errmsg("dbmigrate: revision \"%s\" redefined by %s (checksum %s, was %s)",
							id, GetUserNameFromId(rs->caller, false), def->checksum, st->checksum)));
			break;
		case DBM_REG_REFUSE_APPLIED:
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("revision \"%s\" is applied and registered with a different %s",
							id, parents_changed ? "down_revision" : "definition"),
					 parents_changed ?
					 errdetail("Registered parents: %s; given: %s.",
							   dbm_join_ids_or(st->parents, "none (a root)"),
							   dbm_join_ids_or(def->parents, "none (a root)")) :
					 errdetail("Stored checksum %s, given %s; this call changed nothing.",
							   st->checksum, def->checksum),
					 errhint("Put the change in a new revision, or downgrade below \"%s\" before "
							 "registering it again (if its own downgrade cannot run, stamp its "
							 "parent with migrate_stamp(), undo its objects by hand, then register "
							 "it again).", id)));
			break;
		case DBM_REG_REFUSE_CHILDREN:
			ereport(ERROR,
					(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
					 errmsg("cannot change the parents of revision \"%s\": it has children", id),
					 errdetail("Children: %s.", dbm_join_ids(st->children, ", ")),
					 errhint("Unregister the children first.")));
			break;
		case DBM_REG_NEW:
		case DBM_REG_UNCHANGED:
		case DBM_REG_NEW_MESSAGE:
			break;
	}
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
	reg->def.id = dbm_text_arg(fcinfo, 0, "revision");
	reg->def.upgrade_sql = dbm_text_arg(fcinfo, 2, "upgrade_sql");
	reg->def.downgrade_sql = dbm_text_arg_or_null(fcinfo, 3);
	reg->def.message = dbm_text_arg_or_null(fcinfo, 4);
	/* the 1.0 SQL functions have no sixth argument */
	reg->def.transactional = true;
	if (PG_NARGS() > 5)
	{
		if (PG_ARGISNULL(5))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("transactional must not be null")));
		reg->def.transactional = PG_GETARG_BOOL(5);
	}
}

/*
 * migrate_register(revision text, down_revision text, upgrade_sql text,
 *					downgrade_sql text DEFAULT NULL, message text DEFAULT NULL,
 *					transactional boolean DEFAULT true)
 *		RETURNS text
 *
 *		Add a revision whose parent is down_revision (NULL: a root); like
 *		writing an Alembic revision file.  Identical re-registration is a
 *		no-op; a changed definition replaces the stored one only while the
 *		revision is not applied (and, for new parents, has no children).
 *		transactional => false marks a revision whose statements must run
 *		outside a transaction block (CREATE INDEX CONCURRENTLY, VACUUM, ...):
 *		it is run, a statement at a time at top level, only by
 *		migrate_upgrade_stepwise / migrate_downgrade_stepwise; the flag is part
 *		of the checksum.  The 1.0 five-argument form reaches this function too
 *		(transactional = true).
 *		Errors: 22004 null id, upgrade_sql or transactional,
 *		42602/42939/42622 bad id, 22023 comma in down_revision, 23503 unknown
 *		parent, 42P17 self or redundant parent, 42601 syntax error, and for a
 *		transactional revision 2D000 transaction control and 25001
 *		non-transactional statement; 0A000 COPY to/from client, 42710 applied
 *		revision changed, 2BP01 parents changed under children, 55000
 *		transactional => false on a database whose extension is still 1.0.
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
		reg.def.parents = list_make1(parent);
	}
	PG_RETURN_TEXT_P(cstring_to_text(dbm_register(&reg)));
}

/*
 * migrate_register(revision text, down_revisions text[], upgrade_sql text,
 *					downgrade_sql text DEFAULT NULL, message text DEFAULT NULL,
 *					transactional boolean DEFAULT true)
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
		reg.def.parents = dbm_array_to_ids(PG_GETARG_ARRAYTYPE_P(1));
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
	reg.def.message = dbm_text_arg_or_null(fcinfo, 0);
	reg.def.upgrade_sql = dbm_text_arg(fcinfo, 1, "upgrade_sql");
	reg.def.downgrade_sql = dbm_text_arg_or_null(fcinfo, 2);
	reg.def.transactional = true;
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
	reg.def.parents = dbm_array_to_ids(PG_GETARG_ARRAYTYPE_P(0));
	reg.def.message = dbm_text_arg_or_null(fcinfo, 1);
	reg.def.upgrade_sql = "";
	reg.def.downgrade_sql = "";
	reg.def.transactional = true;
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
	DbmCall		call;
	DbmStored  *st;
	DbmGraph   *g;

	dbm_begin_state_change("migrate_unregister", false);
	dbm_call_begin(&call);

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
	g = dbm_graph_load(DBM_READ_LATEST);
	if (dbm_graph_applied(g, dbm_read_current(DBM_READ_LATEST))[dbm_graph_index(g, id)])
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("cannot unregister revision \"%s\": it is applied", id),
				 errhint("Downgrade below it first, e.g. SELECT * FROM dbmigrate.migrate_downgrade(1);")));

	dbm_delete_revision(id);
	dbm_recompute_heads(st->parents);
	if (st->builtin)
		dbm_note_builtin_override(id);

	dbm_call_end(&call);
	PG_RETURN_VOID();
}

/*-------------------------------------------------------------------------
 *
 * diagnostics.c
 *	  Diagnostics of migration steps.
 *
 *	  The drop guard: a step whose SQL drops extension dbmigrate, directly
 *	  or through CASCADE (DROP SCHEMA public CASCADE where pgcrypto lives,
 *	  DROP EXTENSION pgcrypto CASCADE, DROP OWNED, dynamic SQL), would drop
 *	  the tables that record the run; the call then failed later, in its
 *	  bookkeeping, with an error that named no revision.  An object access
 *	  hook refuses the drop as it happens, inside the step, so the error
 *	  names the revision and says what to do.  Statements that can be seen
 *	  to do this from their text are refused at registration already
 *	  (sqlcheck.c).
 *
 *	  The adopt hint: "adopt it with migrate_stamp" is right only when a
 *	  statement collides with an object that existed before the call (a
 *	  schema restored without dbmigrate's data), not with one an earlier
 *	  step of the same call created.  Before each statement of an upgrade
 *	  from base, dbm_creates_existing_object looks up the object the
 *	  statement creates and whether its catalog row was written before the
 *	  call began; the error context callback (runner.c) then adds the hint
 *	  only to an error, never to the NOTICE of an IF NOT EXISTS.
 *
 * Copyright (c) 2026, dbmigrate developers
 *
 * IDENTIFICATION
 *	  src/diagnostics.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "nodes/parsenodes.h"
#include "storage/lockdefs.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "dbmigrate.h"
#include "diagnostics.h"
#include "runner.h"

/* forward declarations */
static void dbm_object_access(ObjectAccessType access, Oid classId, Oid objectId, int subId,
							  void *arg);
static void dbm_refuse_drop(void) pg_attribute_noreturn();
static Oid	dbm_extension_schema(const char *extname);
static bool dbm_written_before(HeapTuple tup, const DbmCallStart *start);
static Oid	dbm_default_creation_namespace(void);
static Oid	dbm_rangevar_namespace(const RangeVar *rv);
static Oid	dbm_names_namespace(List *names, const char **objname);
static bool dbm_relation_existed(const char *name, Oid nsp, const DbmCallStart *start);
static bool dbm_type_existed(const char *name, Oid nsp, const DbmCallStart *start);
static bool dbm_schema_existed(const char *name, const DbmCallStart *start);

/* global variables */
static object_access_hook_type dbm_prev_object_access_hook = NULL;

/*
 * dbm_diagnostics_init
 *		Install the drop guard; called from _PG_init.
 */
void
dbm_diagnostics_init(void)
{
	dbm_prev_object_access_hook = object_access_hook;
	object_access_hook = dbm_object_access;
}

/*
 * dbm_object_access
 *		The drop guard: while a migration step runs, the drop of extension
 *		dbmigrate is refused.  PostgreSQL deletes dependent objects before
 *		the objects they depend on, so whatever route a drop takes to
 *		dbmigrate (its schema, pgcrypto, pgcrypto's schema, its owner), the
 *		extension itself is reached before the route's start: this one check
 *		covers them all, and the statement fails before it completes.
 */
static void
dbm_object_access(ObjectAccessType access, Oid classId, Oid objectId, int subId, void *arg)
{
	if (dbm_prev_object_access_hook)
		dbm_prev_object_access_hook(access, classId, objectId, subId, arg);

	if (access == OAT_DROP && classId == ExtensionRelationId &&
		dbm_running_step(NULL, NULL) &&
		objectId == get_extension_oid("dbmigrate", true))
		dbm_refuse_drop();
}

/*
 * dbm_refuse_drop
 *		The error of the drop guard (55006, like the refusal of DROP
 *		EXTENSION dbmigrate at registration), naming the step.
 */
static void
dbm_refuse_drop(void)
{
	const char *revision = NULL;
	const char *direction = NULL;
	Oid			nsp = dbm_extension_schema("pgcrypto");
	char	   *nspname = OidIsValid(nsp) ? get_namespace_name(nsp) : NULL;

	(void) dbm_running_step(&revision, &direction);
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_IN_USE),
			 errmsg("%s of revision \"%s\" would drop extension \"dbmigrate\"", direction, revision),
			 nspname ?
			 errdetail("A statement of the revision drops, directly or through CASCADE or DROP OWNED, "
					   "what dbmigrate depends on: extension \"pgcrypto\" (which it requires), schema "
					   "\"%s\" (which holds pgcrypto), schema \"dbmigrate\" or the role that owns "
					   "dbmigrate; that would drop dbmigrate's tables, which record this run.",
					   nspname) :
			 errdetail("A statement of the revision drops, directly or through CASCADE or DROP OWNED, "
					   "what dbmigrate depends on; that would drop dbmigrate's tables, which record "
					   "this run."),
			 nspname ?
			 errhint("Drop the revision's own objects by name rather than with CASCADE; to empty schema "
					 "\"%s\", move pgcrypto out of it first: ALTER EXTENSION pgcrypto SET SCHEMA "
					 "<another schema>;", nspname) :
			 errhint("Drop the revision's own objects by name rather than with CASCADE.")));
}

/*
 * dbm_extension_schema
 *		The schema an extension is installed in, or InvalidOid.
 */
static Oid
dbm_extension_schema(const char *extname)
{
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key[1];
	HeapTuple	tup;
	Oid			nsp = InvalidOid;

	ScanKeyInit(&key[0], Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum(extname));
	rel = table_open(ExtensionRelationId, AccessShareLock);
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
		nsp = ((Form_pg_extension) GETSTRUCT(tup))->extnamespace;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return nsp;
}

/*
 * dbm_call_start_mark
 *		Remember the moment a call begins running steps.
 */
void
dbm_call_start_mark(DbmCallStart *start)
{
	start->next_xid = XidFromFullTransactionId(ReadNextFullTransactionId());
	start->cid = GetCurrentCommandId(false);
}

/*
 * dbm_written_before
 *		Whether a catalog row was written before the call began: by a
 *		transaction that had its id by then (committed, as the row is seen),
 *		or by this transaction before the call's first command.  A row of a
 *		transaction that began later (a later step of a call that commits per
 *		step, a subtransaction) or of this call's own commands was not.
 */
static bool
dbm_written_before(HeapTuple tup, const DbmCallStart *start)
{
	TransactionId xmin = HeapTupleHeaderGetXmin(tup->t_data);

	if (!TransactionIdPrecedes(xmin, start->next_xid))
		return false;
	if (TransactionIdIsCurrentTransactionId(xmin))
		return HeapTupleHeaderGetCmin(tup->t_data) < start->cid;
	return true;
}

/*
 * dbm_default_creation_namespace
 *		The schema an unqualified name is created in (the first schema of
 *		search_path that exists), or InvalidOid; raises no error.
 */
static Oid
dbm_default_creation_namespace(void)
{
	List	   *path = fetch_search_path(false);
	Oid			nsp = path != NIL ? linitial_oid(path) : InvalidOid;

	list_free(path);
	return nsp;
}

/*
 * dbm_rangevar_namespace
 *		The schema a relation named rv is created in, or InvalidOid (also for
 *		a temporary relation: a temporary object never predates the session).
 */
static Oid
dbm_rangevar_namespace(const RangeVar *rv)
{
	if (rv == NULL || rv->relpersistence == RELPERSISTENCE_TEMP || rv->catalogname != NULL)
		return InvalidOid;
	if (rv->schemaname != NULL)
		return get_namespace_oid(rv->schemaname, true);
	return dbm_default_creation_namespace();
}

/*
 * dbm_names_namespace
 *		The schema a qualified name list (of a type) is created in, setting
 *		*objname; InvalidOid when it cannot be told without raising an error.
 */
static Oid
dbm_names_namespace(List *names, const char **objname)
{
	if (list_length(names) == 1 && IsA(linitial(names), String))
	{
		*objname = strVal(linitial(names));
		return dbm_default_creation_namespace();
	}
	if (list_length(names) == 2 && IsA(linitial(names), String) && IsA(lsecond(names), String))
	{
		*objname = strVal(lsecond(names));
		return get_namespace_oid(strVal(linitial(names)), true);
	}
	return InvalidOid;
}

static bool
dbm_relation_existed(const char *name, Oid nsp, const DbmCallStart *start)
{
	HeapTuple	tup;
	bool		result = false;

	if (name == NULL || !OidIsValid(nsp))
		return false;
	tup = SearchSysCache2(RELNAMENSP, CStringGetDatum(name), ObjectIdGetDatum(nsp));
	if (HeapTupleIsValid(tup))
	{
		result = dbm_written_before(tup, start);
		ReleaseSysCache(tup);
	}
	return result;
}

static bool
dbm_type_existed(const char *name, Oid nsp, const DbmCallStart *start)
{
	HeapTuple	tup;
	bool		result = false;

	if (name == NULL || !OidIsValid(nsp))
		return false;
	tup = SearchSysCache2(TYPENAMENSP, CStringGetDatum(name), ObjectIdGetDatum(nsp));
	if (HeapTupleIsValid(tup))
	{
		result = dbm_written_before(tup, start);
		ReleaseSysCache(tup);
	}
	return result;
}

static bool
dbm_schema_existed(const char *name, const DbmCallStart *start)
{
	HeapTuple	tup;
	bool		result = false;

	if (name == NULL)
		return false;
	tup = SearchSysCache1(NAMESPACENAME, CStringGetDatum(name));
	if (HeapTupleIsValid(tup))
	{
		result = dbm_written_before(tup, start);
		ReleaseSysCache(tup);
	}
	return result;
}

/*
 * dbm_creates_existing_object
 *		Whether stmt (a raw parse tree) creates a relation, type or schema
 *		whose name is taken by an object that existed before the call began
 *		(see dbm_written_before): the statement is about to fail with
 *		42P07, 42710 or 42P06 on an object the call did not create.  A
 *		relation also takes its name among types (its row type).  False for
 *		IF NOT EXISTS (a NOTICE, not an error), for CREATE OR REPLACE, for
 *		temporary objects, for names it cannot resolve without raising an
 *		error, and for every other statement: no hint is better than a
 *		wrong one.  Call before the statement runs (the lookup reads the
 *		catalogs, which an error callback must not do).
 */
bool
dbm_creates_existing_object(Node *stmt, const DbmCallStart *start)
{
	const RangeVar *rv = NULL;
	List	   *typenames = NIL;
	const char *objname = NULL;
	Oid			nsp;

	switch (nodeTag(stmt))
	{
		case T_CreateStmt:
		case T_CreateForeignTableStmt:
			if (!((CreateStmt *) stmt)->if_not_exists)
				rv = ((CreateStmt *) stmt)->relation;
			break;
		case T_CreateTableAsStmt:
			if (!((CreateTableAsStmt *) stmt)->if_not_exists)
				rv = ((CreateTableAsStmt *) stmt)->into->rel;
			break;
		case T_SelectStmt:
			if (((SelectStmt *) stmt)->intoClause != NULL)
				rv = ((SelectStmt *) stmt)->intoClause->rel;
			break;
		case T_ViewStmt:
			if (!((ViewStmt *) stmt)->replace)
				rv = ((ViewStmt *) stmt)->view;
			break;
		case T_CreateSeqStmt:
			if (!((CreateSeqStmt *) stmt)->if_not_exists)
				rv = ((CreateSeqStmt *) stmt)->sequence;
			break;
		case T_CompositeTypeStmt:
			rv = ((CompositeTypeStmt *) stmt)->typevar;
			break;
		case T_IndexStmt:
			{
				IndexStmt  *is = (IndexStmt *) stmt;
				Oid			relid;

				/* an index goes into its table's schema */
				if (is->if_not_exists || is->idxname == NULL ||
					is->relation == NULL || is->relation->catalogname != NULL)
					return false;
				relid = RangeVarGetRelid(is->relation, NoLock, true);
				if (!OidIsValid(relid))
					return false;
				return dbm_relation_existed(is->idxname, get_rel_namespace(relid), start);
			}
		case T_CreateEnumStmt:
			typenames = ((CreateEnumStmt *) stmt)->typeName;
			break;
		case T_CreateRangeStmt:
			typenames = ((CreateRangeStmt *) stmt)->typeName;
			break;
		case T_CreateDomainStmt:
			typenames = ((CreateDomainStmt *) stmt)->domainname;
			break;
		case T_DefineStmt:
			if (((DefineStmt *) stmt)->kind == OBJECT_TYPE)
				typenames = ((DefineStmt *) stmt)->defnames;
			break;
		case T_CreateSchemaStmt:
			{
				CreateSchemaStmt *cs = (CreateSchemaStmt *) stmt;

				return !cs->if_not_exists && dbm_schema_existed(cs->schemaname, start);
			}
		default:
			break;
	}

	if (rv != NULL)
	{
		nsp = dbm_rangevar_namespace(rv);
		return dbm_relation_existed(rv->relname, nsp, start) ||
			dbm_type_existed(rv->relname, nsp, start);
	}
	if (typenames != NIL)
	{
		nsp = dbm_names_namespace(typenames, &objname);
		return dbm_type_existed(objname, nsp, start);
	}
	return false;
}

/*
 * dbm_reporting_error
 *		Inside an error context callback: whether the report being built is an
 *		error (ERROR or worse), not a notice or warning.  Context callbacks
 *		run for every level, and PostgreSQL offers geterrcode() but no
 *		geterrlevel(), so the level is read from a copy of the report (made
 *		outside ErrorContext, as CopyErrorData requires, and freed at once).
 *		Call only on the rare paths that attach a hint.
 */
bool
dbm_reporting_error(void)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
	ErrorData  *edata = CopyErrorData();
	bool		result = edata->elevel >= ERROR;

	FreeErrorData(edata);
	MemoryContextSwitchTo(old);
	return result;
}

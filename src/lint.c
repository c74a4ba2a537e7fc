/*-------------------------------------------------------------------------
 *
 * lint.c
 *	  migrate_lint(sql): findings about migration SQL that would lock or
 *	  rewrite a busy table, lose data, or break running application code,
 *	  read with the live catalog (actual function volatility, actual casts,
 *	  actual table sizes and indexes) where text-only linters guess.
 *	  Registration applies the same rules per dbmigrate.lint.
 *
 *	  Findings are about the schema as it is now; a table that an earlier,
 *	  not yet applied revision creates is not known here (its size is 0).
 *	  A revision opts out of a rule with a comment anywhere in its text:
 *	  "-- dbmigrate:lint-ignore <rule>[, <rule>...]".
 *
 * Copyright (c) 2026, dbmigrate developers
 *
 * IDENTIFICATION
 *	  src/lint.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "nodes/nodeFuncs.h"
#include "nodes/parsenodes.h"
#include "parser/parse_coerce.h"
#include "parser/parse_type.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "dbmigrate.h"
#include "idlist.h"
#include "lint.h"
#include "sqlcheck.h"

/* The rules: id, the Squawk rule for the same check, the safe pattern */
typedef struct DbmLintRule
{
	const char *id;
	const char *squawk;
	const char *hint;
} DbmLintRule;

static const DbmLintRule dbm_lint_rules[] = {
	{"volatile-default", "adding-field-with-default",
	"Add the column without a default, set the default, then backfill in batches."},
	{"rewriting-type-change", "changing-column-type",
	"Add a column of the new type, backfill it in batches, then switch over."},
	{"set-not-null", "adding-not-nullable-field",
	"Add CHECK (col IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT in a later revision, then SET NOT NULL."},
	{"index-not-concurrently", "require-concurrent-index-creation",
	"Use CREATE INDEX CONCURRENTLY in a revision registered with transactional => false."},
	{"constraint-not-valid", "adding-foreign-key-constraint",
	"Add the constraint NOT VALID, then VALIDATE CONSTRAINT in a later revision."},
	{"drop-table", "ban-drop-table",
	"Make sure no running code uses it, and that its data is backed up or not needed."},
	{"drop-column", "ban-drop-column",
	"Deploy code that no longer uses it first; its data is lost."},
	{"rename", "renaming-table / renaming-column",
	"Running code still uses the old name: add the new one, move the code, then drop the old."},
	{"irreversible", NULL,
	"Give downgrade_sql, or '' for an explicit no-op."},
	{"fk-without-index", NULL,
	"Index the referencing columns, or deletes and updates on the referenced table scan this one."},
};

typedef struct DbmLintState
{
	List	   *findings;		/* DbmLintFinding * */
	List	   *ignored;		/* rule ids */
	int			statement;
	List	   *new_indexes;	/* DbmNewIndex * of this text, for
								 * fk-without-index */
	List	   *pending_fks;	/* DbmPendingFk *, checked at the end */
} DbmLintState;

/* An index this text creates: its table and leading columns */
typedef struct DbmNewIndex
{
	const char *relname;
	List	   *columns;		/* String */
} DbmNewIndex;

typedef struct DbmPendingFk
{
	int			statement;
	RangeVar   *rel;
	List	   *attrs;			/* String column names */
	char	   *name;
} DbmPendingFk;

static void dbm_lint_statement(Node *stmt, const char *text, int len, void *arg);
static void dbm_lint_add(DbmLintState *st, const char *rule, const char *fmt,...) pg_attribute_printf(3, 4);
static const DbmLintRule *dbm_lint_rule(const char *id);
static List *dbm_lint_ignored(const char *sql);
static bool dbm_volatile_walker(Node *node, void *context);
static char *dbm_table_size_text(Oid relid, int64 *bytes);
static void dbm_lint_alter(DbmLintState *st, AlterTableStmt *stmt);
static void dbm_lint_column_default(DbmLintState *st, Oid relid, const char *table, ColumnDef *def);
static bool dbm_has_not_null_check(Oid relid, const char *column);
static bool dbm_columns_indexed(Oid relid, List *attrs, List *new_indexes, RangeVar *rel);
static bool dbm_large(int64 bytes);
static void dbm_lint_new_index(DbmLintState *st, const char *relname, List *columns);
static void dbm_lint_constraint_index(DbmLintState *st, const char *relname, Constraint *c,
									  const char *column);

/* GUCs (dbmigrate.c) */
int			dbmigrate_lint = DBM_LINT_WARN;
int			dbmigrate_lint_large_table = 10 * 1024; /* kB */

/* SQL-callable functions */
PG_FUNCTION_INFO_V1(dbmigrate_migrate_lint);

static const DbmLintRule *
dbm_lint_rule(const char *id)
{
	int			i;

	for (i = 0; i < lengthof(dbm_lint_rules); i++)
		if (strcmp(dbm_lint_rules[i].id, id) == 0)
			return &dbm_lint_rules[i];
	elog(ERROR, "unknown lint rule \"%s\"", id);
	return NULL;				/* keep compiler quiet */
}

/*
 * dbm_lint_add
 *		Record a finding of rule for the current statement, unless the text
 *		opted out of the rule.
 */
static void
dbm_lint_add(DbmLintState *st, const char *rule, const char *fmt,...)
{
	DbmLintFinding *f;
	StringInfoData buf;
	va_list		args;

	if (dbm_list_has_rule(st->ignored, rule))
		return;
	initStringInfo(&buf);
	for (;;)
	{
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&buf, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}
	f = palloc0(sizeof(DbmLintFinding));
	f->rule = dbm_lint_rule(rule)->id;
	f->severity = "warning";
	f->statement = st->statement;
	f->message = buf.data;
	f->hint = dbm_lint_rule(rule)->hint;
	st->findings = lappend(st->findings, f);
}

/*
 * dbm_list_has_rule
 *		Whether a list of rule ids holds rule ("all" matches every rule).
 */
bool
dbm_list_has_rule(List *rules, const char *rule)
{
	ListCell   *lc;

	foreach(lc, rules)
	{
		if (strcmp((const char *) lfirst(lc), rule) == 0 ||
			strcmp((const char *) lfirst(lc), "all") == 0)
			return true;
	}
	return false;
}

/*
 * dbm_lint_ignored
 *		The rules a text opts out of: "-- dbmigrate:lint-ignore a, b".
 */
static List *
dbm_lint_ignored(const char *sql)
{
	const char *marker = "dbmigrate:lint-ignore";
	const char *p = sql;
	List	   *result = NIL;

	while ((p = strstr(p, marker)) != NULL)
	{
		const char *end;
		char	   *list;
		char	   *tok;
		char	   *save;

		p += strlen(marker);
		end = strpbrk(p, "\r\n");
		list = end ? pnstrdup(p, end - p) : pstrdup(p);
		for (tok = strtok_r(list, " ,\t*/", &save); tok; tok = strtok_r(NULL, " ,\t*/", &save))
			result = lappend(result, pstrdup(tok));
	}
	return result;
}

/*
 * dbm_table_size_text
 *		"12 MB" for a table (heap and TOAST), its size in *bytes.
 */
static char *
dbm_table_size_text(Oid relid, int64 *bytes)
{
	*bytes = DatumGetInt64(DirectFunctionCall1(pg_table_size, ObjectIdGetDatum(relid)));
	return text_to_cstring(DatumGetTextPP(DirectFunctionCall1(pg_size_pretty,
															  Int64GetDatum(*bytes))));
}

static bool
dbm_large(int64 bytes)
{
	return bytes >= (int64) dbmigrate_lint_large_table * 1024;
}

/*
 * dbm_volatile_walker
 *		Whether a raw expression calls a volatile function: every function of
 *		that name is looked up (the argument types are not known before the
 *		expression is analyzed), and nextval and the like count.
 */
static bool
dbm_volatile_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, FuncCall))
	{
		FuncCandidateList c = DBM_FUNCNAME_CANDIDATES(((FuncCall *) node)->funcname);

		for (; c != NULL; c = c->next)
			if (func_volatile(c->oid) == PROVOLATILE_VOLATILE)
				return true;
	}
	return raw_expression_tree_walker(node, dbm_volatile_walker, context);
}

/*
 * dbm_lint_column_default
 *		A column added with a volatile default (or a serial type): the table
 *		is rewritten under an ACCESS EXCLUSIVE lock.
 */
static void
dbm_lint_column_default(DbmLintState *st, Oid relid, const char *table, ColumnDef *def)
{
	ListCell   *lc;
	bool		rewrite = false;
	const char *why = NULL;
	int64		bytes;
	char	   *size;

	if (def->typeName != NULL && def->typeName->names != NIL)
	{
		const char *tname = strVal(llast(def->typeName->names));

		if (strcmp(tname, "serial") == 0 || strcmp(tname, "bigserial") == 0 ||
			strcmp(tname, "smallserial") == 0 || strcmp(tname, "serial4") == 0 ||
			strcmp(tname, "serial8") == 0 || strcmp(tname, "serial2") == 0)
		{
			rewrite = true;
			why = "a serial type (its default calls nextval)";
		}
	}
	foreach(lc, def->constraints)
	{
		Constraint *c = lfirst_node(Constraint, lc);

		if (c->contype == CONSTR_DEFAULT && dbm_volatile_walker(c->raw_expr, NULL))
		{
			rewrite = true;
			why = "a volatile default";
		}
	}
	if (!rewrite)
		return;
	size = dbm_table_size_text(relid, &bytes);
	dbm_lint_add(st, "volatile-default",
				 "column \"%s\" is added to table %s (%s) with %s: the table is rewritten under an ACCESS EXCLUSIVE lock",
				 def->colname, table, size, why);
}

/*
 * dbm_has_not_null_check
 *		Whether a table has a validated CHECK (column IS NOT NULL), which lets
 *		SET NOT NULL skip its scan.
 */
static bool
dbm_has_not_null_check(Oid relid, const char *column)
{
	Relation	rel = table_open(relid, AccessShareLock);
	TupleConstr *constr = RelationGetDescr(rel)->constr;
	char	   *want = psprintf("(%s IS NOT NULL)", quote_identifier(column));
	bool		found = false;
	int			i;

	for (i = 0; constr != NULL && i < constr->num_check && !found; i++)
	{
		ConstrCheck *cc = &constr->check[i];
		char	   *def;

		if (!cc->ccvalid)
			continue;
		def = TextDatumGetCString(DirectFunctionCall2(pg_get_expr,
													  CStringGetTextDatum(cc->ccbin),
													  ObjectIdGetDatum(relid)));
		found = strcmp(def, want) == 0;
	}
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * dbm_columns_indexed
 *		Whether an index of the table (existing, or created by this text)
 *		starts with the given columns, in any order.
 */
static bool
dbm_columns_indexed(Oid relid, List *attrs, List *new_indexes, RangeVar *rel)
{
	int			n = list_length(attrs);
	ListCell   *lc;

	if (OidIsValid(relid))
	{
		Relation	r = table_open(relid, AccessShareLock);
		List	   *indexes = RelationGetIndexList(r);

		foreach(lc, indexes)
		{
			HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(lc)));
			Form_pg_index ix;
			int			k;
			int			matched = 0;

			if (!HeapTupleIsValid(tup))
				continue;
			ix = (Form_pg_index) GETSTRUCT(tup);
			for (k = 0; k < n && k < ix->indnkeyatts; k++)
			{
				char	   *col = get_attname(relid, ix->indkey.values[k], true);
				ListCell   *la;

				foreach(la, attrs)
				{
					if (col && strcmp(col, strVal(lfirst(la))) == 0)
						matched++;
				}
			}
			ReleaseSysCache(tup);
			if (matched == n)
			{
				table_close(r, AccessShareLock);
				return true;
			}
		}
		table_close(r, AccessShareLock);
	}
	foreach(lc, new_indexes)
	{
		DbmNewIndex *ni = (DbmNewIndex *) lfirst(lc);
		int			matched = 0;
		int			k = 0;
		ListCell   *le;

		if (strcmp(ni->relname, rel->relname) != 0)
			continue;
		foreach(le, ni->columns)
		{
			ListCell   *la;

			if (k++ >= n)
				break;
			foreach(la, attrs)
			{
				if (strcmp(strVal(lfirst(le)), strVal(lfirst(la))) == 0)
					matched++;
			}
		}
		if (matched == n)
			return true;
	}
	return false;
}

/*
 * dbm_lint_new_index
 *		Remember an index this text creates on relname (leading columns).
 */
static void
dbm_lint_new_index(DbmLintState *st, const char *relname, List *columns)
{
	DbmNewIndex *ni = palloc0(sizeof(DbmNewIndex));

	ni->relname = relname;
	ni->columns = columns;
	st->new_indexes = lappend(st->new_indexes, ni);
}

/*
 * dbm_lint_constraint_index
 *		A PRIMARY KEY or UNIQUE constraint creates an index (column: the
 *		column it is declared on, for a column constraint); a FOREIGN KEY
 *		is remembered, to be checked for an index at the end.
 */
static void
dbm_lint_constraint_index(DbmLintState *st, const char *relname, Constraint *c, const char *column)
{
	List	   *cols = c->keys;

	if (c->contype == CONSTR_PRIMARY || c->contype == CONSTR_UNIQUE)
	{
		if (column != NULL)
			cols = list_make1(makeString(pstrdup(column)));
		if (cols != NIL)
			dbm_lint_new_index(st, relname, cols);
	}
}

/*
 * dbm_lint_alter
 *		The rules about ALTER TABLE subcommands.
 */
static void
dbm_lint_alter(DbmLintState *st, AlterTableStmt *stmt)
{
	Oid			relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	const char *table = stmt->relation->relname;
	ListCell   *lc;

	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);
		int64		bytes = 0;
		char	   *size = OidIsValid(relid) ? dbm_table_size_text(relid, &bytes) : "new";

		switch (cmd->subtype)
		{
			case AT_AddColumn:
				if (OidIsValid(relid))
					dbm_lint_column_default(st, relid, table, (ColumnDef *) cmd->def);
				break;
			case AT_AlterColumnType:
				if (OidIsValid(relid))
				{
					ColumnDef  *def = (ColumnDef *) cmd->def;
					AttrNumber	att = get_attnum(relid, cmd->name);
					Oid			oldtype;
					int32		oldmod;
					Type		newtyp;
					Oid			newtype;
					int32		newmod;
					Oid			collid;

					if (att == InvalidAttrNumber)
						break;
					get_atttypetypmodcoll(relid, att, &oldtype, &oldmod, &collid);
					newtyp = LookupTypeName(NULL, def->typeName, &newmod, true);
					if (newtyp == NULL)
						break;	/* a type this text creates: not known yet */
					newtype = typeTypeId(newtyp);
					ReleaseSysCache(newtyp);

					/*
					 * same type, or binary coercible and the modifier not
					 * narrowed
					 */
					if (def->raw_default == NULL &&
						(oldtype == newtype || IsBinaryCoercible(oldtype, newtype)) &&
						(newmod == -1 || (oldmod != -1 && newmod >= oldmod)))
						break;
					dbm_lint_add(st, "rewriting-type-change",
								 "column \"%s\" of table %s (%s) changes type from %s to %s: the table is rewritten under an ACCESS EXCLUSIVE lock",
								 cmd->name, table, size, format_type_with_typemod(oldtype, oldmod),
								 format_type_with_typemod(newtype, newmod));
				}
				break;
			case AT_SetNotNull:
				if (OidIsValid(relid) && !dbm_has_not_null_check(relid, cmd->name))
					dbm_lint_add(st, "set-not-null",
								 "SET NOT NULL on column \"%s\" of table %s (%s) scans the whole table under an ACCESS EXCLUSIVE lock",
								 cmd->name, table, size);
				break;
			case AT_AddConstraint:
				{
					Constraint *c = (Constraint *) cmd->def;

					if (!IsA(c, Constraint))
						break;
					dbm_lint_constraint_index(st, table, c, NULL);
					if ((c->contype == CONSTR_FOREIGN || c->contype == CONSTR_CHECK) &&
						!c->skip_validation && OidIsValid(relid) && dbm_large(bytes))
						dbm_lint_add(st, "constraint-not-valid",
									 "%s constraint%s%s on table %s (%s) is validated while the table is locked",
									 c->contype == CONSTR_FOREIGN ? "foreign key" : "check",
									 c->conname ? " " : "", c->conname ? c->conname : "", table, size);
					if (c->contype == CONSTR_FOREIGN)
					{
						DbmPendingFk *fk = palloc0(sizeof(DbmPendingFk));

						fk->statement = st->statement;
						fk->rel = stmt->relation;
						fk->attrs = c->fk_attrs;
						fk->name = c->conname;
						st->pending_fks = lappend(st->pending_fks, fk);
					}
				}
				break;
			case AT_DropColumn:
				dbm_lint_add(st, "drop-column", "column \"%s\" of table %s (%s) is dropped with its data",
							 cmd->name, table, size);
				break;
			default:
				break;
		}
	}
}

/*
 * dbm_lint_statement
 *		A dbm_foreach_statement callback: the rules for one statement.
 */
static void
dbm_lint_statement(Node *stmt, const char *text, int len, void *arg)
{
	DbmLintState *st = (DbmLintState *) arg;

	CHECK_FOR_INTERRUPTS();
	st->statement++;
	switch (nodeTag(stmt))
	{
		case T_AlterTableStmt:
			if (((AlterTableStmt *) stmt)->objtype == OBJECT_TABLE)
				dbm_lint_alter(st, (AlterTableStmt *) stmt);
			break;
		case T_IndexStmt:
			{
				IndexStmt  *is = (IndexStmt *) stmt;
				Oid			relid = RangeVarGetRelid(is->relation, NoLock, true);
				int64		bytes;
				char	   *size;

				{
					List	   *cols = NIL;
					ListCell   *le;

					foreach(le, is->indexParams)
					{
						IndexElem  *ie = lfirst_node(IndexElem, le);

						if (ie->name == NULL)
							break;	/* an expression ends the usable prefix */
						cols = lappend(cols, makeString(ie->name));
					}
					dbm_lint_new_index(st, is->relation->relname, cols);
				}
				if (is->concurrent || !OidIsValid(relid) ||
					get_rel_relkind(relid) != RELKIND_RELATION)
					break;
				size = dbm_table_size_text(relid, &bytes);
				if (dbm_large(bytes))
					dbm_lint_add(st, "index-not-concurrently",
								 "CREATE INDEX on table %s (%s) blocks writes to it until the index is built",
								 is->relation->relname, size);
			}
			break;
		case T_DropStmt:
			{
				DropStmt   *ds = (DropStmt *) stmt;
				ListCell   *lc;

				if (ds->removeType != OBJECT_TABLE)
					break;
				foreach(lc, ds->objects)
				{
					RangeVar   *rv = makeRangeVarFromNameList((List *) lfirst(lc));
					Oid			relid = RangeVarGetRelid(rv, NoLock, true);
					int64		bytes;

					dbm_lint_add(st, "drop-table", "table %s (%s) is dropped with its data",
								 rv->relname,
								 OidIsValid(relid) ? dbm_table_size_text(relid, &bytes) : "not found now");
				}
			}
			break;
		case T_RenameStmt:
			{
				RenameStmt *rs = (RenameStmt *) stmt;

				if (rs->renameType == OBJECT_TABLE || rs->renameType == OBJECT_VIEW ||
					rs->renameType == OBJECT_MATVIEW)
					dbm_lint_add(st, "rename", "relation %s is renamed to %s",
								 rs->relation->relname, rs->newname);
				else if (rs->renameType == OBJECT_COLUMN)
					dbm_lint_add(st, "rename", "column \"%s\" of %s is renamed to \"%s\"",
								 rs->subname, rs->relation->relname, rs->newname);
			}
			break;
		case T_CreateStmt:
			{
				CreateStmt *cs = (CreateStmt *) stmt;
				ListCell   *lc;

				/* foreign keys declared with the table need their index too */
				foreach(lc, cs->tableElts)
				{
					Node	   *elt = lfirst(lc);
					ListCell   *lk;

					if (IsA(elt, Constraint))
						dbm_lint_constraint_index(st, cs->relation->relname, (Constraint *) elt, NULL);
					if (IsA(elt, Constraint) && ((Constraint *) elt)->contype == CONSTR_FOREIGN)
					{
						DbmPendingFk *fk = palloc0(sizeof(DbmPendingFk));

						fk->statement = st->statement;
						fk->rel = cs->relation;
						fk->attrs = ((Constraint *) elt)->fk_attrs;
						fk->name = ((Constraint *) elt)->conname;
						st->pending_fks = lappend(st->pending_fks, fk);
					}
					if (!IsA(elt, ColumnDef))
						continue;
					foreach(lk, ((ColumnDef *) elt)->constraints)
					{
						Constraint *c = lfirst_node(Constraint, lk);

						dbm_lint_constraint_index(st, cs->relation->relname, c,
												  ((ColumnDef *) elt)->colname);
						if (c->contype == CONSTR_FOREIGN)
						{
							DbmPendingFk *fk = palloc0(sizeof(DbmPendingFk));

							fk->statement = st->statement;
							fk->rel = cs->relation;
							fk->attrs = list_make1(makeString(((ColumnDef *) elt)->colname));
							fk->name = c->conname;
							st->pending_fks = lappend(st->pending_fks, fk);
						}
					}
				}
			}
			break;
		default:
			break;
	}
}

/*
 * dbm_lint
 *		The findings for a migration text (DbmLintFinding *, in statement
 *		order).  downgrade_missing adds the irreversible rule (registration
 *		knows; migrate_lint does not).
 */
List *
dbm_lint(const char *sql, bool downgrade_missing)
{
	DbmLintState st;
	ListCell   *lc;
	int			nestlevel;

	memset(&st, 0, sizeof(st));
	st.ignored = dbm_lint_ignored(sql);

	nestlevel = NewGUCNestLevel();
	dbm_guc_set("standard_conforming_strings", "on", PGC_USERSET);
	dbm_foreach_statement(sql, "(lint)", "upgrade", dbm_lint_statement, &st, NULL);
	AtEOXact_GUC(true, nestlevel);

	foreach(lc, st.pending_fks)
	{
		DbmPendingFk *fk = (DbmPendingFk *) lfirst(lc);
		Oid			relid = RangeVarGetRelid(fk->rel, NoLock, true);

		if (fk->attrs == NIL || dbm_columns_indexed(relid, fk->attrs, st.new_indexes, fk->rel))
			continue;
		st.statement = fk->statement;
		dbm_lint_add(&st, "fk-without-index",
					 "foreign key%s%s on %s (%s) has no index on its columns",
					 fk->name ? " " : "", fk->name ? fk->name : "", fk->rel->relname,
					 dbm_join_strings(fk->attrs));
	}
	if (downgrade_missing)
	{
		st.statement = 0;
		dbm_lint_add(&st, "irreversible", "the revision has no downgrade_sql: it can never be downgraded");
	}
	return st.findings;
}

/*
 * dbm_join_strings
 *		"a, b" from a list of String nodes.
 */
char *
dbm_join_strings(List *strings)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, strings)
		appendStringInfo(&buf, "%s%s", buf.len ? ", " : "", strVal(lfirst(lc)));
	return buf.data;
}

/*
 * dbm_lint_registration
 *		Apply dbmigrate.lint to a revision being registered: off, warn (a
 *		WARNING per finding), or error (42P17 naming the first finding and
 *		counting the others).
 */
void
dbm_lint_registration(const char *id, const char *upgrade_sql, const char *downgrade_sql)
{
	List	   *findings;
	ListCell   *lc;

	if (dbmigrate_lint == DBM_LINT_OFF)
		return;
	findings = dbm_lint(upgrade_sql, downgrade_sql == NULL);
	if (findings == NIL)
		return;
	if (dbmigrate_lint == DBM_LINT_ERROR)
	{
		DbmLintFinding *f = (DbmLintFinding *) linitial(findings);

		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("revision \"%s\": %s [%s]", id, f->message, f->rule),
				 list_length(findings) > 1 ?
				 errdetail_plural("%d more finding: see SELECT * FROM dbmigrate.migrate_lint(<upgrade_sql>).",
								  "%d more findings: see SELECT * FROM dbmigrate.migrate_lint(<upgrade_sql>).",
								  list_length(findings) - 1, list_length(findings) - 1) : 0,
				 errhint("%s Or add \"-- dbmigrate:lint-ignore %s\" to the revision, or set dbmigrate.lint to warn.",
						 f->hint, f->rule)));
	}
	foreach(lc, findings)
	{
		DbmLintFinding *f = (DbmLintFinding *) lfirst(lc);

		ereport(WARNING,
				(errmsg("revision \"%s\": %s [%s]", id, f->message, f->rule),
				 errhint("%s", f->hint)));
	}
}

/*
 * migrate_lint(sql text)
 *		RETURNS TABLE(rule text, severity text, statement int, message text, hint text)
 *
 *		The linter's findings for a migration text, with the live catalog
 *		(Squawk's checks, exact where it guesses; see README for the rules).
 *		Errors: 22004 null, 42601 syntax error.
 */
Datum
dbmigrate_migrate_lint(PG_FUNCTION_ARGS)
{
	char	   *sql = dbm_text_arg(fcinfo, 0, "sql");
	TupleDesc	desc;
	Tuplestorestate *store = dbm_init_srf(fcinfo, &desc);
	ListCell   *lc;

	foreach(lc, dbm_lint(sql, false))
	{
		DbmLintFinding *f = (DbmLintFinding *) lfirst(lc);
		Datum		values[5];
		bool		nulls[5] = {false, false, f->statement == 0, false, false};

		values[0] = CStringGetTextDatum(f->rule);
		values[1] = CStringGetTextDatum(f->severity);
		values[2] = Int32GetDatum(f->statement);
		values[3] = CStringGetTextDatum(f->message);
		values[4] = CStringGetTextDatum(f->hint);
		tuplestore_putvalues(store, desc, values, nulls);
	}
	return (Datum) 0;
}

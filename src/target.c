/*-------------------------------------------------------------------------
 *
 * target.c
 *	  The one parser of targets.  A target string is parsed into a
 *	  DbmTarget once, without reading anything; each operation accepts some
 *	  kinds (dbm_target_ops) and dbm_target_refuse raises the error for the
 *	  others.  dbm_target_position then names the revision a target means in
 *	  a loaded graph.
 *
 *	  Targets, as in Alembic: "head", "heads", "base", a revision id, a
 *	  unique prefix of at least DBMIGRATE_PREFIX_MINLEN characters, "+N",
 *	  "-N" and "<revision>+N".  Keywords are lower case; as no revision id
 *	  may be a keyword in any case (dbm_check_revision_id), "HEAD" is refused
 *	  with a hint instead of being looked up.
 *
 * Copyright (c) 2026, dbmigrate developers
 *
 * IDENTIFICATION
 *	  src/target.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "miscadmin.h"

#include "dbmigrate.h"
#include "idlist.h"
#include "target.h"

/* What each operation accepts, how its targets are named, and its usual forms */
typedef struct DbmTargetOpInfo
{
	const char *noun;			/* "\"x\" is not <noun>" */
	int			accepts;		/* DbmTargetKind bits */
	const char *forms;			/* hint for anything else */
} DbmTargetOpInfo;

static const DbmTargetOpInfo dbm_target_ops[] = {
	[DBM_OP_UPGRADE] = {"an upgrade target",
		DBM_TARGET_HEAD | DBM_TARGET_HEADS | DBM_TARGET_REVISION | DBM_TARGET_REVISION_PLUS |
		DBM_TARGET_FORWARD,
	"Name a revision, \"head\", \"heads\", \"+N\" or \"<revision>+N\"."},
	[DBM_OP_DOWNGRADE] = {"a downgrade target",
		DBM_TARGET_HEAD | DBM_TARGET_BASE | DBM_TARGET_REVISION | DBM_TARGET_REVISION_PLUS |
		DBM_TARGET_BACKWARD,
	"Name a revision, \"-N\" or \"base\"."},
	[DBM_OP_STAMP] = {"a stamp target",
		DBM_TARGET_HEAD | DBM_TARGET_HEADS | DBM_TARGET_BASE | DBM_TARGET_REVISION |
		DBM_TARGET_REVISION_PLUS,
	"Name a revision, \"head\", \"heads\" or \"base\"."},
	[DBM_OP_SHOW] = {"a revision to show",
		DBM_TARGET_HEAD | DBM_TARGET_REVISION | DBM_TARGET_REVISION_PLUS,
	"Name one revision: an id, a unique prefix, \"head\" or \"<revision>+N\"."},
	[DBM_OP_MERGE] = {"a revision to merge",
		DBM_TARGET_HEADS | DBM_TARGET_REVISION,
	"List revision ids or unique prefixes, or \"heads\" for every head."},
	[DBM_OP_REVISION] = {"a parent", DBM_TARGET_HEAD, ""},
};

static const char *const dbm_target_keywords[] = {"head", "heads", "base"};

static void dbm_target_refuse(const DbmTarget *t) pg_attribute_noreturn();
static int	dbm_parse_count(const char *s, const char *target);
static int	dbm_target_resolve(DbmGraph *g, const DbmTarget *t, const char *id);
static int	dbm_target_walk(DbmGraph *g, const DbmTarget *t, int idx);

/*
 * dbm_target_refuse
 *		The error for a target its operation does not accept (22023), with a
 *		hint pointing at the operation that does take it where there is one.
 */
static void
dbm_target_refuse(const DbmTarget *t)
{
	const DbmTargetOpInfo *info = &dbm_target_ops[t->op];
	const char *keyword = NULL;
	int			i;

	for (i = 0; i < lengthof(dbm_target_keywords); i++)
		if (pg_strcasecmp(t->text, dbm_target_keywords[i]) == 0)
			keyword = dbm_target_keywords[i];

	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("\"%s\" is not %s", t->text, info->noun),
			 t->text[0] == '\0' ? errdetail("The target is empty.") :
			 keyword && strcmp(t->text, keyword) != 0 ?
			 errdetail("Target keywords are lower case; no revision id can be \"%s\".", t->text) : 0,
			 t->kind == DBM_TARGET_INVALID && keyword ?
			 errhint("Write \"%s\".", keyword) :
			 t->op == DBM_OP_UPGRADE && t->kind == DBM_TARGET_BASE ?
			 errhint("To undo every revision, call migrate_downgrade('base').") :
			 t->op == DBM_OP_UPGRADE && t->kind == DBM_TARGET_BACKWARD ?
			 errhint("To move back, call migrate_downgrade('%s').", t->text) :
			 t->op == DBM_OP_DOWNGRADE && t->kind == DBM_TARGET_FORWARD ?
			 errhint("To move forward, call migrate_upgrade('%s').", t->text) :
			 t->op == DBM_OP_MERGE && t->kind == DBM_TARGET_HEAD ?
			 errhint("Use \"heads\" to merge every head.") :
			 errhint("%s", info->forms)));
	pg_unreachable();
}

/*
 * dbm_parse_count
 *		The N of a relative target ("+N", "-N", "rev+N"): a positive integer
 *		(22023 otherwise).
 */
static int
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
 * dbm_target_parse
 *		Parse text as a target of op; refuse it (22023) unless op accepts its
 *		kind.  Reads nothing: whether a revision exists is dbm_target_position's
 *		question.
 */
DbmTarget
dbm_target_parse(const char *text, DbmTargetOp op)
{
	DbmTarget	t;
	const char *plus = strrchr(text, '+');
	int			i;

	memset(&t, 0, sizeof(t));
	t.text = text;

	t.op = op;

	if (strcmp(text, "head") == 0)
		t.kind = DBM_TARGET_HEAD;
	else if (strcmp(text, "heads") == 0)
		t.kind = DBM_TARGET_HEADS;
	else if (strcmp(text, "base") == 0)
		t.kind = DBM_TARGET_BASE;
	else if (text[0] == '\0')
		t.kind = DBM_TARGET_INVALID;
	else if (text[0] == '+' || text[0] == '-')
	{
		t.kind = text[0] == '+' ? DBM_TARGET_FORWARD : DBM_TARGET_BACKWARD;

		/* the kind first: "-1" given to upgrade is refused as a backward move */
		if ((dbm_target_ops[op].accepts & t.kind) == 0)
			dbm_target_refuse(&t);
		t.steps = dbm_parse_count(text +1, text);
	}
	else if (plus != NULL)
	{
		t.kind = DBM_TARGET_REVISION_PLUS;
		if ((dbm_target_ops[op].accepts & t.kind) == 0)
			dbm_target_refuse(&t);
		t.steps = dbm_parse_count(plus + 1, text);
		t.revision = pnstrdup(text, plus - text);
		if (strcmp(t.revision, "head") == 0)
			t.revision = NULL;
	}
	else
	{
		t.kind = DBM_TARGET_REVISION;
		for (i = 0; i < lengthof(dbm_target_keywords); i++)
			if (pg_strcasecmp(text, dbm_target_keywords[i]) == 0)
				t.kind = DBM_TARGET_INVALID;
		t.revision = text;
	}

	if ((dbm_target_ops[op].accepts & t.kind) == 0)
		dbm_target_refuse(&t);
	return t;
}

/*
 * dbm_target_steps_back
 *		The target of migrate_downgrade(steps integer): "-steps".
 */
DbmTarget
dbm_target_steps_back(int steps)
{
	DbmTarget	t;

	memset(&t, 0, sizeof(t));
	t.text = psprintf("-%d", steps);
	t.op = DBM_OP_DOWNGRADE;
	t.kind = DBM_TARGET_BACKWARD;
	t.steps = steps;
	return t;
}

/*
 * dbm_require_single_head
 *		Refuse (21000) when the graph has several heads and op needs the one
 *		head: the target "head", or migrate_revision's parent.  Names the
 *		heads and hints at a merge.
 */
void
dbm_require_single_head(List *heads, DbmTargetOp op)
{
	if (list_length(heads) <= 1)
		return;
	if (op == DBM_OP_REVISION)
		ereport(ERROR,
				(errcode(ERRCODE_CARDINALITY_VIOLATION),
				 errmsg("cannot choose a parent: the revision graph has %d heads",
						list_length(heads)),
				 errdetail("Heads: %s.", dbm_join_ids(heads, ", ")),
				 errhint("Join them first with SELECT dbmigrate.migrate_merge('{heads}'); "
						 "or use migrate_register() with an explicit down_revision.")));
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
 *		The one head of the graph (see dbm_require_single_head); -1 when
 *		nothing is registered.
 */
int
dbm_graph_single_head(DbmGraph *g, DbmTargetOp op)
{
	List	   *heads = dbm_graph_heads(g);

	dbm_require_single_head(heads, op);
	return heads == NIL ? -1 : dbm_graph_index(g, (const char *) linitial(heads));
}

/*
 * dbm_target_resolve
 *		Index of the revision named by an exact id or, failing that, by a
 *		unique prefix of at least DBMIGRATE_PREFIX_MINLEN characters.
 *		42704 when nothing matches, 21000 (listing the candidates) when a
 *		prefix matches several revisions.
 */
static int
dbm_target_resolve(DbmGraph *g, const DbmTarget *t, const char *id)
{
	int			idx = dbm_graph_find(g, id);
	size_t		len = strlen(id);
	List	   *matches = NIL;
	int			i;
	bool		number = strspn(id, "0123456789") == len;
	int			n = number && len <= 9 ? atoi(id) : 0;

	if (idx >= 0)
		return idx;

	if (pg_mbstrlen(id) >= DBMIGRATE_PREFIX_MINLEN)
	{
		for (i = 0; i < g->n; i++)
		{
			CHECK_FOR_INTERRUPTS();
			if (strncmp(g->nodes[i].id, id, len) == 0)
				matches = lappend_int(matches, i);
		}
	}

	if (list_length(matches) == 1)
		return linitial_int(matches);

	if (matches != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_CARDINALITY_VIOLATION),
				 errmsg("revision prefix \"%s\" is ambiguous", id),
				 errdetail("It matches %d revisions: %s.", list_length(matches),
						   dbm_join_ids(dbm_graph_ids(g, matches), ", ")),
				 errhint("Give more characters of the revision id.")));

	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("revision \"%s\" is not registered", id),
			 pg_mbstrlen(id) < DBMIGRATE_PREFIX_MINLEN ?
			 errdetail("A prefix must be at least %d characters long to be used as a target.",
					   DBMIGRATE_PREFIX_MINLEN) : 0,
			 n > 0 && t->op == DBM_OP_UPGRADE ?
			 errhint("A number is read as a revision id; moving up %d is written \"+%d\".", n, n) :
			 n > 0 && t->op == DBM_OP_DOWNGRADE ?
			 errhint("A number is read as a revision id; moving down %d is written \"-%d\".", n, n) :
			 errhint("See the registered revisions with SELECT * FROM dbmigrate.migrate_history();")));
	return -1;					/* keep compiler quiet */
}

/*
 * dbm_target_walk
 *		From revision idx, t->steps moves along the unique child ("<revision>+N").
 */
static int
dbm_target_walk(DbmGraph *g, const DbmTarget *t, int idx)
{
	int			s;

	for (s = 0; s < t->steps; s++)
	{
		DbmNode    *node = &g->nodes[idx];

		CHECK_FOR_INTERRUPTS();
		if (node->nchildren == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("relative target \"%s\" goes past a head", t->text),
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
							t->text, node->id),
					 errdetail("Candidates: %s.", dbm_join_ids(dbm_graph_ids(g, kids), ", ")),
					 errhint("Name the revision to move to.")));
		}
		idx = node->children[0];
	}
	return idx;
}

/*
 * dbm_target_position
 *		The one revision a target of kind HEAD, REVISION or REVISION_PLUS
 *		names in g.  42704 when nothing is registered or the revision is
 *		unknown; 21000 for several heads, an ambiguous prefix or a fork on a
 *		"+N" walk; 22023 for a walk past a head.
 */
int
dbm_target_position(DbmGraph *g, const DbmTarget *t)
{
	int			idx;

	Assert(t->kind & (DBM_TARGET_HEAD | DBM_TARGET_REVISION | DBM_TARGET_REVISION_PLUS));
	if (t->kind == DBM_TARGET_HEAD ||
		(t->kind == DBM_TARGET_REVISION_PLUS && t->revision == NULL))
	{
		idx = dbm_graph_single_head(g, t->op);
		if (idx < 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("no revision is registered"),
					 errhint("Register one with migrate_register() or migrate_revision().")));
	}
	else
		idx = dbm_target_resolve(g, t, t->revision);
	return t->kind == DBM_TARGET_REVISION_PLUS ? dbm_target_walk(g, t, idx) : idx;
}

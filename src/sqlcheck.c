/*-------------------------------------------------------------------------
 *
 * sqlcheck.c
 *	  Checks applied to what a user registers: revision ids, migration SQL
 *	  (parsed with the server's own parser, never split on ';' by hand), and
 *	  the sha256 checksum over a revision's stored text.
 *
 * Copyright (c) 2026, dbmigrate developers
 *
 * IDENTIFICATION
 *	  src/sqlcheck.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <locale.h>
#include <wctype.h>

#include "commands/defrem.h"
#include "common/keywords.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "parser/scanner.h"
#include "utils/builtins.h"
#include "utils/memutils.h"


#include "dbmigrate.h"
#include "sqlcheck.h"

/* forward declarations */
typedef struct DbmParseContext
{
	const char *sql;			/* the whole migration text */
	const char *revision;
	const char *direction;
	int			char_offset;	/* characters of sql before the piece being
								 * parsed */
} DbmParseContext;

/*
 * Texts longer than this are parsed a piece at a time: each piece is a run
 * of whole statements of about this many bytes, cut where the server's
 * scanner finds a statement-ending ';' (outside parentheses and BEGIN
 * ATOMIC bodies, as psql cuts them).  Parse trees of one piece are freed
 * before the next is parsed, so memory follows the piece, not the text.
 */
#define DBM_PARSE_PIECE (64 * 1024)

static void dbm_parse_error_callback(void *arg);
static void dbm_check_statement(Node *stmt, const char *text, int len, void *arg);
static int	dbm_keyword_token(const char *keyword);
static int	dbm_count_statements(const char *sql);
static const char *dbm_nontransactional_kind(Node *stmt);
typedef struct DbmSha256 DbmSha256;
static void dbm_normalize(DbmSha256 *h, const char *sql);
static bool dbm_is_id_char(pg_wchar c);
static bool dbm_drops_dbmigrate(Node *stmt);
static bool dbm_names_one_of(List *names, const char *const *which, const char **found);
static const char *dbm_drops_dependency(Node *stmt, const char **verb);

/* global variables */

/* C.UTF-8 ctype locale used to classify non-ASCII letters in revision ids */
static locale_t dbm_utf8_locale = (locale_t) 0;
static bool dbm_utf8_locale_tried = false;

/*
 * DbmSha256: a sha256 being computed, fed a buffer at a time.
 */
typedef struct DbmSha256
{
	DbmSha256Ctx ctx;
	char		buf[8192];		/* normalized text not yet hashed */
	int			len;
} DbmSha256;

static void
dbm_sha256_flush(DbmSha256 *h)
{
	if (h->len > 0)
		dbm_sha256_update(&h->ctx, (const uint8 *) h->buf, h->len);
	h->len = 0;
}

static inline void
dbm_sha256_byte(DbmSha256 *h, char c)
{
	if (h->len == sizeof(h->buf))
		dbm_sha256_flush(h);
	h->buf[h->len++] = c;
}

/*
 * dbm_normalize
 *		Feed the text as it counts for the checksum into h: CRLF and lone CR
 *		become LF, and whitespace (LF, space, tab) at the very end of the text
 *		is dropped.  Everything else, including whitespace inside lines,
 *		counts.  Streams: memory does not grow with the text (a run of
 *		whitespace is held until a later character shows it is not trailing).
 */
static void
dbm_normalize(DbmSha256 *h, const char *sql)
{
	StringInfoData ws;
	const char *p;

	initStringInfo(&ws);
	for (p = sql; *p; p++)
	{
		char		c = *p;

		if (((p - sql) & 0xFFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		if (c == '\r')
		{
			c = '\n';
			if (p[1] == '\n')
				p++;
		}
		if (c == '\n' || c == ' ' || c == '\t')
		{
			appendStringInfoChar(&ws, c);
			continue;
		}
		if (ws.len > 0)
		{
			int			i;

			for (i = 0; i < ws.len; i++)
				dbm_sha256_byte(h, ws.data[i]);
			resetStringInfo(&ws);
		}
		dbm_sha256_byte(h, c);
	}
	pfree(ws.data);
}

/*
 * dbm_checksum
 *		Hex sha256 over normalize(upgrade_sql), followed, when downgrade_sql is
 *		not NULL, by a NUL byte and normalize(downgrade_sql).  So an
 *		irreversible revision (NULL) and an explicit no-op downgrade ('')
 *		differ.  A non-transactional revision (dbm_checksum_revision) adds two
 *		NUL bytes and "transactional=false", which no text can produce (text
 *		holds no NUL): changing the flag changes the checksum.  Returns a
 *		palloc'd 64-character string.
 */
char *
dbm_checksum(const char *upgrade_sql, const char *downgrade_sql)
{
	return dbm_checksum_revision(upgrade_sql, downgrade_sql, true);
}

char *
dbm_checksum_revision(const char *upgrade_sql, const char *downgrade_sql, bool transactional)
{
	DbmSha256  *h = palloc(sizeof(DbmSha256));
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	char	   *hex;

	h->len = 0;
	dbm_sha256_init(&h->ctx);

	dbm_normalize(h, upgrade_sql);
	if (downgrade_sql != NULL)
	{
		dbm_sha256_byte(h, '\0');
		dbm_normalize(h, downgrade_sql);
	}
	if (!transactional)
	{
		const char *p;

		dbm_sha256_byte(h, '\0');
		dbm_sha256_byte(h, '\0');
		for (p = "transactional=false"; *p; p++)
			dbm_sha256_byte(h, *p);
	}
	dbm_sha256_flush(h);

	dbm_sha256_final(&h->ctx, digest);
	pfree(h);

	hex = palloc(PG_SHA256_DIGEST_LENGTH * 2 + 1);
	hex[hex_encode((const char *) digest, PG_SHA256_DIGEST_LENGTH, hex)] = '\0';
	return hex;
}

/*
 * dbm_is_id_char
 *		Letters of any script, digits, '_', '.', '-'.  Non-ASCII characters
 *		are classified with the C.UTF-8 locale, so the answer does not depend
 *		on the database's collation.
 */
static bool
dbm_is_id_char(pg_wchar c)
{
	if (c < 128)
		return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			(c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';

	if (!dbm_utf8_locale_tried)
	{
		dbm_utf8_locale_tried = true;
		dbm_utf8_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t) 0);
	}
	if (dbm_utf8_locale == (locale_t) 0)
		return false;
	return iswalnum_l((wint_t) c, dbm_utf8_locale) != 0;
}

/*
 * dbm_check_revision_id
 *		Refuse an id that could not be used as a target: empty, too long,
 *		reserved, starting with '-', or holding characters other than letters,
 *		digits, '_', '.', '-'.  'what' names the argument in the message.
 */
void
dbm_check_revision_id(const char *id, const char *what)
{
	const unsigned char *p;
	const char *utf8;
	int			nchars = 0;

	if (id[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("%s must not be empty", what),
				 errhint("Revision ids are 1 to %d letters, digits, \"_\", \".\" or \"-\".",
						 DBMIGRATE_ID_MAXLEN)));

	if (pg_strcasecmp(id, "head") == 0 || pg_strcasecmp(id, "heads") == 0 ||
		pg_strcasecmp(id, "base") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_RESERVED_NAME),
				 errmsg("%s \"%s\" is reserved", what, id),
				 errdetail("\"head\", \"heads\" and \"base\" (in any case) name targets, not revisions."),
				 errhint("Choose another revision id.")));

	if (id[0] == '-')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("%s \"%s\" must not start with \"-\"", what, id),
				 errdetail("A target starting with \"-\" means a relative downgrade such as \"-1\"."),
				 errhint("Choose another revision id.")));

	utf8 = (const char *) pg_do_encoding_conversion((unsigned char *) unconstify(char *, id),
													strlen(id),
													GetDatabaseEncoding(), PG_UTF8);
	for (p = (const unsigned char *) utf8; *p; p += pg_utf_mblen(p))
	{
		pg_wchar	c = utf8_to_unicode(p);

		nchars++;
		if (!dbm_is_id_char(c))
		{
			char		shown[8] = {0};

			memcpy(shown, p, Min(pg_utf_mblen(p), 4));
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_NAME),
					 errmsg("%s \"%s\" contains the character \"%s\"", what, id,
							pg_any_to_server(shown, strlen(shown), PG_UTF8)),
					 errdetail("Revision ids are letters (any script), digits, \"_\", \".\" and \"-\"; "
							   "\"+\" and spaces would make targets ambiguous."),
					 errhint("Choose another revision id.")));
		}
	}
	if (nchars > DBMIGRATE_ID_MAXLEN)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("%s is %d characters long", what, nchars),
				 errdetail("Revision ids are at most %d characters.", DBMIGRATE_ID_MAXLEN),
				 errhint("Choose a shorter revision id.")));
}

/*
 * dbm_parse_error_callback
 *		Report a syntax error's position inside the migration SQL rather than
 *		inside the calling statement, and say which revision it belongs to.
 */
static void
dbm_parse_error_callback(void *arg)
{
	DbmParseContext *pc = (DbmParseContext *) arg;
	int			pos = geterrposition();

	if (pos > 0)
	{
		errposition(0);
		internalerrposition(pos + pc->char_offset);
		internalerrquery(pc->sql);
	}
	errcontext("%s_sql of revision \"%s\"", pc->direction, pc->revision);
}

/*
 * dbm_keyword_token
 *		The scanner's token code for a keyword (the code differs between
 *		server versions, so it is looked up rather than taken from gram.h).
 */
static int
dbm_keyword_token(const char *keyword)
{
	int			kwnum = ScanKeywordLookup(keyword, &ScanKeywords);

	if (kwnum < 0)
		elog(ERROR, "\"%s\" is not a keyword of this server", keyword);
	return ScanKeywordTokens[kwnum];
}

/*
 * dbm_foreach_piece
 *		Call fn for each piece of whole statements of sql (total bytes long):
 *		(start, len) in bytes.  A text up to DBM_PARSE_PIECE bytes is one piece.  Longer texts
 *		are cut after a ';' that ends a statement: outside parentheses and
 *		outside a BEGIN ATOMIC ... END body (CASE ... END inside one counts),
 *		which are the places psql cuts a script.  Lexical errors (an
 *		unterminated quote) are raised here, positioned in the whole text.
 */
typedef void (*DbmPieceFn) (const char *sql, int start, int len, void *arg);

static void
dbm_foreach_piece(const char *sql, int total, DbmPieceFn fn, void *arg,
				  ErrorContextCallback *lexcb)
{
	core_yyscan_t scanner;
	core_yy_extra_type extra;
	core_YYSTYPE yylval;
	YYLTYPE		yylloc;
	MemoryContext scancxt;
	MemoryContext tokcxt;
	MemoryContext oldcxt;
	int			tok_begin = dbm_keyword_token("begin");
	int			tok_atomic = dbm_keyword_token("atomic");
	int			tok_case = dbm_keyword_token("case");
	int			tok_end = dbm_keyword_token("end");
	int			tok_as = dbm_keyword_token("as");
	int			prev = 0;
	int			parens = 0;
	int			atomic = 0;
	int			cases = 0;
	int			start = 0;
	int			ntokens = 0;

	if (total <= DBM_PARSE_PIECE)
	{
		fn(sql, 0, total, arg);
		return;
	}

	scancxt = AllocSetContextCreate(CurrentMemoryContext, "dbmigrate scanner",
									ALLOCSET_DEFAULT_SIZES);
	tokcxt = AllocSetContextCreate(CurrentMemoryContext, "dbmigrate tokens",
								   ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(scancxt);
	scanner = scanner_init(sql, &extra, &ScanKeywords, ScanKeywordTokens);
	MemoryContextSwitchTo(tokcxt);

	/* lexical errors point into the whole text; fn's own errors do not */
	lexcb->previous = error_context_stack;
	error_context_stack = lexcb;

	for (;;)
	{
		int			tok = core_yylex(&yylval, &yylloc, scanner);

		if ((++ntokens & 0x3FFF) == 0)
		{
			CHECK_FOR_INTERRUPTS();
			MemoryContextReset(tokcxt);
		}
		if (tok == 0)
			break;
		if (tok == '(')
			parens++;
		else if (tok == ')' && parens > 0)
			parens--;
		else if (tok == tok_atomic && prev == tok_begin)
			atomic++;
		else if (prev == tok_as || prev == '.')
			;					/* a label such as "AS end" or "t.end", not a
								 * keyword */
		else if (atomic > 0 && tok == tok_case)
			cases++;
		else if (atomic > 0 && tok == tok_end)
		{
			if (cases > 0)
				cases--;
			else
				atomic--;
		}
		else if (tok == ';' && parens == 0 && atomic == 0 &&
				 yylloc + 1 - start >= DBM_PARSE_PIECE)
		{
			MemoryContextSwitchTo(oldcxt);
			error_context_stack = lexcb->previous;
			fn(sql, start, yylloc + 1 - start, arg);
			error_context_stack = lexcb;
			MemoryContextSwitchTo(tokcxt);
			start = yylloc + 1;
		}
		prev = tok;
	}
	error_context_stack = lexcb->previous;
	MemoryContextSwitchTo(oldcxt);
	if (start < total)
		fn(sql, start, total - start, arg);
	scanner_finish(scanner);
	MemoryContextDelete(tokcxt);
	MemoryContextDelete(scancxt);
}

/*
 * dbm_foreach_statement
 *		Call fn(stmt, text, len, arg) for each statement of sql, in order, as
 *		the server's parser finds them (so dollar quotes, DO blocks and
 *		literals are intact): the raw parse tree and the statement's own text
 *		(leading whitespace dropped; not NUL-terminated).  A text of a single
 *		statement is passed whole.  Parse trees live in a context that is
 *		reset after each piece (see DBM_PARSE_PIECE); fn must copy what it
 *		keeps.  Syntax errors name the revision and direction and point into
 *		the whole text.  When nstatements is not NULL it is set to the number
 *		of statements before fn is first called.
 */
typedef struct DbmStatementWalk
{
	DbmParseContext pc;
	DbmStatementFn fn;
	void	   *arg;
	MemoryContext parsecxt;
	int			total;			/* strlen of the whole text */
	int			counted_bytes;	/* pc.char_offset = characters in sql[0,
								 * counted_bytes) */
	int		   *nstatements;	/* set before the first call, when not NULL */
} DbmStatementWalk;

static void
dbm_walk_piece(const char *sql, int start, int len, void *arg)
{
	DbmStatementWalk *walk = (DbmStatementWalk *) arg;
	ErrorContextCallback errcallback;
	MemoryContext oldcxt;
	const char *piece = sql + start;
	char	   *copy = NULL;
	List	   *stmts;
	ListCell   *lc;

	oldcxt = MemoryContextSwitchTo(walk->parsecxt);
	if (start + len != walk->total)
	{
		copy = pnstrdup(sql + start, len);
		piece = copy;
	}
	/* characters before the piece, counted once over the whole walk */
	walk->pc.char_offset += pg_mbstrlen_with_len(sql + walk->counted_bytes,
												 start - walk->counted_bytes);
	walk->counted_bytes = start;

	errcallback.callback = dbm_parse_error_callback;
	errcallback.arg = &walk->pc;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;
	stmts = DBM_RAW_PARSE(piece);
	error_context_stack = errcallback.previous;
	MemoryContextSwitchTo(oldcxt);

	/* a text of one piece is counted now; longer ones were counted first */
	if (walk->nstatements != NULL && start == 0 && copy == NULL)
		*walk->nstatements = list_length(stmts);

	if (start == 0 && copy == NULL && list_length(stmts) == 1)
		walk->fn(((RawStmt *) linitial(stmts))->stmt, sql, len, walk->arg);
	else
		foreach(lc, stmts)
	{
		RawStmt    *rs = (RawStmt *) lfirst(lc);
		const char *text = piece + rs->stmt_location;
		int			tlen = rs->stmt_len > 0 ? rs->stmt_len : (int) strlen(text);

		CHECK_FOR_INTERRUPTS();
		/* leading whitespace between statements is not part of the next one */
		while (tlen > 0 && (*text == ' ' || *text == '\n' || *text == '\r' || *text == '\t'))
		{
			text	  ++;

			tlen--;
		}
		walk->fn(rs->stmt, text, tlen, walk->arg);
	}
	MemoryContextReset(walk->parsecxt);
}

void
dbm_foreach_statement(const char *sql, const char *revision, const char *direction,
					  DbmStatementFn fn, void *arg, int *nstatements)
{
	DbmStatementWalk walk;
	DbmParseContext lexpc;
	ErrorContextCallback errcallback;

	walk.total = strlen(sql);
	walk.counted_bytes = 0;
	walk.nstatements = nstatements;
	if (nstatements != NULL && walk.total > DBM_PARSE_PIECE)
	{
		*nstatements = dbm_count_statements(sql);
		walk.nstatements = NULL;
	}
	walk.pc.sql = sql;
	walk.pc.revision = revision;
	walk.pc.direction = direction;
	walk.pc.char_offset = 0;
	walk.fn = fn;
	walk.arg = arg;
	walk.parsecxt = AllocSetContextCreate(CurrentMemoryContext, "dbmigrate parse trees",
										  ALLOCSET_DEFAULT_SIZES);

	/* lexical errors found while cutting pieces point into the whole text */
	lexpc = walk.pc;
	errcallback.callback = dbm_parse_error_callback;
	errcallback.arg = &lexpc;
	dbm_foreach_piece(sql, walk.total, dbm_walk_piece, &walk, &errcallback);

	MemoryContextDelete(walk.parsecxt);
}

/*
 * dbm_count_statements
 *		How many statements dbm_foreach_statement will pass for sql.
 */
static void
dbm_count_one(Node *stmt, const char *text, int len, void *arg)
{
	(*(int *) arg)++;
}

static int
dbm_count_statements(const char *sql)
{
	int			n = 0;

	dbm_foreach_statement(sql, "(run)", "upgrade", dbm_count_one, &n, NULL);
	return n;
}

/*
 * dbm_nontransactional_kind
 *		Name of a statement that cannot run inside a transaction block or a
 *		function, or NULL when the statement can run in a migration.
 */
static const char *
dbm_nontransactional_kind(Node *stmt)
{
	switch (nodeTag(stmt))
	{
		case T_VacuumStmt:
			return ((VacuumStmt *) stmt)->is_vacuumcmd ? "VACUUM" : NULL;
		case T_IndexStmt:
			return ((IndexStmt *) stmt)->concurrent ? "CREATE INDEX CONCURRENTLY" : NULL;
		case T_DropStmt:
			return ((DropStmt *) stmt)->concurrent ? "DROP INDEX CONCURRENTLY" : NULL;
		case T_ReindexStmt:
			{
				ReindexStmt *rs = (ReindexStmt *) stmt;

				if (dbm_reindex_concurrently(rs))
					return "REINDEX CONCURRENTLY";
				if (rs->kind == REINDEX_OBJECT_DATABASE || rs->kind == REINDEX_OBJECT_SYSTEM)
					return "REINDEX DATABASE/SYSTEM";
				return NULL;
			}
		case T_CreatedbStmt:
			return "CREATE DATABASE";
		case T_DropdbStmt:
			return "DROP DATABASE";
		case T_CreateTableSpaceStmt:
			return "CREATE TABLESPACE";
		case T_DropTableSpaceStmt:
			return "DROP TABLESPACE";
		case T_AlterSystemStmt:
			return "ALTER SYSTEM";
		case T_DiscardStmt:
			return ((DiscardStmt *) stmt)->target == DISCARD_ALL ? "DISCARD ALL" : NULL;
		default:
			return NULL;
	}
}

/*
 * dbm_drops_dbmigrate
 *		Whether a statement is DROP EXTENSION or ALTER EXTENSION on dbmigrate.
 */
static bool
dbm_drops_dbmigrate(Node *stmt)
{
	if (IsA(stmt, DropStmt) && ((DropStmt *) stmt)->removeType == OBJECT_EXTENSION)
	{
		ListCell   *lc;

		foreach(lc, ((DropStmt *) stmt)->objects)
		{
			if (IsA(lfirst(lc), String) && strcmp(strVal(lfirst(lc)), "dbmigrate") == 0)
				return true;
		}
	}
	if (IsA(stmt, AlterExtensionStmt))
		return strcmp(((AlterExtensionStmt *) stmt)->extname, "dbmigrate") == 0;
	if (IsA(stmt, AlterExtensionContentsStmt))
		return strcmp(((AlterExtensionContentsStmt *) stmt)->extname, "dbmigrate") == 0;
	return false;
}

/*
 * dbm_names_one_of
 *		Whether a list of names (String nodes: the objects of a DROP) holds
 *		one of the NULL-terminated which; sets *found to it.
 */
static bool
dbm_names_one_of(List *names, const char *const *which, const char **found)
{
	ListCell   *lc;

	foreach(lc, names)
	{
		int			i;

		if (!IsA(lfirst(lc), String))
			continue;
		for (i = 0; which[i] != NULL; i++)
		{
			if (strcmp(strVal(lfirst(lc)), which[i]) == 0)
			{
				*found = which[i];
				return true;
			}
		}
	}
	return false;
}

/*
 * dbm_drops_dependency
 *		What dbmigrate depends on that a statement drops or renames, or NULL;
 *		sets *verb ("drops", "renames").  Returns "pgcrypto" for DROP
 *		EXTENSION pgcrypto (dbmigrate requires it: without CASCADE that
 *		always fails, with CASCADE it drops dbmigrate too), or the schema
 *		dbmigrate or dbmigrate_private for DROP SCHEMA and ALTER SCHEMA ...
 *		RENAME.  A drop that reaches them only at run time (CASCADE through
 *		the schema pgcrypto is in, dynamic SQL, DROP OWNED) is refused by
 *		the drop guard (diagnostics.c) as it happens.
 */
static const char *
dbm_drops_dependency(Node *stmt, const char **verb)
{
	static const char *const extensions[] = {"pgcrypto", NULL};
	static const char *const schemas[] = {"dbmigrate", "dbmigrate_private", NULL};
	const char *found = NULL;

	*verb = "drops";
	if (IsA(stmt, DropStmt))
	{
		DropStmt   *ds = (DropStmt *) stmt;

		if (ds->removeType == OBJECT_EXTENSION && dbm_names_one_of(ds->objects, extensions, &found))
			return found;
		if (ds->removeType == OBJECT_SCHEMA && dbm_names_one_of(ds->objects, schemas, &found))
			return found;
	}
	if (IsA(stmt, RenameStmt) && ((RenameStmt *) stmt)->renameType == OBJECT_SCHEMA &&
		((RenameStmt *) stmt)->subname != NULL)
	{
		List	   *name = list_make1(makeString(((RenameStmt *) stmt)->subname));

		*verb = "renames";
		if (dbm_names_one_of(name, schemas, &found))
			return found;
	}
	return NULL;
}

/*
 * dbm_check_migration_sql
 *		Parse one migration SQL text with the server's parser and refuse, at
 *		registration, what could never run where it will run: syntax errors
 *		(42601), COPY to or from the client (0A000), dropping or altering
 *		dbmigrate or its schemas (55006), and for a transactional revision
 *		(run inside the caller's transaction) transaction control (2D000) and
 *		statements that cannot run in a transaction block (25001).  A
 *		non-transactional revision runs its statements one by one at top level
 *		(see migrate_upgrade_stepwise), where both are allowed.  Dropping
 *		pgcrypto is refused at run time, not here (diagnostics.c): real
 *		histories drop it in downgrades that may never run.  direction is
 *		"upgrade" or "downgrade".
 */
typedef struct DbmCheckArg
{
	const char *revision;
	const char *direction;
	bool		transactional;
} DbmCheckArg;

void
dbm_check_migration_sql(const char *sql, const char *revision, const char *direction,
						bool transactional)
{
	DbmCheckArg check;
	int			nestlevel;

	check.revision = revision;
	check.direction = direction;
	check.transactional = transactional;

	/* parsed as every step parses it, whatever the caller's setting */
	nestlevel = NewGUCNestLevel();
	dbm_guc_set("standard_conforming_strings", "on", PGC_USERSET);
	dbm_foreach_statement(sql, revision, direction, dbm_check_statement, &check, NULL);
	AtEOXact_GUC(true, nestlevel);
}

/*
 * dbm_check_statement
 *		dbm_check_migration_sql for one parsed statement.
 */
static void
dbm_check_statement(Node *stmt, const char *text, int len, void *arg)
{
	DbmCheckArg *check = (DbmCheckArg *) arg;
	const char *revision = check->revision;
	const char *direction = check->direction;
	const char *kind;
	const char *dependency;
	const char *verb;

	if (IsA(stmt, TransactionStmt) && !check->transactional &&
		(((TransactionStmt *) stmt)->kind == TRANS_STMT_PREPARE ||
		 ((TransactionStmt *) stmt)->kind == TRANS_STMT_COMMIT_PREPARED ||
		 ((TransactionStmt *) stmt)->kind == TRANS_STMT_ROLLBACK_PREPARED))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
				 errmsg("two-phase commit is not allowed in migration SQL"),
				 errdetail("The %s_sql of revision \"%s\" contains PREPARE TRANSACTION, "
						   "COMMIT PREPARED or ROLLBACK PREPARED.", direction, revision),
				 errhint("Use BEGIN and COMMIT in a non-transactional revision.")));

	if (IsA(stmt, TransactionStmt) && check->transactional)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
				 errmsg("transaction control is not allowed in migration SQL"),
				 errdetail("The %s_sql of revision \"%s\" contains BEGIN, COMMIT, ROLLBACK, "
						   "SAVEPOINT or a similar statement; a migrate_upgrade() call runs "
						   "every step in the caller's transaction and commits or rolls "
						   "back all of them together.",
						   direction, revision),
				 errhint("Remove the transaction control statements, or register the revision "
						 "with transactional => false and run it with "
						 "CALL dbmigrate.migrate_upgrade_stepwise().")));

	/*
	 * SET CONSTRAINTS ... IMMEDIATE only checks earlier (what a revision
	 * needs before an ALTER TABLE of a table whose rows it changed); the
	 * modes go back to the declared ones at the end of the step (runner.c).
	 * Deferring is refused: the step's checks fire at its end anyway, and a
	 * constraint that must be deferred is declared so.
	 */
	if (IsA(stmt, ConstraintsSetStmt) && ((ConstraintsSetStmt *) stmt)->deferred)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("SET CONSTRAINTS ... DEFERRED is not allowed in migration SQL"),
				 errdetail("The %s_sql of revision \"%s\" contains SET CONSTRAINTS ... DEFERRED; "
						   "dbmigrate runs each revision with the constraints in their declared "
						   "modes and fires its deferred checks at its end.", direction, revision),
				 errhint("Declare the constraint DEFERRABLE INITIALLY DEFERRED in the revision "
						 "instead, or order the statements so the checks pass; SET CONSTRAINTS "
						 "... IMMEDIATE is allowed.")));

	if (dbm_drops_dbmigrate(stmt))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("migration SQL must not drop or alter the dbmigrate extension"),
				 errdetail("The %s_sql of revision \"%s\" drops or alters extension \"dbmigrate\", "
						   "whose tables record the run in progress.", direction, revision),
				 errhint("Run DROP EXTENSION or ALTER EXTENSION dbmigrate outside migrations.")));

	dependency = dbm_drops_dependency(stmt, &verb);
	if (dependency != NULL && strcmp(dependency, "pgcrypto") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("migration SQL must not drop or rename schema \"%s\"", dependency),
				 errdetail("The %s_sql of revision \"%s\" %s schema \"%s\", which holds dbmigrate's "
						   "own objects.", direction, revision, verb, dependency),
				 errhint("Run DROP EXTENSION dbmigrate outside migrations to remove dbmigrate.")));

	kind = dbm_nontransactional_kind(stmt);
	if (kind != NULL && check->transactional)
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("%s cannot run inside a migration", kind),
				 errdetail("The %s_sql of revision \"%s\" contains %s, which PostgreSQL "
						   "refuses inside a transaction block or a function, and every "
						   "migration step runs inside the caller's transaction.",
						   direction, revision, kind),
				 errhint("Register the revision with transactional => false and run it with "
						 "CALL dbmigrate.migrate_upgrade_stepwise(), or use the transactional "
						 "form (for example CREATE INDEX without CONCURRENTLY).")));

	if (IsA(stmt, CopyStmt) && ((CopyStmt *) stmt)->filename == NULL &&
		!((CopyStmt *) stmt)->is_program)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("COPY to or from the client is not supported in migration SQL"),
				 errdetail("The %s_sql of revision \"%s\" contains COPY ... FROM STDIN "
						   "or TO STDOUT; migration SQL runs inside the server.",
						   direction, revision),
				 errhint("Use INSERT statements, or COPY from a server-side file.")));
}

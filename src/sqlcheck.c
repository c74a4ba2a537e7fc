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
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "utils/builtins.h"

#if PG_VERSION_NUM >= 140000
#include "common/cryptohash.h"
#endif
#include "common/sha2.h"

#include "dbmigrate.h"

/* forward declarations */
typedef struct DbmParseContext
{
	const char *sql;
	const char *revision;
	const char *direction;
} DbmParseContext;

static void dbm_parse_error_callback(void *arg);
static List *dbm_raw_parse(const char *sql, const char *revision, const char *direction);
static const char *dbm_nontransactional_kind(Node *stmt);
static void dbm_normalize(StringInfo buf, const char *sql);
static bool dbm_is_id_char(pg_wchar c);
static bool dbm_drops_dbmigrate(Node *stmt);

#if PG_VERSION_NUM >= 140000
#define DBM_RAW_PARSE(sql) raw_parser((sql), RAW_PARSE_DEFAULT)
#else
#define DBM_RAW_PARSE(sql) raw_parser(sql)
#endif

/* global variables */

/* C.UTF-8 ctype locale used to classify non-ASCII letters in revision ids */
static locale_t dbm_utf8_locale = (locale_t) 0;
static bool dbm_utf8_locale_tried = false;

/*
 * dbm_normalize
 *		Text as it counts for the checksum: CRLF and lone CR become LF, and
 *		whitespace at the very end of the text is dropped.  Everything else,
 *		including whitespace inside lines, counts.
 */
static void
dbm_normalize(StringInfo buf, const char *sql)
{
	const char *p;

	for (p = sql; *p; p++)
	{
		if (*p == '\r')
		{
			appendStringInfoChar(buf, '\n');
			if (p[1] == '\n')
				p++;
		}
		else
			appendStringInfoChar(buf, *p);
	}
	while (buf->len > 0 &&
		   (buf->data[buf->len - 1] == '\n' || buf->data[buf->len - 1] == ' ' ||
			buf->data[buf->len - 1] == '\t'))
		buf->data[--buf->len] = '\0';
}

/*
 * dbm_checksum
 *		Hex sha256 over normalize(upgrade_sql), followed, when downgrade_sql is
 *		not NULL, by a NUL byte and normalize(downgrade_sql).  So an
 *		irreversible revision (NULL) and an explicit no-op downgrade ('')
 *		differ.  Returns a palloc'd 64-character string.
 */
char *
dbm_checksum(const char *upgrade_sql, const char *downgrade_sql)
{
	StringInfoData buf;
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	char	   *hex;
	int			i;

	initStringInfo(&buf);
	dbm_normalize(&buf, upgrade_sql);
	if (downgrade_sql != NULL)
	{
		/* appendStringInfoChar cannot add a NUL that counts; do it by hand */
		enlargeStringInfo(&buf, 1);
		buf.data[buf.len++] = '\0';
		buf.data[buf.len] = '\0';
		{
			StringInfoData down;

			initStringInfo(&down);
			dbm_normalize(&down, downgrade_sql);
			appendBinaryStringInfo(&buf, down.data, down.len);
			pfree(down.data);
		}
	}

#if PG_VERSION_NUM >= 140000
	{
		pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

		if (ctx == NULL ||
			pg_cryptohash_init(ctx) < 0 ||
			pg_cryptohash_update(ctx, (const uint8 *) buf.data, buf.len) < 0 ||
#if PG_VERSION_NUM >= 150000
			pg_cryptohash_final(ctx, digest, sizeof(digest)) < 0
#else
			pg_cryptohash_final(ctx, digest) < 0
#endif
			)
			elog(ERROR, "could not compute sha256 checksum");
		pg_cryptohash_free(ctx);
	}
#else
	{
		pg_sha256_ctx ctx;

		pg_sha256_init(&ctx);
		pg_sha256_update(&ctx, (const uint8 *) buf.data, buf.len);
		pg_sha256_final(&ctx, digest);
	}
#endif
	pfree(buf.data);

	hex = palloc(PG_SHA256_DIGEST_LENGTH * 2 + 1);
	for (i = 0; i < PG_SHA256_DIGEST_LENGTH; i++)
		snprintf(hex + i * 2, 3, "%02x", digest[i]);
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
		internalerrposition(pos);
		internalerrquery(pc->sql);
	}
	errcontext("%s_sql of revision \"%s\"", pc->direction, pc->revision);
}

/*
 * dbm_raw_parse
 *		The server's raw parser over one migration SQL text.
 */
static List *
dbm_raw_parse(const char *sql, const char *revision, const char *direction)
{
	ErrorContextCallback errcallback;
	DbmParseContext pc;
	List	   *stmts;

	pc.sql = sql;
	pc.revision = revision;
	pc.direction = direction;
	errcallback.callback = dbm_parse_error_callback;
	errcallback.arg = &pc;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	stmts = DBM_RAW_PARSE(sql);

	error_context_stack = errcallback.previous;
	return stmts;
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

#if PG_VERSION_NUM >= 140000
				ListCell   *lc;

				foreach(lc, rs->params)
				{
					DefElem    *opt = (DefElem *) lfirst(lc);

					if (strcmp(opt->defname, "concurrently") == 0 && defGetBoolean(opt))
						return "REINDEX CONCURRENTLY";
				}
#else
				if (rs->concurrent)
					return "REINDEX CONCURRENTLY";
#endif
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
			if (IsA(lfirst(lc), String) && strcmp(strVal(lfirst(lc)), "dbmigrate") == 0)
				return true;
	}
	if (IsA(stmt, AlterExtensionStmt))
		return strcmp(((AlterExtensionStmt *) stmt)->extname, "dbmigrate") == 0;
	if (IsA(stmt, AlterExtensionContentsStmt))
		return strcmp(((AlterExtensionContentsStmt *) stmt)->extname, "dbmigrate") == 0;
	return false;
}

/*
 * dbm_check_migration_sql
 *		Parse one migration SQL text with the server's parser and refuse, at
 *		registration, what could never run inside migrate_upgrade():
 *		syntax errors (42601), transaction control (2D000), statements that
 *		cannot run in a transaction block (25001) and COPY to or from the
 *		client (0A000).  direction is "upgrade" or "downgrade".
 */
void
dbm_check_migration_sql(const char *sql, const char *revision, const char *direction)
{
	List	   *stmts = dbm_raw_parse(sql, revision, direction);
	ListCell   *lc;

	foreach(lc, stmts)
	{
		Node	   *stmt = ((RawStmt *) lfirst(lc))->stmt;
		const char *kind;

		if (IsA(stmt, TransactionStmt))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
					 errmsg("transaction control is not allowed in migration SQL"),
					 errdetail("The %s_sql of revision \"%s\" contains BEGIN, COMMIT, ROLLBACK, "
							   "SAVEPOINT or a similar statement; a migrate_upgrade() call runs "
							   "every step in the caller's transaction and commits or rolls "
							   "back all of them together.",
							   direction, revision),
					 errhint("Remove the transaction control statements; to commit between steps, "
							 "call migrate_upgrade(<revision>) in separate transactions.")));

		if (IsA(stmt, ConstraintsSetStmt))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("SET CONSTRAINTS is not allowed in migration SQL"),
					 errdetail("The %s_sql of revision \"%s\" contains SET CONSTRAINTS, which changes "
							   "constraint checking for the rest of the caller's transaction; it "
							   "cannot be confined to one revision.", direction, revision),
					 errhint("Declare the constraint DEFERRABLE INITIALLY DEFERRED in the revision "
							 "instead, or order the statements so the checks pass.")));

		if (dbm_drops_dbmigrate(stmt))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_IN_USE),
					 errmsg("migration SQL must not drop or alter the dbmigrate extension"),
					 errdetail("The %s_sql of revision \"%s\" drops or alters extension \"dbmigrate\", "
							   "whose tables record the run in progress.", direction, revision),
					 errhint("Run DROP EXTENSION or ALTER EXTENSION dbmigrate outside migrations.")));

		kind = dbm_nontransactional_kind(stmt);
		if (kind != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
					 errmsg("%s cannot run inside a migration", kind),
					 errdetail("The %s_sql of revision \"%s\" contains %s, which PostgreSQL "
							   "refuses inside a transaction block or a function, and every "
							   "migration step runs inside the caller's transaction.",
							   direction, revision, kind),
					 errhint("Run that statement from psql outside dbmigrate, or use the "
							 "transactional form (for example CREATE INDEX without "
							 "CONCURRENTLY) in the revision.")));

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
}

/*
 * dbm_split_statements
 *		The statements of a migration SQL text, as the server's parser finds
 *		them (so dollar quotes, DO blocks and literals are intact), each as
 *		its own C string.  A single statement comes back as the whole text.
 */
List *
dbm_split_statements(const char *sql)
{
	List	   *stmts = DBM_RAW_PARSE(sql);
	List	   *result = NIL;
	ListCell   *lc;

	if (list_length(stmts) == 1)
		return list_make1(unconstify(char *, sql));

	foreach(lc, stmts)
	{
		RawStmt    *rs = (RawStmt *) lfirst(lc);
		const char *start = sql + rs->stmt_location;
		int			len = rs->stmt_len > 0 ? rs->stmt_len : (int) strlen(start);

		/* leading whitespace between statements is not part of the next one */
		while (len > 0 && (*start == ' ' || *start == '\n' || *start == '\r' || *start == '\t'))
		{
			start++;
			len--;
		}
		result = lappend(result, pnstrdup(start, len));
	}
	return result;
}

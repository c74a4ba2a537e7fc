/*-------------------------------------------------------------------------
 *
 * db.c
 *	  The dbmigrate client's side of libpq: connecting as every PostgreSQL
 *	  tool does, notices as progress, errors in full with the file and line
 *	  they belong to, queries with parameters, and the bootstrap
 *	  (CREATE EXTENSION serialized by an advisory lock).
 *
 * Connection settings, first found wins: -d (a conninfo string or a URL),
 * DATABASE_URL from the environment, DATABASE_URL from ./.env, then libpq's
 * own defaults (PG* variables, ~/.pgpass, the service file).
 *
 * Copyright (c) 2026, dbmigrate developers
 *
 * IDENTIFICATION
 *	  cli/db.c
 *
 *-------------------------------------------------------------------------
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dbmigrate.h"

static void notice_receiver(void *arg, const PGresult *res);
static char *field(const PGresult *res, int code);
static void explain_connect_failure(App *app, const char *msg);
static int	error_line(const DbError *err, const MigFile *file, const char **section);
static int	line_of_offset(const char *text, int chars);
static void print_error_line(const char *text, int chars, int line);

static PGcancel *volatile cancel_handle = NULL;

/*
 * db_connect
 *		Connect with the first settings found (see the header comment); on
 *		failure print one line that says what to fix.  client_encoding is
 *		UTF8: migration files are UTF-8.
 */
bool
db_connect(App *app)
{
	const char *keywords[4];
	const char *values[4];
	const char *dsn = NULL;
	int			i = 0;

	/* a fleet's child connected already (fleet.c) */
	if (app->conn)
		return true;
	if (app->conninfo)
	{
		dsn = app->conninfo;
		app->conn_source = app->dsn_source ? app->dsn_source : "-d";
	}
	else if (getenv("DATABASE_URL") && *getenv("DATABASE_URL"))
	{
		dsn = getenv("DATABASE_URL");
		app->conn_source = "DATABASE_URL";
	}
	else if (app->dotenv_url)
	{
		dsn = app->dotenv_url;
		app->conn_source = "DATABASE_URL in ./.env";
	}
	else
		app->conn_source = "PG* environment variables and libpq defaults";

	if (dsn)
	{
		keywords[i] = "dbname";
		values[i++] = dsn;
	}
	keywords[i] = "fallback_application_name";
	values[i++] = "dbmigrate";
	keywords[i] = "client_encoding";
	values[i++] = "UTF8";
	keywords[i] = NULL;
	values[i] = NULL;

	app->conn = PQconnectdbParams(keywords, values, 1);
	if (app->conn == NULL)
	{
		msg_error("out of memory while connecting");
		return false;
	}
	if (PQstatus(app->conn) != CONNECTION_OK)
	{
		explain_connect_failure(app, PQerrorMessage(app->conn));
		PQfinish(app->conn);
		app->conn = NULL;
		return false;
	}
	PQsetNoticeReceiver(app->conn, notice_receiver, app);
	db_install_cancel_handler(app);
	return true;
}

void
db_disconnect(App *app)
{
	PGcancel   *c = cancel_handle;

	cancel_handle = NULL;
	if (c)
		PQfreeCancel(c);
	if (app->conn)
		PQfinish(app->conn);
	app->conn = NULL;
}

/*
 * explain_connect_failure
 *		The three failures the seed document's troubleshooting lists get one
 *		line each, with the fix; anything else is libpq's own message.
 */
static void
explain_connect_failure(App *app, const char *msg)
{
	const char *host = app->conn ? PQhost(app->conn) : NULL;
	const char *port = app->conn ? PQport(app->conn) : NULL;
	const char *user = app->conn ? PQuser(app->conn) : NULL;
	const char *db = app->conn ? PQdb(app->conn) : NULL;
	char	   *where;
	char	   *first;
	char	   *nl;

	if (host && host[0] == '/')
		where = xasprintf("the socket in %s, port %s", host, port ? port : "5432");
	else
		where = xasprintf("%s:%s", host && *host ? host : "localhost", port && *port ? port : "5432");

	if (strstr(msg, "Connection refused") || (strstr(msg, "No such file or directory") && strstr(msg, "socket")))
		msg_error("cannot connect to %s: connection refused (settings from %s); start the server "
				  "there, or point -d, DATABASE_URL or PGHOST/PGPORT at one that runs",
				  where, app->conn_source);
	else if (strstr(msg, "password authentication failed") || strstr(msg, "no password supplied"))
		msg_error("password authentication failed for user \"%s\" at %s (settings from %s); "
				  "fix the password in -d, DATABASE_URL, PGPASSWORD or ~/.pgpass",
				  user ? user : "?", where, app->conn_source);
	else if (strstr(msg, "does not exist") && strstr(msg, "database \""))
		msg_error("database \"%s\" does not exist at %s (settings from %s); create it with "
				  "createdb \"%s\", or name an existing one in -d, DATABASE_URL or PGDATABASE",
				  db ? db : "?", where, app->conn_source, db ? db : "?");
	else
	{
		/* libpq's message, on one line */
		first = xstrdup(msg);
		while ((nl = strchr(first, '\n')) != NULL)
			*nl = (nl[1] == '\0') ? '\0' : ' ';
		msg_error("cannot connect (settings from %s): %s", app->conn_source, first);
		free(first);
	}
	free(where);
	json_error(app, "error", NULL, NULL, 0, "cannot connect");
}

/* Ctrl-C cancels the running statement (the transaction then rolls back) */
static void
on_sigint(int sig)
{
	char		buf[256];
	PGcancel   *c = cancel_handle;

	(void) sig;
	if (c)
		(void) PQcancel(c, buf, sizeof(buf));
	else
		_exit(EXIT_FAILED);
}

void
db_install_cancel_handler(App *app)
{
	struct sigaction sa;

	cancel_handle = PQgetCancel(app->conn);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigint;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/*
 * notice_receiver
 *		dbmigrate's "running upgrade a -> b, message" notices are progress;
 *		every other notice or warning is printed as psql prints it (notices
 *		not under --quiet).
 */
static void
notice_receiver(void *arg, const PGresult *res)
{
	App		   *app = (App *) arg;
	const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
	const char *hint = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);

	if (msg == NULL)
		return;
	if (sev && strcmp(sev, "NOTICE") == 0 &&
		(strncmp(msg, "running upgrade ", 16) == 0 || strncmp(msg, "running downgrade ", 18) == 0))
	{
		progress_start(app, msg + 8);
		return;
	}
	if (sev && (strcmp(sev, "NOTICE") == 0 || strcmp(sev, "INFO") == 0 ||
				strcmp(sev, "LOG") == 0 || strncmp(sev, "DEBUG", 5) == 0) && app->quiet)
		return;
	fflush(stdout);
	fprintf(stderr, "%s:  %s\n", sev ? sev : "NOTICE", msg);
	if (detail)
		fprintf(stderr, "DETAIL:  %s\n", detail);
	if (hint)
		fprintf(stderr, "HINT:  %s\n", hint);
}

static char *
field(const PGresult *res, int code)
{
	const char *v = PQresultErrorField(res, code);

	return v ? xstrdup(v) : NULL;
}

void
db_error_from_result(const PGresult *res, DbError *err)
{
	const char *pos;

	memset(err, 0, sizeof(*err));
	err->severity = field(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	err->sqlstate = field(res, PG_DIAG_SQLSTATE);
	err->message = field(res, PG_DIAG_MESSAGE_PRIMARY);
	err->detail = field(res, PG_DIAG_MESSAGE_DETAIL);
	err->hint = field(res, PG_DIAG_MESSAGE_HINT);
	err->context = field(res, PG_DIAG_CONTEXT);
	err->internal_query = field(res, PG_DIAG_INTERNAL_QUERY);
	pos = PQresultErrorField(res, PG_DIAG_INTERNAL_POSITION);
	err->internal_position = pos ? atoi(pos) : 0;
	if (err->message == NULL)
	{
		/* no server error: the connection broke, or libpq failed */
		char	   *m = xstrdup(PQresultErrorMessage(res));
		char	   *e = m + strlen(m);

		while (e > m && e[-1] == '\n')
			*--e = '\0';
		err->message = m;
	}
}

void
db_error_from_conn(App *app, DbError *err)
{
	char	   *m = xstrdup(PQerrorMessage(app->conn));
	char	   *e = m + strlen(m);

	memset(err, 0, sizeof(*err));
	while (e > m && e[-1] == '\n')
		*--e = '\0';
	err->message = m;
}

void
db_error_free(DbError *err)
{
	free(err->severity);
	free(err->sqlstate);
	free(err->message);
	free(err->detail);
	free(err->hint);
	free(err->context);
	free(err->internal_query);
	memset(err, 0, sizeof(*err));
}

/*
 * db_query
 *		Run sql with text parameters; the result on success (tuples or
 *		command), NULL with *err filled on failure.
 */
PGresult *
db_query(App *app, const char *sql, int nparams, const char *const *values, DbError *err)
{
	PGresult   *res = PQexecParams(app->conn, sql, nparams, NULL, values, NULL, NULL, 0);
	ExecStatusType st;

	if (res == NULL)
	{
		db_error_from_conn(app, err);
		return NULL;
	}
	st = PQresultStatus(res);
	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
	{
		db_error_from_result(res, err);
		PQclear(res);
		progress_fail(app);
		return NULL;
	}
	progress_finish(app);
	return res;
}

/* db_command: a statement without parameters or rows */
bool
db_command(App *app, const char *sql, DbError *err)
{
	PGresult   *res = db_query(app, sql, 0, NULL, err);

	if (res == NULL)
		return false;
	PQclear(res);
	return true;
}

char *
dbname_of(App *app)
{
	return app->conn ? PQdb(app->conn) : "?";
}

/*
 * db_extension
 *		Is dbmigrate installed, and at a version this client speaks (1.1)?
 *		create: install it when absent, serialized with the other deploys
 *		that may be bootstrapping the same database at this moment: two
 *		concurrent CREATE EXTENSION IF NOT EXISTS both see "absent" and one
 *		dies on a unique violation, so take a transaction-level advisory lock
 *		first and look again once it is held.  Must run inside the caller's
 *		transaction (the lock and the extension commit with the deploy).
 *		Returns EXIT_DONE, or an exit status after reporting.
 */
int
db_extension(App *app, bool create, DbError *err, bool *present)
{
	const char *sql = "SELECT extversion FROM pg_catalog.pg_extension "
		"WHERE extname OPERATOR(pg_catalog.=) 'dbmigrate'";
	const char *params[1] = {BOOTSTRAP_LOCK_KEY};
	PGresult   *res;
	char	   *version = NULL;

	*present = false;
	res = db_query(app, sql, 0, NULL, err);
	if (res == NULL)
		return EXIT_FAILED;
	if (PQntuples(res) == 0 && create)
	{
		PQclear(res);
		res = db_query(app, "SELECT pg_catalog.pg_advisory_xact_lock($1::pg_catalog.int8)", 1,
					   params, err);
		if (res == NULL)
			return EXIT_FAILED;
		PQclear(res);
		res = db_query(app, sql, 0, NULL, err);
		if (res == NULL)
			return EXIT_FAILED;
		if (PQntuples(res) == 0)
		{
			PQclear(res);
			msg_info(app, "Installing the dbmigrate extension in database \"%s\"", dbname_of(app));
			if (!db_command(app, "CREATE EXTENSION IF NOT EXISTS dbmigrate CASCADE", err))
				return EXIT_FAILED;
			res = db_query(app, sql, 0, NULL, err);
			if (res == NULL)
				return EXIT_FAILED;
		}
	}
	if (PQntuples(res) == 1)
		version = xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	if (version == NULL)
		return EXIT_DONE;
	*present = true;
	if (strcmp(version, "1.0") == 0)
	{
		msg_error("database \"%s\" has dbmigrate %s; this client needs 1.1", dbname_of(app), version);
		fprintf(stderr, "HINT:  Update it with ALTER EXTENSION dbmigrate UPDATE; (install the new "
				"library first).\n");
		json_error(app, "error", NULL, NULL, 0, "dbmigrate 1.0 is installed; this client needs 1.1");
		free(version);
		return EXIT_USAGE;
	}
	free(version);
	return EXIT_DONE;
}

/*
 * line_of_offset
 *		The 0-based line, within text, of the character at 1-based position
 *		chars (the server counts characters, not bytes).
 */
static int
line_of_offset(const char *text, int chars)
{
	const unsigned char *p = (const unsigned char *) text;
	int			line = 0;
	int			c = 1;

	for (; *p && c < chars; p++)
	{
		if ((*p & 0xC0) != 0x80)
		{
			if (*p == '\n')
				line++;
			c++;
		}
	}
	return line;
}

/*
 * error_line
 *		The line of file an error belongs to: a syntax error's position
 *		inside a section (registration: "upgrade_sql of revision ..."), the
 *		statement a step failed in ("SQL statement ..." in the context, found
 *		in the section), else the section's marker, else the header line the
 *		error is about.  *section says which section, if any.
 */
static int
error_line(const DbError *err, const MigFile *file, const char **section)
{
	const char *ctx = err->context ? err->context : "";
	bool		down = strstr(ctx, "downgrade_sql of revision") != NULL ||
		strstr(ctx, "downgrade of revision") != NULL;
	bool		up = !down && (strstr(ctx, "upgrade_sql of revision") != NULL ||
							   strstr(ctx, "upgrade of revision") != NULL);
	const char *text = down ? file->down : file->up;
	int			marker = down ? file->line_down : file->line_up;
	const char *stmt;

	*section = NULL;
	if ((up || down) && text !=NULL)
	{
		*section = down ? "migrate:down" : "migrate:up";
		if (err->internal_position > 0 && err->internal_query &&
			strcmp(err->internal_query, text) == 0)
			return marker + 1 + line_of_offset(text, err->internal_position);
		stmt = strstr(ctx, "SQL statement \"");
		if (stmt)
		{
			const char *start = stmt + 15;
			const char *endq = strstr(start, "\"\n");
			char	   *s;
			const char *at;

			if (endq == NULL)
				endq = start + strlen(start) - (start[strlen(start) - 1] == '"' ? 1 : 0);
			s = xstrndup(start, (size_t) (endq - start));
			at = *s ? strstr(text, s) : NULL;
			free(s);
			if (at)
			{
				int			line = 0;

				for (const char *q = text; q < at; q++)
					if (*q == '\n')
						line++;
				return marker + 1 + line;
			}
		}
		return marker;
	}
	if (err->sqlstate && (strcmp(err->sqlstate, "23503") == 0 || strcmp(err->sqlstate, "42P17") == 0 ||
						  strcmp(err->sqlstate, "2BP01") == 0 || strcmp(err->sqlstate, "22023") == 0))
		return file->line_parents;
	return file->line_revision;
}

/*
 * print_error_line
 *		psql's "LINE n:" with a caret under the character at 1-based
 *		position chars of text (line is the file's line number).
 */
static void
print_error_line(const char *text, int chars, int line)
{
	const unsigned char *p = (const unsigned char *) text;
	const unsigned char *start = p;
	const unsigned char *end;
	int			c = 1;
	int			col = 0;
	char	   *prefix;

	for (; *p && c < chars; p++)
		if ((*p & 0xC0) != 0x80)
		{
			c++;
			if (*p == '\n')
				start = p + 1;
		}
	for (const unsigned char *q = start; q < p; q++)
		if ((*q & 0xC0) != 0x80)
			col++;
	end = (const unsigned char *) strchr((const char *) start, '\n');
	if (end == NULL)
		end = start + strlen((const char *) start);
	if (end > start && end[-1] == '\r')
		end--;
	prefix = xasprintf("LINE %d: ", line);
	fprintf(stderr, "%s%.*s\n%*s^\n", prefix, (int) (end - start), (const char *) start,
			(int) strlen(prefix) + col, "");
	free(prefix);
}

/*
 * db_report_error
 *		A server error in full, as psql's verbose form has it, headed by the
 *		file and line it belongs to when one does (file may be NULL: then the
 *		revision named in the context is looked up in the folder).
 */
void
db_report_error(App *app, const DbError *err, const MigFile *file, const char *what)
{
	const char *section = NULL;
	int			line = 0;

	if (file == NULL && app->folder && err->context)
	{
		const char *r = strstr(err->context, "of revision \"");

		if (r)
		{
			const char *s = r + 13;
			const char *e = strchr(s, '"');

			for (int i = 0; e && i < app->folder->nfiles; i++)
				if (strlen(app->folder->files[i].revision) == (size_t) (e - s) &&
					strncmp(app->folder->files[i].revision, s, (size_t) (e - s)) == 0)
					file = &app->folder->files[i];
		}
	}
	if (file)
		line = error_line(err, file, &section);

	fflush(stdout);
	if (file)
		fprintf(stderr, "dbmigrate: %s:%d: %s", file->path, line, what ? what : "");
	else
		fprintf(stderr, "dbmigrate: %s", what ? what : "");
	if (what && *what)
		fputs(": ", stderr);
	fprintf(stderr, "%s:  ", err->severity ? err->severity : "ERROR");
	if (err->sqlstate)
		fprintf(stderr, "%s: ", err->sqlstate);
	fprintf(stderr, "%s\n", err->message ? err->message : "(no message)");
	if (err->detail)
		fprintf(stderr, "DETAIL:  %s\n", err->detail);
	if (err->hint)
		fprintf(stderr, "HINT:  %s\n", err->hint);
	if (err->internal_query && err->internal_position == 0)
		fprintf(stderr, "QUERY:  %s\n", err->internal_query);
	if (err->context)
		fprintf(stderr, "CONTEXT:  %s\n", err->context);
	if (file && section)
	{
		const char *text = strcmp(section, "migrate:down") == 0 ? file->down : file->up;

		if (err->internal_position > 0 && err->internal_query && text &&
			strcmp(err->internal_query, text) == 0)
			print_error_line(text, err->internal_position, line);
		fprintf(stderr, "FILE:  %s, line %d (in \"-- %s\")\n", file->path, line, section);
	}
	replicas_explain_standby(app, err);
	json_error(app, "failed", err, file ? file->path : NULL, line, NULL);
}

/*
 * db_read_graph
 *		Add what the database has registered to g (migrate_history(): newest
 *		first, so read backwards for registration order), with applied and
 *		current flags.  Nodes already in g (from the folder) get the flags.
 */
bool
db_read_graph(App *app, Graph *g, DbError *err)
{
	PGresult   *res = db_query(app,
							   "SELECT revision, pg_catalog.array_to_string(down_revisions, ','), "
							   "message, is_applied, is_current, "
							   "pg_catalog.to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), "
							   "applied_by FROM dbmigrate.migrate_history()", 0, NULL, err);
	int			i;

	if (res == NULL)
		return false;
	for (i = PQntuples(res) - 1; i >= 0; i--)
	{
		const char *id = PQgetvalue(res, i, 0);
		int			k = graph_find(g, id);
		GNode	   *nd;

		if (k < 0)
		{
			char	   *parents = xstrdup(PQgetvalue(res, i, 1));
			char	  **list = NULL;
			int			n = 0;

			for (char *tok = strtok(parents, ","); tok; tok = strtok(NULL, ","))
			{
				list = xrealloc(list, sizeof(char *) * (n + 1));
				list[n++] = tok;
			}
			k = graph_add(g, id, list, n,
						  PQgetisnull(res, i, 2) ? NULL : PQgetvalue(res, i, 2));
			free(list);
			free(parents);
		}
		nd = &g->nodes[k];
		nd->registered = true;
		nd->applied = strcmp(PQgetvalue(res, i, 3), "t") == 0;
		nd->current = strcmp(PQgetvalue(res, i, 4), "t") == 0;
		if (!PQgetisnull(res, i, 5))
			nd->applied_at = xasprintf("%s UTC", PQgetvalue(res, i, 5));
		if (!PQgetisnull(res, i, 6))
			nd->applied_by = xstrdup(PQgetvalue(res, i, 6));
	}
	PQclear(res);
	return true;
}

/*
 * db_union_graph
 *		What the database has registered (present: dbmigrate is installed;
 *		else the built-in revision CREATE EXTENSION would register) joined
 *		with the folder's graph in app->graph: registration order first, then
 *		the folder's revisions that are not registered.  Files are attached
 *		to their nodes.  NULL with *err filled on a query failure.
 */
Graph *
db_union_graph(App *app, bool present, DbError *err)
{
	Graph	   *g = graph_new();

	if (present)
	{
		if (!db_read_graph(app, g, err))
		{
			graph_free(g);
			return NULL;
		}
	}
	else
		graph_add(g, BUILTIN_REVISION, NULL, 0, "Initial migration");
	for (int i = 0; app->graph && i < app->graph->n; i++)
	{
		GNode	   *fn = &app->graph->nodes[app->graph->order[i]];
		int			k = graph_find(g, fn->id);

		if (k < 0)
			k = graph_add(g, fn->id, fn->parent_ids, fn->nparents, fn->message);
		g->nodes[k].file = fn->file;
	}
	graph_link(g, false);
	return g;
}

/*-------------------------------------------------------------------------
 *
 * cmd_run.c
 *	  The commands that change the database (upgrade, downgrade, stamp,
 *	  seed), check, and offline mode (--sql).
 *
 * A deploy is one transaction: the folder is read and its graph checked
 * before connecting; then BEGIN, the bootstrap (CREATE EXTENSION under an
 * advisory lock), every file registered parents first (the first
 * registration takes dbmigrate's run lock, held to COMMIT), the upgrade, and
 * COMMIT.  Any error rolls all of it back.  The server refuses (25001,
 * before running anything) a path with a revision registered
 * transactional => false; then the registration is committed alone and the
 * deploy goes on through CALL dbmigrate.migrate_upgrade_stepwise(target),
 * which commits after each revision.
 *
 * Copyright (c) 2026, dbmigrate developers
 *
 * IDENTIFICATION
 *	  cli/cmd_run.c
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dbmigrate.h"

typedef struct RunResult
{
	int			nsteps;
	char	  **revision;
	char	  **message;
	double	   *ms;
	bool		stepwise;
	char	  **current;
	int			ncurrent;
	char	  **registered;		/* revisions new to the database */
	int			nregistered;
} RunResult;

static bool is_not_transactional_refusal(const DbError *err);
static int	fail(App *app, DbError *err, const MigFile *file, bool rollback);
static int	register_folder(App *app, RunResult *rr, const bool *only);
static bool register_batch_results(App *app, RunResult *rr, MigFile **batch, int nbatch,
								   char **known);
static int	stamp_from_alembic(App *app, const char *table);
static bool read_alembic_version(App *app, const char *table, char ***ids, int *nids);
static bool drop_unused_builtin(App *app);
static int	run_direction(App *app, const char *target, bool upgrade, RunResult *rr);
static bool read_current(App *app, RunResult *rr, DbError *err);
static void print_result(App *app, const char *target, bool upgrade, RunResult *rr, double ms);
static void free_result(RunResult *rr);
static int	offline_sql(App *app, const char *target, bool upgrade);
static void step_from_text(const char *text, bool upgrade, char **revision, char **message);

/* migrate_register calls sent in one pipeline (one round trip) */
#define REGISTER_BATCH 100

/*
 * load_folder
 *		The folder and its checked graph into app.  Without a folder, when
 *		none was named (--dir or dbmigrate.conf) and it is not required, go
 *		on with an empty one: the database's own graph.
 */
int
app_load_folder(App *app, bool required)
{
	const char *dir = app_dir(app);
	struct stat sb;
	int			rc;

	if (!required && !app->dir_given && app->config_dir == NULL && stat(dir, &sb) != 0 &&
		errno == ENOENT)
	{
		app->no_folder = true;
		app->folder = xmalloc(sizeof(Folder));
		app->folder->dir = xstrdup(dir);
		app->folder->files = NULL;
		app->folder->nfiles = 0;
		app->graph = graph_new();
		graph_link(app->graph, true);
		return EXIT_DONE;
	}
	app->folder = folder_read(dir, &rc);
	if (app->folder == NULL)
		return rc;
	app->graph = graph_from_folder(app->folder, &rc);
	if (app->graph == NULL)
		return rc;
	return EXIT_DONE;
}

/* the server's refusal of a path holding a non-transactional revision */
static bool
is_not_transactional_refusal(const DbError *err)
{
	const char *suffix = "\" is not transactional";
	size_t		n;

	if (err->sqlstate == NULL || strcmp(err->sqlstate, "25001") != 0 || err->message == NULL)
		return false;
	n = strlen(err->message);
	return strncmp(err->message, "revision \"", 10) == 0 && n > 10 + strlen(suffix) &&
		strcmp(err->message + n - strlen(suffix), suffix) == 0;
}

/* fail: report err (with its file), roll back, exit status 1 */
static int
fail(App *app, DbError *err, const MigFile *file, bool rollback)
{
	progress_fail(app);
	db_report_error(app, err, file, NULL);
	db_error_free(err);
	if (rollback && app->conn && PQtransactionStatus(app->conn) != PQTRANS_IDLE)
	{
		DbError		e2;

		if (!db_command(app, "ROLLBACK", &e2))
			db_error_free(&e2);
		else
			msg_info(app, "Rolled back: nothing was registered or applied");
	}
	return EXIT_FAILED;
}

/*
 * register_folder
 *		In the open transaction: every file, parents first, with
 *		migrate_register (idempotent for an unchanged file).  rr->registered
 *		gets the ids that were new to the database.  only (indexed by node;
 *		NULL: every file) restricts it to some files.  The calls go in
 *		pipelines of REGISTER_BATCH (libpq's pipeline mode): one round trip
 *		per batch, and an error still names its file.
 */
static int
register_folder(App *app, RunResult *rr, const bool *only)
{
	Graph	   *g = app->graph;
	DbError		err;
	PGresult   *res;
	int			i;
	char	   *known = NULL;
	MigFile    *batch[REGISTER_BATCH];
	int			nbatch = 0;

	res = db_query(app, "SELECT pg_catalog.string_agg(revision, ',') FROM dbmigrate.migrate_history()",
				   0, NULL, &err);
	if (res == NULL)
		return fail(app, &err, NULL, true);
	known = xasprintf(",%s,", PQgetisnull(res, 0, 0) ? "" : PQgetvalue(res, 0, 0));
	PQclear(res);

	for (i = 0; i <= g->n; i++)
	{
		MigFile    *mf = i < g->n ? g->nodes[g->order[i]].file : NULL;
		char	   *parents;
		const char *values[6];

		if (i < g->n && (mf == NULL || (only && !only[g->order[i]])))
			continue;
		if (mf != NULL)
		{
			parents = graph_parents_text(g, g->order[i]);
			if (mf->nparents == 0)
			{
				free(parents);
				parents = xstrdup("");
			}
			/* "a, b" -> "a,b" for string_to_array */
			{
				char	   *w = parents;

				for (char *r = parents; *r; r++)
					if (*r != ' ')
						*w++ = *r;
				*w = '\0';
			}
			values[0] = mf->revision;
			values[1] = parents;
			values[2] = mf->up;
			values[3] = mf->down;
			values[4] = mf->message;
			values[5] = mf->transactional ? "true" : "false";
			if (nbatch == 0 && !PQenterPipelineMode(app->conn))
			{
				free(parents);
				free(known);
				db_error_from_conn(app, &err);
				return fail(app, &err, NULL, true);
			}
			if (!PQsendQueryParams(app->conn,
								   "SELECT dbmigrate.migrate_register($1, pg_catalog.string_to_array($2, ','), "
								   "$3, $4, $5, $6::pg_catalog.bool)", 6, NULL, values, NULL, NULL, 0))
			{
				free(parents);
				free(known);
				db_error_from_conn(app, &err);
				(void) PQexitPipelineMode(app->conn);
				return fail(app, &err, mf, true);
			}
			free(parents);
			batch[nbatch++] = mf;
		}
		if (nbatch > 0 && (nbatch == REGISTER_BATCH || mf == NULL))
		{
			if (!register_batch_results(app, rr, batch, nbatch, &known))
			{
				free(known);
				return EXIT_FAILED;
			}
			nbatch = 0;
		}
	}
	free(known);
	return EXIT_DONE;
}

/*
 * register_batch_results
 *		End a pipeline of nbatch migrate_register calls (one round trip for
 *		all) and read their results in order.  The first error is reported
 *		with its file and the transaction rolled back; the calls after it were
 *		not run.
 */
static bool
register_batch_results(App *app, RunResult *rr, MigFile **batch, int nbatch, char **known)
{
	DbError		err;
	MigFile    *failed = NULL;
	bool		conn_lost = false;
	PGresult   *res;

	memset(&err, 0, sizeof(err));
	if (!PQpipelineSync(app->conn))
		conn_lost = true;
	for (int k = 0; k < nbatch && !conn_lost; k++)
	{
		res = PQgetResult(app->conn);
		if (res == NULL)
		{
			conn_lost = true;
			break;
		}
		if (PQresultStatus(res) == PGRES_TUPLES_OK)
		{
			char	   *needle = xasprintf(",%s,", batch[k]->revision);

			if (strstr(*known, needle) == NULL)
			{
				char	   *k2 = xasprintf("%s%s,", *known, batch[k]->revision);

				free(*known);
				*known = k2;
				rr->registered = xrealloc(rr->registered, sizeof(char *) * (rr->nregistered + 1));
				rr->registered[rr->nregistered++] = xstrdup(batch[k]->revision);
			}
			free(needle);
		}
		else if (PQresultStatus(res) != PGRES_PIPELINE_ABORTED && failed == NULL)
		{
			db_error_from_result(res, &err);
			failed = batch[k];
		}
		PQclear(res);
		/* the NULL that ends each query's results */
		while ((res = PQgetResult(app->conn)) != NULL)
			PQclear(res);
	}
	/* the sync's result */
	while (!conn_lost && (res = PQgetResult(app->conn)) != NULL)
	{
		bool		sync = PQresultStatus(res) == PGRES_PIPELINE_SYNC;

		PQclear(res);
		if (sync)
			break;
	}
	if (conn_lost)
	{
		if (failed)
			db_error_free(&err);
		db_error_from_conn(app, &err);
		(void) PQexitPipelineMode(app->conn);
		(void) fail(app, &err, NULL, false);
		return false;
	}
	(void) PQexitPipelineMode(app->conn);
	if (failed)
	{
		(void) fail(app, &err, failed, true);
		return false;
	}
	progress_finish(app);
	return true;
}

/* read_current: migrate_current() into rr */
static bool
read_current(App *app, RunResult *rr, DbError *err)
{
	PGresult   *res = db_query(app, "SELECT * FROM dbmigrate.migrate_current()", 0, NULL, err);

	if (res == NULL)
		return false;
	rr->ncurrent = PQntuples(res);
	rr->current = xmalloc(sizeof(char *) * (rr->ncurrent + 1));
	for (int i = 0; i < rr->ncurrent; i++)
		rr->current[i] = xstrdup(PQgetvalue(res, i, 0));
	PQclear(res);
	return true;
}

/* step_from_text: the revision and message of "upgrade a -> b, message" */
static void
step_from_text(const char *text, bool upgrade, char **revision, char **message)
{
	const char *arrow = strstr(text, " -> ");
	const char *sp = strchr(text, ' ');
	const char *comma;
	const char *end;

	*revision = NULL;
	*message = NULL;
	if (arrow == NULL || sp == NULL)
		return;
	comma = strstr(arrow, ", ");
	if (upgrade)
	{
		end = comma ? comma : arrow + strlen(arrow);
		if (!comma && strstr(arrow, " (non-transactional)"))
			end = strstr(arrow, " (non-transactional)");
		*revision = xstrndup(arrow + 4, (size_t) (end - arrow - 4));
	}
	else
		*revision = xstrndup(sp + 1, (size_t) (arrow - sp - 1));
	if (comma)
	{
		const char *m = comma + 2;
		const char *nt = strstr(m, " (non-transactional)");

		*message = nt ? xstrndup(m, (size_t) (nt - m)) : xstrdup(m);
	}
}

/*
 * run_direction
 *		In the open transaction: migrate_upgrade(target) or
 *		migrate_downgrade(target), under a savepoint: when the server refuses
 *		the path because a revision on it is not transactional, commit what
 *		is done (the registration) and run the stepwise procedure instead.
 *		Reads the new current revisions and commits.
 */
static int
run_direction(App *app, const char *target, bool upgrade, RunResult *rr)
{
	DbError		err;
	PGresult   *res;
	const char *values[1] = {target};

	if (!db_command(app, "SAVEPOINT dbmigrate_run", &err))
		return fail(app, &err, NULL, true);
	res = db_query(app, upgrade ?
				   "SELECT revision, message, (pg_catalog.date_part('epoch', duration) * 1000)::pg_catalog.float8 "
				   "FROM dbmigrate.migrate_upgrade($1)" :
				   "SELECT revision, message, (pg_catalog.date_part('epoch', duration) * 1000)::pg_catalog.float8 "
				   "FROM dbmigrate.migrate_downgrade($1::pg_catalog.text)", 1, values, &err);
	if (res == NULL && is_not_transactional_refusal(&err))
	{
		const char *proc = upgrade ? "migrate_upgrade_stepwise" : "migrate_downgrade_stepwise";

		db_error_free(&err);
		if (!db_command(app, "ROLLBACK TO SAVEPOINT dbmigrate_run", &err) ||
			!db_command(app, "COMMIT", &err))
			return fail(app, &err, NULL, true);
		rr->stepwise = true;
		msg_info(app, "The path holds a non-transactional revision: the registration is committed; "
				 "running CALL dbmigrate.%s('%s'), which commits after each revision", proc, target);
		res = db_query(app, upgrade ? "CALL dbmigrate.migrate_upgrade_stepwise($1)" :
					   "CALL dbmigrate.migrate_downgrade_stepwise($1)", 1, values, &err);
		if (res == NULL)
		{
			int			rc = fail(app, &err, NULL, false);

			msg_error("the revisions before the failing one stay applied (each committed); "
					  "fix the cause and run the same command again");
			return rc;
		}
		PQclear(res);
		for (int i = 0; i < app->steps_seen && app->step_done; i++)
		{
			rr->revision = xrealloc(rr->revision, sizeof(char *) * (rr->nsteps + 1));
			rr->message = xrealloc(rr->message, sizeof(char *) * (rr->nsteps + 1));
			rr->ms = xrealloc(rr->ms, sizeof(double) * (rr->nsteps + 1));
			step_from_text(app->step_done[i], upgrade, &rr->revision[rr->nsteps],
						   &rr->message[rr->nsteps]);
			rr->ms[rr->nsteps++] = app->step_done_ms[i];
		}
		if (!read_current(app, rr, &err))
			return fail(app, &err, NULL, false);
		return EXIT_DONE;
	}
	if (res == NULL)
		return fail(app, &err, NULL, true);
	rr->nsteps = PQntuples(res);
	rr->revision = xmalloc(sizeof(char *) * (rr->nsteps + 1));
	rr->message = xmalloc(sizeof(char *) * (rr->nsteps + 1));
	rr->ms = xmalloc(sizeof(double) * (rr->nsteps + 1));
	for (int i = 0; i < rr->nsteps; i++)
	{
		rr->revision[i] = xstrdup(PQgetvalue(res, i, 0));
		rr->message[i] = PQgetisnull(res, i, 1) ? NULL : xstrdup(PQgetvalue(res, i, 1));
		rr->ms[i] = atof(PQgetvalue(res, i, 2));
	}
	PQclear(res);
	if (!read_current(app, rr, &err))
		return fail(app, &err, NULL, true);
	if (!db_command(app, "COMMIT", &err))
		return fail(app, &err, NULL, true);
	return EXIT_DONE;
}

static void
free_result(RunResult *rr)
{
	for (int i = 0; i < rr->nsteps; i++)
	{
		free(rr->revision[i]);
		free(rr->message[i]);
	}
	free(rr->revision);
	free(rr->message);
	free(rr->ms);
	for (int i = 0; i < rr->ncurrent; i++)
		free(rr->current[i]);
	free(rr->current);
	for (int i = 0; i < rr->nregistered; i++)
		free(rr->registered[i]);
	free(rr->registered);
}

/* print_result: the summary, or the JSON document */
static void
print_result(App *app, const char *target, bool upgrade, RunResult *rr, double ms)
{
	char	   *cur = xstrdup(rr->ncurrent ? rr->current[0] : "base");

	for (int i = 1; i < rr->ncurrent; i++)
	{
		char	   *t = xasprintf("%s, %s", cur, rr->current[i]);

		free(cur);
		cur = t;
	}
	if (app->json)
	{
		printf("{\"command\": ");
		json_string(stdout, app->command);
		printf(", \"status\": \"ok\", \"database\": ");
		json_string(stdout, dbname_of(app));
		printf(", \"target\": ");
		json_string(stdout, target);
		printf(", \"stepwise\": %s, \"registered\": ", rr->stepwise ? "true" : "false");
		json_string_array(stdout, rr->registered, rr->nregistered);
		printf(", \"steps\": [");
		for (int i = 0; i < rr->nsteps; i++)
		{
			printf("%s{\"revision\": ", i ? ", " : "");
			json_string(stdout, rr->revision[i]);
			printf(", \"message\": ");
			json_string(stdout, rr->message[i]);
			printf(", \"duration_ms\": %.3f}", rr->ms[i]);
		}
		printf("], \"current\": ");
		json_string_array(stdout, rr->current, rr->ncurrent);
		if (app->replicas_json)
			printf(", \"replicas\": %s", app->replicas_json);
		printf(", \"duration_ms\": %.3f}\n", ms);
	}
	else
	{
		if (rr->nregistered > 0)
			msg_info(app, "Registered %d new revision%s", rr->nregistered,
					 rr->nregistered == 1 ? "" : "s");
		if (app->command && strcmp(app->command, "stamp") == 0)
			msg_info(app, "Stamped database \"%s\": now at %s (no SQL ran)", dbname_of(app), cur);
		else if (rr->nsteps == 0)
			msg_info(app, "Nothing to %s: database \"%s\" is at %s", upgrade ? "upgrade" : "downgrade",
					 dbname_of(app), cur);
		else
			msg_info(app, "%s database \"%s\": %d revision%s in %.1f ms; now at %s",
					 upgrade ? "Upgraded" : "Downgraded", dbname_of(app), rr->nsteps,
					 rr->nsteps == 1 ? "" : "s", ms, cur);
	}
	free(cur);
}

/*
 * offline_sql
 *		--sql: what an upgrade or downgrade to target would run, as SQL on
 *		stdout (Alembic's offline mode).  The graph and SQL come from the
 *		folder, the current state from the database (read only; base when it
 *		has no dbmigrate yet); nothing is written.  dbmigrate's bookkeeping
 *		(registering, the version) is not part of the output.
 */
static int
offline_sql(App *app, const char *target, bool upgrade)
{
	DbError		err;
	bool		present;
	int			rc;
	Graph	   *g = NULL;
	PlanStep   *steps;
	int			nsteps;
	char	   *why = NULL;
	bool		in_tx = false;

	if (!db_connect(app))
	{
		graph_free(g);
		return EXIT_USAGE;
	}
	rc = db_extension(app, false, &err, &present);
	if (rc != EXIT_DONE)
	{
		graph_free(g);
		return rc == EXIT_FAILED ? fail(app, &err, NULL, false) : rc;
	}
	graph_free(g);
	g = db_union_graph(app, present, &err);
	if (g == NULL)
		return fail(app, &err, NULL, false);

	if (!graph_plan(g, target, upgrade, &steps, &nsteps, &why))
	{
		msg_error("%s %s: %s", upgrade ? "upgrade" : "downgrade", target, why);
		free(why);
		graph_free(g);
		return EXIT_FAILED;
	}
	for (int i = 0; i < nsteps && !upgrade; i++)
	{
		GNode	   *nd = &g->nodes[steps[i].node];

		if (nd->file && nd->file->down == NULL)
		{
			msg_error("revision \"%s\" is irreversible (%s has no \"-- migrate:down\"); "
					  "nothing would run", nd->id, nd->file->path);
			free(steps);
			graph_free(g);
			return EXIT_FAILED;
		}
	}

	printf("-- dbmigrate %s %s --sql: database \"%s\"%s; %d revision%s to run.\n",
		   upgrade ? "upgrade" : "downgrade", target, dbname_of(app),
		   present ? "" : " has no dbmigrate yet (taken as base)", nsteps, nsteps == 1 ? "" : "s");
	printf("-- dbmigrate's own bookkeeping (registering, the version) is not shown.\n");
	if (!present && upgrade)
		printf("CREATE EXTENSION IF NOT EXISTS dbmigrate CASCADE;\n");
	for (int i = 0; i < nsteps; i++)
	{
		GNode	   *nd = &g->nodes[steps[i].node];
		char	   *parents = graph_parents_text(g, steps[i].node);
		bool		tx = nd->file ? nd->file->transactional : true;
		char	   *sql = NULL;
		char	   *note = NULL;

		if (tx && !in_tx)
		{
			printf("\nBEGIN;\n");
			in_tx = true;
		}
		else if (!tx && in_tx)
		{
			printf("\nCOMMIT;\n");
			in_tx = false;
		}
		printf("\n-- Running %s %s -> %s%s%s%s\n", upgrade ? "upgrade" : "downgrade",
			   upgrade ? (nd->nparents ? parents : "base") : nd->id,
			   upgrade ? nd->id : (nd->nparents ? parents : "base"),
			   nd->message ? ", " : "", nd->message ? nd->message : "",
			   tx ? "" : " (non-transactional: each statement on its own)");
		if (nd->file)
			sql = xstrdup(upgrade ? nd->file->up : nd->file->down);
		else if (present)
		{
			const char *values[1] = {nd->id};
			PGresult   *res = db_query(app, "SELECT upgrade_sql, downgrade_sql FROM dbmigrate.migrate_show($1)",
									   1, values, &err);

			if (res == NULL)
			{
				note = xasprintf("-- (revision %s is not in the folder, and its SQL could not be read: %s)",
								 nd->id, err.message);
				db_error_free(&err);
			}
			else
			{
				if (PQntuples(res) == 1 && !PQgetisnull(res, 0, upgrade ? 0 : 1))
					sql = xstrdup(PQgetvalue(res, 0, upgrade ? 0 : 1));
				else if (!upgrade)
				{
					msg_error("revision \"%s\" is irreversible (no downgrade_sql); nothing would run", nd->id);
					PQclear(res);
					free(parents);
					free(steps);
					graph_free(g);
					return EXIT_FAILED;
				}
				PQclear(res);
			}
		}
		else
			note = xasprintf("-- (the SQL of %s, which CREATE EXTENSION registers)", nd->id);
		if (note)
			printf("%s\n", note);
		if (sql)
		{
			size_t		n = strlen(sql);

			fputs(sql, stdout);
			if (n > 0 && sql[n - 1] != '\n')
				fputc('\n', stdout);
		}
		free(sql);
		free(note);
		free(parents);
	}
	if (in_tx)
		printf("\nCOMMIT;\n");
	free(steps);
	graph_free(g);
	return EXIT_DONE;
}

/*
 * deploy: the body of upgrade and stamp.  upgrade: migrate_upgrade(target);
 * stamp: migrate_stamp(target).
 */
static int
deploy(App *app, const char *target, bool stamp)
{
	RunResult	rr;
	DbError		err;
	bool		present;
	double		started;
	int			rc;
	int			wait_rc = EXIT_DONE;

	memset(&rr, 0, sizeof(rr));
	if (!db_connect(app))
		return EXIT_USAGE;
	if (replicas_prepare(app) != EXIT_DONE)
		return EXIT_FAILED;
	started = now_ms();
	if (!db_command(app, "BEGIN ISOLATION LEVEL READ COMMITTED", &err))
		return fail(app, &err, NULL, false);
	rc = db_extension(app, true, &err, &present);
	if (rc == EXIT_FAILED)
		return fail(app, &err, NULL, true);
	if (rc != EXIT_DONE)
		return rc;
	rc = register_folder(app, &rr, NULL);
	if (rc == EXIT_DONE && stamp)
	{
		const char *values[1] = {target};
		PGresult   *res = db_query(app, "SELECT dbmigrate.migrate_stamp($1)", 1, values, &err);

		if (res == NULL)
			rc = fail(app, &err, NULL, true);
		else
		{
			PQclear(res);
			if (!read_current(app, &rr, &err) || !db_command(app, "COMMIT", &err))
				rc = fail(app, &err, NULL, true);
		}
	}
	else if (rc == EXIT_DONE)
		rc = run_direction(app, target, true, &rr);
	/* committed: --wait-replicas (replicas.c), then the summary */
	if (rc == EXIT_DONE && app->wait_replicas)
		wait_rc = replicas_wait(app);
	if (rc == EXIT_DONE)
		print_result(app, target, true, &rr, now_ms() - started);
	free_result(&rr);
	return rc == EXIT_DONE ? wait_rc : rc;
}

/*
 * upgrade [TARGET] [--sql]
 */
int
cmd_upgrade(App *app, int argc, char **argv)
{
	bool		sql = false;
	Opt			opts[] = {{0, "sql", false, NULL, &sql}};
	char	   *pos[1];
	int			npos;
	int			rc = parse_args(app, argc, argv, opts, lengthof(opts), pos, 1, &npos);
	const char *target = npos ? pos[0] : "head";

	if (rc >= 0)
		return rc;
	rc = app_load_folder(app, false);
	if (rc != EXIT_DONE)
		return rc;
	if (app->no_folder)
		msg_info(app, "No folder %s/: upgrading what the database has registered", app_dir(app));

	/* several heads for head: refused before connecting */
	if (strcmp(target, "head") == 0)
	{
		int		   *heads = xmalloc(sizeof(int) * (app->graph->n + 1));
		int			nh = graph_heads(app->graph, heads);

		if (nh > 1)
		{
			msg_error("target \"head\" is ambiguous: the folder %s has %d heads", app_dir(app), nh);
			fprintf(stderr, "DETAIL:  Heads:");
			for (int k = 0; k < nh; k++)
				fprintf(stderr, "%s \"%s\" (%s)", k ? "," : "", app->graph->nodes[heads[k]].id,
						app->graph->nodes[heads[k]].file ? app->graph->nodes[heads[k]].file->path :
						"built in");
			fprintf(stderr, ".\nHINT:  Join them with dbmigrate merge -m \"merge heads\" heads, or "
					"upgrade to one of them, or to heads.\n");
			json_error(app, "error", NULL, NULL, 0, "several heads");
			free(heads);
			return EXIT_USAGE;
		}
		free(heads);
	}
	if (sql)
		return offline_sql(app, target, true);
	return deploy(app, target, false);
}

/*
 * downgrade [TARGET] [--sql]
 */
int
cmd_downgrade(App *app, int argc, char **argv)
{
	bool		sql = false;
	Opt			opts[] = {{0, "sql", false, NULL, &sql}};
	char	   *pos[1];
	int			npos;
	int			rc = parse_args(app, argc, argv, opts, lengthof(opts), pos, 1, &npos);
	const char *target = npos ? pos[0] : "-1";
	RunResult	rr;
	DbError		err;
	bool		present;
	double		started;

	if (rc >= 0)
		return rc;
	rc = app_load_folder(app, false);
	if (rc != EXIT_DONE)
		return rc;
	if (sql)
		return offline_sql(app, target, false);
	memset(&rr, 0, sizeof(rr));
	if (!db_connect(app))
		return EXIT_USAGE;
	if (replicas_prepare(app) != EXIT_DONE)
		return EXIT_FAILED;
	started = now_ms();
	if (!db_command(app, "BEGIN ISOLATION LEVEL READ COMMITTED", &err))
		return fail(app, &err, NULL, false);
	rc = db_extension(app, false, &err, &present);
	if (rc == EXIT_FAILED)
		return fail(app, &err, NULL, true);
	if (rc != EXIT_DONE)
		return rc;
	if (!present)
	{
		(void) db_command(app, "ROLLBACK", &err);
		if (strcmp(target, "base") == 0)
		{
			msg_info(app, "Nothing to downgrade: database \"%s\" has no dbmigrate (base)", dbname_of(app));
			print_result(app, target, false, &rr, now_ms() - started);
			return EXIT_DONE;
		}
		msg_error("nothing to downgrade: database \"%s\" has no dbmigrate yet (nothing is applied)",
				  dbname_of(app));
		json_error(app, "failed", NULL, NULL, 0, "dbmigrate is not installed");
		return EXIT_FAILED;
	}
	rc = run_direction(app, target, false, &rr);
	/* committed: --wait-replicas (replicas.c), then the summary */
	if (rc == EXIT_DONE && app->wait_replicas)
	{
		int			wait_rc = replicas_wait(app);

		if (wait_rc != EXIT_DONE)
		{
			print_result(app, target, false, &rr, now_ms() - started);
			free_result(&rr);
			return wait_rc;
		}
	}
	if (rc == EXIT_DONE)
		print_result(app, target, false, &rr, now_ms() - started);
	free_result(&rr);
	return rc;
}

/*
 * stamp REVISION | stamp --from-alembic [--alembic-table SCHEMA.TABLE]
 *		The folder registered, then migrate_stamp, in one transaction.
 */
int
cmd_stamp(App *app, int argc, char **argv)
{
	bool		from_alembic = false;
	const char *table = NULL;
	Opt			opts[] = {{0, "from-alembic", false, NULL, &from_alembic},
	{0, "alembic-table", true, &table, NULL}};
	char	   *pos[1];
	int			npos;
	int			rc = parse_args(app, argc, argv, opts, lengthof(opts), pos, 1, &npos);

	if (rc >= 0)
		return rc;
	if (from_alembic && npos != 0)
	{
		msg_error("stamp: --from-alembic reads the revisions from alembic_version; name no revision");
		return EXIT_USAGE;
	}
	if (table && !from_alembic)
	{
		msg_error("stamp: --alembic-table goes with --from-alembic");
		return EXIT_USAGE;
	}
	if (!from_alembic && npos != 1)
	{
		msg_error("stamp: name the revision: dbmigrate stamp REVISION (or heads, or base)");
		return EXIT_USAGE;
	}
	rc = app_load_folder(app, false);
	if (rc != EXIT_DONE)
		return rc;
	if (from_alembic)
		return stamp_from_alembic(app, table);
	return deploy(app, pos[0], true);
}

/*
 * read_alembic_version
 *		In the open transaction: the ids in Alembic's version table (table:
 *		SCHEMA.TABLE or TABLE; NULL: alembic_version in the search_path).
 *		On failure the error is reported and the transaction rolled back.
 */
static bool
read_alembic_version(App *app, const char *table, char ***ids, int *nids)
{
	char	   *rel;
	char	   *sql;
	DbError		err;
	PGresult   *res;
	const char *shown = table ? table : "alembic_version";

	if (table == NULL)
		rel = xstrdup("alembic_version");
	else
	{
		const char *dot = strchr(table, '.');
		char	   *schema = dot ? xstrndup(table, (size_t) (dot - table)) : NULL;
		const char *name = dot ? dot + 1 : table;
		char	   *qs = schema ? PQescapeIdentifier(app->conn, schema, strlen(schema)) : NULL;
		char	   *qn = PQescapeIdentifier(app->conn, name, strlen(name));

		if (*name == '\0' || (schema && (*schema == '\0' || strchr(name, '.'))) || qn == NULL ||
			(schema && qs == NULL))
		{
			msg_error("stamp: --alembic-table wants TABLE or SCHEMA.TABLE, not \"%s\"", table);
			free(schema);
			PQfreemem(qs);
			PQfreemem(qn);
			(void) db_command(app, "ROLLBACK", &err);
			return false;
		}
		rel = qs ? xasprintf("%s.%s", qs, qn) : xstrdup(qn);
		free(schema);
		PQfreemem(qs);
		PQfreemem(qn);
	}
	sql = xasprintf("SELECT version_num::pg_catalog.text FROM %s ORDER BY 1", rel);
	free(rel);
	res = db_query(app, sql, 0, NULL, &err);
	free(sql);
	if (res == NULL)
	{
		bool		missing = err.sqlstate && strcmp(err.sqlstate, "42P01") == 0;

		if (missing)
		{
			progress_fail(app);
			msg_error("database \"%s\" has no table %s%s: is it managed by Alembic?", dbname_of(app),
					  shown, table ? "" : " in its search_path");
			fprintf(stderr, "HINT:  Name Alembic's version table with --alembic-table SCHEMA.TABLE.\n");
			json_error(app, "failed", &err, NULL, 0, "no alembic_version table");
			db_error_free(&err);
			(void) db_command(app, "ROLLBACK", &err);
			return false;
		}
		(void) fail(app, &err, NULL, true);
		return false;
	}
	*nids = PQntuples(res);
	*ids = xmalloc(sizeof(char *) * (*nids + 1));
	for (int i = 0; i < *nids; i++)
		(*ids)[i] = xstrdup(PQgetvalue(res, i, 0));
	PQclear(res);
	if (*nids == 0)
	{
		msg_error("%s is empty: the database is at Alembic's base, so there is nothing to stamp",
				  shown);
		fprintf(stderr, "HINT:  Deploy the folder with dbmigrate upgrade instead.\n");
		json_error(app, "failed", NULL, NULL, 0, "alembic_version is empty");
		(void) db_command(app, "ROLLBACK", &err);
		return false;
	}
	return true;
}

/*
 * drop_unused_builtin
 *		In the open transaction: an Alembic history has its own root, so
 *		001_initial_migration, registered by CREATE EXTENSION, would be a
 *		second head.  Unregister it when no file names it and it is
 *		registered, not applied and childless.
 */
static bool
drop_unused_builtin(App *app)
{
	DbError		err;
	PGresult   *res;
	bool		dropped;

	if (graph_find(app->graph, BUILTIN_REVISION) >= 0)
		return true;
	res = db_query(app,
				   "SELECT dbmigrate.migrate_unregister(h.revision) FROM dbmigrate.migrate_history() h "
				   "WHERE h.revision OPERATOR(pg_catalog.=) '" BUILTIN_REVISION "' AND NOT h.is_applied "
				   "AND NOT EXISTS (SELECT FROM dbmigrate.migrate_history() c "
				   "WHERE h.revision OPERATOR(pg_catalog.=) ANY (c.down_revisions))", 0, NULL, &err);
	if (res == NULL)
	{
		(void) fail(app, &err, NULL, true);
		return false;
	}
	dropped = PQntuples(res) == 1;
	PQclear(res);
	if (dropped)
		msg_info(app, "Unregistered the built-in revision " BUILTIN_REVISION
				 " (not applied; the Alembic history has its own root)");
	return true;
}

/*
 * stamp_from_alembic
 *		Adopt an Alembic-managed database: in one transaction read its
 *		alembic_version, register the folder and stamp the same revisions.
 *		migrate_stamp makes exactly one target (or every head) current, so
 *		for several rows (branch heads) the files they descend from are
 *		registered first, the database's heads are then exactly those rows
 *		and migrate_stamp('heads') stamps them; the other files follow.
 */
static int
stamp_from_alembic(App *app, const char *table)
{
	RunResult	rr;
	DbError		err;
	bool		present;
	double		started;
	char	  **ids = NULL;
	int			nids = 0;
	bool	   *only = NULL;
	const char *target;
	int			rc;
	int			i;

	memset(&rr, 0, sizeof(rr));
	if (!db_connect(app))
		return EXIT_USAGE;
	started = now_ms();
	if (!db_command(app, "BEGIN ISOLATION LEVEL READ COMMITTED", &err))
		return fail(app, &err, NULL, false);
	if (!read_alembic_version(app, table, &ids, &nids))
		return EXIT_FAILED;
	for (i = 0; i < nids; i++)
	{
		int			node = graph_find(app->graph, ids[i]);

		if (node < 0 || app->graph->nodes[node].file == NULL)
		{
			msg_error("%s names revision \"%s\", which the folder %s/ does not have",
					  table ? table : "alembic_version", ids[i], app_dir(app));
			fprintf(stderr, "HINT:  Import the Alembic history first: dbmigrate import-alembic "
					"UPGRADE.sql DOWNGRADE.sql.\n");
			json_error(app, "failed", NULL, NULL, 0, "revision not in the folder");
			(void) db_command(app, "ROLLBACK", &err);
			return EXIT_FAILED;
		}
	}
	rc = db_extension(app, true, &err, &present);
	if (rc == EXIT_FAILED)
		return fail(app, &err, NULL, true);
	if (rc != EXIT_DONE)
		return rc;
	if (!drop_unused_builtin(app))
		return EXIT_FAILED;
	if (nids > 1)
	{
		only = calloc(app->graph->n + 1, sizeof(bool));
		if (only == NULL)
		{
			msg_error("out of memory");
			return EXIT_FAILED;
		}
		for (i = 0; i < app->graph->n; i++)
			for (int k = 0; k < nids && !only[i]; k++)
			{
				int			head = graph_find(app->graph, ids[k]);

				only[i] = i == head || graph_is_ancestor(app->graph, i, head);
			}
	}
	rc = register_folder(app, &rr, only);
	target = nids > 1 ? "heads" : ids[0];
	if (rc == EXIT_DONE && nids > 1)
	{
		PGresult   *res = db_query(app, "SELECT pg_catalog.string_agg(h, ', ' ORDER BY h) "
								   "FROM dbmigrate.migrate_heads() h", 0, NULL, &err);
		char	   *want = xstrdup(ids[0]);

		for (i = 1; i < nids; i++)
		{
			char	   *t = xasprintf("%s, %s", want, ids[i]);

			free(want);
			want = t;
		}
		if (res == NULL)
			rc = fail(app, &err, NULL, true);
		else if (strcmp(PQgetvalue(res, 0, 0), want) != 0)
		{
			msg_error("cannot stamp exactly the branch heads %s: the database's registered heads "
					  "would be %s", want, PQgetvalue(res, 0, 0));
			fprintf(stderr, "HINT:  Unregister the revisions that are not part of the Alembic "
					"history, or stamp one revision with dbmigrate stamp REVISION.\n");
			json_error(app, "failed", NULL, NULL, 0, "other registered heads");
			(void) db_command(app, "ROLLBACK", &err);
			rc = EXIT_FAILED;
		}
		if (res)
			PQclear(res);
		free(want);
	}
	if (rc == EXIT_DONE)
	{
		const char *values[1] = {target};
		PGresult   *res = db_query(app, "SELECT dbmigrate.migrate_stamp($1)", 1, values, &err);

		if (res == NULL)
			rc = fail(app, &err, NULL, true);
		else
			PQclear(res);
	}
	if (rc == EXIT_DONE && only != NULL)
		rc = register_folder(app, &rr, NULL);
	if (rc == EXIT_DONE && (!read_current(app, &rr, &err) || !db_command(app, "COMMIT", &err)))
		rc = fail(app, &err, NULL, true);
	if (rc == EXIT_DONE)
		print_result(app, "alembic_version", true, &rr, now_ms() - started);
	free(only);
	for (i = 0; i < nids; i++)
		free(ids[i]);
	free(ids);
	free_result(&rr);
	return rc;
}

/*
 * seed [--reset]
 */
int
cmd_seed(App *app, int argc, char **argv)
{
	bool		reset = false;
	Opt			opts[] = {{0, "reset", false, NULL, &reset}};
	char	   *pos[1];
	int			npos;
	int			rc = parse_args(app, argc, argv, opts, lengthof(opts), pos, 0, &npos);
	DbError		err;
	bool		present;
	const char *values[1];
	PGresult   *res;
	int			n;

	if (rc >= 0)
		return rc;
	if (!db_connect(app))
		return EXIT_USAGE;
	rc = db_extension(app, false, &err, &present);
	if (rc == EXIT_FAILED)
		return fail(app, &err, NULL, false);
	if (rc != EXIT_DONE)
		return rc;
	if (!present)
	{
		msg_error("database \"%s\" has no dbmigrate yet; run dbmigrate upgrade first", dbname_of(app));
		json_error(app, "failed", NULL, NULL, 0, "dbmigrate is not installed");
		return EXIT_FAILED;
	}
	values[0] = reset ? "true" : "false";
	res = db_query(app, "SELECT dbmigrate.seed_users($1::pg_catalog.bool)", 1, values, &err);
	if (res == NULL)
	{
		bool		no_table = err.sqlstate && strcmp(err.sqlstate, "42P01") == 0;

		rc = fail(app, &err, NULL, false);
		if (no_table)
			fprintf(stderr, "dbmigrate: create the users table first: dbmigrate upgrade\n");
		return rc;
	}
	n = PQntuples(res) == 1 ? atoi(PQgetvalue(res, 0, 0)) : 0;
	PQclear(res);
	if (app->json)
		printf("{\"command\": \"seed\", \"status\": \"ok\", \"reset\": %s, \"inserted\": %d}\n",
			   reset ? "true" : "false", n);
	else if (n > 0)
		msg_info(app, "Seeded %d account%s%s (admin, testuser1, testuser2, developer)", n,
				 n == 1 ? "" : "s", reset ? " afresh" : "");
	else
		msg_info(app, "Nothing to seed: the accounts exist (seed --reset inserts them afresh)");
	return EXIT_DONE;
}

/*
 * check
 *		0 up to date, 1 pending, 2 problems.  Reads only.
 */
int
cmd_check(App *app, int argc, char **argv)
{
	char	   *pos[1];
	int			npos;
	int			rc = parse_args(app, argc, argv, NULL, 0, pos, 0, &npos);
	DbError		err;
	bool		present;
	Graph	   *g;
	PGresult   *res;
	char	  **problems = NULL;
	int			nproblems = 0;
	char	  **pending = NULL;
	int			npending = 0;
	char	  **current = NULL;
	int			ncurrent = 0;
	int		   *heads;
	int			nh;
	const char *status;
	bool	   *listed;
	int			i;

	if (rc >= 0)
		return rc;
	rc = app_load_folder(app, false);
	if (rc != EXIT_DONE)
	{
		json_error(app, "problems", NULL, NULL, 0, "the migrations folder has problems");
		return EXIT_USAGE;
	}
	if (!db_connect(app))
		return EXIT_USAGE;
	rc = db_extension(app, false, &err, &present);
	if (rc == EXIT_FAILED)
	{
		db_report_error(app, &err, NULL, NULL);
		db_error_free(&err);
		return EXIT_USAGE;
	}
	if (rc != EXIT_DONE)
		return EXIT_USAGE;

	g = db_union_graph(app, present, &err);
	if (g == NULL)
	{
		db_report_error(app, &err, NULL, NULL);
		db_error_free(&err);
		return EXIT_USAGE;
	}
	listed = calloc(g->n + 1, sizeof(bool));
	if (listed == NULL)
	{
		msg_error("out of memory");
		graph_free(g);
		return EXIT_USAGE;
	}

	/* the folder's heads: upgrade head needs one */
	heads = xmalloc(sizeof(int) * (app->graph->n + 1));
	nh = graph_heads(app->graph, heads);
	if (nh > 1)
	{
		problems = xrealloc(problems, sizeof(char *) * (nproblems + 1));
		problems[nproblems++] = xasprintf("the folder %s has %d heads: upgrade head would refuse; "
										  "merge them (dbmigrate merge -m MESSAGE heads)",
										  app_dir(app), nh);
	}
	free(heads);

	if (present)
	{
		/* the server's view: drift of stored text, missing revisions */
		res = db_query(app, "SELECT pg_catalog.jsonb_array_elements_text(dbmigrate.health() "
					   "OPERATOR(pg_catalog.->) 'problems')", 0, NULL, &err);
		if (res == NULL)
		{
			db_report_error(app, &err, NULL, NULL);
			db_error_free(&err);
			free(listed);
			graph_free(g);
			return EXIT_USAGE;
		}
		for (i = 0; i < PQntuples(res); i++)
		{
			problems = xrealloc(problems, sizeof(char *) * (nproblems + 1));
			problems[nproblems++] = xstrdup(PQgetvalue(res, i, 0));
		}
		PQclear(res);

		/* files that differ from what is registered */
		res = db_query(app, "SELECT revision, upgrade_sql, downgrade_sql, is_applied "
					   "FROM dbmigrate.migrate_history(true)", 0, NULL, &err);
		if (res == NULL)
		{
			msg_info(app, "(files not compared with the registered text: %s)", err.message);
			db_error_free(&err);
		}
		else
		{
			for (i = 0; i < PQntuples(res); i++)
			{
				int			k = graph_find(g, PQgetvalue(res, i, 0));
				MigFile    *mf = k >= 0 ? g->nodes[k].file : NULL;
				bool		same;

				if (mf == NULL)
					continue;
				{
					char	   *a = normalize_sql(mf->up);
					char	   *b = normalize_sql(PQgetvalue(res, i, 1));

					same = strcmp(a, b) == 0;
					free(a);
					free(b);
				}
				if (same && (mf->down == NULL) != (PQgetisnull(res, i, 2) != 0))
					same = false;
				if (same && mf->down)
				{
					char	   *a = normalize_sql(mf->down);
					char	   *b = normalize_sql(PQgetvalue(res, i, 2));

					same = strcmp(a, b) == 0;
					free(a);
					free(b);
				}
				if (same)
					continue;
				if (strcmp(PQgetvalue(res, i, 3), "t") == 0)
				{
					problems = xrealloc(problems, sizeof(char *) * (nproblems + 1));
					problems[nproblems++] = xasprintf("%s: revision %s is applied, but the file differs "
													  "from what was registered (edited after it was applied?); "
													  "put the change in a new revision", mf->path,
													  mf->revision);
				}
				else
				{
					pending = xrealloc(pending, sizeof(char *) * (npending + 1));
					pending[npending++] = xasprintf("%s (file changed; the next upgrade registers it again)",
													mf->revision);
					listed[k] = true;
				}
			}
			PQclear(res);
		}
	}
	for (i = 0; i < g->n; i++)
	{
		GNode	   *nd = &g->nodes[g->order[i]];

		if (nd->current)
		{
			current = xrealloc(current, sizeof(char *) * (ncurrent + 1));
			current[ncurrent++] = nd->id;
		}
		if (!nd->applied && !listed[g->order[i]])
		{
			pending = xrealloc(pending, sizeof(char *) * (npending + 1));
			pending[npending++] = nd->registered ? xstrdup(nd->id) :
				xasprintf("%s (not registered)", nd->id);
		}
	}

	status = nproblems ? "problems" : npending ? "pending" : "up to date";
	if (app->json)
	{
		printf("{\"command\": \"check\", \"status\": ");
		json_string(stdout, status);
		printf(", \"database\": ");
		json_string(stdout, dbname_of(app));
		printf(", \"current\": ");
		json_string_array(stdout, current, ncurrent);
		printf(", \"pending\": ");
		json_string_array(stdout, pending, npending);
		printf(", \"problems\": ");
		json_string_array(stdout, problems, nproblems);
		printf("}\n");
	}
	else
	{
		for (i = 0; i < nproblems; i++)
			fprintf(stderr, "dbmigrate: problem: %s\n", problems[i]);
		for (i = 0; i < npending && !app->quiet; i++)
			printf("pending: %s\n", pending[i]);
		if (nproblems)
			msg_info(app, "check: %d problem%s in database \"%s\"", nproblems,
					 nproblems == 1 ? "" : "s", dbname_of(app));
		else if (npending)
			msg_info(app, "check: %d revision%s pending in database \"%s\"; run dbmigrate upgrade",
					 npending, npending == 1 ? "" : "s", dbname_of(app));
		else
			msg_info(app, "check: database \"%s\" is up to date%s%s", dbname_of(app),
					 ncurrent ? " at " : "", ncurrent ? current[0] : " (base)");
	}
	for (i = 0; i < nproblems; i++)
		free(problems[i]);
	free(problems);
	for (i = 0; i < npending; i++)
		free(pending[i]);
	free(pending);
	free(current);
	free(listed);
	graph_free(g);
	return nproblems ? EXIT_USAGE : npending ? EXIT_FAILED : EXIT_DONE;
}

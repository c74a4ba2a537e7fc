/*-------------------------------------------------------------------------
 *
 * cmd_read.c
 *	  The commands that only read: current, heads, history, show.  They take
 *	  no lock and write nothing; a database without dbmigrate is at base.
 *
 * Copyright (c) 2026, dbmigrate developers
 *
 * IDENTIFICATION
 *	  cli/cmd_read.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include "dbmigrate.h"

static int	open_graph(App *app, bool want_folder, Graph **g, bool *present);
static void print_node_json(const Graph *g, int k, bool present);
static char *flags_text(const Graph *g, int k, bool present);

/*
 * open_graph
 *		Connect and read the database's graph joined with the folder's
 *		(want_folder; a missing folder that was not named is no folder).
 */
static int
open_graph(App *app, bool want_folder, Graph **g, bool *present)
{
	DbError		err;
	int			rc;

	*g = NULL;
	if (want_folder)
	{
		rc = app_load_folder(app, false);
		if (rc != EXIT_DONE)
			return rc;
	}
	if (!db_connect(app))
		return EXIT_USAGE;
	rc = db_extension(app, false, &err, present);
	if (rc == EXIT_FAILED)
	{
		db_report_error(app, &err, NULL, NULL);
		db_error_free(&err);
		return EXIT_FAILED;
	}
	if (rc != EXIT_DONE)
		return rc;
	*g = db_union_graph(app, *present, &err);
	if (*g == NULL)
	{
		db_report_error(app, &err, NULL, NULL);
		db_error_free(&err);
		return EXIT_FAILED;
	}
	return EXIT_DONE;
}

/* flags_text: Alembic's indicators, and ours for what is not registered */
static char *
flags_text(const Graph *g, int k, bool present)
{
	const GNode *nd = &g->nodes[k];

	return xasprintf("%s%s%s%s%s",
					 nd->nchildren == 0 ? " (head)" : "",
					 nd->current ? " (current)" : "",
					 nd->nchildren > 1 ? " (branchpoint)" : "",
					 nd->nparents > 1 ? " (mergepoint)" : "",
					 !nd->registered ? (present ? " (not registered)" : " (not installed)") : "");
}

static void
print_node_json(const Graph *g, int k, bool present)
{
	const GNode *nd = &g->nodes[k];

	printf("{\"revision\": ");
	json_string(stdout, nd->id);
	printf(", \"down_revisions\": ");
	json_string_array(stdout, nd->parent_ids, nd->nparents);
	printf(", \"message\": ");
	json_string(stdout, nd->message);
	printf(", \"is_head\": %s, \"is_current\": %s, \"is_applied\": %s, \"is_branch_point\": %s, "
		   "\"is_merge_point\": %s, \"registered\": %s, \"applied_at\": ",
		   nd->nchildren == 0 ? "true" : "false", nd->current ? "true" : "false",
		   nd->applied ? "true" : "false", nd->nchildren > 1 ? "true" : "false",
		   nd->nparents > 1 ? "true" : "false", nd->registered && present ? "true" : "false");
	json_string(stdout, nd->applied_at);
	printf(", \"applied_by\": ");
	json_string(stdout, nd->applied_by);
	printf(", \"file\": ");
	json_string(stdout, nd->file ? nd->file->path : NULL);
	printf("}");
}

/*
 * current
 *		Alembic's "current": the applied heads, one a line ("rev (head)").
 */
int
cmd_current(App *app, int argc, char **argv)
{
	char	   *pos[1];
	int			npos;
	int			rc = parse_args(app, argc, argv, NULL, 0, pos, 0, &npos);
	Graph	   *g;
	bool		present;
	int			n = 0;

	if (rc >= 0)
		return rc;
	rc = open_graph(app, false, &g, &present);
	if (rc != EXIT_DONE)
		return rc;
	if (app->json)
		printf("{\"command\": \"current\", \"database\": ");
	if (app->json)
	{
		json_string(stdout, dbname_of(app));
		printf(", \"installed\": %s, \"current\": [", present ? "true" : "false");
	}
	for (int i = 0; i < g->n; i++)
	{
		const GNode *nd = &g->nodes[g->order[i]];

		if (!nd->current)
			continue;
		if (app->json)
		{
			printf("%s", n ? ", " : "");
			json_string(stdout, nd->id);
		}
		else
			printf("%s%s\n", nd->id, nd->nchildren == 0 ? " (head)" : "");
		n++;
	}
	if (app->json)
		printf("]}\n");
	else if (n == 0 && !app->quiet)
		fprintf(stderr, "(database \"%s\" is at base: nothing applied%s)\n", dbname_of(app),
				present ? "" : "; dbmigrate is not installed yet");
	graph_free(g);
	return EXIT_DONE;
}

/*
 * heads
 *		Alembic's "heads": the graph's revisions without children.
 */
int
cmd_heads(App *app, int argc, char **argv)
{
	char	   *pos[1];
	int			npos;
	int			rc = parse_args(app, argc, argv, NULL, 0, pos, 0, &npos);
	Graph	   *g;
	bool		present;
	int		   *heads;
	int			nh;

	if (rc >= 0)
		return rc;
	rc = open_graph(app, true, &g, &present);
	if (rc != EXIT_DONE)
		return rc;
	heads = xmalloc(sizeof(int) * (g->n + 1));
	nh = graph_heads(g, heads);
	if (app->json)
		printf("{\"command\": \"heads\", \"heads\": [");
	for (int i = 0; i < nh; i++)
	{
		if (app->json)
		{
			printf("%s", i ? ", " : "");
			print_node_json(g, heads[i], present);
		}
		else
		{
			char	   *f = flags_text(g, heads[i], present);

			printf("%s%s\n", g->nodes[heads[i]].id, f);
			free(f);
		}
	}
	if (app->json)
		printf("]}\n");
	free(heads);
	graph_free(g);
	return EXIT_DONE;
}

/*
 * history [--verbose]
 *		Alembic's "history --indicate-current", newest first, one line each:
 *		"parent -> revision (head) (current), message".  verbose adds when
 *		and by whom each revision was applied, and its file.
 */
int
cmd_history(App *app, int argc, char **argv)
{
	bool		verbose = false;
	Opt			opts[] = {{'v', "verbose", false, NULL, &verbose}};
	char	   *pos[1];
	int			npos;
	int			rc = parse_args(app, argc, argv, opts, lengthof(opts), pos, 0, &npos);
	Graph	   *g;
	bool		present;

	if (rc >= 0)
		return rc;
	rc = open_graph(app, true, &g, &present);
	if (rc != EXIT_DONE)
		return rc;
	if (app->json)
		printf("{\"command\": \"history\", \"database\": ");
	if (app->json)
	{
		json_string(stdout, dbname_of(app));
		printf(", \"revisions\": [");
	}
	for (int i = g->n - 1; i >= 0; i--)
	{
		int			k = g->order[i];
		const GNode *nd = &g->nodes[k];
		char	   *parents;
		char	   *f;

		if (app->json)
		{
			printf("%s", i < g->n - 1 ? ", " : "");
			print_node_json(g, k, present);
			continue;
		}
		parents = graph_parents_text(g, k);
		f = flags_text(g, k, present);
		printf("%s -> %s%s%s%s", parents, nd->id, f, nd->message ? ", " : "",
			   nd->message ? nd->message : "");
		if (verbose)
		{
			if (nd->applied && nd->applied_at)
				printf("  [applied %s by %s]", nd->applied_at, nd->applied_by ? nd->applied_by : "?");
			else if (nd->applied)
				printf("  [applied]");
			else
				printf("  [pending]");
			if (nd->file)
				printf(" [%s]", nd->file->path);
		}
		printf("\n");
		free(parents);
		free(f);
	}
	if (app->json)
		printf("]}\n");
	graph_free(g);
	return EXIT_DONE;
}

/*
 * show REVISION
 *		Alembic's "show": one revision in full (migrate_show), or the
 *		folder's file when it is not registered yet.
 */
int
cmd_show(App *app, int argc, char **argv)
{
	char	   *pos[1];
	int			npos;
	int			rc = parse_args(app, argc, argv, NULL, 0, pos, 1, &npos);
	Graph	   *g;
	bool		present;
	int			k = -1;
	char	   *why = NULL;
	PGresult   *res = NULL;
	const GNode *nd;
	const char *up;
	const char *down;
	const MigFile *mf;

	if (rc >= 0)
		return rc;
	if (npos != 1)
	{
		msg_error("show: name the revision: dbmigrate show REVISION");
		return EXIT_USAGE;
	}
	rc = open_graph(app, true, &g, &present);
	if (rc != EXIT_DONE)
		return rc;
	if (present)
	{
		DbError		err;
		const char *values[1] = {pos[0]};

		res = db_query(app, "SELECT revision, checksum, registered_at, registered_by, upgrade_sql, "
					   "downgrade_sql FROM dbmigrate.migrate_show($1)", 1, values, &err);
		if (res == NULL && !(err.sqlstate && strcmp(err.sqlstate, "42704") == 0))
		{
			db_report_error(app, &err, NULL, NULL);
			db_error_free(&err);
			graph_free(g);
			return EXIT_FAILED;
		}
		if (res && PQntuples(res) == 1)
			k = graph_find(g, PQgetvalue(res, 0, 0));
		else if (res)
		{
			PQclear(res);
			res = NULL;
		}
		else
			db_error_free(&err);
	}
	if (k < 0 && !graph_resolve(g, pos[0], &k, &why))
	{
		msg_error("show: %s", why);
		json_error(app, "failed", NULL, NULL, 0, why);
		free(why);
		graph_free(g);
		return EXIT_FAILED;
	}
	nd = &g->nodes[k];
	mf = nd->file;
	up = res ? PQgetvalue(res, 0, 4) : mf ? mf->up : NULL;
	down = res ? (PQgetisnull(res, 0, 5) ? NULL : PQgetvalue(res, 0, 5)) : mf ? mf->down : NULL;
	if (app->json)
	{
		printf("{\"command\": \"show\", \"revision\": ");
		print_node_json(g, k, present);
		printf(", \"checksum\": ");
		json_string(stdout, res ? PQgetvalue(res, 0, 1) : NULL);
		printf(", \"upgrade_sql\": ");
		json_string(stdout, up);
		printf(", \"downgrade_sql\": ");
		json_string(stdout, down);
		printf("}\n");
	}
	else
	{
		char	   *f = flags_text(g, k, present);
		char	   *parents = graph_parents_text(g, k);

		printf("Rev: %s%s\n", nd->id, f);
		printf("%s: %s\n", nd->nparents > 1 ? "Merges" : "Parent", parents);
		if (nd->nchildren > 1)
		{
			printf("Branches into:");
			for (int c = 0; c < nd->nchildren; c++)
				printf("%s %s", c ? "," : "", g->nodes[nd->children[c]].id);
			printf("\n");
		}
		printf("Message: %s\n", nd->message ? nd->message : "");
		if (nd->applied)
			printf("Applied: %s%s%s\n", nd->applied_at ? nd->applied_at : "yes",
				   nd->applied_by ? " by " : "", nd->applied_by ? nd->applied_by : "");
		else
			printf("Applied: no\n");
		if (res)
		{
			printf("Registered: %s by %s\n", PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3));
			printf("Checksum: %s\n", PQgetvalue(res, 0, 1));
		}
		if (mf)
			printf("Path: %s%s\n", mf->path, mf->transactional ? "" : " (transactional: false)");
		printf("\n-- migrate:up\n%s", up ? up : "");
		if (up && *up && up[strlen(up) - 1] != '\n')
			printf("\n");
		if (down)
		{
			printf("-- migrate:down\n%s", down);
			if (*down && down[strlen(down) - 1] != '\n')
				printf("\n");
		}
		else
			printf("-- (no migrate:down: irreversible)\n");
		free(f);
		free(parents);
	}
	if (res)
		PQclear(res);
	graph_free(g);
	return EXIT_DONE;
}

/*-------------------------------------------------------------------------
 *
 * cmd_files.c
 *	  The commands that only write files: init, revision, merge.  They read
 *	  the folder and never connect (Alembic's are offline too).
 *
 * Copyright (c) 2026, dbmigrate developers
 *
 * IDENTIFICATION
 *	  cli/cmd_files.c
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dbmigrate.h"

static bool new_revision_id(const Graph *g, char *out);
static char *slug(const char *message);
static char *one_line(const char *s);
static int	write_revision_file(App *app, const char *id, char **parents, int nparents,
								const char *message, bool merge);
static Graph *load_folder_graph(App *app, int *status);

/* load_folder_graph: the folder and its checked graph, kept in app */
static Graph *
load_folder_graph(App *app, int *status)
{
	app->folder = folder_read(app_dir(app), status);
	if (app->folder == NULL)
		return NULL;
	app->graph = graph_from_folder(app->folder, status);
	return app->graph;
}

/*
 * init
 *		The migrations folder and dbmigrate.conf, whichever is missing.
 */
int
cmd_init(App *app, int argc, char **argv)
{
	char	   *pos[1];
	int			npos;
	int			rc = parse_args(app, argc, argv, NULL, 0, pos, 0, &npos);
	const char *dir = app_dir(app);
	struct stat sb;
	bool		made_dir = false;
	bool		made_conf = false;

	if (rc >= 0)
		return rc;
	if (stat(dir, &sb) == 0)
	{
		if (!S_ISDIR(sb.st_mode))
		{
			msg_error("%s exists and is not a folder", dir);
			return EXIT_USAGE;
		}
	}
	else if (mkdir(dir, 0777) != 0)
	{
		msg_error("cannot create the folder %s: %s", dir, strerror(errno));
		return EXIT_USAGE;
	}
	else
		made_dir = true;

	if (stat(CONFIG_FILE, &sb) != 0)
	{
		FILE	   *fp = fopen(CONFIG_FILE, "wx");

		if (fp == NULL)
		{
			msg_error("cannot create %s: %s", CONFIG_FILE, strerror(errno));
			return EXIT_USAGE;
		}
		fprintf(fp,
				"# dbmigrate configuration, read by dbmigrate run in this folder.\n"
				"# The migrations folder: one .sql file per revision.\n"
				"dir = %s\n"
				"# The database is not kept here: dbmigrate takes -d, else DATABASE_URL\n"
				"# (environment, then ./.env), else libpq's PG* variables and ~/.pgpass.\n",
				dir);
		if (fclose(fp) != 0)
		{
			msg_error("cannot write %s: %s", CONFIG_FILE, strerror(errno));
			return EXIT_USAGE;
		}
		made_conf = true;
	}
	if (app->json)
	{
		printf("{\"command\": \"init\", \"status\": \"ok\", \"dir\": ");
		json_string(stdout, dir);
		printf(", \"created_dir\": %s, \"created_config\": %s}\n", made_dir ? "true" : "false",
			   made_conf ? "true" : "false");
	}
	msg_info(app, "%s folder %s/", made_dir ? "Created" : "Kept the existing", dir);
	msg_info(app, "%s %s", made_conf ? "Created" : "Kept the existing", CONFIG_FILE);
	if (made_dir)
		msg_info(app, "Next: dbmigrate revision -m \"first change\", edit the file, dbmigrate upgrade");
	return EXIT_DONE;
}

/* new_revision_id: 12 random hex digits not used in g */
static bool
new_revision_id(const Graph *g, char *out)
{
	FILE	   *fp = fopen("/dev/urandom", "rb");
	unsigned char b[6];

	if (fp == NULL)
	{
		msg_error("cannot read /dev/urandom: %s", strerror(errno));
		return false;
	}
	do
	{
		if (fread(b, 1, sizeof(b), fp) != sizeof(b))
		{
			msg_error("cannot read /dev/urandom");
			fclose(fp);
			return false;
		}
		snprintf(out, 13, "%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
	} while (graph_find(g, out) >= 0);
	fclose(fp);
	return true;
}

/* slug: the message as a file-name part: lower-case ASCII letters, digits, "_" */
static char *
slug(const char *message)
{
	char	   *s = xmalloc(41);
	size_t		n = 0;
	bool		sep = false;

	for (const unsigned char *p = (const unsigned char *) message; *p && n < 40; p++)
	{
		unsigned char c = *p;

		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
			;
		else if (c >= 'A' && c <= 'Z')
			c = (unsigned char) (c - 'A' + 'a');
		else
		{
			sep = n > 0;
			continue;
		}
		if (sep && n < 39)
			s[n++] = '_';
		sep = false;
		s[n++] = (char) c;
	}
	s[n] = '\0';
	return s;
}

/* one_line: s with line breaks as spaces (a header value is one line) */
static char *
one_line(const char *s)
{
	char	   *t = xstrdup(s);

	for (char *p = t; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	return t;
}

/*
 * write_revision_file
 *		A new file "<id>_<slug>.sql" in the folder, never overwriting one.
 */
static int
write_revision_file(App *app, const char *id, char **parents, int nparents, const char *message,
					bool merge)
{
	char	   *s = slug(message);
	char	   *path = *s ? xasprintf("%s/%s_%s.sql", app_dir(app), id, s) :
		xasprintf("%s/%s.sql", app_dir(app), id);
	char	   *msg = one_line(message);
	FILE	   *fp = fopen(path, "wx");
	int			k;

	free(s);
	if (fp == NULL)
	{
		msg_error("cannot create %s: %s", path, strerror(errno));
		free(path);
		free(msg);
		return EXIT_USAGE;
	}
	fprintf(fp, "-- revision: %s\n-- down_revision: ", id);
	for (k = 0; k < nparents; k++)
		fprintf(fp, "%s%s", k ? ", " : "", parents[k]);
	fprintf(fp, "\n-- message: %s\n", msg);
	if (merge)
		fprintf(fp, "-- A merge: both sections are empty (explicit no-ops).\n"
				"-- migrate:up\n-- migrate:down\n");
	else
		fprintf(fp, "-- Without a \"-- migrate:down\" line the revision is irreversible;\n"
				"-- an empty down section is an explicit no-op.\n"
				"-- migrate:up\n\n-- migrate:down\n\n");
	if (fclose(fp) != 0)
	{
		msg_error("cannot write %s: %s", path, strerror(errno));
		free(path);
		free(msg);
		return EXIT_USAGE;
	}
	if (app->json)
	{
		printf("{\"command\": ");
		json_string(stdout, app->command);
		printf(", \"status\": \"ok\", \"revision\": ");
		json_string(stdout, id);
		printf(", \"down_revisions\": ");
		json_string_array(stdout, parents, nparents);
		printf(", \"file\": ");
		json_string(stdout, path);
		printf("}\n");
	}
	msg_info(app, "Generated %s (revision %s)", path, id);
	free(path);
	free(msg);
	return EXIT_DONE;
}

/*
 * revision -m MESSAGE
 *		Alembic's "revision": a new file whose parent is the single head.
 */
int
cmd_revision(App *app, int argc, char **argv)
{
	const char *message = NULL;
	Opt			opts[] = {{'m', "message", true, &message, NULL}};
	char	   *pos[1];
	int			npos;
	int			rc = parse_args(app, argc, argv, opts, lengthof(opts), pos, 0, &npos);
	Graph	   *g;
	int		   *heads;
	int			nh;
	char		id[13];
	char	   *parent[1];

	if (rc >= 0)
		return rc;
	if (message == NULL || *message == '\0')
	{
		msg_error("revision: a message is required: dbmigrate revision -m \"add posts\"");
		return EXIT_USAGE;
	}
	g = load_folder_graph(app, &rc);
	if (g == NULL)
		return rc;
	heads = xmalloc(sizeof(int) * g->n);
	nh = graph_heads(g, heads);
	if (nh > 1)
	{
		msg_error("the folder %s has %d heads; a new revision needs a single parent", app_dir(app), nh);
		fprintf(stderr, "DETAIL:  Heads:");
		for (int k = 0; k < nh; k++)
			fprintf(stderr, "%s \"%s\"", k ? "," : "", g->nodes[heads[k]].id);
		fprintf(stderr, ".\nHINT:  Join them first: dbmigrate merge -m \"merge heads\" heads\n");
		free(heads);
		json_error(app, "error", NULL, NULL, 0, "several heads");
		return EXIT_USAGE;
	}
	if (!new_revision_id(g, id))
	{
		free(heads);
		return EXIT_FAILED;
	}
	parent[0] = g->nodes[heads[0]].id;
	rc = write_revision_file(app, id, parent, 1, message, false);
	if (rc == EXIT_DONE)
		msg_info(app, "  parent: %s", parent[0]);
	free(heads);
	return rc;
}

/*
 * merge -m MESSAGE [heads | REVISION...]
 *		Alembic's "merge": a file with empty SQL joining the given revisions.
 */
int
cmd_merge(App *app, int argc, char **argv)
{
	const char *message = NULL;
	Opt			opts[] = {{'m', "message", true, &message, NULL}};
	char	   *pos[64];
	int			npos;
	int			rc = parse_args(app, argc, argv, opts, lengthof(opts), pos, lengthof(pos), &npos);
	Graph	   *g;
	int		   *nodes;
	int			n = 0;
	char	  **ids;
	char		id[13];
	int			i;

	if (rc >= 0)
		return rc;
	if (message == NULL || *message == '\0')
	{
		msg_error("merge: a message is required: dbmigrate merge -m \"merge heads\" heads");
		return EXIT_USAGE;
	}
	g = load_folder_graph(app, &rc);
	if (g == NULL)
		return rc;
	nodes = xmalloc(sizeof(int) * (g->n + npos + 1));
	if (npos == 0 || (npos == 1 && strcmp(pos[0], "heads") == 0))
	{
		n = graph_heads(g, nodes);
		if (n < 2)
		{
			msg_info(app, "Nothing to merge: the folder has one head, %s", g->nodes[nodes[0]].id);
			if (app->json)
			{
				printf("{\"command\": \"merge\", \"status\": \"ok\", \"revision\": null, \"head\": ");
				json_string(stdout, g->nodes[nodes[0]].id);
				printf("}\n");
			}
			free(nodes);
			return EXIT_DONE;
		}
	}
	else
		for (i = 0; i < npos; i++)
		{
			int			k;
			char	   *err = NULL;
			bool		dup = false;

			if (!graph_resolve(g, pos[i], &k, &err))
			{
				msg_error("merge: %s in the folder %s", err, app_dir(app));
				free(err);
				free(nodes);
				return EXIT_USAGE;
			}
			for (int j = 0; j < n; j++)
				dup |= nodes[j] == k;
			if (!dup)
				nodes[n++] = k;
		}
	if (n < 2)
	{
		msg_error("merge: name at least two different revisions (or heads)");
		free(nodes);
		return EXIT_USAGE;
	}
	for (i = 0; i < n; i++)
		for (int j = 0; j < n; j++)
			if (graph_is_ancestor(g, nodes[i], nodes[j]))
			{
				msg_error("merge: \"%s\" is an ancestor of \"%s\": a merge joins revisions "
						  "that do not descend from each other", g->nodes[nodes[i]].id,
						  g->nodes[nodes[j]].id);
				free(nodes);
				return EXIT_USAGE;
			}
	if (!new_revision_id(g, id))
	{
		free(nodes);
		return EXIT_FAILED;
	}
	ids = xmalloc(sizeof(char *) * n);
	for (i = 0; i < n; i++)
		ids[i] = g->nodes[nodes[i]].id;
	rc = write_revision_file(app, id, ids, n, message, true);
	if (rc == EXIT_DONE)
	{
		char	   *t = xstrdup(ids[0]);

		for (i = 1; i < n; i++)
		{
			char	   *u = xasprintf("%s, %s", t, ids[i]);

			free(t);
			t = u;
		}
		msg_info(app, "  merges: %s", t);
		free(t);
	}
	free(ids);
	free(nodes);
	return rc;
}

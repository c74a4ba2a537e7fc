/*-------------------------------------------------------------------------
 *
 * main.c
 *	  The dbmigrate command-line client: global options, the command table,
 *	  --help, the configuration file and ./.env, dispatch.
 *
 *	dbmigrate [-d CONNINFO|URL | --dsn-file FILE [-j N]] [--dir DIR] [-q] [--json]
 *			  [--wait-replicas[=SECONDS]] COMMAND [ARGS]
 *
 * Exit status: 0 done / up to date, 1 failed (check: pending), 2 usage,
 * configuration or connection error (check: problems).
 *
 * To add a command: write cmd_<name>(App *, int argc, char **argv) (argv[0]
 * is the command's name; parse the rest with parse_args, which also takes
 * the global options), declare it in dbmigrate.h and add a row to commands[]
 * below with its synopsis and help.  Options of an existing command go into
 * its Opt table (see cmd_stamp for where --from-alembic belongs).
 *
 * Copyright (c) 2026, dbmigrate developers
 *
 * IDENTIFICATION
 *	  cli/main.c
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>

#include "dbmigrate.h"

static const Command commands[] = {
	{
		"init", cmd_init, "init",
		"Create the migrations folder (--dir, default migrations) and " CONFIG_FILE ",\n"
		"which records the folder. Existing ones are kept. Needs no database."
	},
	{
		"revision", cmd_revision, "revision -m MESSAGE",
		"Write a new migration file whose parent is the single head of the folder\n"
		"(" BUILTIN_REVISION " for an empty folder), with a new 12-hex-digit id.\n"
		"Refuses when the folder has several heads: merge them first.\n"
		"  -m, --message MESSAGE   the revision's message (required)"
	},
	{
		"merge", cmd_merge, "merge -m MESSAGE [heads | REVISION...]",
		"Write a merge file: a revision with empty SQL whose parents are the given\n"
		"revisions (ids or unique prefixes), by default every head of the folder.\n"
		"  -m, --message MESSAGE   the merge's message (required)"
	},
	{
		"upgrade", cmd_upgrade, "upgrade [TARGET] [--sql]",
		"Deploy: read the folder and check its graph (before connecting), then in one\n"
		"transaction install the extension if needed, register every file (parents\n"
		"first; unchanged files are no-ops) and upgrade to TARGET (default head:\n"
		"head, heads, a revision or unique prefix, +N, REVISION+N). Any error rolls\n"
		"everything back. A path with a non-transactional revision is registered\n"
		"first, then run by CALL dbmigrate.migrate_upgrade_stepwise (a commit per\n"
		"revision).\n"
		"  --sql   print the SQL that would run (offline mode); change nothing"
	},
	{
		"downgrade", cmd_downgrade, "downgrade [TARGET] [--sql]",
		"Undo applied revisions, in one transaction: TARGET is -N (default -1), a\n"
		"revision (undo what descends from it) or base (undo everything).\n"
		"  --sql   print the SQL that would run (offline mode); change nothing"
	},
	{
		"current", cmd_current, "current",
		"Print the applied heads of the database, one a line (nothing at base)."
	},
	{
		"heads", cmd_heads, "heads",
		"Print the heads of the revision graph: the database's and the folder's."
	},
	{
		"history", cmd_history, "history [--verbose]",
		"Print every revision, newest first, one line each as Alembic does:\n"
		"  PARENT -> REVISION (head) (current), message\n"
		"Revisions of the folder not yet registered are marked (not registered).\n"
		"  -v, --verbose   add when and by whom each was applied"
	},
	{
		"show", cmd_show, "show REVISION",
		"Print one revision in full: parents, children, message, state, checksum,\n"
		"file and SQL. REVISION is an id, a unique prefix, head or REVISION+N."
	},
	{
		"stamp", cmd_stamp, "stamp REVISION | stamp --from-alembic [--alembic-table SCHEMA.TABLE]",
		"Register the folder, then make exactly REVISION current without running\n"
		"any SQL (heads: every head; base: nothing), in one transaction.\n"
		"  --from-alembic          adopt an Alembic-managed database: stamp the ids in\n"
		"                          its alembic_version table (several rows: those\n"
		"                          branch heads), which must all be in the folder\n"
		"  --alembic-table SCHEMA.TABLE  Alembic's version table (default: alembic_version\n"
		"                          in the search_path)"
	},
	{
		"check", cmd_check, "check",
		"For CI and readiness probes: exit 0 when the database is up to date with\n"
		"the folder, 1 when something is pending, 2 on problems (a bad folder,\n"
		"several heads, an applied revision whose file or stored text changed, no\n"
		"connection)."
	},
	{
		"seed", cmd_seed, "seed [--reset]",
		"Insert the reference application's accounts (dbmigrate.seed_users()).\n"
		"  --reset   delete the seeded accounts and insert them afresh"
	},
	{
		"import-alembic", cmd_import_alembic, "import-alembic UPGRADE.sql [DOWNGRADE.sql]",
		"Write one migration file per revision into the folder (--dir, made if\n"
		"missing; it must not hold the files yet) from Alembic's offline SQL:\n"
		"UPGRADE.sql from alembic upgrade base:head --sql, DOWNGRADE.sql from\n"
		"alembic downgrade head:base --sql (without it every revision is\n"
		"irreversible). Ids and parents come from the \"-- Running upgrade A -> B\"\n"
		"lines; Alembic's BEGIN/COMMIT and alembic_version statements are dropped; a\n"
		"revision with statements outside Alembic's transaction (autocommit_block)\n"
		"becomes transactional: false. Messages are not in the SQL. Needs no database."
	},
};

static void usage(FILE *out);
static bool read_config(App *app);
static void read_dotenv(App *app);

const Command *
find_command(const char *name)
{
	for (size_t i = 0; i < lengthof(commands); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

void
print_command_help(const Command *cmd, FILE *out)
{
	fprintf(out, "Usage: dbmigrate [OPTION]... %s\n\n%s\n\n", cmd->synopsis, cmd->help);
	fprintf(out, "Global options (before or after the command):\n"
			"  -d, --dbname CONNINFO|URL  database (else DATABASE_URL, ./.env, PG* variables)\n"
			"      --dir DIR              migrations folder (else " CONFIG_FILE "'s dir, else migrations)\n"
			"  -q, --quiet                errors and warnings only\n"
			"      --json                 one JSON document on stdout\n"
			"      --dsn-file FILE        run on every database FILE lists (a conninfo or URL a line)\n"
			"  -j, --jobs N               with --dsn-file: N databases at a time (default 1)\n"
			"      --wait-replicas[=SECONDS]  after the commit, wait (default 60 s) until every\n"
			"                             streaming standby has replayed it (needs pg_monitor)\n"
			"  -h, --help                 this help\n");
}

static void
usage(FILE *out)
{
	fprintf(out,
			"dbmigrate: Alembic-style schema migrations kept and run inside PostgreSQL.\n\n"
			"Usage: dbmigrate [-d CONNINFO|URL | --dsn-file FILE [-j N]] [--dir DIR] [-q] [--json]\n"
			"                 [--wait-replicas[=SECONDS]] COMMAND [ARGS]\n\n"
			"Commands:\n");
	for (size_t i = 0; i < lengthof(commands); i++)
		fprintf(out, "  %s\n", commands[i].synopsis);
	fprintf(out,
			"\nGlobal options:\n"
			"  -d, --dbname CONNINFO|URL  database; else DATABASE_URL (environment, then ./.env),\n"
			"                             else libpq's PG* variables and ~/.pgpass\n"
			"      --dir DIR              migrations folder (else " CONFIG_FILE "'s dir, else migrations)\n"
			"  -q, --quiet                errors and warnings only\n"
			"      --json                 one JSON document on stdout\n"
			"      --dsn-file FILE        run upgrade, downgrade, stamp, check or current on every\n"
			"                             database FILE lists (a conninfo or URL a line, # comments)\n"
			"  -j, --jobs N               with --dsn-file: N databases at a time (default 1)\n"
			"      --wait-replicas[=SECONDS]  upgrade, downgrade, stamp: after the commit, wait\n"
			"                             (default 60 s) until every streaming standby has\n"
			"                             replayed it (reads pg_stat_replication: needs pg_monitor)\n"
			"  -h, --help                 help (dbmigrate COMMAND --help for a command's)\n"
			"  -V, --version              the client's version\n\n"
			"Exit status: 0 done or up to date; 1 failed (check: pending); 2 usage,\n"
			"configuration or connection error (check: problems).\n");
}

const char *
app_dir(const App *app)
{
	if (app->dir_given)
		return app->dir;
	if (app->config_dir)
		return app->config_dir;
	return "migrations";
}

/*
 * parse_args
 *		Parse a command's arguments (argv[0] is its name): its options in
 *		opts, the global options anywhere, positional arguments into pos.
 *		"-N" (a number) is a positional argument (a relative target), and
 *		"--" ends the options.  Returns -1 to go on, or the exit status
 *		(after --help, or a usage error).
 */
int
parse_args(App *app, int argc, char **argv, const Opt *opts, int nopts, char **pos, int maxpos,
		   int *npos)
{
	const Command *cmd = find_command(argv[0]);
	bool		options_done = false;
	int			i;

	*npos = 0;
	for (i = 1; i < argc; i++)
	{
		char	   *a = argv[i];
		const char *value = NULL;
		char	   *eq = NULL;
		bool		handled = false;
		size_t		namelen;
		int			which = -1;
		int			k;

		if (options_done || a[0] != '-' || a[1] == '\0' ||
			(a[1] >= '0' && a[1] <= '9'))
		{
			if (*npos >= maxpos)
			{
				msg_error("%s: unexpected argument \"%s\"", argv[0], a);
				fprintf(stderr, "Usage: dbmigrate %s\n", cmd ? cmd->synopsis : argv[0]);
				return EXIT_USAGE;
			}
			pos[(*npos)++] = a;
			continue;
		}
		if (strcmp(a, "--") == 0)
		{
			options_done = true;
			continue;
		}
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
		{
			if (cmd)
				print_command_help(cmd, stdout);
			else
				usage(stdout);
			return EXIT_DONE;
		}
		if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0)
		{
			app->quiet = true;
			continue;
		}
		if (strcmp(a, "--json") == 0)
		{
			app->json = true;
			continue;
		}
		/* --dsn-file, -j, --wait-replicas (fleet.c) */
		k = fleet_option(app, argc, argv, &i);
		if (k < 0)
			return EXIT_USAGE;
		if (k > 0)
			continue;
		if (a[1] == '-')
		{
			eq = strchr(a, '=');
			namelen = eq ? (size_t) (eq - a - 2) : strlen(a + 2);
		}
		else
			namelen = 1;

		/* options with a value: -d, --dbname, --dir, and the command's */
		if ((a[1] == 'd') ||
			(a[1] == '-' && namelen == 6 && strncmp(a + 2, "dbname", 6) == 0) ||
			(a[1] == '-' && namelen == 3 && strncmp(a + 2, "dir", 3) == 0))
			handled = true;
		for (k = 0; !handled && k < nopts; k++)
			if ((a[1] != '-' && opts[k].shortname && a[1] == opts[k].shortname) ||
				(a[1] == '-' && strlen(opts[k].longname) == namelen &&
				 strncmp(a + 2, opts[k].longname, namelen) == 0))
			{
				handled = true;
				which = k;
			}
		if (!handled)
		{
			msg_error("%s: unknown option \"%s\"", argv[0], a);
			fprintf(stderr, "Try \"dbmigrate %s --help\".\n", argv[0]);
			return EXIT_USAGE;
		}
		if (which >= 0 && !opts[which].takes_value)
		{
			if (eq || (a[1] != '-' && a[2] != '\0'))
			{
				msg_error("%s: option \"%s\" takes no value", argv[0], a);
				return EXIT_USAGE;
			}
			*opts[which].flag = true;
			continue;
		}
		/* the value: --x=v, -xv, or the next argument */
		if (eq)
			value = eq + 1;
		else if (a[1] != '-' && a[2] != '\0')
			value = a + 2;
		else if (i + 1 < argc)
			value = argv[++i];
		else
		{
			msg_error("%s: option \"%s\" needs a value", argv[0], a);
			return EXIT_USAGE;
		}
		if (which >= 0)
			*opts[which].value = value;
		else if (a[1] == 'd' || (a[1] == '-' && namelen == 6 && strncmp(a + 2, "dbname", 6) == 0))
			app->conninfo = value;
		else if (a[1] == '-' && namelen == 3 && strncmp(a + 2, "dir", 3) == 0)
		{
			app->dir = value;
			app->dir_given = true;
		}
	}
	return fleet_dispatch(app, argc, argv);
}

/*
 * read_config
 *		./dbmigrate.conf, if present: "key = value" lines, '#' comments.
 *		The one key is dir (the migrations folder).
 */
static bool
read_config(App *app)
{
	char	   *data;
	size_t		len;
	char	   *line;
	char	   *save = NULL;
	int			lineno = 0;
	bool		ok = true;
	FILE	   *fp = fopen(CONFIG_FILE, "rb");

	if (fp == NULL)
		return true;
	fclose(fp);
	if (!read_file_bytes(CONFIG_FILE, &data, &len))
		return false;
	for (line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
	{
		char	   *p = line;
		char	   *eq;
		char	   *k;
		char	   *v;
		char	   *e;

		lineno++;
		while (*p == ' ' || *p == '\t')
			p++;
		e = p + strlen(p);
		while (e > p && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
			*--e = '\0';
		if (*p == '\0' || *p == '#')
			continue;
		eq = strchr(p, '=');
		if (eq == NULL)
		{
			msg_error("%s:%d: expected \"key = value\"", CONFIG_FILE, lineno);
			ok = false;
			continue;
		}
		*eq = '\0';
		k = p;
		e = eq;
		while (e > k && (e[-1] == ' ' || e[-1] == '\t'))
			*--e = '\0';
		v = eq + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		if (strcmp(k, "dir") == 0)
		{
			free(app->config_dir);
			app->config_dir = xstrdup(v);
		}
		else
		{
			msg_error("%s:%d: unknown setting \"%s\" (the one setting is dir)", CONFIG_FILE, lineno, k);
			ok = false;
		}
	}
	free(data);
	return ok;
}

/*
 * read_dotenv
 *		DATABASE_URL from ./.env, if present (KEY=VALUE lines, optional
 *		"export ", optional quotes, '#' comments); other keys are ignored.
 */
static void
read_dotenv(App *app)
{
	char	   *data;
	size_t		len;
	char	   *line;
	char	   *save = NULL;
	FILE	   *fp = fopen(".env", "rb");

	if (fp == NULL)
		return;
	fclose(fp);
	if (!read_file_bytes(".env", &data, &len))
		return;
	for (line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
	{
		char	   *p = line;
		char	   *e;

		while (*p == ' ' || *p == '\t')
			p++;
		if (strncmp(p, "export ", 7) == 0)
			p += 7;
		if (strncmp(p, "DATABASE_URL", 12) != 0)
			continue;
		p += 12;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != '=')
			continue;
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		e = p + strlen(p);
		while (e > p && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
			*--e = '\0';
		if (e - p >= 2 && (*p == '"' || *p == '\'') && e[-1] == *p)
		{
			p++;
			*--e = '\0';
		}
		else if ((e = strstr(p, " #")) != NULL)
		{
			*e = '\0';
			while (e > p && e[-1] == ' ')
				*--e = '\0';
		}
		free(app->dotenv_url);
		app->dotenv_url = *p ? xstrdup(p) : NULL;
	}
	free(data);
}

int
main(int argc, char **argv)
{
	App			app;
	const Command *cmd;
	int			i;
	int			rc;

	memset(&app, 0, sizeof(app));
	/* revision ids: letters of any script, classified as the server does */
	if (setlocale(LC_CTYPE, "C.UTF-8") == NULL)
		(void) setlocale(LC_CTYPE, "C.utf8");

	/* global options before the command */
	for (i = 1; i < argc; i++)
	{
		char	   *a = argv[i];

		if (a[0] != '-' || strcmp(a, "--") == 0)
			break;
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
		{
			usage(stdout);
			return EXIT_DONE;
		}
		if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0)
		{
			printf("dbmigrate %s\n", DBMIGRATE_VERSION);
			return EXIT_DONE;
		}
		if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0)
			app.quiet = true;
		else if ((rc = fleet_option(&app, argc, argv, &i)) != 0)
		{
			if (rc < 0)
				return EXIT_USAGE;
		}
		else if (strcmp(a, "--json") == 0)
			app.json = true;
		else if (strcmp(a, "-d") == 0 || strcmp(a, "--dbname") == 0 || strcmp(a, "--dir") == 0)
		{
			if (i + 1 >= argc)
			{
				msg_error("option \"%s\" needs a value", a);
				return EXIT_USAGE;
			}
			if (strcmp(a, "--dir") == 0)
			{
				app.dir = argv[++i];
				app.dir_given = true;
			}
			else
				app.conninfo = argv[++i];
		}
		else if (strncmp(a, "--dbname=", 9) == 0)
			app.conninfo = a + 9;
		else if (strncmp(a, "-d", 2) == 0)
			app.conninfo = a + 2;
		else if (strncmp(a, "--dir=", 6) == 0)
		{
			app.dir = a + 6;
			app.dir_given = true;
		}
		else
		{
			msg_error("unknown option \"%s\"", a);
			fprintf(stderr, "Try \"dbmigrate --help\".\n");
			return EXIT_USAGE;
		}
	}
	if (i < argc && strcmp(argv[i], "--") == 0)
		i++;
	if (i >= argc)
	{
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[i], "help") == 0)
	{
		cmd = i + 1 < argc ? find_command(argv[i + 1]) : NULL;
		if (cmd)
			print_command_help(cmd, stdout);
		else
			usage(stdout);
		return EXIT_DONE;
	}
	cmd = find_command(argv[i]);
	if (cmd == NULL)
	{
		msg_error("unknown command \"%s\"", argv[i]);
		fprintf(stderr, "Try \"dbmigrate --help\" for the list of commands.\n");
		return EXIT_USAGE;
	}
	app.command = cmd->name;
	if (!read_config(&app))
	{
		free(app.config_dir);
		return EXIT_USAGE;
	}
	read_dotenv(&app);
	rc = cmd->run(&app, argc - i, argv + i);

	fleet_child_finish(&app);
	fflush(stdout);
	db_disconnect(&app);
	graph_free(app.graph);
	folder_free(app.folder);
	free(app.dotenv_url);
	free(app.config_dir);
	free(app.step_text);
	for (i = 0; app.step_done && i < app.steps_seen; i++)
		free(app.step_done[i]);
	free(app.step_done);
	free(app.step_done_ms);
	free(app.replicas_json);
	return rc;
}

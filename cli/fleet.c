/*-------------------------------------------------------------------------
 *
 * fleet.c
 *	  --dsn-file FILE -j N: one command on every database FILE lists, N at a
 *	  time, and a per-database result table.
 *
 * FILE holds one conninfo string or URL a line; '#' starts a comment line,
 * blank lines are skipped.  Every line is checked (PQconninfoParse) before
 * anything runs.
 *
 * Each database gets its own process: fork() after the arguments are parsed,
 * and the child goes on with the command exactly as a single-database run
 * would, on its own connection and in its own transaction, so a failure rolls
 * back that database alone.  Processes rather than libpq's asynchronous API
 * or threads because the commands are synchronous code with process-wide
 * state (the Ctrl-C cancel handle, stdout/stderr, the progress notices);
 * a process per database reuses them unchanged and isolates one database's
 * failure (even a crash) from the others.  POSIX only, no new dependency.
 *
 * The parent reads each child's stdout and stderr through pipes and relays
 * them line by line, prefixed by "[database] "; a third pipe carries the
 * child's result (current revisions before and after).  The table comes in
 * FILE's order, so -j 1 and -j 8 print the same rows.  Exit status: the
 * highest of the children's (1 if any failed; 2 if any could not connect).
 *
 * Copyright (c) 2026, dbmigrate developers
 *
 * IDENTIFICATION
 *	  cli/fleet.c
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dbmigrate.h"

#define FLEET_SEP '\x1f'		/* between the fields of a result record */

typedef struct FleetDb
{
	char	   *conninfo;
	int			line;			/* in FILE */
	char	   *label;			/* [host[:port]/]dbname, or "line N" */
	pid_t		pid;			/* 0: not started */
	int			fd[3];			/* stdout, stderr, result; -1: closed */
	char	   *partial[3];		/* an unfinished line of each */
	char	   *result;			/* what the child wrote on fd[2] */
	double		started;
	double		ms;
	int			status;			/* exit status; -1: not run */
	int			signal;			/* the signal that ended it, 0: none */
	char	   *error;			/* the first "dbmigrate: " line on stderr */
	char	   *from;
	char	   *to;
} FleetDb;

static volatile sig_atomic_t fleet_interrupted = 0;
static pid_t *fleet_pids;
static int	fleet_npids;

static const char *const fleet_commands[] = {"upgrade", "downgrade", "stamp", "check", "current"};

static bool fleet_read_file(App *app, FleetDb **dbs, int *ndbs);
static char *fleet_label(const char *conninfo, int line);
static void fleet_on_signal(int sig);
static bool fleet_start(App *app, FleetDb *dbs, int ndbs, int k);
static void fleet_input(App *app, FleetDb *db, int which);
static void fleet_line(App *app, FleetDb *db, int which, const char *line);
static void fleet_reap(FleetDb *db);
static const char *fleet_result_name(const App *app, const FleetDb *db);
static void fleet_report(App *app, FleetDb *dbs, int ndbs, double ms);
static char *fleet_state(App *app);

/*
 * fleet_option
 *		The global options of this file, for main's loop and parse_args:
 *		--dsn-file FILE, -j N / --jobs N, --wait-replicas[=SECONDS].
 *		Returns 1 when argv[*i] was one (*i moved past its value), 0 when
 *		not, -1 after a usage error (printed).
 */
int
fleet_option(App *app, int argc, char **argv, int *i)
{
	const char *a = argv[*i];
	const char *value = NULL;
	bool		jobs = false;
	char	   *end;

	if (strcmp(a, "--wait-replicas") == 0)
	{
		app->wait_replicas = true;
		app->replica_timeout_s = 60;
		return 1;
	}
	if (strncmp(a, "--wait-replicas=", 16) == 0)
	{
		double		t;

		errno = 0;
		t = strtod(a + 16, &end);
		if (errno != 0 || end == a + 16 || *end != '\0' || !(t > 0) || t > 86400)
		{
			msg_error("--wait-replicas: \"%s\" is not a timeout in seconds (more than 0, at most 86400)",
					  a + 16);
			return -1;
		}
		app->wait_replicas = true;
		app->replica_timeout_s = t;
		return 1;
	}
	if (strcmp(a, "--dsn-file") == 0 || strcmp(a, "-j") == 0 || strcmp(a, "--jobs") == 0)
	{
		if (*i + 1 >= argc)
		{
			msg_error("option \"%s\" needs a value", a);
			return -1;
		}
		jobs = a[1] != '-' || a[2] == 'j';
		value = argv[++*i];
	}
	else if (strncmp(a, "--dsn-file=", 11) == 0)
		value = a + 11;
	else if (strncmp(a, "--jobs=", 7) == 0)
	{
		jobs = true;
		value = a + 7;
	}
	else if (strncmp(a, "-j", 2) == 0)
	{
		jobs = true;
		value = a + 2;
	}
	else
		return 0;

	if (jobs)
	{
		long		n;

		errno = 0;
		n = strtol(value, &end, 10);
		if (errno != 0 || end == value || *end != '\0' || n < 1 || n > 64)
		{
			msg_error("-j: \"%s\" is not a number of connections from 1 to 64", value);
			return -1;
		}
		app->jobs = (int) n;
	}
	else
		app->dsn_file = value;
	return 1;
}

/*
 * fleet_dispatch
 *		Called by parse_args once a command's arguments are read.  Checks
 *		the combination of options; without --dsn-file, or in a fleet's
 *		child, returns -1 (go on with the command).  Otherwise runs the
 *		command on every database of the file: the parent returns the exit
 *		status, each child returns -1 with app->conninfo set to its line and
 *		its connection open.
 */
int
fleet_dispatch(App *app, int argc, char **argv)
{
	FleetDb    *dbs = NULL;
	int			ndbs = 0;
	int			running = 0;
	int			next = 0;
	int			rc = EXIT_DONE;
	double		started = now_ms();
	struct sigaction sa;
	struct sigaction old_int;
	struct sigaction old_term;
	bool		known = false;

	(void) argc;
	(void) argv;
	if (app->fleet_fd > 0)
		return -1;
	if (app->wait_replicas && strcmp(app->command, "upgrade") != 0 &&
		strcmp(app->command, "downgrade") != 0 && strcmp(app->command, "stamp") != 0)
	{
		msg_error("%s: --wait-replicas applies to upgrade, downgrade and stamp", app->command);
		return EXIT_USAGE;
	}
	if (app->dsn_file == NULL)
	{
		if (app->jobs > 0)
		{
			msg_error("-j needs --dsn-file FILE (the databases to run on)");
			return EXIT_USAGE;
		}
		return -1;
	}
	for (size_t k = 0; k < lengthof(fleet_commands); k++)
		known |= strcmp(app->command, fleet_commands[k]) == 0;
	if (!known)
	{
		msg_error("%s: --dsn-file works with upgrade, downgrade, stamp, check and current",
				  app->command);
		return EXIT_USAGE;
	}
	if (app->conninfo)
	{
		msg_error("--dsn-file and -d exclude each other: the file names the databases");
		return EXIT_USAGE;
	}
	if (app->jobs == 0)
		app->jobs = 1;
	if (!fleet_read_file(app, &dbs, &ndbs))
		return EXIT_USAGE;

	fleet_pids = xmalloc(sizeof(pid_t) * ndbs);
	fleet_npids = ndbs;
	memset(fleet_pids, 0, sizeof(pid_t) * ndbs);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fleet_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	fflush(stdout);
	fflush(stderr);

	while (next < ndbs || running > 0)
	{
		struct pollfd *pfd = xmalloc(sizeof(struct pollfd) * 3 * (ndbs + 1));
		int		   *owner = xmalloc(sizeof(int) * 3 * (ndbs + 1));
		int			npfd = 0;

		while (!fleet_interrupted && running < app->jobs && next < ndbs)
		{
			if (!fleet_start(app, dbs, ndbs, next))
			{
				/* a child returns here: go on with the command */
				free(pfd);
				free(owner);
				return -1;
			}
			if (dbs[next].pid > 0)
			{
				fleet_pids[next] = dbs[next].pid;
				running++;
			}
			next++;
		}
		if (fleet_interrupted)
			next = ndbs;
		for (int k = 0; k < ndbs; k++)
			for (int w = 0; w < 3; w++)
				if (dbs[k].pid > 0 && dbs[k].fd[w] >= 0)
				{
					pfd[npfd].fd = dbs[k].fd[w];
					pfd[npfd].events = POLLIN;
					pfd[npfd].revents = 0;
					owner[npfd++] = k * 3 + w;
				}
		if (npfd > 0 && poll(pfd, npfd, 500) < 0 && errno != EINTR)
		{
			msg_error("poll: %s", strerror(errno));
			fleet_interrupted = 1;
		}
		for (int p = 0; p < npfd; p++)
			if (pfd[p].revents)
				fleet_input(app, &dbs[owner[p] / 3], owner[p] % 3);
		for (int k = 0; k < ndbs; k++)
			if (dbs[k].pid > 0 && dbs[k].fd[0] < 0 && dbs[k].fd[1] < 0 && dbs[k].fd[2] < 0)
			{
				fleet_reap(&dbs[k]);
				fleet_pids[k] = 0;
				running--;
			}
		free(pfd);
		free(owner);
	}
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);

	fleet_report(app, dbs, ndbs, now_ms() - started);
	for (int k = 0; k < ndbs; k++)
	{
		int			s = dbs[k].status < 0 || dbs[k].signal ? EXIT_FAILED : dbs[k].status;

		if (s > rc)
			rc = s;
		free(dbs[k].conninfo);
		free(dbs[k].label);
		free(dbs[k].error);
		free(dbs[k].from);
		free(dbs[k].to);
		free(dbs[k].result);
		for (int w = 0; w < 3; w++)
			free(dbs[k].partial[w]);
	}
	free(dbs);
	free(fleet_pids);
	fleet_pids = NULL;
	return rc;
}

/*
 * fleet_read_file
 *		The databases of --dsn-file, each line checked by PQconninfoParse.
 */
static bool
fleet_read_file(App *app, FleetDb **dbs, int *ndbs)
{
	char	   *data;
	size_t		len;
	char	   *p;
	int			lineno = 0;
	bool		ok = true;

	if (!read_file_bytes(app->dsn_file, &data, &len))
		return false;
	if (memchr(data, '\0', len) != NULL)
	{
		msg_error("%s: not a text file (it holds a NUL byte)", app->dsn_file);
		free(data);
		return false;
	}
	p = data;
	while (p < data + len)
	{
		char	   *nl = memchr(p, '\n', (size_t) (data + len - p));
		char	   *e = nl ? nl : data + len;
		char	   *s = p;
		char	   *perr = NULL;
		PQconninfoOption *opts;

		lineno++;
		p = nl ? nl + 1 : data + len;
		*e = '\0';
		while (*s == ' ' || *s == '\t')
			s++;
		while (e > s && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
			*--e = '\0';
		if (*s == '\0' || *s == '#')
			continue;
		opts = PQconninfoParse(s, &perr);
		if (opts == NULL)
		{
			char	   *nl2 = perr ? strchr(perr, '\n') : NULL;

			if (nl2)
				*nl2 = '\0';
			msg_error("%s:%d: not a connection string or URL: %s", app->dsn_file, lineno,
					  perr ? perr : "out of memory");
			PQfreemem(perr);
			ok = false;
			continue;
		}
		PQconninfoFree(opts);
		*dbs = xrealloc(*dbs, sizeof(FleetDb) * (*ndbs + 1));
		memset(&(*dbs)[*ndbs], 0, sizeof(FleetDb));
		(*dbs)[*ndbs].conninfo = xstrdup(s);
		(*dbs)[*ndbs].line = lineno;
		(*dbs)[*ndbs].label = fleet_label(s, lineno);
		(*dbs)[*ndbs].status = -1;
		for (int w = 0; w < 3; w++)
			(*dbs)[*ndbs].fd[w] = -1;
		(*ndbs)++;
	}
	free(data);
	if (ok && *ndbs == 0)
	{
		msg_error("%s lists no database (one connection string or URL a line; '#' comments)",
				  app->dsn_file);
		ok = false;
	}
	/* the same label twice: add the line number */
	for (int k = 0; ok && k < *ndbs; k++)
		for (int m = 0; m < *ndbs; m++)
			if (m != k && strcmp((*dbs)[k].label, (*dbs)[m].label) == 0)
			{
				char	   *t = xasprintf("%s (line %d)", (*dbs)[k].label, (*dbs)[k].line);

				free((*dbs)[k].label);
				(*dbs)[k].label = t;
				break;
			}
	if (!ok)
	{
		for (int k = 0; k < *ndbs; k++)
		{
			free((*dbs)[k].conninfo);
			free((*dbs)[k].label);
		}
		free(*dbs);
		*dbs = NULL;
		*ndbs = 0;
	}
	return ok;
}

/*
 * fleet_label
 *		How a database is shown: its dbname, after host[:port]/ when the line
 *		names them (never the password); "line N" without a dbname.
 */
static char *
fleet_label(const char *conninfo, int line)
{
	PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
	const char *host = NULL;
	const char *port = NULL;
	const char *dbname = NULL;
	char	   *label;

	for (PQconninfoOption *o = opts; o && o->keyword; o++)
	{
		if (o->val == NULL || *o->val == '\0')
			continue;
		if (strcmp(o->keyword, "host") == 0)
			host = o->val;
		else if (strcmp(o->keyword, "port") == 0)
			port = o->val;
		else if (strcmp(o->keyword, "dbname") == 0)
			dbname = o->val;
	}
	if (dbname == NULL)
		label = xasprintf("line %d", line);
	else if (host || port)
		label = xasprintf("%s%s%s/%s", host ? host : "", port ? ":" : "", port ? port : "", dbname);
	else
		label = xstrdup(dbname);
	PQconninfoFree(opts);
	return label;
}

/* SIGINT, SIGTERM: start no more databases; the running ones are cancelled */
static void
fleet_on_signal(int sig)
{
	fleet_interrupted = 1;
	for (int k = 0; fleet_pids && k < fleet_npids; k++)
		if (fleet_pids[k] > 0)
			kill(fleet_pids[k], sig == SIGINT ? SIGINT : SIGTERM);
}

/*
 * fleet_start
 *		Fork the child of dbs[k].  Returns false in the child (which then
 *		goes on with the command), true in the parent.  The child connects
 *		and reads the current revisions first; a connection failure ends it
 *		with status 2.
 */
static bool
fleet_start(App *app, FleetDb *dbs, int ndbs, int k)
{
	FleetDb    *db = &dbs[k];
	int			pipes[3][2];
	pid_t		pid;
	int			w;

	for (w = 0; w < 3; w++)
		if (pipe(pipes[w]) != 0)
		{
			msg_error("%s: cannot make a pipe: %s", db->label, strerror(errno));
			while (--w >= 0)
			{
				close(pipes[w][0]);
				close(pipes[w][1]);
			}
			db->status = EXIT_USAGE;
			db->error = xasprintf("cannot make a pipe: %s", strerror(errno));
			return true;
		}
	db->started = now_ms();
	pid = fork();
	if (pid < 0)
	{
		msg_error("%s: cannot fork: %s", db->label, strerror(errno));
		for (w = 0; w < 3; w++)
		{
			close(pipes[w][0]);
			close(pipes[w][1]);
		}
		db->status = EXIT_USAGE;
		db->error = xasprintf("cannot fork: %s", strerror(errno));
		return true;
	}
	if (pid == 0)
	{
		char	   *from;

		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		for (int m = 0; m < ndbs; m++)
			for (w = 0; w < 3; w++)
				if (dbs[m].fd[w] >= 0)
					close(dbs[m].fd[w]);
		for (w = 0; w < 3; w++)
			close(pipes[w][0]);
		dup2(pipes[0][1], STDOUT_FILENO);
		dup2(pipes[1][1], STDERR_FILENO);
		close(pipes[0][1]);
		close(pipes[1][1]);
		app->fleet_fd = pipes[2][1];
		app->conninfo = db->conninfo;
		app->dsn_source = xasprintf("%s line %d", app->dsn_file, db->line);
		/* the table is the parent's: the child prints progress and errors */
		if (app->json)
		{
			app->json = false;
			app->quiet = true;
		}
		if (!db_connect(app))
			exit(EXIT_USAGE);
		from = fleet_state(app);
		if (write(app->fleet_fd, from, strlen(from)) < 0 ||
			write(app->fleet_fd, "\x1f", 1) < 0)
			exit(EXIT_FAILED);
		free(from);
		return false;
	}
	db->pid = pid;
	for (w = 0; w < 3; w++)
	{
		close(pipes[w][1]);
		db->fd[w] = pipes[w][0];
	}
	return true;
}

/*
 * fleet_state
 *		The current revisions of the child's database, comma-separated:
 *		"base" when none, "" when they cannot be read.
 */
static char *
fleet_state(App *app)
{
	DbError		err;
	PGresult   *res;
	char	   *s;

	if (app->conn == NULL || PQstatus(app->conn) != CONNECTION_OK ||
		PQtransactionStatus(app->conn) != PQTRANS_IDLE)
		return xstrdup("");
	res = db_query(app, "SELECT 1 FROM pg_catalog.pg_extension "
				   "WHERE extname OPERATOR(pg_catalog.=) 'dbmigrate'", 0, NULL, &err);
	if (res == NULL)
	{
		db_error_free(&err);
		return xstrdup("");
	}
	if (PQntuples(res) == 0)
	{
		PQclear(res);
		return xstrdup("base");
	}
	PQclear(res);
	res = db_query(app, "SELECT pg_catalog.string_agg(c, ', ' ORDER BY c) "
				   "FROM dbmigrate.migrate_current() AS c", 0, NULL, &err);
	if (res == NULL)
	{
		db_error_free(&err);
		return xstrdup("");
	}
	s = xstrdup(PQgetisnull(res, 0, 0) ? "base" : PQgetvalue(res, 0, 0));
	PQclear(res);
	return s;
}

/*
 * fleet_child_finish
 *		In a fleet's child, after the command: the current revisions again,
 *		on the result pipe.
 */
void
fleet_child_finish(App *app)
{
	char	   *to;

	if (app->fleet_fd <= 0)
		return;
	fflush(stdout);
	fflush(stderr);
	to = fleet_state(app);
	if (write(app->fleet_fd, to, strlen(to)) < 0)
		msg_error("cannot write the result: %s", strerror(errno));
	free(to);
	close(app->fleet_fd);
	app->fleet_fd = -1;
	free(app->dsn_source);
}

/* fleet_input: read what a child wrote on stream which */
static void
fleet_input(App *app, FleetDb *db, int which)
{
	char		buf[8192];
	ssize_t		n = read(db->fd[which], buf, sizeof(buf) - 1);
	char	  **acc = which == 2 ? &db->result : &db->partial[which];
	char	   *s;
	char	   *line;

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0)
	{
		close(db->fd[which]);
		db->fd[which] = -1;
		if (which < 2 && db->partial[which] && *db->partial[which])
			fleet_line(app, db, which, db->partial[which]);
		if (which < 2)
		{
			free(db->partial[which]);
			db->partial[which] = NULL;
		}
		return;
	}
	buf[n] = '\0';
	if (memchr(buf, '\0', (size_t) n))
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] == '\0')
				buf[i] = ' ';
	s = xasprintf("%s%s", *acc ? *acc : "", buf);
	free(*acc);
	*acc = s;
	if (which == 2)
		return;
	line = s;
	for (char *nl = strchr(line, '\n'); nl; nl = strchr(line, '\n'))
	{
		*nl = '\0';
		fleet_line(app, db, which, line);
		line = nl + 1;
	}
	*acc = xstrdup(line);
	free(s);
}

/*
 * fleet_line
 *		One line of a child: relayed with the database's prefix (to stderr
 *		under --json, whose stdout is the table); the first error line is
 *		kept for the table.
 */
static void
fleet_line(App *app, FleetDb *db, int which, const char *line)
{
	FILE	   *out = which == 0 && !app->json ? stdout : stderr;

	if (which == 1 && db->error == NULL && strncmp(line, "dbmigrate: ", 11) == 0)
		db->error = xstrdup(line + 11);
	fprintf(out, "[%s] %s\n", db->label, line);
	fflush(out);
}

/* fleet_reap: the child's exit status and its result record */
static void
fleet_reap(FleetDb *db)
{
	int			ws;
	char	   *sep;

	while (waitpid(db->pid, &ws, 0) < 0)
		if (errno != EINTR)
		{
			ws = EXIT_FAILED << 8;
			break;
		}
	db->ms = now_ms() - db->started;
	if (WIFSIGNALED(ws))
	{
		db->signal = WTERMSIG(ws);
		db->status = EXIT_FAILED;
	}
	else
		db->status = WEXITSTATUS(ws);
	db->pid = -1;
	if (db->result && (sep = strchr(db->result, FLEET_SEP)) != NULL)
	{
		*sep = '\0';
		if (*db->result)
			db->from = xstrdup(db->result);
		if (sep[1])
			db->to = xstrdup(sep + 1);
	}
	else if (db->result && *db->result)
		db->from = xstrdup(db->result);
}

/* fleet_result_name: a database's result, in the command's terms */
static const char *
fleet_result_name(const App *app, const FleetDb *db)
{
	bool		check = strcmp(app->command, "check") == 0;

	if (db->status < 0)
		return "not run";
	if (db->signal)
		return "killed";
	switch (db->status)
	{
		case EXIT_DONE:
			return check ? "up to date" : "ok";
		case EXIT_FAILED:
			return check ? "pending" : "failed";
		default:
			return check ? "problems" : "error";
	}
}

/*
 * fleet_report
 *		The per-database table (database, result, from -> to, duration, the
 *		error's first line) and a summary, or one JSON document.
 */
static void
fleet_report(App *app, FleetDb *dbs, int ndbs, double ms)
{
	int			wlabel = (int) strlen("DATABASE");
	int			wresult = (int) strlen("RESULT");
	int			wstate = (int) strlen("FROM -> TO");
	int			nok = 0;
	char	  **state = xmalloc(sizeof(char *) * ndbs);

	for (int k = 0; k < ndbs; k++)
	{
		int			n;

		if (dbs[k].status == EXIT_DONE && !dbs[k].signal)
			nok++;
		if (dbs[k].signal && dbs[k].error == NULL)
			dbs[k].error = xasprintf("ended by signal %d", dbs[k].signal);
		if (dbs[k].status < 0 && dbs[k].error == NULL)
			dbs[k].error = xstrdup("interrupted before it started");
		state[k] = xasprintf("%s -> %s", dbs[k].from ? dbs[k].from : "?", dbs[k].to ? dbs[k].to : "?");
		n = (int) strlen(dbs[k].label);
		wlabel = n > wlabel ? n : wlabel;
		n = (int) strlen(fleet_result_name(app, &dbs[k]));
		wresult = n > wresult ? n : wresult;
		n = (int) strlen(state[k]);
		wstate = n > wstate ? n : wstate;
	}
	fflush(stderr);
	if (app->json)
	{
		printf("{\"command\": ");
		json_string(stdout, app->command);
		printf(", \"status\": \"%s\", \"jobs\": %d, \"databases\": [",
			   nok == ndbs ? "ok" : "failed", app->jobs);
		for (int k = 0; k < ndbs; k++)
		{
			printf("%s{\"database\": ", k ? ", " : "");
			json_string(stdout, dbs[k].label);
			printf(", \"line\": %d, \"result\": ", dbs[k].line);
			json_string(stdout, fleet_result_name(app, &dbs[k]));
			printf(", \"exit_status\": %d, \"from\": ", dbs[k].status);
			json_string(stdout, dbs[k].from);
			printf(", \"to\": ");
			json_string(stdout, dbs[k].to);
			printf(", \"duration_ms\": %.3f, \"error\": ", dbs[k].ms);
			json_string(stdout, dbs[k].status == EXIT_DONE && !dbs[k].signal ? NULL : dbs[k].error);
			printf("}");
		}
		printf("], \"duration_ms\": %.3f}\n", ms);
	}
	else
	{
		printf("\n%-*s  %-*s  %-*s  %10s  %s\n", wlabel, "DATABASE", wresult, "RESULT", wstate,
			   "FROM -> TO", "DURATION", "ERROR");
		for (int k = 0; k < ndbs; k++)
		{
			char	   *dur = xasprintf("%.0f ms", dbs[k].ms);

			printf("%-*s  %-*s  %-*s  %10s", wlabel, dbs[k].label, wresult,
				   fleet_result_name(app, &dbs[k]), wstate, state[k], dur);
			if (!(dbs[k].status == EXIT_DONE && !dbs[k].signal) && dbs[k].error)
				printf("  %s", dbs[k].error);
			putchar('\n');
			free(dur);
		}
		printf("%s: %d of %d database%s %s; %d not (%.0f ms, -j %d)\n", app->command, nok, ndbs,
			   ndbs == 1 ? "" : "s", strcmp(app->command, "check") == 0 ? "up to date" : "ok",
			   ndbs - nok, ms, app->jobs);
	}
	fflush(stdout);
	for (int k = 0; k < ndbs; k++)
		free(state[k]);
	free(state);
}

/*-------------------------------------------------------------------------
 *
 * dbmigrate.h
 *	  The dbmigrate command-line client: shared types and functions.
 *
 * The client talks to the server only through dbmigrate's SQL API (libpq);
 * it includes no server header.  One file per concern:
 *	main.c		options, the command table, --help, dispatch
 *	migfile.c	reading and parsing migration files (the file format)
 *	graph.c		the revision graph of a folder: checks, order, targets
 *	db.c		connections, notices, errors, queries, the bootstrap
 *	output.c	progress lines, JSON, messages
 *	cmd_files.c init, revision, merge (files only, no connection)
 *	cmd_run.c	upgrade, downgrade, stamp, check, seed (and --sql)
 *	cmd_read.c	current, heads, history, show
 *	fleet.c		--dsn-file -j N: one command on many databases, in parallel
 *	replicas.c	--wait-replicas, and explaining a hot standby's refusal
 *	cmd_alembic.c import-alembic (Alembic's offline SQL into files)
 *
 * Copyright (c) 2026, dbmigrate developers
 *
 * IDENTIFICATION
 *	  cli/dbmigrate.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DBMIGRATE_CLI_H
#define DBMIGRATE_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "libpq-fe.h"

#ifndef DBMIGRATE_VERSION
#define DBMIGRATE_VERSION "unknown"
#endif

/* exit status (SPEC §6) */
#define EXIT_DONE		0		/* done, up to date */
#define EXIT_FAILED		1		/* failed; check: something pending */
#define EXIT_USAGE		2		/* usage or configuration error; check:
								 * problems */

/* the revision CREATE EXTENSION registers: a parent every folder may name */
#define BUILTIN_REVISION "001_initial_migration"

/* the transaction-level advisory lock that serializes CREATE EXTENSION */
#define BOOTSTRAP_LOCK_KEY "7233180411463017521"	/* 0x64626d626f6f7431,
													 * "dbmboot1" */

/* the configuration file init writes and every command reads */
#define CONFIG_FILE "dbmigrate.conf"

#define lengthof(a) (sizeof(a) / sizeof((a)[0]))

/*
 * One migration file.  Line numbers are 1-based; a section's SQL starts on
 * the line after its marker.  up and down are the sections as written (CRLF
 * kept); down is NULL when the file has no "-- migrate:down" (irreversible).
 */
typedef struct MigFile
{
	char	   *path;			/* as shown to the user: dir/name */
	char	   *revision;
	char	  **parents;
	int			nparents;
	char	   *message;		/* NULL: none */
	bool		transactional;
	char	   *up;
	char	   *down;
	int			line_revision;
	int			line_parents;
	int			line_up;
	int			line_down;
} MigFile;

typedef struct Folder
{
	char	   *dir;
	MigFile    *files;
	int			nfiles;
} Folder;

/*
 * A revision graph: the folder's files, the built-in revision when a file
 * names it, and (for commands that read the database) what is registered
 * there.  nodes[order[0..n-1]] is a topological order, parents first.
 */
typedef struct GNode
{
	char	   *id;
	MigFile    *file;			/* NULL: not in the folder */
	char	   *message;
	char	  **parent_ids;
	int			nparents;
	int		   *parents;
	int		   *children;
	int			nchildren;
	bool		registered;		/* known to the database */
	bool		applied;
	bool		current;
	char	   *applied_at;		/* from migrate_history(), may be NULL */
	char	   *applied_by;
} GNode;

typedef struct Graph
{
	int			n;
	int			cap;
	GNode	   *nodes;
	int		   *order;
} Graph;

/* a planned step of --sql */
typedef struct PlanStep
{
	int			node;
	bool		upgrade;
} PlanStep;

/* an error from the server, with every field libpq gives */
typedef struct DbError
{
	char	   *severity;
	char	   *sqlstate;
	char	   *message;
	char	   *detail;
	char	   *hint;
	char	   *context;
	char	   *internal_query;
	int			internal_position;	/* characters, 1-based; 0 = none */
} DbError;

/* global options and the state every command shares */
typedef struct App
{
	const char *conninfo;		/* -d */
	const char *dir;			/* --dir, else the config file's, else
								 * "migrations" */
	bool		dir_given;
	bool		quiet;
	bool		json;
	const char *command;
	const char *conn_source;	/* where the connection settings came from */
	char	   *dotenv_url;		/* DATABASE_URL read from ./.env */
	char	   *config_dir;		/* dir = ... read from dbmigrate.conf */
	PGconn	   *conn;
	Folder	   *folder;			/* the folder, for naming files in errors */
	Graph	   *graph;
	/* progress of the step the server is running */
	bool		step_open;
	double		step_started;
	char	   *step_text;
	int			steps_seen;
	char	  **step_done;		/* every finished step's text and time */
	double	   *step_done_ms;
	bool		no_folder;		/* no folder, and none was asked for */
	/* many databases and replicas (fleet.c, replicas.c) */
	const char *dsn_file;		/* --dsn-file */
	int			jobs;			/* -j; 0: not given */
	bool		wait_replicas;	/* --wait-replicas[=TIMEOUT] */
	double		replica_timeout_s;
	char	   *replicas_json;	/* what the wait found, for --json */
	char	   *dsn_source;		/* "FILE line N" in a fleet's child */
	int			fleet_fd;		/* a fleet child's result pipe; 0: none */
} App;

/* a subcommand */
typedef struct Command
{
	const char *name;
	int			(*run) (App *app, int argc, char **argv);
	const char *synopsis;
	const char *help;
} Command;

/* an option of a command: a flag, or one that takes a value */
typedef struct Opt
{
	char		shortname;		/* 0: none */
	const char *longname;
	bool		takes_value;
	const char **value;
	bool	   *flag;
} Opt;

/* main.c */
extern const Command *find_command(const char *name);
extern int	parse_args(App *app, int argc, char **argv, const Opt *opts, int nopts, char **pos,
					   int maxpos, int *npos);
extern void print_command_help(const Command *cmd, FILE *out);

/* migfile.c */
extern Folder *folder_read(const char *dir, int *status);
extern void folder_free(Folder *f);
extern bool read_file_bytes(const char *path, char **data, size_t *len);
extern bool valid_revision_id(const char *id, const char **why);
extern long utf8_invalid_offset(const char *s, size_t len);
extern char *normalize_sql(const char *s);

/* graph.c */
extern Graph *graph_new(void);
extern void graph_free(Graph *g);
extern int	graph_find(const Graph *g, const char *id);
extern int	graph_add(Graph *g, const char *id, char **parents, int nparents, const char *message);
extern Graph *graph_from_folder(Folder *f, int *status);
extern bool graph_link(Graph *g, bool strict);
extern int	graph_heads(const Graph *g, int *out);
extern char *graph_parents_text(const Graph *g, int node);
extern bool graph_resolve(const Graph *g, const char *rev, int *node, char **err);
extern bool graph_plan(const Graph *g, const char *target, bool upgrade, PlanStep **steps,
					   int *nsteps, char **err);
extern bool graph_is_ancestor(const Graph *g, int anc, int node);

/* db.c */
extern bool db_connect(App *app);
extern void db_disconnect(App *app);
extern PGresult *db_query(App *app, const char *sql, int nparams, const char *const *values,
						  DbError *err);
extern bool db_command(App *app, const char *sql, DbError *err);
extern void db_error_free(DbError *err);
extern void db_error_from_result(const PGresult *res, DbError *err);
extern void db_error_from_conn(App *app, DbError *err);
extern int	db_extension(App *app, bool create, DbError *err, bool *present);
extern void db_report_error(App *app, const DbError *err, const MigFile *file, const char *section);
extern void db_install_cancel_handler(App *app);
extern bool db_read_graph(App *app, Graph *g, DbError *err);
extern char *dbname_of(App *app);
extern Graph *db_union_graph(App *app, bool present, DbError *err);

/* fleet.c */
extern int	fleet_option(App *app, int argc, char **argv, int *i);
extern int	fleet_dispatch(App *app, int argc, char **argv);
extern void fleet_child_finish(App *app);

/* replicas.c */
extern int	replicas_prepare(App *app);
extern int	replicas_wait(App *app);
extern void replicas_explain_standby(App *app, const DbError *err);

/* output.c */
extern void msg_error(const char *fmt,...) __attribute__((format(printf, 1, 2)));
extern void msg_info(const App *app, const char *fmt,...) __attribute__((format(printf, 2, 3)));
extern double now_ms(void);
extern void progress_start(App *app, const char *text);
extern void progress_finish(App *app);
extern void progress_fail(App *app);
extern void json_string(FILE *out, const char *s);
extern void json_string_array(FILE *out, char **items, int n);
extern void json_error(const App *app, const char *status, const DbError *err, const char *file,
					   int line, const char *message);
extern void *xmalloc(size_t n);
extern void *xrealloc(void *p, size_t n);
extern char *xstrdup(const char *s);
extern char *xstrndup(const char *s, size_t n);
extern char *xasprintf(const char *fmt,...) __attribute__((format(printf, 1, 2)));

/* commands */
extern int	cmd_init(App *app, int argc, char **argv);
extern int	cmd_revision(App *app, int argc, char **argv);
extern int	cmd_merge(App *app, int argc, char **argv);
extern int	cmd_upgrade(App *app, int argc, char **argv);
extern int	cmd_downgrade(App *app, int argc, char **argv);
extern int	cmd_stamp(App *app, int argc, char **argv);
extern int	cmd_check(App *app, int argc, char **argv);
extern int	cmd_seed(App *app, int argc, char **argv);
extern int	cmd_current(App *app, int argc, char **argv);
extern int	cmd_heads(App *app, int argc, char **argv);
extern int	cmd_history(App *app, int argc, char **argv);
extern int	cmd_show(App *app, int argc, char **argv);
extern int	cmd_import_alembic(App *app, int argc, char **argv);

/* the folder of an app: --dir, else the config file's dir, else migrations */
extern const char *app_dir(const App *app);
extern int	app_load_folder(App *app, bool required);

#endif							/* DBMIGRATE_CLI_H */

/*-------------------------------------------------------------------------
 *
 * replicas.c
 *	  --wait-replicas: after a deploy commits, wait until every streaming
 *	  standby has replayed it; and a clear word when a command that changes
 *	  state was pointed at a hot standby.
 *
 * The deploy's commit LSN is pg_current_wal_lsn() read on the deploy's
 * connection after COMMIT (made with synchronous_commit at least local, so
 * the commit record is written by then); a standby has the deploy once the replay_lsn that
 * pg_stat_replication shows for it on the primary is at or past that LSN.
 * Standbys in state streaming or catchup count (a pg_basebackup's WAL sender,
 * state backup, does not).  Reading pg_stat_replication's details needs the
 * privileges of pg_read_all_stats (pg_monitor has them) or superuser;
 * without them every column but pid is NULL, and the wait refuses rather
 * than guess.
 *
 * Copyright (c) 2026, dbmigrate developers
 *
 * IDENTIFICATION
 *	  cli/replicas.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include "dbmigrate.h"

static void replicas_json(App *app, const char *lsn, PGresult *res, const bool *counts,
						  double ms, bool timed_out);

/*
 * replicas_prepare
 *		Before a deploy that will wait: with synchronous_commit = off, COMMIT
 *		returns before its WAL is written, and pg_current_wal_lsn() read
 *		afterwards may lie before the commit record; "local" makes COMMIT
 *		write and flush it first.  Other settings already do.
 */
int
replicas_prepare(App *app)
{
	DbError		err;
	PGresult   *res;

	if (!app->wait_replicas)
		return EXIT_DONE;
	res = db_query(app, "SELECT pg_catalog.set_config('synchronous_commit', 'local', false) "
				   "WHERE pg_catalog.current_setting('synchronous_commit') "
				   "OPERATOR(pg_catalog.=) 'off'", 0, NULL, &err);
	if (res == NULL)
	{
		db_report_error(app, &err, NULL, NULL);
		db_error_free(&err);
		return EXIT_FAILED;
	}
	PQclear(res);
	return EXIT_DONE;
}

/*
 * replicas_wait
 *		On the deploy's connection, after COMMIT.  Returns EXIT_DONE when
 *		every streaming standby has replayed the commit (or there is none),
 *		EXIT_FAILED when one has not within the timeout (naming it and its
 *		lag in bytes) or the wait failed, EXIT_USAGE when
 *		pg_stat_replication cannot be read for lack of privileges.
 */
int
replicas_wait(App *app)
{
	DbError		err;
	PGresult   *res;
	char	   *lsn;
	double		started = now_ms();
	double		pause = 0.01;
	const char *values[1];
	const char *query =
		"SELECT application_name, "
		"COALESCE(pg_catalog.host(client_addr), client_hostname, 'local socket'), state, "
		"replay_lsn::pg_catalog.text, "
		"pg_catalog.pg_wal_lsn_diff($1::pg_catalog.pg_lsn, replay_lsn)::pg_catalog.int8, pid "
		"FROM pg_catalog.pg_stat_replication ORDER BY application_name, pid";

	res = db_query(app, "SELECT pg_catalog.pg_current_wal_lsn()::pg_catalog.text", 0, NULL, &err);
	if (res == NULL)
	{
		msg_error("--wait-replicas: cannot read the commit LSN (the deploy is committed)");
		db_report_error(app, &err, NULL, NULL);
		db_error_free(&err);
		return EXIT_FAILED;
	}
	lsn = xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	values[0] = lsn;

	for (;;)
	{
		int			n;
		int			nstandbys = 0;
		int			nlagging = 0;
		bool	   *counts;
		double		waited;

		res = db_query(app, query, 1, values, &err);
		if (res == NULL)
		{
			msg_error("--wait-replicas: cannot read pg_stat_replication (the deploy is committed)");
			db_report_error(app, &err, NULL, NULL);
			db_error_free(&err);
			free(lsn);
			return EXIT_FAILED;
		}
		n = PQntuples(res);
		counts = xmalloc(sizeof(bool) * (n + 1));
		for (int i = 0; i < n; i++)
		{
			const char *state = PQgetvalue(res, i, 2);

			if (PQgetisnull(res, i, 2))
			{
				msg_error("--wait-replicas: cannot see the standbys in pg_stat_replication: role "
						  "\"%s\" lacks the privileges of pg_monitor (the deploy is committed)",
						  PQuser(app->conn));
				fprintf(stderr, "HINT:  GRANT pg_monitor TO \"%s\"; (or deploy as a superuser).\n",
						PQuser(app->conn));
				free(counts);
				PQclear(res);
				free(lsn);
				return EXIT_USAGE;
			}
			counts[i] = strcmp(state, "streaming") == 0 || strcmp(state, "catchup") == 0;
			if (!counts[i])
				continue;
			nstandbys++;
			if (PQgetisnull(res, i, 3) || atoll(PQgetvalue(res, i, 4)) > 0)
				nlagging++;
		}
		waited = now_ms() - started;
		if (nstandbys == 0 || nlagging == 0)
		{
			if (nstandbys == 0)
				msg_info(app, "No streaming standby in pg_stat_replication: nothing to wait for");
			else
				msg_info(app, "%d standby%s replayed the deploy's commit (LSN %s) in %.0f ms",
						 nstandbys, nstandbys == 1 ? "" : "s", lsn, waited);
			replicas_json(app, lsn, res, counts, waited, false);
			free(counts);
			PQclear(res);
			free(lsn);
			return EXIT_DONE;
		}
		if (waited >= app->replica_timeout_s * 1000)
		{
			for (int i = 0; i < n; i++)
			{
				if (!counts[i] || (!PQgetisnull(res, i, 3) && atoll(PQgetvalue(res, i, 4)) <= 0))
					continue;
				if (PQgetisnull(res, i, 3))
					msg_error("standby \"%s\" (%s, pid %s) has not replayed the deploy's commit "
							  "(LSN %s) after %g s: it reports no replay position yet",
							  PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), PQgetvalue(res, i, 5),
							  lsn, app->replica_timeout_s);
				else
					msg_error("standby \"%s\" (%s, pid %s) has not replayed the deploy's commit "
							  "(LSN %s) after %g s: replay_lsn %s, %s bytes behind",
							  PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), PQgetvalue(res, i, 5),
							  lsn, app->replica_timeout_s, PQgetvalue(res, i, 3),
							  PQgetvalue(res, i, 4));
			}
			fprintf(stderr, "HINT:  The deploy is committed on the primary; new code may read a "
					"standby without it. Look at the standby's replay (pg_is_wal_replay_paused(), "
					"recovery_min_apply_delay, replay conflicts), or wait longer "
					"(--wait-replicas=SECONDS).\n");
			replicas_json(app, lsn, res, counts, waited, true);
			free(counts);
			PQclear(res);
			free(lsn);
			return EXIT_FAILED;
		}
		if (pause == 0.01)
			msg_info(app, "Waiting for %d of %d standby%s to replay the deploy's commit (LSN %s; "
					 "at most %g s)", nlagging, nstandbys, nstandbys == 1 ? "" : "s", lsn,
					 app->replica_timeout_s);
		free(counts);
		PQclear(res);

		/* sleep on the server, so Ctrl-C cancels it like any statement */
		{
			char	   *secs = xasprintf("%.3f", pause);
			const char *sv[1] = {secs};

			res = db_query(app, "SELECT pg_catalog.pg_sleep($1::pg_catalog.float8)", 1, sv, &err);
			free(secs);
			if (res == NULL)
			{
				db_report_error(app, &err, NULL, NULL);
				db_error_free(&err);
				free(lsn);
				return EXIT_FAILED;
			}
			PQclear(res);
		}
		pause = pause * 2 > 0.2 ? 0.2 : pause * 2;
	}
}

/* replicas_json: what the wait found, for print_result under --json */
static void
replicas_json(App *app, const char *lsn, PGresult *res, const bool *counts, double ms,
			  bool timed_out)
{
	char	   *buf = NULL;
	size_t		len = 0;
	FILE	   *f;
	bool		first = true;

	if (!app->json)
		return;
	f = open_memstream(&buf, &len);
	if (f == NULL)
		return;
	fprintf(f, "{\"commit_lsn\": ");
	json_string(f, lsn);
	fprintf(f, ", \"waited_ms\": %.3f, \"timed_out\": %s, \"standbys\": [", ms,
			timed_out ? "true" : "false");
	for (int i = 0; i < PQntuples(res); i++)
	{
		if (!counts[i])
			continue;
		fprintf(f, "%s{\"application_name\": ", first ? "" : ", ");
		json_string(f, PQgetvalue(res, i, 0));
		fprintf(f, ", \"address\": ");
		json_string(f, PQgetvalue(res, i, 1));
		fprintf(f, ", \"replay_lsn\": ");
		json_string(f, PQgetisnull(res, i, 3) ? NULL : PQgetvalue(res, i, 3));
		fprintf(f, ", \"lag_bytes\": %s}", PQgetisnull(res, i, 4) ? "null" : PQgetvalue(res, i, 4));
		first = false;
	}
	fprintf(f, "]}");
	fclose(f);
	free(app->replicas_json);
	app->replicas_json = buf;
}

/*
 * replicas_explain_standby
 *		After a server error: when it is 25006 (read-only transaction) and
 *		the server is a hot standby (the in_hot_standby parameter it reports,
 *		PostgreSQL 14 and later), say so and where to go instead.
 */
void
replicas_explain_standby(App *app, const DbError *err)
{
	const char *hs;

	if (app->conn == NULL || err->sqlstate == NULL || strcmp(err->sqlstate, "25006") != 0)
		return;
	hs = PQparameterStatus(app->conn, "in_hot_standby");
	if (hs == NULL || strcmp(hs, "on") != 0)
		return;
	fprintf(stderr, "dbmigrate: database \"%s\" on %s port %s is a hot standby (read-only): run %s "
			"against the primary; health() and the commands that only read (current, heads, "
			"history, show, check) work on a standby\n", PQdb(app->conn), PQhost(app->conn),
			PQport(app->conn), app->command ? app->command : "this command");
}

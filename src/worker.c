/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  Running a non-transactional revision's statements at top level.
 *
 *	  PostgreSQL runs CREATE INDEX CONCURRENTLY, VACUUM and the like only as
 *	  top-level statements outside a transaction block, which SPI cannot
 *	  issue.  So the stepwise procedures hand such a revision's SQL to a
 *	  dynamic background worker that connects to the same database as the
 *	  same user, with the caller's settings (GUC state, role, security
 *	  context), and runs the statements one by one, each in its own
 *	  transaction as in autocommit mode (BEGIN ... COMMIT in the text opens
 *	  and closes a block as it would in psql).  Reports come back over a
 *	  shared-memory queue in the frontend protocol: notices are relayed to the
 *	  client as they arrive, an error is raised in the caller as its own.
 *
 *	  The caller waits natively, after committing, holding no snapshot: a
 *	  concurrent index build waits for every transaction that holds an older
 *	  snapshot, so a waiting backend that held one would block the very
 *	  build it waits for (until its timeout).  dbm_worker_run checks this.
 *
 *	  A concurrent index build that fails leaves an INVALID index behind;
 *	  the worker drops the INVALID indexes that the failed statement left on
 *	  its table before it reports the error, so a failed step leaves nothing
 *	  half-built and can simply be run again.
 *
 * Copyright (c) 2026, dbmigrate developers
 *
 * IDENTIFICATION
 *	  src/worker.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_index.h"
#include "commands/dbcommands.h"
#include "libpq/pqformat.h"
#include "libpq/pqmq.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/analyze.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "storage/shm_mq.h"
#include "storage/shm_toc.h"
#include "tcop/pquery.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/portal.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timeout.h"

#include "dbmigrate.h"
#include "worker.h"

/* shm_toc keys of the segment shared with the worker */
#define DBM_WORKER_MAGIC		UINT64CONST(0x64626d776f726b72)
#define DBM_KEY_FIXED			1
#define DBM_KEY_GUC				2
#define DBM_KEY_SQL				3
#define DBM_KEY_QUEUE			4

/* Size of the queue from the worker */
#define DBM_QUEUE_SIZE			65536

/* Protocol message the worker sends when every statement succeeded */
#define DBM_MSG_DONE			'Z'

/* Who the worker is and how it runs */
typedef struct DbmWorkerFixed
{
	Oid			database;
	Oid			authenticated_user;
	Oid			outer_user;		/* SET ROLE's role, or InvalidOid */
	bool		outer_is_superuser;
	Oid			current_user;
	int			sec_context;
	pid_t		leader_pid;
	DbmProcNumber leader_backend;
	int			lock_timeout;	/* dbmigrate.lock_timeout, ms */
	int			statement_timeout;	/* dbmigrate.statement_timeout, ms */
} DbmWorkerFixed;

/* INVALID indexes on one table, to find the ones a failed statement left */
typedef struct DbmInvalidIndexes
{
	Oid			table;			/* InvalidOid: the statement builds none */
	List	   *before;			/* index OIDs, INVALID before the statement */
} DbmInvalidIndexes;

static void dbm_worker_stop(int code, Datum arg);
static void dbm_worker_send(char msgtype);
static void dbm_worker_relay(shm_mq_handle *mqh, DbmWorkerStep *step, bool *done);
static void dbm_worker_error_callback(void *arg);
static void dbm_worker_exec(RawStmt *raw, const char *sql);
static void dbm_worker_run_all(const char *sql);
static Oid	dbm_concurrent_build_table(Node *stmt);
static char *dbm_interrupted_build(Node *stmt, Oid table);
static void dbm_worker_exec_text(const char *sql);
static List *dbm_invalid_indexes(Oid table);
static void dbm_drop_left_invalid(DbmInvalidIndexes *inv);

/*
 * dbm_worker_run
 *		Run step->sql at top level in a background worker and wait for it,
 *		relaying its notices; its error is raised here, with a context naming
 *		the revision and the statement.  Must be called in a transaction that
 *		holds no snapshot (right after SPI_commit), as the calling role,
 *		outside the owner context.  53000 when no worker can be started.
 */
void
dbm_worker_run(DbmWorkerStep *step)
{
	shm_toc_estimator e;
	Size		sqllen = strlen(step->sql) + 1;
	Size		guclen = EstimateGUCStateSpace();
	Size		segsize;
	dsm_segment *seg;
	shm_toc    *toc;
	DbmWorkerFixed *fixed;
	char	   *gucstate;
	char	   *sqlbuf;
	shm_mq	   *mq;
	shm_mq_handle *mqh;
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	pid_t		pid;
	bool		done = false;

	/* the build we wait for waits for every older snapshot: hold none */
	InvalidateCatalogSnapshot();
	if (ActiveSnapshotSet() || TransactionIdIsValid(MyProc->xmin))
		elog(ERROR, "dbmigrate must not hold a snapshot while a non-transactional step runs");

	shm_toc_initialize_estimator(&e);
	shm_toc_estimate_chunk(&e, sizeof(DbmWorkerFixed));
	shm_toc_estimate_chunk(&e, guclen);
	shm_toc_estimate_chunk(&e, sqllen);
	shm_toc_estimate_chunk(&e, DBM_QUEUE_SIZE);
	shm_toc_estimate_keys(&e, 4);
	segsize = shm_toc_estimate(&e);

	seg = dsm_create(segsize, 0);
	toc = shm_toc_create(DBM_WORKER_MAGIC, dsm_segment_address(seg), segsize);

	fixed = shm_toc_allocate(toc, sizeof(DbmWorkerFixed));
	fixed->database = MyDatabaseId;
	fixed->authenticated_user = GetAuthenticatedUserId();
	fixed->outer_user = GetCurrentRoleId();
	fixed->outer_is_superuser = OidIsValid(fixed->outer_user) ?
		superuser_arg(fixed->outer_user) : session_auth_is_superuser;
	GetUserIdAndSecContext(&fixed->current_user, &fixed->sec_context);
	fixed->leader_pid = MyProcPid;
	fixed->leader_backend = DBM_MY_PROC_NUMBER;
	fixed->lock_timeout = dbmigrate_lock_timeout;
	fixed->statement_timeout = dbmigrate_statement_timeout;
	shm_toc_insert(toc, DBM_KEY_FIXED, fixed);

	gucstate = shm_toc_allocate(toc, guclen);
	SerializeGUCState(guclen, gucstate);
	shm_toc_insert(toc, DBM_KEY_GUC, gucstate);

	sqlbuf = shm_toc_allocate(toc, sqllen);
	memcpy(sqlbuf, step->sql, sqllen);
	shm_toc_insert(toc, DBM_KEY_SQL, sqlbuf);

	mq = shm_mq_create(shm_toc_allocate(toc, DBM_QUEUE_SIZE), DBM_QUEUE_SIZE);
	shm_toc_insert(toc, DBM_KEY_QUEUE, mq);
	shm_mq_set_receiver(mq, MyProc);

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "dbmigrate");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "dbm_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "dbmigrate worker for PID %d", MyProcPid);
	snprintf(worker.bgw_type, BGW_MAXLEN, "dbmigrate worker");
	worker.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(seg));
	worker.bgw_notify_pid = MyProcPid;

	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("could not start a background worker for revision \"%s\"", step->revision),
				 errdetail("A non-transactional revision runs its statements in a background worker."),
				 errhint("Raise max_worker_processes, or wait for other background workers to end.")));
	mqh = shm_mq_attach(mq, seg, handle);

	/*
	 * The worker applies statement_timeout to each of its statements, as the
	 * server does to top-level statements; the wait for all of them is not
	 * one statement.
	 */
	disable_timeout(STATEMENT_TIMEOUT, false);

	/* a cancel, an error or the end of this backend stops the worker too */
	PG_ENSURE_ERROR_CLEANUP(dbm_worker_stop, PointerGetDatum(handle));
	{
		if (WaitForBackgroundWorkerStartup(handle, &pid) != BGWH_STARTED)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
					 errmsg("could not start a background worker for revision \"%s\"",
							step->revision),
					 errhint("See the server log.")));
		dbm_worker_relay(mqh, step, &done);
	}
	PG_END_ENSURE_ERROR_CLEANUP(dbm_worker_stop, PointerGetDatum(handle));

	(void) WaitForBackgroundWorkerShutdown(handle);
	dsm_detach(seg);
	if (!done)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("the background worker running revision \"%s\" ended before it finished",
						step->revision),
				 errdetail("%d statement(s) of its %s_sql completed.", step->statement,
						   step->direction),
				 errhint("See the server log; statements that completed are committed.")));
}

/*
 * dbm_worker_stop
 *		Stop the worker when the waiting side fails or exits.
 */
static void
dbm_worker_stop(int code, Datum arg)
{
	TerminateBackgroundWorker((BackgroundWorkerHandle *) DatumGetPointer(arg));
}

/*
 * dbm_worker_error_callback
 *		Error context of a report relayed from the worker.
 */
static void
dbm_worker_error_callback(void *arg)
{
	DbmWorkerStep *step = (DbmWorkerStep *) arg;

	errcontext("%s of revision \"%s\", non-transactional statement %d, run in a background worker",
			   step->direction, step->revision, step->statement + 1);
}

/*
 * dbm_worker_relay
 *		Read the worker's messages until it detaches: notices go to the
 *		client, an error is raised, CommandComplete counts a statement and
 *		DBM_MSG_DONE sets *done.
 */
static void
dbm_worker_relay(shm_mq_handle *mqh, DbmWorkerStep *step, bool *done)
{
	ErrorContextCallback errcallback;

	errcallback.callback = dbm_worker_error_callback;
	errcallback.arg = step;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	for (;;)
	{
		Size		nbytes;
		void	   *data;
		StringInfoData msg;
		char		msgtype;

		if (shm_mq_receive(mqh, &nbytes, &data, false) != SHM_MQ_SUCCESS)
			break;				/* the worker has exited */
		msg.data = data;
		msg.len = (int) nbytes;
		msg.maxlen = (int) nbytes;
		msg.cursor = 0;
		msgtype = pq_getmsgbyte(&msg);
		if (msgtype == 'E' || msgtype == 'N')
		{
			ErrorData	edata;

			pq_parse_errornotice(&msg, &edata);
			/* an error ends the worker (FATAL there); here it is an error */
			if (msgtype == 'E')
				edata.elevel = ERROR;
			/* the position is in the statement, not in the caller's query */
			edata.cursorpos = 0;
			if (step->hide_sql)
			{
				edata.context = NULL;
				edata.internalquery = NULL;
				edata.internalpos = 0;
			}
			ThrowErrorData(&edata);
		}
		else if (msgtype == 'C')
			step->statement++;
		else if (msgtype == DBM_MSG_DONE)
			*done = true;
		/* anything else (ParameterStatus, notifications) is not for us */
	}

	error_context_stack = errcallback.previous;
}

/*
 * dbm_worker_main
 *		Entry point of the background worker: become the caller (database,
 *		user, settings, role, security context), run the SQL, report.
 */
void
dbm_worker_main(Datum arg)
{
	dsm_segment *seg;
	shm_toc    *toc;
	DbmWorkerFixed *fixed;
	shm_mq	   *mq;
	shm_mq_handle *mqh;
	char	   *sql;

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	CurrentResourceOwner = ResourceOwnerCreate(NULL, "dbmigrate worker");
	seg = dsm_attach(DatumGetUInt32(arg));
	if (seg == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("could not map the dbmigrate worker's shared memory")));
	toc = shm_toc_attach(DBM_WORKER_MAGIC, dsm_segment_address(seg));
	if (toc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("bad magic number in the dbmigrate worker's shared memory")));
	fixed = shm_toc_lookup(toc, DBM_KEY_FIXED, false);

	/* from here on, reports go to the waiting backend */
	mq = shm_toc_lookup(toc, DBM_KEY_QUEUE, false);
	shm_mq_set_sender(mq, MyProc);
	mqh = shm_mq_attach(mq, seg, NULL);
	pq_redirect_to_shm_mq(seg, mqh);
	pq_set_parallel_leader(fixed->leader_pid, fixed->leader_backend);

	BackgroundWorkerInitializeConnectionByOid(fixed->database, fixed->authenticated_user, 0);
	SetClientEncoding(GetDatabaseEncoding());

	StartTransactionCommand();
	RestoreGUCState(shm_toc_lookup(toc, DBM_KEY_GUC, false));
	CommitTransactionCommand();
	SetCurrentRoleId(fixed->outer_user, fixed->outer_is_superuser);
	SetUserIdAndSecContext(fixed->current_user, fixed->sec_context);

	/*
	 * as every step runs: its lock_timeout and statement_timeout, and the
	 * text parsed as registered
	 */
	if (fixed->lock_timeout > 0)
		SetConfigOption("lock_timeout", psprintf("%d", fixed->lock_timeout),
						PGC_USERSET, PGC_S_SESSION);
	if (fixed->statement_timeout > 0)
		SetConfigOption("statement_timeout", psprintf("%d", fixed->statement_timeout),
						PGC_USERSET, PGC_S_SESSION);
	SetConfigOption("standard_conforming_strings", "on", PGC_USERSET, PGC_S_SESSION);
	SetConfigOption("application_name", "dbmigrate worker", PGC_USERSET, PGC_S_SESSION);

	sql = pstrdup(shm_toc_lookup(toc, DBM_KEY_SQL, false));
	dbm_worker_run_all(sql);

	dbm_worker_send(DBM_MSG_DONE);
	dsm_detach(seg);
	proc_exit(0);
}

/*
 * dbm_worker_send
 *		An empty protocol message to the waiting backend.
 */
static void
dbm_worker_send(char msgtype)
{
	StringInfoData buf;

	pq_beginmessage(&buf, msgtype);
	pq_endmessage(&buf);
}

/*
 * dbm_worker_run_all
 *		Run every statement of sql at top level, each in its own transaction
 *		unless the text opens a block.  On an error, abort, drop the INVALID
 *		indexes the failing statement left, and report the error (which ends
 *		the worker).
 */
static void
dbm_worker_run_all(const char *sql)
{
	MemoryContext cxt = AllocSetContextCreate(TopMemoryContext, "dbmigrate worker",
											  ALLOCSET_DEFAULT_SIZES);

	/*
	 * like the server's MessageContext: survives the commits inside a
	 * statement
	 */
	MemoryContext stmtcxt = AllocSetContextCreate(cxt, "dbmigrate worker statement",
												  ALLOCSET_DEFAULT_SIZES);
	List	   *raws;
	ListCell   *lc;

	/* in memory, not a local: read after a longjmp */
	DbmInvalidIndexes *inv = MemoryContextAllocZero(cxt, sizeof(DbmInvalidIndexes));

	StartTransactionCommand();
	MemoryContextSwitchTo(cxt);
	raws = pg_parse_query(sql);
	CommitTransactionCommand();
	MemoryContextSwitchTo(cxt);

	PG_TRY();
	{
		foreach(lc, raws)
		{
			RawStmt    *raw = lfirst_node(RawStmt, lc);
			char	   *leftover;

			CHECK_FOR_INTERRUPTS();
			StartTransactionCommand();
			MemoryContextSwitchTo(cxt);
			list_free(inv->before);
			inv->before = NIL;
			inv->table = dbm_concurrent_build_table(raw->stmt);
			leftover = dbm_interrupted_build(raw->stmt, inv->table);
			CommitTransactionCommand();
			MemoryContextSwitchTo(cxt);
			if (leftover != NULL)
			{
				dbm_worker_exec_text(psprintf("DROP INDEX CONCURRENTLY IF EXISTS %s", leftover));
				ereport(NOTICE,
						(errmsg("dropped INVALID index %s, left by an interrupted build, "
								"to build it again", leftover)));
			}

			StartTransactionCommand();
			MemoryContextSwitchTo(cxt);
			inv->before = OidIsValid(inv->table) ? dbm_invalid_indexes(inv->table) : NIL;
			MemoryContextSwitchTo(stmtcxt);
			dbm_worker_exec(raw, sql);
			CommitTransactionCommand();
			MemoryContextSwitchTo(cxt);
			MemoryContextReset(stmtcxt);
			dbm_worker_send('C');
		}
		if (IsTransactionBlock())
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
					 errmsg("the revision's SQL leaves a transaction block open"),
					 errhint("End each BEGIN with COMMIT in a non-transactional revision.")));
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortOutOfAnyTransaction();
		MemoryContextSwitchTo(cxt);
		if (OidIsValid(inv->table))
			dbm_drop_left_invalid(inv);
		ReThrowError(edata);
	}
	PG_END_TRY();
}

/*
 * dbm_worker_exec
 *		Run one parsed statement as a top-level statement, as the server runs
 *		a simple query: analyze, plan, and a portal run with isTopLevel.  Rows
 *		it returns are discarded.
 */
static void
dbm_worker_exec(RawStmt *raw, const char *sql)
{
	const char *text = pnstrdup(sql + raw->stmt_location,
								raw->stmt_len > 0 ? raw->stmt_len : strlen(sql + raw->stmt_location));
	bool		snapshot_set = false;
	List	   *querytrees;
	List	   *plantrees;
	Portal		portal;
	DestReceiver *receiver;
	QueryCompletion qc;

	debug_query_string = text;

	pgstat_report_activity(STATE_RUNNING, text);
	SetCurrentStatementStartTimestamp();
	/* as the server does for each top-level statement */
	if (StatementTimeout > 0)
		enable_timeout_after(STATEMENT_TIMEOUT, StatementTimeout);

	if (analyze_requires_snapshot(raw))
	{
		PushActiveSnapshot(GetTransactionSnapshot());
		snapshot_set = true;
	}
	querytrees = DBM_ANALYZE_AND_REWRITE(raw, text);
	plantrees = pg_plan_queries(querytrees, text, CURSOR_OPT_PARALLEL_OK, NULL);
	if (snapshot_set)
		PopActiveSnapshot();

	portal = CreatePortal("", true, true);
	portal->visible = false;
	PortalDefineQuery(portal, NULL, text, CreateCommandTag(raw->stmt), plantrees, NULL);
	PortalStart(portal, NULL, 0, InvalidSnapshot);
	receiver = CreateDestReceiver(DestNone);
	InitializeQueryCompletion(&qc);
	(void) DBM_PORTAL_RUN(portal, receiver, &qc);
	receiver->rDestroy(receiver);
	PortalDrop(portal, false);

	if (StatementTimeout > 0)
		disable_timeout(STATEMENT_TIMEOUT, false);
	debug_query_string = NULL;
	pgstat_report_activity(STATE_IDLE, NULL);
}

/*
 * dbm_worker_exec_text
 *		Run a statement of dbmigrate's own (one, without parameters) at top
 *		level in a transaction of its own; its parse tree and plan live in a
 *		context of their own, which outlives the commits inside statements
 *		such as DROP INDEX CONCURRENTLY.
 */
static void
dbm_worker_exec_text(const char *sql)
{
	MemoryContext cxt = AllocSetContextCreate(TopMemoryContext, "dbmigrate worker statement",
											  ALLOCSET_SMALL_SIZES);
	MemoryContext oldcxt = CurrentMemoryContext;
	char	   *text;
	List	   *raws;

	StartTransactionCommand();
	MemoryContextSwitchTo(cxt);
	text = pstrdup(sql);

	raws = pg_parse_query(text);
	dbm_worker_exec(linitial_node(RawStmt, raws), text);
	CommitTransactionCommand();
	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(cxt);
}

/*
 * dbm_interrupted_build
 *		For CREATE INDEX CONCURRENTLY naming its index: the qualified name of
 *		an INVALID index of that name on the same table, which a build
 *		interrupted earlier (a killed deploy) left behind and which would make
 *		this one fail ("already exists"), or with IF NOT EXISTS be kept as
 *		it is, unusable.  NULL otherwise.
 */
static char *
dbm_interrupted_build(Node *stmt, Oid table)
{
	IndexStmt  *is = (IndexStmt *) stmt;
	Oid			idx;
	HeapTuple	tup;
	bool		invalid = false;

	if (!IsA(stmt, IndexStmt) || !is->concurrent || is->idxname == NULL || !OidIsValid(table))
		return NULL;
	idx = get_relname_relid(is->idxname, get_rel_namespace(table));
	if (!OidIsValid(idx))
		return NULL;
	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(idx));
	if (!HeapTupleIsValid(tup))
		return NULL;
	invalid = ((Form_pg_index) GETSTRUCT(tup))->indrelid == table &&
		!((Form_pg_index) GETSTRUCT(tup))->indisvalid;
	ReleaseSysCache(tup);
	if (!invalid)
		return NULL;
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(table)), is->idxname);
}

/*
 * dbm_concurrent_build_table
 *		The table a statement builds an index on concurrently (CREATE INDEX
 *		CONCURRENTLY, REINDEX ... CONCURRENTLY), whose failure leaves an
 *		INVALID index; InvalidOid for any other statement, or a table that
 *		does not exist (yet).
 */
static Oid
dbm_concurrent_build_table(Node *stmt)
{
	if (IsA(stmt, IndexStmt) && ((IndexStmt *) stmt)->concurrent)
		return RangeVarGetRelid(((IndexStmt *) stmt)->relation, NoLock, true);
	if (IsA(stmt, ReindexStmt) && dbm_reindex_concurrently((ReindexStmt *) stmt) &&
		((ReindexStmt *) stmt)->relation != NULL)
	{
		ReindexStmt *r = (ReindexStmt *) stmt;
		Oid			relid = RangeVarGetRelid(r->relation, NoLock, true);

		if (OidIsValid(relid) && r->kind == REINDEX_OBJECT_INDEX)
			return IndexGetRelation(relid, true);
		return r->kind == REINDEX_OBJECT_TABLE ? relid : InvalidOid;
	}
	return InvalidOid;
}

/*
 * dbm_invalid_indexes
 *		OIDs of the INVALID indexes on a table.
 */
static List *
dbm_invalid_indexes(Oid table)
{
	List	   *result = NIL;
	Relation	rel = try_relation_open(table, AccessShareLock);
	List	   *indexes;
	ListCell   *lc;

	if (rel == NULL)
		return NIL;
	indexes = RelationGetIndexList(rel);
	relation_close(rel, AccessShareLock);
	/* (indexes is freed below) */
	foreach(lc, indexes)
	{
		HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(lc)));

		if (!HeapTupleIsValid(tup))
			continue;
		if (!((Form_pg_index) GETSTRUCT(tup))->indisvalid)
			result = lappend_oid(result, lfirst_oid(lc));
		ReleaseSysCache(tup);
	}
	list_free(indexes);
	return result;
}

/*
 * dbm_drop_left_invalid
 *		Drop, each with DROP INDEX CONCURRENTLY in its own transaction, the
 *		INVALID indexes on inv->table that were not INVALID before the failed
 *		statement.  A failure here is logged; the statement's own error is
 *		what the caller sees.
 */
static void
dbm_drop_left_invalid(DbmInvalidIndexes *inv)
{
	/* outlives the commits below (and inside each DROP INDEX CONCURRENTLY) */
	MemoryContext cleanupcxt = AllocSetContextCreate(TopMemoryContext, "dbmigrate worker cleanup",
													 ALLOCSET_SMALL_SIZES);
	MemoryContext dropcxt = AllocSetContextCreate(cleanupcxt, "dbmigrate worker drop",
												  ALLOCSET_SMALL_SIZES);
	List	   *volatile names = NIL;
	ListCell   *lc;

	StartTransactionCommand();
	MemoryContextSwitchTo(cleanupcxt);
	foreach(lc, dbm_invalid_indexes(inv->table))
	{
		Oid			idx = lfirst_oid(lc);

		if (!list_member_oid(inv->before, idx))
			names = lappend(names,
							quote_qualified_identifier(get_namespace_name(get_rel_namespace(idx)),
													   get_rel_name(idx)));
	}
	CommitTransactionCommand();

	foreach(lc, names)
	{
		const char *name = (const char *) lfirst(lc);

		MemoryContextSwitchTo(dropcxt);
		PG_TRY();
		{
			dbm_worker_exec_text(psprintf("DROP INDEX CONCURRENTLY IF EXISTS %s", name));
			ereport(LOG_SERVER_ONLY,
					(errmsg("dbmigrate: dropped index %s, left INVALID by a failed concurrent build",
							name)));
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			MemoryContextSwitchTo(cleanupcxt);
			edata = CopyErrorData();
			FlushErrorState();
			AbortOutOfAnyTransaction();

			/*
			 * logged only: the failed statement's own error is what the
			 * caller sees
			 */
			ereport(LOG_SERVER_ONLY,
					(errmsg("dbmigrate: could not drop index %s, left INVALID by a failed "
							"concurrent build: %s", name, edata->message)));
		}
		PG_END_TRY();
		MemoryContextReset(dropcxt);
	}
	MemoryContextSwitchTo(TopMemoryContext);
	MemoryContextDelete(cleanupcxt);
}

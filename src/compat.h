/*-------------------------------------------------------------------------
 *
 * compat.h
 *	  Every PostgreSQL-version difference dbmigrate depends on, in one place:
 *	  the rest of the code calls these names and never tests PG_VERSION_NUM.
 *	  Supported: PostgreSQL 13 to 18.
 *
 * Copyright (c) 2026, dbmigrate developers
 *
 * IDENTIFICATION
 *	  src/compat.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DBMIGRATE_COMPAT_H
#define DBMIGRATE_COMPAT_H

#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#include "commands/defrem.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "storage/backendid.h"
#include "tcop/dest.h"
#include "tcop/pquery.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/guc.h"
#include "utils/tuplestore.h"

#if PG_VERSION_NUM >= 140000
#include "common/cryptohash.h"
#endif
#if PG_VERSION_NUM >= 150000
#include "common/pg_prng.h"
#endif

/* PG_MODULE_MAGIC with the module's name and version (18+) */
#if PG_VERSION_NUM >= 180000
#define DBM_MODULE_MAGIC PG_MODULE_MAGIC_EXT(.name = "dbmigrate",.version = DBMIGRATE_VERSION)
#else
#define DBM_MODULE_MAGIC PG_MODULE_MAGIC
#endif

/* MarkGUCPrefixReserved (15+; EmitWarningsOnPlaceholders before) */
#if PG_VERSION_NUM < 150000
#define MarkGUCPrefixReserved(className) EmitWarningsOnPlaceholders(className)
#endif

/* the raw parser over a whole text (14+ takes a mode) */
#if PG_VERSION_NUM >= 140000
#define DBM_RAW_PARSE(sql) raw_parser((sql), RAW_PARSE_DEFAULT)
#else
#define DBM_RAW_PARSE(sql) raw_parser(sql)
#endif

/* analyze and rewrite a raw statement with no parameters (15 renamed it) */
#if PG_VERSION_NUM >= 150000
#define DBM_ANALYZE_AND_REWRITE(raw, text) \
	pg_analyze_and_rewrite_fixedparams((raw), (text), NULL, 0, NULL)
#else
#define DBM_ANALYZE_AND_REWRITE(raw, text) \
	pg_analyze_and_rewrite((raw), (text), NULL, 0, NULL)
#endif

/* run a portal to completion as a top-level statement (18 dropped run_once) */
#if PG_VERSION_NUM >= 180000
#define DBM_PORTAL_RUN(portal, dest, qc) \
	PortalRun((portal), FETCH_ALL, true, (dest), (dest), (qc))
#else
#define DBM_PORTAL_RUN(portal, dest, qc) \
	PortalRun((portal), FETCH_ALL, true, true, (dest), (dest), (qc))
#endif

/* the leader a background worker reports to (17 names it by ProcNumber) */
#if PG_VERSION_NUM >= 170000
#define DBM_MY_PROC_NUMBER MyProcNumber
typedef ProcNumber DbmProcNumber;
#else
#define DBM_MY_PROC_NUMBER MyBackendId
typedef BackendId DbmProcNumber;
#endif

/* every function of a name, whatever its arguments (14 added include_out_arguments) */
#if PG_VERSION_NUM >= 140000
#define DBM_FUNCNAME_CANDIDATES(names) \
	FuncnameGetCandidates((names), -1, NIL, false, false, false, true)
#else
#define DBM_FUNCNAME_CANDIDATES(names) \
	FuncnameGetCandidates((names), -1, NIL, false, false, true)
#endif

/* whether role may execute function procoid (object_aclcheck is 16+) */
static inline bool
dbm_may_execute(Oid procoid, Oid role)
{
#if PG_VERSION_NUM >= 160000
	return object_aclcheck(ProcedureRelationId, procoid, role, ACL_EXECUTE) == ACLCHECK_OK;
#else
	return pg_proc_aclcheck(procoid, role, ACL_EXECUTE) == ACLCHECK_OK;
#endif
}

/* whether role may use schema nspoid (object_aclcheck is 16+) */
static inline bool
dbm_may_use_schema(Oid nspoid, Oid role)
{
#if PG_VERSION_NUM >= 160000
	return object_aclcheck(NamespaceRelationId, nspoid, role, ACL_USAGE) == ACLCHECK_OK;
#else
	return pg_namespace_aclcheck(nspoid, role, ACL_USAGE) == ACLCHECK_OK;
#endif
}

/* a random number in [0, 1) (pg_prng is 15+) */
static inline double
dbm_random_fraction(void)
{
#if PG_VERSION_NUM >= 150000
	return pg_prng_double(&pg_global_prng_state);
#else
	return (double) random() / ((double) MAX_RANDOM_VALUE + 1);
#endif
}

/* whether a REINDEX is CONCURRENTLY (an option list since 14) */
static inline bool
dbm_reindex_concurrently(ReindexStmt *rs)
{
#if PG_VERSION_NUM >= 140000
	ListCell   *lc;

	foreach(lc, rs->params)
	{
		DefElem    *opt = (DefElem *) lfirst(lc);

		if (strcmp(opt->defname, "concurrently") == 0 && defGetBoolean(opt))
			return true;
	}
	return false;
#else
	return rs->concurrent;
#endif
}

/*
 * dbm_spi_execute_discard
 *		SPI_execute of one statement whose result rows are discarded, never
 *		held in memory (14+; before, SPI keeps them until SPI_freetuptable).
 */
static inline int
dbm_spi_execute_discard(const char *sql)
{
#if PG_VERSION_NUM >= 140000
	SPIExecuteOptions options;

	memset(&options, 0, sizeof(options));
	options.read_only = false;
	options.dest = None_Receiver;
	return SPI_execute_extended(sql, &options);
#else
	return SPI_execute(sql, false, 0);
#endif
}

/*
 * DbmSha256Ctx: a sha256 computation (pg_cryptohash since 14, with a digest
 * length argument since 15; pg_sha256 before).
 */
#if PG_VERSION_NUM >= 140000
typedef pg_cryptohash_ctx *DbmSha256Ctx;
#else
typedef pg_sha256_ctx DbmSha256Ctx;
#endif

static inline void
dbm_sha256_init(DbmSha256Ctx *ctx)
{
#if PG_VERSION_NUM >= 140000
	*ctx = pg_cryptohash_create(PG_SHA256);
	if (*ctx == NULL || pg_cryptohash_init(*ctx) < 0)
		elog(ERROR, "could not compute sha256 checksum");
#else
	pg_sha256_init(ctx);
#endif
}

static inline void
dbm_sha256_update(DbmSha256Ctx *ctx, const uint8 *data, size_t len)
{
#if PG_VERSION_NUM >= 140000
	if (pg_cryptohash_update(*ctx, data, len) < 0)
		elog(ERROR, "could not compute sha256 checksum");
#else
	pg_sha256_update(ctx, data, len);
#endif
}

static inline void
dbm_sha256_final(DbmSha256Ctx *ctx, uint8 *digest)
{
#if PG_VERSION_NUM >= 150000
	if (pg_cryptohash_final(*ctx, digest, PG_SHA256_DIGEST_LENGTH) < 0)
		elog(ERROR, "could not compute sha256 checksum");
	pg_cryptohash_free(*ctx);
#elif PG_VERSION_NUM >= 140000
	if (pg_cryptohash_final(*ctx, digest) < 0)
		elog(ERROR, "could not compute sha256 checksum");
	pg_cryptohash_free(*ctx);
#else
	pg_sha256_final(ctx, digest);
#endif
}

/*
 * InitMaterializedSRF (15+): materialize-mode output for a set-returning
 * function, its tuplestore and descriptor in rsinfo.  A shim before 15.
 */
#if PG_VERSION_NUM < 150000
#define MAT_SRF_USE_EXPECTED_DESC	0x01
#define MAT_SRF_BLESS				0x02

static inline void
InitMaterializedSRF(FunctionCallInfo fcinfo, bits32 flags)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext oldcontext;
	TupleDesc	desc;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		!(rsinfo->allowedModes & SFRM_Materialize) ||
		((flags & MAT_SRF_USE_EXPECTED_DESC) && rsinfo->expectedDesc == NULL))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
	oldcontext = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	if (flags & MAT_SRF_USE_EXPECTED_DESC)
		desc = CreateTupleDescCopy(rsinfo->expectedDesc);
	else if (get_call_result_type(fcinfo, NULL, &desc) == TYPEFUNC_COMPOSITE)
		desc = CreateTupleDescCopy(desc);
	else
		elog(ERROR, "return type must be a row type");
	if (flags & MAT_SRF_BLESS)
		BlessTupleDesc(desc);
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = tuplestore_begin_heap(true, false, work_mem);
	rsinfo->setDesc = desc;
	MemoryContextSwitchTo(oldcontext);
}
#endif

#endif							/* DBMIGRATE_COMPAT_H */

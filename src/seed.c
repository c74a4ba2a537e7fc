/*-------------------------------------------------------------------------
 *
 * seed.c
 *	  seed_users(): the reference application's default accounts, inserted
 *	  idempotently into the "users" table the caller's search_path finds,
 *	  with bcrypt hashes from pgcrypto.
 *
 * Copyright (c) 2026, dbmigrate developers
 *
 * IDENTIFICATION
 *	  src/seed.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "nodes/makefuncs.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "dbmigrate.h"
#include "catalog.h"

/* forward declarations */
static char *dbm_pgcrypto_schema(void);

/* The seed document's accounts */
typedef struct DbmSeedAccount
{
	const char *username;
	const char *password;
	const char *full_name;
	bool		is_superuser;
} DbmSeedAccount;

static const DbmSeedAccount dbm_seed_accounts[] = {
	{"admin", "admin123456", "Administrator", true},
	{"testuser1", "testpass123", "Test User 1", false},
	{"testuser2", "testpass123", "Test User 2", false},
	{"developer", "devpass123", "Developer", false},
};

#define DBM_NSEED lengthof(dbm_seed_accounts)

/* bcrypt cost factor for the seed hashes */
#define DBM_BCRYPT_COST 10

/* SQL-callable functions */
PG_FUNCTION_INFO_V1(dbmigrate_seed_users);

/*
 * dbm_pgcrypto_schema
 *		Quoted name of the schema pgcrypto is installed in.
 */
static char *
dbm_pgcrypto_schema(void)
{
	int			rc;
	char	   *nsp;

	rc = SPI_execute("SELECT n.nspname::text FROM pg_catalog.pg_extension e "
					 "JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace "
					 "WHERE e.extname OPERATOR(pg_catalog.=) 'pgcrypto'", false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_extension: %s", SPI_result_code_string(rc));
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("extension \"pgcrypto\" is not installed"),
				 errhint("dbmigrate requires it: CREATE EXTENSION pgcrypto;")));
	nsp = dbm_spi_text(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	SPI_freetuptable(SPI_tuptable);
	return pstrdup(quote_identifier(nsp));
}

/*
 * seed_users(reset boolean DEFAULT false) RETURNS integer
 *
 *		Insert the seed document's four accounts into "users" (found through
 *		the caller's search_path, written with the caller's privileges) unless
 *		an account with that username or email exists; returns how many were
 *		inserted.  reset deletes the four accounts first.  Passwords are
 *		stored only as bcrypt hashes (pgcrypto crypt/gen_salt('bf', 10)).
 *		Serialized with the run lock.  Errors: 42P01 no users table (hint:
 *		run migrate_upgrade), 25000 snapshot isolation, 55P03 lock timeout.
 */
Datum
dbmigrate_seed_users(PG_FUNCTION_ARGS)
{
	bool		reset = PG_ARGISNULL(0) ? false : PG_GETARG_BOOL(0);
	Oid			relid;
	char	   *users;
	char	   *crypto;
	Datum		names[DBM_NSEED];
	Datum		emails[DBM_NSEED];
	Datum		passwords[DBM_NSEED];
	Datum		full_names[DBM_NSEED];
	Datum		supers[DBM_NSEED];
	Oid			argtypes[5] = {TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, BOOLARRAYOID};
	Datum		args[5];
	int			rc;
	int			i;
	uint64		inserted;

	dbm_begin_state_change("seed_users", true);

	relid = RangeVarGetRelid(makeRangeVar(NULL, "users", -1), NoLock, true);
	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"users\" does not exist"),
				 errdetail("seed_users() inserts into the \"users\" table that search_path finds; "
						   "revision 001_initial_migration creates it."),
				 errhint("Apply the migrations first: SELECT * FROM dbmigrate.migrate_upgrade();")));
	users = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									   get_rel_name(relid));

	for (i = 0; i < (int) DBM_NSEED; i++)
	{
		names[i] = CStringGetTextDatum(dbm_seed_accounts[i].username);
		emails[i] = CStringGetTextDatum(psprintf("%s@example.com", dbm_seed_accounts[i].username));
		passwords[i] = CStringGetTextDatum(dbm_seed_accounts[i].password);
		full_names[i] = CStringGetTextDatum(dbm_seed_accounts[i].full_name);
		supers[i] = BoolGetDatum(dbm_seed_accounts[i].is_superuser);
	}
	args[0] = PointerGetDatum(construct_array(names, DBM_NSEED, TEXTOID, -1, false, TYPALIGN_INT));
	args[1] = PointerGetDatum(construct_array(emails, DBM_NSEED, TEXTOID, -1, false, TYPALIGN_INT));
	args[2] = PointerGetDatum(construct_array(passwords, DBM_NSEED, TEXTOID, -1, false, TYPALIGN_INT));
	args[3] = PointerGetDatum(construct_array(full_names, DBM_NSEED, TEXTOID, -1, false, TYPALIGN_INT));
	args[4] = PointerGetDatum(construct_array(supers, DBM_NSEED, BOOLOID, 1, true, TYPALIGN_CHAR));

	dbm_spi_connect();
	crypto = dbm_pgcrypto_schema();

	if (reset)
	{
		rc = SPI_execute_with_args(psprintf("DELETE FROM %s WHERE username OPERATOR(pg_catalog.=) ANY ($1)",
											users),
								   1, argtypes, args, NULL, false, 0);
		if (rc != SPI_OK_DELETE)
			elog(ERROR, "could not delete seed accounts: %s", SPI_result_code_string(rc));
	}

	/* hashes are computed only for rows that will be inserted */
	rc = SPI_execute_with_args(psprintf("INSERT INTO %s "
										"(username, email, hashed_password, full_name, "
										" is_active, is_superuser, is_verified) "
										"SELECT a.u, a.e, %s.crypt(a.p, %s.gen_salt('bf', %d)), a.f, "
										"       true, a.s, true "
										"FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3), "
										"     pg_catalog.unnest($4), pg_catalog.unnest($5)) "
										"     WITH ORDINALITY AS a(u, e, p, f, s, n) "
										"WHERE NOT EXISTS (SELECT 1 FROM %s x "
										"                  WHERE x.username OPERATOR(pg_catalog.=) a.u "
										"                     OR x.email OPERATOR(pg_catalog.=) a.e) "
										"ORDER BY a.n "
										"ON CONFLICT DO NOTHING",
										users, crypto, crypto, DBM_BCRYPT_COST, users),
							   5, argtypes, args, NULL, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "could not insert seed accounts: %s", SPI_result_code_string(rc));
	inserted = SPI_processed;
	dbm_spi_finish();

	if (inserted > 0)
		ereport(WARNING,
				(errmsg("seeded %d account(s) with well-known passwords", (int) inserted),
				 errdetail("admin/admin123456 (superuser), testuser1 and testuser2/testpass123, "
						   "developer/devpass123."),
				 errhint("Change or remove these accounts before the application is reachable "
						 "by anyone else.")));
	PG_RETURN_INT32((int32) inserted);
}

/*-------------------------------------------------------------------------
 *
 * seed.c
 *	  seed_users(): the reference application's default accounts, inserted
 *	  idempotently into the "users" table the caller's search_path finds,
 *	  with bcrypt hashes from pgcrypto; written as the table's owner under a
 *	  restricted, pinned environment after the caller's privileges are checked.
 *
 * Copyright (c) 2026, dbmigrate developers
 *
 * IDENTIFICATION
 *	  src/seed.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rls.h"
#include "utils/syscache.h"

#include "dbmigrate.h"
#include "catalog.h"

/* forward declarations */
static char *dbm_pgcrypto_schema(void);
static void dbm_seed_check_table(Oid relid, const char *users, bool reset);
static Oid	dbm_rel_owner(Oid relid);

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

/*
 * The accounts (a.u = username, a.e = email) the users table %s does not
 * hold yet, by username or email.
 */
#define DBM_SEED_MISSING \
	"NOT EXISTS (SELECT 1 FROM %s x WHERE x.username OPERATOR(pg_catalog.=) a.u " \
	"OR x.email OPERATOR(pg_catalog.=) a.e)"

/* bcrypt cost factor for the seed hashes */
#define DBM_BCRYPT_COST 10

/* SQL-callable functions */
PG_FUNCTION_INFO_V1(dbmigrate_seed_users);

/*
 * dbm_pgcrypto_schema
 *		Quoted name of the schema pgcrypto is installed in.  Runs under the
 *		pinned search_path of dbm_seed_pin (the result column is pg_catalog's
 *		text, never a type the caller's search_path could substitute).
 */
static char *
dbm_pgcrypto_schema(void)
{
	char	   *nsp;

	if (dbm_spi_run("SELECT n.nspname::pg_catalog.text FROM pg_catalog.pg_extension e "
					"JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace "
					"WHERE e.extname OPERATOR(pg_catalog.=) 'pgcrypto'",
					0, NULL, NULL, true, 1, SPI_OK_SELECT, "read pg_extension") != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("extension \"pgcrypto\" is not installed"),
				 errhint("dbmigrate requires it: CREATE EXTENSION pgcrypto;")));
	nsp = dbm_spi_text(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	SPI_freetuptable(SPI_tuptable);
	return pstrdup(quote_identifier(nsp));
}

/*
 * dbm_rel_owner
 *		The role that owns a relation.
 */
static Oid
dbm_rel_owner(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * dbm_seed_check_table
 *		Refuse to seed when the caller may not, or when the table carries code
 *		that would still run with the caller's rights after seed_users()
 *		switched to the table's owner: 42501 without INSERT and SELECT (and
 *		DELETE for reset) on the table, or when row-level security applies to
 *		the caller; 55000 when the table has a deferrable trigger (deferred
 *		triggers fire at COMMIT, as whoever commits).
 */
static void
dbm_seed_check_table(Oid relid, const char *users, bool reset)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];
	AclMode		need = ACL_INSERT | ACL_SELECT | (reset ? ACL_DELETE : 0);

	if (pg_class_aclmask(relid, GetUserId(), need, ACLMASK_ALL) != need)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to seed table %s", users),
				 errdetail("seed_users() needs SELECT and INSERT%s on it.",
						   reset ? ", and DELETE for reset," : ""),
				 errhint("Ask its owner for GRANT SELECT, INSERT%s ON %s TO %s;",
						 reset ? ", DELETE" : "", users,
						 quote_identifier(GetUserNameFromId(GetUserId(), false)))));

	if (check_enable_rls(relid, InvalidOid, true) == RLS_ENABLED)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("seed_users() does not write to %s: row-level security applies to you there", users),
				 errdetail("seed_users() writes as the table's owner, which would bypass your policies."),
				 errhint("Insert the accounts with your own INSERT statements, or have the table's owner "
						 "call seed_users().")));

	values[0] = ObjectIdGetDatum(relid);
	(void) dbm_spi_run("SELECT pg_catalog.string_agg(c.c, ', ' ORDER BY c.n) "
					   "FROM pg_catalog.unnest(ARRAY['username', 'email', 'hashed_password', "
					   "'full_name', 'is_active', 'is_superuser', 'is_verified']::pg_catalog.text[]) "
					   "WITH ORDINALITY AS c(c, n) "
					   "WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a "
					   "  WHERE a.attrelid OPERATOR(pg_catalog.=) $1 AND a.attnum > 0 "
					   "    AND NOT a.attisdropped "
					   "    AND a.attname OPERATOR(pg_catalog.=) c.c::pg_catalog.name)",
					   1, argtypes, values, true, 1, SPI_OK_SELECT, "read pg_attribute");
	{
		char	   *missing = dbm_spi_text(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (missing != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("table %s has no column %s", users, missing),
					 errdetail("seed_users() writes the columns of the reference application's "
							   "users table, which revision 001_initial_migration creates."),
					 errhint("Put that users table first in search_path, or insert the accounts yourself.")));
	}
	SPI_freetuptable(SPI_tuptable);

	if (dbm_spi_run("SELECT t.tgname::pg_catalog.text FROM pg_catalog.pg_trigger t "
					"WHERE t.tgrelid OPERATOR(pg_catalog.=) $1 AND NOT t.tgisinternal "
					"AND t.tgdeferrable AND t.tgenabled OPERATOR(pg_catalog.<>) 'D' "
					"ORDER BY 1 LIMIT 1",
					1, argtypes, values, true, 1, SPI_OK_SELECT, "read pg_trigger") > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("seed_users() does not write to %s: it has the deferrable trigger \"%s\"",
						users, dbm_spi_text(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)),
				 errdetail("A deferred trigger fires at COMMIT with the rights of whoever commits, "
						   "after seed_users() has returned."),
				 errhint("Drop or disable the trigger, or insert the accounts yourself.")));
	SPI_freetuptable(SPI_tuptable);
}

/*
 * seed_users(reset boolean DEFAULT false) RETURNS integer
 *
 *		Insert the seed document's four accounts into "users" (found through
 *		the caller's search_path) unless an account with that username or
 *		email exists; returns how many were inserted.  reset deletes the four
 *		accounts first.  Passwords are stored only as bcrypt hashes (pgcrypto
 *		crypt/gen_salt('bf', 10)).  Serialized with the run lock.
 *
 *		Safe for a privileged caller on a table someone else owns: after
 *		checking the caller's own privileges on the table, the rows are read
 *		and written as the table's owner under SECURITY_RESTRICTED_OPERATION
 *		(as VACUUM and REINDEX run index expressions), so triggers, defaults,
 *		checks and policies the owner planted run with the owner's rights, not
 *		the caller's.  Every query runs with search_path = pg_catalog, pg_temp.
 *		Errors: 42P01 no users table (hint: run migrate_upgrade), 42809
 *		"users" is a view or another non-table, 42703 it lacks a column of
 *		the reference application's users table, 42501 no privilege or
 *		row-level security, 55000 a deferrable trigger, 25000 snapshot
 *		isolation, 55P03 lock timeout.
 */
Datum
dbmigrate_seed_users(PG_FUNCTION_ARGS)
{
	bool		reset = PG_ARGISNULL(0) ? false : PG_GETARG_BOOL(0);
	Oid			relid;
	Oid			owner;
	char	   *users;
	char	   *crypto;
	Datum		names[DBM_NSEED];
	Datum		emails[DBM_NSEED];
	Datum		passwords[DBM_NSEED];
	Datum		full_names[DBM_NSEED];
	Datum		supers[DBM_NSEED];
	Oid			argtypes[5] = {TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, BOOLARRAYOID};
	Datum		args[5];
	Oid			caller;
	int			sec_context;
	int			owner_sec_context;
	int			nestlevel;
	int			i;
	uint64		missing;
	uint64		inserted;
	Datum		hashes;

	dbm_begin_state_change("seed_users", true);

	/* the one name looked up through the caller's search_path */
	relid = RangeVarGetRelid(makeRangeVar(NULL, "users", -1), RowExclusiveLock, true);
	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"users\" does not exist"),
				 errdetail("seed_users() inserts into the \"users\" table that search_path finds; "
						   "revision 001_initial_migration creates it."),
				 errhint("Apply the migrations first: SELECT * FROM dbmigrate.migrate_upgrade();")));
	users = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									   get_rel_name(relid));
	if (get_rel_relkind(relid) != RELKIND_RELATION && get_rel_relkind(relid) != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("%s is not a table", users),
				 errdetail("seed_users() writes to the table \"users\" that search_path finds first."),
				 errhint("Put the users table first in search_path, or insert the accounts yourself.")));
	owner = dbm_rel_owner(relid);

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

	/* from here on nothing depends on the caller's search_path */
	nestlevel = NewGUCNestLevel();
	dbm_guc_set("search_path", DBM_PINNED_SEARCH_PATH, PGC_USERSET);
	dbm_spi_connect();
	crypto = dbm_pgcrypto_schema();
	dbm_seed_check_table(relid, users, reset);

	/* reads and writes of the table: as its owner, restricted */
	GetUserIdAndSecContext(&caller, &sec_context);
	owner_sec_context = sec_context | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION;
	if (!reset)
	{
		/* nothing missing: done, without paying for four bcrypt rounds */
		SetUserIdAndSecContext(owner, owner_sec_context);
		missing = dbm_spi_run(psprintf("SELECT 1 FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) "
									   "AS a(u, e) WHERE " DBM_SEED_MISSING,
									   users),
							  2, argtypes, args, false, 1, SPI_OK_SELECT, "read the users table");
		SetUserIdAndSecContext(caller, sec_context);
		if (missing == 0)
		{
			dbm_spi_finish();
			AtEOXact_GUC(true, nestlevel);
			PG_RETURN_INT32(0);
		}
	}

	/*
	 * The hashes, computed as the caller: pgcrypto may sit in a schema the
	 * table's owner cannot use.
	 */
	(void) dbm_spi_run(psprintf("SELECT pg_catalog.array_agg(%s.crypt(p.p, %s.gen_salt('bf', %d)) "
								"ORDER BY p.n) "
								"FROM pg_catalog.unnest($1) WITH ORDINALITY AS p(p, n)",
								crypto, crypto, DBM_BCRYPT_COST),
					   1, &argtypes[2], &args[2], false, 1, SPI_OK_SELECT, "hash the seed passwords");
	{
		bool		isnull;

		hashes = SPI_datumTransfer(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
												 &isnull), false, -1);
		if (isnull || SPI_gettypeid(SPI_tuptable->tupdesc, 1) != TEXTARRAYOID)
			elog(ERROR, "could not hash the seed passwords");
	}
	args[2] = hashes;

	SetUserIdAndSecContext(owner, owner_sec_context);
	if (reset)
	{
		(void) dbm_spi_run(psprintf("DELETE FROM %s WHERE username OPERATOR(pg_catalog.=) ANY ($1)",
									users),
						   1, argtypes, args, false, 0, SPI_OK_DELETE, "delete seed accounts");
	}
	inserted = dbm_spi_run(psprintf("INSERT INTO %s "
									"(username, email, hashed_password, full_name, "
									" is_active, is_superuser, is_verified) "
									"SELECT a.u, a.e, a.p, a.f, true, a.s, true "
									"FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3), "
									"     pg_catalog.unnest($4), pg_catalog.unnest($5)) "
									"     WITH ORDINALITY AS a(u, e, p, f, s, n) "
									"WHERE " DBM_SEED_MISSING " "
									"ORDER BY a.n "
									"ON CONFLICT DO NOTHING",
									users, users),
						   5, argtypes, args, false, 0, SPI_OK_INSERT, "insert seed accounts");
	SetUserIdAndSecContext(caller, sec_context);
	dbm_spi_finish();
	AtEOXact_GUC(true, nestlevel);

	if (inserted > 0)
		ereport(WARNING,
				(errmsg_plural("seeded %d account with well-known passwords",
							   "seeded %d accounts with well-known passwords",
							   (unsigned long) inserted, (int) inserted),
				 errdetail("admin/admin123456 (superuser), testuser1 and testuser2/testpass123, "
						   "developer/devpass123."),
				 errhint("Change or remove these accounts before the application is reachable "
						 "by anyone else.")));
	PG_RETURN_INT32((int32) inserted);
}

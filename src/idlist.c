/*-------------------------------------------------------------------------
 *
 * idlist.c
 *	  Lists of revision ids (Lists of C strings): text[] conversion, set
 *	  comparison, quoting for messages, and hash tables keyed by a string.
 *	  Nothing here reads a table.
 *
 * Copyright (c) 2026, dbmigrate developers
 *
 * IDENTIFICATION
 *	  src/idlist.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"

#include "idlist.h"

/*
 * dbm_ids_to_array / dbm_array_to_ids
 *		Convert between a List of C strings and a text[] Datum.  A text[]
 *		with nulls or more than one dimension is refused (22004, 2202E).
 */
Datum
dbm_ids_to_array(List *ids)
{
	int			n = list_length(ids);
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));
	ListCell   *lc;
	int			i = 0;

	foreach(lc, ids)
		elems[i++] = CStringGetTextDatum((const char *) lfirst(lc));
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}

List *
dbm_array_to_ids(ArrayType *arr)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;
	List	   *result = NIL;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("revision lists must be one-dimensional arrays")));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("revision lists must not contain nulls")));
		result = lappend(result, TextDatumGetCString(elems[i]));
	}
	return result;
}

/*
 * dbm_list_has_id
 *		Whether a list of ids holds id.
 */
bool
dbm_list_has_id(List *ids, const char *id)
{
	ListCell   *lc;

	foreach(lc, ids)
	{
		if (strcmp((const char *) lfirst(lc), id) == 0)
			return true;
	}
	return false;
}

/*
 * dbm_list_equal_ids
 *		Whether two lists of ids hold the same set (order ignored).
 */
bool
dbm_list_equal_ids(List *a, List *b)
{
	ListCell   *la;

	if (list_length(a) != list_length(b))
		return false;
	foreach(la, a)
	{
		if (!dbm_list_has_id(b, (const char *) lfirst(la)))
			return false;
	}
	return true;
}

/*
 * dbm_list_add_id
 *		Append id unless the list holds it already.
 */
List *
dbm_list_add_id(List *ids, char *id)
{
	return dbm_list_has_id(ids, id) ? ids : lappend(ids, id);
}

/*
 * dbm_join_ids
 *		Join a list of ids, each double-quoted, with sep.
 */
char *
dbm_join_ids(List *ids, const char *sep)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, ids)
	{
		if (buf.len > 0)
			appendStringInfoString(&buf, sep);
		appendStringInfo(&buf, "\"%s\"", (const char *) lfirst(lc));
	}
	return buf.data;
}

/*
 * dbm_join_ids_or
 *		dbm_join_ids with ", ", or `none` for an empty list.
 */
char *
dbm_join_ids_or(List *ids, const char *none)
{
	return ids == NIL ? pstrdup(none) : dbm_join_ids(ids, ", ");
}

/*
 * dbm_string_hash
 *		A hash table in the current memory context whose entries start with a
 *		char * key (the string is compared, not the pointer).
 */
static uint32
dbm_string_key_hash(const void *key, Size keysize)
{
	const char *s = *(const char *const *) key;

	return hash_bytes((const unsigned char *) s, (int) strlen(s));
}

static int
dbm_string_key_match(const void *key1, const void *key2, Size keysize)
{
	return strcmp(*(const char *const *) key1, *(const char *const *) key2);
}

HTAB *
dbm_string_hash(const char *name, long nelem, Size entrysize)
{
	HASHCTL		ctl;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(char *);
	ctl.entrysize = entrysize;
	ctl.hash = dbm_string_key_hash;
	ctl.match = dbm_string_key_match;
	ctl.hcxt = CurrentMemoryContext;
	return hash_create(name, Max(nelem, 16), &ctl,
					   HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
}

/*
 * dbm_string_hash_find
 *		The entry of a dbm_string_hash table for key, or NULL.
 */
void *
dbm_string_hash_find(HTAB *hash, const char *key)
{
	return hash_search(hash, &key, HASH_FIND, NULL);
}

/*-------------------------------------------------------------------------
 *
 * idlist.h
 *	  Lists of revision ids (Lists of C strings): text[] conversion, set
 *	  comparison, quoting for messages, and hash tables keyed by a string.
 *
 * Copyright (c) 2026, dbmigrate developers
 *
 * IDENTIFICATION
 *	  src/idlist.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DBMIGRATE_IDLIST_H
#define DBMIGRATE_IDLIST_H

#include "nodes/pg_list.h"
#include "utils/array.h"
#include "utils/hsearch.h"

extern Datum dbm_ids_to_array(List *ids);
extern List *dbm_array_to_ids(ArrayType *arr);
extern bool dbm_list_has_id(List *ids, const char *id);
extern bool dbm_list_equal_ids(List *a, List *b);
extern List *dbm_list_add_id(List *ids, char *id);
extern char *dbm_join_ids(List *ids, const char *sep);
extern char *dbm_join_ids_or(List *ids, const char *none);
extern HTAB *dbm_string_hash(const char *name, long nelem, Size entrysize);
extern void *dbm_string_hash_find(HTAB *hash, const char *key);

#endif							/* DBMIGRATE_IDLIST_H */

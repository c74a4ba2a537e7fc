/*-------------------------------------------------------------------------
 *
 * cmd_alembic.c
 *	  import-alembic: Alembic's offline SQL (alembic upgrade base:head --sql,
 *	  and alembic downgrade head:base --sql) into one migration file per
 *	  revision.
 *
 * Alembic's offline mode prints "-- Running upgrade A, B -> C" before each
 * step and "-- Running downgrade C -> A, B" before each undo; every statement
 * ends with ";" and a blank line.  The steps' SQL is kept as printed; what
 * Alembic adds for itself is dropped: the BEGIN; and COMMIT; lines, and the
 * statements on its version table (CREATE TABLE, INSERT, UPDATE, DELETE and
 * DROP TABLE of alembic_version, or SCHEMA.alembic_version).  A statement
 * that Alembic printed outside its transaction (autocommit_block: COMMIT;
 * ... BEGIN;) makes the revision "-- transactional: false".  What the SQL
 * does not carry is lost: the messages (in the revision scripts'
 * docstrings), branch labels and depends_on.
 *
 * Copyright (c) 2026, dbmigrate developers
 *
 * IDENTIFICATION
 *	  cli/cmd_alembic.c
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dbmigrate.h"

/* one revision of the offline SQL */
typedef struct AlRev
{
	char	   *id;
	char	  **parents;
	int			nparents;
	int			up_line;		/* its upgrade marker */
	char	   *up;				/* SQL, as printed */
	size_t		up_len;
	bool		up_outside;		/* a statement outside Alembic's transaction */
	int			down_line;		/* 0: no downgrade marker */
	char	   *down;
	size_t		down_len;
	bool		down_outside;
} AlRev;

typedef struct AlHistory
{
	AlRev	   *revs;
	int			n;
} AlHistory;

static bool parse_offline(const char *path, bool upgrade, AlHistory *h);
static bool parse_marker_line(const char *path, int lineno, const char *rest, bool upgrade,
							  AlHistory *h, int *cur);
static char **split_ids(const char *s, int *n);
static int	find_rev(const AlHistory *h, const char *id);
static bool is_bookkeeping(const char *line);
static void append(char **buf, size_t *len, const char *s, size_t n);
static char *trimmed_sql(const char *s, size_t len);
static int	write_files(App *app, const AlHistory *h, const char *uppath, const char *downpath);

/* find_rev: the index of id in h, or -1 */
static int
find_rev(const AlHistory *h, const char *id)
{
	for (int i = 0; i < h->n; i++)
		if (strcmp(h->revs[i].id, id) == 0)
			return i;
	return -1;
}

/* split_ids: "a, b" -> {"a", "b"}; "" -> none */
static char **
split_ids(const char *s, int *n)
{
	char	  **out = NULL;
	char	   *copy = xstrdup(s);
	char	   *save = NULL;

	*n = 0;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
	{
		char	   *e;

		while (*t == ' ')
			t++;
		e = t + strlen(t);
		while (e > t && e[-1] == ' ')
			*--e = '\0';
		if (*t == '\0')
			continue;
		out = xrealloc(out, sizeof(char *) * (*n + 1));
		out[(*n)++] = xstrdup(t);
	}
	free(copy);
	return out;
}

/*
 * is_bookkeeping
 *		Whether an unindented statement's first line is one of Alembic's on
 *		its version table.
 */
static bool
is_bookkeeping(const char *line)
{
	static const char *const verbs[] = {
		"CREATE TABLE ", "INSERT INTO ", "UPDATE ", "DELETE FROM ", "DROP TABLE "
	};

	for (size_t i = 0; i < lengthof(verbs); i++)
	{
		size_t		vl = strlen(verbs[i]);
		size_t		tl;
		const char *t;

		if (strncmp(line, verbs[i], vl) != 0)
			continue;
		t = line + vl;
		tl = strcspn(t, " (;");
		if ((tl == 15 && strncmp(t, "alembic_version", 15) == 0) ||
			(tl > 16 && strncmp(t + tl - 16, ".alembic_version", 16) == 0))
			return true;
	}
	return false;
}

static void
append(char **buf, size_t *len, const char *s, size_t n)
{
	*buf = xrealloc(*buf, *len + n + 2);
	memcpy(*buf + *len, s, n);
	*len += n;
	(*buf)[(*len)++] = '\n';
	(*buf)[*len] = '\0';
}

/* trimmed_sql: the text without leading and trailing blank lines */
static char *
trimmed_sql(const char *s, size_t len)
{
	const char *b = s;
	const char *e = s + len;

	if (s == NULL)
		return xstrdup("");
	while (b < e && (*b == '\n' || *b == ' ' || *b == '\t'))
		b++;
	while (e > b && (e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\t'))
		e--;
	return xstrndup(b, (size_t) (e - b));
}

/*
 * parse_marker_line
 *		"A, B -> C" after "-- Running upgrade " (a new revision C with parents
 *		A and B), or "C -> A, B" after "-- Running downgrade " (C's undo).
 *		*cur gets the revision's index.
 */
static bool
parse_marker_line(const char *path, int lineno, const char *rest, bool upgrade, AlHistory *h,
				  int *cur)
{
	const char *arrow = strstr(rest, "->");
	const char *kind = upgrade ? "upgrade" : "downgrade";
	char	   *from;
	char	  **lhs;
	char	  **rhs;
	int			nl;
	int			nr;
	char	  **ids;
	int			nids;
	char	  **parents;
	int			nparents;
	const char *why;
	AlRev	   *r;

	if (arrow == NULL)
	{
		msg_error("%s:%d: a \"-- Running %s\" line without \"->\"", path, lineno, kind);
		return false;
	}
	from = xstrndup(rest, (size_t) (arrow - rest));
	lhs = split_ids(from, &nl);
	rhs = split_ids(arrow + 2, &nr);
	free(from);
	ids = upgrade ? rhs : lhs;
	nids = upgrade ? nr : nl;
	parents = upgrade ? lhs : rhs;
	nparents = upgrade ? nl : nr;
	if (nids != 1)
	{
		msg_error("%s:%d: a \"-- Running %s\" step names %d revisions; one is expected %s \"->\"",
				  path, lineno, kind, nids, upgrade ? "after" : "before");
		return false;
	}
	if (!valid_revision_id(ids[0], &why))
	{
		msg_error("%s:%d: revision \"%s\" %s", path, lineno, ids[0], why);
		return false;
	}
	*cur = find_rev(h, ids[0]);
	if (upgrade)
	{
		if (*cur >= 0)
		{
			msg_error("%s:%d: revision \"%s\" is upgraded twice (first at line %d)", path, lineno,
					  ids[0], h->revs[*cur].up_line);
			return false;
		}
		for (int k = 0; k < nparents; k++)
			if (find_rev(h, parents[k]) < 0)
			{
				msg_error("%s:%d: revision \"%s\" names parent \"%s\", which no earlier step upgrades to",
						  path, lineno, ids[0], parents[k]);
				fprintf(stderr, "HINT:  Render the whole history: alembic upgrade base:head --sql.\n");
				return false;
			}
		h->revs = xrealloc(h->revs, sizeof(AlRev) * (h->n + 1));
		r = &h->revs[h->n];
		memset(r, 0, sizeof(AlRev));
		r->id = xstrdup(ids[0]);
		r->parents = parents;
		r->nparents = nparents;
		r->up_line = lineno;
		*cur = h->n++;
		return true;
	}
	if (*cur < 0)
	{
		msg_error("%s:%d: revision \"%s\" is downgraded but never upgraded in the upgrade file",
				  path, lineno, ids[0]);
		return false;
	}
	r = &h->revs[*cur];
	if (r->down_line)
	{
		msg_error("%s:%d: revision \"%s\" is downgraded twice (first at line %d)", path, lineno,
				  ids[0], r->down_line);
		return false;
	}
	if (nparents != r->nparents)
		nparents = -1;
	for (int k = 0; k < nparents; k++)
	{
		bool		found = false;

		for (int j = 0; j < r->nparents; j++)
			found = found || strcmp(parents[k], r->parents[j]) == 0;
		if (!found)
			nparents = -1;
	}
	if (nparents < 0)
	{
		msg_error("%s:%d: the downgrade of revision \"%s\" leads elsewhere than its upgrade's parents",
				  path, lineno, ids[0]);
		return false;
	}
	r->down_line = lineno;
	r->down = xstrdup("");
	return true;
}

/*
 * parse_offline
 *		Read one file of Alembic's offline SQL into h: upgrade creates the
 *		revisions, downgrade adds their down SQL.
 */
static bool
parse_offline(const char *path, bool upgrade, AlHistory *h)
{
	const char *marker = upgrade ? "-- Running upgrade " : "-- Running downgrade ";
	char	   *data;
	size_t		len;
	char	   *p;
	char	   *end;
	int			lineno = 0;
	int			cur = -1;
	bool		in_txn = false;
	bool		at_start = true;	/* the previous statement ended */
	bool		skipping = false;	/* inside a bookkeeping statement */
	bool		seen = false;
	long		bad;

	if (!read_file_bytes(path, &data, &len))
		return false;
	bad = utf8_invalid_offset(data, len);
	if (bad >= 0)
	{
		msg_error("%s: not UTF-8 text (byte offset %ld)", path, bad);
		return false;
	}
	for (p = data, end = data + len; p < end;)
	{
		char	   *nl = memchr(p, '\n', (size_t) (end - p));
		char	   *next = nl ? nl + 1 : end;
		size_t		n = (size_t) ((nl ? nl : end) - p);
		char	   *line;
		size_t		tl;
		bool		ends;

		lineno++;
		if (n > 0 && p[n - 1] == '\r')
			n--;
		line = xstrndup(p, n);
		p = next;
		tl = n;
		while (tl > 0 && (line[tl - 1] == ' ' || line[tl - 1] == '\t'))
			tl--;
		ends = tl > 0 && line[tl - 1] == ';';
		if (skipping)
		{
			skipping = !ends;
			at_start = ends;
			free(line);
			continue;
		}
		if (tl == 0)
		{
			if (cur >= 0)
			{
				AlRev	   *r = &h->revs[cur];

				if (upgrade)
					append(&r->up, &r->up_len, "", 0);
				else
					append(&r->down, &r->down_len, "", 0);
			}
			free(line);
			continue;
		}
		if (at_start && strncmp(line, marker, strlen(marker)) == 0)
		{
			if (!parse_marker_line(path, lineno, line + strlen(marker), upgrade, h, &cur))
			{
				free(line);
				return false;
			}
			seen = true;
			free(line);
			continue;
		}
		if (at_start && (strcmp(line, "BEGIN;") == 0 || strcmp(line, "COMMIT;") == 0))
		{
			in_txn = line[0] == 'B';
			free(line);
			continue;
		}
		if (at_start && is_bookkeeping(line))
		{
			skipping = !ends;
			free(line);
			continue;
		}
		if (cur < 0)
		{
			if (strncmp(line, "--", 2) == 0)
			{
				free(line);
				continue;
			}
			msg_error("%s:%d: SQL before the first \"%s\" marker", path, lineno, marker + 3);
			fprintf(stderr, "HINT:  Give the output of alembic %s --sql, unchanged.\n",
					upgrade ? "upgrade base:head" : "downgrade head:base");
			free(line);
			return false;
		}
		if (at_start && !in_txn && strncmp(line, "--", 2) != 0)
		{
			if (upgrade)
				h->revs[cur].up_outside = true;
			else
				h->revs[cur].down_outside = true;
		}
		if (upgrade)
			append(&h->revs[cur].up, &h->revs[cur].up_len, line, n);
		else
			append(&h->revs[cur].down, &h->revs[cur].down_len, line, n);
		if (strncmp(line, "--", 2) != 0)
			at_start = ends;
		free(line);
	}
	free(data);
	if (skipping)
	{
		msg_error("%s: the file ends inside a statement on alembic_version", path);
		return false;
	}
	if (!seen)
	{
		msg_error("%s: no \"%s\" marker: is it the output of alembic %s --sql?", path, marker + 3,
				  upgrade ? "upgrade base:head" : "downgrade head:base");
		return false;
	}
	return true;
}

/*
 * write_files
 *		One file per revision, "<NNNN>_<id>.sql" in upgrade order, in the
 *		folder (made if missing).  Nothing is written when one exists.
 */
static int
write_files(App *app, const AlHistory *h, const char *uppath, const char *downpath)
{
	const char *dir = app_dir(app);
	char	  **paths = xmalloc(sizeof(char *) * (h->n + 1));
	struct stat sb;
	int			rc = EXIT_DONE;
	int			i;

	if (mkdir(dir, 0777) != 0 && errno != EEXIST)
	{
		msg_error("cannot create %s: %s", dir, strerror(errno));
		free(paths);
		return EXIT_USAGE;
	}
	for (i = 0; i < h->n; i++)
	{
		paths[i] = xasprintf("%s/%04d_%s.sql", dir, i + 1, h->revs[i].id);
		if (rc == EXIT_DONE && stat(paths[i], &sb) == 0)
		{
			msg_error("%s exists: import into an empty folder (--dir)", paths[i]);
			rc = EXIT_USAGE;
		}
	}
	for (i = 0; i < h->n && rc == EXIT_DONE; i++)
	{
		const AlRev *r = &h->revs[i];
		FILE	   *fp = fopen(paths[i], "wx");
		char	   *up = trimmed_sql(r->up, r->up_len);

		if (fp == NULL)
		{
			msg_error("cannot create %s: %s", paths[i], strerror(errno));
			rc = EXIT_USAGE;
			free(up);
			break;
		}
		fprintf(fp, "-- revision: %s\n-- down_revision: ", r->id);
		for (int k = 0; k < r->nparents; k++)
			fprintf(fp, "%s%s", k ? ", " : "", r->parents[k]);
		fprintf(fp, "\n");
		if (r->up_outside || r->down_outside)
			fprintf(fp, "-- transactional: false\n");
		fprintf(fp, "-- Imported from Alembic's offline SQL: %s line %d", uppath, r->up_line);
		if (r->down_line)
			fprintf(fp, ", %s line %d", downpath, r->down_line);
		fprintf(fp, ".\n-- migrate:up\n%s%s", up, *up ? "\n" : "");
		if (r->down_line)
		{
			char	   *down = trimmed_sql(r->down, r->down_len);

			fprintf(fp, "-- migrate:down\n%s%s", down, *down ? "\n" : "");
			free(down);
		}
		free(up);
		if (fclose(fp) != 0)
		{
			msg_error("cannot write %s: %s", paths[i], strerror(errno));
			rc = EXIT_USAGE;
		}
	}
	if (rc == EXIT_DONE)
	{
		int			nirrev = 0;
		int			nnontx = 0;

		for (i = 0; i < h->n; i++)
		{
			nirrev += h->revs[i].down_line == 0;
			nnontx += h->revs[i].up_outside || h->revs[i].down_outside;
		}
		if (app->json)
		{
			printf("{\"command\": \"import-alembic\", \"status\": \"ok\", \"files\": ");
			json_string_array(stdout, paths, h->n);
			printf("}\n");
		}
		msg_info(app, "Imported %d revision%s into %s/ (%d irreversible, %d non-transactional)",
				 h->n, h->n == 1 ? "" : "s", dir, nirrev, nnontx);
		if (downpath == NULL && h->n > 0)
			msg_info(app, "  No downgrade file: every revision is irreversible (give the output of "
					 "alembic downgrade head:base --sql too)");
		msg_info(app, "  The messages are not in Alembic's offline SQL: add \"-- message:\" lines "
				 "from the revision scripts if you want them");
	}
	for (i = 0; i < h->n; i++)
		free(paths[i]);
	free(paths);
	return rc;
}

/*
 * import-alembic UPGRADE.sql [DOWNGRADE.sql]
 */
int
cmd_import_alembic(App *app, int argc, char **argv)
{
	char	   *pos[2];
	int			npos;
	int			rc = parse_args(app, argc, argv, NULL, 0, pos, 2, &npos);
	AlHistory	h = {NULL, 0};

	if (rc >= 0)
		return rc;
	if (npos < 1)
	{
		msg_error("import-alembic: name the file: dbmigrate import-alembic UPGRADE.sql [DOWNGRADE.sql]");
		return EXIT_USAGE;
	}
	if (!parse_offline(pos[0], true, &h))
		return EXIT_USAGE;
	if (npos == 2 && !parse_offline(pos[1], false, &h))
		return EXIT_USAGE;
	return write_files(app, &h, pos[0], npos == 2 ? pos[1] : NULL);
}

/*-------------------------------------------------------------------------
 *
 * migfile.c
 *	  Migration files: reading a folder, the one parser of the file format.
 *
 * A migration file is plain SQL (SPEC §6):
 *
 *	-- revision: 3f2a9c1d7e44
 *	-- down_revision: 001_initial_migration	 (a, b for a merge; empty: a root)
 *	-- message: add posts
 *	-- transactional: false						 (optional)
 *	-- migrate:up
 *	CREATE TABLE posts (...);
 *	-- migrate:down
 *	DROP TABLE posts;
 *
 * No "-- migrate:down" section = irreversible; an empty one = an explicit
 * no-op.  dbmate's "-- migrate:up transaction:false" is the same flag.
 * Files are read as bytes: they must be UTF-8 (a BOM is skipped), and CRLF
 * is accepted: the header is parsed without the CR, the SQL is kept as
 * written (the server normalises line endings for its checksum).
 *
 * Copyright (c) 2026, dbmigrate developers
 *
 * IDENTIFICATION
 *	  cli/migfile.c
 *
 *-------------------------------------------------------------------------
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <wchar.h>
#include <wctype.h>

#include "dbmigrate.h"

#define ID_MAXLEN 255

static bool parse_file(const char *path, const char *data, size_t len, MigFile *mf);
static bool parse_marker(const char *path, int lineno, const char *text, const char *name,
						 bool *transactional, bool *matched);
static bool parse_parents(const char *path, int lineno, const char *value, MigFile *mf);
static char *trim(char *s);
static int	cmp_names(const void *a, const void *b);
static void migfile_free(MigFile *mf);

/*
 * read_file_bytes
 *		The whole file, NUL-terminated (*len excludes the terminator).
 *		Reports the failure and returns false.
 */
bool
read_file_bytes(const char *path, char **data, size_t *len)
{
	FILE	   *fp = fopen(path, "rb");
	size_t		cap = 8192;
	size_t		n = 0;
	char	   *buf;

	if (fp == NULL)
	{
		msg_error("cannot read %s: %s", path, strerror(errno));
		return false;
	}
	buf = xmalloc(cap);
	for (;;)
	{
		size_t		got;

		if (cap - n < 4096)
		{
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		got = fread(buf + n, 1, cap - n - 1, fp);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(fp))
	{
		msg_error("cannot read %s: %s", path, strerror(errno));
		fclose(fp);
		free(buf);
		return false;
	}
	fclose(fp);
	buf[n] = '\0';
	*data = buf;
	*len = n;
	return true;
}

/*
 * utf8_invalid_offset
 *		The byte offset of the first byte that is not part of a valid UTF-8
 *		sequence (overlong forms, surrogates and code points above U+10FFFF
 *		are invalid), or of a NUL byte, which no PostgreSQL text can hold;
 *		-1 when s is valid.
 */
long
utf8_invalid_offset(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *) s;
	size_t		i = 0;

	while (i < len)
	{
		unsigned char c = p[i];
		int			n;
		unsigned int cp;
		int			k;

		if (c == 0)
			return (long) i;
		if (c < 0x80)
		{
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF)
		{
			n = 1;
			cp = c & 0x1F;
		}
		else if (c >= 0xE0 && c <= 0xEF)
		{
			n = 2;
			cp = c & 0x0F;
		}
		else if (c >= 0xF0 && c <= 0xF4)
		{
			n = 3;
			cp = c & 0x07;
		}
		else
			return (long) i;
		for (k = 1; k <= n; k++)
		{
			if (i + k >= len || (p[i + k] & 0xC0) != 0x80)
				return (long) i;
			cp = (cp << 6) | (p[i + k] & 0x3F);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
			(cp >= 0xD800 && cp <= 0xDFFF))
			return (long) i;
		i += n + 1;
	}
	return -1;
}

/*
 * valid_revision_id
 *		The server's rule (migrate_register), checked before connecting:
 *		1-255 letters (any script), digits, '_', '.', '-'; not starting with
 *		'-'; not head, heads or base in any case.  *why says what is wrong.
 */
bool
valid_revision_id(const char *id, const char **why)
{
	static char buf[128];
	mbstate_t	st;
	const char *p = id;
	size_t		left = strlen(id);
	int			nchars = 0;

	if (*id == '\0')
	{
		*why = "is empty";
		return false;
	}
	if (strcasecmp(id, "head") == 0 || strcasecmp(id, "heads") == 0 || strcasecmp(id, "base") == 0)
	{
		*why = "is reserved (head, heads and base name targets)";
		return false;
	}
	if (*id == '-')
	{
		*why = "starts with \"-\"";
		return false;
	}
	memset(&st, 0, sizeof(st));
	while (left > 0)
	{
		wchar_t		wc;
		size_t		n = mbrtowc(&wc, p, left, &st);

		if (n == (size_t) -1 || n == (size_t) -2 || n == 0)
		{
			*why = "is not valid UTF-8";
			return false;
		}
		if (!(iswalnum((wint_t) wc) || wc == L'_' || wc == L'.' || wc == L'-'))
		{
			snprintf(buf, sizeof(buf), "contains the character \"%.*s\" (ids are letters, digits, \"_\", \".\" and \"-\")",
					 (int) n, p);
			*why = buf;
			return false;
		}
		nchars++;
		p += n;
		left -= n;
	}
	if (nchars > ID_MAXLEN)
	{
		*why = "is longer than 255 characters";
		return false;
	}
	return true;
}

/*
 * normalize_sql
 *		The text the server's checksum covers: CRLF and lone CR as LF, and
 *		no whitespace at the very end.  A new string.
 */
char *
normalize_sql(const char *s)
{
	size_t		n = strlen(s);
	char	   *out = xmalloc(n + 1);
	size_t		i;
	size_t		j = 0;

	for (i = 0; i < n; i++)
	{
		if (s[i] == '\r')
		{
			out[j++] = '\n';
			if (s[i + 1] == '\n')
				i++;
		}
		else
			out[j++] = s[i];
	}
	while (j > 0 && isspace((unsigned char) out[j - 1]))
		j--;
	out[j] = '\0';
	return out;
}

static char *
trim(char *s)
{
	char	   *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/*
 * parse_marker
 *		Does text (a line without its end) say "-- migrate:<name>", with
 *		dbmate's options after it?  Reports a bad option and returns false.
 */
static bool
parse_marker(const char *path, int lineno, const char *text, const char *name,
			 bool *transactional, bool *matched)
{
	char		want[32];
	const char *p = text;
	size_t		wl;

	*matched = false;
	if (strncmp(p, "--", 2) != 0)
		return true;
	p += 2;
	while (*p == ' ' || *p == '\t')
		p++;
	snprintf(want, sizeof(want), "migrate:%s", name);
	wl = strlen(want);
	if (strncmp(p, want, wl) != 0 || (p[wl] != '\0' && p[wl] != ' ' && p[wl] != '\t'))
		return true;
	*matched = true;
	p += wl;
	for (;;)
	{
		const char *start;
		size_t		olen;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			return true;
		start = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
		olen = (size_t) (p - start);
		if (olen == strlen("transaction:false") && strncmp(start, "transaction:false", olen) == 0)
			*transactional = false;
		else if (olen == strlen("transaction:true") && strncmp(start, "transaction:true", olen) == 0)
			;
		else
		{
			msg_error("%s:%d: unknown option \"%.*s\" after \"-- migrate:%s\"", path, lineno,
					  (int) olen, start, name);
			fprintf(stderr, "HINT:  The only option is dbmate's transaction:false; or write "
					"\"-- transactional: false\" in the header.\n");
			return false;
		}
	}
}

/* parse_parents: "a, b" (empty: a root) into mf->parents */
static bool
parse_parents(const char *path, int lineno, const char *value, MigFile *mf)
{
	char	   *copy = xstrdup(value);
	char	   *p = copy;
	bool		ok = true;

	mf->nparents = 0;
	mf->parents = NULL;
	if (*trim(copy) == '\0')
	{
		free(copy);
		return true;
	}
	for (;;)
	{
		char	   *comma = strchr(p, ',');
		char	   *id;
		const char *why;
		int			k;

		if (comma)
			*comma = '\0';
		id = trim(p);
		if (!valid_revision_id(id, &why))
		{
			msg_error("%s:%d: down_revision \"%s\" %s", path, lineno, id, why);
			ok = false;
			break;
		}
		for (k = 0; k < mf->nparents; k++)
			if (strcmp(mf->parents[k], id) == 0)
			{
				msg_error("%s:%d: down_revision names \"%s\" twice", path, lineno, id);
				ok = false;
			}
		if (!ok)
			break;
		mf->parents = xrealloc(mf->parents, sizeof(char *) * (mf->nparents + 1));
		mf->parents[mf->nparents++] = xstrdup(id);
		if (!comma)
			break;
		p = comma + 1;
	}
	free(copy);
	return ok;
}

/*
 * parse_file
 *		Parse one file's bytes into mf.  Every problem is reported with the
 *		file and line; returns false on any.
 */
static bool
parse_file(const char *path, const char *data, size_t len, MigFile *mf)
{
	enum
	{
		IN_HEADER, IN_UP, IN_DOWN
	}			state = IN_HEADER;
	const char *p = data;
	const char *end = data + len;
	const char *up_start = NULL;
	const char *up_end = NULL;
	const char *down_start = NULL;
	int			lineno = 0;
	bool		have_parents = false;
	bool		have_tx = false;
	long		bad;

	memset(mf, 0, sizeof(*mf));
	mf->path = xstrdup(path);
	mf->transactional = true;

	bad = utf8_invalid_offset(data, len);
	if (bad >= 0)
	{
		if (data[bad] == '\0')
			msg_error("%s: NUL byte at byte offset %ld; migration files are UTF-8 text", path, bad);
		else
			msg_error("%s: not valid UTF-8 at byte offset %ld (byte 0x%02x); convert the file to UTF-8",
					  path, bad, (unsigned char) data[bad]);
		return false;
	}
	if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
		p += 3;

	while (p < end)
	{
		const char *nl = memchr(p, '\n', (size_t) (end - p));
		const char *next = nl ? nl + 1 : end;
		char	   *line = xstrndup(p, (size_t) ((nl ? nl : end) - p));
		char	   *text = trim(line);
		bool		is_up;
		bool		is_down;
		bool		ok = true;

		lineno++;
		ok = parse_marker(path, lineno, text, "up", &mf->transactional, &is_up) &&
			parse_marker(path, lineno, text, "down", &mf->transactional, &is_down);
		if (!ok)
		{
			free(line);
			return false;
		}
		if (state == IN_HEADER)
		{
			if (is_up)
			{
				state = IN_UP;
				mf->line_up = lineno;
				up_start = next;
			}
			else if (is_down)
			{
				msg_error("%s:%d: \"-- migrate:down\" before \"-- migrate:up\"", path, lineno);
				ok = false;
			}
			else if (strncmp(text, "--", 2) == 0)
			{
				char	   *c = trim(text +2);
				char	   *k = c;

				while (*k == '_' || (*k >= 'a' && *k <= 'z'))
					k++;
				if (k > c && *k == ':')
				{
					char	   *value;

					*k = '\0';
					value = trim(k + 1);
					if (strcmp(c, "revision") == 0)
					{
						const char *why;

						if (mf->revision)
						{
							msg_error("%s:%d: a second \"revision\" line (the first is line %d)",
									  path, lineno, mf->line_revision);
							ok = false;
						}
						else if (!valid_revision_id(value, &why))
						{
							msg_error("%s:%d: revision \"%s\" %s", path, lineno, value, why);
							ok = false;
						}
						else
						{
							mf->revision = xstrdup(value);
							mf->line_revision = lineno;
						}
					}
					else if (strcmp(c, "down_revision") == 0)
					{
						if (have_parents)
						{
							msg_error("%s:%d: a second \"down_revision\" line (the first is line %d)",
									  path, lineno, mf->line_parents);
							ok = false;
						}
						else
						{
							have_parents = true;
							mf->line_parents = lineno;
							ok = parse_parents(path, lineno, value, mf);
						}
					}
					else if (strcmp(c, "message") == 0)
					{
						if (mf->message)
						{
							msg_error("%s:%d: a second \"message\" line", path, lineno);
							ok = false;
						}
						else if (*value)
							mf->message = xstrdup(value);
					}
					else if (strcmp(c, "transactional") == 0)
					{
						if (have_tx)
						{
							msg_error("%s:%d: a second \"transactional\" line", path, lineno);
							ok = false;
						}
						else if (strcmp(value, "false") == 0)
							mf->transactional = false;
						else if (strcmp(value, "true") != 0)
						{
							msg_error("%s:%d: transactional must be true or false, not \"%s\"",
									  path, lineno, value);
							ok = false;
						}
						have_tx = true;
					}
					else
					{
						msg_error("%s:%d: unknown header field \"%s\"", path, lineno, c);
						fprintf(stderr, "HINT:  The header fields are revision, down_revision, "
								"message and transactional.\n");
						ok = false;
					}
				}
			}
			else if (*text !='\0')
			{
				msg_error("%s:%d: SQL before \"-- migrate:up\"", path, lineno);
				fprintf(stderr, "HINT:  A migration file starts with its header (\"-- revision: ...\", "
						"\"-- down_revision: ...\"), then a line \"-- migrate:up\" and the SQL.\n");
				ok = false;
			}
		}
		else if (is_up)
		{
			msg_error("%s:%d: a second \"-- migrate:up\" (the first is line %d)", path, lineno,
					  mf->line_up);
			ok = false;
		}
		else if (is_down && state == IN_DOWN)
		{
			msg_error("%s:%d: a second \"-- migrate:down\" (the first is line %d)", path, lineno,
					  mf->line_down);
			ok = false;
		}
		else if (is_down)
		{
			state = IN_DOWN;
			mf->line_down = lineno;
			up_end = p;
			down_start = next;
		}
		free(line);
		if (!ok)
			return false;
		p = next;
	}

	if (state == IN_HEADER)
	{
		msg_error("%s: no \"-- migrate:up\" line", path);
		fprintf(stderr, "HINT:  Put the upgrade SQL after a line \"-- migrate:up\", and the SQL "
				"that undoes it after \"-- migrate:down\".\n");
		return false;
	}
	if (mf->revision == NULL)
	{
		msg_error("%s:1: no \"-- revision:\" line in the header", path);
		return false;
	}
	if (!have_parents)
	{
		msg_error("%s:%d: no \"-- down_revision:\" line in the header", path, mf->line_revision);
		fprintf(stderr, "HINT:  Name the parent revision, or write \"-- down_revision:\" with "
				"nothing after it for a root.\n");
		return false;
	}
	for (int k = 0; k < mf->nparents; k++)
		if (strcmp(mf->parents[k], mf->revision) == 0)
		{
			msg_error("%s:%d: revision \"%s\" names itself as its parent", path, mf->line_parents,
					  mf->revision);
			return false;
		}
	if (state == IN_UP)
		up_end = end;
	mf->up = xstrndup(up_start, (size_t) (up_end - up_start));
	if (state == IN_DOWN)
		mf->down = xstrndup(down_start, (size_t) (end - down_start));
	return true;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * folder_read
 *		Every "*.sql" file of dir (not hidden ones), parsed, in name order.
 *		Reports every bad file; on any, *status is EXIT_USAGE and NULL is
 *		returned.
 */
Folder *
folder_read(const char *dir, int *status)
{
	DIR		   *d = opendir(dir);
	struct dirent *de;
	char	  **names = NULL;
	int			nnames = 0;
	Folder	   *f;
	bool		ok = true;
	int			i;

	*status = EXIT_DONE;
	if (d == NULL)
	{
		msg_error("cannot open the migrations folder %s: %s", dir, strerror(errno));
		if (errno == ENOENT)
			fprintf(stderr, "HINT:  Create it with \"dbmigrate init\", or name another with --dir.\n");
		*status = EXIT_USAGE;
		return NULL;
	}
	while ((de = readdir(d)) != NULL)
	{
		size_t		n = strlen(de->d_name);

		if (de->d_name[0] == '.' || n < 5 || strcmp(de->d_name + n - 4, ".sql") != 0)
			continue;
		names = xrealloc(names, sizeof(char *) * (nnames + 1));
		names[nnames++] = xstrdup(de->d_name);
	}
	closedir(d);
	qsort(names, nnames, sizeof(char *), cmp_names);

	f = xmalloc(sizeof(Folder));
	f->dir = xstrdup(dir);
	f->files = xmalloc(sizeof(MigFile) * (nnames ? nnames : 1));
	f->nfiles = 0;
	for (i = 0; i < nnames; i++)
	{
		char	   *path = xasprintf("%s/%s", dir, names[i]);
		struct stat sb;
		char	   *data;
		size_t		len;

		if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode))
		{
			free(path);
			continue;
		}
		if (!read_file_bytes(path, &data, &len))
			ok = false;
		else
		{
			MigFile    *mf = &f->files[f->nfiles];

			if (parse_file(path, data, len, mf))
				f->nfiles++;
			else
			{
				migfile_free(mf);
				ok = false;
			}
			free(data);
		}
		free(path);
	}
	for (i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
	if (!ok)
	{
		folder_free(f);
		*status = EXIT_USAGE;
		return NULL;
	}
	return f;
}

/* migfile_free: what a MigFile holds (not the struct itself) */
static void
migfile_free(MigFile *mf)
{
	free(mf->path);
	free(mf->revision);
	for (int k = 0; k < mf->nparents; k++)
		free(mf->parents[k]);
	free(mf->parents);
	free(mf->message);
	free(mf->up);
	free(mf->down);
	memset(mf, 0, sizeof(*mf));
}

void
folder_free(Folder *f)
{
	int			i;

	if (f == NULL)
		return;
	for (i = 0; i < f->nfiles; i++)
		migfile_free(&f->files[i]);
	free(f->files);
	free(f->dir);
	free(f);
}

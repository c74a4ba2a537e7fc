/*-------------------------------------------------------------------------
 *
 * output.c
 *	  Messages, progress lines and JSON for the dbmigrate client; memory
 *	  helpers that exit on exhaustion.
 *
 * Human output goes to stdout (progress, results) and stderr (errors,
 * notices); --json writes one JSON document to stdout and no progress;
 * --quiet keeps errors and warnings only.
 *
 * Copyright (c) 2026, dbmigrate developers
 *
 * IDENTIFICATION
 *	  cli/output.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dbmigrate.h"

void *
xmalloc(size_t n)
{
	void	   *p = malloc(n ? n : 1);

	if (p == NULL)
	{
		fprintf(stderr, "dbmigrate: out of memory\n");
		exit(EXIT_FAILED);
	}
	return p;
}

void *
xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (p == NULL)
	{
		fprintf(stderr, "dbmigrate: out of memory\n");
		exit(EXIT_FAILED);
	}
	return p;
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	char	   *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
xasprintf(const char *fmt,...)
{
	va_list		ap;
	int			len;
	char	   *p;

	va_start(ap, fmt);
	len = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	p = xmalloc((size_t) len + 1);
	va_start(ap, fmt);
	vsnprintf(p, (size_t) len + 1, fmt, ap);
	va_end(ap);
	return p;
}

/* msg_error: "dbmigrate: <message>" on stderr, always shown */
void
msg_error(const char *fmt,...)
{
	va_list		ap;

	fputs("dbmigrate: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* msg_info: a line on stdout, unless --quiet or --json */
void
msg_info(const App *app, const char *fmt,...)
{
	va_list		ap;

	if (app->quiet || app->json)
		return;
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

/*
 * progress_start
 *		The server announced a step ("running upgrade a -> b, message"): end
 *		the previous one and print Alembic's line for this one.
 */
void
progress_start(App *app, const char *text)
{
	progress_finish(app);
	app->step_open = true;
	app->step_started = now_ms();
	app->step_text = xstrdup(text);
	app->steps_seen++;
	msg_info(app, "Running %s", text);
}

/* progress_finish: the step in progress ended (the next began, or the call returned) */
void
progress_finish(App *app)
{
	double		ms;

	if (!app->step_open)
		return;
	ms = now_ms() - app->step_started;
	msg_info(app, "  done in %.1f ms", ms);
	app->step_open = false;
	app->step_done = xrealloc(app->step_done, sizeof(char *) * app->steps_seen);
	app->step_done_ms = xrealloc(app->step_done_ms, sizeof(double) * app->steps_seen);
	app->step_done[app->steps_seen - 1] = app->step_text;
	app->step_done_ms[app->steps_seen - 1] = ms;
	app->step_text = NULL;
}

/* progress_fail: the step in progress failed */
void
progress_fail(App *app)
{
	if (!app->step_open)
		return;
	msg_info(app, "  failed after %.1f ms", now_ms() - app->step_started);
	app->step_open = false;
	free(app->step_text);
	app->step_text = NULL;
	app->steps_seen--;
}

/* json_string: s as a JSON string (null for NULL); s is UTF-8 */
void
json_string(FILE *out, const char *s)
{
	const unsigned char *p;

	if (s == NULL)
	{
		fputs("null", out);
		return;
	}
	fputc('"', out);
	for (p = (const unsigned char *) s; *p; p++)
	{
		switch (*p)
		{
			case '"':
				fputs("\\\"", out);
				break;
			case '\\':
				fputs("\\\\", out);
				break;
			case '\n':
				fputs("\\n", out);
				break;
			case '\r':
				fputs("\\r", out);
				break;
			case '\t':
				fputs("\\t", out);
				break;
			default:
				if (*p < 0x20)
					fprintf(out, "\\u%04x", *p);
				else
					fputc(*p, out);
		}
	}
	fputc('"', out);
}

void
json_string_array(FILE *out, char **items, int n)
{
	int			i;

	fputc('[', out);
	for (i = 0; i < n; i++)
	{
		if (i > 0)
			fputs(", ", out);
		json_string(out, items[i]);
	}
	fputc(']', out);
}

/*
 * json_error
 *		With --json, a failure is also a JSON document on stdout:
 *		{"status": ..., "error": {message, sqlstate, detail, hint, context,
 *		file, line}}.  err may be NULL (a client-side error: message).
 */
void
json_error(const App *app, const char *status, const DbError *err, const char *file, int line,
		   const char *message)
{
	if (!app->json)
		return;
	printf("{\"command\": ");
	json_string(stdout, app->command);
	printf(", \"status\": ");
	json_string(stdout, status);
	printf(", \"error\": {\"message\": ");
	json_string(stdout, err ? err->message : message);
	printf(", \"sqlstate\": ");
	json_string(stdout, err ? err->sqlstate : NULL);
	printf(", \"detail\": ");
	json_string(stdout, err ? err->detail : NULL);
	printf(", \"hint\": ");
	json_string(stdout, err ? err->hint : NULL);
	printf(", \"context\": ");
	json_string(stdout, err ? err->context : NULL);
	printf(", \"file\": ");
	json_string(stdout, file);
	if (line > 0)
		printf(", \"line\": %d}}\n", line);
	else
		printf(", \"line\": null}}\n");
}

/*-------------------------------------------------------------------------
 *
 * graph.c
 *	  The revision graph of a migrations folder, checked before connecting:
 *	  duplicate ids across files, unknown parents, cycles; its topological
 *	  order, heads, and the plan of an upgrade or downgrade for --sql.
 *
 * The server stays the authority on what runs: the deploy commands let
 * migrate_upgrade()/migrate_downgrade() plan.  This plan is only for --sql
 * (offline mode), which must not write, and follows the server's rules
 * (README "Targets").
 *
 * Copyright (c) 2026, dbmigrate developers
 *
 * IDENTIFICATION
 *	  cli/graph.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include "dbmigrate.h"

static void mark_ancestors(const Graph *g, int node, bool *mark);
static void mark_descendants(const Graph *g, int node, bool *mark);
static bool parse_count(const char *s, int *n);
static void report_cycle(const Graph *g, const bool *done);

Graph *
graph_new(void)
{
	Graph	   *g = xmalloc(sizeof(Graph));

	memset(g, 0, sizeof(Graph));
	return g;
}

void
graph_free(Graph *g)
{
	int			i;

	if (g == NULL)
		return;
	for (i = 0; i < g->n; i++)
	{
		GNode	   *nd = &g->nodes[i];

		free(nd->id);
		free(nd->message);
		for (int k = 0; k < nd->nparents; k++)
			free(nd->parent_ids[k]);
		free(nd->parent_ids);
		free(nd->parents);
		free(nd->children);
		free(nd->applied_at);
		free(nd->applied_by);
	}
	free(g->nodes);
	free(g->order);
	free(g);
}

/* graph_find: the node of id, or -1 (a linear scan: graphs here are small) */
int
graph_find(const Graph *g, const char *id)
{
	int			i;

	for (i = 0; i < g->n; i++)
		if (strcmp(g->nodes[i].id, id) == 0)
			return i;
	return -1;
}

/* graph_add: a new node (parents by id; graph_link resolves them) */
int
graph_add(Graph *g, const char *id, char **parents, int nparents, const char *message)
{
	GNode	   *nd;

	if (g->n == g->cap)
	{
		g->cap = g->cap ? g->cap * 2 : 32;
		g->nodes = xrealloc(g->nodes, sizeof(GNode) * g->cap);
	}
	nd = &g->nodes[g->n];
	memset(nd, 0, sizeof(GNode));
	nd->id = xstrdup(id);
	nd->message = message ? xstrdup(message) : NULL;
	nd->nparents = nparents;
	nd->parent_ids = xmalloc(sizeof(char *) * (nparents ? nparents : 1));
	for (int k = 0; k < nparents; k++)
		nd->parent_ids[k] = xstrdup(parents[k]);
	return g->n++;
}

/*
 * graph_link
 *		Resolve parents, fill children and a topological order (ties in node
 *		order).  strict: an unknown parent is an error (reported); otherwise
 *		it is dropped.  A cycle is reported.
 */
bool
graph_link(Graph *g, bool strict)
{
	int		   *indeg = xmalloc(sizeof(int) * (g->n ? g->n : 1));
	bool	   *done = xmalloc(sizeof(bool) * (g->n ? g->n : 1));
	bool		ok = true;
	int			norder = 0;
	int			i;

	for (i = 0; i < g->n; i++)
	{
		GNode	   *nd = &g->nodes[i];
		int			k;
		int			m = 0;

		free(nd->parents);
		nd->parents = xmalloc(sizeof(int) * (nd->nparents ? nd->nparents : 1));
		for (k = 0; k < nd->nparents; k++)
		{
			int			p = graph_find(g, nd->parent_ids[k]);

			if (p < 0)
			{
				if (strict)
				{
					if (nd->file)
						msg_error("%s:%d: down_revision \"%s\" is not a revision of the folder",
								  nd->file->path, nd->file->line_parents, nd->parent_ids[k]);
					else
						msg_error("revision \"%s\" names an unknown parent \"%s\"", nd->id,
								  nd->parent_ids[k]);
					ok = false;
				}
				continue;
			}
			nd->parents[m++] = p;
		}
		if (!strict)
			nd->nparents = m;
	}
	if (!ok)
	{
		fprintf(stderr, "HINT:  Every parent must be a file of the folder or \"" BUILTIN_REVISION
				"\"; add the missing file or correct the down_revision line.\n");
		free(indeg);
		free(done);
		return false;
	}

	for (i = 0; i < g->n; i++)
	{
		free(g->nodes[i].children);
		g->nodes[i].children = NULL;
		g->nodes[i].nchildren = 0;
	}
	for (i = 0; i < g->n; i++)
	{
		GNode	   *nd = &g->nodes[i];

		indeg[i] = nd->nparents;
		done[i] = false;
		for (int k = 0; k < nd->nparents; k++)
		{
			GNode	   *p = &g->nodes[nd->parents[k]];

			p->children = xrealloc(p->children, sizeof(int) * (p->nchildren + 1));
			p->children[p->nchildren++] = i;
		}
	}

	/* Kahn's algorithm; the smallest ready index first (quadratic, fine) */
	free(g->order);
	g->order = xmalloc(sizeof(int) * (g->n ? g->n : 1));
	for (;;)
	{
		int			pick = -1;

		for (i = 0; i < g->n; i++)
			if (!done[i] && indeg[i] == 0)
			{
				pick = i;
				break;
			}
		if (pick < 0)
			break;
		done[pick] = true;
		g->order[norder++] = pick;
		for (int k = 0; k < g->nodes[pick].nchildren; k++)
			indeg[g->nodes[pick].children[k]]--;
	}
	if (norder < g->n)
	{
		report_cycle(g, done);
		ok = false;
	}
	free(indeg);
	free(done);
	return ok;
}

/* report_cycle: name one cycle among the nodes Kahn's algorithm left */
static void
report_cycle(const Graph *g, const bool *done)
{
	int		   *seen = xmalloc(sizeof(int) * g->n);
	int			cur = -1;
	int			i;
	int			step = 0;
	char	   *text;
	const GNode *first;

	for (i = 0; i < g->n; i++)
	{
		seen[i] = -1;
		if (!done[i] && cur < 0)
			cur = i;
	}
	/* walk to an unfinished parent until a node repeats */
	while (seen[cur] < 0)
	{
		const GNode *nd = &g->nodes[cur];
		int			next = -1;

		seen[cur] = step++;
		for (int k = 0; k < nd->nparents; k++)
			if (!done[nd->parents[k]])
			{
				next = nd->parents[k];
				break;
			}
		cur = next;
	}
	first = &g->nodes[cur];
	text = xstrdup(first->id);

	{
		int			c = cur;

		do
		{
			const GNode *nd = &g->nodes[c];
			int			next = -1;
			char	   *t;

			for (int k = 0; k < nd->nparents; k++)
				if (!done[nd->parents[k]] && seen[nd->parents[k]] >= 0)
				{
					next = nd->parents[k];
					break;
				}
			t = xasprintf("%s <- %s", text, g->nodes[next].id);
			free(text);
			text = t;

			c = next;
		} while (c != cur);
	}
	msg_error("the revisions form a cycle: %s", text);
	if (first->file)
		fprintf(stderr, "HINT:  See %s:%d; a revision cannot descend from itself.\n",
				first->file->path, first->file->line_parents);
	free(text);
	free(seen);
}

/*
 * graph_from_folder
 *		The folder's graph, checked: duplicate ids across files, unknown
 *		parents, cycles.  The built-in revision joins it when a file names
 *		it or the folder is empty.  *status EXIT_USAGE on a problem.
 */
Graph *
graph_from_folder(Folder *f, int *status)
{
	Graph	   *g = graph_new();
	bool		need_builtin = f->nfiles == 0;
	bool		ok = true;
	int			i;

	*status = EXIT_DONE;
	for (i = 0; i < f->nfiles; i++)
	{
		MigFile    *mf = &f->files[i];
		int			dup = graph_find(g, mf->revision);

		if (dup >= 0)
		{
			msg_error("%s:%d: revision \"%s\" is also defined in %s:%d", mf->path, mf->line_revision,
					  mf->revision, g->nodes[dup].file->path, g->nodes[dup].file->line_revision);
			fprintf(stderr, "HINT:  Every file needs its own revision id; give one of them a new id "
					"(dbmigrate revision makes one).\n");
			ok = false;
			continue;
		}
		dup = graph_add(g, mf->revision, mf->parents, mf->nparents, mf->message);
		g->nodes[dup].file = mf;
		for (int k = 0; k < mf->nparents; k++)
			if (strcmp(mf->parents[k], BUILTIN_REVISION) == 0)
				need_builtin = true;
	}
	if (ok && need_builtin && graph_find(g, BUILTIN_REVISION) < 0)
	{
		/* first: CREATE EXTENSION registers it before anything else */
		Graph	   *h = graph_new();

		graph_add(h, BUILTIN_REVISION, NULL, 0, "Initial migration");
		for (i = 0; i < g->n; i++)
		{
			int			k = graph_add(h, g->nodes[i].id, g->nodes[i].parent_ids, g->nodes[i].nparents,
									  g->nodes[i].message);

			h->nodes[k].file = g->nodes[i].file;
		}
		graph_free(g);
		g = h;
	}
	if (!ok || !graph_link(g, true))
	{
		graph_free(g);
		*status = EXIT_USAGE;
		return NULL;
	}
	return g;
}

/* graph_heads: the nodes without children, in order; returns how many */
int
graph_heads(const Graph *g, int *out)
{
	int			n = 0;
	int			i;

	for (i = 0; i < g->n; i++)
	{
		int			k = g->order[i];

		if (g->nodes[k].nchildren == 0)
			out[n++] = k;
	}
	return n;
}

/* graph_parents_text: "a, b", or "<base>" for a root (Alembic's spelling) */
char *
graph_parents_text(const Graph *g, int node)
{
	const GNode *nd = &g->nodes[node];
	char	   *s;

	if (nd->nparents == 0)
		return xstrdup("<base>");
	s = xstrdup(nd->parent_ids[0]);
	for (int k = 1; k < nd->nparents; k++)
	{
		char	   *t = xasprintf("%s, %s", s, nd->parent_ids[k]);

		free(s);
		s = t;
	}
	return s;
}

/*
 * graph_resolve
 *		A revision by id or unique prefix of at least 4 characters.
 */
bool
graph_resolve(const Graph *g, const char *rev, int *node, char **err)
{
	int			found = -1;
	int			nfound = 0;
	size_t		len = strlen(rev);
	int			i;

	i = graph_find(g, rev);
	if (i >= 0)
	{
		*node = i;
		return true;
	}
	if (len >= 4)
		for (i = 0; i < g->n; i++)
			if (strncmp(g->nodes[i].id, rev, len) == 0)
			{
				found = i;
				nfound++;
			}
	if (nfound == 1)
	{
		*node = found;
		return true;
	}
	if (nfound > 1)
		*err = xasprintf("revision prefix \"%s\" is ambiguous (%d revisions start with it)", rev, nfound);
	else
		*err = xasprintf("revision \"%s\" is not known", rev);
	return false;
}

bool
graph_is_ancestor(const Graph *g, int anc, int node)
{
	bool	   *mark = calloc(g->n ? g->n : 1, sizeof(bool));
	bool		r;

	if (mark == NULL)
		return false;
	mark_ancestors(g, node, mark);
	r = anc != node && mark[anc];
	free(mark);
	return r;
}

static void
mark_ancestors(const Graph *g, int node, bool *mark)
{
	if (mark[node])
		return;
	mark[node] = true;
	for (int k = 0; k < g->nodes[node].nparents; k++)
		mark_ancestors(g, g->nodes[node].parents[k], mark);
}

static void
mark_descendants(const Graph *g, int node, bool *mark)
{
	if (mark[node])
		return;
	mark[node] = true;
	for (int k = 0; k < g->nodes[node].nchildren; k++)
		mark_descendants(g, g->nodes[node].children[k], mark);
}

/* parse_count: a positive decimal number */
static bool
parse_count(const char *s, int *n)
{
	char	   *end;
	long		v;

	if (*s < '0' || *s > '9')
		return false;
	v = strtol(s, &end, 10);
	if (*end != '\0' || v < 1 || v > 1000000)
		return false;
	*n = (int) v;
	return true;
}

/*
 * graph_plan
 *		The steps of an upgrade or downgrade to target from the applied flags
 *		of the nodes, in execution order, as the server would run them.
 *		Upgrade: head, heads, a revision, +N, <rev>+N.  Downgrade: base, -N, a
 *		revision, <rev>+N.  *err explains a refusal.
 */
bool
graph_plan(const Graph *g, const char *target, bool upgrade, PlanStep **steps, int *nsteps,
		   char **err)
{
	bool	   *want = calloc(g->n ? g->n : 1, sizeof(bool));
	bool	   *applied = xmalloc(sizeof(bool) * (g->n ? g->n : 1));
	int		   *heads = xmalloc(sizeof(int) * (g->n ? g->n : 1));
	int			ncur = 0;
	int			cur = -1;
	int			i;
	int			count;
	const char *plus = strchr(target, '+');
	bool		ok = true;

	if (want == NULL)
		return false;
	*steps = xmalloc(sizeof(PlanStep) * (g->n ? g->n : 1));
	*nsteps = 0;
	for (i = 0; i < g->n; i++)
	{
		applied[i] = g->nodes[i].applied;
		if (g->nodes[i].current)
		{
			ncur++;
			cur = i;
		}
	}

	if (upgrade)
	{
		if (strcmp(target, "head") == 0 || strcmp(target, "heads") == 0)
		{
			int			nh = graph_heads(g, heads);

			if (nh > 1 && strcmp(target, "head") == 0)
			{
				*err = xasprintf("target \"head\" is ambiguous: the revision graph has %d heads "
								 "(merge them with dbmigrate merge, or name one)", nh);
				ok = false;
			}
			for (i = 0; ok && i < nh; i++)
				mark_ancestors(g, heads[i], want);
		}
		else if (strcmp(target, "base") == 0 || target[0] == '-')
		{
			*err = xasprintf("upgrade does not take \"%s\" (head, heads, a revision, +N, <revision>+N)",
							 target);
			ok = false;
		}
		else
		{
			int			pos = -1;

			if (plus && plus != target)
			{
				char	   *rev = xstrndup(target, (size_t) (plus - target));

				ok = graph_resolve(g, rev, &pos, err);
				free(rev);
			}
			else if (!plus)
			{
				ok = graph_resolve(g, target, &pos, err);
				plus = NULL;
			}
			else if (ncur > 1)
			{
				*err = xasprintf("\"%s\" is ambiguous: %d revisions are current", target, ncur);
				ok = false;
			}
			else
				pos = cur;		/* -1: base */
			if (ok && plus)
			{
				if (!parse_count(plus + 1, &count))
				{
					*err = xasprintf("invalid relative target \"%s\"", target);
					ok = false;
				}
				while (ok && count-- > 0)
				{
					int			next = -1;
					int			nnext = 0;

					for (i = 0; i < g->n; i++)
					{
						const GNode *nd = &g->nodes[i];
						bool		child = pos < 0 ? nd->nparents == 0 : false;

						for (int k = 0; pos >= 0 && k < nd->nparents; k++)
							if (nd->parents[k] == pos)
								child = true;
						if (child)
						{
							next = i;
							nnext++;
						}
					}
					if (nnext != 1)
					{
						*err = nnext == 0 ?
							xasprintf("\"%s\" goes past the head", target) :
							xasprintf("\"%s\" is ambiguous: the path forks into %d revisions", target, nnext);
						ok = false;
					}
					pos = next;
				}
			}
			if (ok)
				mark_ancestors(g, pos, want);
		}
		for (i = 0; ok && i < g->n; i++)
		{
			int			k = g->order[i];

			if (want[k] && !applied[k])
			{
				(*steps)[*nsteps].node = k;
				(*steps)[*nsteps].upgrade = true;
				(*nsteps)++;
			}
		}
	}
	else if (target[0] == '-' && parse_count(target + 1, &count))
	{
		/* undo the single current revision, count times */
		while (ok && count-- > 0)
		{
			int			c = -1;
			int			nc = 0;

			for (i = 0; i < g->n; i++)
			{
				bool		maximal = applied[i];

				for (int k = 0; maximal && k < g->nodes[i].nchildren; k++)
					if (applied[g->nodes[i].children[k]])
						maximal = false;
				if (maximal)
				{
					c = i;
					nc++;
				}
			}
			if (nc != 1)
			{
				*err = nc == 0 ?
					xasprintf("\"%s\" goes below base: fewer revisions are applied", target) :
					xasprintf("\"%s\" is ambiguous: %d revisions are current; name a target", target, nc);
				ok = false;
				break;
			}
			applied[c] = false;
			(*steps)[*nsteps].node = c;
			(*steps)[*nsteps].upgrade = false;
			(*nsteps)++;
		}
	}
	else
	{
		int			pos = -1;

		if (strcmp(target, "base") != 0)
		{
			if (strcmp(target, "head") == 0 || strcmp(target, "heads") == 0 || target[0] == '-' ||
				target[0] == '+')
			{
				*err = xasprintf("downgrade does not take \"%s\" (base, -N, a revision, <revision>+N)",
								 target);
				ok = false;
			}
			else if (plus)
			{
				char	   *rev = xstrndup(target, (size_t) (plus - target));

				ok = graph_resolve(g, rev, &pos, err);
				free(rev);
				if (ok && !parse_count(plus + 1, &count))
				{
					*err = xasprintf("invalid relative target \"%s\"", target);
					ok = false;
				}
				while (ok && count-- > 0)
				{
					if (g->nodes[pos].nchildren != 1)
					{
						*err = xasprintf("\"%s\" cannot be followed: no single child", target);
						ok = false;
					}
					else
						pos = g->nodes[pos].children[0];
				}
			}
			else
				ok = graph_resolve(g, target, &pos, err);
			if (ok && !applied[pos])
			{
				*err = xasprintf("revision \"%s\" is not applied", g->nodes[pos].id);
				ok = false;
			}
			if (ok)
			{
				mark_descendants(g, pos, want);
				want[pos] = false;
			}
		}
		else
			for (i = 0; i < g->n; i++)
				want[i] = true;
		for (i = g->n - 1; ok && i >= 0; i--)
		{
			int			k = g->order[i];

			if (want[k] && applied[k])
			{
				(*steps)[*nsteps].node = k;
				(*steps)[*nsteps].upgrade = false;
				(*nsteps)++;
			}
		}
	}
	free(want);
	free(applied);
	free(heads);
	if (!ok)
	{
		free(*steps);
		*steps = NULL;
		*nsteps = 0;
	}
	return ok;
}

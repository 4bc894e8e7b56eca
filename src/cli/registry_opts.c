/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Options shared by the registry commands (pull, push, login, manifest,
 * inspect docker://) and their progress display: plain lines, or a redrawn
 * per-blob table with a total on a terminal.
 */
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "hoist/build.h"
#include "hoist/store.h"
#include "hoist/util.h"

void cli_registry_init(struct cli_registry *r)
{
	memset(r, 0, sizeof(*r));
	r->progress_mode = "auto";
}

void cli_registry_release(struct cli_registry *r)
{
	hoist_strv_release(&r->insecure);
	free(r->rows);
	r->rows = NULL;
}

int cli_registry_arg(struct cli_registry *r, const char *cmd, int argc, char **argv, int *i)
{
	const char *a = argv[*i];
	const char *v = NULL;
	static const char *const with_value[] = {"--insecure-registry", "--tls-ca", "--progress",
						 "--registries-conf"};

	if (strcmp(a, "--offline") == 0) {
		r->opts.offline = true;
		return 1;
	}

	for (size_t k = 0; k < ARRAY_SIZE(with_value); k++) {
		size_t n = strlen(with_value[k]);
		if (strncmp(a, with_value[k], n) != 0)
			continue;
		if (a[n] == '=') {
			v = a + n + 1;
		} else if (a[n] == '\0') {
			if (*i + 1 >= argc)
				return cli_usage_error(cmd, "option '%s' needs a value", a), -1;
			v = argv[++*i];
		} else {
			continue;
		}
		if (k == 0) {
			hoist_strv_push(&r->insecure, v);
		} else if (k == 1) {
			r->opts.tls_ca = v;
		} else if (k == 3) {
			r->opts.registries_conf = v;
		} else {
			if (strcmp(v, "plain") && strcmp(v, "tty") && strcmp(v, "auto") &&
			    strcmp(v, "quiet"))
				return cli_usage_error(cmd, "unknown progress mode '%s'", v), -1;
			r->progress_mode = v;
		}
		return 1;
	}
	return 0;
}

static int pull_word(const char *v, enum hoist_pull_policy *ret)
{
	if (strcmp(v, "always") == 0 || strcmp(v, "true") == 0)
		*ret = HOIST_PULL_ALWAYS;
	else if (strcmp(v, "missing") == 0 || strcmp(v, "false") == 0)
		*ret = HOIST_PULL_MISSING;
	else if (strcmp(v, "never") == 0)
		*ret = HOIST_PULL_NEVER;
	else
		return -1;
	return 0;
}

int cli_pull_arg(struct cli_registry *r, const char *cmd, int argc, char **argv, int *i)
{
	const char *a = argv[*i];

	if (hoist_startswith(a, "--pull=")) {
		if (pull_word(a + 7, &r->opts.pull) < 0)
			return cli_usage_error(cmd,
					       "unknown --pull value '%s' (never, missing or "
					       "always)",
					       a + 7),
			       -1;
		return 1;
	}
	if (strcmp(a, "--pull") != 0)
		return 0;
	if (*i + 1 < argc && pull_word(argv[*i + 1], &r->opts.pull) == 0)
		++*i;
	else
		r->opts.pull = HOIST_PULL_ALWAYS;
	return 1;
}

/* ---- --cache-from / --cache-to ------------------------------------------ */

void cli_cache_init(struct cli_cache *c)
{
	c->from = hoist_xcalloc(CLI_MAX_CACHE, sizeof(*c->from));
	c->to = hoist_xcalloc(CLI_MAX_CACHE, sizeof(*c->to));
	c->n_from = c->n_to = 0;
}

void cli_cache_release(struct cli_cache *c)
{
	for (size_t k = 0; k < c->n_from; k++)
		hoist_cache_spec_release(&c->from[k]);
	for (size_t k = 0; k < c->n_to; k++)
		hoist_cache_spec_release(&c->to[k]);
	free(c->from);
	free(c->to);
	c->from = c->to = NULL;
	c->n_from = c->n_to = 0;
}

int cli_cache_arg(struct cli_cache *c, const char *cmd, int argc, char **argv, int *i)
{
	const char *v = NULL;
	bool to;
	int r;
	if ((r = cli_opt_value(argc, argv, i, "--cache-from", NULL, &v)) != 0)
		to = false;
	else if ((r = cli_opt_value(argc, argv, i, "--cache-to", NULL, &v)) != 0)
		to = true;
	else
		return 0;
	if (r < 0)
		return cli_usage_error(cmd, "option '%s' needs a value", argv[*i]), -1;
	struct hoist_cache_spec *arr = to ? c->to : c->from;
	size_t *n = to ? &c->n_to : &c->n_from;
	struct hoist_error err = {0};
	if (*n == CLI_MAX_CACHE)
		return cli_usage_error(cmd, "too many %s options",
				       to ? "--cache-to" : "--cache-from"),
		       -1;
	if (hoist_cache_spec_parse(v, to, &arr[*n], &err) < 0)
		return cli_usage_error(cmd, "%s", err.msg), -1;
	(*n)++;
	return 1;
}

/* ---- progress ------------------------------------------------------------ */

static const char *short_digest(const char *d)
{
	return hoist_startswith(d, "sha256:") ? d + 7 : d;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void plain_progress(struct cli_registry *r, const struct hoist_registry_progress *p)
{
	const char *what = NULL;
	switch (p->event) {
	case HOIST_REGISTRY_EV_START:
		what = "transferring";
		break;
	case HOIST_REGISTRY_EV_DONE:
		what = "done";
		break;
	case HOIST_REGISTRY_EV_EXISTS:
		what = "already exists";
		break;
	case HOIST_REGISTRY_EV_MOUNTED:
		what = "mounted";
		break;
	case HOIST_REGISTRY_EV_RETRY:
		what = "retrying";
		break;
	case HOIST_REGISTRY_EV_MANIFEST:
		what = "manifest";
		break;
	case HOIST_REGISTRY_EV_BYTES:
		return;
	}
	fprintf(stderr, "%.12s: %s", *p->digest ? short_digest(p->digest) : "registry", what);
	if (p->event == HOIST_REGISTRY_EV_START && p->total)
		fprintf(stderr, " (%llu bytes)", (unsigned long long)p->total);
	if (p->message)
		fprintf(stderr, " (%s)", p->message);
	fputc('\n', stderr);
	(void)r;
}

static struct cli_progress_row *row_for(struct cli_registry *r, const char *digest)
{
	for (size_t i = 0; i < r->n_rows; i++)
		if (strcmp(r->rows[i].digest, digest) == 0)
			return &r->rows[i];
	r->rows = hoist_xrealloc(r->rows, (r->n_rows + 1) * sizeof(*r->rows));
	struct cli_progress_row *row = &r->rows[r->n_rows++];
	memset(row, 0, sizeof(*row));
	snprintf(row->digest, sizeof(row->digest), "%s", digest);
	return row;
}

static void tty_redraw(struct cli_registry *r, bool force)
{
	double t = now_s();
	if (!force && t - r->last_draw < 0.1)
		return;
	r->last_draw = t;
	if (r->drawn)
		fprintf(stderr, "\033[%zuA", r->drawn);
	uint64_t done = 0, total = 0;
	for (size_t i = 0; i < r->n_rows; i++) {
		const struct cli_progress_row *row = &r->rows[i];
		done += row->done;
		total += row->total;
		fprintf(stderr, "\r\033[K%.12s  %-14s", short_digest(row->digest), row->state);
		if (row->total)
			fprintf(stderr, " %6.1f/%.1f MiB", row->done / 1048576.0,
				row->total / 1048576.0);
		fputc('\n', stderr);
	}
	fprintf(stderr, "\r\033[Ktotal         %6.1f/%.1f MiB\n", done / 1048576.0,
		total / 1048576.0);
	r->drawn = r->n_rows + 1;
	fflush(stderr);
}

static void tty_progress(struct cli_registry *r, const struct hoist_registry_progress *p)
{
	if (!*p->digest || p->event == HOIST_REGISTRY_EV_MANIFEST)
		return;
	struct cli_progress_row *row = row_for(r, p->digest);
	const char *state = row->state;
	switch (p->event) {
	case HOIST_REGISTRY_EV_START:
		state = "transferring";
		break;
	case HOIST_REGISTRY_EV_DONE:
		state = "done";
		break;
	case HOIST_REGISTRY_EV_EXISTS:
		state = "exists";
		break;
	case HOIST_REGISTRY_EV_MOUNTED:
		state = "mounted";
		break;
	case HOIST_REGISTRY_EV_RETRY:
		state = "retrying";
		break;
	default:
		break;
	}
	snprintf(row->state, sizeof(row->state), "%s", state);
	row->done = p->done;
	if (p->total)
		row->total = p->total;
	tty_redraw(r, p->event != HOIST_REGISTRY_EV_BYTES);
}

static void on_progress(const struct hoist_registry_progress *p, void *ud)
{
	struct cli_registry *r = ud;
	if (r->tty)
		tty_progress(r, p);
	else
		plain_progress(r, p);
}

const struct hoist_registry_opts *cli_registry_finish(struct cli_registry *r)
{
	if (r->insecure.n)
		r->opts.insecure = (const char *const *)r->insecure.v;
	if (strcmp(r->progress_mode, "quiet") != 0) {
		r->tty = strcmp(r->progress_mode, "tty") == 0 ||
			 (strcmp(r->progress_mode, "auto") == 0 && isatty(STDERR_FILENO));
		r->opts.progress = on_progress;
		r->opts.progress_userdata = r;
	}
	return &r->opts;
}

void cli_registry_done(struct cli_registry *r)
{
	if (r->tty && r->n_rows)
		tty_redraw(r, true);
}

const char *cli_registry_options_help(void)
{
	return "  --insecure-registry HOST  allow plain HTTP and unverified TLS for HOST\n"
	       "  --tls-ca FILE             also trust the CA certificates in FILE (PEM)\n"
	       "  --progress MODE           plain, tty, quiet or auto (default)\n"
	       "  --registries-conf FILE    read only FILE as registries.conf (mirrors,\n"
	       "                            rewrites, aliases; see docs/airgap.md)\n"
	       "  --offline                 never contact a registry (also HOIST_OFFLINE=1)\n";
}

struct hoist_store *cli_registry_store_open(void)
{
	_cleanup_free_ char *root = hoist_store_default_root(hoist_global.root);
	struct hoist_store *s = NULL;
	struct hoist_error err = {0};

	if (hoist_store_open(root, &s, &err) < 0) {
		cli_fail(&err);
		return NULL;
	}
	return s;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * registries.conf: reading the files (toml.c does the syntax, this file the
 * meaning and the merge of drop-ins) and turning an image name into the
 * list of places to pull it from. The rules follow
 * containers-registries.conf(5); where hoist differs it is said below and
 * in docs/airgap.md.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hoist/ref.h"
#include "hoist/regconf.h"
#include "toml.h"

#define SYSTEM_CONF "/etc/containers/registries.conf"
#define SYSTEM_CONF_DIR "/etc/containers/registries.conf.d"
#define MAX_NAME 255 /* a prefix, location or alias */

void hoist_regconf_init(struct hoist_regconf *c)
{
	memset(c, 0, sizeof(*c));
}

static void registry_release(struct hoist_regconf_registry *r)
{
	free(r->prefix);
	free(r->location);
	for (size_t i = 0; i < r->n_mirrors; i++)
		free(r->mirrors[i].location);
	free(r->mirrors);
	memset(r, 0, sizeof(*r));
}

void hoist_regconf_release(struct hoist_regconf *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_regs; i++)
		registry_release(&c->regs[i]);
	free(c->regs);
	for (size_t i = 0; i < c->n_aliases; i++) {
		free(c->aliases[i].name);
		free(c->aliases[i].value);
	}
	free(c->aliases);
	hoist_strv_release(&c->search);
	hoist_strv_release(&c->files);
	memset(c, 0, sizeof(*c));
}

/* ---- names ----------------------------------------------------------------- */

/* A reference names its registry: a first component before a '/' with a
 * '.' or ':', or "localhost" (Docker's rule). */
static bool ref_has_host(const char *s)
{
	size_t n = strcspn(s, "/");
	if (!s[n])
		return false;
	return (n == 9 && strncmp(s, "localhost", 9) == 0) || memchr(s, '.', n) ||
	       memchr(s, ':', n);
}

/* A prefix or location starts with a registry host (it may be only one). */
static bool starts_with_host(const char *s)
{
	size_t n = strcspn(s, "/");
	if (n == 9 && strncmp(s, "localhost", 9) == 0)
		return true;
	return s[n] == '/' ? memchr(s, '.', n) || memchr(s, ':', n)
			   : strchr(s, '.') || strchr(s, ':');
}

/* Characters a prefix or location may hold (a reference, no scheme). */
static const char *bad_name(const char *s, bool wildcard_ok)
{
	if (!*s)
		return "is empty";
	if (strlen(s) > MAX_NAME)
		return "is too long";
	if (strstr(s, "://"))
		return "must not have a scheme (write 'host/path', not 'https://host/path')";
	if (hoist_startswith(s, "*.")) {
		if (!wildcard_ok)
			return "may not be a wildcard";
		if (strchr(s + 2, '/') || strchr(s + 2, '*') || !s[2])
			return "may only be '*.' followed by a domain";
		s += 2;
	}
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr("._-:/@[]", *p)))
			return "holds a character that no image reference has";
	if (s[strlen(s) - 1] == '/')
		return "ends with '/'";
	return NULL;
}

/* ---- parsing one file -------------------------------------------------------- */

enum table { T_ROOT, T_REGISTRY, T_MIRROR, T_ALIASES };

struct pstate {
	struct hoist_regconf *c;
	const char *file;
	enum table table;
	struct hoist_regconf_registry *regs; /* this file's, merged at the end */
	size_t n_regs;
	bool aliases_seen;
	bool search_set;
	struct hoist_strv search;
	int search_line;
};

static int on_table(void *ud, const char *name, bool array, int line, struct hoist_error *err)
{
	struct pstate *ps = ud;

	if (strcmp(name, "registry") == 0 && array) {
		if (ps->n_regs >= HOIST_REGCONF_MAX_REGISTRIES)
			return hoist_error_set_at(err, -EBADMSG, ps->file, line, 0,
						  "more than %d [[registry]] tables",
						  HOIST_REGCONF_MAX_REGISTRIES);
		ps->regs = hoist_xrealloc(ps->regs, (ps->n_regs + 1) * sizeof(*ps->regs));
		struct hoist_regconf_registry *r = &ps->regs[ps->n_regs++];
		memset(r, 0, sizeof(*r));
		r->file = ps->file;
		r->line = line;
		ps->table = T_REGISTRY;
	} else if (strcmp(name, "registry.mirror") == 0 && array) {
		if (!ps->n_regs)
			return hoist_error_set_at(err, -EBADMSG, ps->file, line, 0,
						  "[[registry.mirror]] before any [[registry]]");
		struct hoist_regconf_registry *r = &ps->regs[ps->n_regs - 1];
		if (r->n_mirrors >= HOIST_REGCONF_MAX_MIRRORS)
			return hoist_error_set_at(err, -EBADMSG, ps->file, line, 0,
						  "more than %d mirrors for one [[registry]]",
						  HOIST_REGCONF_MAX_MIRRORS);
		r->mirrors = hoist_xrealloc(r->mirrors, (r->n_mirrors + 1) * sizeof(*r->mirrors));
		struct hoist_regconf_mirror *m = &r->mirrors[r->n_mirrors++];
		memset(m, 0, sizeof(*m));
		m->line = line;
		ps->table = T_MIRROR;
	} else if (strcmp(name, "aliases") == 0 && !array) {
		if (ps->aliases_seen)
			return hoist_error_set_at(err, -EBADMSG, ps->file, line, 0,
						  "[aliases] appears twice in this file");
		ps->aliases_seen = true;
		ps->table = T_ALIASES;
	} else if (hoist_startswith(name, "registries.")) {
		return hoist_error_set_at(
		    err, -EBADMSG, ps->file, line, 0,
		    "[%s] is the version 1 format, which hoist does not read: "
		    "use unqualified-search-registries and [[registry]] tables",
		    name);
	} else {
		return hoist_error_set_at(err, -EBADMSG, ps->file, line, 0, "unknown table %s%s%s",
					  array ? "[[" : "[", name, array ? "]]" : "]");
	}
	return 0;
}

static int want(struct pstate *ps, const char *key, const struct toml_value *v, enum toml_type t,
		int line, struct hoist_error *err)
{
	static const char *const names[] = {"a string", "true or false", "an array of strings"};
	if (v->type == t)
		return 0;
	return hoist_error_set_at(err, -EBADMSG, ps->file, line, 0, "'%s' must be %s", key,
				  names[t]);
}

static int name_value(struct pstate *ps, const char *key, const struct toml_value *v,
		      bool wildcard_ok, int line, char **dst, struct hoist_error *err)
{
	int r = want(ps, key, v, TOML_STRING, line, err);
	if (r < 0)
		return r;
	const char *why = bad_name(v->str, wildcard_ok);
	if (why)
		return hoist_error_set_at(err, -EBADMSG, ps->file, line, 0, "%s '%s' %s", key,
					  v->str, why);
	free(*dst);
	*dst = hoist_xstrdup(v->str);
	return 0;
}

static int root_key(struct pstate *ps, const char *key, const struct toml_value *v, int line,
		    struct hoist_error *err)
{
	int r;
	if (strcmp(key, "unqualified-search-registries") == 0) {
		r = want(ps, key, v, TOML_ARRAY, line, err);
		if (r < 0)
			return r;
		for (size_t i = 0; i < v->n; i++) {
			const char *why = bad_name(v->items[i], false);
			if (!why && strchr(v->items[i], '/'))
				why = "must be a host[:port] without a path";
			if (why)
				return hoist_error_set_at(err, -EBADMSG, ps->file, line, 0,
							  "search registry '%s' %s", v->items[i],
							  why);
			hoist_strv_push(&ps->search, v->items[i]);
		}
		ps->search_set = true;
		ps->search_line = line;
		return 0;
	}
	if (strcmp(key, "short-name-mode") == 0) {
		r = want(ps, key, v, TOML_STRING, line, err);
		if (r < 0)
			return r;
		/* hoist never prompts: every mode acts as "permissive" does
		 * without a terminal (docs/airgap.md). */
		if (*v->str && strcmp(v->str, "enforcing") && strcmp(v->str, "permissive") &&
		    strcmp(v->str, "disabled"))
			return hoist_error_set_at(err, -EBADMSG, ps->file, line, 0,
						  "unknown short-name-mode '%s'", v->str);
		return 0;
	}
	/* Known to containers/image, nothing for hoist to do (credentials come
	 * from the Docker config; there is no additional layer store). */
	if (strcmp(key, "credential-helpers") == 0)
		return want(ps, key, v, TOML_ARRAY, line, err);
	if (strcmp(key, "additional-layer-store-auth-helper") == 0)
		return want(ps, key, v, TOML_STRING, line, err);
	return hoist_error_set_at(err, -EBADMSG, ps->file, line, 0, "unknown key '%s'", key);
}

static int registry_key(struct pstate *ps, const char *key, const struct toml_value *v, int line,
			struct hoist_error *err)
{
	struct hoist_regconf_registry *reg = &ps->regs[ps->n_regs - 1];
	int r;

	if (strcmp(key, "prefix") == 0)
		return name_value(ps, key, v, true, line, &reg->prefix, err);
	if (strcmp(key, "location") == 0)
		return name_value(ps, key, v, false, line, &reg->location, err);
	bool *b = strcmp(key, "insecure") == 0		      ? &reg->insecure
		  : strcmp(key, "blocked") == 0		      ? &reg->blocked
		  : strcmp(key, "mirror-by-digest-only") == 0 ? &reg->mirror_by_digest_only
							      : NULL;
	if (!b)
		return hoist_error_set_at(err, -EBADMSG, ps->file, line, 0,
					  "unknown key '%s' in [[registry]]", key);
	r = want(ps, key, v, TOML_BOOL, line, err);
	if (r < 0)
		return r;
	*b = v->b;
	return 0;
}

static int mirror_key(struct pstate *ps, const char *key, const struct toml_value *v, int line,
		      struct hoist_error *err)
{
	struct hoist_regconf_registry *reg = &ps->regs[ps->n_regs - 1];
	struct hoist_regconf_mirror *m = &reg->mirrors[reg->n_mirrors - 1];
	int r;

	if (strcmp(key, "location") == 0)
		return name_value(ps, key, v, false, line, &m->location, err);
	if (strcmp(key, "insecure") == 0) {
		r = want(ps, key, v, TOML_BOOL, line, err);
		if (r >= 0)
			m->insecure = v->b;
		return r;
	}
	if (strcmp(key, "pull-from-mirror") == 0) {
		r = want(ps, key, v, TOML_STRING, line, err);
		if (r < 0)
			return r;
		if (strcmp(v->str, "all") == 0 || !*v->str)
			m->pull_from = HOIST_PULL_FROM_ALL;
		else if (strcmp(v->str, "digest-only") == 0)
			m->pull_from = HOIST_PULL_FROM_DIGEST;
		else if (strcmp(v->str, "tag-only") == 0)
			m->pull_from = HOIST_PULL_FROM_TAG;
		else
			return hoist_error_set_at(err, -EBADMSG, ps->file, line, 0,
						  "pull-from-mirror must be 'all', 'digest-only' "
						  "or 'tag-only', not '%s'",
						  v->str);
		return 0;
	}
	return hoist_error_set_at(err, -EBADMSG, ps->file, line, 0,
				  "unknown key '%s' in [[registry.mirror]]", key);
}

static void alias_set(struct hoist_regconf *c, const char *name, const char *value,
		      const char *file, int line)
{
	for (size_t i = 0; i < c->n_aliases; i++) {
		if (strcmp(c->aliases[i].name, name) != 0)
			continue;
		if (!*value) { /* "" erases an alias of an earlier file */
			free(c->aliases[i].name);
			free(c->aliases[i].value);
			c->aliases[i] = c->aliases[--c->n_aliases];
			return;
		}
		free(c->aliases[i].value);
		c->aliases[i].value = hoist_xstrdup(value);
		c->aliases[i].file = file;
		c->aliases[i].line = line;
		return;
	}
	if (!*value)
		return;
	c->aliases = hoist_xrealloc(c->aliases, (c->n_aliases + 1) * sizeof(*c->aliases));
	c->aliases[c->n_aliases++] = (struct hoist_regconf_alias){
	    .name = hoist_xstrdup(name), .value = hoist_xstrdup(value), .file = file, .line = line};
}

static int alias_key(struct pstate *ps, const char *key, const struct toml_value *v, int line,
		     struct hoist_error *err)
{
	int r = want(ps, key, v, TOML_STRING, line, err);
	if (r < 0)
		return r;
	const char *why = bad_name(key, false);
	if (!why && ref_has_host(key))
		why = "is not a short name (it starts with a registry host)";
	if (!why && (strchr(key, '@') || strchr(key, ':')))
		why = "may not have a tag or digest";
	if (why)
		return hoist_error_set_at(err, -EBADMSG, ps->file, line, 0, "alias '%s' %s", key,
					  why);
	if (*v->str) {
		why = bad_name(v->str, false);
		if (!why && !starts_with_host(v->str))
			why = "is not fully qualified (it must start with a registry host)";
		const char *last = strrchr(v->str, '/');
		if (!why && (strchr(v->str, '@') || !last || strchr(last, ':')))
			why = "may not have a tag or digest";
		if (why)
			return hoist_error_set_at(err, -EBADMSG, ps->file, line, 0,
						  "alias '%s' = '%s': the value %s", key, v->str,
						  why);
	}
	if (ps->c->n_aliases >= HOIST_REGCONF_MAX_ALIASES)
		return hoist_error_set_at(err, -EBADMSG, ps->file, line, 0, "more than %d aliases",
					  HOIST_REGCONF_MAX_ALIASES);
	alias_set(ps->c, key, v->str, ps->file, line);
	return 0;
}

static int on_keyval(void *ud, const char *key, const struct toml_value *v, int line,
		     struct hoist_error *err)
{
	struct pstate *ps = ud;
	switch (ps->table) {
	case T_ROOT:
		return root_key(ps, key, v, line, err);
	case T_REGISTRY:
		return registry_key(ps, key, v, line, err);
	case T_MIRROR:
		return mirror_key(ps, key, v, line, err);
	case T_ALIASES:
		break;
	}
	return alias_key(ps, key, v, line, err);
}

/* Defaults and checks of one [[registry]] once its table is complete. */
static int registry_finish(struct pstate *ps, struct hoist_regconf_registry *r,
			   struct hoist_error *err)
{
	if (!r->prefix && !r->location)
		return hoist_error_set_at(err, -EBADMSG, ps->file, r->line, 0,
					  "[[registry]] has neither prefix nor location");
	if (!r->prefix)
		r->prefix = hoist_xstrdup(r->location);
	bool wild = hoist_startswith(r->prefix, "*.");
	if (!wild && !starts_with_host(r->prefix))
		return hoist_error_set_at(err, -EBADMSG, ps->file, r->line, 0,
					  "prefix '%s' does not start with a registry host",
					  r->prefix);
	if (!r->location)
		r->location = hoist_xstrdup(wild ? "" : r->prefix);
	if (*r->location && !starts_with_host(r->location))
		return hoist_error_set_at(err, -EBADMSG, ps->file, r->line, 0,
					  "location '%s' does not start with a registry host",
					  r->location);
	for (size_t i = 0; i < r->n_mirrors; i++) {
		const struct hoist_regconf_mirror *m = &r->mirrors[i];
		if (!m->location)
			return hoist_error_set_at(err, -EBADMSG, ps->file, m->line, 0,
						  "[[registry.mirror]] has no location");
		if (!starts_with_host(m->location))
			return hoist_error_set_at(
			    err, -EBADMSG, ps->file, m->line, 0,
			    "mirror location '%s' does not start with a registry host",
			    m->location);
	}
	for (struct hoist_regconf_registry *o = ps->regs; o < r; o++)
		if (strcmp(o->prefix, r->prefix) == 0)
			return hoist_error_set_at(err, -EBADMSG, ps->file, r->line, 0,
						  "prefix '%s' is already used at line %d",
						  r->prefix, o->line);
	return 0;
}

/* This file's [[registry]] tables replace those of earlier files by prefix. */
static void merge_registries(struct hoist_regconf *c, struct pstate *ps)
{
	for (size_t i = 0; i < ps->n_regs; i++) {
		struct hoist_regconf_registry *r = &ps->regs[i];
		size_t k;
		for (k = 0; k < c->n_regs; k++)
			if (strcmp(c->regs[k].prefix, r->prefix) == 0)
				break;
		if (k == c->n_regs) {
			if (c->n_regs >= HOIST_REGCONF_MAX_REGISTRIES)
				continue; /* bounded: checked per file, capped in total */
			c->regs = hoist_xrealloc(c->regs, (c->n_regs + 1) * sizeof(*c->regs));
			c->n_regs++;
		} else {
			registry_release(&c->regs[k]);
		}
		c->regs[k] = *r;
		memset(r, 0, sizeof(*r));
	}
}

int hoist_regconf_parse(struct hoist_regconf *c, const char *data, size_t len, const char *file,
			struct hoist_error *err)
{
	struct pstate ps = {.c = c};
	static const struct toml_handler h = {.table = on_table, .keyval = on_keyval};
	int r;

	if (c->files.n >= HOIST_REGCONF_MAX_FILES)
		return hoist_error_set(err, -E2BIG, "more than %d registries.conf files",
				       HOIST_REGCONF_MAX_FILES);
	hoist_strv_push(&c->files, file ? file : "registries.conf");
	ps.file = c->files.v[c->files.n - 1];
	r = toml_parse(data, len, ps.file, &h, &ps, err);
	for (size_t i = 0; r >= 0 && i < ps.n_regs; i++)
		r = registry_finish(&ps, &ps.regs[i], err);
	if (r >= 0) {
		merge_registries(c, &ps);
		if (ps.search_set) {
			hoist_strv_release(&c->search);
			c->search = ps.search;
			memset(&ps.search, 0, sizeof(ps.search));
			c->search_file = ps.file;
			c->search_line = ps.search_line;
		}
	}
	for (size_t i = 0; i < ps.n_regs; i++)
		registry_release(&ps.regs[i]);
	free(ps.regs);
	hoist_strv_release(&ps.search);
	return r < 0 ? r : 0;
}

/* ---- loading the files ------------------------------------------------------- */

static int load_file(struct hoist_regconf *c, const char *path, bool required,
		     struct hoist_error *err)
{
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	int r = hoist_read_file_at(AT_FDCWD, path, TOML_MAX_SIZE, &data, &len, err);
	if (r == -ENOENT && !required) {
		hoist_error_clear(err);
		return 0;
	}
	if (r < 0)
		return hoist_error_prefix(err, "registries.conf");
	return hoist_regconf_parse(c, data, len, path, err);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.conf files of a drop-in directory, in name order. */
static int load_dir(struct hoist_regconf *c, const char *dir, struct hoist_error *err)
{
	DIR *d = opendir(dir);
	_cleanup_strv_ struct hoist_strv names = HOIST_STRV_INIT;
	struct dirent *e;
	int r = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)) && names.n <= HOIST_REGCONF_MAX_FILES)
		if (e->d_name[0] != '.' && hoist_endswith(e->d_name, ".conf"))
			hoist_strv_push(&names, e->d_name);
	closedir(d);
	if (names.n > HOIST_REGCONF_MAX_FILES)
		return hoist_error_set(err, -E2BIG, "more than %d files in '%s'",
				       HOIST_REGCONF_MAX_FILES, dir);
	if (names.n)
		qsort(names.v, names.n, sizeof(*names.v), cmp_str);
	for (size_t i = 0; r >= 0 && i < names.n; i++) {
		_cleanup_free_ char *p = hoist_xasprintf("%s/%s", dir, names.v[i]);
		r = load_file(c, p, false, err);
	}
	return r;
}

int hoist_regconf_load(struct hoist_regconf *c, const char *path, struct hoist_error *err)
{
	const char *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	_cleanup_free_ char *user = NULL, *user_dir = NULL;
	struct stat st;
	int r;

	if (!path)
		path = getenv("HOIST_REGISTRIES_CONF");
	if (path) /* one file, alone: what a test or an admin names is all there is */
		return *path && strcmp(path, "/dev/null") ? load_file(c, path, true, err) : 0;
	if (xdg && *xdg == '/')
		user = hoist_xasprintf("%s/containers/registries.conf", xdg);
	else if (home && *home == '/')
		user = hoist_xasprintf("%s/.config/containers/registries.conf", home);
	if (user)
		user_dir = hoist_xasprintf("%s.d", user);
	if (user && stat(user, &st) == 0) {
		/* As containers/image: a user file replaces the system file and
		 * its drop-in directory. */
		r = load_file(c, user, true, err);
	} else {
		r = load_file(c, SYSTEM_CONF, false, err);
		if (r >= 0)
			r = load_dir(c, SYSTEM_CONF_DIR, err);
	}
	if (r >= 0 && user_dir)
		r = load_dir(c, user_dir, err);
	return r;
}

/* ---- resolving a name -------------------------------------------------------- */

void hoist_pull_plan_release(struct hoist_pull_plan *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++) {
		free(p->v[i].name);
		free(p->v[i].ref);
	}
	free(p->v);
	free(p->name);
	memset(p, 0, sizeof(*p));
}

/*
 * How much of `ref` (a normalized name) the prefix matches, 0 for nothing.
 * A plain prefix must be followed by the end or a separator: '/', '@', and
 * ':' only after a path (after a bare host, ':' starts a port, another
 * host). A wildcard "*.example.com" matches the host part of a name whose
 * host (port aside) ends in ".example.com".
 */
static size_t prefix_match(const char *ref, const char *prefix)
{
	size_t hostlen = strcspn(ref, "/");
	if (hoist_startswith(prefix, "*.")) {
		const char *dom = prefix + 1; /* ".example.com" */
		size_t hl = strcspn(ref, ":/"), dl = strlen(dom);
		if (hl <= dl || strncmp(ref + hl - dl, dom, dl) != 0)
			return 0;
		return hostlen;
	}
	size_t n = strlen(prefix);
	if (strncmp(ref, prefix, n) != 0)
		return 0;
	char next = ref[n];
	if (next == '\0' || next == '/' || next == '@')
		return n;
	if (next == ':' && n > hostlen)
		return n;
	return 0;
}

static const struct hoist_regconf_registry *find_registry(const struct hoist_regconf *c,
							  const char *ref, size_t *ret_len)
{
	const struct hoist_regconf_registry *best = NULL;
	size_t best_len = 0;
	bool best_wild = false;

	for (size_t i = 0; c && i < c->n_regs; i++) {
		size_t n = prefix_match(ref, c->regs[i].prefix);
		bool wild = hoist_startswith(c->regs[i].prefix, "*.");
		/* Longest wins; an exact prefix beats a wildcard of the same length. */
		if (n && (n > best_len || (n == best_len && best_wild && !wild))) {
			best = &c->regs[i];
			best_len = n;
			best_wild = wild;
		}
	}
	*ret_len = best_len;
	return best;
}

static int add_source(struct hoist_pull_plan *p, const char *name, const char *location,
		      const char *rest, bool insecure, bool mirror, const char *file, int line,
		      struct hoist_error *err)
{
	_cleanup_free_ char *raw = hoist_xasprintf("%s%s", location, rest);
	struct hoist_ref rf = {0};
	struct hoist_error e2 = {0};

	if (hoist_ref_parse(raw, &rf, &e2) < 0)
		return hoist_error_set(err, -EINVAL,
				       "%s:%d: '%s' rewrites '%s' to '%s', which is no valid "
				       "reference: %s",
				       file, line, location, name, raw, e2.msg);
	p->v = hoist_xrealloc(p->v, (p->n + 1) * sizeof(*p->v));
	p->v[p->n++] = (struct hoist_pull_source){.name = hoist_xstrdup(name),
						  .ref = hoist_ref_string(&rf),
						  .insecure = insecure,
						  .mirror = mirror,
						  .file = file,
						  .line = line};
	hoist_ref_release(&rf);
	return 0;
}

/* The sources of one fully-qualified logical name. */
static int plan_name(const struct hoist_regconf *c, const char *logical, struct hoist_pull_plan *p,
		     struct hoist_error *err)
{
	struct hoist_ref rf = {0};
	size_t mlen;
	int r = hoist_ref_parse(logical, &rf, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *name = hoist_ref_string(&rf);
	bool by_digest = rf.digest != NULL;
	hoist_ref_release(&rf);

	const struct hoist_regconf_registry *reg = find_registry(c, name, &mlen);
	if (!reg)
		return add_source(p, name, name, "", false, false, NULL, 0, err);
	if (reg->blocked)
		return hoist_error_set(err, -EACCES,
				       "'%s' is blocked by %s:%d ([[registry]] prefix '%s')", name,
				       reg->file, reg->line, reg->prefix);
	const char *rest = name + mlen;
	for (size_t i = 0; i < reg->n_mirrors; i++) {
		const struct hoist_regconf_mirror *m = &reg->mirrors[i];
		enum hoist_regconf_pull_from pf =
		    reg->mirror_by_digest_only ? HOIST_PULL_FROM_DIGEST : m->pull_from;
		if ((pf == HOIST_PULL_FROM_DIGEST && !by_digest) ||
		    (pf == HOIST_PULL_FROM_TAG && by_digest))
			continue;
		r = add_source(p, name, m->location, rest, m->insecure, true, reg->file, m->line,
			       err);
		if (r < 0)
			return r;
	}
	if (!*reg->location) /* a wildcard without location: the name as it is */
		return add_source(p, name, name, "", reg->insecure, false, reg->file, reg->line,
				  err);
	return add_source(p, name, reg->location, rest, reg->insecure, false, reg->file, reg->line,
			  err);
}

int hoist_regconf_plan(const struct hoist_regconf *c, const char *ref, struct hoist_pull_plan *ret,
		       struct hoist_error *err)
{
	struct hoist_ref rf = {0};
	int r;

	memset(ret, 0, sizeof(*ret));
	r = hoist_ref_parse(ref, &rf, err);
	if (r < 0)
		return r;
	ret->name = hoist_ref_string(&rf);
	_cleanup_free_ char *suffix =
	    hoist_xasprintf("%s%s%s%s", rf.tag ? ":" : "", rf.tag ? rf.tag : "",
			    rf.digest ? "@" : "", rf.digest ? rf.digest : "");
	hoist_ref_release(&rf);

	if (ref_has_host(ref) || !c)
		return plan_name(c, ret->name, ret, err);
	/* A short name: the repository as written, without tag or digest. */
	size_t n = strcspn(ref, "@");
	const char *slash = memrchr(ref, '/', n);
	const char *colon =
	    memchr(slash ? slash : ref, ':', n - (size_t)((slash ? slash : ref) - ref));
	_cleanup_free_ char *written = hoist_xstrndup(ref, colon ? (size_t)(colon - ref) : n);
	for (size_t i = 0; i < c->n_aliases; i++)
		if (strcmp(c->aliases[i].name, written) == 0) {
			_cleanup_free_ char *full =
			    hoist_xasprintf("%s%s", c->aliases[i].value, suffix);
			r = plan_name(c, full, ret, err);
			return r < 0 ? hoist_error_prefix(err, "alias '%s' (%s:%d)", written,
							  c->aliases[i].file, c->aliases[i].line)
				     : 0;
		}
	if (!c->search.n)
		return plan_name(c, ret->name, ret, err);
	for (size_t i = 0; i < c->search.n; i++) {
		_cleanup_free_ char *full =
		    hoist_xasprintf("%s/%s%s", c->search.v[i], written, suffix);
		r = plan_name(c, full, ret, err);
		if (r < 0)
			return r;
	}
	return 0;
}

char *hoist_pull_plan_describe(const struct hoist_pull_plan *p)
{
	struct hoist_buf b = HOIST_BUF_INIT;
	for (size_t i = 0; i < p->n; i++)
		hoist_buf_addf(&b, "%s%s%s", i ? ", " : "", p->v[i].ref,
			       p->v[i].mirror ? " (mirror)" : "");
	hoist_buf_adds(&b, "");
	return hoist_buf_detach(&b, NULL);
}

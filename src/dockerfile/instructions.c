/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Typed instructions from the node tree, following BuildKit's
 * frontend/dockerfile/instructions (parse.go, bflag.go). Messages match
 * BuildKit's where users may grep for them.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "hoist/instructions.h"

/* ---- flags (BFlags) -------------------------------------------------- */

enum flag_type { FLAG_STRING, FLAG_BOOL, FLAG_STRINGS };

struct flag_spec {
	const char *name;
	enum flag_type type;
};

struct flag_val {
	bool set;
	bool b;
	char *s;
	struct hoist_strv list;
};

/*
 * Parse node->flags against specs. Values land in vals (parallel to specs).
 * Errors mirror BFlags.Parse.
 */
static int parse_flags(const struct hoist_df_node *node, const struct flag_spec *specs,
		       size_t n_specs, struct flag_val *vals, const char *file,
		       struct hoist_error *err)
{
	for (size_t i = 0; i < node->n_flags && node->flags && node->flags[i]; i++) {
		const char *arg = node->flags[i];
		if (!hoist_startswith(arg, "--"))
			return hoist_error_set_at(err, -EINVAL, file, node->start_line, 0,
						  "arg should start with -- : %s", arg);
		if (strcmp(arg, "--") == 0)
			return hoist_error_set_at(err, -EINVAL, file, node->start_line, 0,
						  "bad flag: --");
		const char *name = arg + 2;
		const char *eq = strchr(name, '=');
		size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
		const char *value = eq ? eq + 1 : NULL;
		size_t k;
		for (k = 0; k < n_specs; k++)
			if (strlen(specs[k].name) == nlen &&
			    strncmp(specs[k].name, name, nlen) == 0)
				break;
		if (k == n_specs)
			return hoist_error_set_at(err, -EINVAL, file, node->start_line, 0,
						  "unknown flag: %.*s", (int)nlen, name);
		struct flag_val *v = &vals[k];
		if (v->set && specs[k].type != FLAG_STRINGS)
			return hoist_error_set_at(err, -EINVAL, file, node->start_line, 0,
						  "duplicate flag specified: %s", specs[k].name);
		v->set = true;
		switch (specs[k].type) {
		case FLAG_BOOL:
			if (!value || strcasecmp(value, "true") == 0 || value[0] == '\0')
				v->b = true;
			else if (strcasecmp(value, "false") == 0)
				v->b = false;
			else
				return hoist_error_set_at(
				    err, -EINVAL, file, node->start_line, 0,
				    "expecting boolean value for flag %s, not: %s", specs[k].name,
				    value);
			break;
		case FLAG_STRING:
			if (!value)
				return hoist_error_set_at(err, -EINVAL, file, node->start_line, 0,
							  "missing a value on flag: %s",
							  specs[k].name);
			v->s = hoist_xstrdup(value);
			break;
		case FLAG_STRINGS:
			if (!value)
				return hoist_error_set_at(err, -EINVAL, file, node->start_line, 0,
							  "missing a value on flag: %s",
							  specs[k].name);
			hoist_strv_push(&v->list, value);
			break;
		}
	}
	return 0;
}

static void flag_vals_release(struct flag_val *vals, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(vals[i].s);
		hoist_strv_release(&vals[i].list);
	}
}

/* ---- helpers ---------------------------------------------------------- */

static size_t count_args(const struct hoist_df_node *node)
{
	size_t n = 0;
	for (const struct hoist_df_node *a = node->next; a; a = a->next)
		n++;
	return n;
}

static void collect_args(const struct hoist_df_node *node, struct hoist_strv *out)
{
	for (const struct hoist_df_node *a = node->next; a; a = a->next)
		hoist_strv_push(out, a->value ? a->value : "");
}

void hoist_instr_release(struct hoist_instr *i)
{
	if (!i)
		return;
	free(i->original);
	free(i->image);
	free(i->stage_name);
	free(i->platform);
	hoist_strv_release(&i->srcs);
	free(i->dest);
	free(i->from);
	free(i->chown);
	free(i->chmod);
	hoist_strv_release(&i->excludes);
	free(i->checksum);
	hoist_strv_release(&i->mounts);
	free(i->network);
	free(i->security);
	hoist_strv_release(&i->args);
	for (size_t k = 0; k < i->n_kvs; k++) {
		free(i->kvs[k].key);
		free(i->kvs[k].value);
	}
	free(i->kvs);
	free(i->arg);
	hoist_strv_release(&i->health.test);
	for (size_t k = 0; k < i->n_heredocs; k++) {
		free(i->heredocs[k].name);
		free(i->heredocs[k].content);
	}
	free(i->heredocs);
	memset(i, 0, sizeof(*i));
}

static void push_kv(struct hoist_instr *i, const char *key, const char *value)
{
	i->kvs = hoist_xrealloc(i->kvs, (i->n_kvs + 1) * sizeof(*i->kvs));
	i->kvs[i->n_kvs].key = hoist_xstrdup(key);
	i->kvs[i->n_kvs].value = value ? hoist_xstrdup(value) : NULL;
	i->n_kvs++;
}

/* ---- durations (Go's time.ParseDuration / Duration.String) ---------- */

int hoist_parse_duration(const char *s, int64_t *ret_ns)
{
	static const struct {
		const char *unit;
		int64_t ns;
	} units[] = {
	    {"ns", 1LL},       {"us", 1000LL},	    {"\xc2\xb5s", 1000LL}, {"\xce\xbcs", 1000LL},
	    {"ms", 1000000LL}, {"s", 1000000000LL}, {"m", 60000000000LL},  {"h", 3600000000000LL},
	};
	bool neg = false;
	const char *p = s;
	long double total = 0;

	if (!s || !*s)
		return -EINVAL;
	if (*p == '-' || *p == '+')
		neg = *p++ == '-';
	if (strcmp(p, "0") == 0) {
		*ret_ns = 0;
		return 0;
	}
	if (!*p)
		return -EINVAL;
	while (*p) {
		long double v = 0, frac = 0, scale = 1;
		bool digits = false;
		while (isdigit((unsigned char)*p)) {
			v = v * 10 + (*p++ - '0');
			digits = true;
		}
		if (*p == '.') {
			p++;
			while (isdigit((unsigned char)*p)) {
				frac = frac * 10 + (*p++ - '0');
				scale *= 10;
				digits = true;
			}
		}
		if (!digits)
			return -EINVAL;
		size_t best = 0;
		int64_t mult = 0;
		for (size_t k = 0; k < ARRAY_SIZE(units); k++) {
			size_t ul = strlen(units[k].unit);
			if (strncmp(p, units[k].unit, ul) == 0 && ul > best) {
				best = ul;
				mult = units[k].ns;
			}
		}
		if (!best)
			return -EINVAL; /* missing unit */
		p += best;
		total += (v + frac / scale) * (long double)mult;
		if (total > (long double)INT64_MAX)
			return -ERANGE;
	}
	*ret_ns = (int64_t)(neg ? -total : total);
	return 0;
}

/* Format v/10^prec with trailing zeros (and the point) removed. */
static void fmt_frac(struct hoist_buf *b, uint64_t v, int prec)
{
	uint64_t div = 1;
	for (int i = 0; i < prec; i++)
		div *= 10;
	hoist_buf_addf(b, "%llu", (unsigned long long)(v / div));
	uint64_t rem = v % div;
	if (rem) {
		char digits[24];
		snprintf(digits, sizeof(digits), "%0*llu", prec, (unsigned long long)rem);
		size_t l = strlen(digits);
		while (l > 0 && digits[l - 1] == '0')
			l--;
		hoist_buf_addc(b, '.');
		hoist_buf_add(b, digits, l);
	}
}

void hoist_format_duration(int64_t ns, char *buf, size_t size)
{
	struct hoist_buf b = HOIST_BUF_INIT;
	uint64_t u = ns < 0 ? (uint64_t)(-(ns + 1)) + 1 : (uint64_t)ns;
	if (ns < 0)
		hoist_buf_addc(&b, '-');
	if (u == 0) {
		hoist_buf_adds(&b, "0s");
	} else if (u < 1000000000ULL) {
		if (u < 1000ULL) {
			hoist_buf_addf(&b, "%lluns", (unsigned long long)u);
		} else if (u < 1000000ULL) {
			fmt_frac(&b, u, 3);
			hoist_buf_adds(&b, "\xc2\xb5s");
		} else {
			fmt_frac(&b, u, 6);
			hoist_buf_adds(&b, "ms");
		}
	} else {
		uint64_t h = u / 3600000000000ULL;
		uint64_t rest = u % 3600000000000ULL;
		uint64_t m = rest / 60000000000ULL;
		uint64_t sns = rest % 60000000000ULL;
		if (h)
			hoist_buf_addf(&b, "%lluh", (unsigned long long)h);
		if (h || m)
			hoist_buf_addf(&b, "%llum", (unsigned long long)m);
		fmt_frac(&b, sns, 9);
		hoist_buf_addc(&b, 's');
	}
	snprintf(buf, size, "%s", b.data ? b.data : "");
	hoist_buf_release(&b);
}

/* ---- per-instruction parsers ---------------------------------------- */

#define FAIL(...) hoist_error_set_at(err, -EINVAL, file, node->start_line, 0, __VA_ARGS__)

static int parse_kvps(const struct hoist_df_node *node, const char *file, const char *name,
		      struct hoist_instr *i, struct hoist_error *err)
{
	/* The parser gives (key, value, separator) triples, as BuildKit's. */
	size_t n = count_args(node);
	if (n == 0)
		return FAIL("%s requires at least one argument", name);
	if (n % 3 != 0)
		return FAIL("bad input to %s, too many arguments", name);
	for (const struct hoist_df_node *a = node->next; a && a->next; a = a->next->next->next)
		push_kv(i, a->value, a->next->value ? a->next->value : "");
	return 0;
}

static int exactly_one(const struct hoist_df_node *node, const char *file, const char *name,
		       struct hoist_instr *i, struct hoist_error *err)
{
	if (count_args(node) != 1)
		return FAIL("%s requires exactly one argument", name);
	i->arg = hoist_xstrdup(node->next->value ? node->next->value : "");
	return 0;
}

static bool valid_stage_name(const char *s)
{
	if (!(*s >= 'a' && *s <= 'z'))
		return false;
	for (s++; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' ||
		      *s == '_' || *s == '.'))
			return false;
	return true;
}

static int parse_from(const struct hoist_df_node *node, const char *file, struct hoist_instr *i,
		      struct hoist_error *err)
{
	static const struct flag_spec specs[] = {{"platform", FLAG_STRING}};
	struct flag_val vals[1] = {0};
	size_t n = count_args(node);
	int r;

	if (n == 3 && strcasecmp(node->next->next->value, "as") == 0) {
		char *name = hoist_xstrdup(node->next->next->next->value);
		for (char *c = name; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		if (!valid_stage_name(name)) {
			free(name);
			return FAIL("invalid name for build stage: \"%s\", name can't start with a "
				    "number or contain symbols",
				    node->next->next->next->value);
		}
		i->stage_name = name;
	} else if (n != 1) {
		return FAIL("FROM requires either one or three arguments");
	}
	r = parse_flags(node, specs, 1, vals, file, err);
	if (r >= 0) {
		i->image = hoist_xstrdup(node->next->value);
		i->platform = vals[0].s ? hoist_xstrdup(vals[0].s) : NULL;
	}
	flag_vals_release(vals, 1);
	return r;
}

static int parse_copy(const struct hoist_df_node *node, const char *file, struct hoist_instr *i,
		      bool add, struct hoist_error *err)
{
	static const struct flag_spec copy_specs[] = {
	    {"from", FLAG_STRING}, {"chown", FLAG_STRING}, {"chmod", FLAG_STRING},
	    {"link", FLAG_BOOL},   {"parents", FLAG_BOOL}, {"exclude", FLAG_STRINGS},
	};
	static const struct flag_spec add_specs[] = {
	    {"chown", FLAG_STRING},	 {"chmod", FLAG_STRING},    {"link", FLAG_BOOL},
	    {"keep-git-dir", FLAG_BOOL}, {"checksum", FLAG_STRING}, {"exclude", FLAG_STRINGS},
	    {"parents", FLAG_BOOL},
	};
	const struct flag_spec *specs = add ? add_specs : copy_specs;
	size_t ns = add ? ARRAY_SIZE(add_specs) : ARRAY_SIZE(copy_specs);
	struct flag_val vals[8] = {0};
	size_t n = count_args(node);
	int r;

	if (n < 2 && !(n == 1 && node->n_heredocs > 0))
		return FAIL("%s requires at least two arguments, but only one was provided. "
			    "Destination could not be determined",
			    add ? "ADD" : "COPY");
	r = parse_flags(node, specs, ns, vals, file, err);
	if (r < 0)
		goto out;
	size_t k = 0;
	for (const struct hoist_df_node *a = node->next; a; a = a->next, k++) {
		if (k + 1 == n)
			i->dest = hoist_xstrdup(a->value);
		else
			hoist_strv_push(&i->srcs, a->value);
	}
	for (size_t s = 0; s < ns; s++) {
		const char *nm = specs[s].name;
		if (!vals[s].set)
			continue;
		if (strcmp(nm, "from") == 0)
			i->from = TAKE_PTR(vals[s].s);
		else if (strcmp(nm, "chown") == 0)
			i->chown = TAKE_PTR(vals[s].s);
		else if (strcmp(nm, "chmod") == 0)
			i->chmod = TAKE_PTR(vals[s].s);
		else if (strcmp(nm, "link") == 0)
			i->link = vals[s].b;
		else if (strcmp(nm, "parents") == 0)
			i->parents = vals[s].b;
		else if (strcmp(nm, "keep-git-dir") == 0)
			i->keep_git_dir = vals[s].b;
		else if (strcmp(nm, "checksum") == 0)
			i->checksum = TAKE_PTR(vals[s].s);
		else if (strcmp(nm, "exclude") == 0) {
			i->excludes = vals[s].list;
			memset(&vals[s].list, 0, sizeof(vals[s].list));
		}
	}
out:
	flag_vals_release(vals, ns);
	return r;
}

static int parse_run(const struct hoist_df_node *node, const char *file, struct hoist_instr *i,
		     struct hoist_error *err)
{
	static const struct flag_spec specs[] = {
	    {"mount", FLAG_STRINGS}, {"network", FLAG_STRING}, {"security", FLAG_STRING}};
	struct flag_val vals[3] = {0};
	int r = parse_flags(node, specs, 3, vals, file, err);
	if (r >= 0) {
		i->mounts = vals[0].list;
		memset(&vals[0].list, 0, sizeof(vals[0].list));
		i->network = TAKE_PTR(vals[1].s);
		i->security = TAKE_PTR(vals[2].s);
		collect_args(node, &i->args);
		i->json = node->json;
		if (i->args.n == 0 && node->n_heredocs == 0)
			r = FAIL("RUN requires at least one argument");
	}
	flag_vals_release(vals, 3);
	return r;
}

static int parse_interval(const char *v, const char *name, int64_t *ret, bool *has,
			  const struct hoist_df_node *node, const char *file,
			  struct hoist_error *err)
{
	int64_t d;
	if (!v || !*v)
		return 0;
	if (hoist_parse_duration(v, &d) < 0)
		return FAIL("time: invalid duration \"%s\"", v);
	if (d != 0 && d < 1000000LL)
		return FAIL("Interval \"%s\" cannot be less than 1ms", name);
	*ret = d;
	*has = true;
	return 0;
}

static int parse_healthcheck(const struct hoist_df_node *node, const char *file,
			     struct hoist_instr *i, struct hoist_error *err)
{
	static const struct flag_spec specs[] = {
	    {"interval", FLAG_STRING},	   {"timeout", FLAG_STRING},
	    {"start-period", FLAG_STRING}, {"start-interval", FLAG_STRING},
	    {"retries", FLAG_STRING},
	};
	struct flag_val vals[5] = {0};
	struct hoist_healthcheck *h = &i->health;
	int r;

	if (count_args(node) == 0)
		return FAIL("HEALTHCHECK requires at least one argument");
	const char *typ = node->next->value;
	if (strcasecmp(typ, "NONE") == 0) {
		if (node->next->next)
			return FAIL("HEALTHCHECK NONE takes no arguments");
		h->none = true;
		hoist_strv_push(&h->test, "NONE");
		return parse_flags(node, specs, 5, vals, file, err);
	}
	r = parse_flags(node, specs, 5, vals, file, err);
	if (r < 0)
		goto out;
	if (strcasecmp(typ, "CMD") != 0) {
		r = FAIL("unknown type \"%s\" in HEALTHCHECK (try CMD)", typ);
		goto out;
	}
	if (!node->next->next) {
		r = FAIL("missing command after HEALTHCHECK CMD");
		goto out;
	}
	if (node->json) {
		hoist_strv_push(&h->test, "CMD");
		for (const struct hoist_df_node *a = node->next->next; a; a = a->next)
			hoist_strv_push(&h->test, a->value);
	} else {
		struct hoist_buf b = HOIST_BUF_INIT;
		for (const struct hoist_df_node *a = node->next->next; a; a = a->next) {
			if (b.len)
				hoist_buf_addc(&b, ' ');
			hoist_buf_adds(&b, a->value);
		}
		hoist_strv_push(&h->test, "CMD-SHELL");
		hoist_strv_take(&h->test, hoist_buf_detach(&b, NULL));
	}
	if ((r = parse_interval(vals[0].s, "--interval", &h->interval, &h->has_interval, node, file,
				err)) < 0 ||
	    (r = parse_interval(vals[1].s, "--timeout", &h->timeout, &h->has_timeout, node, file,
				err)) < 0 ||
	    (r = parse_interval(vals[2].s, "--start-period", &h->start_period, &h->has_start_period,
				node, file, err)) < 0 ||
	    (r = parse_interval(vals[3].s, "--start-interval", &h->start_interval,
				&h->has_start_interval, node, file, err)) < 0)
		goto out;
	if (vals[4].s && *vals[4].s) {
		const char *s = vals[4].s;
		bool neg = *s == '-';
		uint64_t v;
		if (hoist_parse_u64(neg ? s + 1 : s, INT32_MAX, &v) < 0) {
			r = FAIL("strconv.ParseInt: parsing \"%s\": invalid syntax", s);
			goto out;
		}
		if (neg && v != 0) {
			r = FAIL("--retries cannot be negative (%s)", s);
			goto out;
		}
		h->retries = (int64_t)v;
		h->has_retries = true;
	}
out:
	flag_vals_release(vals, 5);
	return r;
}

static int no_flags(const struct hoist_df_node *node, const char *file, struct hoist_error *err)
{
	return parse_flags(node, NULL, 0, NULL, file, err);
}

static void copy_heredocs(const struct hoist_df_node *node, struct hoist_instr *i)
{
	if (!node->n_heredocs)
		return;
	i->heredocs = hoist_xcalloc(node->n_heredocs, sizeof(*i->heredocs));
	for (size_t k = 0; k < node->n_heredocs; k++) {
		const struct hoist_df_heredoc *h = &node->heredocs[k];
		i->heredocs[k].name = hoist_xstrdup(h->name ? h->name : "");
		i->heredocs[k].content = hoist_xstrdup(h->content ? h->content : "");
		i->heredocs[k].expand = h->expand;
		i->heredocs[k].chomp = h->chomp;
		i->heredocs[k].fd = h->fd;
	}
	i->n_heredocs = node->n_heredocs;
}

/* Strip the leading "ONBUILD" keyword and blanks from the original line. */
static char *onbuild_trigger_text(const char *orig)
{
	const char *p = orig;
	while (*p == ' ' || *p == '\t')
		p++;
	if (strncasecmp(p, "onbuild", 7) == 0)
		p += 7;
	while (*p == ' ' || *p == '\t')
		p++;
	return hoist_xstrdup(p);
}

static int parse_one(const struct hoist_df_node *node, const char *file, struct hoist_instr *i,
		     struct hoist_error *err)
{
	static const struct {
		const char *name;
		enum hoist_instr_kind kind;
		const char *kw;
	} table[] = {
	    {"from", HOIST_INSTR_FROM, "FROM"},
	    {"arg", HOIST_INSTR_ARG, "ARG"},
	    {"env", HOIST_INSTR_ENV, "ENV"},
	    {"label", HOIST_INSTR_LABEL, "LABEL"},
	    {"copy", HOIST_INSTR_COPY, "COPY"},
	    {"add", HOIST_INSTR_ADD, "ADD"},
	    {"run", HOIST_INSTR_RUN, "RUN"},
	    {"workdir", HOIST_INSTR_WORKDIR, "WORKDIR"},
	    {"user", HOIST_INSTR_USER, "USER"},
	    {"expose", HOIST_INSTR_EXPOSE, "EXPOSE"},
	    {"volume", HOIST_INSTR_VOLUME, "VOLUME"},
	    {"cmd", HOIST_INSTR_CMD, "CMD"},
	    {"entrypoint", HOIST_INSTR_ENTRYPOINT, "ENTRYPOINT"},
	    {"shell", HOIST_INSTR_SHELL, "SHELL"},
	    {"stopsignal", HOIST_INSTR_STOPSIGNAL, "STOPSIGNAL"},
	    {"healthcheck", HOIST_INSTR_HEALTHCHECK, "HEALTHCHECK"},
	    {"onbuild", HOIST_INSTR_ONBUILD, "ONBUILD"},
	    {"maintainer", HOIST_INSTR_MAINTAINER, "MAINTAINER"},
	};
	size_t k;
	const char *v = node->value ? node->value : "";

	for (k = 0; k < ARRAY_SIZE(table); k++)
		if (strcasecmp(table[k].name, v) == 0)
			break;
	if (k == ARRAY_SIZE(table)) {
		char up[64];
		size_t n = 0;
		for (; v[n] && n + 1 < sizeof(up); n++)
			up[n] = (char)toupper((unsigned char)v[n]);
		up[n] = '\0';
		return FAIL("unknown instruction: %s", up);
	}
	i->kind = table[k].kind;
	i->keyword = table[k].kw;
	i->line = node->start_line;
	i->end_line = node->end_line;
	i->original = hoist_xstrdup(node->original ? node->original : "");
	copy_heredocs(node, i);

	switch (i->kind) {
	case HOIST_INSTR_FROM:
		return parse_from(node, file, i, err);
	case HOIST_INSTR_ARG: {
		int r = no_flags(node, file, err);
		if (r < 0)
			return r;
		if (count_args(node) == 0)
			return FAIL("ARG requires at least one argument");
		for (const struct hoist_df_node *a = node->next; a; a = a->next) {
			const char *eq = strchr(a->value, '=');
			if (eq) {
				_cleanup_free_ char *key =
				    hoist_xstrndup(a->value, (size_t)(eq - a->value));
				push_kv(i, key, eq + 1);
			} else {
				push_kv(i, a->value, NULL);
			}
		}
		return 0;
	}
	case HOIST_INSTR_ENV:
	case HOIST_INSTR_LABEL: {
		int r = no_flags(node, file, err);
		return r < 0 ? r : parse_kvps(node, file, i->keyword, i, err);
	}
	case HOIST_INSTR_COPY:
		return parse_copy(node, file, i, false, err);
	case HOIST_INSTR_ADD:
		return parse_copy(node, file, i, true, err);
	case HOIST_INSTR_RUN:
		return parse_run(node, file, i, err);
	case HOIST_INSTR_WORKDIR:
	case HOIST_INSTR_USER:
	case HOIST_INSTR_STOPSIGNAL:
	case HOIST_INSTR_MAINTAINER: {
		int r = no_flags(node, file, err);
		return r < 0 ? r : exactly_one(node, file, i->keyword, i, err);
	}
	case HOIST_INSTR_EXPOSE:
	case HOIST_INSTR_VOLUME: {
		int r = no_flags(node, file, err);
		if (r < 0)
			return r;
		if (count_args(node) == 0)
			return FAIL("%s requires at least one argument", i->keyword);
		collect_args(node, &i->args);
		i->json = node->json;
		if (i->kind == HOIST_INSTR_VOLUME)
			for (size_t a = 0; a < i->args.n; a++) {
				const char *s = i->args.v[a];
				while (isspace((unsigned char)*s))
					s++;
				if (!*s)
					return FAIL("VOLUME specified can not be an empty string");
			}
		return 0;
	}
	case HOIST_INSTR_CMD:
	case HOIST_INSTR_ENTRYPOINT:
	case HOIST_INSTR_SHELL: {
		int r = no_flags(node, file, err);
		if (r < 0)
			return r;
		collect_args(node, &i->args);
		i->json = node->json;
		if (i->kind == HOIST_INSTR_SHELL) {
			if (!node->json)
				return FAIL("SHELL requires the arguments to be in JSON form");
			if (i->args.n == 0)
				return FAIL("SHELL requires at least one argument");
		}
		return 0;
	}
	case HOIST_INSTR_HEALTHCHECK:
		return parse_healthcheck(node, file, i, err);
	case HOIST_INSTR_ONBUILD: {
		int r = no_flags(node, file, err);
		if (r < 0)
			return r;
		const struct hoist_df_node *sub =
		    node->next && node->next->n_children ? node->next->children[0] : NULL;
		if (!sub)
			return FAIL("ONBUILD requires at least one argument");
		const char *t = sub->value ? sub->value : "";
		if (strcasecmp(t, "onbuild") == 0)
			return FAIL("chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
		if (strcasecmp(t, "maintainer") == 0 || strcasecmp(t, "from") == 0)
			return FAIL("%s isn't allowed as an ONBUILD trigger",
				    strcasecmp(t, "from") == 0 ? "FROM" : "MAINTAINER");
		i->arg = onbuild_trigger_text(i->original);
		return 0;
	}
	}
	return FAIL("unknown instruction");
}

int hoist_instr_parse(const struct hoist_df_node *node, const char *filename,
		      struct hoist_instr *ret, struct hoist_error *err)
{
	struct hoist_instr i = {0};
	int r = parse_one(node, filename, &i, err);
	if (r < 0) {
		hoist_instr_release(&i);
		return r;
	}
	*ret = i;
	return 0;
}

/* ---- stages ----------------------------------------------------------- */

void hoist_dockerfile_free(struct hoist_dockerfile *df)
{
	if (!df)
		return;
	for (size_t i = 0; i < df->n_meta_args; i++)
		hoist_instr_release(&df->meta_args[i]);
	free(df->meta_args);
	for (size_t s = 0; s < df->n_stages; s++) {
		struct hoist_stage *st = &df->stages[s];
		hoist_instr_release(&st->from);
		for (size_t i = 0; i < st->n_cmds; i++)
			hoist_instr_release(&st->cmds[i]);
		free(st->cmds);
	}
	free(df->stages);
	free(df->filename);
	free(df);
}

int hoist_dockerfile_from_ast(const struct hoist_df_ast *ast, const char *filename,
			      struct hoist_dockerfile **ret, struct hoist_error *err)
{
	struct hoist_dockerfile *df = hoist_xcalloc(1, sizeof(*df));
	df->filename = filename ? hoist_xstrdup(filename) : NULL;
	df->escape = ast->escape ? ast->escape : '\\';

	for (size_t c = 0; ast->root && c < ast->root->n_children; c++) {
		const struct hoist_df_node *node = ast->root->children[c];
		struct hoist_instr in;
		int r = hoist_instr_parse(node, filename, &in, err);
		if (r < 0) {
			hoist_dockerfile_free(df);
			return r;
		}
		if (df->n_stages == 0 && in.kind == HOIST_INSTR_ARG) {
			df->meta_args =
			    hoist_xrealloc(df->meta_args, (df->n_meta_args + 1) * sizeof(in));
			df->meta_args[df->n_meta_args++] = in;
			continue;
		}
		if (in.kind == HOIST_INSTR_FROM) {
			if (in.stage_name && hoist_dockerfile_find_stage(df, in.stage_name) >= 0) {
				hoist_error_set_at(err, -EINVAL, filename, in.line, 0,
						   "duplicate stage name '%s'", in.stage_name);
				hoist_instr_release(&in);
				hoist_dockerfile_free(df);
				return -EINVAL;
			}
			df->stages =
			    hoist_xrealloc(df->stages, (df->n_stages + 1) * sizeof(*df->stages));
			struct hoist_stage *st = &df->stages[df->n_stages++];
			memset(st, 0, sizeof(*st));
			st->from = in;
			st->name = in.stage_name;
			continue;
		}
		if (df->n_stages == 0) {
			hoist_error_set_at(err, -EINVAL, filename, in.line, 0,
					   "no build stage in current context: %s before the first "
					   "FROM",
					   in.keyword);
			hoist_instr_release(&in);
			hoist_dockerfile_free(df);
			return -EINVAL;
		}
		struct hoist_stage *st = &df->stages[df->n_stages - 1];
		st->cmds = hoist_xrealloc(st->cmds, (st->n_cmds + 1) * sizeof(in));
		st->cmds[st->n_cmds++] = in;
	}
	if (df->n_stages == 0) {
		hoist_error_set_at(err, -EINVAL, filename, 0, 0,
				   "no build stage in current context");
		hoist_dockerfile_free(df);
		return -EINVAL;
	}
	*ret = df;
	return 0;
}

int hoist_dockerfile_find_stage(const struct hoist_dockerfile *df, const char *name)
{
	for (size_t s = 0; s < df->n_stages; s++)
		if (df->stages[s].name && strcasecmp(df->stages[s].name, name) == 0)
			return (int)s;
	return -1;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The build engine: stages, expansion, image config updates the way
 * BuildKit's dockerfile2llb dispatches them, the step cache, and commit.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "build-private.h"
#include "run-private.h"
#include "hoist/ref.h"
#include "hoist/shell.h"

#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define PASSWD_MAX ((size_t)4 << 20)

struct stagestate {
	bool built, building;
	struct hoist_image img;
	char key[HOIST_DIGEST_MAX];
	struct fstree *tree;	/* NULL: rebuild from img's layers when needed */
	struct hoist_strv args; /* "K=V" of the ARGs in scope */
	bool cmd_set;
	/* What the stage's RUNs execute as and its cache keys name: the build's
	 * target, FROM --platform, or the platform of the stage it starts from. */
	struct hoist_platform plat;
};

struct build {
	struct hoist_store *s;
	const struct hoist_build_opts *o;
	struct hoist_dockerfile *df;
	const char *file;
	struct hoist_context *ctx;
	char *abs_ctx;
	struct ctxfiles *cf;
	struct fstree *ctxtree;
	struct hoist_strv bargs; /* "K=V" from the options */
	bool *bargs_used;
	struct hoist_strv meta;	  /* global ARGs */
	struct hoist_strv predef; /* TARGETPLATFORM, ... */
	struct stagestate *st;
	struct hoist_platform plat;
	int64_t sde;
	char *tmpdir;
	unsigned tmpn;
	int steps, cached;
	struct runstate *run; /* RUN: identity mapping (run.c) */
	bool locked;	      /* holds the store lock shared */
};

/* ---- small helpers ----------------------------------------------------- */

static void emit(struct build *b, enum hoist_build_event_kind kind, int stage, int step,
		 int n_steps, const char *text, bool cached, double secs)
{
	if (!b->o->on_event)
		return;
	char sname[32];
	const char *name = NULL;
	if (stage >= 0 && (size_t)stage < b->df->n_stages)
		name = b->df->stages[stage].name;
	if (!name) {
		snprintf(sname, sizeof(sname), "%d", stage);
		name = sname;
	}
	struct hoist_build_event ev = {
	    .kind = kind,
	    .stage = name,
	    .stage_index = stage,
	    .step = step,
	    .n_steps = n_steps,
	    .text = text,
	    .cached = cached,
	    .seconds = secs,
	};
	b->o->on_event(&ev, b->o->userdata);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *created_now(struct build *b)
{
	struct timespec ts;
	struct tm tm;
	char buf[64];
	if (b->sde >= 0) {
		time_t t = (time_t)b->sde;
		gmtime_r(&t, &tm);
		strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
		return hoist_xstrdup(buf);
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	return hoist_xasprintf("%s.%09ldZ", buf, ts.tv_nsec);
}

static int64_t mtime_now(struct build *b)
{
	return b->sde >= 0 ? b->sde : (int64_t)time(NULL);
}

static const char *kv_lookup(const struct hoist_strv *v, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = v->n; i-- > 0;)
		if (strncmp(v->v[i], name, n) == 0 && v->v[i][n] == '=')
			return v->v[i] + n + 1;
	return NULL;
}

static void kv_set(struct hoist_strv *v, const char *key, const char *value)
{
	size_t n = strlen(key);
	char *s = hoist_xasprintf("%s=%s", key, value);
	for (size_t i = 0; i < v->n; i++)
		if (strncmp(v->v[i], key, n) == 0 && v->v[i][n] == '=') {
			free(v->v[i]);
			v->v[i] = s;
			return;
		}
	hoist_strv_take(v, s);
}

static const char *barg(struct build *b, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = b->bargs.n; i-- > 0;)
		if (strncmp(b->bargs.v[i], name, n) == 0 && b->bargs.v[i][n] == '=') {
			b->bargs_used[i] = true;
			return b->bargs.v[i] + n + 1;
		}
	return NULL;
}

static json_t *cfg(struct stagestate *st)
{
	json_t *c = json_object_get(st->img.config, "config");
	if (!json_is_object(c)) {
		c = json_object();
		json_object_set_new(st->img.config, "config", c);
	}
	return c;
}

/* Expansion environment: the stage's ARGs, then its Env (ENV wins). */
static char **expand_env(struct stagestate *st)
{
	struct hoist_strv v = HOIST_STRV_INIT;
	json_t *env = json_object_get(cfg(st), "Env");
	size_t i;
	json_t *e;
	for (i = 0; i < st->args.n; i++)
		hoist_strv_push(&v, st->args.v[i]);
	json_array_foreach(env, i, e) if (json_is_string(e))
	    hoist_strv_push(&v, json_string_value(e));
	hoist_strv_push(&v, "");
	v.n--;
	free(v.v[v.n]);
	v.v[v.n] = NULL;
	return v.v;
}

static int expand(struct build *b, char **envp, const char *word, int line, char **ret,
		  struct hoist_error *err)
{
	struct hoist_shell sh = {
	    .escape = b->df->escape, .lookup = hoist_shell_lookup_envp, .userdata = envp};
	int r = hoist_shell_expand_word(&sh, word, ret, err);
	if (r < 0) {
		err->line = line;
		snprintf(err->file, sizeof(err->file), "%s", b->file);
	}
	return r;
}

static int expand_words(struct build *b, char **envp, const char *word, int line, char ***ret,
			struct hoist_error *err)
{
	struct hoist_shell sh = {
	    .escape = b->df->escape, .lookup = hoist_shell_lookup_envp, .userdata = envp};
	int r = hoist_shell_expand_words(&sh, word, ret, err);
	if (r < 0) {
		err->line = line;
		snprintf(err->file, sizeof(err->file), "%s", b->file);
	}
	return r;
}

/* Go's %q of a []string, as BuildKit's history texts print it. */
static void add_goquoted_list(struct hoist_buf *out, const struct hoist_strv *v, bool quote)
{
	hoist_buf_addc(out, '[');
	for (size_t i = 0; i < v->n; i++) {
		if (i)
			hoist_buf_addc(out, ' ');
		if (!quote) {
			hoist_buf_adds(out, v->v[i]);
			continue;
		}
		json_t *s = json_string(v->v[i]);
		char *d = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
		hoist_buf_adds(out, d ? d : "\"\"");
		free(d);
		json_decref(s);
	}
	hoist_buf_addc(out, ']');
}

/* Go's %q of an int (strconv.QuoteRune), as in BuildKit's HEALTHCHECK text. */
static void add_goquoted_rune(struct hoist_buf *out, int64_t r)
{
	static const char esc[] = {'\a', 'a',  '\b', 'b',  '\f', 'f',  '\n',
				   'n',	 '\r', 'r',  '\t', 't',	 '\v', 'v'};
	hoist_buf_addc(out, '\'');
	if (r == '\'' || r == '\\') {
		hoist_buf_addc(out, '\\');
		hoist_buf_addc(out, (char)r);
	} else if (r >= 0x20 && r < 0x7f) {
		hoist_buf_addc(out, (char)r);
	} else if (r >= 0 && r < 0x20) {
		bool done = false;
		for (size_t i = 0; i < sizeof(esc); i += 2)
			if (esc[i] == r) {
				hoist_buf_addc(out, '\\');
				hoist_buf_addc(out, esc[i + 1]);
				done = true;
			}
		if (!done)
			hoist_buf_addf(out, "\\x%02x", (unsigned)r);
	} else if (r == 0x7f) {
		hoist_buf_adds(out, "\\x7f");
	} else if (r < 0 || r > 0x10ffff || (r >= 0xd800 && r < 0xe000)) {
		hoist_buf_adds(out, "\xef\xbf\xbd"); /* U+FFFD */
	} else if (r < 0x10000) {
		hoist_buf_addf(out, "\\u%04x", (unsigned)r);
	} else {
		hoist_buf_addf(out, "\\U%08x", (unsigned)r);
	}
	hoist_buf_addc(out, '\'');
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static json_t *strv_to_json(const struct hoist_strv *v)
{
	json_t *a = json_array();
	for (size_t i = 0; i < v->n; i++)
		json_array_append_new(a, json_string(v->v[i]));
	return a;
}

/* ---- users ------------------------------------------------------------- */

static int lookup_db(struct fstree *t, const char *file, const char *name, uint32_t *ret_id,
		     uint32_t *ret_gid)
{
	_cleanup_free_ char *data = NULL;
	if (!t || fstree_read_file(t, file, PASSWD_MAX, &data) < 0)
		return -ENOENT;
	for (char *line = data, *nl; line && *line; line = nl) {
		nl = strchr(line, '\n');
		if (nl)
			*nl++ = '\0';
		char *f[4] = {0};
		char *p = line;
		for (int i = 0; i < 4 && p; i++) {
			f[i] = p;
			p = strchr(p, ':');
			if (p)
				*p++ = '\0';
		}
		if (!f[0] || strcmp(f[0], name) != 0 || !f[2])
			continue;
		uint64_t id, gid = 0;
		if (hoist_parse_u64(f[2], UINT32_MAX, &id) < 0)
			continue;
		if (ret_gid && (!f[3] || hoist_parse_u64(f[3], UINT32_MAX, &gid) < 0))
			continue;
		*ret_id = (uint32_t)id;
		if (ret_gid)
			*ret_gid = (uint32_t)gid;
		return 0;
	}
	return -ENOENT;
}

/* "user[:group]" as BuildKit's readUser resolves it. */
static int resolve_owner(struct fstree *t, const char *spec, uint32_t *uid, uint32_t *gid,
			 char *why, size_t why_size)
{
	_cleanup_free_ char *u = hoist_xstrdup(spec);
	char *g = strchr(u, ':');
	uint64_t n;
	if (g)
		*g++ = '\0';
	if (!*u) {
		*uid = 0;
		*gid = 0;
	} else if (hoist_parse_u64(u, UINT32_MAX, &n) == 0) {
		*uid = (uint32_t)n;
		*gid = (uint32_t)n;
	} else if (lookup_db(t, "/etc/passwd", u, uid, gid) < 0) {
		snprintf(why, why_size,
			 "unable to find user %s: no matching entries in passwd file", u);
		return -ENOENT;
	}
	if (g && *g) {
		if (hoist_parse_u64(g, UINT32_MAX, &n) == 0) {
			*gid = (uint32_t)n;
		} else if (lookup_db(t, "/etc/group", g, gid, NULL) < 0) {
			snprintf(why, why_size,
				 "unable to find group %s: no matching entries in group file", g);
			return -ENOENT;
		}
	}
	return 0;
}

/* ---- images and cache records ---------------------------------------- */

static int ensure_tree(struct build *b, struct stagestate *st, struct hoist_error *err)
{
	if (st->tree)
		return 0;
	return fstree_from_image(b->s, &st->img, &st->tree, err);
}

static void tree_clone_rec(struct fsnode *dst, const struct fsnode *src)
{
	for (size_t i = 0; i < src->n_kids; i++) {
		const struct fsnode *k = src->kids[i];
		struct fsnode *n = fsnode_put(dst, k->name, &k->e, k->src);
		tree_clone_rec(n, k);
	}
}

static struct fstree *tree_clone(const struct fstree *t)
{
	struct fstree *c = fstree_new();
	hoist_entry_release(&c->root->e);
	hoist_entry_copy(&c->root->e, &t->root->e);
	free(c->root->e.path);
	c->root->e.path = NULL;
	tree_clone_rec(c->root, t->root);
	return c;
}

static int record_put(struct build *b, struct stagestate *st, struct hoist_error *err)
{
	_cleanup_free_ char *canon = hoist_json_canonical(st->img.config);
	char cd[HOIST_DIGEST_MAX];
	int r = hoist_store_blob_put(b->s, canon, strlen(canon), cd, err);
	if (r < 0)
		return r;
	json_t *rec = json_object();
	json_t *layers = json_array();
	json_object_set_new(rec, "config", json_string(cd));
	for (size_t i = 0; i < st->img.n_layers; i++) {
		json_t *l = json_object();
		json_object_set_new(l, "mediaType", json_string(st->img.layers[i].media_type));
		json_object_set_new(l, "digest", json_string(st->img.layers[i].digest));
		json_object_set_new(l, "size", json_integer(st->img.layers[i].size));
		json_array_append_new(layers, l);
	}
	json_object_set_new(rec, "layers", layers);
	_cleanup_free_ char *txt = hoist_json_canonical(rec);
	json_decref(rec);
	return hoist_store_cache_put(b->s, st->key, txt, err);
}

/* 1 on a hit (st->img replaced), 0 on a miss. */
static int record_get(struct build *b, struct stagestate *st)
{
	_cleanup_free_ char *txt = NULL, *cbuf = NULL;
	struct hoist_error e2 = {0};
	size_t clen;
	if (b->o->no_cache || hoist_store_cache_get(b->s, st->key, &txt, &e2) < 0)
		return 0;
	json_t *rec = json_loads(txt, 0, NULL);
	if (!rec)
		return 0;
	const char *cd = json_string_value(json_object_get(rec, "config"));
	json_t *layers = json_object_get(rec, "layers");
	if (!cd || !json_is_array(layers) ||
	    hoist_store_blob_read(b->s, cd, HOIST_MAX_JSON_BLOB, &cbuf, &clen, &e2) < 0) {
		json_decref(rec);
		return 0;
	}
	json_t *config = json_loadb(cbuf, clen, 0, NULL);
	if (!config) {
		json_decref(rec);
		return 0;
	}
	struct hoist_image img;
	memset(&img, 0, sizeof(img));
	img.config = config;
	size_t i;
	json_t *l;
	img.layers = hoist_xcalloc(json_array_size(layers) + 1, sizeof(*img.layers));
	json_array_foreach(layers, i, l)
	{
		struct hoist_descriptor *d = &img.layers[i];
		snprintf(d->media_type, sizeof(d->media_type), "%s",
			 json_string_value(json_object_get(l, "mediaType")) ?: "");
		snprintf(d->digest, sizeof(d->digest), "%s",
			 json_string_value(json_object_get(l, "digest")) ?: "");
		d->size = json_integer_value(json_object_get(l, "size"));
		if (!hoist_store_blob_exists(b->s, d->digest)) {
			json_decref(rec);
			hoist_image_release(&img);
			return 0;
		}
	}
	img.n_layers = json_array_size(layers);
	json_decref(rec);
	hoist_image_release(&st->img);
	st->img = img;
	fstree_free(st->tree);
	st->tree = NULL;
	return 1;
}

/* ---- stages ----------------------------------------------------------- */

static int build_stage(struct build *b, size_t idx, struct hoist_error *err);

/* A stage by name or index, -1 if neither. */
static int stage_ref(struct build *b, const char *name)
{
	int i = hoist_dockerfile_find_stage(b->df, name);
	uint64_t n;
	if (i >= 0)
		return i;
	if (hoist_parse_u64(name, INT_MAX, &n) == 0 && n < b->df->n_stages)
		return (int)n;
	return -1;
}

static int load_store_image(struct build *b, const char *name, const struct hoist_platform *plat,
			    struct hoist_image *img, const char *file, int line, const char *what,
			    struct hoist_error *err)
{
	char dg[HOIST_DIGEST_MAX];
	struct hoist_ref ref = {0};
	struct hoist_error e2 = {0};
	int r;

	if (hoist_digest_valid(name)) {
		snprintf(dg, sizeof(dg), "%s", name);
	} else {
		if (hoist_ref_parse(name, &ref, &e2) < 0)
			return hoist_error_set_at(err, -EINVAL, file, line, 0,
						  "%s: invalid reference '%s': %s", what, name,
						  e2.msg);
		if (ref.digest) {
			snprintf(dg, sizeof(dg), "%s", ref.digest);
		} else {
			_cleanup_free_ char *s = hoist_ref_string(&ref);
			if ((b->o->pull || hoist_store_tag_get(b->s, s, dg, &e2) < 0) &&
			    build_pull(b->s, b->o, s, plat, dg, err) < 0) {
				hoist_ref_release(&ref);
				return hoist_error_prefix(err, "%s:%d: %s", file, line, what);
			}
		}
		hoist_ref_release(&ref);
	}
	if (!hoist_store_blob_exists(b->s, dg) && build_pull(b->s, b->o, name, plat, dg, err) < 0)
		return hoist_error_prefix(err, "%s:%d: %s", file, line, what);
	r = hoist_image_load(b->s, dg, plat, img, err);
	if (r < 0)
		return hoist_error_prefix(err, "%s:%d: loading %s '%s'", file, line, what, name);
	return 0;
}

static void add_history(struct build *b, struct stagestate *st, const char *text, bool empty)
{
	_cleanup_free_ char *ts = created_now(b);
	hoist_image_add_history(&st->img, ts, text, empty);
	json_object_set_new(st->img.config, "created", json_string(ts));
}

/* Key for a step: parent, platform, text, plus extra fields. */
static void step_key(struct build *b, struct stagestate *st, const char *text, struct keyhash *k)
{
	(void)b;
	key_begin(k, st->key, &st->plat);
	key_add(k, "step", text);
}

static struct hoist_layer_opts build_layer_opts(const struct build *b)
{
	struct hoist_layer_opts lo = {.source_date_epoch = b->sde,
				      .compression =
					  (enum hoist_layer_compression)b->o->compression};
	if (lo.compression == HOIST_LAYER_ZSTD)
		lo.zstd_level = b->o->compression_level;
	else
		lo.gzip_level = b->o->compression_level;
	return lo;
}

static int do_layer_of(struct build *b, struct stagestate *st, struct fstree *t, unsigned gen,
		       const char *history, struct hoist_error *err)
{
	struct hoist_layer_opts lo = build_layer_opts(b);
	struct hoist_descriptor d;
	char diff_id[HOIST_DIGEST_MAX];
	int r = fstree_write_layer(t, b->s, &lo, gen, &d, diff_id, err);
	if (r < 0)
		return r;
	hoist_image_add_layer(&st->img, &d, diff_id);
	add_history(b, st, history, false);
	return 0;
}

/* Overlay `src` (a --link layer's tree) onto `dst`: entries replace, dirs merge. */
static void merge_tree(struct fsnode *dst, const struct fsnode *src, unsigned gen)
{
	for (size_t i = 0; i < src->n_kids; i++) {
		const struct fsnode *k = src->kids[i];
		struct fsnode *n = fsnode_child(dst, k->name);
		if (n && n->e.type == HOIST_ENTRY_DIR && k->e.type == HOIST_ENTRY_DIR) {
			n->e.mode = k->e.mode;
			n->e.uid = k->e.uid;
			n->e.gid = k->e.gid;
			n->e.mtime = k->e.mtime;
		} else {
			n = fsnode_put(dst, k->name, &k->e, k->src);
		}
		fsnode_touch(n, gen);
		merge_tree(n, k, gen);
	}
}

static int do_layer(struct build *b, struct stagestate *st, const char *history,
		    struct hoist_error *err)
{
	struct hoist_layer_opts lo = build_layer_opts(b);
	struct hoist_descriptor d;
	char diff_id[HOIST_DIGEST_MAX];
	int r = fstree_write_layer(st->tree, b->s, &lo, st->tree->gen, &d, diff_id, err);
	if (r < 0)
		return r;
	hoist_image_add_layer(&st->img, &d, diff_id);
	add_history(b, st, history, false);
	return 0;
}

struct stepctx {
	struct build *b;
	struct stagestate *st;
	size_t stage;
	int stepno, n_steps;
};

/* BuildKit's ChompHeredocContent: strip leading tabs from every line. */
static char *chomp_tabs(const char *s)
{
	struct hoist_buf b = HOIST_BUF_INIT;
	bool bol = true;
	for (; *s; s++) {
		if (bol && *s == '\t')
			continue;
		bol = *s == '\n';
		hoist_buf_addc(&b, *s);
	}
	return b.data ? hoist_buf_detach(&b, NULL) : hoist_xstrdup("");
}

/*
 * A heredoc source of COPY/ADD: its content (chomped for <<-, expanded
 * unless the terminator was quoted, with quotes kept as BuildKit's
 * SkipProcessQuotes does) goes to a temp file named after the heredoc.
 */
static int heredoc_source(struct build *b, struct copy_req *r, const struct hoist_instr_heredoc *h,
			  char **envp, int line, struct hoist_error *err)
{
	_cleanup_free_ char *content =
	    h->chomp ? chomp_tabs(h->content) : hoist_xstrdup(h->content);
	if (h->expand) {
		struct hoist_shell sh = {.escape = '\\',
					 .flags = HOIST_SHELL_SKIP_PROCESS_QUOTES,
					 .lookup = hoist_shell_lookup_envp,
					 .userdata = envp};
		char *x = NULL;
		int rc = hoist_shell_expand_word(&sh, content, &x, err);
		if (rc < 0) {
			err->line = line;
			snprintf(err->file, sizeof(err->file), "%s", b->file);
			return rc;
		}
		free(content);
		content = x;
	}
	_cleanup_free_ char *path = hoist_xasprintf("%s/h%u", b->tmpdir, b->tmpn++);
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || hoist_write_all(fd, content, strlen(content)) < 0)
		return hoist_error_set(err, -errno, "writing heredoc '%s' to '%s': %s", h->name,
				       path, strerror(errno));
	hoist_strv_push(&r->hd_names, h->name);
	hoist_strv_take(&r->hd_files, TAKE_PTR(path));
	return 0;
}

static int run_copy(struct stepctx *sc, const struct hoist_instr *in, char **envp,
		    struct hoist_error *err)
{
	struct build *b = sc->b;
	struct stagestate *st = sc->st;
	struct copy_req r = {0};
	struct hoist_buf text = HOIST_BUF_INIT;
	_cleanup_free_ char *from = NULL, *chown = NULL, *chmod = NULL, *dest = NULL;
	_cleanup_free_ char *history = NULL;
	struct stagestate *src_st = NULL;
	struct hoist_image from_img;
	struct fstree *from_tree = NULL;
	bool add = in->kind == HOIST_INSTR_ADD;
	int rc = 0;
	struct keyhash k;
	double t0 = now_s();

	hoist_image_init(&from_img);
	r.in = in;
	r.file = b->file;
	r.add = add;
	r.chmod = -1;
	r.tmpdir = b->tmpdir;
	r.tmp_counter = &b->tmpn;
	r.mtime_now = mtime_now(b);

	size_t next_hd = 0;
	for (size_t i = 0; i < in->srcs.n; i++) {
		char *w;
		bool is_hd = false;
		struct hoist_df_heredoc h = {0};
		if (next_hd < in->n_heredocs &&
		    hoist_df_parse_heredoc_word(in->srcs.v[i], &is_hd, &h) >= 0 && is_hd) {
			hoist_df_heredoc_release(&h);
			rc = heredoc_source(b, &r, &in->heredocs[next_hd++], envp, in->line, err);
			if (rc < 0)
				goto out;
			continue;
		}
		hoist_df_heredoc_release(&h);
		if ((rc = expand(b, envp, in->srcs.v[i], in->line, &w, err)) < 0)
			goto out;
		if (in->parents) {
			/* The pivot: what comes before "/./" is not kept. */
			const char *piv = strstr(w, "/./");
			_cleanup_free_ char *pre =
			    piv ? hoist_xstrndup(w, (size_t)(piv - w)) : hoist_xstrdup("");
			_cleanup_free_ char *abs = hoist_xasprintf("/%s", pre);
			_cleanup_free_ char *clean = go_path_clean(abs);
			hoist_strv_push(&r.pivots, clean + 1);
		}
		hoist_strv_take(&r.srcs, w);
	}
	if ((rc = expand(b, envp, in->dest, in->line, &dest, err)) < 0)
		goto out;
	if (in->from && (rc = expand(b, envp, in->from, in->line, &from, err)) < 0)
		goto out;
	if (in->chown && (rc = expand(b, envp, in->chown, in->line, &chown, err)) < 0)
		goto out;
	if (in->chmod && (rc = expand(b, envp, in->chmod, in->line, &chmod, err)) < 0)
		goto out;
	for (size_t i = 0; i < in->excludes.n; i++) {
		char *w;
		if ((rc = expand(b, envp, in->excludes.v[i], in->line, &w, err)) < 0)
			goto out;
		hoist_strv_take(&r.excludes, w);
	}
	if (chmod && *chmod) {
		uint64_t m = 0;
		const char *p = chmod;
		bool ok = *p != '\0';
		for (; *p; p++) {
			if (*p < '0' || *p > '7' || m > 07777) {
				ok = false;
				break;
			}
			m = m * 8 + (uint64_t)(*p - '0');
		}
		if (!ok || m > 07777) {
			rc = hoist_error_set_at(
			    err, -EINVAL, b->file, in->line, 0,
			    "invalid --chmod '%s': only octal modes are supported", chmod);
			goto out;
		}
		r.chmod = (int)m;
	}

	/* dest: relative to WORKDIR; a trailing '/' (or ".") makes it a directory. */
	{
		const char *wd = json_string_value(json_object_get(cfg(st), "WorkingDir"));
		_cleanup_free_ char *joined =
		    dest[0] == '/' ? hoist_xstrdup(dest)
				   : hoist_xasprintf("%s/%s", wd && *wd ? wd : "/", dest);
		_cleanup_free_ char *clean = go_path_clean(joined);
		size_t dl = strlen(dest);
		r.dest_is_dir = dl == 0 || strcmp(dest, ".") == 0 || dest[dl - 1] == '/';
		r.dest = hoist_xstrdup(clean);
	}
	/* --parents always copies into the destination as a directory. */
	if (in->parents)
		r.dest_is_dir = true;
	if (in->srcs.n > 1 && !r.dest_is_dir) {
		rc = hoist_error_set_at(err, -EINVAL, b->file, in->line, 0,
					"when using %s with more than one source file, the "
					"destination must be a directory and end with a /",
					in->keyword);
		goto out;
	}

	/* The source tree. */
	if (from) {
		int si = stage_ref(b, from);
		if (si >= 0 && (size_t)si == sc->stage) {
			rc = hoist_error_set_at(err, -EINVAL, b->file, in->line, 0,
						"%s --from=%s: a stage cannot copy from itself",
						in->keyword, from);
			goto out;
		}
		if (si >= 0) {
			if ((rc = build_stage(b, (size_t)si, err)) < 0)
				goto out;
			src_st = &b->st[si];
		} else {
			rc = load_store_image(b, from, &st->plat, &from_img, b->file, in->line,
					      "COPY --from: stage or image", err);
			if (rc < 0)
				goto out;
		}
	}

	/* Expanded text of the step. */
	hoist_buf_addf(&text, "%s", in->keyword);
	if (from)
		hoist_buf_addf(&text, " --from=%s", from);
	if (chown)
		hoist_buf_addf(&text, " --chown=%s", chown);
	if (chmod)
		hoist_buf_addf(&text, " --chmod=%s", chmod);
	if (in->link)
		hoist_buf_adds(&text, " --link");
	if (in->parents)
		hoist_buf_adds(&text, " --parents");
	if (in->checksum)
		hoist_buf_addf(&text, " --checksum=%s", in->checksum);
	for (size_t i = 0; i < r.excludes.n; i++)
		hoist_buf_addf(&text, " --exclude=%s", r.excludes.v[i]);
	for (size_t i = 0; i < r.srcs.n; i++)
		hoist_buf_addf(&text, " %s", r.srcs.v[i]);
	for (size_t i = 0; i < r.hd_names.n; i++)
		hoist_buf_addf(&text, " <<%s", r.hd_names.v[i]);
	hoist_buf_addf(&text, " %s", dest);

	step_key(b, st, text.data, &k);
	key_add(&k, "dest", r.dest);
	if (src_st) {
		key_add(&k, "from-stage", src_st->key);
		if (!src_st->tree && (rc = ensure_tree(b, src_st, err)) < 0) {
			hoist_sha256_release(&k.h);
			goto out;
		}
		r.from = src_st->tree;
	} else if (from) {
		key_add(&k, "from-image", from_img.manifest_digest);
		if ((rc = fstree_from_image(b->s, &from_img, &from_tree, err)) < 0) {
			hoist_sha256_release(&k.h);
			goto out;
		}
		r.from = from_tree;
	} else {
		if (!b->cf) {
			rc = ctxfiles_load(b->s, b->ctx, b->abs_ctx, &b->cf, err);
			if (rc < 0) {
				hoist_sha256_release(&k.h);
				goto out;
			}
			b->ctxtree = ctxfiles_tree(b->cf);
		}
		r.ctx = b->cf;
		r.from = b->ctxtree;
		r.from_context = true;
	}
	rc = copy_hash_sources(&r, &k, err);
	if (rc < 0) {
		hoist_sha256_release(&k.h);
		goto out;
	}
	key_finish(&k, st->key);

	/* BuildKit's commit message: expanded sources, then " <<NAME" per
	 * heredoc, then the expanded destination; flags are not shown. */
	struct hoist_buf hist = HOIST_BUF_INIT;
	hoist_buf_adds(&hist, in->keyword);
	for (size_t i = 0; i < r.srcs.n; i++)
		hoist_buf_addf(&hist, " %s", r.srcs.v[i]);
	for (size_t i = 0; i < r.hd_names.n; i++)
		hoist_buf_addf(&hist, " <<%s", r.hd_names.v[i]);
	hoist_buf_addf(&hist, " %s # buildkit", dest);
	history = hoist_buf_detach(&hist, NULL);
	if (record_get(b, st)) {
		b->cached++;
		emit(b, HOIST_BUILD_EVENT_STEP, (int)sc->stage, sc->stepno, sc->n_steps, text.data,
		     true, now_s() - t0);
		goto out;
	}
	if ((rc = ensure_tree(b, st, err)) < 0)
		goto out;
	if (chown) {
		char why[256];
		r.has_chown = true;
		if (resolve_owner(st->tree, chown, &r.uid, &r.gid, why, sizeof(why)) < 0) {
			rc = hoist_error_set_at(err, -EINVAL, b->file, in->line, 0,
						"%s --chown=%s: %s", in->keyword, chown, why);
			goto out;
		}
	}
	if (in->link) {
		/*
		 * --link: the copy is made on an empty tree, so the layer does not
		 * depend on what the destination held (symlinks in the dest path are
		 * not followed, missing parents are fresh 0755 directories, existing
		 * ones are not consulted), and then merged over the stage's tree as
		 * an overlay would.
		 */
		struct fstree *lt = fstree_new();
		lt->gen = 1;
		rc = copy_run(&r, lt, err);
		if (rc >= 0)
			rc = do_layer_of(b, st, lt, 1, history, err);
		if (rc >= 0) {
			st->tree->gen++;
			merge_tree(st->tree->root, lt->root, st->tree->gen);
		}
		fstree_free(lt);
		if (rc < 0)
			goto out;
	} else {
		st->tree->gen++;
		if ((rc = copy_run(&r, st->tree, err)) < 0)
			goto out;
		if ((rc = do_layer(b, st, history, err)) < 0)
			goto out;
	}
	if ((rc = record_put(b, st, err)) < 0)
		goto out;
	b->steps++;
	emit(b, HOIST_BUILD_EVENT_STEP, (int)sc->stage, sc->stepno, sc->n_steps, text.data, false,
	     now_s() - t0);
out:
	copy_req_release(&r);
	hoist_buf_release(&text);
	hoist_image_release(&from_img);
	fstree_free(from_tree);
	return rc;
}

/* Port spec ("80", "80/udp", "8000-8002/tcp") into ExposedPorts keys. */
static int add_ports(json_t *ports, const char *spec)
{
	const char *slash = strchr(spec, '/');
	_cleanup_free_ char *range =
	    slash ? hoist_xstrndup(spec, (size_t)(slash - spec)) : hoist_xstrdup(spec);
	const char *proto = slash ? slash + 1 : "tcp";
	char *dash = strchr(range, '-');
	uint64_t lo, hi;
	if (dash)
		*dash++ = '\0';
	if (hoist_parse_u64(range, 65535, &lo) < 0 ||
	    (dash ? hoist_parse_u64(dash, 65535, &hi) : (hi = lo, 0)) < 0 || hi < lo)
		return -EINVAL;
	for (uint64_t p = lo; p <= hi; p++) {
		char key[64];
		snprintf(key, sizeof(key), "%llu/%s", (unsigned long long)p, proto);
		for (char *c = key; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		json_object_set_new(ports, key, json_object());
	}
	return 0;
}

/* RUN: run.c prepares and executes; the cache and history stay here. */
static int run_run(struct stepctx *sc, const struct hoist_instr *in, struct hoist_error *err)
{
	struct build *b = sc->b;
	struct stagestate *st = sc->st;
	double t0 = now_s();
	struct run_req r = {
	    .in = in,
	    .file = b->file,
	    .o = b->o,
	    .plat = &st->plat,
	    .abs_ctx = b->abs_ctx,
	    .tmpdir = b->tmpdir,
	    .tmp_counter = &b->tmpn,
	    .sde = b->sde,
	    .img = &st->img,
	    .args = &st->args,
	    .stage = b->df->stages[sc->stage].name,
	    .stage_index = (int)sc->stage,
	    .step = sc->stepno,
	    .n_steps = sc->n_steps,
	};
	int rc = run_prepare(&r, st->key, err);
	if (rc >= 0) {
		memcpy(st->key, r.key, sizeof(st->key));
		if (record_get(b, st)) {
			b->cached++;
			emit(b, HOIST_BUILD_EVENT_STEP, (int)sc->stage, sc->stepno, sc->n_steps,
			     r.text, true, now_s() - t0);
			goto out;
		}
		rc = run_exec(b->s, &b->run, &r, err);
	}
	if (rc >= 0) {
		fstree_free(st->tree); /* rebuilt from the layers when needed */
		st->tree = NULL;
		add_history(b, st, r.history, false);
		rc = record_put(b, st, err);
	}
	if (rc >= 0) {
		b->steps++;
		emit(b, HOIST_BUILD_EVENT_STEP, (int)sc->stage, sc->stepno, sc->n_steps, r.text,
		     false, now_s() - t0);
	}
out:
	run_req_release(&r);
	return rc;
}

static int run_step(struct stepctx *sc, const struct hoist_instr *in, struct hoist_error *err)
{
	struct build *b = sc->b;
	struct stagestate *st = sc->st;
	_cleanup_strv_ struct hoist_strv parts = HOIST_STRV_INIT;
	struct hoist_buf text = HOIST_BUF_INIT;
	char **envp = expand_env(st);
	json_t *c = cfg(st);
	int rc = 0;
	bool layer = false;
	double t0 = now_s();
	struct keyhash k;

	switch (in->kind) {
	case HOIST_INSTR_RUN:
		rc = run_run(sc, in, err);
		goto out;
	case HOIST_INSTR_FROM:
	case HOIST_INSTR_COPY:
	case HOIST_INSTR_ADD:
		rc = run_copy(sc, in, envp, err);
		goto out;
	case HOIST_INSTR_ARG:
		hoist_buf_adds(&text, "ARG");
		for (size_t i = 0; i < in->n_kvs; i++) {
			_cleanup_free_ char *key = NULL, *val = NULL;
			if ((rc = expand(b, envp, in->kvs[i].key, in->line, &key, err)) < 0)
				goto out;
			const char *bv = barg(b, key);
			if (bv)
				val = hoist_xstrdup(bv);
			else if (in->kvs[i].value) {
				if ((rc = expand(b, envp, in->kvs[i].value, in->line, &val, err)) <
				    0)
					goto out;
			} else if (kv_lookup(&b->meta, key))
				val = hoist_xstrdup(kv_lookup(&b->meta, key));
			else if (kv_lookup(&b->predef, key))
				val = hoist_xstrdup(kv_lookup(&b->predef, key));
			if (val)
				kv_set(&st->args, key, val);
			/* The key holds the text as written: ARG values reach the image
			 * only through instructions that use them, whose expanded text
			 * is in their own keys. */
			if (in->kvs[i].value) {
				_cleanup_free_ char *def = NULL;
				if ((rc = expand(b, envp, in->kvs[i].value, in->line, &def, err)) <
				    0)
					goto out;
				hoist_buf_addf(&text, " %s=%s", key, def);
			} else {
				hoist_buf_addf(&text, " %s", key);
			}
		}
		break;
	case HOIST_INSTR_ENV:
	case HOIST_INSTR_LABEL: {
		bool env = in->kind == HOIST_INSTR_ENV;
		struct hoist_strv keys = HOIST_STRV_INIT, vals = HOIST_STRV_INIT;
		hoist_buf_adds(&text, in->keyword);
		for (size_t i = 0; i < in->n_kvs && rc >= 0; i++) {
			char *key = NULL, *val = NULL;
			rc = expand(b, envp, in->kvs[i].key, in->line, &key, err);
			if (rc >= 0)
				rc = expand(b, envp, in->kvs[i].value ? in->kvs[i].value : "",
					    in->line, &val, err);
			if (rc < 0) {
				free(key);
				free(val);
				break;
			}
			hoist_buf_addf(&text, " %s=%s", key, val);
			hoist_strv_take(&keys, key);
			hoist_strv_take(&vals, val);
		}
		if (rc >= 0 && env) {
			json_t *arr = json_object_get(c, "Env");
			if (!json_is_array(arr)) {
				arr = json_array();
				json_object_set_new(c, "Env", arr);
			}
			for (size_t i = 0; i < keys.n; i++) {
				size_t kl = strlen(keys.v[i]), j;
				json_t *e;
				bool done = false;
				_cleanup_free_ char *kv =
				    hoist_xasprintf("%s=%s", keys.v[i], vals.v[i]);
				json_array_foreach(arr, j, e)
				{
					const char *s = json_string_value(e);
					if (s && strncmp(s, keys.v[i], kl) == 0 && s[kl] == '=') {
						json_array_set_new(arr, j, json_string(kv));
						done = true;
						break;
					}
				}
				if (!done)
					json_array_append_new(arr, json_string(kv));
			}
		} else if (rc >= 0) {
			json_t *labels = json_object_get(c, "Labels");
			if (!json_is_object(labels)) {
				labels = json_object();
				json_object_set_new(c, "Labels", labels);
			}
			for (size_t i = 0; i < keys.n; i++)
				json_object_set_new(labels, keys.v[i], json_string(vals.v[i]));
		}
		hoist_strv_release(&keys);
		hoist_strv_release(&vals);
		if (rc < 0)
			goto out;
		break;
	}
	case HOIST_INSTR_WORKDIR: {
		_cleanup_free_ char *w = NULL;
		if ((rc = expand(b, envp, in->arg, in->line, &w, err)) < 0)
			goto out;
		const char *cur = json_string_value(json_object_get(c, "WorkingDir"));
		_cleanup_free_ char *joined =
		    w[0] == '/' ? hoist_xstrdup(w)
				: hoist_xasprintf("%s/%s", cur && *cur ? cur : "/", w);
		_cleanup_free_ char *wd = go_path_clean(joined);
		json_object_set_new(c, "WorkingDir", json_string(wd));
		hoist_buf_addf(&text, "WORKDIR %s", wd);
		layer = strcmp(wd, "/") != 0;
		break;
	}
	case HOIST_INSTR_USER:
	case HOIST_INSTR_STOPSIGNAL:
	case HOIST_INSTR_MAINTAINER: {
		_cleanup_free_ char *w = NULL;
		if (in->kind == HOIST_INSTR_MAINTAINER)
			w = hoist_xstrdup(in->arg);
		else if ((rc = expand(b, envp, in->arg, in->line, &w, err)) < 0)
			goto out;
		hoist_buf_addf(&text, "%s %s", in->keyword, w);
		if (in->kind == HOIST_INSTR_USER)
			json_object_set_new(c, "User", json_string(w));
		else if (in->kind == HOIST_INSTR_STOPSIGNAL)
			json_object_set_new(c, "StopSignal", json_string(w));
		else
			json_object_set_new(st->img.config, "author", json_string(w));
		break;
	}
	case HOIST_INSTR_EXPOSE: {
		json_t *ports = json_object_get(c, "ExposedPorts");
		if (!json_is_object(ports)) {
			ports = json_object();
			json_object_set_new(c, "ExposedPorts", ports);
		}
		hoist_buf_adds(&text, "EXPOSE");
		for (size_t i = 0; i < in->args.n; i++) {
			char **ws = NULL;
			if ((rc = expand_words(b, envp, in->args.v[i], in->line, &ws, err)) < 0)
				goto out;
			for (char **w = ws; *w; w++) {
				if (add_ports(ports, *w) < 0) {
					rc = hoist_error_set_at(err, -EINVAL, b->file, in->line, 0,
								"invalid port '%s' in EXPOSE", *w);
					break;
				}
				hoist_strv_push(&parts, *w);
			}
			hoist_strv_free(ws);
			if (rc < 0)
				goto out;
		}
		/* BuildKit: fmt's %v of this instruction's nat.PortSet, keys sorted. */
		{
			json_t *mine = json_object();
			for (size_t i = 0; i < parts.n; i++)
				(void)add_ports(mine, parts.v[i]);
			struct hoist_strv keys = HOIST_STRV_INIT;
			const char *kk;
			json_t *vv;
			json_object_foreach(mine, kk, vv) hoist_strv_push(&keys, kk);
			qsort(keys.v, keys.n, sizeof(*keys.v), cmp_str);
			hoist_buf_adds(&text, " map[");
			for (size_t i = 0; i < keys.n; i++)
				hoist_buf_addf(&text, "%s%s:{}", i ? " " : "", keys.v[i]);
			hoist_buf_addc(&text, ']');
			hoist_strv_release(&keys);
			json_decref(mine);
		}
		break;
	}
	case HOIST_INSTR_VOLUME: {
		json_t *vols = json_object_get(c, "Volumes");
		if (!json_is_object(vols)) {
			vols = json_object();
			json_object_set_new(c, "Volumes", vols);
		}
		for (size_t i = 0; i < in->args.n; i++) {
			char *w = NULL;
			if ((rc = expand(b, envp, in->args.v[i], in->line, &w, err)) < 0)
				goto out;
			json_object_set_new(vols, w, json_object());
			hoist_strv_take(&parts, w);
		}
		hoist_buf_adds(&text, "VOLUME ");
		add_goquoted_list(&text, &parts, false);
		break;
	}
	case HOIST_INSTR_CMD:
	case HOIST_INSTR_ENTRYPOINT:
	case HOIST_INSTR_SHELL: {
		if (!in->json && in->kind != HOIST_INSTR_SHELL) {
			json_t *shell = json_object_get(c, "Shell");
			size_t i;
			json_t *e;
			if (json_array_size(shell) > 0) {
				json_array_foreach(shell, i, e)
				    hoist_strv_push(&parts, json_string_value(e) ?: "");
			} else {
				hoist_strv_push(&parts, "/bin/sh");
				hoist_strv_push(&parts, "-c");
			}
			struct hoist_buf j = HOIST_BUF_INIT;
			for (size_t a = 0; a < in->args.n; a++) {
				if (a)
					hoist_buf_addc(&j, ' ');
				hoist_buf_adds(&j, in->args.v[a]);
			}
			hoist_strv_take(&parts,
					j.data ? hoist_buf_detach(&j, NULL) : hoist_xstrdup(""));
		} else {
			for (size_t a = 0; a < in->args.n; a++)
				hoist_strv_push(&parts, in->args.v[a]);
		}
		hoist_buf_addf(&text, "%s ", in->keyword);
		add_goquoted_list(&text, &parts, in->kind != HOIST_INSTR_SHELL);
		const char *field = in->kind == HOIST_INSTR_CMD		 ? "Cmd"
				    : in->kind == HOIST_INSTR_ENTRYPOINT ? "Entrypoint"
									 : "Shell";
		json_object_set_new(c, field, strv_to_json(&parts));
		if (in->kind == HOIST_INSTR_CMD)
			st->cmd_set = true;
		if (in->kind == HOIST_INSTR_ENTRYPOINT && !st->cmd_set)
			json_object_set_new(c, "Cmd", json_null());
		break;
	}
	case HOIST_INSTR_HEALTHCHECK: {
		const struct hoist_healthcheck *h = &in->health;
		json_t *hc = json_object();
		json_object_set_new(hc, "Test", strv_to_json(&h->test));
		if (h->interval)
			json_object_set_new(hc, "Interval", json_integer(h->interval));
		if (h->timeout)
			json_object_set_new(hc, "Timeout", json_integer(h->timeout));
		if (h->start_period)
			json_object_set_new(hc, "StartPeriod", json_integer(h->start_period));
		if (h->start_interval)
			json_object_set_new(hc, "StartInterval", json_integer(h->start_interval));
		if (h->retries)
			json_object_set_new(hc, "Retries", json_integer(h->retries));
		json_object_set_new(c, "Healthcheck", hc);
		char i1[32], i2[32], i3[32];
		hoist_format_duration(h->interval, i1, sizeof(i1));
		hoist_format_duration(h->timeout, i2, sizeof(i2));
		hoist_format_duration(h->start_period, i3, sizeof(i3));
		hoist_buf_adds(&text, "HEALTHCHECK &{");
		add_goquoted_list(&text, &h->test, true);
		hoist_buf_addf(&text, " \"%s\" \"%s\" \"%s\" ", i1, i2, i3);
		add_goquoted_rune(&text, h->retries);
		hoist_buf_addc(&text, '}');
		break;
	}
	case HOIST_INSTR_ONBUILD: {
		json_t *ob = json_object_get(c, "OnBuild");
		if (!json_is_array(ob)) {
			ob = json_array();
			json_object_set_new(c, "OnBuild", ob);
		}
		json_array_append_new(ob, json_string(in->arg));
		hoist_buf_addf(&text, "ONBUILD %s", in->arg);
		break;
	}
	}

	step_key(b, st, text.data, &k);
	key_finish(&k, st->key);
	if (record_get(b, st)) {
		b->cached++;
		emit(b, HOIST_BUILD_EVENT_STEP, (int)sc->stage, sc->stepno, sc->n_steps, text.data,
		     true, now_s() - t0);
		goto out;
	}
	if (layer) {
		struct fsnode *d;
		uint32_t uid = 0, gid = 0;
		const char *user = json_string_value(json_object_get(c, "User"));
		const char *wd = json_string_value(json_object_get(c, "WorkingDir"));
		if ((rc = ensure_tree(b, st, err)) < 0)
			goto out;
		if (user && *user) {
			char why[256];
			if (resolve_owner(st->tree, user, &uid, &gid, why, sizeof(why)) < 0) {
				rc = hoist_error_set_at(err, -EINVAL, b->file, in->line, 0,
							"WORKDIR: %s", why);
				goto out;
			}
		}
		st->tree->gen++;
		rc = fstree_mkdir_p(st->tree, wd, uid, gid, mtime_now(b), &d);
		if (rc < 0) {
			rc = hoist_error_set_at(err, rc, b->file, in->line, 0,
						"WORKDIR: cannot create '%s': %s", wd,
						strerror(-rc));
			goto out;
		}
		if ((rc = do_layer(b, st, text.data, err)) < 0)
			goto out;
	} else if (in->kind != HOIST_INSTR_ONBUILD) {
		/* BuildKit records no history entry for ONBUILD (case 34). */
		add_history(b, st, text.data, true);
	}
	if ((rc = record_put(b, st, err)) < 0)
		goto out;
	b->steps++;
	emit(b, HOIST_BUILD_EVENT_STEP, (int)sc->stage, sc->stepno, sc->n_steps, text.data, false,
	     now_s() - t0);
out:
	hoist_buf_release(&text);
	hoist_strv_free(envp);
	return rc;
}

/*
 * The stage's platform: FROM --platform (expanded like the image, with the
 * global and predefined ARGs: `--platform=$BUILDPLATFORM` runs the stage
 * natively for cross-compiling), else the build's target.
 */
static int stage_platform(struct build *b, size_t idx, char **menv, struct hoist_error *err)
{
	struct hoist_stage *sg = &b->df->stages[idx];
	struct stagestate *st = &b->st[idx];
	_cleanup_free_ char *ps = NULL;
	struct hoist_error e2 = {0};
	int rc;

	st->plat = b->plat;
	if (!sg->from.platform)
		return 0;
	if ((rc = expand(b, menv, sg->from.platform, sg->from.line, &ps, err)) < 0)
		return rc;
	if (hoist_platform_parse(ps, &st->plat, &e2) < 0)
		return hoist_error_set_at(err, -EINVAL, b->file, sg->from.line, 0,
					  "FROM --platform='%s': %s", ps, e2.msg);
	return 0;
}

static void config_set_platform(json_t *config, const struct hoist_platform *p)
{
	json_object_set_new(config, "architecture", json_string(p->architecture));
	json_object_set_new(config, "os", json_string(p->os));
	if (p->variant[0])
		json_object_set_new(config, "variant", json_string(p->variant));
	else
		json_object_del(config, "variant");
}

/*
 * A single-platform base for another platform than the stage's is used as
 * it is (BuildKit's InvalidBaseImagePlatform), with a warning: its RUNs
 * will likely fail under the wrong emulator.
 */
static void base_platform_check(struct build *b, struct stagestate *st, const char *image, int line)
{
	struct hoist_platform have;
	char os_version[64], hs[96], ws[96];
	/* (variants not compared: an arm/v6 base serves arm/v7, as an index pick does) */
	if (hoist_index_config_platform(st->img.config, &have, os_version, NULL) < 0 ||
	    (strcmp(have.os, st->plat.os) == 0 &&
	     strcmp(have.architecture, st->plat.architecture) == 0))
		return;
	hoist_platform_format(&have, hs, sizeof(hs));
	hoist_platform_format(&st->plat, ws, sizeof(ws));
	_cleanup_free_ char *w = hoist_xasprintf("%s:%d: base image '%s' is for %s, not %s",
						 b->file, line, image, hs, ws);
	emit(b, HOIST_BUILD_EVENT_WARNING, -1, 0, 0, w, false, 0);
}

/* Start a stage's image from scratch, another stage, or a store image. */
static int stage_base(struct build *b, size_t idx, struct hoist_strv *triggers,
		      struct hoist_error *err)
{
	struct hoist_stage *sg = &b->df->stages[idx];
	struct stagestate *st = &b->st[idx];
	_cleanup_free_ char *image = NULL;
	char **menv;
	struct keyhash k;
	int rc;

	/* FROM is expanded with the global ARGs only. */
	hoist_strv_push(&b->meta, "");
	b->meta.n--;
	free(b->meta.v[b->meta.n]);
	b->meta.v[b->meta.n] = NULL;
	{
		struct hoist_strv all = HOIST_STRV_INIT;
		for (size_t i = 0; i < b->predef.n; i++)
			hoist_strv_push(&all, b->predef.v[i]);
		for (size_t i = 0; i < b->meta.n; i++)
			hoist_strv_push(&all, b->meta.v[i]);
		hoist_strv_push(&all, "");
		all.n--;
		free(all.v[all.n]);
		all.v[all.n] = NULL;
		menv = all.v;
	}
	rc = expand(b, menv, sg->from.image, sg->from.line, &image, err);
	if (rc >= 0)
		rc = stage_platform(b, idx, menv, err);
	hoist_strv_free(menv);
	if (rc < 0)
		return rc;

	int si = stage_ref(b, image);
	if (si >= 0 && (size_t)si < idx && hoist_dockerfile_find_stage(b->df, image) >= 0) {
		if ((rc = build_stage(b, (size_t)si, err)) < 0)
			return rc;
		struct stagestate *p = &b->st[si];
		hoist_image_release(&st->img);
		hoist_image_copy(&st->img, &p->img);
		memcpy(st->key, p->key, sizeof(st->key));
		st->tree = p->tree ? tree_clone(p->tree) : NULL;
		if (!sg->from.platform)
			st->plat = p->plat; /* as BuildKit: a stage inherits its base's */
		key_begin(&k, p->key, &st->plat);
		key_add(&k, "from-stage", image);
	} else if (strcasecmp(image, "scratch") == 0) {
		char ps[64];
		json_t *conf = json_object();
		json_t *rootfs = json_object();
		hoist_platform_format(&st->plat, ps, sizeof(ps));
		json_object_set_new(conf, "architecture", json_string(st->plat.architecture));
		json_object_set_new(conf, "os", json_string(st->plat.os));
		if (st->plat.variant[0])
			json_object_set_new(conf, "variant", json_string(st->plat.variant));
		json_object_set_new(conf, "config", json_object());
		json_object_set_new(rootfs, "type", json_string("layers"));
		json_object_set_new(rootfs, "diff_ids", json_array());
		json_object_set_new(conf, "rootfs", rootfs);
		json_object_set_new(conf, "history", json_array());
		hoist_image_release(&st->img);
		st->img.config = conf;
		st->tree = fstree_new();
		key_begin(&k, NULL, &st->plat);
		key_add(&k, "from", "scratch");
	} else {
		rc = load_store_image(b, image, &st->plat, &st->img, b->file, sg->from.line,
				      "base image", err);
		if (rc < 0)
			return rc;
		/* An explicit platform (--platform, FROM --platform) is what the
		 * config declares, as BuildKit does for a requested target. */
		if (b->o->platform || sg->from.platform) {
			base_platform_check(b, st, image, sg->from.line);
			config_set_platform(st->img.config, &st->plat);
		}
		key_begin(&k, NULL, &st->plat);
		key_add(&k, "from-image", st->img.manifest_digest);
		/* The base's ONBUILD triggers run in this stage and are not inherited. */
		json_t *ob = json_object_get(cfg(st), "OnBuild");
		size_t i;
		json_t *e;
		json_array_foreach(ob, i, e) if (json_is_string(e))
		    hoist_strv_push(triggers, json_string_value(e));
		json_object_del(cfg(st), "OnBuild");
	}
	if (!json_is_array(json_object_get(st->img.config, "history")))
		json_object_set_new(st->img.config, "history", json_array());
	/* BuildKit makes sure PATH is set. */
	{
		json_t *c = cfg(st);
		json_t *env = json_object_get(c, "Env");
		size_t i;
		json_t *e;
		bool has = false;
		json_array_foreach(env, i, e) if (hoist_startswith(json_string_value(e) ?: "",
								   "PATH=")) has = true;
		if (!has) {
			if (!json_is_array(env)) {
				env = json_array();
				json_object_set_new(c, "Env", env);
			}
			json_array_append_new(env, json_string(DEFAULT_PATH));
		}
	}
	key_finish(&k, st->key);
	return 0;
}

static int build_stage(struct build *b, size_t idx, struct hoist_error *err)
{
	struct hoist_stage *sg = &b->df->stages[idx];
	struct stagestate *st = &b->st[idx];
	_cleanup_strv_ struct hoist_strv triggers = HOIST_STRV_INIT;
	int rc;

	if (st->built)
		return 0;
	if (st->building)
		return hoist_error_set_at(err, -ELOOP, b->file, sg->from.line, 0,
					  "circular dependency between build stages");
	st->building = true;
	double t0 = now_s();
	if ((rc = stage_base(b, idx, &triggers, err)) < 0)
		return rc;
	int n_steps = (int)(sg->n_cmds + triggers.n) + 1;
	emit(b, HOIST_BUILD_EVENT_STEP, (int)idx, 0, n_steps, sg->from.original, false,
	     now_s() - t0);

	struct stepctx sc = {.b = b, .st = st, .stage = idx, .n_steps = n_steps};
	for (size_t i = 0; i < triggers.n; i++) {
		struct hoist_df_ast *ast = NULL;
		struct hoist_instr in;
		rc = hoist_df_parse(triggers.v[i], strlen(triggers.v[i]), b->file, &ast, err);
		if (rc >= 0 && (!ast->root || ast->root->n_children != 1))
			rc = hoist_error_set_at(err, -EINVAL, b->file, sg->from.line, 0,
						"bad ONBUILD trigger '%s' in the base image",
						triggers.v[i]);
		if (rc >= 0)
			rc = hoist_instr_parse(ast->root->children[0], b->file, &in, err);
		hoist_df_ast_free(ast);
		if (rc < 0)
			return hoist_error_prefix(err, "ONBUILD trigger of the base image");
		in.line = sg->from.line;
		sc.stepno = (int)i + 1;
		rc = run_step(&sc, &in, err);
		hoist_instr_release(&in);
		if (rc < 0)
			return rc;
	}
	for (size_t i = 0; i < sg->n_cmds; i++) {
		sc.stepno = (int)(triggers.n + i) + 1;
		if ((rc = run_step(&sc, &sg->cmds[i], err)) < 0)
			return rc;
	}
	st->building = false;
	st->built = true;
	return 0;
}

/* ---- driver ----------------------------------------------------------- */

void hoist_build_opts_init(struct hoist_build_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->source_date_epoch = -1;
}

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void predefine(struct build *b)
{
	struct hoist_platform host;
	char ps[96];
	hoist_platform_host(&host);
	hoist_platform_format(&b->plat, ps, sizeof(ps));
	kv_set(&b->predef, "TARGETPLATFORM", ps);
	kv_set(&b->predef, "TARGETOS", b->plat.os);
	kv_set(&b->predef, "TARGETARCH", b->plat.architecture);
	kv_set(&b->predef, "TARGETVARIANT", b->plat.variant);
	hoist_platform_format(&host, ps, sizeof(ps));
	kv_set(&b->predef, "BUILDPLATFORM", ps);
	kv_set(&b->predef, "BUILDOS", host.os);
	kv_set(&b->predef, "BUILDARCH", host.architecture);
	kv_set(&b->predef, "BUILDVARIANT", host.variant);
}

static bool builtin_arg(const char *name)
{
	static const char *const names[] = {
	    "HTTP_PROXY", "http_proxy", "HTTPS_PROXY",	     "https_proxy",
	    "FTP_PROXY",  "ftp_proxy",	"NO_PROXY",	     "no_proxy",
	    "ALL_PROXY",  "all_proxy",	"SOURCE_DATE_EPOCH",
	};
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (strcmp(names[i], name) == 0)
			return true;
	return hoist_startswith(name, "TARGET") || hoist_startswith(name, "BUILD");
}

int hoist_build_run(struct hoist_store *s, const struct hoist_build_opts *o,
		    struct hoist_build_result *ret, struct hoist_error *err)
{
	struct build b = {.s = s, .o = o, .sde = -1};
	struct hoist_df_ast *ast = NULL;
	_cleanup_free_ char *dfpath = NULL;
	char abs[PATH_MAX];
	int rc;

	if (!o->context_dir)
		return hoist_error_set(err, -EINVAL, "no build context given");
	if (!realpath(o->context_dir, abs))
		return hoist_error_set(err, -errno, "build context '%s': %s", o->context_dir,
				       strerror(errno));
	b.abs_ctx = hoist_xstrdup(abs);
	dfpath = o->dockerfile ? hoist_xstrdup(o->dockerfile)
			       : hoist_xasprintf("%s/Dockerfile", o->context_dir);
	b.file = dfpath;
	if (o->platform)
		b.plat = *o->platform;
	else
		hoist_platform_host(&b.plat);

	rc = hoist_df_parse_file(dfpath, &ast, err);
	if (rc < 0)
		goto out;
	rc = hoist_dockerfile_from_ast(ast, dfpath, &b.df, err);
	if (rc < 0)
		goto out;
	rc = hoist_context_open(o->context_dir, dfpath, &b.ctx, err);
	if (rc < 0)
		goto out;

	for (const char *const *a = o->build_args; a && *a; a++) {
		if (strchr(*a, '=')) {
			hoist_strv_push(&b.bargs, *a);
		} else {
			const char *v = getenv(*a);
			if (v)
				hoist_strv_take(&b.bargs, hoist_xasprintf("%s=%s", *a, v));
		}
	}
	b.bargs_used = hoist_xcalloc(b.bargs.n + 1, sizeof(bool));
	{
		const char *sde = o->source_date_epoch >= 0 ? NULL : barg(&b, "SOURCE_DATE_EPOCH");
		uint64_t v;
		if (o->source_date_epoch >= 0)
			b.sde = o->source_date_epoch;
		else if (!sde)
			sde = getenv("SOURCE_DATE_EPOCH");
		if (sde && *sde) {
			if (hoist_parse_u64(sde, INT64_MAX, &v) < 0) {
				rc = hoist_error_set(err, -EINVAL, "invalid SOURCE_DATE_EPOCH '%s'",
						     sde);
				goto out;
			}
			b.sde = (int64_t)v;
		}
	}
	predefine(&b);

	/* Global ARGs: build args override defaults; defaults see earlier ones. */
	for (size_t i = 0; i < b.df->n_meta_args; i++) {
		const struct hoist_instr *in = &b.df->meta_args[i];
		for (size_t j = 0; j < in->n_kvs; j++) {
			const char *bv = barg(&b, in->kvs[j].key);
			_cleanup_free_ char *val = NULL;
			if (bv) {
				val = hoist_xstrdup(bv);
			} else if (in->kvs[j].value) {
				struct hoist_strv all = HOIST_STRV_INIT;
				for (size_t x = 0; x < b.predef.n; x++)
					hoist_strv_push(&all, b.predef.v[x]);
				for (size_t x = 0; x < b.meta.n; x++)
					hoist_strv_push(&all, b.meta.v[x]);
				hoist_strv_push(&all, "");
				all.n--;
				free(all.v[all.n]);
				all.v[all.n] = NULL;
				rc = expand(&b, all.v, in->kvs[j].value, in->line, &val, err);
				hoist_strv_release(&all);
				if (rc < 0)
					goto out;
			}
			if (val)
				kv_set(&b.meta, in->kvs[j].key, val);
		}
	}

	size_t target = b.df->n_stages - 1;
	if (o->target) {
		int t = hoist_dockerfile_find_stage(b.df, o->target);
		if (t < 0) {
			rc = hoist_error_set_at(err, -ENOENT, dfpath, 0, 0,
						"target stage '%s' could not be found", o->target);
			goto out;
		}
		target = (size_t)t;
	}

	{
		char tmpl[PATH_MAX];
		snprintf(tmpl, sizeof(tmpl), "%s/tmp/build-XXXXXX", hoist_store_root(s));
		_cleanup_free_ char *tmpd = hoist_xasprintf("%s/tmp", hoist_store_root(s));
		(void)mkdir(tmpd, 0700);
		if (!mkdtemp(tmpl)) {
			rc = hoist_error_set(err, -errno,
					     "creating a temporary directory in '%s': %s", tmpd,
					     strerror(errno));
			goto out;
		}
		b.tmpdir = hoist_xstrdup(tmpl);
	}
	/* Blobs written from here on are unreferenced until the cache records
	 * and tags are: keep `hoist cache prune` (exclusive) out meanwhile. */
	{
		if ((rc = hoist_store_lock(s, false, err)) < 0)
			goto out;
		b.locked = true;
	}

	b.st = hoist_xcalloc(b.df->n_stages, sizeof(*b.st));
	for (size_t i = 0; i < b.df->n_stages; i++)
		hoist_image_init(&b.st[i].img);
	rc = build_stage(&b, target, err);
	if (rc < 0)
		goto out;

	for (size_t i = 0; i < b.bargs.n; i++) {
		_cleanup_free_ char *name =
		    hoist_xstrndup(b.bargs.v[i], strcspn(b.bargs.v[i], "="));
		if (!b.bargs_used[i] && !builtin_arg(name) && !kv_lookup(&b.meta, name)) {
			_cleanup_free_ char *w =
			    hoist_xasprintf("one or more build-args [%s] were not consumed", name);
			emit(&b, HOIST_BUILD_EVENT_WARNING, -1, 0, 0, w, false, 0);
		}
	}

	struct stagestate *fin = &b.st[target];
	for (const char *const *l = o->labels; l && *l; l++) {
		json_t *c = cfg(fin);
		json_t *labels = json_object_get(c, "Labels");
		const char *eq = strchr(*l, '=');
		_cleanup_free_ char *key =
		    eq ? hoist_xstrndup(*l, (size_t)(eq - *l)) : hoist_xstrdup(*l);
		if (!json_is_object(labels)) {
			labels = json_object();
			json_object_set_new(c, "Labels", labels);
		}
		json_object_set_new(labels, key, json_string(eq ? eq + 1 : ""));
	}
	if (b.sde >= 0 || !json_object_get(fin->img.config, "created")) {
		_cleanup_free_ char *ts = created_now(&b);
		json_object_set_new(fin->img.config, "created", json_string(ts));
	}

	struct hoist_descriptor man;
	rc = hoist_image_commit(s, &fin->img, &man, err);
	if (rc < 0)
		goto out;
	for (const char *const *t = o->tags; t && *t; t++) {
		struct hoist_ref ref = {0};
		if ((rc = hoist_ref_parse(*t, &ref, err)) < 0)
			goto out;
		_cleanup_free_ char *name = hoist_ref_string(&ref);
		hoist_ref_release(&ref);
		if ((rc = hoist_store_tag_set(s, name, man.digest, err)) < 0)
			goto out;
	}
	emit(&b, HOIST_BUILD_EVENT_DONE, (int)target, 0, 0, man.digest, false, 0);
	if (ret) {
		memset(ret, 0, sizeof(*ret));
		ret->manifest = man;
		_cleanup_free_ char *canon = hoist_json_canonical(fin->img.config);
		hoist_sha256_digest(canon, strlen(canon), ret->config_digest);
		ret->steps = b.steps + b.cached;
		ret->steps_cached = b.cached;
	}
	rc = 0;
out:
	ctxfiles_save(b.cf);
	if (b.tmpdir) {
		nftw(b.tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
		free(b.tmpdir);
	}
	if (b.st) {
		for (size_t i = 0; i < b.df->n_stages; i++) {
			hoist_image_release(&b.st[i].img);
			fstree_free(b.st[i].tree);
			hoist_strv_release(&b.st[i].args);
		}
		free(b.st);
	}
	if (b.locked)
		hoist_store_unlock(s);
	runstate_free(b.run);
	fstree_free(b.ctxtree);
	ctxfiles_free(b.cf);
	hoist_context_free(b.ctx);
	hoist_dockerfile_free(b.df);
	hoist_df_ast_free(ast);
	hoist_strv_release(&b.bargs);
	hoist_strv_release(&b.meta);
	hoist_strv_release(&b.predef);
	free(b.bargs_used);
	free(b.abs_ctx);
	return rc;
}

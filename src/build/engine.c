/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The build engine's driver: hoist_build_run() (options, build args, global
 * ARGs, --target, the temp dir and store lock, final labels, commit, tags),
 * the per-stage step loop (ONBUILD triggers, then the stage's instructions),
 * and the small helpers every engine file shares (events, clocks, ARG
 * lookup, word expansion).
 *
 * The rest of the engine: engine-stage.c (FROM, the stage graph),
 * engine-meta.c (instruction dispatch and the config-only instructions),
 * engine-fs.c (COPY/ADD and RUN steps), engine-cache.c (cache records,
 * layers and history of a step).
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "build-private.h"
#include "run-private.h"
#include "hoist/ref.h"
#include "hoist/shell.h"

/* ---- small helpers ----------------------------------------------------- */

void build_emit(struct build *b, enum hoist_build_event_kind kind, int stage, int step, int n_steps,
		const char *text, bool cached, double secs)
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

double build_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

char *build_created_now(struct build *b)
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

int64_t build_mtime_now(struct build *b)
{
	return b->sde >= 0 ? b->sde : (int64_t)time(NULL);
}

const char *kv_lookup(const struct hoist_strv *v, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = v->n; i-- > 0;)
		if (strncmp(v->v[i], name, n) == 0 && v->v[i][n] == '=')
			return v->v[i] + n + 1;
	return NULL;
}

void kv_set(struct hoist_strv *v, const char *key, const char *value)
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

void kv_del(struct hoist_strv *v, const char *key)
{
	size_t n = strlen(key), j = 0;
	for (size_t i = 0; i < v->n; i++) {
		if (strncmp(v->v[i], key, n) == 0 && v->v[i][n] == '=')
			free(v->v[i]);
		else
			v->v[j++] = v->v[i];
	}
	v->n = j;
	if (v->v)
		v->v[j] = NULL;
}

const char *build_barg(struct build *b, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = b->bargs.n; i-- > 0;)
		if (strncmp(b->bargs.v[i], name, n) == 0 && b->bargs.v[i][n] == '=') {
			b->bargs_used[i] = true;
			return b->bargs.v[i] + n + 1;
		}
	return NULL;
}

json_t *stage_cfg(struct stagestate *st)
{
	json_t *c = json_object_get(st->img.config, "config");
	if (!json_is_object(c)) {
		c = json_object();
		json_object_set_new(st->img.config, "config", c);
	}
	return c;
}

/* Expansion environment: the stage's Env, then its ARG values (the later of
 * ARG and ENV wins: an ENV removes its names from st->args). */
char **stage_expand_env(struct stagestate *st)
{
	struct hoist_strv v = HOIST_STRV_INIT;
	json_t *env = json_object_get(stage_cfg(st), "Env");
	size_t i;
	json_t *e;
	json_array_foreach(env, i, e) if (json_is_string(e))
	    hoist_strv_push(&v, json_string_value(e));
	for (i = 0; i < st->args.n; i++)
		hoist_strv_push(&v, st->args.v[i]);
	hoist_strv_push(&v, "");
	v.n--;
	free(v.v[v.n]);
	v.v[v.n] = NULL;
	return v.v;
}

int build_expand(struct build *b, char **envp, const char *word, int line, char **ret,
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

int build_expand_words(struct build *b, char **envp, const char *word, int line, char ***ret,
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

int build_stage(struct build *b, size_t idx, struct hoist_error *err)
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
	double t0 = build_now();
	if ((rc = stage_base(b, idx, &triggers, err)) < 0)
		return rc;
	int n_steps = (int)(sg->n_cmds + triggers.n) + 1;
	build_emit(b, HOIST_BUILD_EVENT_STEP, (int)idx, 0, n_steps, sg->from.original, false,
		   build_now() - t0);

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
		const char *sde =
		    o->source_date_epoch >= 0 ? NULL : build_barg(&b, "SOURCE_DATE_EPOCH");
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
			const char *bv = build_barg(&b, in->kvs[j].key);
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
				rc = build_expand(&b, all.v, in->kvs[j].value, in->line, &val, err);
				hoist_strv_release(&all);
				if (rc < 0)
					goto out;
			}
			if (val)
				kv_set(&b.meta, in->kvs[j].key, val);
		}
	}

	if ((rc = stages_check_from(&b, err)) < 0)
		goto out;

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

	/* Blobs written from here on are unreferenced until the cache records
	 * and tags are: keep `hoist cache prune` (exclusive) out meanwhile. */
	if ((rc = hoist_store_lock(s, false, err)) < 0)
		goto out;
	b.locked = true;
	/* In this process's lease: the next command removes it if we are killed. */
	if ((rc = hoist_store_tmpdir(s, "build-", &b.tmpdir, err)) < 0)
		goto out;

	b.st = hoist_xcalloc(b.df->n_stages, sizeof(*b.st));
	for (size_t i = 0; i < b.df->n_stages; i++) {
		hoist_image_init(&b.st[i].img);
		b.st[i].base = -1;
	}
	if (!o->no_cache)
		cache_sources_load(&b);
	rc = build_stage(&b, target, err);
	if (rc < 0)
		goto out;

	for (size_t i = 0; i < b.bargs.n; i++) {
		_cleanup_free_ char *name =
		    hoist_xstrndup(b.bargs.v[i], strcspn(b.bargs.v[i], "="));
		if (!b.bargs_used[i] && !builtin_arg(name) && !kv_lookup(&b.meta, name)) {
			_cleanup_free_ char *w =
			    hoist_xasprintf("one or more build-args [%s] were not consumed", name);
			build_emit(&b, HOIST_BUILD_EVENT_WARNING, -1, 0, 0, w, false, 0);
		}
	}

	struct stagestate *fin = &b.st[target];
	for (const char *const *l = o->labels; l && *l; l++) {
		json_t *c = stage_cfg(fin);
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
		_cleanup_free_ char *ts = build_created_now(&b);
		json_object_set_new(fin->img.config, "created", json_string(ts));
	}

	struct hoist_descriptor man;
	if ((rc = layers_in_compression(&b, &fin->img, err)) < 0)
		goto out;
	if ((rc = cache_inline_embed(&b, target, &fin->img, err)) < 0)
		goto out;
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
	if (o->n_cache_to > HOIST_BUILD_MAX_CACHE_TO) {
		rc =
		    hoist_error_set(err, -E2BIG, "at most %d --cache-to", HOIST_BUILD_MAX_CACHE_TO);
		goto out;
	}
	char cache_md[HOIST_BUILD_MAX_CACHE_TO][HOIST_DIGEST_MAX];
	memset(cache_md, 0, sizeof(cache_md));
	if ((rc = cache_export(&b, target, cache_md, err)) < 0)
		goto out;
	if (b.n_csrc) {
		_cleanup_free_ char *m =
		    hoist_xasprintf("cache: %d steps from --cache-from, %llu bytes downloaded",
				    b.cache_hits, (unsigned long long)b.cache_bytes);
		build_emit(&b, HOIST_BUILD_EVENT_LOG, -1, 0, 0, m, false, 0);
	}
	build_emit(&b, HOIST_BUILD_EVENT_DONE, (int)target, 0, 0, man.digest, false, 0);
	if (ret) {
		memset(ret, 0, sizeof(*ret));
		ret->manifest = man;
		_cleanup_free_ char *canon = hoist_json_canonical(fin->img.config);
		hoist_sha256_digest(canon, strlen(canon), ret->config_digest);
		ret->steps = b.steps + b.cached;
		ret->steps_cached = b.cached;
		memcpy(ret->cache_manifests, cache_md, sizeof(cache_md));
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
			hoist_fstree_free(b.st[i].tree);
			hoist_strv_release(&b.st[i].args);
			hoist_strv_release(&b.st[i].argdecl);
		}
		free(b.st);
	}
	cache_sources_free(&b);
	hoist_strv_release(&b.keys);
	free(b.key_stage);
	if (b.locked)
		hoist_store_unlock(s);
	runstate_free(b.run);
	hoist_fstree_free(b.ctxtree);
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

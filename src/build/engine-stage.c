/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Stage resolution: a stage by name or index, a base or --from image from
 * the store (pulled when missing), the stage's platform, and FROM: starting
 * a stage's image from scratch, an earlier stage, or a store image.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "build-private.h"
#include "run-private.h"
#include "hoist/ref.h"
#include "hoist/shell.h"

#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* A stage by name or index, -1 if neither. */
int stage_ref(struct build *b, const char *name)
{
	int i = hoist_dockerfile_find_stage(b->df, name);
	uint64_t n;
	if (i >= 0)
		return i;
	if (hoist_parse_u64(name, INT_MAX, &n) == 0 && n < b->df->n_stages)
		return (int)n;
	return -1;
}

int load_store_image(struct build *b, const char *name, const struct hoist_platform *plat,
		     struct hoist_image *img, const char *file, int line, const char *what,
		     bool *ret_missing, struct hoist_error *err)
{
	char dg[HOIST_DIGEST_MAX];
	struct hoist_ref ref = {0};
	struct hoist_error e2 = {0};
	bool local = false; /* a tag in the store names it */
	int r;

	if (ret_missing)
		*ret_missing = false;
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
			local = hoist_store_tag_get(b->s, s, dg, &e2) >= 0;
			if ((b->o->pull || !local) &&
			    build_pull(b->s, b->o, s, plat, dg, err) < 0) {
				hoist_ref_release(&ref);
				if (!local && ret_missing) {
					*ret_missing = true;
					return err->code;
				}
				return hoist_error_prefix(err, "%s:%d: %s", file, line, what);
			}
		}
		hoist_ref_release(&ref);
	}
	if (!hoist_store_blob_exists(b->s, dg) && build_pull(b->s, b->o, name, plat, dg, err) < 0) {
		if (!local && ret_missing) {
			*ret_missing = true;
			return err->code;
		}
		return hoist_error_prefix(err, "%s:%d: %s", file, line, what);
	}
	r = hoist_image_load(b->s, dg, plat, img, err);
	if (r < 0)
		return hoist_error_prefix(err, "%s:%d: loading %s '%s'", file, line, what, name);
	return 0;
}

/* Local image names as a user would type them: "bb:latest" and "bb". */
static void add_local_names(struct build *b, struct hoist_strv *out)
{
	struct hoist_tag *tags = NULL;
	size_t n = 0;
	if (hoist_store_tag_list(b->s, &tags, &n, NULL) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		struct hoist_ref ref = {0};
		if (hoist_ref_parse(tags[i].name, &ref, NULL) < 0)
			continue;
		char *f = hoist_ref_familiar(&ref);
		if (hoist_endswith(f, ":latest"))
			hoist_strv_take(out, hoist_xstrndup(f, strlen(f) - strlen(":latest")));
		hoist_strv_take(out, f);
		hoist_ref_release(&ref);
	}
	hoist_store_tags_free(tags, n);
}

int stage_image_missing(struct build *b, size_t stage, bool from, const char *name, int line,
			const char *ctx, struct hoist_error *err)
{
	enum { MAX_LISTED = 10 };
	struct hoist_buf msg = HOIST_BUF_INIT;
	_cleanup_strv_ struct hoist_strv cands = HOIST_STRV_INIT;
	char why[HOIST_ERROR_MSG_MAX];
	size_t listed = 0;
	int code = err->code ? err->code : -ENOENT;

	/* The registry's error, one line; none when there is no registry to ask. */
	snprintf(why, sizeof(why), "%s", b->o->registry ? err->msg : "");
	why[strcspn(why, "\n")] = '\0';

	hoist_buf_addf(&msg, "%s%sno stage or local image named '%s'", ctx ? ctx : "",
		       ctx ? ": " : "", name);
	/* FROM starts only from an earlier stage; COPY --from takes any other. */
	for (size_t i = 0; i < b->df->n_stages; i++) {
		const char *sn = b->df->stages[i].name;
		if (!sn || i == stage || (from && i > stage))
			continue;
		hoist_strv_push(&cands, sn);
		if (listed < MAX_LISTED)
			hoist_buf_addf(&msg, "%s'%s'", listed ? ", " : " (stages: ", sn);
		else if (listed == MAX_LISTED)
			hoist_buf_adds(&msg, ", ...");
		listed++;
	}
	hoist_buf_adds(&msg, listed ? ""
			     : from ? " (no stage before this one has a name"
				    : " (no other stage has a name");
	int later = hoist_dockerfile_find_stage(b->df, name);
	if (from && later >= 0)
		hoist_buf_addf(&msg, "; stage '%s' is at line %d, not before this FROM", name,
			       b->df->stages[later].from.line);
	add_local_names(b, &cands);
	const char *near = hoist_closest_match(name, (const char *const *)cands.v, cands.n);
	if (near)
		hoist_buf_addf(&msg, "; did you mean '%s'?", near);
	hoist_buf_addc(&msg, ')');
	if (why[0])
		hoist_buf_addf(&msg, ", and the registry lookup failed: %s", why);
	hoist_error_set_at(err, code, b->file, line, 0, "%s", msg.data);
	hoist_buf_release(&msg);
	return code;
}

static void tree_clone_rec(struct hoist_fsnode *dst, const struct hoist_fsnode *src)
{
	for (size_t i = 0; i < src->n_kids; i++) {
		const struct hoist_fsnode *k = src->kids[i];
		struct hoist_fsnode *n = hoist_fstree_put(dst, k->name, &k->e, k->src);
		tree_clone_rec(n, k);
	}
}

static struct hoist_fstree *tree_clone(const struct hoist_fstree *t)
{
	struct hoist_fstree *c = hoist_fstree_new(0);
	hoist_entry_release(&c->root->e);
	hoist_entry_copy(&c->root->e, &t->root->e);
	free(c->root->e.path);
	c->root->e.path = NULL;
	tree_clone_rec(c->root, t->root);
	/* The clone's content paths may point into not-yet-unpacked snapshots. */
	c->store = t->store;
	return c;
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
	if ((rc = build_expand(b, menv, sg->from.platform, sg->from.line, &ps, err)) < 0)
		return rc;
	if (hoist_platform_parse_known(ps, &st->plat, &e2) < 0)
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
	build_emit(b, HOIST_BUILD_EVENT_WARNING, -1, 0, 0, w, false, 0);
}

/* What FROM expands with: the predefined and the global ARGs only. New vector. */
static char **from_env(struct build *b)
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
	return all.v;
}

/* A lookup that notes the names it found unset or empty. */
struct from_lookup {
	char **envp;
	struct hoist_strv empty;
};

static const char *from_lookup_fn(const char *name, void *userdata)
{
	struct from_lookup *fl = userdata;
	const char *v = hoist_shell_lookup_envp(name, fl->envp);
	bool seen = false;
	if (v && *v)
		return v;
	for (size_t i = 0; i < fl->empty.n; i++)
		seen = seen || strcmp(fl->empty.v[i], name) == 0;
	if (!seen)
		hoist_strv_push(&fl->empty, name);
	return v;
}

/* Whether FROM can see name at all: a global or a predefined ARG. */
static bool is_global_arg(struct build *b, const char *name)
{
	const struct hoist_dockerfile *df = b->df;
	for (size_t i = 0; i < df->n_meta_args; i++)
		for (size_t j = 0; j < df->meta_args[i].n_kvs; j++)
			if (strcmp(df->meta_args[i].kvs[j].key, name) == 0)
				return true;
	return kv_lookup(&b->predef, name) != NULL;
}

/*
 * Stage idx's FROM name, expanded. An empty one is an error naming the
 * ARGs that made it so and how to set them ("FROM $BASE_IMAGE: the image
 * name is empty: ARG 'BASE_IMAGE' is empty (set it with --build-arg
 * BASE_IMAGE=<image>)"), or saying that a name is no global ARG at all,
 * which a --build-arg alone cannot fix.
 */
static int from_image(struct build *b, size_t idx, char **menv, char **ret, struct hoist_error *err)
{
	const struct hoist_stage *sg = &b->df->stages[idx];
	struct from_lookup fl = {.envp = menv};
	struct hoist_shell sh = {
	    .escape = b->df->escape, .lookup = from_lookup_fn, .userdata = &fl};
	_cleanup_free_ char *image = NULL;
	struct hoist_buf why = HOIST_BUF_INIT;
	int rc = hoist_shell_expand_word(&sh, sg->from.image, &image, err);

	if (rc < 0) {
		err->line = sg->from.line;
		snprintf(err->file, sizeof(err->file), "%s", b->file);
		goto out;
	}
	if (*image) {
		*ret = TAKE_PTR(image);
		goto out;
	}
	for (size_t i = 0; i < fl.empty.n; i++) {
		const char *v = fl.empty.v[i];
		if (!is_global_arg(b, v)) {
			hoist_buf_addf(
			    &why,
			    "'%s' is not an ARG declared before the first FROM (declare "
			    "it there with 'ARG %s', then set it with --build-arg %s=<%s>)",
			    v, v, v, fl.empty.n == 1 ? "image" : "value");
			break;
		}
	}
	if (!why.data && fl.empty.n == 1)
		hoist_buf_addf(&why, "ARG '%s' is empty (set it with --build-arg %s=<image>)",
			       fl.empty.v[0], fl.empty.v[0]);
	else if (!why.data && fl.empty.n) {
		hoist_buf_adds(&why, "ARGs ");
		for (size_t i = 0; i < fl.empty.n; i++)
			hoist_buf_addf(&why, "%s'%s'", i ? ", " : "", fl.empty.v[i]);
		hoist_buf_adds(&why, " are empty (set them with");
		for (size_t i = 0; i < fl.empty.n; i++)
			hoist_buf_addf(&why, " --build-arg %s=<value>", fl.empty.v[i]);
		hoist_buf_addc(&why, ')');
	}
	rc = hoist_error_set_at(err, -EINVAL, b->file, sg->from.line, 0,
				"FROM %s: the image name is empty%s%s", sg->from.image,
				why.data ? ": " : "", why.data ? why.data : "");
out:
	hoist_buf_release(&why);
	hoist_strv_release(&fl.empty);
	return rc;
}

int stages_check_from(struct build *b, struct hoist_error *err)
{
	char **menv = from_env(b);
	int rc = 0;
	for (size_t i = 0; i < b->df->n_stages && rc >= 0; i++) {
		char *image = NULL;
		rc = from_image(b, i, menv, &image, err);
		free(image);
	}
	hoist_strv_free(menv);
	return rc;
}

/* Start a stage's image from scratch, another stage, or a store image. */
int stage_base(struct build *b, size_t idx, struct hoist_strv *triggers, struct hoist_error *err)
{
	struct hoist_stage *sg = &b->df->stages[idx];
	struct stagestate *st = &b->st[idx];
	_cleanup_free_ char *image = NULL;
	char **menv = from_env(b);
	struct keyhash k;
	bool missing;
	int rc;

	rc = from_image(b, idx, menv, &image, err);
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
		st->base = si;
		st->tree = p->tree ? tree_clone(p->tree) : NULL;
		if (!sg->from.platform)
			st->plat = p->plat; /* as BuildKit: a stage inherits its base's */
		/* ARG values go on with the stage's environment (BuildKit copies
		 * the LLB state); the declarations do not: the child's RUN
		 * history lists only its own (BuildKit 20.10, checked). */
		hoist_strv_release(&st->args);
		for (size_t i = 0; i < p->args.n; i++)
			hoist_strv_push(&st->args, p->args.v[i]);
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
		st->tree = hoist_fstree_new(0);
		/* COPY --from may bring content paths into not-yet-unpacked snapshots. */
		st->tree->store = b->s;
		key_begin(&k, NULL, &st->plat);
		key_add(&k, "from", "scratch");
	} else {
		rc = load_store_image(b, image, &st->plat, &st->img, b->file, sg->from.line,
				      "base image", &missing, err);
		if (rc < 0 && missing)
			return stage_image_missing(b, idx, true, image, sg->from.line, NULL, err);
		if (rc < 0)
			return rc;
		/* A base whose layers go through symlinks fails at its FROM, even
		 * when no step reads its files (its layers would be passed on).
		 * The tree made here serves the first step that needs one; once
		 * a stack merged cleanly, a marker makes this one stat. */
		if (!hoist_fstree_image_checked(b->s, &st->img) &&
		    (rc = ensure_tree(b, st, err)) < 0) {
			err->line = sg->from.line;
			err->column = 0;
			snprintf(err->file, sizeof(err->file), "%s", b->file);
			return hoist_error_prefix(err, "base image '%s'", image);
		}
		/* An explicit platform (--platform, FROM --platform) is what the
		 * config declares, as BuildKit does for a requested target. */
		if (b->o->platform || sg->from.platform) {
			base_platform_check(b, st, image, sg->from.line);
			config_set_platform(st->img.config, &st->plat);
		}
		key_begin(&k, NULL, &st->plat);
		key_add(&k, "from-image", st->img.manifest_digest);
	}
	/* The base's ONBUILD triggers run in this stage and are not inherited,
	 * whether the base is an image or an earlier stage of this Dockerfile
	 * (BuildKit 20.10 copies the stage's config, OnBuild included, and
	 * runs and clears it as it does an image's). */
	{
		json_t *ob = json_object_get(stage_cfg(st), "OnBuild");
		size_t i;
		json_t *e;
		json_array_foreach(ob, i, e) if (json_is_string(e))
		    hoist_strv_push(triggers, json_string_value(e));
		json_object_del(stage_cfg(st), "OnBuild");
	}
	if (!json_is_array(json_object_get(st->img.config, "history")))
		json_object_set_new(st->img.config, "history", json_array());
	/* BuildKit makes sure PATH is set. */
	{
		json_t *c = stage_cfg(st);
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

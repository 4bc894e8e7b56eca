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
	build_emit(b, HOIST_BUILD_EVENT_WARNING, -1, 0, 0, w, false, 0);
}

/* Start a stage's image from scratch, another stage, or a store image. */
int stage_base(struct build *b, size_t idx, struct hoist_strv *triggers, struct hoist_error *err)
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
	rc = build_expand(b, menv, sg->from.image, sg->from.line, &image, err);
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
				      "base image", err);
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

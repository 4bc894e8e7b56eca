/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An image's config applied the way `docker run` applies it: user, Env with
 * overrides and defaults, WorkingDir, and the root filesystem of its layers.
 */
#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "hoist/sandbox.h"

#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static void push_json_strings(struct hoist_strv *v, const json_t *a)
{
	size_t i;
	json_t *x;
	json_array_foreach(a, i, x)
	{
		if (json_is_string(x))
			hoist_strv_push(v, json_string_value(x));
	}
}

static ssize_t env_find(const struct hoist_strv *env, const char *key, size_t klen)
{
	for (size_t i = 0; i < env->n; i++)
		if (strncmp(env->v[i], key, klen) == 0 && env->v[i][klen] == '=')
			return (ssize_t)i;
	return -1;
}

/* Replace K's entry with "K=V", or add it. */
static void env_set(struct hoist_strv *env, const char *kv)
{
	const char *eq = strchr(kv, '=');
	ssize_t i = env_find(env, kv, eq ? (size_t)(eq - kv) : strlen(kv));
	if (i < 0) {
		hoist_strv_push(env, kv);
		return;
	}
	free(env->v[i]);
	env->v[i] = hoist_xstrdup(kv);
}

int hoist_image_run_prepare(struct hoist_store *s, const struct hoist_idmap *idmap,
			    const struct hoist_image *img, const char *user,
			    const char *const *env_overrides, const char *workdir,
			    struct hoist_image_run *ret, struct hoist_error *err)
{
	struct hoist_strv diff_ids = HOIST_STRV_INIT;
	const json_t *cfg = json_object_get(img->config, "config");
	int r;

	memset(ret, 0, sizeof(*ret));
	push_json_strings(&diff_ids,
			  json_object_get(json_object_get(img->config, "rootfs"), "diff_ids"));
	if (diff_ids.n != img->n_layers) {
		r = hoist_error_set(err, -EBADMSG, "image config has %zu diff_ids for %zu layers",
				    diff_ids.n, img->n_layers);
		goto fail;
	}
	r = hoist_rootfs_prepare(s, idmap, img->layers, (const char *const *)diff_ids.v,
				 img->n_layers, &ret->rootfs, err);
	if (r < 0)
		goto fail;
	if (!user)
		user = json_string_value(json_object_get(cfg, "User"));
	r = hoist_user_resolve(&ret->rootfs, user, &ret->user, err);
	if (r < 0)
		goto fail;
	push_json_strings(&ret->env, json_object_get(cfg, "Env"));
	for (const char *const *kv = env_overrides; kv && *kv; kv++)
		env_set(&ret->env, *kv);
	if (env_find(&ret->env, "PATH", 4) < 0)
		hoist_strv_push(&ret->env, DEFAULT_PATH);
	if (env_find(&ret->env, "HOME", 4) < 0)
		hoist_strv_take(&ret->env, hoist_xasprintf("HOME=%s", ret->user.home));
	if (!workdir || !*workdir)
		workdir = json_string_value(json_object_get(cfg, "WorkingDir"));
	ret->cwd = hoist_xstrdup(workdir && *workdir ? workdir : "/");
	hoist_strv_release(&diff_ids);
	return 0;
fail:
	hoist_strv_release(&diff_ids);
	hoist_image_run_release(ret);
	return r;
}

void hoist_image_run_apply(const struct hoist_image_run *ir, const struct hoist_idmap *idmap,
			   struct hoist_sandbox_opts *o)
{
	o->rootfs = &ir->rootfs;
	o->idmap = idmap;
	o->env = (const char *const *)ir->env.v;
	o->cwd = ir->cwd;
	o->uid = ir->user.uid;
	o->gid = ir->user.gid;
	o->groups = ir->user.groups;
	o->n_groups = ir->user.n_groups;
}

void hoist_image_run_release(struct hoist_image_run *ir)
{
	hoist_rootfs_release(&ir->rootfs);
	hoist_strv_release(&ir->env);
	free(ir->cwd);
	ir->cwd = NULL;
}

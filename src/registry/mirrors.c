/* SPDX-License-Identifier: Apache-2.0 */
/*
 * registries.conf applied to a pull: the name is resolved into sources
 * (mirrors, then the location; see regconf.c) and the first one that can
 * be reached and has the manifest is used, as podman does. Only the
 * manifest decides: once a source has answered, its blobs are fetched from
 * it and a failure there is the pull's failure.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "registry-private.h"

bool reg_offline(const struct hoist_registry_opts *opts)
{
	const char *env = getenv("HOIST_OFFLINE");
	return (opts && opts->offline) || (env && *env && strcmp(env, "0") != 0);
}

void reg_source_release(struct reg_source *s)
{
	hoist_registry_manifest_release(&s->top);
	reg_client_free(s->c);
	s->c = NULL;
	hoist_ref_release(&s->ref);
	hoist_pull_plan_release(&s->plan);
	hoist_regconf_release(&s->conf);
	s->used = NULL;
}

/* Try one source: open its registry and fetch the manifest. */
static int try_source(const struct hoist_registry_opts *opts, const struct hoist_pull_source *src,
		      CURL *h, struct reg_source *ret, struct hoist_error *err)
{
	int r = hoist_ref_parse(src->ref, &ret->ref, err);
	if (r < 0)
		return r;
	r = reg_client_open(opts, ret->ref.domain, src->insecure, &ret->c, err);
	if (r >= 0)
		r = reg_fetch_manifest(ret->c, h, ret->ref.path,
				       ret->ref.digest ? ret->ref.digest : ret->ref.tag, &ret->top,
				       err);
	if (r < 0) {
		hoist_registry_manifest_release(&ret->top);
		reg_client_free(ret->c);
		ret->c = NULL;
		hoist_ref_release(&ret->ref);
	}
	return r;
}

int reg_source_open(const struct hoist_registry_opts *opts, const char *ref, CURL *h,
		    struct reg_source *ret, struct hoist_error *err)
{
	_cleanup_buf_ struct hoist_buf tried = HOIST_BUF_INIT;
	struct hoist_error e1 = {0};
	int r, last = -ENOENT;

	memset(ret, 0, sizeof(*ret));
	hoist_regconf_init(&ret->conf);
	r = hoist_regconf_load(&ret->conf, opts ? opts->registries_conf : NULL, err);
	if (r >= 0)
		r = hoist_regconf_plan(&ret->conf, ref, &ret->plan, err);
	if (r < 0)
		return r;

	if (opts && opts->pull == HOIST_PULL_NEVER)
		return hoist_error_set(
		    err, -ENOENT, "'%s' is not in the store and --pull is 'never'", ret->plan.name);
	if (reg_offline(opts)) {
		_cleanup_free_ char *where = hoist_pull_plan_describe(&ret->plan);
		return hoist_error_set(
		    err, -ENETUNREACH,
		    "hoist is offline (--offline or HOIST_OFFLINE): '%s' would be "
		    "pulled from %s",
		    ret->plan.name, where);
	}
	hoist_buf_init(&tried, HOIST_ERROR_MSG_MAX);
	for (size_t i = 0; i < ret->plan.n; i++) {
		const struct hoist_pull_source *src = &ret->plan.v[i];
		hoist_error_clear(&e1);
		r = try_source(opts, src, h, ret, &e1);
		if (r >= 0) {
			ret->used = src;
			return 0;
		}
		last = r;
		if (ret->plan.n == 1) { /* one source: its error as it is */
			if (err)
				*err = e1;
			return r;
		}
		hoist_buf_addf(&tried, "%s%s%s: %s", i ? "; " : "", src->ref,
			       src->mirror ? " (mirror)" : "", e1.msg);
	}
	hoist_buf_adds(&tried, "");
	return hoist_error_set(err, last, "no source had it: %s", tried.data ? tried.data : "");
}

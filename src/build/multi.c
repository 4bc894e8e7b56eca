/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Multi-platform builds: one hoist_build_run() per target platform, then an
 * index over the images, tagged like a single build's image.
 *
 * The platforms are built one after the other, not concurrently: a RUN
 * clones a sandbox, and no clone may happen while another build's registry
 * pull (libcurl and its resolver threads) is running in this process. The
 * store lock is taken shared once around all of them, so the images of the
 * first platforms (committed, but referenced by no tag until the index is
 * tagged) survive a `hoist cache prune` started meanwhile.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "build-private.h"
#include "hoist/ref.h"

struct relay {
	hoist_build_event_fn fn;
	void *userdata;
	const char *plat; /* "linux/arm64" */
	struct hoist_strv *warned;
};

/*
 * Pass a platform's event on with the platform in front of the stage name,
 * as buildx prints "[linux/arm64 build 2/3]"; each warning text only once.
 * The per-image DONE events are kept back: the index is what is done.
 */
static void relay_event(const struct hoist_build_event *ev, void *userdata)
{
	struct relay *r = userdata;
	struct hoist_build_event e = *ev;
	char stage[256];

	if (ev->kind == HOIST_BUILD_EVENT_DONE)
		return;
	if (ev->kind == HOIST_BUILD_EVENT_WARNING) {
		for (size_t i = 0; i < r->warned->n; i++)
			if (strcmp(r->warned->v[i], ev->text ? ev->text : "") == 0)
				return;
		hoist_strv_push(r->warned, ev->text ? ev->text : "");
	}
	snprintf(stage, sizeof(stage), "%s %s", r->plat, ev->stage ? ev->stage : "");
	e.stage = stage;
	r->fn(&e, r->userdata);
}

int hoist_build_run_multi(struct hoist_store *s, const struct hoist_build_opts *opts,
			  const struct hoist_platform *plats, size_t n, enum hoist_index_format fmt,
			  struct hoist_build_multi_result *ret, struct hoist_error *err)
{
	struct hoist_index_item items[HOIST_BUILD_MAX_PLATFORMS];
	_cleanup_strv_ struct hoist_strv warned = HOIST_STRV_INIT;
	_cleanup_strv_ struct hoist_strv names = HOIST_STRV_INIT;
	struct hoist_build_multi_result res_all; /* copied to *ret on success only */
	int rc;

	if (n == 0 || n > HOIST_BUILD_MAX_PLATFORMS)
		return hoist_error_set(err, -EINVAL,
				       "between 1 and %d platforms can be built at once",
				       HOIST_BUILD_MAX_PLATFORMS);
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < i; j++)
			if (hoist_platform_equal(&plats[i], &plats[j])) {
				char ps[96];
				hoist_platform_format(&plats[i], ps, sizeof(ps));
				return hoist_error_set(err, -EINVAL, "platform '%s' given twice",
						       ps);
			}
	/* Check the tags before hours of building, as a single build would fail
	 * on them only at the end. */
	for (const char *const *t = opts->tags; t && *t; t++) {
		struct hoist_ref ref = {0};
		if ((rc = hoist_ref_parse(*t, &ref, err)) < 0)
			return hoist_error_prefix(err, "tag '%s'", *t);
		hoist_strv_take(&names, hoist_ref_string(&ref));
		hoist_ref_release(&ref);
	}

	memset(&res_all, 0, sizeof(res_all));
	if ((rc = hoist_store_lock(s, false, err)) < 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		struct hoist_build_opts o = *opts;
		struct hoist_build_result res;
		char ps[96];
		hoist_platform_format(&plats[i], ps, sizeof(ps));
		struct relay r = {.fn = opts->on_event,
				  .userdata = opts->userdata,
				  .plat = ps,
				  .warned = &warned};
		o.platform = &plats[i];
		o.tags = NULL; /* the index is tagged, not the parts */
		if (opts->on_event) {
			o.on_event = relay_event;
			o.userdata = &r;
		}
		rc = hoist_build_run(s, &o, &res, err);
		if (rc < 0) {
			hoist_error_prefix(err, "building for %s", ps);
			goto out;
		}
		memset(&items[i], 0, sizeof(items[i]));
		snprintf(items[i].digest, sizeof(items[i].digest), "%s", res.manifest.digest);
		/* The entry names the target even when the final stage ran
		 * elsewhere (FROM --platform=$BUILDPLATFORM), as buildx does. */
		items[i].platform = &plats[i];
		res_all.images[i] = res;
		res_all.steps += res.steps;
		res_all.steps_cached += res.steps_cached;
	}
	rc = hoist_index_create(s, items, n, fmt, NULL, &res_all.index, err);
	if (rc < 0) {
		hoist_error_prefix(err, "making the image index");
		goto out;
	}
	for (size_t i = 0; i < names.n; i++)
		if ((rc = hoist_store_tag_set(s, names.v[i], res_all.index.digest, err)) < 0)
			goto out;
	if (opts->on_event) {
		struct hoist_build_event ev = {.kind = HOIST_BUILD_EVENT_DONE,
					       .stage = "",
					       .stage_index = -1,
					       .text = res_all.index.digest};
		opts->on_event(&ev, opts->userdata);
	}
	res_all.n = n;
	if (ret)
		*ret = res_all;
	rc = 0;
out:
	hoist_store_unlock(s);
	return rc;
}

int hoist_build_platforms_parse(const char *list, struct hoist_platform *plats, size_t *ret_n,
				struct hoist_error *err)
{
	size_t n = 0;
	const char *p = list;

	for (;;) {
		size_t len = strcspn(p, ",");
		/* "linux/amd64, linux/arm64" as buildx takes it */
		while (len && (*p == ' ' || *p == '\t')) {
			p++;
			len--;
		}
		while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len == 0)
			return hoist_error_set(err, -EINVAL, "empty platform in '%s'", list);
		if (n == HOIST_BUILD_MAX_PLATFORMS)
			return hoist_error_set(err, -E2BIG, "more than %d platforms in '%s'",
					       HOIST_BUILD_MAX_PLATFORMS, list);
		_cleanup_free_ char *one = hoist_xstrndup(p, len);
		int rc = hoist_platform_parse(one, &plats[n], err);
		if (rc < 0)
			return rc;
		for (size_t j = 0; j < n; j++)
			if (hoist_platform_equal(&plats[j], &plats[n])) {
				char ps[96];
				hoist_platform_format(&plats[n], ps, sizeof(ps));
				return hoist_error_set(err, -EINVAL,
						       "platform '%s' (%s) given twice", one, ps);
			}
		n++;
		p += strcspn(p, ",");
		if (!*p)
			break;
		p++;
	}
	*ret_n = n;
	return 0;
}

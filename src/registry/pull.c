/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pull: manifest or index (content negotiation), platform choice, then the
 * config and layers, several at once, each streamed through the store's
 * verifying blob writer so that nothing unverified is ever stored.
 */
#include <errno.h>
#include <string.h>

#include <hoist/limits.h>

#include "registry-private.h"

void reg_blob_list_add(struct reg_blob_list *l, const struct hoist_descriptor *d)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].digest, d->digest) == 0)
			return;
	l->v = hoist_xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->v[l->n++] = *d;
}

/* Read a descriptor object; only sha256 digests are accepted. */
int reg_parse_descriptor(json_t *j, struct hoist_descriptor *d, struct hoist_error *err)
{
	const char *mt = json_string_value(json_object_get(j, "mediaType"));
	const char *dg = json_string_value(json_object_get(j, "digest"));
	json_t *size = json_object_get(j, "size");

	memset(d, 0, sizeof(*d));
	if (!dg || !hoist_digest_valid(dg))
		return hoist_error_set(err, -EBADMSG,
				       "descriptor with a missing or unsupported "
				       "digest '%s'",
				       dg ? dg : "");
	if (!json_is_integer(size) || json_integer_value(size) < 0)
		return hoist_error_set(err, -EBADMSG, "descriptor '%s' has no valid size", dg);
	snprintf(d->media_type, sizeof(d->media_type), "%s", mt ? mt : "");
	snprintf(d->digest, sizeof(d->digest), "%s", dg);
	d->size = json_integer_value(size);
	return 0;
}

/* ---- one blob ------------------------------------------------------------- */

struct pull_ctx {
	struct hoist_store *s;
	const char *path;
	struct reg_blob_list blobs;
	uint64_t fetched; /* bytes downloaded (__atomic_* access) */
};

struct sink {
	struct hoist_store *s;
	struct reg_client *c;
	const struct hoist_descriptor *d;
	struct hoist_blob_writer *w;
	struct hoist_error *err;
	uint64_t last_report;
};

static int sink_write(void *ud, const void *data, size_t len)
{
	struct sink *k = ud;
	if (!k->w)
		return -EIO;
	uint64_t have = hoist_blob_writer_size(k->w);
	/* The descriptor's size bounds the body: a registry cannot make us
	 * store more than the manifest promised. */
	if (have + len > (uint64_t)k->d->size)
		return hoist_error_set(k->err, -EBADMSG,
				       "blob '%s' is larger than its descriptor says (%lld bytes)",
				       k->d->digest, (long long)k->d->size);
	int r = hoist_blob_writer_write(k->w, data, len, k->err);
	if (r < 0)
		return r;
	have += len;
	if (have - k->last_report >= (256u << 10) || have == (uint64_t)k->d->size) {
		k->last_report = have;
		reg_progress(k->c, HOIST_REGISTRY_EV_BYTES, k->d->digest, k->d->media_type, have,
			     (uint64_t)k->d->size, NULL);
	}
	return 0;
}

static void sink_reset(void *ud)
{
	struct sink *k = ud;
	if (k->w)
		hoist_blob_writer_abort(k->w);
	k->w = NULL;
	k->last_report = 0;
	if (hoist_store_blob_begin(k->s, &k->w, NULL) < 0)
		k->w = NULL;
}

static int pull_blob(struct reg_client *c, CURL *h, size_t i, void *ud, struct hoist_error *err)
{
	struct pull_ctx *p = ud;
	const struct hoist_descriptor *d = &p->blobs.v[i];
	struct sink k = {.s = p->s, .c = c, .d = d, .err = err};
	_cleanup_free_ char *url = hoist_xasprintf("/v2/%s/blobs/%s", p->path, d->digest);
	_cleanup_free_ char *scope = reg_scope(p->path, "pull");
	_cleanup_(reg_resp_release) struct reg_resp resp = {0};
	int r;

	if (hoist_store_blob_exists(p->s, d->digest)) {
		/* The bytes are ours already, but the descriptor is the
		 * registry's: it must still name them truly (a size that lies
		 * is refused whether or not the blob comes over the wire). */
		int64_t have = hoist_store_blob_size(p->s, d->digest);
		if (have >= 0 && have != d->size)
			return hoist_error_set(err, -EBADMSG,
					       "blob '%s' is %lld bytes, its descriptor says %lld",
					       d->digest, (long long)have, (long long)d->size);
		reg_progress(c, HOIST_REGISTRY_EV_EXISTS, d->digest, d->media_type,
			     (uint64_t)d->size, (uint64_t)d->size, NULL);
		return 0;
	}
	reg_progress(c, HOIST_REGISTRY_EV_START, d->digest, d->media_type, 0, (uint64_t)d->size,
		     NULL);
	r = hoist_store_blob_begin(p->s, &k.w, err);
	if (r < 0)
		return r;
	struct reg_req req = {.method = "GET",
			      .url = url,
			      .scope = scope,
			      .body_fd = -1,
			      .sink = sink_write,
			      .sink_reset = sink_reset,
			      .sink_ud = &k,
			      .idempotent = true,
			      .follow = true};
	r = reg_do(c, h, &req, &resp, err);
	if (r >= 0 && resp.status != 200)
		r = reg_fail(&resp, err, "fetching blob '%s' of '%s'", d->digest, p->path);
	if (r >= 0 && !k.w)
		r = hoist_error_set(err, -EIO, "cannot write blob '%s' to the store", d->digest);
	if (r >= 0 && hoist_blob_writer_size(k.w) != (uint64_t)d->size)
		r = hoist_error_set(
		    err, -EBADMSG, "blob '%s' is %llu bytes, its descriptor says %lld", d->digest,
		    (unsigned long long)hoist_blob_writer_size(k.w), (long long)d->size);
	if (r < 0) {
		if (k.w)
			hoist_blob_writer_abort(k.w);
		return r;
	}
	r = hoist_blob_writer_commit(k.w, d->digest, NULL, err);
	if (r < 0)
		return hoist_error_prefix(err, "blob '%s' of '%s'", d->digest, p->path);
	__atomic_add_fetch(&p->fetched, (uint64_t)d->size, __ATOMIC_RELAXED);
	reg_progress(c, HOIST_REGISTRY_EV_DONE, d->digest, d->media_type, (uint64_t)d->size,
		     (uint64_t)d->size, NULL);
	return 0;
}

/* ---- manifests ------------------------------------------------------------ */

bool reg_is_index(const char *mt)
{
	return strcmp(mt, HOIST_MT_OCI_INDEX) == 0 || strcmp(mt, HOIST_MT_DOCKER_LIST) == 0;
}

/* Config and layers of an image manifest into the blob list. */
int reg_collect_blobs(const struct hoist_registry_manifest *m, struct reg_blob_list *l,
		      struct hoist_error *err)
{
	json_auto_t *doc = json_loadb(m->data, m->len, 0, NULL);
	struct hoist_descriptor d;
	json_t *layer;
	size_t i;
	int r;

	r = reg_parse_descriptor(json_object_get(doc, "config"), &d, err);
	if (r < 0)
		return hoist_error_prefix(err, "config of manifest '%s'", m->digest);
	if ((size_t)d.size > HOIST_MAX_JSON_BLOB)
		return hoist_error_set(err, -EFBIG, "config '%s' is too large (%lld bytes)",
				       d.digest, (long long)d.size);
	reg_blob_list_add(l, &d);
	size_t n = json_array_size(json_object_get(doc, "layers"));
	if (n > hoist_limits()->image_layers)
		return hoist_error_set(err, -E2BIG,
				       "manifest '%s': %zu layers, more than %llu (the limit, "
				       "HOIST_LIMIT_IMAGE_LAYERS)",
				       m->digest, n,
				       (unsigned long long)hoist_limits()->image_layers);
	json_array_foreach(json_object_get(doc, "layers"), i, layer)
	{
		r = reg_parse_descriptor(layer, &d, err);
		if (r < 0)
			return hoist_error_prefix(err, "layer %zu of manifest '%s'", i, m->digest);
		reg_blob_list_add(l, &d);
	}
	return 0;
}

static bool entry_matches(json_t *entry, const struct hoist_platform *want, bool loose)
{
	json_t *pj = json_object_get(entry, "platform");
	const char *os = json_string_value(json_object_get(pj, "os"));
	const char *arch = json_string_value(json_object_get(pj, "architecture"));
	const char *var = json_string_value(json_object_get(pj, "variant"));
	struct hoist_platform p;

	if (!os || !arch)
		return false;
	_cleanup_free_ char *s = var && *var ? hoist_xasprintf("%s/%s/%s", os, arch, var)
					     : hoist_xasprintf("%s/%s", os, arch);
	if (hoist_platform_parse(s, &p, NULL) < 0)
		return false;
	if (hoist_platform_equal(&p, want))
		return true;
	/* No variant asked for: any variant of that os/architecture will do. */
	return loose && !want->variant[0] && strcmp(p.os, want->os) == 0 &&
	       strcmp(p.architecture, want->architecture) == 0;
}

/* The children of an index to fetch: one platform's, or all. */
static int pick_children(const struct hoist_registry_manifest *idx,
			 const struct hoist_platform *want, bool all, struct reg_blob_list *ret,
			 struct hoist_error *err)
{
	json_auto_t *doc = json_loadb(idx->data, idx->len, 0, NULL);
	json_t *list = json_object_get(doc, "manifests"), *e;
	struct hoist_descriptor d;
	size_t i;
	int r;

	for (int pass = 0; pass < 2 && ret->n == 0; pass++)
		json_array_foreach(list, i, e)
		{
			if (!all && !entry_matches(e, want, pass == 1))
				continue;
			r = reg_parse_descriptor(e, &d, err);
			if (r < 0)
				return hoist_error_prefix(err, "entry %zu of index '%s'", i,
							  idx->digest);
			if (reg_is_index(d.media_type))
				return hoist_error_set(err, -EPROTONOSUPPORT,
						       "nested index '%s' is not supported",
						       d.digest);
			reg_blob_list_add(ret, &d);
			if (!all)
				return 0;
		}
	if (ret->n == 0) {
		char pf[96];
		hoist_platform_format(want, pf, sizeof(pf));
		return hoist_error_set(err, -ENOENT, "no manifest for platform '%s' in index '%s'",
				       pf, idx->digest);
	}
	return 0;
}

static int store_manifest(struct hoist_store *s, const struct hoist_registry_manifest *m,
			  struct hoist_error *err)
{
	char d[HOIST_DIGEST_MAX];
	int r = hoist_store_blob_put(s, m->data, m->len, d, err);
	if (r < 0)
		return r;
	if (strcmp(d, m->digest) != 0)
		return hoist_error_set(err, -EBADMSG, "store computed '%s' for manifest '%s'", d,
				       m->digest);
	return 0;
}

static int registry_pull_locked(struct hoist_store *s, const struct hoist_registry_opts *opts,
				const char *ref, const struct hoist_platform *platform,
				struct hoist_pull_result *ret, struct hoist_error *err)
{
	struct reg_source src = {0};
	struct pull_ctx p = {.s = s};
	struct reg_blob_list children = {0};
	struct hoist_platform host;
	struct hoist_pull_result res = {0};
	CURL *h = NULL;
	int r;

	if (!platform) {
		hoist_platform_host(&host);
		platform = &host;
	}
	h = reg_handle_new();
	/* registries.conf decides where from (mirrors.c); the rest talks to
	 * the source that answered. */
	r = reg_source_open(opts, ref, h, &src, err);
	if (r < 0)
		goto out;
	struct reg_client *c = src.c;
	const struct hoist_ref rf = src.ref;
	struct hoist_registry_manifest top = src.top;
	p.path = rf.path;
	snprintf(res.source, sizeof(res.source), "%s", src.used->ref);
	reg_progress(c, HOIST_REGISTRY_EV_MANIFEST, top.digest, top.media_type, top.len, top.len,
		     NULL);
	memcpy(res.digest, top.digest, sizeof(res.digest));
	snprintf(res.media_type, sizeof(res.media_type), "%s", top.media_type);

	if (reg_is_index(top.media_type)) {
		bool all = opts && opts->all_platforms;
		r = pick_children(&top, platform, all, &children, err);
		if (r < 0)
			goto out;
		for (size_t i = 0; i < children.n; i++) {
			struct hoist_registry_manifest m = {0};
			if ((size_t)children.v[i].size > HOIST_REGISTRY_MAX_MANIFEST) {
				r = hoist_error_set(err, -EFBIG, "manifest '%s' is too large",
						    children.v[i].digest);
				goto out;
			}
			r = reg_fetch_manifest(c, h, rf.path, children.v[i].digest, &m, err);
			if (r >= 0 && reg_is_index(m.media_type))
				r = hoist_error_set(err, -EPROTONOSUPPORT,
						    "nested index '%s' is not supported", m.digest);
			if (r >= 0)
				r = reg_collect_blobs(&m, &p.blobs, err);
			if (r >= 0)
				r = store_manifest(s, &m, err);
			if (r >= 0 && !all)
				memcpy(res.manifest_digest, m.digest, sizeof(res.manifest_digest));
			hoist_registry_manifest_release(&m);
			if (r < 0)
				goto out;
		}
	} else {
		r = reg_collect_blobs(&top, &p.blobs, err);
		if (r < 0)
			goto out;
		memcpy(res.manifest_digest, top.digest, sizeof(res.manifest_digest));
	}
	curl_easy_cleanup(h);
	h = NULL;

	r = reg_run_pool(c, p.blobs.n, pull_blob, &p, err);
	if (r < 0)
		goto out;
	/* The top-level document last: a tag only ever names complete content. */
	r = store_manifest(s, &top, err);
	if (r < 0)
		goto out;
	{
		/* The name as asked for, and the one an alias or search registry
		 * resolved it to when that differs. */
		r = hoist_store_tag_set(s, src.plan.name, top.digest, err);
		if (r >= 0 && strcmp(src.used->name, src.plan.name) != 0)
			r = hoist_store_tag_set(s, src.used->name, top.digest, err);
		if (r < 0)
			goto out;
		/* Where it came from, for images and inspect; a hint, as the
		 * sources below: losing it must not fail a complete pull. */
		hoist_store_origin_set(s, src.plan.name, top.digest, src.used->ref,
				       src.used->mirror, NULL);
		if (strcmp(src.used->name, src.plan.name) != 0)
			hoist_store_origin_set(s, src.used->name, top.digest, src.used->ref,
					       src.used->mirror, NULL);
		_cleanup_free_ char *repo = hoist_xasprintf("%s/%s", rf.domain, rf.path);
		for (size_t i = 0; i < p.blobs.n; i++)
			reg_sources_add(s, p.blobs.v[i].digest, repo);
	}
	if (ret)
		*ret = res;
out:
	if (h)
		curl_easy_cleanup(h);
	if (r < 0)
		hoist_error_prefix(err, "pulling '%s'", ref);
	free(p.blobs.v);
	free(children.v);
	reg_source_release(&src);
	return r < 0 ? r : 0;
}

/* Blobs are unreferenced until the tag is written: hold gc off meanwhile, as build does. */
int hoist_registry_pull(struct hoist_store *s, const struct hoist_registry_opts *opts,
			const char *ref, const struct hoist_platform *platform,
			struct hoist_pull_result *ret, struct hoist_error *err)
{
	int r = hoist_store_lock(s, false, err);
	if (r < 0)
		return r;
	r = registry_pull_locked(s, opts, ref, platform, ret, err);
	hoist_store_unlock(s);
	return r;
}

int hoist_registry_fetch_blobs(struct hoist_store *s, const struct hoist_registry_opts *opts,
			       const char *ref, const struct hoist_descriptor *blobs, size_t n,
			       uint64_t *ret_bytes, struct hoist_error *err)
{
	struct hoist_ref rf = {0};
	struct reg_client *c = NULL;
	struct pull_ctx p = {.s = s};
	int r;

	for (size_t i = 0; i < n; i++) {
		if (!hoist_digest_valid(blobs[i].digest) || blobs[i].size < 0)
			return hoist_error_set(err, -EBADMSG, "invalid blob descriptor '%s'",
					       blobs[i].digest);
		if (!hoist_store_blob_exists(s, blobs[i].digest))
			reg_blob_list_add(&p.blobs, &blobs[i]);
	}
	if (p.blobs.n == 0) {
		if (ret_bytes)
			*ret_bytes = 0;
		return 0;
	}
	if (opts && opts->offline) {
		r = hoist_error_set(err, -ENETUNREACH,
				    "offline: blob '%s' of '%s' is not in the store",
				    p.blobs.v[0].digest, ref);
		goto out_free;
	}
	r = hoist_store_lock(s, false, err);
	if (r < 0)
		goto out_free;
	r = reg_open(opts, ref, &rf, &c, err);
	if (r >= 0) {
		p.path = rf.path;
		r = reg_run_pool(c, p.blobs.n, pull_blob, &p, err);
		if (r >= 0) {
			_cleanup_free_ char *repo = hoist_xasprintf("%s/%s", rf.domain, rf.path);
			for (size_t i = 0; i < p.blobs.n; i++)
				reg_sources_add(s, p.blobs.v[i].digest, repo);
		}
		reg_client_free(c);
		hoist_ref_release(&rf);
	}
	hoist_store_unlock(s);
	if (r >= 0 && ret_bytes)
		*ret_bytes = p.fetched;
out_free:
	free(p.blobs.v);
	return r < 0 ? r : 0;
}

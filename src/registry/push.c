/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Push: blobs first (HEAD, cross-repository mount, monolithic or chunked
 * upload with an adaptive chunk size and resume from the registry's Range),
 * then child manifests, then the top-level manifest or index by digest and only
 * then under its tag.
 */
#include <errno.h>
#include <string.h>

#include "registry-private.h"

/* How many times one blob may start a fresh upload session / resume one. */
#define MAX_SESSIONS 3
#define MAX_RESUMES 8

struct push_ctx {
	struct hoist_store *s;
	const char *host;
	const char *path;
	struct reg_blob_list blobs;
	size_t chunk; /* adapted as registries answer 413; under c->lock */
};

struct sent_ctx {
	struct reg_client *c;
	const struct hoist_descriptor *d;
	uint64_t base;
	uint64_t last;
};

static void on_sent(void *ud, uint64_t n)
{
	struct sent_ctx *sc = ud;
	uint64_t done = sc->base + n;
	if (done - sc->last >= (256u << 10) || done == (uint64_t)sc->d->size) {
		sc->last = done;
		reg_progress(sc->c, HOIST_REGISTRY_EV_BYTES, sc->d->digest, sc->d->media_type, done,
			     (uint64_t)sc->d->size, NULL);
	}
}

static char *with_digest(const char *loc, const char *digest)
{
	/* The registry's Location may already carry a query (`?_state=`). */
	return hoist_xasprintf("%s%cdigest=%s", loc, strchr(loc, '?') ? '&' : '?', digest);
}

/* Take the Location of a reply as the newest upload URL. */
static int take_location(struct reg_client *c, const struct reg_resp *resp, char **loc,
			 struct hoist_error *err)
{
	_cleanup_free_ char *l = reg_resp_header(resp, "Location");
	if (!l || !*l)
		return hoist_error_set(err, -EPROTO, "registry '%s' gave no upload location",
				       c->host);
	free(*loc);
	*loc = reg_url_resolve(c, l);
	return 0;
}

/* "0-1234" -> 1235 (bytes the registry holds); no header means none. */
static uint64_t range_next(const struct reg_resp *resp)
{
	_cleanup_free_ char *r = reg_resp_header(resp, "Range");
	if (!r)
		return 0;
	const char *p = r;
	if (hoist_startswith(p, "bytes="))
		p += 6;
	const char *dash = strchr(p, '-');
	uint64_t end;
	if (!dash || hoist_parse_u64(dash + 1, UINT64_MAX - 1, &end) < 0)
		return 0;
	return end + 1;
}

int reg_blob_exists(struct reg_client *c, CURL *h, const char *path, const char *scope,
		    const char *digest, bool *ret, struct hoist_error *err)
{
	_cleanup_free_ char *url = hoist_xasprintf("/v2/%s/blobs/%s", path, digest);
	struct reg_req req = {
	    .method = "HEAD", .url = url, .scope = scope, .body_fd = -1, .idempotent = true};
	_cleanup_(reg_resp_release) struct reg_resp resp = {0};
	int r = reg_do(c, h, &req, &resp, err);
	if (r < 0)
		return r;
	if (resp.status != 200 && resp.status != 404)
		return reg_fail(&resp, err, "checking blob '%s' in '%s'", digest, path);
	*ret = resp.status == 200;
	return 0;
}

static int check_put_digest(const struct reg_resp *resp, const char *digest,
			    struct hoist_error *err)
{
	_cleanup_free_ char *dcd = reg_resp_header(resp, "Docker-Content-Digest");
	if (dcd && *dcd && strcmp(dcd, digest) != 0)
		return hoist_error_set(err, -EBADMSG, "registry stored '%s' as '%s'", digest, dcd);
	return 0;
}

static size_t get_chunk(struct reg_client *c, struct push_ctx *p)
{
	pthread_mutex_lock(&c->lock);
	size_t n = p->chunk;
	pthread_mutex_unlock(&c->lock);
	return n;
}

static void set_chunk(struct reg_client *c, struct push_ctx *p, size_t n)
{
	pthread_mutex_lock(&c->lock);
	if (n < p->chunk)
		p->chunk = n;
	pthread_mutex_unlock(&c->lock);
}

/*
 * Upload into the session at *loc. Returns 0 when the blob is in place,
 * -EAGAIN when the session is lost and a new one should start.
 */
static int upload(struct reg_client *c, CURL *h, struct push_ctx *p,
		  const struct hoist_descriptor *d, int fd, const char *scope, char **loc,
		  size_t min_chunk, struct hoist_error *err)
{
	uint64_t size = (uint64_t)d->size;
	size_t mono =
	    c->opts && c->opts->monolithic_max ? c->opts->monolithic_max : get_chunk(c, p);
	bool exists = false;
	int r;

	if (size <= mono) {
		_cleanup_free_ char *url = with_digest(*loc, d->digest);
		struct sent_ctx sc = {.c = c, .d = d};
		struct reg_req req = {.method = "PUT",
				      .url = url,
				      .scope = scope,
				      .content_type = "application/octet-stream",
				      .body_fd = fd,
				      .body_fd_len = size,
				      .on_sent = on_sent,
				      .on_sent_ud = &sc,
				      .idempotent = true};
		_cleanup_(reg_resp_release) struct reg_resp resp = {0};
		r = reg_do(c, h, &req, &resp, err);
		if (r >= 0 && resp.status == 201)
			return check_put_digest(&resp, d->digest, err);
		if (r >= 0 && resp.status == 413) {
			/* Too big for one request: go chunked, below this size. */
			size_t half = (size_t)(size / 2);
			set_chunk(c, p, half > REG_MIN_CHUNK ? half : REG_MIN_CHUNK);
			reg_progress(c, HOIST_REGISTRY_EV_RETRY, d->digest, d->media_type, 0, size,
				     "request too large: switching to chunks");
		} else {
			/* Dropped or refused: it may have landed anyway. */
			hoist_error_clear(err);
			r = reg_blob_exists(c, h, p->path, scope, d->digest, &exists, err);
			if (r >= 0 && exists)
				return 0;
			return -EAGAIN;
		}
	}

	uint64_t off = 0;
	unsigned resumes = 0;
	while (off < size) {
		size_t chunk = get_chunk(c, p);
		if (chunk < min_chunk)
			chunk = min_chunk;
		uint64_t n = size - off < chunk ? size - off : chunk;
		char range[64];
		snprintf(range, sizeof(range), "%llu-%llu", (unsigned long long)off,
			 (unsigned long long)(off + n - 1));
		struct sent_ctx sc = {.c = c, .d = d, .base = off};
		struct reg_req req = {.method = "PATCH",
				      .url = *loc,
				      .scope = scope,
				      .content_type = "application/octet-stream",
				      .content_range = range,
				      .body_fd = fd,
				      .body_off = off,
				      .body_fd_len = n,
				      .on_sent = on_sent,
				      .on_sent_ud = &sc};
		_cleanup_(reg_resp_release) struct reg_resp resp = {0};
		r = reg_do(c, h, &req, &resp, err);
		if (r >= 0 && resp.status == 202) {
			r = take_location(c, &resp, loc, err);
			if (r < 0)
				return r;
			uint64_t next = range_next(&resp);
			off = next ? next : off + n;
			continue;
		}
		if (r >= 0 && resp.status == 413) {
			size_t smaller = chunk / 2;
			if (smaller < REG_MIN_CHUNK || smaller < min_chunk)
				return reg_fail(&resp, err,
						"uploading blob '%s': registry refuses chunks of "
						"%zu bytes",
						d->digest, chunk);
			set_chunk(c, p, smaller);
			reg_progress(c, HOIST_REGISTRY_EV_RETRY, d->digest, d->media_type, off,
				     size, "chunk too large: trying smaller chunks");
			continue;
		}
		if (r < 0 && r != -EIO)
			return r;
		/* Dropped connection, 416 or a server error: ask the registry
		 * how much it holds and go on from there. */
		if (++resumes > MAX_RESUMES)
			return r < 0 ? r : reg_fail(&resp, err, "uploading blob '%s'", d->digest);
		reg_progress(c, HOIST_REGISTRY_EV_RETRY, d->digest, d->media_type, off, size,
			     r < 0 ? "connection lost: resuming" : "chunk refused: resuming");
		hoist_error_clear(err);
		struct reg_req sreq = {.method = "GET",
				       .url = *loc,
				       .scope = scope,
				       .body_fd = -1,
				       .idempotent = true};
		_cleanup_(reg_resp_release) struct reg_resp sresp = {0};
		r = reg_do(c, h, &sreq, &sresp, err);
		if (r < 0 || sresp.status != 204) {
			hoist_error_clear(err);
			return -EAGAIN;
		}
		_cleanup_free_ char *l = reg_resp_header(&sresp, "Location");
		if (l && *l) {
			free(*loc);
			*loc = reg_url_resolve(c, l);
		}
		/* distribution answers "0-0" both for an empty upload and for one
		 * byte; a one-byte upload only happens when we sent exactly that. */
		uint64_t acked = off;
		off = range_next(&sresp);
		if (off == 1 && acked == 0)
			off = 0;
		if (off > size) {
			hoist_error_clear(err);
			return -EAGAIN;
		}
	}

	_cleanup_free_ char *url = with_digest(*loc, d->digest);
	struct reg_req req = {.method = "PUT",
			      .url = url,
			      .scope = scope,
			      .body_fd = -1,
			      .content_type = "application/octet-stream",
			      .idempotent = true};
	_cleanup_(reg_resp_release) struct reg_resp resp = {0};
	r = reg_do(c, h, &req, &resp, err);
	if (r >= 0 && resp.status == 201)
		return check_put_digest(&resp, d->digest, err);
	if (r >= 0 && resp.status == 400)
		return reg_fail(&resp, err, "finishing upload of blob '%s'", d->digest);
	hoist_error_clear(err);
	r = reg_blob_exists(c, h, p->path, scope, d->digest, &exists, err);
	if (r >= 0 && exists)
		return 0;
	return -EAGAIN;
}

/* Start a session: 202 with a Location (and maybe OCI-Chunk-Min-Length). */
static int start_session(struct reg_client *c, CURL *h, const char *url, const char *scope,
			 char **loc, size_t *min_chunk, long *ret_status, struct hoist_error *err)
{
	struct reg_req req = {
	    .method = "POST", .url = url, .scope = scope, .body_fd = -1, .idempotent = true};
	_cleanup_(reg_resp_release) struct reg_resp resp = {0};
	int r = reg_do(c, h, &req, &resp, err);
	if (r < 0)
		return r;
	*ret_status = resp.status;
	if (resp.status == 201)
		return 0;
	if (resp.status != 202)
		return reg_fail(&resp, err, "starting an upload at '%s'", c->host);
	_cleanup_free_ char *ml = reg_resp_header(&resp, "OCI-Chunk-Min-Length");
	uint64_t v;
	if (ml && hoist_parse_u64(ml, (uint64_t)1 << 31, &v) == 0)
		*min_chunk = (size_t)v;
	return take_location(c, &resp, loc, err);
}

static int push_blob(struct reg_client *c, CURL *h, size_t i, void *ud, struct hoist_error *err)
{
	struct push_ctx *p = ud;
	const struct hoist_descriptor *d = &p->blobs.v[i];
	_cleanup_free_ char *scope = reg_scope(p->path, "pull,push");
	_cleanup_free_ char *loc = NULL;
	_cleanup_close_ int fd = -1;
	size_t min_chunk = 0;
	bool exists = false;
	long status = 0;
	int r;

	r = reg_blob_exists(c, h, p->path, scope, d->digest, &exists, err);
	if (r < 0)
		return r;
	if (exists) {
		reg_progress(c, HOIST_REGISTRY_EV_EXISTS, d->digest, d->media_type,
			     (uint64_t)d->size, (uint64_t)d->size, NULL);
		return 0;
	}
	if (hoist_store_blob_size(p->s, d->digest) != d->size)
		return hoist_error_set(err, -ENOENT,
				       "blob '%s' is not in the store (or has the wrong size)",
				       d->digest);

	_cleanup_free_ char *from = reg_sources_find(p->s, d->digest, p->host, p->path);
	if (from) {
		_cleanup_free_ char *mscope = hoist_xasprintf("%s repository:%s:pull", scope, from);
		_cleanup_free_ char *url = hoist_xasprintf("/v2/%s/blobs/uploads/?mount=%s&from=%s",
							   p->path, d->digest, from);
		r = start_session(c, h, url, mscope, &loc, &min_chunk, &status, err);
		if (r >= 0 && status == 201) {
			reg_progress(c, HOIST_REGISTRY_EV_MOUNTED, d->digest, d->media_type,
				     (uint64_t)d->size, (uint64_t)d->size, from);
			return 0;
		}
		/* A refused mount is only a missed shortcut. */
		hoist_error_clear(err);
		if (r < 0) {
			free(loc);
			loc = NULL;
		}
	}

	fd = hoist_store_blob_open(p->s, d->digest, err);
	if (fd < 0)
		return fd;
	reg_progress(c, HOIST_REGISTRY_EV_START, d->digest, d->media_type, 0, (uint64_t)d->size,
		     NULL);
	for (unsigned session = 0; session < MAX_SESSIONS; session++) {
		if (!loc) {
			_cleanup_free_ char *url =
			    hoist_xasprintf("/v2/%s/blobs/uploads/", p->path);
			r = start_session(c, h, url, scope, &loc, &min_chunk, &status, err);
			if (r < 0)
				return hoist_error_prefix(err, "blob '%s'", d->digest);
		}
		r = upload(c, h, p, d, fd, scope, &loc, min_chunk, err);
		if (r != -EAGAIN)
			break;
		free(loc);
		loc = NULL;
		reg_progress(c, HOIST_REGISTRY_EV_RETRY, d->digest, d->media_type, 0,
			     (uint64_t)d->size, "upload session lost: starting over");
	}
	if (r == -EAGAIN)
		return hoist_error_set(err, -EIO, "uploading blob '%s' failed %d times", d->digest,
				       MAX_SESSIONS);
	if (r < 0)
		return r;
	reg_progress(c, HOIST_REGISTRY_EV_DONE, d->digest, d->media_type, (uint64_t)d->size,
		     (uint64_t)d->size, NULL);
	return 0;
}

/* ---- manifests ------------------------------------------------------------ */

int reg_put_manifest(struct reg_client *c, CURL *h, const char *path, const char *reference,
		     const struct hoist_registry_manifest *m, struct hoist_error *err)
{
	_cleanup_free_ char *url = hoist_xasprintf("/v2/%s/manifests/%s", path, reference);
	_cleanup_free_ char *scope = reg_scope(path, "pull,push");
	struct reg_req req = {.method = "PUT",
			      .url = url,
			      .scope = scope,
			      .body = m->data,
			      .body_len = m->len,
			      .body_fd = -1,
			      .content_type = m->media_type,
			      .idempotent = true};
	_cleanup_(reg_resp_release) struct reg_resp resp = {0};
	int r = reg_do(c, h, &req, &resp, err);
	if (r < 0)
		return r;
	if (resp.status != 201 && resp.status != 200 && resp.status != 202)
		return reg_fail(&resp, err, "writing manifest '%s' to '%s'", m->digest, path);
	r = check_put_digest(&resp, m->digest, err);
	if (r < 0)
		return r;
	reg_progress(c, HOIST_REGISTRY_EV_MANIFEST, m->digest, m->media_type, m->len, m->len,
		     reference);
	return 0;
}

static int load_local(struct hoist_store *s, const char *digest, struct hoist_registry_manifest *m,
		      struct hoist_error *err)
{
	memset(m, 0, sizeof(*m));
	int r =
	    hoist_store_blob_read(s, digest, HOIST_REGISTRY_MAX_MANIFEST, &m->data, &m->len, err);
	if (r < 0)
		return r;
	json_auto_t *doc = json_loadb(m->data, m->len, 0, NULL);
	if (!json_is_object(doc)) {
		hoist_registry_manifest_release(m);
		return hoist_error_set(err, -EBADMSG, "'%s' is not a manifest", digest);
	}
	reg_manifest_media_type(doc, NULL, m->media_type, sizeof(m->media_type));
	snprintf(m->digest, sizeof(m->digest), "%s", digest);
	return 0;
}

/* An image manifest: its blobs, then (put_manifest) itself by digest, never a tag (put_top). */
static int push_image(struct reg_client *c, struct push_ctx *p,
		      const struct hoist_registry_manifest *m, bool put_manifest,
		      struct hoist_error *err)
{
	int r;

	p->blobs.n = 0;
	r = reg_collect_blobs(m, &p->blobs, err);
	if (r < 0)
		return r;
	r = reg_run_pool(c, p->blobs.n, push_blob, p, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *repo = hoist_xasprintf("%s/%s", p->host, p->path);
	for (size_t i = 0; i < p->blobs.n; i++)
		reg_sources_add(p->s, p->blobs.v[i].digest, repo);
	if (!put_manifest)
		return 0;
	CURL *h = reg_handle_new();
	r = reg_put_manifest(c, h, p->path, m->digest, m, err);
	curl_easy_cleanup(h);
	return r;
}

/*
 * What the registry holds under `reference` (a tag or digest): 0 with the
 * digest it answers (Docker-Content-Digest), -ENOENT on 404.
 */
static int head_manifest(struct reg_client *c, CURL *h, const char *path, const char *reference,
			 char ret_digest[HOIST_DIGEST_MAX])
{
	_cleanup_free_ char *url = hoist_xasprintf("/v2/%s/manifests/%s", path, reference);
	_cleanup_free_ char *scope = reg_scope(path, "pull");
	struct reg_req req = {.method = "HEAD",
			      .url = url,
			      .scope = scope,
			      .body_fd = -1,
			      .accept = REG_ACCEPT_MANIFESTS,
			      .idempotent = true};
	_cleanup_(reg_resp_release) struct reg_resp resp = {0};
	int r = reg_do(c, h, &req, &resp, NULL);
	if (r < 0)
		return r;
	if (resp.status == 404)
		return -ENOENT;
	if (resp.status != 200)
		return -EPROTO;
	_cleanup_free_ char *d = reg_resp_header(&resp, "Docker-Content-Digest");
	snprintf(ret_digest, HOIST_DIGEST_MAX, "%s", d && hoist_digest_valid(d) ? d : "");
	return 0;
}

/*
 * The top-level manifest or index: by digest first, and only then the tag,
 * so the tag never moves to a manifest the registry did not take whole (a
 * manifest PUT by digest is refused when its bytes hash to anything else).
 * A failure is checked against what the registry holds before it is
 * reported: when the manifest is there by digest and the tag names it, the
 * push is complete (a lost or wrong reply to the last PUT); otherwise the
 * error says where the tag stands.
 */
static int put_top(struct reg_client *c, const char *path, const char *tag,
		   const struct hoist_registry_manifest *m, int r, struct hoist_error *err)
{
	CURL *h = reg_handle_new();
	char by_digest[HOIST_DIGEST_MAX] = "", by_tag[HOIST_DIGEST_MAX] = "";

	if (r >= 0)
		r = reg_put_manifest(c, h, path, m->digest, m, err);
	if (r >= 0 && tag)
		r = reg_put_manifest(c, h, path, tag, m, err);
	if (r < 0) {
		int q = head_manifest(c, h, path, m->digest, by_digest);
		bool have = q == 0 && (!by_digest[0] || strcmp(by_digest, m->digest) == 0);
		int t = tag ? head_manifest(c, h, path, tag, by_tag) : 0;
		if (have && (!tag || (t == 0 && strcmp(by_tag, m->digest) == 0))) {
			reg_progress(c, HOIST_REGISTRY_EV_MANIFEST, m->digest, m->media_type,
				     m->len, m->len, tag ? tag : m->digest);
			hoist_error_clear(err);
			r = 0;
		} else if (tag && t == 0 && by_tag[0]) {
			hoist_error_prefix(err, "tag '%s' still points at '%s'", tag, by_tag);
		} else if (tag && t == -ENOENT) {
			hoist_error_prefix(err, "tag '%s' is not set in '%s'", tag, path);
		}
	}
	curl_easy_cleanup(h);
	return r;
}

static int resolve_src(struct hoist_store *s, const char *src, char digest[HOIST_DIGEST_MAX],
		       struct hoist_ref *ret_ref, struct hoist_error *err)
{
	if (hoist_digest_valid(src)) {
		snprintf(digest, HOIST_DIGEST_MAX, "%s", src);
		return 0;
	}
	int r = hoist_ref_parse(src, ret_ref, err);
	if (r < 0)
		return r;
	if (ret_ref->digest) {
		snprintf(digest, HOIST_DIGEST_MAX, "%s", ret_ref->digest);
		return 0;
	}
	_cleanup_free_ char *name = hoist_ref_string(ret_ref);
	r = hoist_store_tag_get(s, name, digest, err);
	if (r == -ENOENT)
		return hoist_error_set(err, -ENOENT, "no image '%s' in the store", src);
	return r;
}

static int registry_push_locked(struct hoist_store *s, const struct hoist_registry_opts *opts,
				const char *src, const char *dest_ref,
				char ret_digest[HOIST_DIGEST_MAX], struct hoist_error *err)
{
	struct hoist_ref sref = {0}, dref = {0};
	struct reg_client *c = NULL;
	struct hoist_registry_manifest top = {0};
	struct push_ctx p = {.s = s};
	char digest[HOIST_DIGEST_MAX];
	int r;

	r = resolve_src(s, src, digest, &sref, err);
	if (r < 0)
		goto out;
	if (!dest_ref && !sref.domain) {
		r = hoist_error_set(err, -EINVAL, "pushing a digest needs a destination reference");
		goto out;
	}
	r = hoist_ref_parse(dest_ref ? dest_ref : src, &dref, err);
	if (r < 0)
		goto out;
	if (dref.digest && strcmp(dref.digest, digest) != 0) {
		r = hoist_error_set(err, -EINVAL, "destination digest '%s' is not the image's '%s'",
				    dref.digest, digest);
		goto out;
	}
	r = load_local(s, digest, &top, err);
	if (r < 0)
		goto out;
	r = reg_client_new(opts, dref.domain, &c, err);
	if (r < 0)
		goto out;
	p.host = dref.domain;
	p.path = dref.path;
	p.chunk = opts && opts->chunk_size ? opts->chunk_size : REG_DEFAULT_CHUNK;

	if (reg_is_index(top.media_type)) {
		json_auto_t *doc = json_loadb(top.data, top.len, 0, NULL);
		json_t *e;
		size_t i;
		json_array_foreach(json_object_get(doc, "manifests"), i, e)
		{
			struct hoist_descriptor d;
			struct hoist_registry_manifest m = {0};
			r = reg_parse_descriptor(e, &d, err);
			if (r < 0)
				goto out;
			if (!hoist_store_blob_exists(s, d.digest)) {
				/* Pulled for one platform only: fine when the
				 * registry already has the others. */
				_cleanup_free_ char *ref =
				    hoist_xasprintf("%s/%s@%s", dref.domain, dref.path, d.digest);
				r = hoist_registry_manifest_exists(opts, ref, NULL, err);
				if (r == 0)
					r = hoist_error_set(err, -ENOENT,
							    "manifest '%s' of the index is neither "
							    "in the store nor in '%s'",
							    d.digest, dref.path);
				if (r < 0)
					goto out;
				continue;
			}
			r = load_local(s, d.digest, &m, err);
			if (r >= 0)
				r = push_image(c, &p, &m, true, err);
			hoist_registry_manifest_release(&m);
			if (r < 0)
				goto out;
		}
		r = put_top(c, dref.path, dref.tag, &top, 0, err);
	} else {
		/* blobs, then the manifest by digest, then the tag */
		r = push_image(c, &p, &top, false, err);
		r = put_top(c, dref.path, dref.tag, &top, r, err);
	}
	if (r >= 0 && ret_digest)
		snprintf(ret_digest, HOIST_DIGEST_MAX, "%s", digest);
out:
	if (r < 0)
		hoist_error_prefix(err, "pushing '%s'", dest_ref ? dest_ref : src);
	hoist_registry_manifest_release(&top);
	free(p.blobs.v);
	reg_client_free(c);
	hoist_ref_release(&sref);
	hoist_ref_release(&dref);
	return r < 0 ? r : 0;
}

/* gc must not remove a blob that is being pushed. */
int hoist_registry_push(struct hoist_store *s, const struct hoist_registry_opts *opts,
			const char *src, const char *dest_ref, char ret_digest[HOIST_DIGEST_MAX],
			struct hoist_error *err)
{
	int r = hoist_store_lock(s, false, err);
	if (r < 0)
		return r;
	r = registry_push_locked(s, opts, src, dest_ref, ret_digest, err);
	hoist_store_unlock(s);
	return r;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Build caches outside the store (docs/cache.md): --cache-from and
 * --cache-to of type registry, local (an OCI layout directory) and inline.
 *
 * The exchange format is a plain OCI image manifest: its config (media type
 * HOIST_MT_CACHE_CONFIG) holds the records, each a step's cache key, the
 * image config after the step (its exact text, so its digest is the one the
 * step made) and the layers; the manifest's layers are those layers' blobs,
 * shared by digest with the images. A lookup reads only the config; a hit
 * fetches the record's layers that are not in the store (verified by digest
 * and size) and becomes a local record, so everything after it is the
 * local cache's path. A record that does not verify is a warning and a miss.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "build-private.h"
#include "hoist/ref.h"
#include "hoist/registry.h"

#define LAYOUT_MAX_INDEX ((size_t)4 << 20)

/* ---- specs ------------------------------------------------------------ */

void hoist_cache_spec_release(struct hoist_cache_spec *c)
{
	if (!c)
		return;
	free(c->ref);
	c->ref = NULL;
}

int hoist_cache_spec_parse(const char *text, bool to, struct hoist_cache_spec *ret,
			   struct hoist_error *err)
{
	struct hoist_cache_spec c = {.type = HOIST_CACHE_REGISTRY};
	const char *type = NULL;
	_cleanup_free_ char *copy = hoist_xstrdup(text);
	char *save = NULL;

	if (!strchr(text, '=')) {
		if (to)
			return hoist_error_set(err, -EINVAL,
					       "bad --cache-to '%s': type=registry,ref=REF, "
					       "type=local,dest=DIR or type=inline",
					       text);
		if (!*text)
			return hoist_error_set(err, -EINVAL, "empty --cache-from");
		c.ref = hoist_xstrdup(text);
		*ret = c;
		return 0;
	}
	for (char *f = strtok_r(copy, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(f, '=');
		const char *v = eq ? eq + 1 : "";
		if (eq)
			*eq = '\0';
		if (!strcmp(f, "type")) {
			type = text + (v - copy);
		} else if (!strcmp(f, "ref") || !strcmp(f, "dest") || !strcmp(f, "src")) {
			free(c.ref);
			c.ref = hoist_xstrdup(v);
		} else if (!strcmp(f, "mode")) {
			if (strcmp(v, "min") && strcmp(v, "max")) {
				free(c.ref);
				return hoist_error_set(err, -EINVAL,
						       "bad cache mode '%s' (min or max)", v);
			}
			c.max = !strcmp(v, "max");
		} else if (!strcmp(f, "ignore-error")) {
			c.ignore_error = !strcmp(v, "true");
		} else if (strcmp(f, "compression") && strcmp(f, "compression-level") &&
			   strcmp(f, "force-compression") && strcmp(f, "oci-mediatypes") &&
			   strcmp(f, "image-manifest") && strcmp(f, "tag")) {
			free(c.ref);
			return hoist_error_set(err, -EINVAL, "unknown cache option '%s' in '%s'", f,
					       text);
		}
	}
	size_t tlen = type ? strcspn(type, ",") : 0;
#define TYPE_IS(word) (tlen == strlen(word) && !strncmp(type, word, tlen))
	if (!type || TYPE_IS("registry")) {
		c.type = HOIST_CACHE_REGISTRY;
	} else if (TYPE_IS("local")) {
		c.type = HOIST_CACHE_LOCAL;
	} else if (TYPE_IS("inline") && to) {
		c.type = HOIST_CACHE_INLINE;
	} else {
		free(c.ref);
		return hoist_error_set(err, -EINVAL,
				       "unknown cache type in '%s' (registry, local%s)", text,
				       to ? " or inline" : "");
	}
	if (c.type == HOIST_CACHE_INLINE && c.max) {
		free(c.ref);
		/* The image holds only its own layers: other stages' would be
		 * records without blobs. */
		return hoist_error_set(
		    err, -EINVAL,
		    "type=inline exports the final image's steps only (mode=min); "
		    "use type=registry or type=local for mode=max");
	}
	if (c.type != HOIST_CACHE_INLINE && (!c.ref || !*c.ref)) {
		free(c.ref);
		return hoist_error_set(err, -EINVAL, "'%s' needs %s", text,
				       c.type == HOIST_CACHE_LOCAL ? (to ? "dest=DIR" : "src=DIR")
								   : "ref=REF");
	}
	*ret = c;
	return 0;
}

void hoist_cache_spec_derive(const struct hoist_cache_spec *in, const char *name,
			     struct hoist_cache_spec *out)
{
	*out = *in;
	out->ref = NULL;
	if (!in->ref)
		return;
	_cleanup_free_ char *clean = hoist_xstrdup(name);
	for (char *c = clean; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '_' || *c == '.' || *c == '-'))
			*c = '-';
	if (in->type == HOIST_CACHE_LOCAL) {
		out->ref = hoist_xasprintf("%s/%s", in->ref, clean);
		return;
	}
	if (strchr(in->ref, '@')) {
		out->ref = hoist_xstrdup(in->ref);
		return;
	}
	const char *slash = strrchr(in->ref, '/');
	const char *colon = strrchr(slash ? slash : in->ref, ':');
	if (colon)
		out->ref = hoist_xasprintf("%s-%.*s", in->ref, 100, clean);
	else
		out->ref = hoist_xasprintf("%s:latest-%.*s", in->ref, 100, clean);
}

struct hoist_cache_spec *hoist_cache_specs_derive(const struct hoist_cache_spec *in, size_t n,
						  const char *name)
{
	struct hoist_cache_spec *out = hoist_xcalloc(n + 1, sizeof(*out));
	for (size_t i = 0; i < n; i++)
		hoist_cache_spec_derive(&in[i], name, &out[i]);
	return out;
}

void hoist_cache_specs_free(struct hoist_cache_spec *v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		hoist_cache_spec_release(&v[i]);
	free(v);
}

/* ---- reading a cache -------------------------------------------------- */

/* A blob of a layout directory, verified: *ret is NUL-terminated. */
static int layout_read(const char *dir, const char *digest, size_t max, char **ret, size_t *ret_len,
		       struct hoist_error *err)
{
	char got[HOIST_DIGEST_MAX];
	if (!hoist_digest_valid(digest))
		return hoist_error_set(err, -EBADMSG, "invalid digest '%s'", digest);
	_cleanup_free_ char *path = hoist_xasprintf("%s/blobs/sha256/%s", dir, digest + 7);
	_cleanup_free_ char *data = NULL;
	size_t len;
	int r = hoist_read_file_at(AT_FDCWD, path, max, &data, &len, err);
	if (r < 0)
		return r;
	hoist_sha256_digest(data, len, got);
	if (strcmp(got, digest) != 0)
		return hoist_error_set(err, -EBADMSG, "'%s' does not match its digest", path);
	*ret = TAKE_PTR(data);
	*ret_len = len;
	return 0;
}

static bool platform_matches(json_t *p, const struct hoist_platform *want)
{
	const char *os = json_string_value(json_object_get(p, "os"));
	const char *arch = json_string_value(json_object_get(p, "architecture"));
	const char *var = json_string_value(json_object_get(p, "variant"));
	if (!os || !arch)
		return false;
	_cleanup_free_ char *txt =
	    hoist_xasprintf("%s/%s%s%s", os, arch, var && *var ? "/" : "", var ? var : "");
	struct hoist_platform got;
	return hoist_platform_parse(txt, &got, NULL) == 0 && hoist_platform_equal(&got, want);
}

/* The entry of an index's manifests for plat (or the only one, or the first). */
static json_t *pick_entry(json_t *manifests, const struct hoist_platform *plat)
{
	size_t i;
	json_t *e;
	json_array_foreach(manifests, i, e)
	{
		if (platform_matches(json_object_get(e, "platform"), plat))
			return e;
	}
	return json_array_get(manifests, 0);
}

/* The manifest a cache spec names, as text (verified). */
static int fetch_manifest(const struct hoist_registry_opts *ro, const struct hoist_cache_spec *spec,
			  const struct hoist_platform *plat, char **ret, size_t *ret_len,
			  uint64_t *bytes, struct hoist_error *err)
{
	int r;
	if (spec->type == HOIST_CACHE_LOCAL) {
		_cleanup_free_ char *ipath = hoist_xasprintf("%s/index.json", spec->ref);
		_cleanup_free_ char *idx = NULL;
		size_t len;
		r = hoist_read_file_at(AT_FDCWD, ipath, LAYOUT_MAX_INDEX, &idx, &len, err);
		if (r < 0)
			return r;
		json_auto_t *doc = json_loadb(idx, len, 0, NULL);
		json_t *e = pick_entry(json_object_get(doc, "manifests"), plat);
		const char *d = json_string_value(json_object_get(e, "digest"));
		if (!d)
			return hoist_error_set(err, -EBADMSG, "'%s' names no manifest", ipath);
		r = layout_read(spec->ref, d, HOIST_REGISTRY_MAX_MANIFEST, ret, ret_len, err);
		if (r >= 0) {
			/* An index inside: one level more. */
			json_auto_t *m = json_loadb(*ret, *ret_len, 0, NULL);
			json_t *ms = json_object_get(m, "manifests");
			if (json_is_array(ms)) {
				free(*ret);
				*ret = NULL;
				d = json_string_value(
				    json_object_get(pick_entry(ms, plat), "digest"));
				r = layout_read(spec->ref, d ? d : "", HOIST_REGISTRY_MAX_MANIFEST,
						ret, ret_len, err);
			}
		}
		return r;
	}
	if (!ro)
		return hoist_error_set(err, -EINVAL, "no registry options for '%s'", spec->ref);
	struct hoist_registry_manifest m = {0};
	r = hoist_registry_inspect(ro, spec->ref, &m, err);
	if (r < 0)
		return r;
	*bytes += m.len;
	json_auto_t *doc = json_loadb(m.data, m.len, 0, NULL);
	json_t *ms = json_object_get(doc, "manifests");
	if (json_is_array(ms)) {
		const char *d = json_string_value(json_object_get(pick_entry(ms, plat), "digest"));
		struct hoist_ref rf = {0};
		hoist_registry_manifest_release(&m);
		if (!d)
			return hoist_error_set(err, -EBADMSG, "index '%s' is empty", spec->ref);
		if ((r = hoist_ref_parse(spec->ref, &rf, err)) < 0)
			return r;
		_cleanup_free_ char *ref = hoist_xasprintf("%s/%s@%s", rf.domain, rf.path, d);
		hoist_ref_release(&rf);
		r = hoist_registry_inspect(ro, ref, &m, err);
		if (r < 0)
			return r;
		*bytes += m.len;
	}
	*ret = m.data;
	*ret_len = m.len;
	m.data = NULL;
	hoist_registry_manifest_release(&m);
	return 0;
}

int hoist_cache_fetch(const struct hoist_registry_opts *ro, const struct hoist_cache_spec *spec,
		      const struct hoist_platform *plat, json_t **ret_config, uint64_t *ret_bytes,
		      struct hoist_error *err)
{
	_cleanup_free_ char *man = NULL, *cfg = NULL;
	size_t mlen, clen;
	uint64_t bytes = 0;
	struct hoist_platform host;
	int r;

	if (!plat) {
		hoist_platform_host(&host);
		plat = &host;
	}
	r = fetch_manifest(ro, spec, plat, &man, &mlen, &bytes, err);
	if (r < 0)
		return r;
	json_auto_t *doc = json_loadb(man, mlen, 0, NULL);
	json_t *cd = json_object_get(doc, "config");
	const char *digest = json_string_value(json_object_get(cd, "digest"));
	const char *mt = json_string_value(json_object_get(cd, "mediaType"));
	if (!digest || !mt)
		return hoist_error_set(err, -EBADMSG, "'%s' is not an image manifest", spec->ref);
	if (spec->type == HOIST_CACHE_LOCAL)
		r = layout_read(spec->ref, digest, HOIST_MAX_JSON_BLOB, &cfg, &clen, err);
	else
		r = hoist_registry_fetch_blob(ro, spec->ref, digest, HOIST_MAX_JSON_BLOB, &cfg,
					      &clen, err);
	if (r < 0)
		return r;
	bytes += clen;
	json_t *c = json_loadb(cfg, clen, 0, NULL);
	if (!json_is_object(c)) {
		json_decref(c);
		return hoist_error_set(err, -EBADMSG, "config '%s' of '%s' is not json", digest,
				       spec->ref);
	}
	if (strcmp(mt, HOIST_MT_CACHE_CONFIG) != 0) {
		/* An image: its inline records, if it has any. */
		json_t *in = json_object_get(c, HOIST_CACHE_INLINE_KEY);
		if (!json_is_object(in)) {
			json_decref(c);
			return hoist_error_set(err, -ENOENT,
					       "'%s' is an image without cache records (build it "
					       "with --cache-to type=inline)",
					       spec->ref);
		}
		json_incref(in);
		json_decref(c);
		c = in;
	}
	if (!json_is_array(json_object_get(c, "records"))) {
		json_decref(c);
		return hoist_error_set(err, -EBADMSG, "cache config of '%s' has no records",
				       spec->ref);
	}
	*ret_config = c;
	if (ret_bytes)
		*ret_bytes = bytes;
	return 0;
}

static void warn(struct build *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(struct build *b, const char *fmt, ...)
{
	va_list ap;
	char buf[1024];
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	build_emit(b, HOIST_BUILD_EVENT_WARNING, -1, 0, 0, buf, false, 0);
}

static const char *spec_name(const struct hoist_cache_spec *s)
{
	return s->ref ? s->ref : "inline";
}

void cache_sources_load(struct build *b)
{
	if (!b->o->n_cache_from)
		return;
	b->csrc = hoist_xcalloc(b->o->n_cache_from, sizeof(*b->csrc));
	for (size_t i = 0; i < b->o->n_cache_from; i++) {
		const struct hoist_cache_spec *sp = &b->o->cache_from[i];
		struct hoist_error e = {0};
		json_t *cfg = NULL;
		uint64_t bytes = 0;
		if (hoist_cache_fetch(b->o->registry, sp, &b->plat, &cfg, &bytes, &e) < 0) {
			warn(b, "cache: cannot import '%s': %s", spec_name(sp), e.msg);
			continue;
		}
		b->cache_bytes += bytes;
		struct cache_src *cs = &b->csrc[b->n_csrc++];
		cs->spec = sp;
		cs->by_key = json_object();
		size_t j;
		json_t *rec;
		json_array_foreach(json_object_get(cfg, "records"), j, rec)
		{
			const char *key = json_string_value(json_object_get(rec, "key"));
			if (key && hoist_digest_valid(key) && !json_object_get(cs->by_key, key))
				json_object_set(cs->by_key, key, rec);
		}
		json_decref(cfg);
	}
}

void cache_sources_free(struct build *b)
{
	for (size_t i = 0; i < b->n_csrc; i++)
		json_decref(b->csrc[i].by_key);
	free(b->csrc);
	b->csrc = NULL;
	b->n_csrc = 0;
}

/* Copy a layout's blob into the store, verified by digest and size. */
static int layout_fetch(struct build *b, const char *dir, const struct hoist_descriptor *d,
			struct hoist_error *err)
{
	if (hoist_store_blob_exists(b->s, d->digest))
		return 0;
	_cleanup_free_ char *path = hoist_xasprintf("%s/blobs/sha256/%s", dir, d->digest + 7);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return hoist_error_set(err, -errno, "cannot open '%s': %s", path, strerror(errno));
	struct hoist_blob_writer *w = NULL;
	int r = hoist_store_blob_begin(b->s, &w, err);
	if (r < 0)
		return r;
	char buf[65536];
	uint64_t total = 0;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = hoist_error_set(err, -errno, "reading '%s': %s", path, strerror(errno));
			break;
		}
		if (n == 0)
			break;
		total += (uint64_t)n;
		if (total > (uint64_t)d->size) {
			r = hoist_error_set(err, -EBADMSG, "'%s' is larger than its %lld bytes",
					    path, (long long)d->size);
			break;
		}
		if ((r = hoist_blob_writer_write(w, buf, (size_t)n, err)) < 0)
			break;
	}
	if (r >= 0 && total != (uint64_t)d->size)
		r = hoist_error_set(err, -EBADMSG, "'%s' is %llu bytes, its record says %lld", path,
				    (unsigned long long)total, (long long)d->size);
	if (r < 0) {
		hoist_blob_writer_abort(w);
		return r;
	}
	r = hoist_blob_writer_commit(w, d->digest, NULL, err);
	if (r >= 0)
		b->cache_bytes += total;
	return r;
}

/* Make a source's record a local one: checks, layers, config, record. */
static int import_record(struct build *b, struct cache_src *cs, struct stagestate *st, json_t *rec,
			 struct hoist_error *err)
{
	const char *ctext = json_string_value(json_object_get(rec, "config"));
	json_t *layers = json_object_get(rec, "layers");
	if (!ctext || !json_is_array(layers))
		return hoist_error_set(err, -EBADMSG, "malformed record");
	json_auto_t *config = json_loads(ctext, 0, NULL);
	if (!json_is_object(config))
		return hoist_error_set(err, -EBADMSG, "the record's config is not json");
	/* The key names the platform; the config must agree. */
	if (!platform_matches(config, &st->plat))
		return hoist_error_set(err, -EBADMSG, "the record is for another platform");
	json_t *ids = json_object_get(json_object_get(config, "rootfs"), "diff_ids");
	size_t n = json_array_size(layers);
	if (!json_is_array(ids) || json_array_size(ids) != n)
		return hoist_error_set(err, -EBADMSG, "the record's layers are not its config's");
	_cleanup_free_ struct hoist_descriptor *d = hoist_xcalloc(n + 1, sizeof(*d));
	json_t *l;
	size_t i;
	json_array_foreach(layers, i, l)
	{
		const char *mt = json_string_value(json_object_get(l, "mediaType"));
		const char *dg = json_string_value(json_object_get(l, "digest"));
		json_t *sz = json_object_get(l, "size");
		if (!mt || !dg || !hoist_digest_valid(dg) || !json_is_integer(sz) ||
		    json_integer_value(sz) < 0 || strlen(mt) >= sizeof(d[i].media_type))
			return hoist_error_set(err, -EBADMSG,
					       "layer %zu of the record is malformed", i);
		snprintf(d[i].media_type, sizeof(d[i].media_type), "%s", mt);
		snprintf(d[i].digest, sizeof(d[i].digest), "%s", dg);
		d[i].size = json_integer_value(sz);
	}
	int r = 0;
	if (cs->spec->type == HOIST_CACHE_LOCAL) {
		for (i = 0; i < n && r >= 0; i++)
			r = layout_fetch(b, cs->spec->ref, &d[i], err);
	} else {
		uint64_t bytes = 0;
		r = hoist_registry_fetch_blobs(b->s, b->o->registry, cs->spec->ref, d, n, &bytes,
					       err);
		b->cache_bytes += bytes;
	}
	if (r < 0)
		return r;
	char cd[HOIST_DIGEST_MAX];
	r = hoist_store_blob_put(b->s, ctext, strlen(ctext), cd, err);
	if (r < 0)
		return r;
	json_t *lrec = json_object();
	json_object_set_new(lrec, "config", json_string(cd));
	json_object_set(lrec, "layers", layers);
	_cleanup_free_ char *txt = hoist_json_canonical(lrec);
	json_decref(lrec);
	return hoist_store_cache_put(b->s, st->key, txt, err);
}

int cache_sources_lookup(struct build *b, struct stagestate *st)
{
	for (size_t i = 0; i < b->n_csrc; i++) {
		struct cache_src *cs = &b->csrc[i];
		json_t *rec = json_object_get(cs->by_key, st->key);
		struct hoist_error e = {0};
		if (!rec)
			continue;
		if (import_record(b, cs, st, rec, &e) >= 0)
			return 1;
		warn(b, "cache: record %.19s of '%s' is not used (%s): the step runs", st->key,
		     spec_name(cs->spec), e.msg);
	}
	return 0;
}

/* ---- writing a cache --------------------------------------------------- */

void cache_note_key(struct build *b, struct stagestate *st)
{
	if (!b->o->n_cache_to)
		return;
	b->key_stage = hoist_xrealloc(b->key_stage, (b->keys.n + 1) * sizeof(*b->key_stage));
	b->key_stage[b->keys.n] = (int)(st - b->st);
	hoist_strv_push(&b->keys, st->key);
}

/* Whether stage `si` is the target or one it starts FROM. */
static bool in_final_chain(struct build *b, size_t target, int si)
{
	for (int s = (int)target; s >= 0; s = b->st[s].base)
		if (s == si)
			return true;
	return false;
}

/* The records of the keys noted ({key, config text, layers}), as an array. */
static int collect_records(struct build *b, size_t target, bool max, json_t **ret,
			   struct hoist_error *err)
{
	json_t *arr = json_array();
	json_t *seen = json_object();
	int r = 0;
	for (size_t i = 0; i < b->keys.n && r >= 0; i++) {
		const char *key = b->keys.v[i];
		if (json_object_get(seen, key) ||
		    (!max && !in_final_chain(b, target, b->key_stage[i])))
			continue;
		json_object_set_new(seen, key, json_true());
		_cleanup_free_ char *txt = NULL, *ctext = NULL;
		size_t clen;
		if ((r = hoist_store_cache_get(b->s, key, &txt, err)) < 0)
			break;
		json_auto_t *lrec = json_loads(txt, 0, NULL);
		const char *cd = json_string_value(json_object_get(lrec, "config"));
		if (!cd) {
			r = hoist_error_set(err, -EBADMSG, "cache record '%s' is corrupt", key);
			break;
		}
		if ((r = hoist_store_blob_read(b->s, cd, HOIST_MAX_JSON_BLOB, &ctext, &clen, err)) <
		    0)
			break;
		json_t *rec = json_object();
		json_object_set_new(rec, "key", json_string(key));
		json_object_set_new(rec, "config", json_stringn(ctext, clen));
		json_object_set(rec, "layers", json_object_get(lrec, "layers"));
		json_array_append_new(arr, rec);
	}
	json_decref(seen);
	if (r < 0) {
		json_decref(arr);
		return r;
	}
	*ret = arr;
	return 0;
}

static json_t *cache_config(struct build *b, json_t *records)
{
	time_t now = time(NULL);
	struct tm tm;
	char buf[64];
	gmtime_r(&now, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_t *c = json_object();
	json_object_set_new(c, "created", json_string(buf));
	json_object_set_new(c, "architecture", json_string(b->plat.architecture));
	json_object_set_new(c, "os", json_string(b->plat.os));
	if (b->plat.variant[0])
		json_object_set_new(c, "variant", json_string(b->plat.variant));
	json_object_set_new(c, "records", records);
	return c;
}

int cache_inline_embed(struct build *b, size_t target, struct hoist_image *img,
		       struct hoist_error *err)
{
	for (size_t i = 0; i < b->o->n_cache_to; i++) {
		if (b->o->cache_to[i].type != HOIST_CACHE_INLINE)
			continue;
		json_t *records;
		int r = collect_records(b, target, false, &records, err);
		if (r < 0)
			return hoist_error_prefix(err, "--cache-to type=inline");
		json_t *c = cache_config(b, records);
		/* The time would make every build's image differ. */
		json_object_del(c, "created");
		json_object_set_new(img->config, HOIST_CACHE_INLINE_KEY, c);
		return 0;
	}
	return 0;
}

/* The cache manifest into the store: ret_digest names it. */
static int cache_manifest(struct build *b, json_t *records, char ret_digest[HOIST_DIGEST_MAX],
			  struct hoist_error *err)
{
	json_t *layers = json_array();
	json_t *seen = json_object();
	size_t i;
	json_t *rec;
	json_array_foreach(records, i, rec)
	{
		size_t j;
		json_t *l;
		json_array_foreach(json_object_get(rec, "layers"), j, l)
		{
			const char *d = json_string_value(json_object_get(l, "digest"));
			if (!d || json_object_get(seen, d))
				continue;
			json_object_set_new(seen, d, json_true());
			json_array_append(layers, l);
		}
	}
	json_decref(seen);
	json_t *c = cache_config(b, records);
	_cleanup_free_ char *ctext = hoist_json_canonical(c);
	json_decref(c);
	char cd[HOIST_DIGEST_MAX];
	int r = 0;
	if (strlen(ctext) > HOIST_MAX_JSON_BLOB)
		r = hoist_error_set(err, -EFBIG,
				    "the cache config is %zu bytes, more than %zu (use mode=min or "
				    "raise HOIST_LIMIT_JSON_SIZE)",
				    strlen(ctext), HOIST_MAX_JSON_BLOB);
	if (r >= 0)
		r = hoist_store_blob_put(b->s, ctext, strlen(ctext), cd, err);
	if (r < 0) {
		json_decref(layers);
		return r;
	}
	json_t *m = json_object();
	json_object_set_new(m, "schemaVersion", json_integer(2));
	json_object_set_new(m, "mediaType", json_string(HOIST_MT_OCI_MANIFEST));
	json_t *cdesc = json_object();
	json_object_set_new(cdesc, "mediaType", json_string(HOIST_MT_CACHE_CONFIG));
	json_object_set_new(cdesc, "digest", json_string(cd));
	json_object_set_new(cdesc, "size", json_integer((json_int_t)strlen(ctext)));
	json_object_set_new(m, "config", cdesc);
	json_object_set_new(m, "layers", layers);
	_cleanup_free_ char *mtext = hoist_json_canonical(m);
	json_decref(m);
	return hoist_store_blob_put(b->s, mtext, strlen(mtext), ret_digest, err);
}

int hoist_cache_write(struct hoist_store *s, const struct hoist_registry_opts *ro,
		      const struct hoist_cache_spec *sp, const char *md, struct hoist_error *err)
{
	if (sp->type == HOIST_CACHE_LOCAL) {
		const char *names[] = {"hoist-cache:latest", NULL};
		struct hoist_export_item item = {.names = names};
		snprintf(item.digest, sizeof(item.digest), "%s", md);
		return hoist_oci_export(s, HOIST_ARCHIVE_OCI_DIR, sp->ref, &item, 1, err);
	}
	if (!ro)
		return hoist_error_set(err, -EINVAL, "no registry options");
	/* Blobs (HEAD, mount, upload), the manifest by digest, then the tag:
	 * a reader sees the old cache or the new one, never half of one. */
	return hoist_registry_push(s, ro, md, sp->ref, NULL, err);
}

static int export_one(struct build *b, size_t target, const struct hoist_cache_spec *sp,
		      char md[HOIST_DIGEST_MAX], struct hoist_error *err)
{
	json_t *records;
	int r = collect_records(b, target, sp->max, &records, err);
	if (r < 0)
		return r;
	r = cache_manifest(b, records, md, err);
	if (r < 0 || b->o->cache_to_defer)
		return r;
	return hoist_cache_write(b->s, b->o->registry, sp, md, err);
}

int cache_export(struct build *b, size_t target, char md[][HOIST_DIGEST_MAX],
		 struct hoist_error *err)
{
	for (size_t i = 0; i < b->o->n_cache_to && i < HOIST_BUILD_MAX_CACHE_TO; i++) {
		const struct hoist_cache_spec *sp = &b->o->cache_to[i];
		if (sp->type == HOIST_CACHE_INLINE)
			continue;
		int r = export_one(b, target, sp, md[i], err);
		if (r < 0 && sp->ignore_error) {
			warn(b, "cache: exporting to '%s' failed: %s", sp->ref, err->msg);
			memset(err, 0, sizeof(*err));
			continue;
		}
		if (r < 0)
			return hoist_error_prefix(err, "the image is built, but --cache-to '%s'",
						  sp->ref);
	}
	return 0;
}

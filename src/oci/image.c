/* SPDX-License-Identifier: Apache-2.0 */
/* Images: loading manifests/indexes/configs from the store, committing new ones. */
#include <errno.h>
#include <string.h>

#include "oci-private.h"

char *hoist_json_canonical(const json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	if (!s)
		abort(); /* only fails on OOM (or NaN, which jansson cannot hold) */
	return s;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid:
 * Go's rules (no overlong forms, no surrogates, nothing past U+10FFFF). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len;
	unsigned min, cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, min = 0x80, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, min = 0x800, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, min = 0x10000, cp = c & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

json_t *hoist_json_text(const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t n = strlen((const char *)p), i = 0;
	struct hoist_buf b;
	json_t *j;

	while (i < n) {
		size_t k = utf8_seq(p + i, n - i);
		if (!k)
			break;
		i += k;
	}
	if (i == n)
		return json_stringn_nocheck((const char *)p, n);
	hoist_buf_init(&b, n + 16);
	hoist_buf_add(&b, p, i);
	while (i < n) {
		size_t k = utf8_seq(p + i, n - i);
		if (k) {
			hoist_buf_add(&b, p + i, k);
			i += k;
		} else {
			hoist_buf_add(&b, "\xef\xbf\xbd", 3); /* U+FFFD, as Go's encoder */
			i++;
		}
	}
	j = json_stringn_nocheck(b.data, b.len);
	hoist_buf_release(&b);
	return j;
}

void hoist_image_init(struct hoist_image *img)
{
	struct hoist_platform host;

	memset(img, 0, sizeof(*img));
	hoist_platform_host(&host);
	img->config = json_object();
	json_object_set_new(img->config, "architecture", json_string(host.architecture));
	json_object_set_new(img->config, "os", json_string(host.os));
	if (host.variant[0])
		json_object_set_new(img->config, "variant", json_string(host.variant));
	json_object_set_new(img->config, "config", json_object());
	json_t *rootfs = json_object();
	json_object_set_new(rootfs, "type", json_string("layers"));
	json_object_set_new(rootfs, "diff_ids", json_array());
	json_object_set_new(img->config, "rootfs", rootfs);
}

void hoist_image_release(struct hoist_image *img)
{
	if (!img)
		return;
	json_decref(img->config);
	free(img->layers);
	memset(img, 0, sizeof(*img));
}

void hoist_image_copy(struct hoist_image *dst, const struct hoist_image *src)
{
	*dst = *src;
	dst->config = src->config ? json_deep_copy(src->config) : NULL;
	dst->layers = NULL;
	if (src->n_layers) {
		dst->layers = hoist_xcalloc(src->n_layers, sizeof(*dst->layers));
		memcpy(dst->layers, src->layers, src->n_layers * sizeof(*dst->layers));
	}
}

void hoist_image_add_layer(struct hoist_image *img, const struct hoist_descriptor *layer,
			   const char *diff_id)
{
	json_t *rootfs, *ids;

	img->layers = hoist_xrealloc(img->layers, (img->n_layers + 1) * sizeof(*img->layers));
	img->layers[img->n_layers++] = *layer;
	if (!img->config)
		img->config = json_object();
	rootfs = json_object_get(img->config, "rootfs");
	if (!json_is_object(rootfs)) {
		rootfs = json_object();
		json_object_set_new(rootfs, "type", json_string("layers"));
		json_object_set_new(img->config, "rootfs", rootfs);
	}
	ids = json_object_get(rootfs, "diff_ids");
	if (!json_is_array(ids)) {
		ids = json_array();
		json_object_set_new(rootfs, "diff_ids", ids);
	}
	json_array_append_new(ids, json_string(diff_id));
}

void hoist_image_add_history(struct hoist_image *img, const char *created, const char *created_by,
			     bool empty_layer)
{
	json_t *h, *e = json_object();

	if (!img->config)
		img->config = json_object();
	h = json_object_get(img->config, "history");
	if (!json_is_array(h)) {
		h = json_array();
		json_object_set_new(img->config, "history", h);
	}
	if (created)
		json_object_set_new(e, "created", json_string(created));
	if (created_by)
		json_object_set_new(e, "created_by", hoist_json_text(created_by));
	if (empty_layer)
		json_object_set_new(e, "empty_layer", json_true());
	json_array_append_new(h, e);
}

/* ---- parsing ----------------------------------------------------------- */

int oci_parse_descriptor(const json_t *o, struct hoist_descriptor *d, const char *what,
			 struct hoist_error *err)
{
	const char *mt, *dg;
	json_t *sz;

	memset(d, 0, sizeof(*d));
	if (!json_is_object(o))
		return hoist_error_set(err, -EBADMSG, "%s: descriptor is not an object", what);
	mt = json_string_value(json_object_get(o, "mediaType"));
	dg = json_string_value(json_object_get(o, "digest"));
	sz = json_object_get(o, "size");
	if (!dg || !hoist_digest_valid(dg))
		return hoist_error_set(err, -EBADMSG, "%s: missing or unsupported digest '%s'",
				       what, dg ? dg : "");
	if (!json_is_integer(sz) || json_integer_value(sz) < 0)
		return hoist_error_set(err, -EBADMSG, "%s: bad size", what);
	if (mt && strlen(mt) >= sizeof(d->media_type))
		return hoist_error_set(err, -EBADMSG, "%s: media type too long", what);
	snprintf(d->media_type, sizeof(d->media_type), "%s", mt ? mt : "");
	memcpy(d->digest, dg, strlen(dg) + 1);
	d->size = json_integer_value(sz);
	return 0;
}

int oci_load_json(struct hoist_store *s, const char *digest, int64_t size, json_t **ret,
		  struct hoist_error *err)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	json_error_t jerr;
	json_t *j;
	int rc;

	rc = hoist_store_blob_read(s, digest, HOIST_MAX_JSON_BLOB, &data, &len, err);
	if (rc == -EFBIG) {
		char lim[32];
		return hoist_error_set(err, rc,
				       "'%s': larger than %s (the limit on a manifest, config or "
				       "index, HOIST_LIMIT_JSON_SIZE)",
				       digest,
				       hoist_limit_str(HOIST_MAX_JSON_BLOB, lim, sizeof(lim)));
	}
	if (rc < 0)
		return rc;
	if (size >= 0 && (uint64_t)size != len)
		return hoist_error_set(err, -EBADMSG, "'%s': size %zu, descriptor says %lld",
				       digest, len, (long long)size);
	j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j)
		return hoist_error_set(err, -EBADMSG, "'%s': invalid JSON: %s", digest, jerr.text);
	if (!json_is_object(j)) {
		json_decref(j);
		return hoist_error_set(err, -EBADMSG, "'%s': not a JSON object", digest);
	}
	*ret = j;
	return 0;
}

bool oci_is_index(const json_t *doc)
{
	const char *mt = json_string_value(json_object_get(doc, "mediaType"));
	if (mt)
		return !strcmp(mt, HOIST_MT_OCI_INDEX) || !strcmp(mt, HOIST_MT_DOCKER_LIST);
	return json_is_array(json_object_get(doc, "manifests"));
}

bool oci_descriptor_platform(const json_t *desc, struct hoist_platform *ret)
{
	json_t *p = json_object_get(desc, "platform");
	const char *os = json_string_value(json_object_get(p, "os"));
	const char *arch = json_string_value(json_object_get(p, "architecture"));
	const char *var = json_string_value(json_object_get(p, "variant"));
	struct hoist_platform x = {0};

	if (!os || !arch || strlen(os) >= sizeof(x.os) || strlen(arch) >= sizeof(x.architecture) ||
	    (var && strlen(var) >= sizeof(x.variant)))
		return false;
	snprintf(x.os, sizeof(x.os), "%s", os);
	snprintf(x.architecture, sizeof(x.architecture), "%s", arch);
	snprintf(x.variant, sizeof(x.variant), "%s", var ? var : "");
	*ret = x;
	return true;
}

/*
 * Choose the manifest for `want` among an index's entries: an exact match
 * (after normalisation) first, else an older arm variant the machine can
 * still run (v7 runs v6 and v5). Returns the array position or -1.
 */
int oci_index_pick(const json_t *manifests, const struct hoist_platform *want)
{
	size_t i;
	json_t *d;
	int best = -1, best_v = -1;
	struct hoist_platform w = *want, p;

	oci_platform_normalize(&w);
	json_array_foreach(manifests, i, d)
	{
		if (!oci_descriptor_platform(d, &p))
			continue;
		if (hoist_platform_equal(&p, &w))
			return (int)i;
	}
	if (strcmp(w.architecture, "arm") == 0 || strcmp(w.architecture, "arm64") == 0) {
		int wv = w.variant[0] == 'v' ? w.variant[1] - '0' : 7;
		json_array_foreach(manifests, i, d)
		{
			if (!oci_descriptor_platform(d, &p))
				continue;
			struct hoist_platform n = p;
			oci_platform_normalize(&n);
			if (strcmp(n.os, w.os) != 0 || strcmp(n.architecture, "arm") != 0 ||
			    strcmp(w.architecture, "arm") != 0)
				continue;
			if (!n.variant[0]) {
				if (best_v < 7 && wv >= 7)
					best = (int)i, best_v = 7;
				continue;
			}
			int v = n.variant[1] - '0';
			if (v <= wv && v > best_v)
				best = (int)i, best_v = v;
		}
	}
	if (best < 0 && json_array_size(manifests) == 1 &&
	    !json_object_get(json_array_get(manifests, 0), "platform"))
		best = 0;
	return best;
}

static int load_manifest(struct hoist_store *s, const char *digest, json_t *m,
			 struct hoist_image *img, struct hoist_error *err)
{
	struct hoist_descriptor cfg;
	json_t *layers, *l, *config = NULL, *ids;
	size_t i;
	int rc;

	rc = oci_parse_descriptor(json_object_get(m, "config"), &cfg, "manifest config", err);
	if (rc < 0)
		return hoist_error_prefix(err, "manifest '%s'", digest);
	layers = json_object_get(m, "layers");
	if (!json_is_array(layers))
		return hoist_error_set(err, -EBADMSG, "manifest '%s': no layers array", digest);
	if ((rc = oci_check_layer_count(json_array_size(layers), digest, err)) < 0)
		return rc;
	img->n_layers = json_array_size(layers);
	img->layers = img->n_layers ? hoist_xcalloc(img->n_layers, sizeof(*img->layers)) : NULL;
	json_array_foreach(layers, i, l)
	{
		rc = oci_parse_descriptor(l, &img->layers[i], "layer", err);
		if (rc < 0)
			return hoist_error_prefix(err, "manifest '%s'", digest);
	}
	rc = oci_load_json(s, cfg.digest, cfg.size, &config, err);
	if (rc < 0)
		return hoist_error_prefix(err, "config of '%s'", digest);
	img->config = config;
	ids = json_object_get(json_object_get(config, "rootfs"), "diff_ids");
	if (!json_is_array(ids) || json_array_size(ids) != img->n_layers)
		return hoist_error_set(err, -EBADMSG,
				       "image '%s': config has %zu diff_ids for %zu layers", digest,
				       json_array_size(ids), img->n_layers);
	snprintf(img->manifest_digest, sizeof(img->manifest_digest), "%s", digest);
	snprintf(img->config_digest, sizeof(img->config_digest), "%s", cfg.digest);
	return 0;
}

int hoist_image_load(struct hoist_store *s, const char *digest,
		     const struct hoist_platform *platform, struct hoist_image *ret,
		     struct hoist_error *err)
{
	struct hoist_image img = {0};
	struct hoist_platform want;
	char cur[HOIST_DIGEST_MAX];
	int64_t cur_size = -1;
	int rc;

	if (!hoist_digest_valid(digest))
		return hoist_error_set(err, -EINVAL, "invalid digest '%s'", digest);
	if (platform)
		want = *platform;
	else
		hoist_platform_host(&want);
	snprintf(cur, sizeof(cur), "%s", digest);

	/* Indexes may nest (an index of indexes); a small depth bound stops loops. */
	for (int depth = 0;; depth++) {
		json_t *doc = NULL;
		if ((rc = oci_check_depth(depth, digest, err)) < 0)
			return rc;
		rc = oci_load_json(s, cur, cur_size, &doc, err);
		if (rc < 0)
			return rc;
		if (oci_is_index(doc)) {
			json_t *ms = json_object_get(doc, "manifests");
			struct hoist_descriptor d;
			char pf[96];
			int k = json_is_array(ms) ? oci_index_pick(ms, &want) : -1;
			if (k < 0) {
				hoist_platform_format(&want, pf, sizeof(pf));
				json_decref(doc);
				return hoist_error_set(
				    err, -ENOENT, "image '%s' has no manifest for platform '%s'",
				    digest, pf);
			}
			rc = oci_parse_descriptor(json_array_get(ms, (size_t)k), &d, "index entry",
						  err);
			json_decref(doc);
			if (rc < 0)
				return hoist_error_prefix(err, "index '%s'", cur);
			/* `hoist pull --platform` keeps the whole index but only
			 * the chosen entries' manifests. */
			if (!hoist_store_blob_exists(s, d.digest)) {
				hoist_platform_format(&want, pf, sizeof(pf));
				return hoist_error_set(err, -ENOENT,
						       "image '%s' has no manifest for platform "
						       "'%s' in the store (not pulled)",
						       digest, pf);
			}
			snprintf(cur, sizeof(cur), "%s", d.digest);
			cur_size = d.size;
			continue;
		}
		rc = load_manifest(s, cur, doc, &img, err);
		json_decref(doc);
		if (rc < 0) {
			hoist_image_release(&img);
			return rc;
		}
		break;
	}
	hoist_image_release(ret);
	*ret = img;
	return 0;
}

int hoist_index_platforms(struct hoist_store *s, const char *digest, struct hoist_strv *ret_pulled,
			  struct hoist_strv *ret_absent, struct hoist_error *err)
{
	json_t *doc = NULL, *d;
	size_t i;
	int rc = oci_load_json(s, digest, -1, &doc, err);
	if (rc < 0)
		return rc;
	if (!oci_is_index(doc)) {
		json_decref(doc);
		return 0;
	}
	json_array_foreach(json_object_get(doc, "manifests"), i, d)
	{
		struct hoist_platform p;
		char pf[96];
		const char *dg = json_string_value(json_object_get(d, "digest"));
		if (!oci_descriptor_platform(d, &p) || !dg)
			continue;
		hoist_platform_format(&p, pf, sizeof(pf));
		hoist_strv_push(hoist_store_blob_exists(s, dg) ? ret_pulled : ret_absent, pf);
	}
	json_decref(doc);
	return 1;
}

const char *oci_layer_media_type(const char *mt)
{
	if (!mt || !mt[0] || !strcmp(mt, HOIST_MT_DOCKER_LAYER_GZIP))
		return HOIST_MT_OCI_LAYER_GZIP;
	if (!strcmp(mt, "application/vnd.docker.image.rootfs.diff.tar"))
		return HOIST_MT_OCI_LAYER_TAR;
	return mt;
}

int hoist_image_commit(struct hoist_store *s, const struct hoist_image *img,
		       struct hoist_descriptor *ret_manifest, struct hoist_error *err)
{
	_cleanup_free_ char *cfg = NULL, *man = NULL;
	char cdigest[HOIST_DIGEST_MAX], mdigest[HOIST_DIGEST_MAX];
	json_t *m, *c, *layers;
	int rc;

	if (!img->config || !json_is_object(img->config))
		return hoist_error_set(err, -EINVAL, "image has no config");
	cfg = hoist_json_canonical(img->config);
	rc = hoist_store_blob_put(s, cfg, strlen(cfg), cdigest, err);
	if (rc < 0)
		return hoist_error_prefix(err, "storing image config");

	m = json_object();
	json_object_set_new(m, "schemaVersion", json_integer(2));
	json_object_set_new(m, "mediaType", json_string(HOIST_MT_OCI_MANIFEST));
	c = json_object();
	json_object_set_new(c, "mediaType", json_string(HOIST_MT_OCI_CONFIG));
	json_object_set_new(c, "digest", json_string(cdigest));
	json_object_set_new(c, "size", json_integer((json_int_t)strlen(cfg)));
	json_object_set_new(m, "config", c);
	layers = json_array();
	for (size_t i = 0; i < img->n_layers; i++) {
		json_t *l = json_object();
		json_object_set_new(l, "mediaType",
				    json_string(oci_layer_media_type(img->layers[i].media_type)));
		json_object_set_new(l, "digest", json_string(img->layers[i].digest));
		json_object_set_new(l, "size", json_integer(img->layers[i].size));
		json_array_append_new(layers, l);
	}
	json_object_set_new(m, "layers", layers);
	man = hoist_json_canonical(m);
	json_decref(m);
	rc = hoist_store_blob_put(s, man, strlen(man), mdigest, err);
	if (rc < 0)
		return hoist_error_prefix(err, "storing image manifest");
	memset(ret_manifest, 0, sizeof(*ret_manifest));
	snprintf(ret_manifest->media_type, sizeof(ret_manifest->media_type), "%s",
		 HOIST_MT_OCI_MANIFEST);
	memcpy(ret_manifest->digest, mdigest, HOIST_DIGEST_MAX);
	ret_manifest->size = (int64_t)strlen(man);
	return 0;
}

int oci_check_depth(int depth, const char *digest, struct hoist_error *err)
{
	uint64_t max = hoist_limits()->index_depth;
	if ((uint64_t)depth <= max)
		return 0;
	return hoist_error_set(err, -ELOOP,
			       "'%s': indexes nested more than %llu deep (the limit, "
			       "HOIST_LIMIT_INDEX_DEPTH)",
			       digest, (unsigned long long)max);
}

int oci_check_layer_count(size_t n, const char *what, struct hoist_error *err)
{
	uint64_t max = hoist_limits()->image_layers;
	if (n <= max)
		return 0;
	return hoist_error_set(err, -E2BIG,
			       "'%s': %zu layers, more than %llu (the limit, "
			       "HOIST_LIMIT_IMAGE_LAYERS)",
			       what, n, (unsigned long long)max);
}

int oci_check_blob_size(struct hoist_store *s, const struct hoist_descriptor *d, const char *what,
			struct hoist_error *err)
{
	int64_t got = hoist_store_blob_size(s, d->digest);
	if (got < 0)
		return hoist_error_set(err, (int)got, "%s '%s': %s", what, d->digest,
				       strerror((int)-got));
	if (got != d->size)
		return hoist_error_set(err, -EBADMSG,
				       "%s '%s': the descriptor says %lld bytes, the blob has %lld",
				       what, d->digest, (long long)d->size, (long long)got);
	if (got == 0 && !strcmp(what, "layer"))
		return hoist_error_set(err, -EBADMSG, "layer '%s': empty (0 bytes): not a layer",
				       d->digest);
	return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The image's layers in the build's compression (--compression and
 * --compression-level), also when its steps were cache hits made by a build
 * in another compression, and also for the base's layers (BuildKit's
 * compression=X,force-compression=true). Step records keep the blobs their
 * build wrote; a layer record, one per diffID, remembers the blob of each
 * compression ("variant": "gzip-6", "zstd-3") made so far:
 *
 *   cache key sha256("hoist layer blobs 1\n" DIFFID) ->
 *   {"diffID": DIFFID, "blobs": {"gzip-6": {mediaType, digest, size}, ...}}
 *
 * It is a cache record like the steps' (gc keeps its blobs, `cache prune
 * --all` drops it). A blob missing for the wanted variant is made once by
 * hoist_layer_recompress(), which gives the bytes a cold build would.
 */
#include <stdio.h>
#include <string.h>

#include "build-private.h"

struct hoist_layer_opts build_layer_opts(const struct build *b)
{
	struct hoist_layer_opts lo = {.source_date_epoch = b->sde,
				      .compression =
					  (enum hoist_layer_compression)b->o->compression};
	if (lo.compression == HOIST_LAYER_ZSTD)
		lo.zstd_level = b->o->compression_level;
	else
		lo.gzip_level = b->o->compression_level;
	return lo;
}

static void record_key(const char *diff_id, char key[HOIST_DIGEST_MAX])
{
	_cleanup_free_ char *t = hoist_xasprintf("hoist layer blobs 1\n%s", diff_id);
	hoist_sha256_digest(t, strlen(t), key);
}

/* The layer record of diff_id, or a new empty one. */
static json_t *record_load(struct build *b, const char *diff_id)
{
	char key[HOIST_DIGEST_MAX];
	_cleanup_free_ char *txt = NULL;
	json_t *rec = NULL;
	record_key(diff_id, key);
	if (hoist_store_cache_get(b->s, key, &txt, NULL) == 0)
		rec = json_loads(txt, 0, NULL);
	if (!json_is_object(rec) || !json_is_object(json_object_get(rec, "blobs"))) {
		json_decref(rec);
		rec = json_object();
		json_object_set_new(rec, "diffID", json_string(diff_id));
		json_object_set_new(rec, "blobs", json_object());
	}
	return rec;
}

static int record_save(struct build *b, const char *diff_id, json_t *rec, struct hoist_error *err)
{
	char key[HOIST_DIGEST_MAX];
	record_key(diff_id, key);
	_cleanup_free_ char *txt = hoist_json_canonical(rec);
	return hoist_store_cache_put(b->s, key, txt, err);
}

static json_t *desc_json(const struct hoist_descriptor *d)
{
	json_t *o = json_object();
	json_object_set_new(o, "mediaType", json_string(d->media_type));
	json_object_set_new(o, "digest", json_string(d->digest));
	json_object_set_new(o, "size", json_integer(d->size));
	return o;
}

int layer_blob_note(struct build *b, const struct hoist_descriptor *d, const char *diff_id,
		    struct hoist_error *err)
{
	struct hoist_layer_opts lo = build_layer_opts(b);
	char v[HOIST_LAYER_VARIANT_MAX];
	int r = hoist_layer_variant(&lo, v, err);
	if (r < 0)
		return r;
	json_t *rec = record_load(b, diff_id);
	json_t *have = json_object_get(json_object_get(rec, "blobs"), v);
	const char *dg = json_string_value(json_object_get(have, "digest"));
	if (!dg || strcmp(dg, d->digest) != 0) {
		json_object_set_new(json_object_get(rec, "blobs"), v, desc_json(d));
		r = record_save(b, diff_id, rec, err);
	}
	json_decref(rec);
	return r;
}

/* The variant the record knows `digest` as, or NULL. */
static const char *variant_of(json_t *rec, const char *digest)
{
	const char *v;
	json_t *d;
	json_object_foreach(json_object_get(rec, "blobs"), v, d)
	{
		const char *dg = json_string_value(json_object_get(d, "digest"));
		if (dg && !strcmp(dg, digest))
			return v;
	}
	return NULL;
}

/* Layer i of img in variant v: kept, taken from the record, or made. */
static int layer_in(struct build *b, const struct hoist_layer_opts *lo, const char *v,
		    struct hoist_image *img, size_t i, const char *diff_id, struct hoist_error *err)
{
	struct hoist_descriptor *d = &img->layers[i];
	int kind = hoist_layer_media_compression(d->media_type);
	if (kind < 0)
		return 0; /* a foreign layer: not ours to change */
	json_t *rec = record_load(b, diff_id);
	json_t *want = json_object_get(json_object_get(rec, "blobs"), v);
	const char *dg = json_string_value(json_object_get(want, "digest"));
	const char *mt = json_string_value(json_object_get(want, "mediaType"));
	int r = 0;
	if (dg && mt && hoist_digest_valid(dg) && hoist_store_blob_exists(b->s, dg)) {
		snprintf(d->media_type, sizeof(d->media_type), "%s", mt);
		snprintf(d->digest, sizeof(d->digest), "%s", dg);
		d->size = json_integer_value(json_object_get(want, "size"));
		goto out;
	}
	/* Of the wanted compression and not known as another level: a base's
	 * layer, or one from before layer records; kept as it is. */
	const char *known = variant_of(rec, d->digest);
	if (kind == (int)lo->compression && (!known || !strcmp(known, v)))
		goto out;
	char what[160];
	snprintf(what, sizeof(what), "layer %zu (%.19s): %s from the %s blob", i + 1, diff_id, v,
		 known				    ? known
		 : kind == HOIST_LAYER_UNCOMPRESSED ? "uncompressed"
		 : kind == HOIST_LAYER_ZSTD	    ? "zstd"
						    : "gzip");
	build_emit(b, HOIST_BUILD_EVENT_LOG, -1, 0, 0, what, false, 0);
	struct hoist_descriptor nd;
	if ((r = hoist_layer_recompress(b->s, d, diff_id, lo, &nd, err)) < 0)
		goto out;
	json_object_set_new(json_object_get(rec, "blobs"), v, desc_json(&nd));
	if ((r = record_save(b, diff_id, rec, err)) < 0)
		goto out;
	*d = nd;
out:
	json_decref(rec);
	return r;
}

int layers_in_compression(struct build *b, struct hoist_image *img, struct hoist_error *err)
{
	struct hoist_layer_opts lo = build_layer_opts(b);
	char v[HOIST_LAYER_VARIANT_MAX];
	int r = hoist_layer_variant(&lo, v, err);
	if (r < 0)
		return r;
	json_t *ids = json_object_get(json_object_get(img->config, "rootfs"), "diff_ids");
	if (json_array_size(ids) != img->n_layers)
		return hoist_error_set(err, -EBADMSG, "image has %zu diff_ids for %zu layers",
				       json_array_size(ids), img->n_layers);
	for (size_t i = 0; i < img->n_layers && r >= 0; i++) {
		const char *id = json_string_value(json_array_get(ids, i));
		if (!id || !hoist_digest_valid(id))
			return hoist_error_set(err, -EBADMSG, "layer %zu has no valid diffID",
					       i + 1);
		r = layer_in(b, &lo, v, img, i, id, err);
	}
	return r;
}

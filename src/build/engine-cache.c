/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The step cache and what a step commits: a stage's tree made on demand,
 * cache records (the config and layers after a step, keyed by the step's
 * key) written and looked up, step keys, history entries, and a step's
 * layer written from the stage's tree.
 */
#include <stdio.h>
#include <string.h>

#include "build-private.h"

int ensure_tree(struct build *b, struct stagestate *st, struct hoist_error *err)
{
	if (st->tree)
		return 0;
	return hoist_fstree_from_image(b->s, &st->img, 0, &st->tree, err);
}

int record_put(struct build *b, struct stagestate *st, struct hoist_error *err)
{
	_cleanup_free_ char *canon = hoist_json_canonical(st->img.config);
	char cd[HOIST_DIGEST_MAX];
	int r = hoist_store_blob_put(b->s, canon, strlen(canon), cd, err);
	if (r < 0)
		return r;
	json_t *rec = json_object();
	json_t *layers = json_array();
	json_object_set_new(rec, "config", json_string(cd));
	for (size_t i = 0; i < st->img.n_layers; i++) {
		json_t *l = json_object();
		json_object_set_new(l, "mediaType", json_string(st->img.layers[i].media_type));
		json_object_set_new(l, "digest", json_string(st->img.layers[i].digest));
		json_object_set_new(l, "size", json_integer(st->img.layers[i].size));
		json_array_append_new(layers, l);
	}
	json_object_set_new(rec, "layers", layers);
	_cleanup_free_ char *txt = hoist_json_canonical(rec);
	json_decref(rec);
	r = hoist_store_cache_put(b->s, st->key, txt, err);
	if (r >= 0)
		cache_note_key(b, st);
	return r;
}

static int record_get_local(struct build *b, struct stagestate *st);

/* 1 on a hit (st->img replaced), 0 on a miss: the store's records, then
 * the --cache-from sources'. */
int record_get(struct build *b, struct stagestate *st)
{
	if (b->o->no_cache)
		return 0;
	int r = record_get_local(b, st);
	if (r == 0 && cache_sources_lookup(b, st) > 0) {
		r = record_get_local(b, st);
		if (r > 0)
			b->cache_hits++;
	}
	if (r > 0)
		cache_note_key(b, st);
	return r;
}

static int record_get_local(struct build *b, struct stagestate *st)
{
	_cleanup_free_ char *txt = NULL, *cbuf = NULL;
	struct hoist_error e2 = {0};
	size_t clen;
	if (b->o->no_cache || hoist_store_cache_get(b->s, st->key, &txt, &e2) < 0)
		return 0;
	json_t *rec = json_loads(txt, 0, NULL);
	if (!rec)
		return 0;
	const char *cd = json_string_value(json_object_get(rec, "config"));
	json_t *layers = json_object_get(rec, "layers");
	if (!cd || !json_is_array(layers) ||
	    hoist_store_blob_read(b->s, cd, HOIST_MAX_JSON_BLOB, &cbuf, &clen, &e2) < 0) {
		json_decref(rec);
		return 0;
	}
	json_t *config = json_loadb(cbuf, clen, 0, NULL);
	if (!config) {
		json_decref(rec);
		return 0;
	}
	struct hoist_image img;
	memset(&img, 0, sizeof(img));
	img.config = config;
	size_t i;
	json_t *l;
	img.layers = hoist_xcalloc(json_array_size(layers) + 1, sizeof(*img.layers));
	json_array_foreach(layers, i, l)
	{
		struct hoist_descriptor *d = &img.layers[i];
		snprintf(d->media_type, sizeof(d->media_type), "%s",
			 json_string_value(json_object_get(l, "mediaType")) ?: "");
		snprintf(d->digest, sizeof(d->digest), "%s",
			 json_string_value(json_object_get(l, "digest")) ?: "");
		d->size = json_integer_value(json_object_get(l, "size"));
		if (!hoist_store_blob_exists(b->s, d->digest)) {
			json_decref(rec);
			hoist_image_release(&img);
			return 0;
		}
	}
	img.n_layers = json_array_size(layers);
	json_decref(rec);
	hoist_image_release(&st->img);
	st->img = img;
	hoist_fstree_free(st->tree);
	st->tree = NULL;
	return 1;
}

void add_history(struct build *b, struct stagestate *st, const char *text, bool empty)
{
	_cleanup_free_ char *ts = build_created_now(b);
	hoist_image_add_history(&st->img, ts, text, empty);
	json_object_set_new(st->img.config, "created", json_string(ts));
}

/* Key for a step: parent, platform, text, plus extra fields. */
void step_key(struct build *b, struct stagestate *st, const char *text, struct keyhash *k)
{
	(void)b;
	key_begin(k, st->key, &st->plat);
	key_add(k, "step", text);
}

int do_layer_of(struct build *b, struct stagestate *st, struct hoist_fstree *t, unsigned gen,
		const char *history, struct hoist_error *err)
{
	struct hoist_layer_opts lo = build_layer_opts(b);
	struct hoist_descriptor d;
	char diff_id[HOIST_DIGEST_MAX];
	int r = stage_tree_write_layer(t, b->s, &lo, gen, &d, diff_id, err);
	if (r < 0 || (r = layer_blob_note(b, &d, diff_id, err)) < 0)
		return r;
	hoist_image_add_layer(&st->img, &d, diff_id);
	add_history(b, st, history, false);
	return 0;
}

/* Overlay `src` (a --link layer's tree) onto `dst`: entries replace, dirs merge. */
void merge_tree(struct hoist_fsnode *dst, const struct hoist_fsnode *src, unsigned gen)
{
	for (size_t i = 0; i < src->n_kids; i++) {
		const struct hoist_fsnode *k = src->kids[i];
		struct hoist_fsnode *n = hoist_fstree_child(dst, k->name);
		if (n && n->e.type == HOIST_ENTRY_DIR && k->e.type == HOIST_ENTRY_DIR) {
			n->e.mode = k->e.mode;
			n->e.uid = k->e.uid;
			n->e.gid = k->e.gid;
			n->e.mtime = k->e.mtime;
		} else {
			n = hoist_fstree_put(dst, k->name, &k->e, k->src);
		}
		hoist_fstree_touch(n, gen);
		merge_tree(n, k, gen);
	}
}

int do_layer(struct build *b, struct stagestate *st, const char *history, struct hoist_error *err)
{
	struct hoist_layer_opts lo = build_layer_opts(b);
	struct hoist_descriptor d;
	char diff_id[HOIST_DIGEST_MAX];
	int r = stage_tree_write_layer(st->tree, b->s, &lo, st->tree->gen, &d, diff_id, err);
	if (r < 0 || (r = layer_blob_note(b, &d, diff_id, err)) < 0)
		return r;
	hoist_image_add_layer(&st->img, &d, diff_id);
	add_history(b, st, history, false);
	return 0;
}

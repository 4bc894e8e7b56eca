/* SPDX-License-Identifier: Apache-2.0 */
/* Turning what a user types (name, digest, image ID prefix) into a store digest. */
#include <errno.h>
#include <string.h>

#include "hoist/ref.h"
#include "store-private.h"

int hoist_store_image_id(struct hoist_store *s, const char *digest, char ret_id[HOIST_DIGEST_MAX],
			 struct hoist_error *err)
{
	json_t *doc = NULL;
	int r = store_blob_json(s, digest, &doc, err);
	if (r < 0)
		return r;
	const char *c =
	    json_string_value(json_object_get(json_object_get(doc, "config"), "digest"));
	if (c && hoist_digest_valid(c))
		memcpy(ret_id, c, strlen(c) + 1);
	else
		memcpy(ret_id, digest, strlen(digest) + 1);
	json_decref(doc);
	return 0;
}

static bool is_hex_prefix(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > HOIST_SHA256_HEX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* Match hex against every tagged image's digest and image ID. */
static int resolve_prefix(struct hoist_store *s, const char *input, const char *hex,
			  char ret[HOIST_DIGEST_MAX], struct hoist_error *err)
{
	struct hoist_tag *tags = NULL;
	size_t n = 0, hex_len = strlen(hex);
	char found[HOIST_DIGEST_MAX] = "";
	int r;

	r = hoist_store_tag_list(s, &tags, &n, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		char id[HOIST_DIGEST_MAX];
		bool match = strncmp(tags[i].digest + 7, hex, hex_len) == 0;
		if (!match && hoist_store_image_id(s, tags[i].digest, id, NULL) == 0)
			match = strncmp(id + 7, hex, hex_len) == 0;
		if (!match || strcmp(found, tags[i].digest) == 0)
			continue;
		if (found[0]) {
			hoist_store_tags_free(tags, n);
			return hoist_error_set(err, -ENOTUNIQ,
					       "'%s' is ambiguous: it matches more than one image",
					       input);
		}
		memcpy(found, tags[i].digest, sizeof(found));
	}
	hoist_store_tags_free(tags, n);
	if (!found[0])
		return hoist_error_set(err, -ENOENT, "no such image '%s'", input);
	memcpy(ret, found, sizeof(found));
	return 0;
}

int hoist_store_resolve(struct hoist_store *s, const char *name, char ret_digest[HOIST_DIGEST_MAX],
			struct hoist_error *err)
{
	struct hoist_ref ref;
	int r;

	if (!name || !*name)
		return hoist_error_set(err, -EINVAL, "empty image name");
	if (hoist_startswith(name, "sha256:")) {
		const char *hex = name + 7;
		if (!is_hex_prefix(hex))
			return hoist_error_set(err, -EINVAL, "invalid digest '%s'", name);
		/* A full digest of a blob in the store names it, tagged or not. */
		if (strlen(hex) == HOIST_SHA256_HEX && hoist_store_blob_exists(s, name)) {
			char found[HOIST_DIGEST_MAX];
			/* ...unless it is an image ID (config digest) of a tagged image. */
			r = resolve_prefix(s, name, hex, found, err);
			if (r == 0) {
				memcpy(ret_digest, found, sizeof(found));
				return 0;
			}
			if (r == -ENOTUNIQ)
				return r;
			hoist_error_clear(err);
			memcpy(ret_digest, name, strlen(name) + 1);
			return 0;
		}
		return resolve_prefix(s, name, hex, ret_digest, err);
	}

	r = hoist_ref_parse(name, &ref, err);
	if (r < 0) {
		if (is_hex_prefix(name))
			return resolve_prefix(s, name, name, ret_digest, err);
		return r;
	}
	if (ref.digest) {
		bool have = hoist_store_blob_exists(s, ref.digest);
		if (have)
			memcpy(ret_digest, ref.digest, strlen(ref.digest) + 1);
		hoist_ref_release(&ref);
		return have ? 0 : hoist_error_set(err, -ENOENT, "no such image '%s'", name);
	}
	hoist_ref_release(&ref);
	r = hoist_store_tag_get(s, name, ret_digest, err);
	if (r == -ENOENT && is_hex_prefix(name)) {
		hoist_error_clear(err);
		return resolve_prefix(s, name, name, ret_digest, err);
	}
	return r;
}

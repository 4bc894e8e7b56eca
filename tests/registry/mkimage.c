/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helper: put an image straight into a store, so the registry tests do
 * not depend on the build engine.
 *
 *   registry-mkimage ROOT NAME PLATFORM LAYER.tar.gz...   image manifest
 *   registry-mkimage --index ROOT NAME MANIFEST-DIGEST...  OCI index of those
 *
 * Prints the digest it tagged NAME with.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <zlib.h>

#include "hoist/ref.h"
#include "hoist/store.h"
#include "hoist/util.h"

static int die(const char *what, const struct hoist_error *err)
{
	fprintf(stderr, "registry-mkimage: %s: %s\n", what, err ? err->msg : "");
	return 1;
}

/* sha256 of the gunzipped layer: its diffID. */
static int diff_id(const char *path, char out[HOIST_DIGEST_MAX])
{
	gzFile g = gzopen(path, "rb");
	struct hoist_sha256 h;
	char buf[65536];
	int n;

	if (!g)
		return -errno;
	hoist_sha256_init(&h);
	while ((n = gzread(g, buf, sizeof(buf))) > 0)
		hoist_sha256_update(&h, buf, (size_t)n);
	gzclose(g);
	hoist_sha256_final(&h, out);
	return n < 0 ? -EIO : 0;
}

static int put_json(struct hoist_store *s, json_t *j, char digest[HOIST_DIGEST_MAX], size_t *len,
		    struct hoist_error *err)
{
	char *data = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	*len = strlen(data);
	int r = hoist_store_blob_put(s, data, *len, digest, err);
	free(data);
	return r;
}

static int tag(struct hoist_store *s, const char *name, const char *digest)
{
	struct hoist_ref ref = {0};
	struct hoist_error err = {0};
	if (hoist_ref_parse(name, &ref, &err) < 0)
		return die("parsing name", &err);
	char *n = hoist_ref_string(&ref);
	int r = hoist_store_tag_set(s, n, digest, &err);
	free(n);
	hoist_ref_release(&ref);
	if (r < 0)
		return die("tagging", &err);
	printf("%s\n", digest);
	return 0;
}

static int mkimage(struct hoist_store *s, const char *name, const char *platform, int n,
		   char **layers)
{
	struct hoist_error err = {0};
	char os[32] = "", arch[32] = "", variant[16] = "";
	char d[HOIST_DIGEST_MAX];
	size_t len;

	sscanf(platform, "%31[^/]/%31[^/]/%15s", os, arch, variant);
	json_t *diffs = json_array(), *ldescs = json_array(), *history = json_array();
	for (int i = 0; i < n; i++) {
		char *data = NULL;
		size_t dlen = 0;
		if (hoist_read_file_at(AT_FDCWD, layers[i], (size_t)1 << 30, &data, &dlen, &err) <
		    0)
			return die(layers[i], &err);
		if (hoist_store_blob_put(s, data, dlen, d, &err) < 0)
			return die("storing layer", &err);
		free(data);
		json_array_append_new(ldescs,
				      json_pack("{s:s, s:s, s:I}", "mediaType",
						"application/vnd.oci.image.layer.v1.tar+gzip",
						"digest", d, "size", (json_int_t)dlen));
		if (diff_id(layers[i], d) < 0)
			return die("gunzip", NULL);
		json_array_append_new(diffs, json_string(d));
		json_array_append_new(history,
				      json_pack("{s:s, s:s}", "created", "2024-01-01T00:00:00Z",
						"created_by", layers[i]));
	}
	json_t *cfg = json_pack("{s:s, s:s, s:s, s:{s:[s], s:[s]}, s:{s:s, s:o}, s:o}",
				"architecture", arch, "os", os, "created", "2024-01-01T00:00:00Z",
				"config", "Env", "PATH=/bin:/usr/bin", "Cmd", "/bin/sh", "rootfs",
				"type", "layers", "diff_ids", diffs, "history", history);
	if (variant[0])
		json_object_set_new(cfg, "variant", json_string(variant));
	if (put_json(s, cfg, d, &len, &err) < 0)
		return die("storing config", &err);
	json_t *man = json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:o}", "schemaVersion", 2,
				"mediaType", "application/vnd.oci.image.manifest.v1+json", "config",
				"mediaType", "application/vnd.oci.image.config.v1+json", "digest",
				d, "size", (json_int_t)len, "layers", ldescs);
	if (put_json(s, man, d, &len, &err) < 0)
		return die("storing manifest", &err);
	json_decref(cfg);
	json_decref(man);
	return tag(s, name, d);
}

static int mkindex(struct hoist_store *s, const char *name, int n, char **digests)
{
	struct hoist_error err = {0};
	json_t *list = json_array();
	char d[HOIST_DIGEST_MAX];
	size_t len;

	for (int i = 0; i < n; i++) {
		char *data = NULL, *cdata = NULL;
		size_t mlen = 0, clen = 0;
		if (hoist_store_blob_read(s, digests[i], (size_t)4 << 20, &data, &mlen, &err) < 0)
			return die(digests[i], &err);
		json_t *m = json_loadb(data, mlen, 0, NULL);
		const char *cd =
		    json_string_value(json_object_get(json_object_get(m, "config"), "digest"));
		if (!cd || hoist_store_blob_read(s, cd, (size_t)4 << 20, &cdata, &clen, &err) < 0)
			return die("config", &err);
		json_t *c = json_loadb(cdata, clen, 0, NULL);
		json_t *plat = json_pack("{s:O, s:O}", "os", json_object_get(c, "os"),
					 "architecture", json_object_get(c, "architecture"));
		if (json_object_get(c, "variant"))
			json_object_set(plat, "variant", json_object_get(c, "variant"));
		json_array_append_new(list, json_pack("{s:s, s:s, s:I, s:o}", "mediaType",
						      "application/vnd.oci.image.manifest.v1+json",
						      "digest", digests[i], "size",
						      (json_int_t)mlen, "platform", plat));
		json_decref(m);
		json_decref(c);
		free(data);
		free(cdata);
	}
	json_t *idx = json_pack("{s:i, s:s, s:o}", "schemaVersion", 2, "mediaType",
				"application/vnd.oci.image.index.v1+json", "manifests", list);
	if (put_json(s, idx, d, &len, &err) < 0)
		return die("storing index", &err);
	json_decref(idx);
	return tag(s, name, d);
}

int main(int argc, char **argv)
{
	struct hoist_store *s = NULL;
	struct hoist_error err = {0};
	bool index = argc > 1 && strcmp(argv[1], "--index") == 0;
	int a = index ? 2 : 1;
	int r;

	if (argc - a < (index ? 3 : 3)) {
		fprintf(stderr, "usage: registry-mkimage ROOT NAME PLATFORM LAYER...\n"
				"       registry-mkimage --index ROOT NAME DIGEST...\n");
		return 2;
	}
	if (hoist_store_open(argv[a], &s, &err) < 0)
		return die("opening store", &err);
	if (index)
		r = mkindex(s, argv[a + 1], argc - a - 2, argv + a + 2);
	else
		r = mkimage(s, argv[a + 1], argv[a + 2], argc - a - 3, argv + a + 3);
	hoist_store_free(s);
	return r;
}

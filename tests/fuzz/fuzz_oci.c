/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the OCI and Docker JSON documents an image is read from:
 * image index / manifest list, manifest, config (src/oci/image.c). The
 * input is up to four documents separated by a line "--"; the first is
 * the one loaded. In document i, "@K" (K a digit > i) is replaced by the
 * digest of document K and "#K" by its size, so that the fuzzer can chain
 * an index to a manifest to a config without computing SHA-256. The
 * documents go into a store in a temporary directory (on /dev/shm when it
 * exists: blobs are fsync'd), the image is loaded for three platforms and
 * the index's platforms listed; the blobs are removed after each input.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hoist/oci.h"
#include "hoist/store.h"
#include "hoist/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_DOCS 4

static char dir_shm[] = "/dev/shm/hoist-fuzz-oci-XXXXXX";
static char dir_tmp[] = "/tmp/hoist-fuzz-oci-XXXXXX";
static char *dir;
static struct hoist_store *store;

static void cleanup(void)
{
	hoist_store_free(store);
	hoist_rm_rf_at(AT_FDCWD, dir);
}

static void open_store(void)
{
	struct hoist_error err = {0};

	dir = mkdtemp(dir_shm);
	if (!dir)
		dir = mkdtemp(dir_tmp);
	if (!dir || hoist_store_open(dir, &store, &err) < 0) {
		fprintf(stderr, "fuzz-oci: store: %s\n", err.msg);
		abort();
	}
	atexit(cleanup);
}

/* doc with "@K" and "#K" (K in (self, n)) replaced; a new buffer. */
static void substitute(struct hoist_buf *out, const char *p, size_t len, int self, int n,
		       char digests[][HOIST_DIGEST_MAX], const size_t *sizes)
{
	for (size_t i = 0; i < len; i++) {
		if ((p[i] == '@' || p[i] == '#') && i + 1 < len && p[i + 1] >= '0' &&
		    p[i + 1] - '0' > self && p[i + 1] - '0' < n) {
			int k = p[i + 1] - '0';
			if (p[i] == '@')
				hoist_buf_adds(out, digests[k]);
			else
				hoist_buf_addf(out, "%zu", sizes[k]);
			i++;
			continue;
		}
		hoist_buf_addc(out, p[i]);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *docs[MAX_DOCS];
	size_t lens[MAX_DOCS], sizes[MAX_DOCS];
	char digests[MAX_DOCS][HOIST_DIGEST_MAX];
	const char *p = (const char *)data, *end = p + size;
	int n = 0;
	static const char *const platforms[] = {NULL, "linux/arm64", "linux/arm/v6"};

	if (!store)
		open_store();
	while (n < MAX_DOCS) {
		const char *sep = memmem(p, (size_t)(end - p), "\n--\n", 4);
		docs[n] = p;
		if (!sep || n == MAX_DOCS - 1) {
			lens[n++] = (size_t)(end - p);
			break;
		}
		lens[n++] = (size_t)(sep - p);
		p = sep + 4;
	}
	for (int i = n - 1; i >= 0; i--) {
		struct hoist_buf b = HOIST_BUF_INIT;
		struct hoist_error err = {0};
		hoist_buf_init(&b, (size_t)64 << 20);
		substitute(&b, docs[i], lens[i], i, n, digests, sizes);
		sizes[i] = b.len;
		if (hoist_store_blob_put(store, b.data ? b.data : "", b.len, digests[i], &err) < 0) {
			fprintf(stderr, "fuzz-oci: blob put: %s\n", err.msg);
			abort();
		}
		hoist_buf_release(&b);
	}
	for (size_t i = 0; i < sizeof(platforms) / sizeof(platforms[0]); i++) {
		struct hoist_image img = {0};
		struct hoist_platform pf;
		struct hoist_error err = {0};
		if (platforms[i] && hoist_platform_parse(platforms[i], &pf, NULL) < 0)
			abort();
		int r = hoist_image_load(store, digests[0], platforms[i] ? &pf : NULL, &img, &err);
		if (r < 0 && !err.msg[0])
			abort(); /* every refusal says why */
		if (r == 0) {
			/* A loaded image is whole: a config object, a layer per diff_id. */
			json_t *ids = json_object_get(json_object_get(img.config, "rootfs"), "diff_ids");
			if (!json_is_object(img.config) || json_array_size(ids) != img.n_layers)
				abort();
			struct hoist_platform cp;
			char osv[64];
			hoist_index_config_platform(img.config, &cp, osv, &err);
		}
		hoist_image_release(&img);
	}
	struct hoist_strv pulled = HOIST_STRV_INIT, absent = HOIST_STRV_INIT;
	struct hoist_error err = {0};
	hoist_index_platforms(store, digests[0], &pulled, &absent, &err);
	hoist_strv_release(&pulled);
	hoist_strv_release(&absent);
	for (int i = 0; i < n; i++) {
		char *path = hoist_store_blob_path(store, digests[i]);
		if (unlink(path) < 0 && errno != ENOENT)
			abort();
		free(path);
	}
	return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Cache keys: sha256 over length-prefixed labelled fields, so that no two
 * different field lists can hash the same bytes.
 */
#include <string.h>

#include "build-private.h"

void key_begin(struct keyhash *k, const char *parent_key, const struct hoist_platform *p)
{
	char plat[96];
	hoist_sha256_init(&k->h);
	k->n = 0;
	key_add(k, "hoist-build-key", "v1");
	key_add(k, "parent", parent_key ? parent_key : "");
	hoist_platform_format(p, plat, sizeof(plat));
	key_add(k, "platform", plat);
}

void key_put(struct keyhash *k, const void *data, size_t len)
{
	if (k->n + len > sizeof(k->buf)) {
		hoist_sha256_update(&k->h, k->buf, k->n);
		k->n = 0;
		if (len > sizeof(k->buf)) {
			hoist_sha256_update(&k->h, data, len);
			return;
		}
	}
	memcpy(k->buf + k->n, data, len);
	k->n += len;
}

void key_addn(struct keyhash *k, const char *label, const void *data, size_t len)
{
	char hdr[64];
	int n = snprintf(hdr, sizeof(hdr), "%zu:%s=%zu:", strlen(label), label, len);
	key_put(k, hdr, (size_t)n);
	key_put(k, data, len);
}

void key_add(struct keyhash *k, const char *label, const char *value)
{
	key_addn(k, label, value ? value : "", value ? strlen(value) : 0);
}

void key_finish(struct keyhash *k, char out[HOIST_DIGEST_MAX])
{
	hoist_sha256_update(&k->h, k->buf, k->n);
	k->n = 0;
	hoist_sha256_final(&k->h, out);
}

/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Reading images from the store for the store commands (images, inspect, cache). */

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "hoist/store.h"

/* Parse a JSON blob (bounded, digest-verified). *ret is new. */
int cli_blob_json(struct hoist_store *s, const char *digest, json_t **ret, struct hoist_error *err);

/* "amd64", "arm64", ... for this machine, and the variant ("v7") or "". */
void cli_host_arch(const char **ret_arch, const char **ret_variant);

/* From an index, the manifest descriptor for this machine, else the first one. */
json_t *cli_index_pick(json_t *index);

struct cli_image_info {
	char digest[HOIST_DIGEST_MAX]; /* what the tag points at */
	char id[HOIST_DIGEST_MAX];     /* config digest, or the index digest */
	bool is_index;
	bool complete;	     /* manifest and config were readable */
	int64_t created;     /* seconds since the epoch, or -1 */
	char created_at[64]; /* the config's "created" as written, or "" */
	uint64_t size;	     /* sum of the layer sizes in the manifest */
};

/* Summarize the image a digest names; fields stay empty when blobs are missing. */
void cli_image_info(struct hoist_store *s, const char *digest, struct cli_image_info *ret);

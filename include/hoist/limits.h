/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Limits on untrusted input (images, layers, archives), in one place, each
 * with a default that no real image reaches and an environment variable
 * that changes it (tests lower them; a user with an extraordinary image
 * raises them). docs/security.md says what each one bounds and why its
 * default is what it is. Part of the util module.
 */

#include <stdint.h>

struct hoist_limits {
	uint64_t layer_size;	   /* HOIST_LIMIT_LAYER_SIZE: tar bytes of one layer */
	uint64_t layer_ratio;	   /* HOIST_LIMIT_LAYER_RATIO: tar bytes per compressed byte ... */
	uint64_t layer_ratio_from; /* HOIST_LIMIT_LAYER_RATIO_FROM: ... once past this many */
	uint64_t layer_entries;	   /* HOIST_LIMIT_LAYER_ENTRIES: entries of one tar */
	uint64_t image_layers;	   /* HOIST_LIMIT_IMAGE_LAYERS: layers of one image */
	uint64_t json_size;	   /* HOIST_LIMIT_JSON_SIZE: a manifest, config or index */
	uint64_t index_depth;	   /* HOIST_LIMIT_INDEX_DEPTH: indexes within indexes */
};

#define HOIST_LIMIT_LAYER_SIZE_DEFAULT ((uint64_t)64 << 30)
#define HOIST_LIMIT_LAYER_RATIO_DEFAULT 1000
#define HOIST_LIMIT_LAYER_RATIO_FROM_DEFAULT ((uint64_t)1 << 30)
#define HOIST_LIMIT_LAYER_ENTRIES_DEFAULT 2000000
#define HOIST_LIMIT_IMAGE_LAYERS_DEFAULT 1000
#define HOIST_LIMIT_JSON_SIZE_DEFAULT ((uint64_t)4 << 20)
#define HOIST_LIMIT_INDEX_DEPTH_DEFAULT 4

/*
 * The limits in force: the defaults above, each replaced by its
 * environment variable when that holds a number (decimal, with an optional
 * K, M, G or T suffix: powers of 1024); a variable that does not parse is
 * ignored. Read once per process; the result is static, never freed.
 */
const struct hoist_limits *hoist_limits(void);

/* "64 GiB", "4 MiB", "1000": a limit for messages, in buf (>= 32 bytes). */
const char *hoist_limit_str(uint64_t v, char *buf, size_t len);

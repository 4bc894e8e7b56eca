/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Private to src/oci: helpers image.c, export.c and import.c share. */

#include "hoist/oci.h"

/* Bound on the small metadata files of archives (index.json, manifest.json, ...). */
#define OCI_MAX_META ((size_t)4 << 20)
/* Bound on images / blobs named by one archive. */
#define OCI_MAX_ITEMS 4096

void oci_platform_normalize(struct hoist_platform *p);

/* Parse {mediaType, digest, size} (sha256 digests only). */
int oci_parse_descriptor(const json_t *o, struct hoist_descriptor *d, const char *what,
			 struct hoist_error *err);
/* Read a JSON object blob from the store (bounded, verified; size < 0: unchecked). */
int oci_load_json(struct hoist_store *s, const char *digest, int64_t size, json_t **ret,
		  struct hoist_error *err);
bool oci_is_index(const json_t *doc);
/* The platform of an index entry; false when it has none. */
bool oci_descriptor_platform(const json_t *desc, struct hoist_platform *ret);
/* Position in an index's manifests for the platform, or -1. */
int oci_index_pick(const json_t *manifests, const struct hoist_platform *want);
/* Docker layer media types mapped to their OCI equivalents. */
const char *oci_layer_media_type(const char *mt);

/* The limits of include/hoist/limits.h as the oci module applies them: an
 * index nested `depth` levels below the first document (HOIST_LIMIT_INDEX_DEPTH),
 * n layers in one image (HOIST_LIMIT_IMAGE_LAYERS; `what` names it), and a
 * stored blob against its descriptor's size (bytes actually received; an
 * empty blob is never a layer: what = "layer"). 0 or -errno with err set. */
int oci_check_depth(int depth, const char *digest, struct hoist_error *err);
int oci_check_layer_count(size_t n, const char *what, struct hoist_error *err);
int oci_check_blob_size(struct hoist_store *s, const struct hoist_descriptor *d, const char *what,
			struct hoist_error *err);

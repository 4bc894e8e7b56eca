/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Private to src/layer: pieces the reader, writer and snapshot code share. */

#include "hoist/layer.h"

/*
 * Clean a path from a tar header: strip leading "/" and "./", drop "." and
 * empty components, resolve ".." lexically. Returns a new string ("" for the
 * root itself), or NULL when ".." would climb above the root.
 */
char *layer_clean_path(const char *p);

/*
 * Digest of every uncompressed byte the reader's stream held (the diffID of
 * a layer blob). Drains the stream to its end first, so call it after
 * hoist_tar_reader_next() returned 0.
 */
int layer_reader_diff_id(struct hoist_tar_reader *r, char out[HOIST_DIGEST_MAX],
			 struct hoist_error *err);

/* Writer internals used by hoist_layer_from_tar: header, then data. */
int layer_writer_header(struct hoist_layer_writer *w, const struct hoist_entry *e,
			struct hoist_error *err);
int layer_writer_data(struct hoist_layer_writer *w, const void *buf, size_t len,
		      struct hoist_error *err);

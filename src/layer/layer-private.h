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

/* The compression and level (defaults resolved, clamped) opts ask for. */
int layer_level(const struct hoist_layer_opts *opts, enum hoist_layer_compression *ret_kind,
		int *ret_level, struct hoist_error *err);

/* Writer internals used by hoist_layer_from_tar: header, then data. */
int layer_writer_header(struct hoist_layer_writer *w, const struct hoist_entry *e,
			struct hoist_error *err);
int layer_writer_data(struct hoist_layer_writer *w, const void *buf, size_t len,
		      struct hoist_error *err);

/*
 * One layer's tree as the unpacker leaves it, for the index pass (paths.c):
 * layer_paths_check() takes the layer's entries in tar order and refuses,
 * with -ELOOP naming the layer (`name`) and the entry, one whose parent
 * directory (or, for a hardlink, its target's directory) goes through a
 * symlink or a non-directory that an earlier entry made: the unpacker's
 * rule. Whiteouts and opaque markers are checked the same way (their
 * directory must be a real one) and change nothing. tar_path is the
 * entry's path as in the tar (".wh." names included).
 */
struct layer_paths;
enum layer_paths_what { LAYER_PATHS_ENTRY, LAYER_PATHS_WHITEOUT };
struct layer_paths *layer_paths_new(void);
void layer_paths_free(struct layer_paths *p);
int layer_paths_check(struct layer_paths *p, const char *name, const char *tar_path,
		      const struct hoist_entry *e, enum layer_paths_what what,
		      struct hoist_error *err);

/* ---- snapshot index (snapshot-index.c; format there) ---- */

enum { SNAP_INDEX_WHITEOUT = 1, SNAP_INDEX_OPAQUE = 2 };
/* Start an index for the layer diff_id in b, then one snap_index_add per
 * entry (flags: SNAP_INDEX_*). */
void snap_index_begin(struct hoist_buf *b, const char *diff_id);
void snap_index_add(struct hoist_buf *b, const struct hoist_entry *e, int flags);
/* The hex part of "sha256:<hex>" (a snapshot's directory name). */
const char *snap_digest_hex(const char *d);

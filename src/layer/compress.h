/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Private to src/layer: the compressor between the tar writer and the
 * store's blob writer. gzip is cut into fixed LZ_BLOCK blocks compressed in
 * parallel (each a raw deflate stream primed with the previous block's last
 * 32 KiB, ended by a sync flush, the last by Z_FINISH) and emitted in order
 * inside one gzip member, so the bytes do not depend on the thread count.
 * zstd uses libzstd's own workers with a fixed job size.
 */

#include <stddef.h>

#include "hoist/error.h"
#include "hoist/layer.h"
#include "hoist/store.h"

/* Fixed, never derived from the thread count: it decides the output bytes. */
#define LZ_BLOCK (1u << 20)
#define LZ_DICT 32768u
/* zstd job size (fixed for the same reason) and the blocks in flight per thread. */
#define LZ_ZSTD_JOB (2u << 20)
#define LZ_SLOTS_PER_THREAD 2

struct lz;

/* Threads a writer uses for opts (see struct hoist_layer_opts.threads). */
int lz_threads(const struct hoist_layer_opts *opts, unsigned *ret, struct hoist_error *err);

/*
 * A compressor writing to blob (not taken over; it must outlive the lz).
 * No thread starts here.
 */
int lz_new(enum hoist_layer_compression kind, int level, unsigned threads,
	   struct hoist_blob_writer *blob, struct lz **ret, struct hoist_error *err);
int lz_write(struct lz *z, const void *buf, size_t len, struct hoist_error *err);
/* End the stream and write its tail to the blob; joins every thread. */
int lz_finish(struct lz *z, struct hoist_error *err);
/* Joins every thread still running and frees; NULL is fine. */
void lz_free(struct lz *z);

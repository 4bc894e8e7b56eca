/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Layer compression, pigz-style. The producer (the thread running the tar
 * writer) fills fixed-size blocks; workers deflate them independently, each
 * primed with the last 32 KiB of the block before it, so the ratio stays
 * close to one stream's; the producer writes finished blocks in order into
 * the blob writer (which hashes them: the digest needs the bytes in order
 * anyway) and folds their CRCs together with crc32_combine(). Because the
 * block size is a constant and a block's bytes depend only on its input and
 * its dictionary, the blob is the same for 1, 2 or 8 threads.
 *
 * Memory is a ring of LZ_SLOTS_PER_THREAD blocks per thread: the producer
 * waits for the oldest block when the ring is full (back-pressure), so a
 * 2 GB layer costs what a 2 MB one does.
 *
 * Threads start only when a layer passes its first block, and lz_finish()
 * and lz_free() join them all: the sandbox clones only when none run.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "compress.h"
#include "hoist/util.h"

enum job_state { JOB_FREE, JOB_FILLING, JOB_QUEUED, JOB_DONE };

/* One compressing thread's streams: the block's, and the probe's. */
struct deflater {
	z_stream z, probe;
	int level;
};

struct job {
	unsigned char *in; /* LZ_BLOCK bytes */
	size_t in_len;
	unsigned char dict[LZ_DICT];
	size_t dict_len;
	bool last;
	unsigned char *out;
	size_t out_len, out_cap;
	uLong crc;
	int rc;
	enum job_state state;
};

struct lz {
	enum hoist_layer_compression kind;
	int level;
	unsigned threads;
	struct hoist_blob_writer *blob;

	/* gzip */
	struct job *ring;
	size_t n_slots;
	uint64_t seq_fill; /* block being filled: ring[seq_fill % n_slots] */
	uint64_t seq_emit; /* next block to write out */
	uint64_t seq_take; /* next queued block a worker takes */
	uint64_t seq_queued;
	bool filling; /* ring[seq_fill % n_slots] is taking bytes (producer's only) */
	unsigned char dict[LZ_DICT]; /* last bytes of the previous block */
	size_t dict_len;
	uLong crc;
	uint64_t total;
	bool header_out;
	struct deflater self_z; /* for threads == 1, and nothing else */
	bool self_z_ready;
	pthread_mutex_t mu;
	pthread_cond_t work_cv, done_cv;
	pthread_t *tids;
	unsigned n_started;
	bool stop;

	/* zstd */
	ZSTD_CCtx *zc;
	unsigned char *zout;
	size_t zout_cap;

	bool finished;
};

int hoist_layer_compression_parse(const char *s, enum hoist_layer_compression *ret)
{
	if (!strcmp(s, "gzip"))
		*ret = HOIST_LAYER_GZIP;
	else if (!strcmp(s, "zstd"))
		*ret = HOIST_LAYER_ZSTD;
	else
		return -EINVAL;
	return 0;
}

int lz_threads(const struct hoist_layer_opts *opts, unsigned *ret, struct hoist_error *err)
{
	const char *env = getenv("HOIST_COMPRESS_THREADS");
	uint64_t v;

	if (opts && opts->threads > 0) {
		v = (uint64_t)opts->threads;
	} else if (env && *env) {
		if (hoist_parse_u64(env, 256, &v) < 0 || v == 0)
			return hoist_error_set(err, -EINVAL,
					       "invalid HOIST_COMPRESS_THREADS '%s' (1..256)", env);
	} else {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		v = n < 1 ? 1 : (uint64_t)n;
		if (v > HOIST_LAYER_MAX_THREADS)
			v = HOIST_LAYER_MAX_THREADS;
	}
	if (v > 256)
		v = 256;
	*ret = (unsigned)v;
	return 0;
}

/* ---- gzip ------------------------------------------------------------ */

static int deflate_init(struct deflater *d, int level)
{
	memset(d, 0, sizeof(*d));
	d->level = level;
	/* Raw deflate: the gzip header and trailer are ours, written once. */
	if (deflateInit2(&d->z, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	/* The probe sees PROBE_LEN bytes at a time: a small window will do. */
	if (deflateInit2(&d->probe, 1, Z_DEFLATED, -13, 6, Z_DEFAULT_STRATEGY) != Z_OK) {
		deflateEnd(&d->z);
		return -ENOMEM;
	}
	return 0;
}

static void deflate_end(struct deflater *d)
{
	deflateEnd(&d->z);
	deflateEnd(&d->probe);
}

/*
 * Whether a block looks incompressible (already-compressed files, random
 * bytes): PROBE_N slices spread over it that level 1 cannot shrink by
 * PROBE_GAIN. Deflate at level 6 spends ~4x the time of stored blocks on
 * such data only to emit it stored anyway (a 50 MB RUN output of random
 * bytes: 1.5 s of CPU). The answer depends only on the block's bytes, so
 * the blob stays the same whatever the thread count. A block that mixes
 * both and has only incompressible slices is stored whole: a bounded loss
 * of ratio, for a large saving of time on the common case.
 */
#define PROBE_N 4
#define PROBE_LEN 8192u
#define PROBE_MIN_BLOCK (PROBE_N * PROBE_LEN * 4)

static bool incompressible(const struct job *j, z_stream *probe)
{
	unsigned char out[PROBE_LEN + PROBE_LEN / 8 + 64];

	if (j->in_len < PROBE_MIN_BLOCK)
		return false;
	for (unsigned i = 0; i < PROBE_N; i++) {
		size_t off = (j->in_len - PROBE_LEN) / (PROBE_N - 1) * i;
		if (deflateReset(probe) != Z_OK)
			return false;
		probe->next_in = (unsigned char *)j->in + off;
		probe->avail_in = PROBE_LEN;
		probe->next_out = out;
		probe->avail_out = sizeof(out);
		if (deflate(probe, Z_FINISH) != Z_STREAM_END)
			return false;
		/* Shrinks by more than 1/64 (~1.6 %): worth compressing. */
		if (probe->total_out < PROBE_LEN - PROBE_LEN / 64)
			return false;
	}
	return true;
}

/*
 * Mixed blocks: a tar of already-compressed or random files (a build
 * context of archives, media, generated data) alternates small compressible
 * headers with incompressible contents, so every probe slice finds a header
 * and the whole block went through deflate at level 6 (the reference
 * build's 100 MB context: ~2.5 s of CPU to save 12 %). Such blocks are cut
 * at RECORD bytes (a tar record): a run of at least STORE_MIN_RECORDS
 * records that each look random is stored, the rest deflated at the
 * block's level, in one raw deflate stream (deflateParams switches the
 * level, zlib keeps the window consistent). A record looks random when it
 * holds at least RANDOM_DISTINCT distinct byte values: 512 uniform bytes
 * hold ~221 (almost never below 200); text, code and tar headers far fewer
 * (a Debian rootfs: 92 % of records below 141). The cut depends only on
 * the block's bytes: the blob stays the same whatever the thread count.
 */
#define RECORD 512u
#define RANDOM_DISTINCT 200
#define STORE_MIN_RECORDS 4u

static bool record_random(const unsigned char *p)
{
	uint64_t seen[4] = {0, 0, 0, 0};
	for (unsigned i = 0; i < RECORD; i++)
		seen[p[i] >> 6] |= (uint64_t)1 << (p[i] & 63);
	int n = __builtin_popcountll(seen[0]) + __builtin_popcountll(seen[1]) +
		__builtin_popcountll(seen[2]) + __builtin_popcountll(seen[3]);
	return n >= RANDOM_DISTINCT;
}

/* Make room for at least `need` more output bytes. */
static void out_reserve(struct job *j, z_stream *zs, size_t need)
{
	if (zs->avail_out >= need)
		return;
	size_t used = j->out_cap - zs->avail_out;
	while (j->out_cap - used < need)
		j->out_cap *= 2;
	j->out = hoist_xrealloc(j->out, j->out_cap);
	zs->next_out = j->out + used;
	zs->avail_out = (uInt)(j->out_cap - used);
}

/* Deflate next_in..+len with flush; grows the output as needed. */
static int feed(struct job *j, z_stream *zs, const unsigned char *p, size_t len, int flush)
{
	zs->next_in = (unsigned char *)p;
	zs->avail_in = (uInt)len;
	for (;;) {
		int zrc = deflate(zs, flush);
		if (zrc == Z_STREAM_ERROR)
			return -EIO;
		if (flush == Z_FINISH ? zrc == Z_STREAM_END
				      : zs->avail_in == 0 && zs->avail_out > 0)
			return 0;
		out_reserve(j, zs, j->out_cap); /* full: double it */
	}
}

/* Switch the stream's level (zlib flushes the block so far: room for it). */
static int set_level(struct job *j, z_stream *zs, int level)
{
	for (;;) {
		int zrc = deflateParams(zs, level, Z_DEFAULT_STRATEGY);
		if (zrc == Z_OK)
			return 0;
		if (zrc != Z_BUF_ERROR)
			return -EIO;
		out_reserve(j, zs, j->out_cap);
	}
}

/*
 * The end of the run starting at record r: where a stored run of at least
 * STORE_MIN_RECORDS begins (or the block's end) when *store is false, where
 * the random records end when it is true.
 */
static size_t next_cut(const struct job *j, size_t r, bool store)
{
	size_t n_rec = j->in_len / RECORD;
	if (store) {
		while (r < n_rec && record_random(j->in + r * RECORD))
			r++;
		return r;
	}
	for (size_t run = 0; r < n_rec; r++) {
		if (!record_random(j->in + r * RECORD)) {
			run = 0;
			continue;
		}
		if (++run == STORE_MIN_RECORDS)
			return r + 1 - STORE_MIN_RECORDS;
	}
	return n_rec;
}

/* Deflate one block; runs on a worker (or the producer for one thread). */
static int compress_job(struct job *j, struct deflater *d)
{
	z_stream *zs = &d->z;

	if (deflateReset(zs) != Z_OK)
		return -EIO;
	/* Level 0 makes stored blocks; set on every block, as the level sticks. */
	bool store = d->level > 0 && incompressible(j, &d->probe);
	bool mixed = !store && d->level > 0 && j->in_len >= PROBE_MIN_BLOCK;
	size_t cut = mixed ? next_cut(j, 0, false) : 0;
	bool first_stored = mixed && cut == 0;
	if (deflateParams(zs, store || first_stored ? 0 : d->level, Z_DEFAULT_STRATEGY) != Z_OK)
		return -EIO;
	if (!store && j->dict_len && deflateSetDictionary(zs, j->dict, (uInt)j->dict_len) != Z_OK)
		return -EIO;
	j->crc = crc32(0, j->in, (uInt)j->in_len);
	/* deflateBound() leaves out the sync marker: room for it, and grow if short. */
	size_t need = deflateBound(zs, (uLong)j->in_len) + 64;
	if (j->out_cap < need) {
		free(j->out);
		j->out = hoist_xmalloc(need);
		j->out_cap = need;
	}
	zs->next_out = j->out;
	zs->avail_out = (uInt)j->out_cap;
	size_t pos = 0; /* bytes fed so far */
	if (mixed) {
		/* Alternate runs until the tail, which the final flush below takes. */
		bool stored = first_stored;
		size_t r = 0, n_rec = j->in_len / RECORD;
		for (;;) {
			size_t end = stored ? next_cut(j, r, true) : cut;
			if (end >= n_rec)
				break;
			if (end > r) {
				if (feed(j, zs, j->in + pos, end * RECORD - pos, Z_NO_FLUSH) < 0)
					return -EIO;
				pos = end * RECORD;
			}
			r = end;
			stored = !stored;
			if (!stored)
				cut = next_cut(j, r, false);
			if (set_level(j, zs, stored ? 0 : d->level) < 0)
				return -EIO;
		}
	}
	int rc = feed(j, zs, j->in + pos, j->in_len - pos, j->last ? Z_FINISH : Z_SYNC_FLUSH);
	if (rc < 0)
		return rc;
	j->out_len = j->out_cap - zs->avail_out;
	return 0;
}

static void *worker_main(void *arg)
{
	struct lz *z = arg;
	struct deflater zs;
	bool ready = deflate_init(&zs, z->level) == 0;

	pthread_mutex_lock(&z->mu);
	for (;;) {
		while (!z->stop && z->seq_take == z->seq_queued)
			pthread_cond_wait(&z->work_cv, &z->mu);
		if (z->seq_take == z->seq_queued) /* stopping and nothing left */
			break;
		struct job *j = &z->ring[z->seq_take % z->n_slots];
		z->seq_take++;
		pthread_mutex_unlock(&z->mu);
		int rc = ready ? compress_job(j, &zs) : -ENOMEM;
		pthread_mutex_lock(&z->mu);
		j->rc = rc;
		j->state = JOB_DONE;
		pthread_cond_broadcast(&z->done_cv);
	}
	pthread_mutex_unlock(&z->mu);
	if (ready)
		deflate_end(&zs);
	return NULL;
}

static void stop_workers(struct lz *z)
{
	if (!z->n_started)
		return;
	pthread_mutex_lock(&z->mu);
	z->stop = true;
	pthread_cond_broadcast(&z->work_cv);
	pthread_mutex_unlock(&z->mu);
	for (unsigned i = 0; i < z->n_started; i++)
		pthread_join(z->tids[i], NULL);
	z->n_started = 0;
}

static int start_workers(struct lz *z, struct hoist_error *err)
{
	z->tids = hoist_xcalloc(z->threads, sizeof(*z->tids));
	for (unsigned i = 0; i < z->threads; i++) {
		int e = pthread_create(&z->tids[i], NULL, worker_main, z);
		if (e) {
			/* Fewer workers only cost speed; none at all would hang. */
			if (z->n_started)
				break;
			return hoist_error_set(err, -e, "starting a compression thread: %s",
					       strerror(e));
		}
		z->n_started++;
	}
	return 0;
}

static int write_header(struct lz *z, struct hoist_error *err)
{
	/* mtime 0, no name; XFL as zlib sets it; OS 255 "unknown", as Go writes it. */
	unsigned char h[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255};
	h[8] = z->level == 9 ? 2 : z->level == 1 ? 4 : 0;
	z->header_out = true;
	return hoist_blob_writer_write(z->blob, h, sizeof(h), err);
}

/* Write the oldest block out, waiting for it. */
static int emit_one(struct lz *z, struct hoist_error *err)
{
	struct job *j = &z->ring[z->seq_emit % z->n_slots];
	int rc;

	if (z->n_started) {
		pthread_mutex_lock(&z->mu);
		while (j->state != JOB_DONE)
			pthread_cond_wait(&z->done_cv, &z->mu);
		pthread_mutex_unlock(&z->mu);
	}
	if (j->rc < 0)
		return hoist_error_set(err, j->rc, "gzip: compressing a block failed");
	if (!z->header_out && (rc = write_header(z, err)) < 0)
		return rc;
	rc = hoist_blob_writer_write(z->blob, j->out, j->out_len, err);
	if (rc < 0)
		return rc;
	z->crc = crc32_combine(z->crc, j->crc, (z_off_t)j->in_len);
	z->total += j->in_len;
	j->state = JOB_FREE;
	z->seq_emit++;
	return 0;
}

/* Hand the block being filled to a worker (or compress it here). */
static int submit(struct lz *z, bool last, struct hoist_error *err)
{
	struct job *j = &z->ring[z->seq_fill % z->n_slots];
	int rc;

	j->last = last;
	memcpy(j->dict, z->dict, z->dict_len);
	j->dict_len = z->dict_len;
	if (j->in_len >= LZ_DICT) {
		memcpy(z->dict, j->in + j->in_len - LZ_DICT, LZ_DICT);
		z->dict_len = LZ_DICT;
	}
	z->seq_fill++;
	z->filling = false;
	if (z->threads == 1) {
		j->rc = compress_job(j, &z->self_z);
		j->state = JOB_DONE;
		return emit_one(z, err);
	}
	if (!z->n_started && (rc = start_workers(z, err)) < 0)
		return rc;
	pthread_mutex_lock(&z->mu);
	j->state = JOB_QUEUED;
	z->seq_queued = z->seq_fill;
	pthread_cond_signal(&z->work_cv);
	pthread_mutex_unlock(&z->mu);
	return 0;
}

/* The block to fill, after making room in the ring. */
static int fill_slot(struct lz *z, struct job **ret, struct hoist_error *err)
{
	struct job *j = &z->ring[z->seq_fill % z->n_slots];
	int rc;

	if (z->filling) {
		*ret = j;
		return 0;
	}
	while (z->seq_fill - z->seq_emit >= z->n_slots)
		if ((rc = emit_one(z, err)) < 0)
			return rc;
	if (!j->in)
		j->in = hoist_xmalloc(LZ_BLOCK);
	j->in_len = 0;
	j->state = JOB_FILLING;
	z->filling = true;
	*ret = j;
	return 0;
}

static int gzip_write(struct lz *z, const unsigned char *p, size_t len, struct hoist_error *err)
{
	while (len > 0) {
		struct job *j;
		int rc = fill_slot(z, &j, err);
		if (rc < 0)
			return rc;
		if (j->in_len == LZ_BLOCK) {
			/* Full, and more follows: only now is it known not to be the last. */
			if ((rc = submit(z, false, err)) < 0)
				return rc;
			continue;
		}
		size_t n = LZ_BLOCK - j->in_len;
		if (n > len)
			n = len;
		memcpy(j->in + j->in_len, p, n);
		j->in_len += n;
		p += n;
		len -= n;
	}
	return 0;
}

static int gzip_finish(struct lz *z, struct hoist_error *err)
{
	struct job *j;
	unsigned char t[8];
	int rc;

	/* The block being filled (empty for an empty stream) is the last. */
	if ((rc = fill_slot(z, &j, err)) < 0 || (rc = submit(z, true, err)) < 0)
		return rc;
	while (z->seq_emit < z->seq_fill)
		if ((rc = emit_one(z, err)) < 0)
			return rc;
	stop_workers(z);
	for (int i = 0; i < 4; i++) {
		t[i] = (unsigned char)(z->crc >> (8 * i));
		t[4 + i] = (unsigned char)(z->total >> (8 * i)); /* ISIZE: mod 2^32 */
	}
	return hoist_blob_writer_write(z->blob, t, sizeof(t), err);
}

/* ---- zstd ------------------------------------------------------------ */

static int zstd_drain(struct lz *z, ZSTD_inBuffer *in, ZSTD_EndDirective mode,
		      struct hoist_error *err)
{
	for (;;) {
		ZSTD_outBuffer out = {z->zout, z->zout_cap, 0};
		size_t left = ZSTD_compressStream2(z->zc, &out, in, mode);
		if (ZSTD_isError(left))
			return hoist_error_set(err, -EIO, "zstd: %s", ZSTD_getErrorName(left));
		if (out.pos) {
			int rc = hoist_blob_writer_write(z->blob, z->zout, out.pos, err);
			if (rc < 0)
				return rc;
		}
		if (mode == ZSTD_e_end ? left == 0 : in->pos == in->size)
			return 0;
	}
}

static int zstd_setup(struct lz *z, struct hoist_error *err)
{
	z->zc = ZSTD_createCCtx();
	if (!z->zc)
		return hoist_error_set(err, -ENOMEM, "zstd: cannot initialise");
	z->zout_cap = ZSTD_CStreamOutSize();
	z->zout = hoist_xmalloc(z->zout_cap);
	/*
	 * Workers always (at least one): libzstd's output with nbWorkers >= 1
	 * does not depend on their number, but nbWorkers = 0 cuts differently.
	 * The job size is fixed for the same reason and to bound memory.
	 */
	size_t r;
	if (ZSTD_isError(r = ZSTD_CCtx_setParameter(z->zc, ZSTD_c_compressionLevel, z->level)) ||
	    ZSTD_isError(r = ZSTD_CCtx_setParameter(z->zc, ZSTD_c_checksumFlag, 1)) ||
	    ZSTD_isError(r = ZSTD_CCtx_setParameter(z->zc, ZSTD_c_nbWorkers, (int)z->threads)) ||
	    ZSTD_isError(r = ZSTD_CCtx_setParameter(z->zc, ZSTD_c_jobSize, (int)LZ_ZSTD_JOB)))
		return hoist_error_set(err, -EINVAL, "zstd: %s", ZSTD_getErrorName(r));
	return 0;
}

/* ---- common ---------------------------------------------------------- */

int lz_new(enum hoist_layer_compression kind, int level, unsigned threads,
	   struct hoist_blob_writer *blob, struct lz **ret, struct hoist_error *err)
{
	struct lz *z = hoist_xcalloc(1, sizeof(*z));
	int rc;

	z->kind = kind;
	z->level = level;
	z->threads = threads ? threads : 1;
	z->blob = blob;
	z->crc = crc32(0, NULL, 0);
	pthread_mutex_init(&z->mu, NULL);
	pthread_cond_init(&z->work_cv, NULL);
	pthread_cond_init(&z->done_cv, NULL);
	if (kind == HOIST_LAYER_ZSTD) {
		if ((rc = zstd_setup(z, err)) < 0)
			goto fail;
	} else {
		z->n_slots = z->threads == 1 ? 1 : LZ_SLOTS_PER_THREAD * (size_t)z->threads;
		z->ring = hoist_xcalloc(z->n_slots, sizeof(*z->ring));
		if (z->threads == 1) {
			if (deflate_init(&z->self_z, level) < 0) {
				rc = hoist_error_set(err, -ENOMEM, "gzip: cannot initialise");
				goto fail;
			}
			z->self_z_ready = true;
		}
	}
	*ret = z;
	return 0;
fail:
	lz_free(z);
	return rc;
}

int lz_write(struct lz *z, const void *buf, size_t len, struct hoist_error *err)
{
	if (z->kind == HOIST_LAYER_ZSTD) {
		ZSTD_inBuffer in = {buf, len, 0};
		return zstd_drain(z, &in, ZSTD_e_continue, err);
	}
	return gzip_write(z, buf, len, err);
}

int lz_finish(struct lz *z, struct hoist_error *err)
{
	int rc;
	if (z->finished)
		return hoist_error_set(err, -EINVAL, "compressor already finished");
	z->finished = true;
	if (z->kind == HOIST_LAYER_ZSTD) {
		ZSTD_inBuffer in = {NULL, 0, 0};
		rc = zstd_drain(z, &in, ZSTD_e_end, err);
		/* libzstd's workers go with its pool; free it now, not later. */
		ZSTD_freeCCtx(z->zc);
		z->zc = NULL;
		return rc;
	}
	rc = gzip_finish(z, err);
	stop_workers(z);
	return rc;
}

void lz_free(struct lz *z)
{
	if (!z)
		return;
	stop_workers(z);
	ZSTD_freeCCtx(z->zc);
	free(z->zout);
	for (size_t i = 0; i < z->n_slots; i++) {
		free(z->ring[i].in);
		free(z->ring[i].out);
	}
	free(z->ring);
	free(z->tids);
	if (z->self_z_ready)
		deflate_end(&z->self_z);
	pthread_cond_destroy(&z->done_cv);
	pthread_cond_destroy(&z->work_cv);
	pthread_mutex_destroy(&z->mu);
	free(z);
}

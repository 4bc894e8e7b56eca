/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A layer blob in another compression: the stored blob is decompressed
 * (gzip, zstd or plain tar, told by its first bytes) and its tar bytes go
 * through the same compressor the layer writer uses (compress.c), with the
 * same level and fixed block sizes. The tar bytes are the ones the writer
 * produced (the diffID proves it), so the result is byte for byte the blob
 * a build writing the layer in that compression would have made.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "compress.h"
#include "layer-private.h"

#define RCHUNK 65536

int layer_level(const struct hoist_layer_opts *opts, enum hoist_layer_compression *ret_kind,
		int *ret_level, struct hoist_error *err)
{
	enum hoist_layer_compression kind = opts ? opts->compression : HOIST_LAYER_GZIP;
	int level;

	if (kind == HOIST_LAYER_ZSTD) {
		level = opts && opts->zstd_level > 0 ? opts->zstd_level : 3;
		if (level > 19)
			level = 19; /* above needs --ultra and its memory */
	} else if (kind == HOIST_LAYER_GZIP) {
		level = opts && opts->gzip_level > 0 ? opts->gzip_level : 6;
		if (level > 9)
			level = 9;
	} else {
		return hoist_error_set(err, -EINVAL, "unknown layer compression %d", (int)kind);
	}
	*ret_kind = kind;
	*ret_level = level;
	return 0;
}

int hoist_layer_variant(const struct hoist_layer_opts *opts, char buf[HOIST_LAYER_VARIANT_MAX],
			struct hoist_error *err)
{
	enum hoist_layer_compression kind;
	int level;
	int r = layer_level(opts, &kind, &level, err);
	if (r < 0)
		return r;
	snprintf(buf, HOIST_LAYER_VARIANT_MAX, "%s-%d", kind == HOIST_LAYER_ZSTD ? "zstd" : "gzip",
		 level);
	return 0;
}

int hoist_layer_media_compression(const char *media_type)
{
	static const struct {
		const char *mt;
		int kind;
	} known[] = {
	    {HOIST_MT_OCI_LAYER_GZIP, HOIST_LAYER_GZIP},
	    {"application/vnd.docker.image.rootfs.diff.tar.gzip", HOIST_LAYER_GZIP},
	    {HOIST_MT_OCI_LAYER_ZSTD, HOIST_LAYER_ZSTD},
	    {HOIST_MT_OCI_LAYER_TAR, HOIST_LAYER_UNCOMPRESSED},
	    {"application/vnd.docker.image.rootfs.diff.tar", HOIST_LAYER_UNCOMPRESSED},
	};
	for (size_t i = 0; i < ARRAY_SIZE(known); i++)
		if (media_type && !strcmp(media_type, known[i].mt))
			return known[i].kind;
	return -EMEDIUMTYPE;
}

/* The tar bytes, hashed and handed to the compressor. */
struct sink {
	struct lz *lz;
	struct hoist_sha256 diff;
};

static int sink_put(struct sink *k, const void *buf, size_t len, struct hoist_error *err)
{
	hoist_sha256_update(&k->diff, buf, len);
	return lz_write(k->lz, buf, len, err);
}

static int read_some(int fd, unsigned char *buf, size_t *len, struct hoist_error *err)
{
	ssize_t n;
	while ((n = read(fd, buf, RCHUNK)) < 0 && errno == EINTR)
		;
	if (n < 0)
		return hoist_error_set(err, -errno, "reading the layer: %s", strerror(errno));
	*len = (size_t)n;
	return 0;
}

static int from_gzip(int fd, unsigned char *in, size_t have, struct sink *k,
		     struct hoist_error *err)
{
	_cleanup_free_ unsigned char *out = hoist_xmalloc(RCHUNK);
	z_stream zs = {0};
	int rc = 0, zr = Z_OK;

	if (inflateInit2(&zs, 15 + 16) != Z_OK)
		return hoist_error_set(err, -ENOMEM, "gzip: cannot initialise");
	zs.next_in = in;
	zs.avail_in = (uInt)have;
	for (;;) {
		if (zs.avail_in == 0) {
			size_t n;
			if ((rc = read_some(fd, in, &n, err)) < 0)
				break;
			if (n == 0) {
				if (zr != Z_STREAM_END)
					rc =
					    hoist_error_set(err, -EBADMSG, "gzip: truncated layer");
				break;
			}
			zs.next_in = in;
			zs.avail_in = (uInt)n;
		}
		if (zr == Z_STREAM_END) {
			/* Another member follows (gzip allows several). */
			inflateReset(&zs);
		}
		zs.next_out = out;
		zs.avail_out = RCHUNK;
		zr = inflate(&zs, Z_NO_FLUSH);
		if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR) {
			rc =
			    hoist_error_set(err, -EBADMSG, "gzip: %s", zs.msg ? zs.msg : "corrupt");
			break;
		}
		if (RCHUNK - zs.avail_out > 0 &&
		    (rc = sink_put(k, out, RCHUNK - zs.avail_out, err)) < 0)
			break;
	}
	inflateEnd(&zs);
	return rc;
}

static int from_zstd(int fd, unsigned char *in, size_t have, struct sink *k,
		     struct hoist_error *err)
{
	size_t cap = ZSTD_DStreamOutSize();
	_cleanup_free_ unsigned char *out = hoist_xmalloc(cap);
	ZSTD_DCtx *dc = ZSTD_createDCtx();
	size_t left = 1;
	int rc = 0;

	if (!dc)
		return hoist_error_set(err, -ENOMEM, "zstd: cannot initialise");
	ZSTD_inBuffer zin = {in, have, 0};
	for (;;) {
		if (zin.pos == zin.size) {
			size_t n;
			if ((rc = read_some(fd, in, &n, err)) < 0)
				break;
			if (n == 0) {
				if (left != 0)
					rc =
					    hoist_error_set(err, -EBADMSG, "zstd: truncated layer");
				break;
			}
			zin = (ZSTD_inBuffer){in, n, 0};
		}
		ZSTD_outBuffer zout = {out, cap, 0};
		left = ZSTD_decompressStream(dc, &zout, &zin);
		if (ZSTD_isError(left)) {
			rc = hoist_error_set(err, -EBADMSG, "zstd: %s", ZSTD_getErrorName(left));
			break;
		}
		if (zout.pos > 0 && (rc = sink_put(k, out, zout.pos, err)) < 0)
			break;
	}
	ZSTD_freeDCtx(dc);
	return rc;
}

static int from_plain(int fd, unsigned char *in, size_t have, struct sink *k,
		      struct hoist_error *err)
{
	int rc = 0;
	while (have > 0) {
		if ((rc = sink_put(k, in, have, err)) < 0 ||
		    (rc = read_some(fd, in, &have, err)) < 0)
			break;
	}
	return rc;
}

int hoist_layer_recompress(struct hoist_store *s, const struct hoist_descriptor *src,
			   const char *diff_id, const struct hoist_layer_opts *opts,
			   struct hoist_descriptor *ret, struct hoist_error *err)
{
	enum hoist_layer_compression kind;
	struct hoist_blob_writer *blob = NULL;
	struct sink k = {0};
	_cleanup_free_ unsigned char *in = hoist_xmalloc(RCHUNK);
	char got[HOIST_DIGEST_MAX], digest[HOIST_DIGEST_MAX];
	unsigned threads;
	size_t have;
	int level, rc;

	if ((rc = layer_level(opts, &kind, &level, err)) < 0 ||
	    (rc = lz_threads(opts, &threads, err)) < 0)
		return rc;
	_cleanup_close_ int fd = hoist_store_blob_open(s, src->digest, err);
	if (fd < 0)
		return fd;
	if ((rc = read_some(fd, in, &have, err)) < 0)
		return rc;
	if ((rc = hoist_store_blob_begin(s, &blob, err)) < 0)
		return rc;
	if ((rc = lz_new(kind, level, threads, blob, &k.lz, err)) < 0) {
		k.lz = NULL;
		goto fail;
	}
	hoist_sha256_init(&k.diff);
	if (have >= 2 && in[0] == 0x1f && in[1] == 0x8b)
		rc = from_gzip(fd, in, have, &k, err);
	else if (have >= 4 && in[0] == 0x28 && in[1] == 0xb5 && in[2] == 0x2f && in[3] == 0xfd)
		rc = from_zstd(fd, in, have, &k, err);
	else
		rc = from_plain(fd, in, have, &k, err);
	if (rc >= 0)
		rc = lz_finish(k.lz, err);
	lz_free(k.lz);
	k.lz = NULL;
	hoist_sha256_final(&k.diff, got);
	if (rc < 0)
		goto fail;
	/* The bytes must be the layer's: a blob that does not decompress to
	 * its diffID would give another layer under the same diffID. */
	if (strcmp(got, diff_id) != 0) {
		rc = hoist_error_set(err, -EBADMSG, "it decompresses to '%s', not to diffID '%s'",
				     got, diff_id);
		goto fail;
	}
	uint64_t size = hoist_blob_writer_size(blob);
	rc = hoist_blob_writer_commit(blob, NULL, digest, err);
	blob = NULL; /* commit frees it, on success and failure */
	if (rc < 0)
		return rc;
	memset(ret, 0, sizeof(*ret));
	snprintf(ret->media_type, sizeof(ret->media_type), "%s",
		 kind == HOIST_LAYER_ZSTD ? HOIST_MT_OCI_LAYER_ZSTD : HOIST_MT_OCI_LAYER_GZIP);
	memcpy(ret->digest, digest, HOIST_DIGEST_MAX);
	ret->size = (int64_t)size;
	return 0;
fail:
	lz_free(k.lz);
	hoist_blob_writer_abort(blob);
	return rc < 0 ? hoist_error_prefix(err, "recompressing layer '%s'", src->digest) : rc;
}

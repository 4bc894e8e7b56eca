/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Writing a layer in one pass: tar.c encodes each header (names as bytes,
 * PAX records as Go's archive/tar writes them), the writer buffers the tar
 * stream, hashes it (the diffID) and hands it to the compressor (compress.c:
 * gzip in parallel fixed-size blocks, or zstd; no timestamp, so the output is
 * deterministic whatever the thread count) which writes into the store's
 * blob writer, which hashes the compressed bytes (the digest). Nothing holds
 * more than a few blocks of the layer.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "compress.h"
#include "layer-private.h"
#include "tar.h"

#define ZCHUNK 65536
#define OUTBUF (256 * 1024)

struct hoist_layer_writer {
	struct hoist_store *store;
	struct hoist_blob_writer *blob;
	struct lz *lz;
	enum hoist_layer_compression kind;
	struct hoist_sha256 diff;
	bool diff_done;
	int64_t epoch;
	uint64_t data_left; /* bytes the current entry's header promised */
	size_t pad;	    /* zeros after the current entry's data */
	int failed;	    /* first error; the tar is unusable after it */
	char *cur;	    /* path of the current entry, for errors */
	struct hoist_error cb_err;
	size_t out_len;
	unsigned char out[OUTBUF];
};

static int flush_out(struct hoist_layer_writer *w)
{
	int rc;

	if (!w->out_len)
		return 0;
	hoist_sha256_update(&w->diff, w->out, w->out_len);
	rc = lz_write(w->lz, w->out, w->out_len, &w->cb_err);
	w->out_len = 0;
	if (rc < 0 && !w->failed)
		w->failed = rc;
	return rc;
}

/* Append tar bytes to the stream. */
static int emit(struct hoist_layer_writer *w, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	int rc;

	if (w->failed)
		return w->failed;
	if (len >= OUTBUF) {
		rc = flush_out(w);
		if (rc < 0)
			return rc;
		hoist_sha256_update(&w->diff, p, len);
		rc = lz_write(w->lz, p, len, &w->cb_err);
		if (rc < 0 && !w->failed)
			w->failed = rc;
		return rc;
	}
	if (w->out_len + len > OUTBUF) {
		rc = flush_out(w);
		if (rc < 0)
			return rc;
	}
	memcpy(w->out + w->out_len, p, len);
	w->out_len += len;
	return 0;
}

static void writer_free(struct hoist_layer_writer *w)
{
	lz_free(w->lz); /* joins the compression threads */
	if (!w->diff_done)
		hoist_sha256_release(&w->diff);
	if (w->blob)
		hoist_blob_writer_abort(w->blob);
	free(w->cur);
	free(w);
}

void hoist_layer_writer_abort(struct hoist_layer_writer *w)
{
	if (w)
		writer_free(w);
}

int hoist_layer_writer_new(struct hoist_store *s, const struct hoist_layer_opts *opts,
			   struct hoist_layer_writer **ret, struct hoist_error *err)
{
	struct hoist_layer_writer *w;
	enum hoist_layer_compression kind;
	int level;
	unsigned threads;
	int rc;

	if ((rc = layer_level(opts, &kind, &level, err)) < 0 ||
	    (rc = lz_threads(opts, &threads, err)) < 0)
		return rc;
	w = hoist_xcalloc(1, sizeof(*w));
	w->kind = kind;
	w->store = s;
	w->epoch = opts ? opts->source_date_epoch : -1;
	hoist_sha256_init(&w->diff);

	rc = hoist_store_blob_begin(s, &w->blob, err);
	if (rc < 0) {
		w->blob = NULL;
		goto fail;
	}
	rc = lz_new(kind, level, threads, w->blob, &w->lz, err);
	if (rc < 0) {
		w->lz = NULL;
		goto fail;
	}

	*ret = w;
	return 0;
fail:
	writer_free(w);
	return rc;
}

static int fail_with(struct hoist_layer_writer *w, int rc)
{
	if (!w->failed)
		w->failed = rc;
	return rc;
}

static int stream_fail(struct hoist_layer_writer *w, const char *path, struct hoist_error *err)
{
	return hoist_error_set(err, w->failed, "writing the layer at entry '%s': %s", path,
			       w->cb_err.msg);
}

static const unsigned char zeros[TAR_BLOCK];

/* End the current entry: all its promised bytes came, then its padding. */
static int end_entry(struct hoist_layer_writer *w, const char *next, struct hoist_error *err)
{
	if (w->data_left)
		return fail_with(w, hoist_error_set(err, -EIO,
						    "tar entry before '%s' is %llu bytes short",
						    next, (unsigned long long)w->data_left));
	if (w->pad && emit(w, zeros, w->pad) < 0)
		return stream_fail(w, next, err);
	w->pad = 0;
	return 0;
}

static bool has_nul_free_names(const struct hoist_entry *e)
{
	for (size_t i = 0; i < e->n_xattrs; i++)
		if (!e->xattrs[i].name[0] || strchr(e->xattrs[i].name, '='))
			return false;
	return true;
}

int layer_writer_header(struct hoist_layer_writer *w, const struct hoist_entry *e,
			struct hoist_error *err)
{
	_cleanup_free_ char *clean = NULL;
	_cleanup_free_ unsigned char *hdr = NULL;
	int64_t mtime = e->mtime;
	size_t n;
	int rc;

	if (w->failed)
		return hoist_error_set(err, w->failed, "layer writer already failed");
	if (!e->path || !(clean = layer_clean_path(e->path)) || !clean[0] ||
	    strcmp(clean, e->path) != 0)
		return fail_with(w, hoist_error_set(err, -EINVAL, "entry '%s': path not clean",
						    e->path ? e->path : "(null)"));
	if (e->type == HOIST_ENTRY_HARDLINK && (!e->linkname || !e->linkname[0]))
		return fail_with(
		    w,
		    hoist_error_set(err, -EINVAL, "entry '%s': hardlink without target", e->path));
	if (!has_nul_free_names(e))
		return fail_with(
		    w, hoist_error_set(err, -EINVAL, "entry '%s': bad xattr name", e->path));
	/* No layer hoist writes holds a whiteout another reader would refuse. */
	if ((rc = hoist_whiteout_parse(e->path, NULL, err)) < 0)
		return fail_with(w, rc);
	rc = end_entry(w, e->path, err);
	if (rc < 0)
		return rc;
	if (w->epoch >= 0 && mtime > w->epoch)
		mtime = w->epoch;
	free(w->cur);
	w->cur = hoist_xstrdup(e->path);
	hdr = hoist_xmalloc(tar_header_max(e));
	n = tar_header_encode(e, mtime, hdr);
	if (emit(w, hdr, n) < 0)
		return stream_fail(w, e->path, err);
	if (e->type == HOIST_ENTRY_FILE) {
		w->data_left = e->size;
		w->pad = (size_t)((TAR_BLOCK - e->size % TAR_BLOCK) % TAR_BLOCK);
	}
	return 0;
}

int layer_writer_data(struct hoist_layer_writer *w, const void *buf, size_t len,
		      struct hoist_error *err)
{
	if (w->failed)
		return hoist_error_set(err, w->failed, "layer writer already failed");
	if (len > w->data_left)
		return fail_with(w,
				 hoist_error_set(err, -EIO, "tar entry data longer than its size"));
	w->data_left -= len;
	if (emit(w, buf, len) < 0)
		return stream_fail(w, w->cur ? w->cur : "(data)", err);
	return 0;
}

int hoist_layer_add(struct hoist_layer_writer *w, const struct hoist_entry *e, int content_fd,
		    struct hoist_error *err)
{
	_cleanup_free_ char *buf = NULL;
	uint64_t left;
	int rc;

	/* A file named ".wh.NAME" would read back as a whiteout. */
	if (e->path && hoist_whiteout_parse(e->path, NULL, NULL) != HOIST_WHITEOUT_NONE)
		return fail_with(w, hoist_error_set(err, -EINVAL,
						    "'%s': a name beginning with '.wh.' is a "
						    "whiteout in a layer, it cannot be stored",
						    e->path));
	rc = layer_writer_header(w, e, err);
	if (rc < 0 || e->type != HOIST_ENTRY_FILE || (e->size == 0 && content_fd < 0))
		return rc;
	buf = hoist_xmalloc(ZCHUNK);
	left = e->size;
	while (left > 0) {
		size_t want = left < ZCHUNK ? (size_t)left : ZCHUNK;
		ssize_t n = read(content_fd, buf, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail_with(w, hoist_error_set(err, -errno, "reading '%s': %s",
							    e->path, strerror(errno)));
		if (n == 0)
			return fail_with(w, hoist_error_set(err, -EIO,
							    "'%s' is shorter than its size %llu",
							    e->path, (unsigned long long)e->size));
		rc = layer_writer_data(w, buf, (size_t)n, err);
		if (rc < 0)
			return rc;
		left -= (uint64_t)n;
	}
	/* A file that grew since it was stat'ed would make a header that lies. */
	for (; content_fd >= 0;) {
		ssize_t n = read(content_fd, buf, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n > 0)
			return fail_with(w, hoist_error_set(err, -EIO,
							    "'%s' is longer than its size %llu",
							    e->path, (unsigned long long)e->size));
		break;
	}
	return 0;
}

static int add_marker(struct hoist_layer_writer *w, const char *dir, const char *name,
		      struct hoist_error *err)
{
	_cleanup_free_ char *path = NULL;
	struct hoist_entry e = {0};

	path = dir && dir[0] ? hoist_xasprintf("%s/%s", dir, name) : hoist_xstrdup(name);
	e.path = path;
	e.type = HOIST_ENTRY_FILE;
	e.mode = 0;
	e.mtime = w->epoch >= 0 ? w->epoch : 0;
	return layer_writer_header(w, &e, err);
}

int hoist_layer_add_whiteout(struct hoist_layer_writer *w, const char *path,
			     struct hoist_error *err)
{
	_cleanup_free_ char *dir = NULL, *name = NULL;
	const char *slash = strrchr(path, '/');

	if (!path[0] || (slash && !slash[1]))
		return fail_with(w,
				 hoist_error_set(err, -EINVAL, "whiteout of '%s': bad path", path));
	dir = slash ? hoist_xstrndup(path, (size_t)(slash - path)) : hoist_xstrdup("");
	name = hoist_xasprintf(".wh.%s", slash ? slash + 1 : path);
	return add_marker(w, dir, name, err);
}

int hoist_layer_add_opaque(struct hoist_layer_writer *w, const char *dir, struct hoist_error *err)
{
	return add_marker(w, dir, ".wh..wh..opq", err);
}

int hoist_layer_writer_finish(struct hoist_layer_writer *w, struct hoist_descriptor *ret_desc,
			      char ret_diff_id[HOIST_DIGEST_MAX], struct hoist_error *err)
{
	char digest[HOIST_DIGEST_MAX];
	char diff_id[HOIST_DIGEST_MAX];
	uint64_t size;
	int rc;

	if (w->failed) {
		rc = hoist_error_set(err, w->failed, "layer writer already failed");
		goto fail;
	}
	/* the end of the archive: two zero blocks, as Go writes it */
	rc = end_entry(w, "end of archive", err);
	if (rc < 0)
		goto fail;
	if (emit(w, zeros, TAR_BLOCK) < 0 || emit(w, zeros, TAR_BLOCK) < 0 || flush_out(w) < 0) {
		rc = stream_fail(w, "end of archive", err);
		goto fail;
	}
	rc = lz_finish(w->lz, err);
	lz_free(w->lz);
	w->lz = NULL;
	if (rc < 0)
		goto fail;
	hoist_sha256_final(&w->diff, diff_id);
	w->diff_done = true;
	size = hoist_blob_writer_size(w->blob);
	rc = hoist_blob_writer_commit(w->blob, NULL, digest, err);
	w->blob = NULL; /* commit frees it, on success and failure */
	if (rc < 0)
		goto fail;
	memset(ret_desc, 0, sizeof(*ret_desc));
	snprintf(ret_desc->media_type, sizeof(ret_desc->media_type), "%s",
		 w->kind == HOIST_LAYER_ZSTD ? HOIST_MT_OCI_LAYER_ZSTD : HOIST_MT_OCI_LAYER_GZIP);
	memcpy(ret_desc->digest, digest, HOIST_DIGEST_MAX);
	ret_desc->size = (int64_t)size;
	memcpy(ret_diff_id, diff_id, HOIST_DIGEST_MAX);
	writer_free(w);
	return 0;
fail:
	writer_free(w);
	return rc;
}

/* hoist_layer_from_tar: each checked entry is written as it was read. */
struct from_tar {
	struct hoist_layer_writer *w;
	char *buf; /* ZCHUNK bytes */
};

static int from_tar_entry(void *ctx, struct hoist_tar_reader *r, const struct hoist_entry *e,
			  enum hoist_whiteout kind, const char *target, struct hoist_error *err)
{
	struct from_tar *x = ctx;
	int rc;

	(void)kind;
	(void)target;
	rc = layer_writer_header(x->w, e, err);
	if (rc < 0 || e->type != HOIST_ENTRY_FILE)
		return rc;
	for (;;) {
		ssize_t n = hoist_tar_reader_read(r, x->buf, ZCHUNK, err);
		if (n <= 0)
			return (int)n;
		rc = layer_writer_data(x->w, x->buf, (size_t)n, err);
		if (rc < 0)
			return rc;
	}
}

int hoist_layer_from_tar(struct hoist_store *s, int fd, const char *name,
			 const struct hoist_layer_opts *opts, struct hoist_descriptor *ret_desc,
			 char ret_diff_id[HOIST_DIGEST_MAX], struct hoist_error *err)
{
	struct hoist_tar_reader *r = NULL;
	struct hoist_layer_writer *w = NULL;
	_cleanup_free_ char *buf = NULL;
	int rc;

	rc = hoist_tar_reader_open(fd, name, &r, err);
	if (rc < 0)
		return rc;
	buf = hoist_xmalloc(ZCHUNK);
	rc = hoist_layer_writer_new(s, opts, &w, err);
	if (rc < 0)
		goto out;
	/* The unpacker's checks without a tree: no layer is made that could
	 * not be unpacked (a path through a symlink, a bad whiteout). */
	struct from_tar x = {.w = w, .buf = buf};
	struct hoist_unpack_ops ops = {.entry = from_tar_entry, .ctx = &x};
	rc = hoist_layer_unpack(r, -1, name, &ops, err);
	if (rc < 0)
		goto out;
	rc = hoist_layer_writer_finish(w, ret_desc, ret_diff_id, err);
	w = NULL;
out:
	hoist_layer_writer_abort(w);
	hoist_tar_reader_free(r);
	return rc;
}

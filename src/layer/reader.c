/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reading tars safely. The "outer" reader turns the compressed stream into
 * plain tar bytes, which we hash on their way (the diffID) and parse
 * ourselves (tar.c: ustar, PAX and GNU long names, names kept as bytes). So
 * one pass over the input both parses and verifies, whatever the
 * compression, with bounded memory.
 *
 * gzip is inflated with zlib here, not by libarchive: libarchive's gzip
 * filter never checks the CRC-32 and ISIZE trailers, so a corrupted layer
 * inflated to wrong bytes without an error (issue #21); zlib checks both.
 * Every other compression (zstd, xz, bzip2, lz4, ...) and plain tar goes
 * through libarchive's filters (its zstd, xz and bzip2 readers check their
 * formats' checksums).
 *
 * The outer reader also enforces the size limits (include/hoist/limits.h):
 * no input is an empty stream, and the inflated size is bounded, absolutely
 * and by its ratio to the compressed bytes read, so a small bomb stops long
 * before the disk fills.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "hoist/archive-dl.h"
#include "layer-private.h"
#include "tar.h"

#define READ_CHUNK 65536

struct hoist_tar_reader {
	int fd;
	char *name;
	struct archive *outer; /* NULL when gzip is inflated with zlib */
	bool gzip;
	z_stream z;
	bool z_end; /* between gzip members */
	bool fd_eof;
	size_t fd_pos, fd_len; /* unconsumed input in fdbuf */
	bool outer_eof;
	uint64_t compressed; /* bytes read from fd */
	uint64_t inflated;   /* tar bytes the outer reader gave */
	uint64_t max_size;   /* of inflated; 0: no limit */
	struct hoist_sha256 hash;
	bool hash_done;
	char diff_id[HOIST_DIGEST_MAX];
	uint64_t n_entries;
	uint64_t max_entries;
	char *outer_error;  /* message of a decompression error, for context */
	uint64_t offset;    /* tar bytes consumed */
	uint64_t data_left; /* of the current entry */
	uint64_t pad;	    /* after the current entry's data */
	bool ended;	    /* the end-of-archive blocks were read */
	size_t tb_pos, tb_len;
	unsigned char fdbuf[READ_CHUNK];
	unsigned char tarbuf[READ_CHUNK];
};

void hoist_entry_release(struct hoist_entry *e)
{
	if (!e)
		return;
	free(e->path);
	free(e->linkname);
	for (size_t i = 0; i < e->n_xattrs; i++) {
		free(e->xattrs[i].name);
		free(e->xattrs[i].value);
	}
	free(e->xattrs);
	memset(e, 0, sizeof(*e));
}

void hoist_entry_copy(struct hoist_entry *dst, const struct hoist_entry *src)
{
	*dst = *src;
	dst->path = src->path ? hoist_xstrdup(src->path) : NULL;
	dst->linkname = src->linkname ? hoist_xstrdup(src->linkname) : NULL;
	dst->xattrs = NULL;
	dst->n_xattrs = 0;
	if (src->n_xattrs) {
		dst->xattrs = hoist_xcalloc(src->n_xattrs, sizeof(*dst->xattrs));
		for (size_t i = 0; i < src->n_xattrs; i++) {
			dst->xattrs[i].name = hoist_xstrdup(src->xattrs[i].name);
			dst->xattrs[i].value = hoist_xmalloc(src->xattrs[i].len + 1);
			memcpy(dst->xattrs[i].value, src->xattrs[i].value, src->xattrs[i].len);
			dst->xattrs[i].value[src->xattrs[i].len] = '\0';
			dst->xattrs[i].len = src->xattrs[i].len;
		}
		dst->n_xattrs = src->n_xattrs;
	}
}

char *layer_clean_path(const char *p)
{
	size_t len = strlen(p);
	_cleanup_free_ char *out = hoist_xmalloc(len + 1);
	size_t o = 0;
	const char *s = p;

	while (*s) {
		const char *slash = strchr(s, '/');
		size_t n = slash ? (size_t)(slash - s) : strlen(s);
		if (n == 0 || (n == 1 && s[0] == '.')) {
			/* empty or "." component */
		} else if (n == 2 && s[0] == '.' && s[1] == '.') {
			if (o == 0)
				return NULL; /* would climb above the root */
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--; /* drop the separator too */
		} else {
			if (o > 0)
				out[o++] = '/';
			memcpy(out + o, s, n);
			o += n;
		}
		s += n;
		if (*s == '/')
			s++;
	}
	out[o] = '\0';
	return TAKE_PTR(out);
}

/* ---- the outer reader: fd -> decompressed bytes ----------------------- */

/* Fill fdbuf from fd when it is used up. Returns >0, 0 at the end, -errno. */
static int fd_fill(struct hoist_tar_reader *r)
{
	if (r->fd_pos < r->fd_len)
		return 1;
	if (r->fd_eof)
		return 0;
	for (;;) {
		ssize_t n = read(r->fd, r->fdbuf, sizeof(r->fdbuf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		r->fd_pos = 0;
		r->fd_len = (size_t)n;
		r->compressed += (uint64_t)n;
		if (n == 0)
			r->fd_eof = true;
		return n > 0;
	}
}

static ssize_t fd_read_cb(struct archive *a, void *data, const void **buf)
{
	struct hoist_tar_reader *r = data;
	int rc = fd_fill(r);
	size_t n;

	if (rc < 0) {
		archive_set_error(a, -rc, "read error: %s", strerror(-rc));
		return -1;
	}
	n = r->fd_len - r->fd_pos;
	*buf = r->fdbuf + r->fd_pos;
	r->fd_pos = r->fd_len;
	return (ssize_t)n;
}

static int outer_error(struct hoist_tar_reader *r, const char *msg, struct hoist_error *err)
{
	free(r->outer_error);
	r->outer_error = hoist_xstrdup(msg ? msg : "decompression failed");
	return hoist_error_set(err, -EBADMSG, "'%s': %s", r->name, r->outer_error);
}

/* Inflate gzip members with zlib into buf. Returns bytes, 0 at the end. */
static ssize_t gzip_read(struct hoist_tar_reader *r, void *buf, size_t len, struct hoist_error *err)
{
	r->z.next_out = buf;
	r->z.avail_out = (uInt)len;
	while (r->z.avail_out == len) {
		int rc = fd_fill(r);
		if (rc < 0)
			return hoist_error_set(err, rc, "'%s': read: %s", r->name, strerror(-rc));
		if (rc == 0) {
			if (r->z_end)
				return 0;
			return outer_error(r, "the gzip stream is truncated (no end, no trailer)",
					   err);
		}
		if (r->z_end) {
			/* After a member: another member, or zero padding. Go's
			 * reader takes neither trailing garbage nor, unlike us,
			 * padding; libarchive took anything. */
			if (r->fdbuf[r->fd_pos] == 0) {
				while (r->fd_pos < r->fd_len && r->fdbuf[r->fd_pos] == 0)
					r->fd_pos++;
				continue;
			}
			if (r->fdbuf[r->fd_pos] != 0x1f)
				return outer_error(r, "data after the end of the gzip stream", err);
			if (inflateReset(&r->z) != Z_OK)
				return outer_error(r, "gzip: cannot reset", err);
			r->z_end = false;
		}
		r->z.next_in = r->fdbuf + r->fd_pos;
		r->z.avail_in = (uInt)(r->fd_len - r->fd_pos);
		rc = inflate(&r->z, Z_NO_FLUSH);
		r->fd_pos = r->fd_len - r->z.avail_in;
		if (rc == Z_STREAM_END)
			r->z_end = true;
		else if (rc == Z_MEM_ERROR)
			return hoist_error_set(err, -ENOMEM, "'%s': gzip: out of memory", r->name);
		else if (rc != Z_OK && rc != Z_BUF_ERROR) {
			char msg[128];
			/* "incorrect data check" (CRC-32), "incorrect length check" (ISIZE) */
			snprintf(msg, sizeof(msg), "gzip: %s",
				 r->z.msg ? r->z.msg : "corrupt stream");
			return outer_error(r, msg, err);
		}
	}
	return (ssize_t)(len - r->z.avail_out);
}

/* Decompressed bytes into buf: >0, 0 at the end, or <0. */
static ssize_t outer_read(struct hoist_tar_reader *r, void *buf, size_t len,
			  struct hoist_error *err)
{
	la_ssize_t n;

	if (r->gzip)
		return gzip_read(r, buf, len, err);
	n = archive_read_data(r->outer, buf, len);
	if (n < 0)
		return outer_error(r, archive_error_string(r->outer), err);
	return n;
}

/* The limits on what a stream inflates to (docs/security.md). */
static int check_size(struct hoist_tar_reader *r, struct hoist_error *err)
{
	const struct hoist_limits *l = hoist_limits();
	char a[32], b[32];

	if (r->max_size && r->inflated > r->max_size)
		return hoist_error_set(err, -EFBIG,
				       "'%s': more than %s of tar data (the limit, "
				       "HOIST_LIMIT_LAYER_SIZE)",
				       r->name, hoist_limit_str(r->max_size, a, sizeof(a)));
	if (r->inflated > l->layer_ratio_from && l->layer_ratio &&
	    r->inflated / l->layer_ratio > r->compressed)
		return hoist_error_set(err, -EFBIG,
				       "'%s': %llu bytes inflate to more than %s, over %llu times "
				       "as many (a compression bomb? the limits are "
				       "HOIST_LIMIT_LAYER_RATIO, %llu, past "
				       "HOIST_LIMIT_LAYER_RATIO_FROM, %s)",
				       r->name, (unsigned long long)r->compressed,
				       hoist_limit_str(l->layer_ratio_from, a, sizeof(a)),
				       (unsigned long long)l->layer_ratio,
				       (unsigned long long)l->layer_ratio,
				       hoist_limit_str(l->layer_ratio_from, b, sizeof(b)));
	return 0;
}

/* ---- plain tar bytes, hashed on the way --------------------------------- */

/* Refill tarbuf from the decompressor. Returns >0, 0 at the end, <0. */
static int src_fill(struct hoist_tar_reader *r, struct hoist_error *err)
{
	ssize_t n;
	int rc;

	if (r->tb_pos < r->tb_len)
		return 1;
	if (r->outer_eof)
		return 0;
	n = outer_read(r, r->tarbuf, sizeof(r->tarbuf), err);
	if (n < 0)
		return (int)n;
	if (n == 0) {
		r->outer_eof = true;
		return 0;
	}
	r->inflated += (uint64_t)n;
	if ((rc = check_size(r, err)) < 0)
		return rc;
	hoist_sha256_update(&r->hash, r->tarbuf, (size_t)n);
	r->tb_pos = 0;
	r->tb_len = (size_t)n;
	return 1;
}

/* Read exactly len bytes (dst NULL: skip them). Returns len, fewer at the
 * end of the stream, or <0. */
static ssize_t src_read(struct hoist_tar_reader *r, void *dst, size_t len, struct hoist_error *err)
{
	size_t got = 0;

	while (got < len) {
		int rc = src_fill(r, err);
		if (rc <= 0) {
			if (rc < 0)
				return rc;
			break;
		}
		size_t n = r->tb_len - r->tb_pos;
		if (n > len - got)
			n = len - got;
		if (dst)
			memcpy((char *)dst + got, r->tarbuf + r->tb_pos, n);
		r->tb_pos += n;
		got += n;
	}
	r->offset += got;
	return (ssize_t)got;
}

void hoist_tar_reader_free(struct hoist_tar_reader *r)
{
	if (!r)
		return;
	if (r->outer)
		archive_read_free(r->outer);
	if (r->gzip)
		inflateEnd(&r->z);
	if (!r->hash_done)
		hoist_sha256_release(&r->hash);
	free(r->outer_error);
	free(r->name);
	free(r);
}

int hoist_tar_reader_open(int fd, const char *name, struct hoist_tar_reader **ret,
			  struct hoist_error *err)
{
	struct hoist_tar_reader *r;
	struct archive_entry *ae;
	const char *no_lib;
	int rc;

	r = hoist_xcalloc(1, sizeof(*r));
	r->fd = fd;
	r->name = hoist_xstrdup(name ? name : "tar");
	r->max_entries = hoist_limits()->layer_entries;
	r->max_size = hoist_limits()->layer_size;
	hoist_sha256_init(&r->hash);

	/* An empty file is not a tar, nor an empty layer (issue #21): a tar
	 * with no entries still has its end-of-archive blocks. */
	rc = fd_fill(r);
	if (rc < 0) {
		rc = hoist_error_set(err, rc, "'%s': read: %s", r->name, strerror(-rc));
		goto fail;
	}
	if (rc == 0) {
		rc = hoist_error_set(err, -EBADMSG, "'%s': empty (0 bytes): not a tar", r->name);
		goto fail;
	}
	if (r->fd_len >= 2 && r->fdbuf[0] == 0x1f && r->fdbuf[1] == 0x8b) {
		/* windowBits 15 + 16: gzip only, header and trailer checked */
		if (inflateInit2(&r->z, 15 + 16) != Z_OK) {
			rc = hoist_error_set(err, -ENOMEM, "'%s': gzip: cannot start", r->name);
			goto fail;
		}
		r->gzip = true;
		*ret = r;
		return 0;
	}

	if ((no_lib = hoist_archive_load_error())) {
		rc = hoist_error_set(err, -ELIBACC, "%s", no_lib);
		goto fail;
	}
	r->outer = archive_read_new();
	if (!r->outer)
		abort();
	archive_read_support_filter_all(r->outer);
	archive_read_support_format_raw(r->outer);
	archive_read_support_format_empty(r->outer);
	if (archive_read_open2(r->outer, r, NULL, fd_read_cb, NULL, NULL) != ARCHIVE_OK) {
		rc = hoist_error_set(err, -EBADMSG, "'%s': %s", r->name,
				     archive_error_string(r->outer));
		goto fail;
	}
	rc = archive_read_next_header(r->outer, &ae);
	if (rc == ARCHIVE_EOF) {
		r->outer_eof = true; /* compressed nothing: next_header says so */
	} else if (rc < ARCHIVE_WARN) {
		rc = hoist_error_set(err, -EBADMSG, "'%s': %s", r->name,
				     archive_error_string(r->outer));
		goto fail;
	}

	*ret = r;
	return 0;
fail:
	hoist_tar_reader_free(r);
	return rc;
}

void hoist_tar_reader_set_max_size(struct hoist_tar_reader *r, uint64_t max)
{
	r->max_size = max;
}

void hoist_tar_reader_set_max_entries(struct hoist_tar_reader *r, uint64_t max)
{
	r->max_entries = max;
}

static int entry_error(struct hoist_tar_reader *r, const char *path, int code,
		       struct hoist_error *err, const char *what)
{
	return hoist_error_set(err, code, "'%s': entry '%.512s': %s", r->name, path, what);
}

/* The entry's fields from its header, PAX records and GNU long names. */
static int fill_entry(struct hoist_tar_reader *r, const struct tar_raw *h, const struct tar_pax *x,
		      const char *raw, const char *cleaned, const char *link, struct hoist_entry *e,
		      struct hoist_error *err)
{
	int64_t uid = x->has_uid ? x->uid : h->uid, gid = x->has_gid ? x->gid : h->gid;

	if (uid < 0 || uid > UINT32_MAX || gid < 0 || gid > UINT32_MAX)
		return entry_error(r, raw, -EBADMSG, err, "uid or gid out of range");
	e->path = hoist_xstrdup(cleaned);
	e->mode = h->mode & 07777;
	e->uid = (uint32_t)uid;
	e->gid = (uint32_t)gid;
	e->mtime = x->has_mtime ? x->mtime : h->mtime;

	switch (h->typeflag) {
	case '1': /* hard link */
		if (!link[0])
			return entry_error(r, raw, -EBADMSG, err, "hardlink without a target");
		if (link[0] == '/')
			return entry_error(r, raw, -EBADMSG, err, "absolute hardlink target");
		if (strlen(link) > HOIST_TAR_MAX_PATH)
			return entry_error(r, raw, -ENAMETOOLONG, err, "hardlink target too long");
		e->linkname = layer_clean_path(link);
		if (!e->linkname)
			return entry_error(r, raw, -EBADMSG, err,
					   "hardlink target escapes the root");
		if (!e->linkname[0])
			return entry_error(r, raw, -EBADMSG, err, "hardlink to the root");
		e->type = HOIST_ENTRY_HARDLINK;
		break;
	case '0':
	case '\0':
	case '7': /* contiguous file: a regular file everywhere else */
		e->type = HOIST_ENTRY_FILE;
		e->size = (uint64_t)(x->has_size ? x->size : h->size);
		break;
	case '5':
		e->type = HOIST_ENTRY_DIR;
		break;
	case '2':
		if (strlen(link) > HOIST_TAR_MAX_PATH)
			return entry_error(r, raw, -ENAMETOOLONG, err, "symlink target too long");
		e->type = HOIST_ENTRY_SYMLINK;
		e->linkname = hoist_xstrdup(link);
		break;
	case '3':
	case '4':
		e->type = h->typeflag == '3' ? HOIST_ENTRY_CHAR : HOIST_ENTRY_BLOCK;
		e->devmajor = h->devmajor;
		e->devminor = h->devminor;
		break;
	case '6':
		e->type = HOIST_ENTRY_FIFO;
		break;
	case 'S':
		return entry_error(r, raw, -EOPNOTSUPP, err,
				   "GNU sparse file entries are not supported (make the tar "
				   "without --sparse)");
	default: {
		char what[64];
		snprintf(what, sizeof(what), "unsupported entry type '%c' (0x%02x)",
			 h->typeflag >= 0x20 && h->typeflag < 0x7f ? h->typeflag : '?',
			 (unsigned char)h->typeflag);
		return entry_error(r, raw, -EBADMSG, err, what);
	}
	}
	if (x->n_xattrs) {
		e->xattrs = hoist_xcalloc(x->n_xattrs, sizeof(*e->xattrs));
		for (size_t i = 0; i < x->n_xattrs; i++) {
			e->xattrs[i].name = hoist_xstrdup(x->xattrs[i].name);
			e->xattrs[i].value = hoist_xmalloc(x->xattrs[i].len + 1);
			memcpy(e->xattrs[i].value, x->xattrs[i].value, x->xattrs[i].len + 1);
			e->xattrs[i].len = x->xattrs[i].len;
		}
		e->n_xattrs = x->n_xattrs;
	}
	return 0;
}

/* The data of a special entry (PAX header, GNU long name), bounded. */
static int read_special(struct hoist_tar_reader *r, const struct tar_raw *h, size_t max, char **ret,
			size_t *ret_len, struct hoist_error *err)
{
	_cleanup_free_ char *buf = NULL;
	uint64_t pad = (TAR_BLOCK - (uint64_t)h->size % TAR_BLOCK) % TAR_BLOCK;
	ssize_t n;

	if ((uint64_t)h->size > max)
		return hoist_error_set(err, -E2BIG,
				       "'%s': a '%c' header of %lld bytes (the limit is %zu)",
				       r->name, h->typeflag, (long long)h->size, max);
	buf = hoist_xmalloc((size_t)h->size + 1);
	n = src_read(r, buf, (size_t)h->size, err);
	if (n < 0)
		return (int)n;
	if ((uint64_t)n < (uint64_t)h->size || src_read(r, NULL, pad, err) != (ssize_t)pad)
		return hoist_error_set(err, -EBADMSG, "'%s': truncated in a '%c' header", r->name,
				       h->typeflag);
	buf[h->size] = '\0';
	*ret_len = (size_t)h->size;
	*ret = TAKE_PTR(buf);
	return 0;
}

static int header_error(struct hoist_tar_reader *r, uint64_t at, const char *what,
			struct hoist_error *err)
{
	return hoist_error_set(err, -EBADMSG, "'%s': at byte %llu: %s", r->name,
			       (unsigned long long)at, what);
}

/* The next header block. Returns 1 with h, 0 at a proper end of archive. */
static int next_header(struct hoist_tar_reader *r, struct tar_raw *h, struct hoist_error *err)
{
	unsigned char blk[TAR_BLOCK];
	uint64_t at = r->offset;
	const char *msg = NULL;
	ssize_t n;
	int rc;

	n = src_read(r, blk, TAR_BLOCK, err);
	if (n < 0)
		return (int)n;
	if (n == 0) {
		/* Go's reader takes a stream that stops at an entry boundary
		 * without its end-of-archive blocks, and an empty one; hoist
		 * takes neither, as that is how a cut download, a truncated
		 * file or an empty blob looks. */
		if (at == 0)
			return header_error(r, at,
					    "no tar data (the stream is empty once "
					    "decompressed)",
					    err);
		return header_error(r, at,
				    "the tar ends without its end-of-archive blocks "
				    "(truncated?)",
				    err);
	}
	if (n < TAR_BLOCK)
		return header_error(r, at, "truncated in a header", err);
	rc = tar_header_decode(blk, h, &msg);
	if (rc < 0)
		return header_error(r, at, msg, err);
	if (rc == 0) {
		/* one zero block: the second must follow (or the stream ends) */
		n = src_read(r, blk, TAR_BLOCK, err);
		if (n < 0)
			return (int)n;
		if (n == TAR_BLOCK && tar_header_decode(blk, h, &msg) != 0)
			return header_error(r, at, "a zero block in the middle of the tar", err);
		r->ended = true;
		/* Read on to the end of the stream: the rest is padding, but a
		 * compressed stream's trailer (gzip's CRC-32 and size) is only
		 * checked when it is reached. */
		for (;;) {
			r->tb_pos = r->tb_len;
			rc = src_fill(r, err);
			if (rc <= 0)
				return rc;
		}
	}
	return 1;
}

int hoist_tar_reader_next(struct hoist_tar_reader *r, struct hoist_entry *e,
			  struct hoist_error *err)
{
	hoist_entry_release(e);
	if (r->ended)
		return 0;
	/* the rest of the previous entry */
	if (r->data_left + r->pad) {
		uint64_t skip = r->data_left + r->pad;
		while (skip) {
			size_t step = skip > (1u << 30) ? (1u << 30) : (size_t)skip;
			ssize_t n = src_read(r, NULL, step, err);
			if (n < 0)
				return (int)n;
			if ((size_t)n < step)
				return header_error(r, r->offset, "truncated in an entry's data",
						    err);
			skip -= step;
		}
		r->data_left = r->pad = 0;
	}
	for (;;) {
		struct tar_pax x = {0};
		_cleanup_free_ char *longname = NULL, *longlink = NULL, *cleaned = NULL;
		struct tar_raw h;
		const char *raw, *link, *msg = NULL;
		uint64_t at;
		int rc;

		/* special headers (PAX, GNU long names) apply to the next real one */
		for (;;) {
			char *data = NULL;
			size_t len = 0;

			at = r->offset;
			rc = next_header(r, &h, err);
			if (rc <= 0) {
				if (rc == 0 && (x.path || x.linkpath || longname || longlink))
					rc = header_error(r, at,
							  "a PAX or long-name header with no "
							  "entry after it",
							  err);
				tar_pax_release(&x);
				return rc;
			}
			if (h.typeflag == 'x' || h.typeflag == 'g') {
				rc = read_special(r, &h, TAR_MAX_SPECIAL, &data, &len, err);
				if (rc < 0) {
					tar_pax_release(&x);
					return rc;
				}
				/* A global header's records are not applied: layers never
				 * carry one that matters (git archive's comment), and
				 * applying a path to every entry would be wrong. */
				if (h.typeflag == 'x')
					rc = tar_pax_parse(data, len, &x, &msg);
				free(data);
				if (rc < 0) {
					tar_pax_release(&x);
					return header_error(r, at, msg, err);
				}
				continue;
			}
			if (h.typeflag == 'L' || h.typeflag == 'K') {
				rc = read_special(r, &h, HOIST_TAR_MAX_PATH + 1, &data, &len, err);
				if (rc < 0) {
					tar_pax_release(&x);
					return rc;
				}
				len = strnlen(data, len); /* GNU pads with NULs */
				data[len] = '\0';
				free(h.typeflag == 'L' ? longname : longlink);
				if (h.typeflag == 'L')
					longname = data;
				else
					longlink = data;
				continue;
			}
			break;
		}
		if (++r->n_entries > r->max_entries) {
			tar_pax_release(&x);
			return hoist_error_set(err, -E2BIG, "'%s': more than %llu entries", r->name,
					       (unsigned long long)r->max_entries);
		}
		raw = x.path ? x.path : longname ? longname : h.name;
		link = x.linkpath ? x.linkpath : longlink ? longlink : h.linkname;
		/* data that follows the header: regular files only (Go's rule:
		 * links, directories and devices carry none, whatever size says) */
		r->data_left = 0;
		if (h.typeflag == '0' || h.typeflag == '\0' || h.typeflag == '7' ||
		    (h.typeflag >= 'A' && h.typeflag <= 'Z')) {
			r->data_left = (uint64_t)(x.has_size ? x.size : h.size);
			r->pad = (TAR_BLOCK - r->data_left % TAR_BLOCK) % TAR_BLOCK;
		}
		if (x.sparse) {
			rc = entry_error(r, raw, -EOPNOTSUPP, err,
					 "GNU sparse file entries are not supported (make the tar "
					 "without --sparse)");
		} else if (!raw[0]) {
			rc = hoist_error_set(err, -EBADMSG, "'%s': entry with an empty name",
					     r->name);
		} else if (strlen(raw) > HOIST_TAR_MAX_PATH) {
			rc = entry_error(r, "(too long)", -ENAMETOOLONG, err,
					 "path longer than 4096 bytes");
		} else if (!(cleaned = layer_clean_path(raw))) {
			rc = entry_error(r, raw, -EBADMSG, err, "path escapes the root");
		} else if (!cleaned[0]) {
			tar_pax_release(&x);
			continue; /* the root directory itself */
		} else {
			rc = fill_entry(r, &h, &x, raw, cleaned, link, e, err);
		}
		tar_pax_release(&x);
		if (rc < 0) {
			hoist_entry_release(e);
			return rc;
		}
		return 1;
	}
}

ssize_t hoist_tar_reader_read(struct hoist_tar_reader *r, void *buf, size_t len,
			      struct hoist_error *err)
{
	ssize_t n;

	if (len > r->data_left)
		len = (size_t)r->data_left;
	if (!len)
		return 0;
	n = src_read(r, buf, len, err);
	if (n < 0)
		return n;
	if ((size_t)n < len)
		return header_error(r, r->offset, "truncated in an entry's data", err);
	r->data_left -= (uint64_t)n;
	return n;
}

int layer_reader_diff_id(struct hoist_tar_reader *r, char out[HOIST_DIGEST_MAX],
			 struct hoist_error *err)
{
	if (!r->hash_done) {
		/* Drain to the end: trailers (gzip's CRC) are checked there, and
		 * the diffID covers every byte. */
		for (;;) {
			r->tb_pos = r->tb_len;
			int rc = src_fill(r, err);
			if (rc < 0)
				return rc;
			if (rc == 0)
				break;
		}
		hoist_sha256_final(&r->hash, r->diff_id);
		r->hash_done = true;
	}
	memcpy(out, r->diff_id, HOIST_DIGEST_MAX);
	return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reading tars safely. Two libarchive readers are chained: the outer one
 * ("raw" format, every filter) turns the compressed stream into plain tar
 * bytes, which we hash on their way (the diffID) and hand to the inner one
 * (tar formats only). So one pass over the input both parses and verifies,
 * whatever the compression, with bounded memory.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "hoist/archive-dl.h"
#include "layer-private.h"

#define READ_CHUNK 65536

struct hoist_tar_reader {
	int fd;
	char *name;
	struct archive *outer;
	struct archive *inner;
	bool outer_eof;
	bool outer_empty; /* input had no bytes at all */
	struct hoist_sha256 hash;
	bool hash_done;
	char diff_id[HOIST_DIGEST_MAX];
	uint64_t n_entries;
	uint64_t max_entries;
	char *outer_error; /* message of a decompression error, for context */
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

static ssize_t fd_read_cb(struct archive *a, void *data, const void **buf)
{
	struct hoist_tar_reader *r = data;
	for (;;) {
		ssize_t n = read(r->fd, r->fdbuf, sizeof(r->fdbuf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			archive_set_error(a, errno, "read error: %s", strerror(errno));
			return -1;
		}
		*buf = r->fdbuf;
		return n;
	}
}

/* ---- the inner reader: plain tar bytes, hashed on the way ------------- */

static ssize_t tar_read_cb(struct archive *a, void *data, const void **buf)
{
	struct hoist_tar_reader *r = data;
	la_ssize_t n;

	if (r->outer_eof || r->outer_empty)
		return 0;
	n = archive_read_data(r->outer, r->tarbuf, sizeof(r->tarbuf));
	if (n < 0) {
		free(r->outer_error);
		r->outer_error =
		    hoist_xstrdup(archive_error_string(r->outer) ? archive_error_string(r->outer)
								 : "decompression failed");
		archive_set_error(a, EIO, "%s", r->outer_error);
		return -1;
	}
	if (n == 0)
		r->outer_eof = true;
	else
		hoist_sha256_update(&r->hash, r->tarbuf, (size_t)n);
	*buf = r->tarbuf;
	return n;
}

void hoist_tar_reader_free(struct hoist_tar_reader *r)
{
	if (!r)
		return;
	if (r->inner)
		archive_read_free(r->inner);
	if (r->outer)
		archive_read_free(r->outer);
	if (!r->hash_done)
		hoist_sha256_release(&r->hash);
	free(r->outer_error);
	free(r->name);
	free(r);
}

int hoist_tar_reader_open(int fd, const char *name, struct hoist_tar_reader **ret,
			  struct hoist_error *err)
{
	const char *no_lib = hoist_archive_load_error();
	struct hoist_tar_reader *r;
	struct archive_entry *ae;
	int rc;

	if (no_lib)
		return hoist_error_set(err, -ELIBACC, "%s", no_lib);
	r = hoist_xcalloc(1, sizeof(*r));
	r->fd = fd;
	r->name = hoist_xstrdup(name ? name : "tar");
	r->max_entries = HOIST_TAR_MAX_ENTRIES;
	hoist_sha256_init(&r->hash);

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
		r->outer_empty = true;
	} else if (rc < ARCHIVE_WARN) {
		rc = hoist_error_set(err, -EBADMSG, "'%s': %s", r->name,
				     archive_error_string(r->outer));
		goto fail;
	}

	r->inner = archive_read_new();
	if (!r->inner)
		abort();
	archive_read_support_format_tar(r->inner);
	archive_read_support_format_empty(r->inner);
	if (archive_read_open2(r->inner, r, NULL, tar_read_cb, NULL, NULL) != ARCHIVE_OK) {
		rc = hoist_error_set(err, -EBADMSG, "'%s': not a tar archive: %s", r->name,
				     r->outer_error ? r->outer_error
						    : archive_error_string(r->inner));
		goto fail;
	}
	*ret = r;
	return 0;
fail:
	hoist_tar_reader_free(r);
	return rc;
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

static int fill_entry(struct hoist_tar_reader *r, struct archive_entry *ae, const char *cleaned,
		      struct hoist_entry *e, struct hoist_error *err)
{
	const char *raw = archive_entry_pathname(ae);
	const char *hl = archive_entry_hardlink(ae);
	mode_t ft = archive_entry_filetype(ae);
	la_int64_t uid = archive_entry_uid(ae), gid = archive_entry_gid(ae);
	const char *xname;
	const void *xval;
	size_t xlen;

	if (uid < 0 || uid > UINT32_MAX || gid < 0 || gid > UINT32_MAX)
		return entry_error(r, raw, -EBADMSG, err, "uid or gid out of range");
	e->path = hoist_xstrdup(cleaned);
	e->mode = archive_entry_perm(ae) & 07777;
	e->uid = (uint32_t)uid;
	e->gid = (uint32_t)gid;
	e->mtime = archive_entry_mtime_is_set(ae) ? (int64_t)archive_entry_mtime(ae) : 0;

	if (hl) {
		if (hl[0] == '/')
			return entry_error(r, raw, -EBADMSG, err, "absolute hardlink target");
		if (strlen(hl) > HOIST_TAR_MAX_PATH)
			return entry_error(r, raw, -ENAMETOOLONG, err, "hardlink target too long");
		e->linkname = layer_clean_path(hl);
		if (!e->linkname)
			return entry_error(r, raw, -EBADMSG, err,
					   "hardlink target escapes the root");
		if (!e->linkname[0])
			return entry_error(r, raw, -EBADMSG, err, "hardlink to the root");
		e->type = HOIST_ENTRY_HARDLINK;
		return 0;
	}
	switch (ft) {
	case AE_IFREG:
		e->type = HOIST_ENTRY_FILE;
		if (archive_entry_size(ae) < 0)
			return entry_error(r, raw, -EBADMSG, err, "negative size");
		e->size = (uint64_t)archive_entry_size(ae);
		break;
	case AE_IFDIR:
		e->type = HOIST_ENTRY_DIR;
		break;
	case AE_IFLNK: {
		const char *t = archive_entry_symlink(ae);
		if (!t)
			t = "";
		if (strlen(t) > HOIST_TAR_MAX_PATH)
			return entry_error(r, raw, -ENAMETOOLONG, err, "symlink target too long");
		e->type = HOIST_ENTRY_SYMLINK;
		e->linkname = hoist_xstrdup(t);
		break;
	}
	case AE_IFCHR:
	case AE_IFBLK:
		e->type = ft == AE_IFCHR ? HOIST_ENTRY_CHAR : HOIST_ENTRY_BLOCK;
		e->devmajor = (uint32_t)archive_entry_rdevmajor(ae);
		e->devminor = (uint32_t)archive_entry_rdevminor(ae);
		break;
	case AE_IFIFO:
		e->type = HOIST_ENTRY_FIFO;
		break;
	default:
		return entry_error(r, raw, -EBADMSG, err, "unsupported file type");
	}

	if (archive_entry_xattr_reset(ae) > 0) {
		size_t n = 0;
		while (archive_entry_xattr_next(ae, &xname, &xval, &xlen) == ARCHIVE_OK) {
			if (n >= HOIST_TAR_MAX_XATTRS)
				return entry_error(r, raw, -E2BIG, err, "too many xattrs");
			if (xlen > 65536)
				return entry_error(r, raw, -E2BIG, err, "xattr value too large");
			e->xattrs = hoist_xrealloc(e->xattrs, (n + 1) * sizeof(*e->xattrs));
			e->xattrs[n].name = hoist_xstrdup(xname);
			e->xattrs[n].value = hoist_xmalloc(xlen + 1);
			if (xlen)
				memcpy(e->xattrs[n].value, xval, xlen);
			e->xattrs[n].value[xlen] = '\0';
			e->xattrs[n].len = xlen;
			e->n_xattrs = ++n;
		}
	}
	return 0;
}

int hoist_tar_reader_next(struct hoist_tar_reader *r, struct hoist_entry *e,
			  struct hoist_error *err)
{
	struct archive_entry *ae;
	int rc;

	hoist_entry_release(e);
	for (;;) {
		_cleanup_free_ char *cleaned = NULL;
		const char *raw;

		rc = archive_read_next_header(r->inner, &ae);
		if (rc == ARCHIVE_EOF)
			return 0;
		if (rc < ARCHIVE_WARN)
			return hoist_error_set(err, -EBADMSG, "'%s': %s", r->name,
					       r->outer_error ? r->outer_error
							      : archive_error_string(r->inner));
		if (++r->n_entries > r->max_entries)
			return hoist_error_set(err, -E2BIG, "'%s': more than %llu entries", r->name,
					       (unsigned long long)r->max_entries);
		raw = archive_entry_pathname(ae);
		if (!raw || !raw[0])
			return hoist_error_set(err, -EBADMSG, "'%s': entry with an empty name",
					       r->name);
		if (strlen(raw) > HOIST_TAR_MAX_PATH)
			return entry_error(r, "(too long)", -ENAMETOOLONG, err,
					   "path longer than 4096 bytes");
		cleaned = layer_clean_path(raw);
		if (!cleaned)
			return entry_error(r, raw, -EBADMSG, err, "path escapes the root");
		if (!cleaned[0])
			continue; /* the root directory itself */
		rc = fill_entry(r, ae, cleaned, e, err);
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
	la_ssize_t n = archive_read_data(r->inner, buf, len);
	if (n < 0)
		return hoist_error_set(err, -EBADMSG, "'%s': %s", r->name,
				       r->outer_error ? r->outer_error
						      : archive_error_string(r->inner));
	return n;
}

int layer_reader_diff_id(struct hoist_tar_reader *r, char out[HOIST_DIGEST_MAX],
			 struct hoist_error *err)
{
	if (!r->hash_done) {
		while (!r->outer_eof && !r->outer_empty) {
			la_ssize_t n = archive_read_data(r->outer, r->tarbuf, sizeof(r->tarbuf));
			if (n < 0)
				return hoist_error_set(err, -EBADMSG, "'%s': %s", r->name,
						       archive_error_string(r->outer));
			if (n == 0)
				r->outer_eof = true;
			else
				hoist_sha256_update(&r->hash, r->tarbuf, (size_t)n);
		}
		hoist_sha256_final(&r->hash, r->diff_id);
		r->hash_done = true;
	}
	memcpy(out, r->diff_id, HOIST_DIGEST_MAX);
	return 0;
}

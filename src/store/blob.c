/* SPDX-License-Identifier: Apache-2.0 */
/* Content-addressed blobs: verified, fsync'd, renamed into place. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store-private.h"

struct hoist_blob_writer {
	struct hoist_store *s;
	int tmpfd; /* the lease directory (owned by the store) */
	int fd;
	char tmpname[64]; /* "" while the file is an unnamed O_TMPFILE */
	struct hoist_sha256 h;
	uint64_t size;
};

static const char *digest_hex(const char *digest)
{
	return digest + 7; /* after "sha256:" */
}

bool hoist_store_blob_exists(struct hoist_store *s, const char *digest)
{
	struct stat st;
	if (!hoist_digest_valid(digest))
		return false;
	return fstatat(s->blobsfd, digest_hex(digest), &st, 0) == 0 && S_ISREG(st.st_mode);
}

int64_t hoist_store_blob_size(struct hoist_store *s, const char *digest)
{
	struct stat st;
	if (!hoist_digest_valid(digest))
		return -EINVAL;
	if (fstatat(s->blobsfd, digest_hex(digest), &st, 0) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EBADMSG;
	return (int64_t)st.st_size;
}

int hoist_store_blob_open(struct hoist_store *s, const char *digest, struct hoist_error *err)
{
	if (!hoist_digest_valid(digest))
		return hoist_error_set(err, -EINVAL, "invalid digest '%s'", digest);
	int fd = openat(s->blobsfd, digest_hex(digest), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return hoist_error_set(err, -ENOENT, "blob '%s' is not in the store",
					       digest);
		return hoist_error_set(err, -errno, "cannot open blob '%s': %s", digest,
				       strerror(errno));
	}
	return fd;
}

char *hoist_store_blob_path(struct hoist_store *s, const char *digest)
{
	if (!hoist_digest_valid(digest))
		return NULL;
	return hoist_xasprintf("%s/blobs/sha256/%s", s->root, digest_hex(digest));
}

int hoist_store_blob_read(struct hoist_store *s, const char *digest, size_t max, char **ret,
			  size_t *ret_len, struct hoist_error *err)
{
	_cleanup_close_ int fd = -1;
	_cleanup_buf_ struct hoist_buf b = HOIST_BUF_INIT;
	char actual[HOIST_DIGEST_MAX];
	char chunk[65536];
	struct stat st;

	fd = hoist_store_blob_open(s, digest, err);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0)
		return hoist_error_set(err, -errno, "cannot stat blob '%s': %s", digest,
				       strerror(errno));
	if ((uint64_t)st.st_size > max)
		return hoist_error_set(err, -EFBIG, "blob '%s' is larger than %zu bytes", digest,
				       max);
	hoist_buf_init(&b, max);
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return hoist_error_set(err, -errno, "cannot read blob '%s': %s", digest,
					       strerror(errno));
		}
		if (n == 0)
			break;
		if (hoist_buf_add(&b, chunk, (size_t)n) < 0)
			return hoist_error_set(err, -EFBIG, "blob '%s' is larger than %zu bytes",
					       digest, max);
	}
	hoist_sha256_digest(b.data ? b.data : "", b.len, actual);
	if (strcmp(actual, digest) != 0)
		return hoist_error_set(err, -EBADMSG,
				       "blob '%s' is corrupt: its content hashes to '%s'", digest,
				       actual);
	*ret = hoist_buf_detach(&b, ret_len);
	return 0;
}

int store_blob_json(struct hoist_store *s, const char *digest, json_t **ret,
		    struct hoist_error *err)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	json_error_t jerr;
	int r;

	r = hoist_store_blob_read(s, digest, HOIST_MAX_JSON_BLOB, &data, &len, err);
	if (r < 0)
		return r;
	json_t *j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j)
		return hoist_error_set(err, -EBADMSG, "blob '%s' is not valid json: %s", digest,
				       jerr.text);
	*ret = j;
	return 0;
}

/* Whether the store already holds exactly these bytes under this digest. */
static bool blob_same(struct hoist_store *s, const char *digest, const void *data, size_t len)
{
	char buf[16384];
	struct stat st;
	size_t off = 0;
	_cleanup_close_ int fd =
	    openat(s->blobsfd, digest_hex(digest), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != len)
		return false;
	while (off < len) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n <= 0 || (size_t)n > len - off ||
		    memcmp(buf, (const char *)data + off, (size_t)n))
			return false;
		off += (size_t)n;
	}
	return true;
}

int hoist_store_blob_put(struct hoist_store *s, const void *data, size_t len,
			 char ret_digest[HOIST_DIGEST_MAX], struct hoist_error *err)
{
	struct hoist_blob_writer *w;
	char digest[HOIST_DIGEST_MAX];
	int r;

	/*
	 * A rebuild stores the same config and manifest again: when the blob
	 * holds these very bytes, writing and fsyncing them twice (file and
	 * directory) only costs time. A damaged blob differs, so it is still
	 * replaced below.
	 */
	hoist_sha256_digest(data, len, digest);
	if (blob_same(s, digest, data, len)) {
		if (ret_digest)
			memcpy(ret_digest, digest, HOIST_DIGEST_MAX);
		return 0;
	}
	r = hoist_store_blob_begin(s, &w, err);
	if (r < 0)
		return r;
	r = hoist_blob_writer_write(w, data, len, err);
	if (r < 0) {
		hoist_blob_writer_abort(w);
		return r;
	}
	return hoist_blob_writer_commit(w, NULL, ret_digest, err);
}

/* ---- streaming writer ---------------------------------------------------- */

/*
 * O_TMPFILE gives a file with no name, so a crash can never leave a temp
 * file behind; it gets a name at commit through /proc/self/fd (linkat with
 * AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH). Where either is unavailable
 * (old kernels, some filesystems, no /proc) we fall back to a named temp
 * file, which gc removes when a crash left it behind.
 */
static bool tmpfile_usable(struct hoist_store *s)
{
	if (s->use_tmpfile < 0)
		s->use_tmpfile = access("/proc/self/fd", X_OK) == 0 ? 1 : 0;
	return s->use_tmpfile == 1;
}

int hoist_store_blob_begin(struct hoist_store *s, struct hoist_blob_writer **ret,
			   struct hoist_error *err)
{
	int tmpfd = hoist_store_lease_fd(s, err);
	if (tmpfd < 0)
		return tmpfd;
	struct hoist_blob_writer *w = hoist_xcalloc(1, sizeof(*w));
	w->s = s;
	w->tmpfd = tmpfd;
	w->fd = -1;

	if (tmpfile_usable(s)) {
		w->fd = openat(tmpfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);
		if (w->fd < 0 && errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
			int r = -errno;
			free(w);
			return hoist_error_set(err, r,
					       "cannot create a temporary file in '%s/tmp': %s",
					       s->root, strerror(-r));
		}
		if (w->fd < 0)
			s->use_tmpfile = 0;
	}
	for (int tries = 0; w->fd < 0; tries++) {
		store_tmp_name("blob-", w->tmpname, sizeof(w->tmpname));
		w->fd = openat(tmpfd, w->tmpname, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (w->fd < 0 && (errno != EEXIST || tries > 16)) {
			int r = -errno;
			free(w);
			return hoist_error_set(err, r,
					       "cannot create a temporary file in '%s/tmp': %s",
					       s->root, strerror(-r));
		}
	}
	hoist_sha256_init(&w->h);
	*ret = w;
	return 0;
}

int hoist_blob_writer_write(struct hoist_blob_writer *w, const void *data, size_t len,
			    struct hoist_error *err)
{
	int r = hoist_write_all(w->fd, data, len);
	if (r < 0)
		return hoist_error_set(err, r, "cannot write blob to '%s/tmp': %s", w->s->root,
				       strerror(-r));
	hoist_sha256_update(&w->h, data, len);
	w->size += len;
	return 0;
}

uint64_t hoist_blob_writer_size(const struct hoist_blob_writer *w)
{
	return w->size;
}

static void writer_free(struct hoist_blob_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	hoist_sha256_release(&w->h);
	free(w);
}

void hoist_blob_writer_abort(struct hoist_blob_writer *w)
{
	if (!w)
		return;
	if (w->tmpname[0])
		unlinkat(w->tmpfd, w->tmpname, 0);
	writer_free(w);
}

int hoist_blob_writer_commit(struct hoist_blob_writer *w, const char *expected_digest,
			     char ret_digest[HOIST_DIGEST_MAX], struct hoist_error *err)
{
	struct hoist_store *s = w->s;
	char digest[HOIST_DIGEST_MAX];
	int r;

	hoist_sha256_final(&w->h, digest);
	if (expected_digest && strcmp(expected_digest, digest) != 0) {
		hoist_blob_writer_abort(w);
		return hoist_error_set(err, -EBADMSG, "digest mismatch: expected '%s', got '%s'",
				       expected_digest, digest);
	}
	if (fsync(w->fd) < 0) {
		r = -errno;
		hoist_blob_writer_abort(w);
		return hoist_error_set(err, r, "cannot sync blob '%s': %s", digest, strerror(-r));
	}
	if (!w->tmpname[0]) {
		char proc[64];
		store_tmp_name("blob-", w->tmpname, sizeof(w->tmpname));
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", w->fd);
		if (linkat(AT_FDCWD, proc, w->tmpfd, w->tmpname, AT_SYMLINK_FOLLOW) < 0) {
			r = -errno;
			w->tmpname[0] = '\0';
			hoist_blob_writer_abort(w);
			return hoist_error_set(err, r, "cannot link blob '%s': %s", digest,
					       strerror(-r));
		}
	}
	/*
	 * rename, not link: an existing blob of this name is replaced by the
	 * verified bytes, so re-storing content repairs a damaged blob.
	 */
	if (renameat(w->tmpfd, w->tmpname, s->blobsfd, digest_hex(digest)) < 0) {
		r = -errno;
		hoist_blob_writer_abort(w);
		return hoist_error_set(err, r, "cannot move blob '%s' into place: %s", digest,
				       strerror(-r));
	}
	w->tmpname[0] = '\0';
	writer_free(w);
	if (fsync(s->blobsfd) < 0)
		return hoist_error_set(err, -errno, "cannot sync '%s/blobs/sha256': %s", s->root,
				       strerror(errno));
	if (ret_digest)
		memcpy(ret_digest, digest, HOIST_DIGEST_MAX);
	return 0;
}

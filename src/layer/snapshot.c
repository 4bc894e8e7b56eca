/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Snapshots: a layer unpacked under ROOT/snapshots/<diffid-hex>/, with
 *
 *   root/   the tree: directories, regular files (u+rw), symlinks, hardlinks;
 *           no ownership, no device nodes (we are rootless). Absent in an
 *           index-only snapshot until its content is first needed: most
 *           builds only read metadata, and writing a base image's files
 *           (inodes and data) was most of a cold build.
 *   index   every entry's real metadata, whiteouts included (snapshot-index.c)
 *   blob    the layer's blob digest, to make root/ later from the diffID
 *
 * The tar is untrusted: the one unpacker (unpack.c) writes the tree, never
 * through a symlink the tar planted earlier ("a -> /", then "a/etc/evil"
 * fails instead of escaping), and makes the index-only pass with the same
 * checks, so an index-only snapshot is never made for a layer whose content
 * would fail.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "layer-private.h"

static int flush_index(int fd, struct hoist_buf *b, struct hoist_error *err)
{
	int rc;
	if (!b->len)
		return 0;
	rc = hoist_write_all(fd, b->data, b->len);
	if (rc < 0)
		return hoist_error_set(err, rc, "writing snapshot index: %s", strerror(-rc));
	hoist_buf_reset(b);
	return 0;
}

const char *snap_digest_hex(const char *d)
{
	return hoist_startswith(d, "sha256:") ? d + 7 : d;
}

/* A new fd of ROOT/snapshots (the store owns the area's own fd). */
static int snapshots_dir(struct hoist_store *s, struct hoist_error *err)
{
	int sfd = hoist_store_area_fd(s, HOIST_STORE_SNAPSHOTS, err);
	if (sfd < 0)
		return sfd;
	/* A new open file (a dup would share a directory offset with others). */
	int fd = openat(sfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return hoist_error_set(err, -errno, "cannot open snapshots directory: %s",
				       strerror(errno));
	return fd;
}

struct index_ctx {
	struct hoist_buf b;
	int indexfd;
};

static int index_entry(void *ctx, struct hoist_tar_reader *r, const struct hoist_entry *e,
		       enum hoist_whiteout kind, const char *target, struct hoist_error *err)
{
	struct index_ctx *x = ctx;
	(void)r;

	if (x->indexfd < 0)
		return 0;
	if (kind == HOIST_WHITEOUT_NONE) {
		snap_index_add(&x->b, e, 0);
	} else {
		struct hoist_entry w = *e;
		w.path = (char *)target;
		snap_index_add(&x->b, &w,
			       kind == HOIST_WHITEOUT_OPAQUE ? SNAP_INDEX_OPAQUE
							     : SNAP_INDEX_WHITEOUT);
	}
	if (x->b.len >= ((size_t)1 << 20))
		return flush_index(x->indexfd, &x->b, err);
	return 0;
}

/*
 * One pass over the layer: with rootfd >= 0 the tree is written below it,
 * with indexfd >= 0 the index is written to it (in 1 MiB pieces, so memory
 * stays bounded); either may be skipped. The diffID is checked either way.
 */
static int unpack_stream(struct hoist_tar_reader *r, const char *name, int rootfd, int indexfd,
			 const char *diff_id, struct hoist_error *err)
{
	struct index_ctx x = {.b = HOIST_BUF_INIT, .indexfd = indexfd};
	struct hoist_unpack_ops ops = {.entry = index_entry, .ctx = &x};
	char got[HOIST_DIGEST_MAX];
	int rc;

	snap_index_begin(&x.b, diff_id);
	rc = hoist_layer_unpack(r, rootfd, name, &ops, err);
	if (rc >= 0 && indexfd >= 0)
		rc = flush_index(indexfd, &x.b, err);
	hoist_buf_release(&x.b);
	if (rc < 0)
		return rc;
	rc = layer_reader_diff_id(r, got, err);
	if (rc < 0)
		return rc;
	if (strcmp(got, diff_id) != 0)
		return hoist_error_set(err, -EBADMSG, "'%s': diffID mismatch: expected %s, got %s",
				       name, diff_id, got);
	if (indexfd >= 0 && fsync(indexfd) < 0)
		return hoist_error_set(err, -errno, "fsync snapshot index: %s", strerror(errno));
	return 0;
}

/* Read the layer blob `digest` once, writing the tree and/or the index. */
static int read_layer(struct hoist_store *s, const char *digest, const char *diff_id, int rootfd,
		      int indexfd, struct hoist_error *err)
{
	struct hoist_tar_reader *r = NULL;
	_cleanup_close_ int blobfd = hoist_store_blob_open(s, digest, err);
	int rc;

	if (blobfd < 0)
		return blobfd;
	rc = hoist_tar_reader_open(blobfd, digest, &r, err);
	if (rc < 0)
		return rc;
	rc = unpack_stream(r, digest, rootfd, indexfd, diff_id, err);
	hoist_tar_reader_free(r);
	return rc;
}

static char *tmp_name(const char *hex, const char *what)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return hoist_xasprintf(".tmp-%s-%s%d-%lx", hex, what, (int)getpid(), (long)now.tv_nsec);
}

/*
 * A new snapshot <hex>/ holding the index, the layer's blob digest (so the
 * content can be made later from the diffID alone) and, with content, root/.
 */
static int make_snapshot(struct hoist_store *s, int snapfd, const struct hoist_descriptor *layer,
			 const char *diff_id, bool content, struct hoist_error *err)
{
	_cleanup_close_ int tmpfd = -1, rootfd = -1, indexfd = -1, blobnamefd = -1;
	const char *hex = snap_digest_hex(diff_id);
	_cleanup_free_ char *tmpname = tmp_name(hex, "");
	int rc;

	if (mkdirat(snapfd, tmpname, 0700) < 0)
		return hoist_error_set(err, -errno, "cannot create snapshot: %s", strerror(errno));
	tmpfd = openat(snapfd, tmpname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (tmpfd < 0 || (content && mkdirat(tmpfd, "root", 0755) < 0)) {
		rc = hoist_error_set(err, -errno, "cannot create snapshot: %s", strerror(errno));
		goto fail;
	}
	if (content)
		rootfd = openat(tmpfd, "root", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	indexfd =
	    openat(tmpfd, "index", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	blobnamefd =
	    openat(tmpfd, "blob", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if ((content && rootfd < 0) || indexfd < 0 || blobnamefd < 0) {
		rc = hoist_error_set(err, -errno, "cannot create snapshot: %s", strerror(errno));
		goto fail;
	}
	rc = hoist_write_all(blobnamefd, layer->digest, strlen(layer->digest));
	if (rc < 0 || fsync(blobnamefd) < 0) {
		rc = hoist_error_set(err, rc < 0 ? rc : -errno, "writing snapshot: %s",
				     strerror(rc < 0 ? -rc : errno));
		goto fail;
	}
	rc = read_layer(s, layer->digest, diff_id, rootfd, indexfd, err);
	if (rc < 0)
		goto fail;
	/* One syncfs instead of an fsync per file: the tree must be durable before it appears. */
	if (content && syncfs(rootfd) < 0) {
		rc = hoist_error_set(err, -errno, "syncfs: %s", strerror(errno));
		goto fail;
	}
	if (renameat(snapfd, tmpname, snapfd, hex) < 0) {
		if (errno == EEXIST || errno == ENOTEMPTY) {
			rc = 0; /* another process won the race with the same content */
			goto fail;
		}
		rc = hoist_error_set(err, -errno, "cannot rename snapshot: %s", strerror(errno));
		goto fail;
	}
	fsync(snapfd);
	return 0;
fail:
	hoist_rm_rf_at(snapfd, tmpname);
	return rc;
}

/*
 * The content of an index-only snapshot: the tree is built under a temp name
 * beside the snapshots and renamed to <hex>/root, so that a concurrent
 * process either sees no root/ (and makes its own, losing the rename) or a
 * complete one.
 */
static int make_content(struct hoist_store *s, int snapfd, const char *blob_digest,
			const char *diff_id, struct hoist_error *err)
{
	const char *hex = snap_digest_hex(diff_id);
	_cleanup_free_ char *tmpname = tmp_name(hex, "root-");
	_cleanup_free_ char *dest = hoist_xasprintf("%s/root", hex);
	_cleanup_close_ int rootfd = -1, hexfd = -1;
	int rc;

	if (mkdirat(snapfd, tmpname, 0755) < 0)
		return hoist_error_set(err, -errno, "cannot create snapshot: %s", strerror(errno));
	rootfd = openat(snapfd, tmpname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (rootfd < 0) {
		rc = hoist_error_set(err, -errno, "cannot create snapshot: %s", strerror(errno));
		goto fail;
	}
	rc = read_layer(s, blob_digest, diff_id, rootfd, -1, err);
	if (rc < 0)
		goto fail;
	if (syncfs(rootfd) < 0) {
		rc = hoist_error_set(err, -errno, "syncfs: %s", strerror(errno));
		goto fail;
	}
	if (renameat(snapfd, tmpname, snapfd, dest) < 0) {
		if (errno == EEXIST || errno == ENOTEMPTY) {
			rc = 0; /* another process made it first */
			goto fail;
		}
		rc = hoist_error_set(err, -errno, "cannot rename snapshot content: %s",
				     strerror(errno));
		goto fail;
	}
	hexfd = openat(snapfd, hex, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (hexfd >= 0)
		fsync(hexfd);
	return 0;
fail:
	hoist_rm_rf_at(snapfd, tmpname);
	return rc;
}

enum snap_state { SNAP_NONE, SNAP_INDEX, SNAP_FULL };

static int snap_state(int snapfd, const char *hex, enum snap_state *ret, struct hoist_error *err)
{
	_cleanup_free_ char *root = hoist_xasprintf("%s/root", hex);
	struct stat st;
	if (fstatat(snapfd, root, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		*ret = SNAP_FULL;
		return 0;
	}
	if (errno != ENOENT && errno != ENOTDIR)
		return hoist_error_set(err, -errno, "snapshot '%s': %s", hex, strerror(errno));
	*ret = fstatat(snapfd, hex, &st, AT_SYMLINK_NOFOLLOW) == 0 ? SNAP_INDEX : SNAP_NONE;
	return 0;
}

static int check_args(const struct hoist_descriptor *layer, const char *diff_id,
		      struct hoist_error *err)
{
	if (!hoist_digest_valid(diff_id) || !hoist_digest_valid(layer->digest))
		return hoist_error_set(err, -EINVAL, "bad digest '%s'", diff_id);
	return 0;
}

/* Make the layer's snapshot at least an index, and with content too when
 * want_content: the one path behind hoist_snapshot_unpack and _index. */
static int snapshot_ensure(struct hoist_store *s, const struct hoist_descriptor *layer,
			   const char *diff_id, bool want_content, struct hoist_error *err)
{
	_cleanup_close_ int snapfd = -1;
	enum snap_state state;
	int rc = check_args(layer, diff_id, err);

	if (rc < 0)
		return rc;
	snapfd = snapshots_dir(s, err);
	if (snapfd < 0)
		return snapfd;
	if ((rc = snap_state(snapfd, snap_digest_hex(diff_id), &state, err)) < 0)
		return rc;
	if (state == SNAP_NONE)
		return make_snapshot(s, snapfd, layer, diff_id, want_content, err);
	if (state == SNAP_INDEX && want_content)
		return make_content(s, snapfd, layer->digest, diff_id, err);
	return 0; /* snapshots and their content only appear complete */
}

int hoist_snapshot_unpack(struct hoist_store *s, const struct hoist_descriptor *layer,
			  const char *diff_id, struct hoist_error *err)
{
	return snapshot_ensure(s, layer, diff_id, true, err);
}

int hoist_snapshot_index(struct hoist_store *s, const struct hoist_descriptor *layer,
			 const char *diff_id, struct hoist_error *err)
{
	return snapshot_ensure(s, layer, diff_id, false, err);
}

int hoist_snapshot_materialize(struct hoist_store *s, const char *diff_id, struct hoist_error *err)
{
	_cleanup_close_ int snapfd = -1;
	_cleanup_free_ char *rel = NULL, *blob = NULL;
	enum snap_state state;
	size_t len;
	int rc;

	if (!hoist_digest_valid(diff_id) || !hoist_startswith(diff_id, "sha256:"))
		return hoist_error_set(err, -EINVAL, "bad digest '%s'", diff_id);
	snapfd = snapshots_dir(s, err);
	if (snapfd < 0)
		return snapfd;
	if ((rc = snap_state(snapfd, snap_digest_hex(diff_id), &state, err)) < 0)
		return rc;
	if (state == SNAP_FULL)
		return 0;
	if (state == SNAP_NONE)
		return hoist_error_set(err, -ENOENT, "no snapshot for '%s'", diff_id);
	rel = hoist_xasprintf("%s/blob", snap_digest_hex(diff_id));
	rc = hoist_read_file_at(snapfd, rel, HOIST_DIGEST_MAX, &blob, &len, err);
	if (rc < 0)
		return hoist_error_prefix(err, "snapshot of '%s'", diff_id);
	if (!hoist_digest_valid(blob))
		return hoist_error_set(err, -EBADMSG, "snapshot of '%s': bad layer digest",
				       diff_id);
	return make_content(s, snapfd, blob, diff_id, err);
}

int hoist_snapshot_materialize_path(struct hoist_store *s, const char *path,
				    struct hoist_error *err)
{
	const char *root = hoist_store_root(s);
	size_t n = strlen(root);
	char diff_id[7 + 64 + 1] = "sha256:";

	/* "<store>/snapshots/<64 hex>/root" followed by "/" or nothing */
	if (strncmp(path, root, n) != 0 || !hoist_startswith(path + n, "/snapshots/"))
		return 0;
	path += n + strlen("/snapshots/");
	for (size_t i = 0; i < 64; i++) {
		char c = path[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return 0;
	}
	if (!hoist_startswith(path + 64, "/root") || (path[69] != '/' && path[69] != '\0'))
		return 0;
	memcpy(diff_id + 7, path, 64);
	diff_id[71] = '\0';
	return hoist_snapshot_materialize(s, diff_id, err);
}

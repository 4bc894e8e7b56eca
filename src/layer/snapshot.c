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
 * The tar is untrusted: every entry is created relative to a directory fd
 * reached one component at a time with O_NOFOLLOW, so a symlink the tar
 * planted earlier ("a -> /", then "a/etc/evil") fails instead of escaping.
 * The index pass applies the same rule without a tree (paths.c), so an
 * index-only snapshot is never made for a layer whose content would fail.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "layer-private.h"

/* ---- safe tree operations --------------------------------------------- */

struct unpack {
	int rootfd;
	char *parent_path; /* cached parent directory and its fd */
	int parent_fd;
	const char *name;  /* for errors */
	const char *entry; /* path of the entry being unpacked, for errors */
};

static void parent_cache_drop(struct unpack *u)
{
	if (u->parent_fd >= 0)
		close(u->parent_fd);
	u->parent_fd = -1;
	free(u->parent_path);
	u->parent_path = NULL;
}

static int rm_rf_at(int pfd, const char *name)
{
	struct stat st;
	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(pfd, name, 0) < 0 ? -errno : 0;

	int fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	struct dirent *de;
	int rc = 0;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		int r = rm_rf_at(dirfd(d), de->d_name);
		if (r < 0 && rc == 0)
			rc = r;
	}
	closedir(d);
	if (unlinkat(pfd, name, AT_REMOVEDIR) < 0 && rc == 0)
		rc = -errno;
	return rc;
}

/*
 * Open directory `path` below the root one component at a time, never
 * following a symlink, creating missing directories (0755, like a tar
 * extractor would). Returns a new fd.
 */
static int open_dir_beneath(struct unpack *u, const char *path, bool create,
			    struct hoist_error *err)
{
	int fd = dup(u->rootfd);
	const char *s = path;

	if (fd < 0)
		return hoist_error_set(err, -errno, "dup: %s", strerror(errno));
	while (*s) {
		const char *slash = strchr(s, '/');
		size_t n = slash ? (size_t)(slash - s) : strlen(s);
		_cleanup_free_ char *comp = hoist_xstrndup(s, n);
		int next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT && create) {
			if (mkdirat(fd, comp, 0755) < 0 && errno != EEXIST) {
				int e = errno;
				close(fd);
				return hoist_error_set(err, -e, "'%s': mkdir '%s': %s", u->name,
						       path, strerror(e));
			}
			next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (next < 0) {
			int e = errno;
			close(fd);
			if (e == ELOOP || e == ENOTDIR)
				return hoist_error_set(err, -ELOOP,
						       "'%s': entry '%s': path goes through a "
						       "symlink or a non-directory",
						       u->name, u->entry ? u->entry : path);
			return hoist_error_set(err, -e, "'%s': open '%s': %s", u->name, path,
					       strerror(e));
		}
		close(fd);
		fd = next;
		s += n;
		if (*s == '/')
			s++;
	}
	return fd;
}

/* The parent of e->path, via the cache when consecutive entries share it. */
static int parent_fd(struct unpack *u, const char *parent, struct hoist_error *err)
{
	int fd;
	if (u->parent_path && strcmp(u->parent_path, parent) == 0)
		return u->parent_fd;
	parent_cache_drop(u);
	fd = open_dir_beneath(u, parent, true, err);
	if (fd < 0)
		return fd;
	u->parent_path = hoist_xstrdup(parent);
	u->parent_fd = fd;
	return fd;
}

/* Make room for a new non-directory entry at (dirfd, base). */
static int clear_slot(struct unpack *u, int pfd, const char *base)
{
	struct stat st;
	if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (S_ISDIR(st.st_mode)) {
		int rc = rm_rf_at(pfd, base);
		parent_cache_drop(u);
		return rc;
	}
	return unlinkat(pfd, base, 0) < 0 ? -errno : 0;
}

static int copy_content(struct hoist_tar_reader *r, int fd, struct hoist_error *err)
{
	_cleanup_free_ char *buf = hoist_xmalloc(65536);
	for (;;) {
		ssize_t n = hoist_tar_reader_read(r, buf, 65536, err);
		if (n < 0)
			return (int)n;
		if (n == 0)
			return 0;
		int rc = hoist_write_all(fd, buf, (size_t)n);
		if (rc < 0)
			return hoist_error_set(err, rc, "write: %s", strerror(-rc));
	}
}

static int copy_fd(int in, int out)
{
	char buf[65536];
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		int rc = hoist_write_all(out, buf, (size_t)n);
		if (rc < 0)
			return rc;
	}
}

static int unpack_entry(struct unpack *u, struct hoist_tar_reader *r, const struct hoist_entry *e,
			const char *parent, const char *base, struct hoist_error *err)
{
	int dfd = parent_fd(u, parent, err);
	int rc;

	if (dfd < 0)
		return dfd;
	switch (e->type) {
	case HOIST_ENTRY_DIR: {
		struct stat st;
		mode_t m = (e->mode & 0777) | 0700;
		if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			if (S_ISDIR(st.st_mode)) {
				if (fchmodat(dfd, base, m, 0) < 0)
					return hoist_error_set(err, -errno, "'%s': chmod '%s': %s",
							       u->name, e->path, strerror(errno));
				return 0;
			}
			if (unlinkat(dfd, base, 0) < 0)
				return hoist_error_set(err, -errno, "'%s': unlink '%s': %s",
						       u->name, e->path, strerror(errno));
		}
		if (mkdirat(dfd, base, m) < 0 || fchmodat(dfd, base, m, 0) < 0)
			return hoist_error_set(err, -errno, "'%s': mkdir '%s': %s", u->name,
					       e->path, strerror(errno));
		return 0;
	}
	case HOIST_ENTRY_FILE: {
		_cleanup_close_ int fd = -1;
		struct timespec ts[2] = {{0, UTIME_OMIT}, {e->mtime, 0}};
		rc = clear_slot(u, dfd, base);
		if (rc < 0)
			return hoist_error_set(err, rc, "'%s': replace '%s': %s", u->name, e->path,
					       strerror(-rc));
		dfd = parent_fd(u, parent, err);
		if (dfd < 0)
			return dfd;
		fd = openat(dfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			return hoist_error_set(err, -errno, "'%s': create '%s': %s", u->name,
					       e->path, strerror(errno));
		rc = copy_content(r, fd, err);
		if (rc < 0)
			return rc;
		/* setuid/setgid bits stay in the index: never make them real here. */
		if (fchmod(fd, (e->mode & 0777) | 0600) < 0)
			return hoist_error_set(err, -errno, "'%s': chmod '%s': %s", u->name,
					       e->path, strerror(errno));
		futimens(fd, ts);
		return 0;
	}
	case HOIST_ENTRY_SYMLINK:
		rc = clear_slot(u, dfd, base);
		if (rc < 0)
			return hoist_error_set(err, rc, "'%s': replace '%s': %s", u->name, e->path,
					       strerror(-rc));
		dfd = parent_fd(u, parent, err);
		if (dfd < 0)
			return dfd;
		if (symlinkat(e->linkname, dfd, base) < 0)
			return hoist_error_set(err, -errno, "'%s': symlink '%s': %s", u->name,
					       e->path, strerror(errno));
		return 0;
	case HOIST_ENTRY_HARDLINK: {
		_cleanup_free_ char *tdir = NULL;
		const char *slash = strrchr(e->linkname, '/');
		const char *tbase = slash ? slash + 1 : e->linkname;
		_cleanup_close_ int tfd = -1;

		rc = clear_slot(u, dfd, base);
		if (rc < 0)
			return hoist_error_set(err, rc, "'%s': replace '%s': %s", u->name, e->path,
					       strerror(-rc));
		dfd = parent_fd(u, parent, err);
		if (dfd < 0)
			return dfd;
		tdir = slash ? hoist_xstrndup(e->linkname, (size_t)(slash - e->linkname))
			     : hoist_xstrdup("");
		tfd = open_dir_beneath(u, tdir, false, err);
		if (tfd < 0) {
			if (tfd == -ENOENT)
				return 0; /* target not on disk (a device node): index only */
			return tfd;
		}
		/* No AT_SYMLINK_FOLLOW: a link to a symlink links the symlink itself. */
		if (linkat(tfd, tbase, dfd, base, 0) == 0)
			return 0;
		if (errno == ENOENT)
			return 0;
		/* Filesystems without hardlinks (or EMLINK): a copy is good enough here. */
		_cleanup_close_ int in = openat(tfd, tbase, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		_cleanup_close_ int out = -1;
		if (in < 0)
			return hoist_error_set(err, -errno, "'%s': hardlink '%s': %s", u->name,
					       e->path, strerror(errno));
		out = openat(dfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			     (e->mode & 0777) | 0600);
		if (out < 0 || copy_fd(in, out) < 0)
			return hoist_error_set(err, -EIO, "'%s': copy for hardlink '%s' failed",
					       u->name, e->path);
		return 0;
	}
	case HOIST_ENTRY_CHAR:
	case HOIST_ENTRY_BLOCK:
	case HOIST_ENTRY_FIFO:
		return 0; /* rootless: recorded in the index only */
	}
	return 0;
}

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

/*
 * One pass over the layer: with u->rootfd >= 0 the tree is written below it,
 * with indexfd >= 0 the index is written to it (in 1 MiB pieces, so memory
 * stays bounded); either may be skipped. The diffID is checked either way.
 */
static int unpack_stream(struct unpack *u, struct hoist_tar_reader *r, int indexfd,
			 const char *diff_id, struct hoist_error *err)
{
	_cleanup_buf_ struct hoist_buf b = HOIST_BUF_INIT;
	struct hoist_entry e = {0};
	char got[HOIST_DIGEST_MAX];
	bool want_index = indexfd >= 0;
	struct layer_paths *paths = layer_paths_new();
	int rc;

	snap_index_begin(&b, diff_id);
	for (;;) {
		_cleanup_free_ char *parent = NULL;
		const char *slash, *base;

		rc = hoist_tar_reader_next(r, &e, err);
		if (rc <= 0)
			break;
		slash = strrchr(e.path, '/');
		base = slash ? slash + 1 : e.path;
		parent =
		    slash ? hoist_xstrndup(e.path, (size_t)(slash - e.path)) : hoist_xstrdup("");
		/* The unpacker's rule, checked here too, so that an index is only
		 * ever made for a layer whose content can be made. */
		rc = layer_paths_check(
		    paths, u->name, e.path, &e,
		    hoist_startswith(base, ".wh.") ? LAYER_PATHS_WHITEOUT : LAYER_PATHS_ENTRY, err);
		if (rc < 0)
			break;
		if (hoist_startswith(base, ".wh.")) {
			const char *victim = base + 4;
			_cleanup_free_ char *path = NULL;
			int flags;
			if (strcmp(base, ".wh..wh..opq") == 0) {
				path = hoist_xstrdup(parent);
				flags = SNAP_INDEX_OPAQUE;
			} else if (!victim[0] || !strcmp(victim, ".") || !strcmp(victim, "..")) {
				rc =
				    hoist_error_set(err, -EBADMSG, "'%s': entry '%s': bad whiteout",
						    u->name, e.path);
				break;
			} else {
				path = parent[0] ? hoist_xasprintf("%s/%s", parent, victim)
						 : hoist_xstrdup(victim);
				flags = SNAP_INDEX_WHITEOUT;
			}
			free(e.path);
			e.path = TAKE_PTR(path);
			if (want_index)
				snap_index_add(&b, &e, flags);
		} else {
			if (u->rootfd >= 0) {
				u->entry = e.path;
				rc = unpack_entry(u, r, &e, parent, base, err);
				u->entry = NULL;
				if (rc < 0)
					break;
			}
			if (want_index)
				snap_index_add(&b, &e, 0);
		}
		if (want_index && b.len >= ((size_t)1 << 20) &&
		    (rc = flush_index(indexfd, &b, err)) < 0)
			break;
	}
	hoist_entry_release(&e);
	layer_paths_free(paths);
	if (rc < 0)
		return rc;
	if (want_index && (rc = flush_index(indexfd, &b, err)) < 0)
		return rc;
	rc = layer_reader_diff_id(r, got, err);
	if (rc < 0)
		return rc;
	if (strcmp(got, diff_id) != 0)
		return hoist_error_set(err, -EBADMSG, "'%s': diffID mismatch: expected %s, got %s",
				       u->name, diff_id, got);
	if (want_index && fsync(indexfd) < 0)
		return hoist_error_set(err, -errno, "fsync snapshot index: %s", strerror(errno));
	return 0;
}

/* Read the layer blob `digest` once, writing the tree and/or the index. */
static int read_layer(struct hoist_store *s, const char *digest, const char *diff_id, int rootfd,
		      int indexfd, struct hoist_error *err)
{
	struct unpack u = {.rootfd = rootfd, .parent_fd = -1, .name = digest};
	struct hoist_tar_reader *r = NULL;
	_cleanup_close_ int blobfd = hoist_store_blob_open(s, digest, err);
	int rc;

	if (blobfd < 0)
		return blobfd;
	rc = hoist_tar_reader_open(blobfd, digest, &r, err);
	if (rc < 0)
		return rc;
	rc = unpack_stream(&u, r, indexfd, diff_id, err);
	parent_cache_drop(&u);
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
	rm_rf_at(snapfd, tmpname);
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
	rm_rf_at(snapfd, tmpname);
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

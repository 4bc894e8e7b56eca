/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Root filesystems for the sandbox: each layer unpacked once per identity
 * mode into ROOT/rootfs/<mode>/<diffid-hex>/, holding that layer's content
 * only (whiteouts as overlay whiteouts, opaque markers as overlay xattrs),
 * so that an image is a stack of overlay lower directories and layers are
 * shared between chains.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "hoist/layer.h"
#include "hoist/util.h"
#include "sandbox-private.h"

#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"

void hoist_rootfs_release(struct hoist_rootfs *r)
{
	if (!r)
		return;
	hoist_strv_free(r->paths);
	r->paths = NULL;
	r->n = 0;
}

static const char *opaque_xattr(enum hoist_idmode mode)
{
	return mode == HOIST_IDMODE_ROOT ? "trusted.overlay.opaque" : "user.overlay.opaque";
}

/*
 * Open the directory `dir` (relative, cleaned) under rootfd one component at
 * a time with O_NOFOLLOW, so that a symlink in the layer can never redirect
 * a write outside it; missing components are created when `create`.
 */
static int open_dir_beneath(int rootfd, const char *dir, bool create)
{
	int fd = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return -errno;
	if (!dir || !*dir)
		return fd;
	_cleanup_free_ char *p = hoist_xstrdup(dir);
	char *save = p;
	while (save && *save) {
		char *slash = strchr(save, '/');
		if (slash)
			*slash = '\0';
		int nfd = openat(fd, save, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0 && errno == ENOENT && create) {
			if (mkdirat(fd, save, 0755) < 0 && errno != EEXIST) {
				int e = -errno;
				close(fd);
				return e;
			}
			nfd = openat(fd, save, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			/* A parent the layer does not list: 0755, as a tar
			 * unpacker makes it, whatever our umask. */
			if (nfd >= 0 && fchmod(nfd, 0755) < 0) {
				close(nfd);
				nfd = -1;
			}
		}
		int e = -errno;
		close(fd);
		if (nfd < 0)
			return e == -ELOOP ? -ENOTDIR : e;
		fd = nfd;
		save = slash ? slash + 1 : NULL;
	}
	return fd;
}

/* Split "a/b/c" into a new "a/b" and a pointer to "c". */
static char *split_path(const char *path, const char **ret_base)
{
	const char *slash = strrchr(path, '/');
	if (!slash) {
		*ret_base = path;
		return hoist_xstrdup("");
	}
	*ret_base = slash + 1;
	return hoist_xstrndup(path, (size_t)(slash - path));
}

struct unpack_args {
	int blob_fd;
	const char *dir; /* absolute temp dir to fill */
	const char *name;
	enum hoist_idmode mode;
};

struct dir_time {
	char *path;
	int64_t mtime;
};

static bool xattr_allowed(const char *name)
{
	/* A layer must never be able to forge overlay metadata (opaque, redirect). */
	return !hoist_startswith(name, "trusted.overlay.") &&
	       !hoist_startswith(name, "user.overlay.") && !hoist_startswith(name, "trusted.") &&
	       !hoist_startswith(name, "system.");
}

static void apply_meta(int pfd, const char *name, const struct hoist_entry *e,
		       enum hoist_idmode mode, bool is_link)
{
	if (mode != HOIST_IDMODE_SINGLE)
		/* Ids outside the mapping fail with EINVAL; the file stays root's. */
		(void)fchownat(pfd, name, e->uid, e->gid, AT_SYMLINK_NOFOLLOW);
	if (!is_link) {
		(void)fchmodat(pfd, name, e->mode & 07777, 0);
		for (size_t i = 0; i < e->n_xattrs; i++)
			if (xattr_allowed(e->xattrs[i].name)) {
				char path[64];
				_cleanup_close_ int fd =
				    openat(pfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
				if (fd < 0)
					break;
				snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
				(void)lsetxattr(path, e->xattrs[i].name, e->xattrs[i].value,
						e->xattrs[i].len, 0);
			}
	}
	struct timespec ts[2] = {{.tv_sec = e->mtime}, {.tv_sec = e->mtime}};
	(void)utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW);
}

static int unpack_entry(int rootfd, struct hoist_tar_reader *r, const struct hoist_entry *e,
			enum hoist_idmode mode, struct dir_time **times, size_t *n_times,
			struct hoist_error *err)
{
	const char *base;
	_cleanup_free_ char *dir = split_path(e->path, &base);
	_cleanup_close_ int pfd = open_dir_beneath(rootfd, dir, true);
	if (pfd < 0)
		return hoist_error_set(err, pfd, "'%s': parent is not a directory in the layer",
				       e->path);

	if (strcmp(base, WH_OPAQUE) == 0) {
		if (fsetxattr(pfd, opaque_xattr(mode), "y", 1, 0) < 0)
			return hoist_error_set(err, -errno, "marking '%s' opaque: %s", dir,
					       strerror(errno));
		return 0;
	}
	if (hoist_startswith(base, WH_PREFIX WH_PREFIX))
		return 0; /* other AUFS metadata: meaningless here */
	if (hoist_startswith(base, WH_PREFIX)) {
		const char *victim = base + strlen(WH_PREFIX);
		if (!*victim)
			return 0;
		rm_rf_at(pfd, victim);
		/* The kernel allows the 0/0 whiteout device without CAP_MKNOD (5.8+). */
		if (mknodat(pfd, victim, S_IFCHR | 0, makedev(0, 0)) < 0)
			return hoist_error_set(err, -errno, "whiteout for '%s/%s': %s", dir, victim,
					       strerror(errno));
		return 0;
	}

	struct stat st;
	bool exists = fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0;
	if (exists && !(e->type == HOIST_ENTRY_DIR && S_ISDIR(st.st_mode)))
		rm_rf_at(pfd, base);

	switch (e->type) {
	case HOIST_ENTRY_DIR:
		if (!(exists && S_ISDIR(st.st_mode)) && mkdirat(pfd, base, 0700) < 0)
			return hoist_error_set(err, -errno, "mkdir '%s': %s", e->path,
					       strerror(errno));
		apply_meta(pfd, base, e, mode, false);
		*times = hoist_xrealloc(*times, (*n_times + 1) * sizeof(**times));
		(*times)[*n_times].path = hoist_xstrdup(e->path);
		(*times)[(*n_times)++].mtime = e->mtime;
		return 0;
	case HOIST_ENTRY_FILE: {
		_cleanup_close_ int fd =
		    openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			return hoist_error_set(err, -errno, "creating '%s': %s", e->path,
					       strerror(errno));
		char buf[65536];
		for (;;) {
			ssize_t n = hoist_tar_reader_read(r, buf, sizeof(buf), err);
			if (n < 0)
				return (int)n;
			if (n == 0)
				break;
			if (hoist_write_all(fd, buf, (size_t)n) < 0)
				return hoist_error_set(err, -errno, "writing '%s': %s", e->path,
						       strerror(errno));
		}
		apply_meta(pfd, base, e, mode, false);
		return 0;
	}
	case HOIST_ENTRY_SYMLINK:
		if (symlinkat(e->linkname ? e->linkname : "", pfd, base) < 0)
			return hoist_error_set(err, -errno, "symlink '%s': %s", e->path,
					       strerror(errno));
		apply_meta(pfd, base, e, mode, true);
		return 0;
	case HOIST_ENTRY_HARDLINK: {
		const char *tbase;
		_cleanup_free_ char *tdir = split_path(e->linkname ? e->linkname : "", &tbase);
		_cleanup_close_ int tfd = open_dir_beneath(rootfd, tdir, false);
		if (tfd < 0 || linkat(tfd, tbase, pfd, base, 0) < 0)
			return hoist_error_set(err, tfd < 0 ? tfd : -errno,
					       "hard link '%s' to '%s': target not in this layer",
					       e->path, e->linkname);
		return 0;
	}
	case HOIST_ENTRY_FIFO:
		if (mknodat(pfd, base, S_IFIFO | 0600, 0) < 0)
			return hoist_error_set(err, -errno, "mkfifo '%s': %s", e->path,
					       strerror(errno));
		apply_meta(pfd, base, e, mode, false);
		return 0;
	case HOIST_ENTRY_CHAR:
	case HOIST_ENTRY_BLOCK:
		/* Device nodes can only be made by real root; rootless runtimes
		 * skip them too (the sandbox's /dev is a tmpfs anyway). */
		if (mode != HOIST_IDMODE_ROOT)
			return 0;
		if (mknodat(pfd, base,
			    (e->type == HOIST_ENTRY_CHAR ? S_IFCHR : S_IFBLK) | (e->mode & 07777),
			    makedev(e->devmajor, e->devminor)) < 0)
			return hoist_error_set(err, -errno, "mknod '%s': %s", e->path,
					       strerror(errno));
		apply_meta(pfd, base, e, mode, false);
		return 0;
	}
	return 0;
}

static int unpack_fn(void *arg, void *out, struct hoist_error *err)
{
	const struct unpack_args *a = arg;
	struct hoist_tar_reader *r = NULL;
	struct dir_time *times = NULL;
	size_t n_times = 0;
	struct hoist_entry e = {0};
	int rc;

	_cleanup_close_ int rootfd = open(a->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return hoist_error_set(err, -errno, "opening '%s': %s", a->dir, strerror(errno));
	rc = hoist_tar_reader_open(a->blob_fd, a->name, &r, err);
	if (rc < 0)
		return rc;
	while ((rc = hoist_tar_reader_next(r, &e, err)) > 0) {
		rc = unpack_entry(rootfd, r, &e, a->mode, &times, &n_times, err);
		hoist_entry_release(&e);
		if (rc < 0)
			break;
	}
	hoist_entry_release(&e);
	/* Directory times last: creating their children changed them. */
	for (size_t i = n_times; i-- > 0;) {
		if (rc == 0) {
			const char *base;
			_cleanup_free_ char *dir = split_path(times[i].path, &base);
			_cleanup_close_ int pfd = open_dir_beneath(rootfd, dir, false);
			struct timespec ts[2] = {{.tv_sec = times[i].mtime},
						 {.tv_sec = times[i].mtime}};
			if (pfd >= 0)
				(void)utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW);
		}
		free(times[i].path);
	}
	free(times);
	hoist_tar_reader_free(r);
	return rc < 0 ? hoist_error_prefix(err, "unpacking '%s'", a->name) : 0;
}

struct rm_args {
	const char *path;
};

static int rm_fn(void *arg, void *out, struct hoist_error *err)
{
	const struct rm_args *a = arg;
	int r = rm_rf_at(AT_FDCWD, a->path);
	if (r < 0)
		return hoist_error_set(err, r, "removing '%s': %s", a->path, strerror(-r));
	return 0;
}

int sandbox_remove_tree(const struct hoist_idmap *m, const char *path, struct hoist_error *err)
{
	struct rm_args a = {path};
	return userns_call(m, rm_fn, &a, NULL, 0, err);
}

/*
 * Add a layer's directory on top of the stack. An image can hold the same
 * layer twice (two RUNs that change nothing give the same empty layer), and
 * overlayfs refuses a lower stack naming one directory twice (ELOOP). The
 * upper copy alone gives the same merged tree: it re-applies every entry,
 * whiteout and opaque marker of the lower one over what lies between, so the
 * lower copy is dropped.
 */
static void push_layer_dir(struct hoist_strv *paths, const char *dir)
{
	for (size_t i = 0; i < paths->n; i++) {
		if (strcmp(paths->v[i], dir) != 0)
			continue;
		free(paths->v[i]);
		/* with the NULL that ends the vector */
		memmove(&paths->v[i], &paths->v[i + 1], (paths->n - i) * sizeof(char *));
		paths->n--;
		break;
	}
	hoist_strv_push(paths, dir);
}

/*
 * Trees this process has checked against their seals (or made): a build's
 * RUNs use the same lower layers over and over; one check each is enough.
 */
static struct hoist_strv checked_trees = HOIST_STRV_INIT;

static bool tree_checked(const char *dir)
{
	for (size_t i = 0; i < checked_trees.n; i++)
		if (strcmp(checked_trees.v[i], dir) == 0)
			return true;
	return false;
}

int hoist_rootfs_prepare(struct hoist_store *s, const struct hoist_idmap *idmap,
			 const struct hoist_descriptor *layers, const char *const *diff_ids,
			 size_t n, struct hoist_rootfs *ret, struct hoist_error *err)
{
	_cleanup_free_ char *base =
	    hoist_store_area_path(s, HOIST_STORE_ROOTFS, hoist_idmode_name(idmap->mode));
	_cleanup_strv_ struct hoist_strv paths = HOIST_STRV_INIT;
	int r = sandbox_mkdir_p(base, 0700);
	if (r < 0)
		return hoist_error_set(err, r, "creating '%s': %s", base, strerror(-r));

	for (size_t i = 0; i < n; i++) {
		if (!hoist_digest_valid(diff_ids[i]))
			return hoist_error_set(err, -EBADMSG, "bad diffID '%s'", diff_ids[i]);
		const char *hex = diff_ids[i] + strlen("sha256:");
		_cleanup_free_ char *dir = hoist_xasprintf("%s/%s", base, hex);
		char seal_digest[HOIST_DIGEST_MAX];
		struct stat st;
		if (tree_checked(dir)) {
			push_layer_dir(&paths, dir);
			continue;
		}
		/* Held while the tree is checked or made: unpackers of one layer
		 * take turns, and nobody sees a tree before its seal. */
		_cleanup_close_ int seal = rootfs_seal_open(dir, err);
		if (seal < 0)
			return seal;
		if (stat(dir, &st) == 0) {
			if (rootfs_seal_compute(idmap, dir, seal_digest, NULL) == 0 &&
			    rootfs_seal_matches(seal, seal_digest)) {
				hoist_strv_push(&checked_trees, dir);
				push_layer_dir(&paths, dir);
				continue;
			}
			/* Changed since it was unpacked (or unpacked by a hoist
			 * without seals): never a lower directory of a RUN. */
			hoist_log(1,
				  "layer %.19s unpacked for %s mode differs from its seal: "
				  "unpacking it again",
				  diff_ids[i], hoist_idmode_name(idmap->mode));
			r = sandbox_remove_tree(idmap, dir, err);
			if (r < 0)
				return r;
		}
		hoist_log(1, "unpacking layer %.19s for %s mode", diff_ids[i],
			  hoist_idmode_name(idmap->mode));
		_cleanup_close_ int fd = hoist_store_blob_open(s, layers[i].digest, err);
		if (fd < 0)
			return fd;
		/* In our lease (same filesystem): a killed unpack leaves nothing that
		 * the next command does not remove. Mode 0755 whatever the umask. */
		_cleanup_free_ char *tmp = NULL;
		if ((r = hoist_store_tmpdir(s, "unpack-", &tmp, err)) < 0)
			return r;
		if (chmod(tmp, 0755) < 0)
			return hoist_error_set(err, -errno, "creating '%s': %s", tmp,
					       strerror(errno));
		struct unpack_args a = {
		    .blob_fd = fd, .dir = tmp, .name = layers[i].digest, .mode = idmap->mode};
		r = userns_call(idmap, unpack_fn, &a, NULL, 0, err);
		if (r == 0 && rename(tmp, dir) < 0 && errno != EEXIST && errno != ENOTEMPTY)
			r = hoist_error_set(err, -errno, "renaming '%s': %s", tmp, strerror(errno));
		/* A concurrent unpack of a hoist without seals may have won the rename. */
		sandbox_remove_tree(idmap, tmp, NULL);
		if (r == 0 && (r = rootfs_seal_compute(idmap, dir, seal_digest, err)) == 0 &&
		    (r = rootfs_seal_write(seal, seal_digest)) < 0)
			r = hoist_error_set(err, r, "writing the seal of '%s': %s", dir,
					    strerror(-r));
		if (r < 0)
			return r;
		hoist_strv_push(&checked_trees, dir);
		push_layer_dir(&paths, dir);
	}
	ret->n = paths.n;
	ret->paths = paths.v ? paths.v : hoist_xcalloc(1, sizeof(char *));
	paths.v = NULL;
	paths.n = paths.alloc = 0;
	return 0;
}

int hoist_rootfs_read_file(const struct hoist_rootfs *r, const char *path, size_t max, char **ret,
			   size_t *ret_len, struct hoist_error *err)
{
	while (*path == '/')
		path++;
	for (size_t i = r->n; i-- > 0;) {
		_cleanup_close_ int rootfd = open(r->paths[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (rootfd < 0)
			continue;
		/* Walk the parents: a whiteout hides everything below; an opaque
		 * directory hides the layers underneath. */
		_cleanup_free_ char *p = hoist_xstrdup(path);
		bool opaque = false, gone = false;
		int fd = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
		char *comp = p;
		while (fd >= 0) {
			char *slash = strchr(comp, '/');
			if (slash)
				*slash = '\0';
			struct stat st;
			if (fstatat(fd, comp, &st, AT_SYMLINK_NOFOLLOW) < 0) {
				close(fd);
				fd = -1;
				break;
			}
			if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) {
				gone = true;
				close(fd);
				fd = -1;
				break;
			}
			if (!slash) {
				if (S_ISREG(st.st_mode)) {
					int q =
					    hoist_read_file_at(fd, comp, max, ret, ret_len, err);
					close(fd);
					return q;
				}
				close(fd);
				fd = -1;
				break;
			}
			int nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			close(fd);
			fd = nfd;
			if (fd >= 0) {
				char v[4];
				if (fgetxattr(fd, "user.overlay.opaque", v, sizeof(v)) > 0 ||
				    fgetxattr(fd, "trusted.overlay.opaque", v, sizeof(v)) > 0)
					opaque = true;
			}
			comp = slash + 1;
		}
		if (gone || opaque)
			break;
	}
	return hoist_error_set(err, -ENOENT, "'/%s' not found in the image", path);
}

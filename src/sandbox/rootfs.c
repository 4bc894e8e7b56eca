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

struct unpack_args {
	int blob_fd;
	const char *dir; /* absolute temp dir to fill */
	const char *name;
	enum hoist_idmode mode;
};

/* The kernel allows the 0/0 whiteout device without CAP_MKNOD (5.8+). */
static int overlay_whiteout(void *ctx, int dirfd, const char *name, struct hoist_error *err)
{
	(void)ctx;
	if (mknodat(dirfd, name, S_IFCHR | 0, makedev(0, 0)) < 0)
		return hoist_error_set(err, -errno, "overlay whiteout: %s", strerror(errno));
	return 0;
}

static int overlay_opaque(void *ctx, int dirfd, struct hoist_error *err)
{
	const struct unpack_args *a = ctx;
	if (fsetxattr(dirfd, opaque_xattr(a->mode), "y", 1, 0) < 0)
		return hoist_error_set(err, -errno, "marking opaque: %s", strerror(errno));
	return 0;
}

/* In the run's user namespace (subuid: so that chown works). */
static int unpack_fn(void *arg, void *out, struct hoist_error *err)
{
	struct unpack_args *a = arg;
	struct hoist_unpack_ops ops = {
	    .flags = HOIST_UNPACK_EXACT_MODES | HOIST_UNPACK_FIFOS | HOIST_UNPACK_XATTRS |
		     HOIST_UNPACK_ALL_TIMES | HOIST_UNPACK_STRICT_LINKS |
		     (a->mode != HOIST_IDMODE_SINGLE ? HOIST_UNPACK_OWNERSHIP : 0) |
		     /* device nodes can only be made by real root; rootless
		      * runtimes skip them too (the sandbox's /dev is a tmpfs) */
		     (a->mode == HOIST_IDMODE_ROOT ? HOIST_UNPACK_DEVICES : 0),
	    .whiteout = overlay_whiteout,
	    .opaque = overlay_opaque,
	    .ctx = a,
	};
	struct hoist_tar_reader *r = NULL;
	int rc;

	(void)out;
	_cleanup_close_ int rootfd = open(a->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return hoist_error_set(err, -errno, "opening '%s': %s", a->dir, strerror(errno));
	rc = hoist_tar_reader_open(a->blob_fd, a->name, &r, err);
	if (rc < 0)
		return rc;
	rc = hoist_layer_unpack(r, rootfd, a->name, &ops, err);
	hoist_tar_reader_free(r);
	return rc < 0 ? hoist_error_prefix(err, "unpacking layer for %s mode",
					   hoist_idmode_name(a->mode))
		      : 0;
}

struct rm_args {
	const char *path;
};

static int rm_fn(void *arg, void *out, struct hoist_error *err)
{
	const struct rm_args *a = arg;
	int r = hoist_rm_rf_at(AT_FDCWD, a->path);
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

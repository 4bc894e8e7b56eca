/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The snapshot fallback for hosts without a usable overlayfs (issue 5):
 * the merged root is materialised into a private directory of the run (the
 * lowers copied bottom first, their whiteouts and opaque markers applied,
 * reflinked where the filesystem can), every entry's metadata is recorded,
 * the command runs with that directory as its root, and a second walk
 * compares the tree with the record. The change set goes through the same
 * layer writer, in the same order and with the same entries as diff.c
 * writes for an overlay upper directory (changed entries, the directories
 * above them, whiteouts, opaque markers for recreated directories), so the
 * same change gives the same layer either way.
 *
 * Never hard links into the store: the command may write a file in place,
 * which would change the store's copy for every later run.
 *
 * Both functions run inside userns_call() with the run's mapping, so the
 * copy carries container ids and stat shows them.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "hoist/layer.h"
#include "hoist/util.h"
#include "sandbox-private.h"

#define MAX_DEPTH 256
#define REC_NAME_MAX 255
#define REC_LINK_MAX 4096
#define XATTR_LIST_MAX_LEN 65536
#define XATTR_VALUE_MAX_LEN 65536

/* One record of the index file, followed by the name and the link target. */
struct rec_hdr {
	uint64_t size, ino;
	int64_t mtime_sec, ctime_sec;
	uint32_t mtime_nsec, ctime_nsec;
	int64_t btime_sec; /* directories, where statx knows it; else 0 */
	uint32_t btime_nsec;
	uint32_t mode, uid, gid;
	uint32_t depth; /* 1 for the root's children */
	uint32_t name_len, link_len;
};

struct rec {
	struct rec_hdr h;
	char *name;
	char *link; /* symlinks, else NULL */
	size_t end; /* index after this entry's subtree */
};

struct link_seen {
	ino_t ino;
	char *path;
};

static int cmp_str(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

bool snap_skipped(const char *const *skip, const char *path)
{
	for (size_t i = 0; skip && skip[i]; i++)
		if (strcmp(skip[i], path) == 0)
			return true;
	return false;
}

/* The names in directory dfd, sorted. A fresh open file description, so
 * that listing the same directory twice starts at its beginning twice. */
static int list_sorted(int dfd, struct hoist_strv *names)
{
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		int e = -errno;
		close(fd);
		return e;
	}
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			hoist_strv_push(names, de->d_name);
	int e = errno ? -errno : 0;
	closedir(d);
	if (e < 0)
		return e;
	if (names->n > 1)
		qsort(names->v, names->n, sizeof(char *), cmp_str);
	return 0;
}

static char *join(const char *rel, const char *name)
{
	return rel[0] ? hoist_xasprintf("%s/%s", rel, name) : hoist_xstrdup(name);
}

static bool is_whiteout(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0);
}

/* Birth time of a directory: with the inode number it tells a directory
 * from a new one that got the freed inode back (rm -rf d; mkdir d). */
static void dir_btime(int dfd, const char *name, int64_t *sec, uint32_t *nsec)
{
	struct statx stx;
	*sec = 0;
	*nsec = 0;
	if (statx(dfd, name, AT_SYMLINK_NOFOLLOW, STATX_BTIME, &stx) == 0 &&
	    (stx.stx_mask & STATX_BTIME)) {
		*sec = stx.stx_btime.tv_sec;
		*nsec = stx.stx_btime.tv_nsec;
	}
}

static bool fd_opaque(int fd)
{
	char v[8];
	return fgetxattr(fd, "user.overlay.opaque", v, sizeof(v)) > 0 ||
	       fgetxattr(fd, "trusted.overlay.opaque", v, sizeof(v)) > 0;
}

/* ---- materialising the merged root --------------------------------- */

struct mat {
	const struct snap_copy_args *a;
	struct snap_copy_out *out;
	int rootfd;
	struct link_seen *links; /* hard links of the current lower */
	size_t n_links;
};

static bool xattr_copied(const char *name)
{
	/* Overlay metadata of the lowers means nothing in a plain directory. */
	return !hoist_startswith(name, "user.overlay.") &&
	       !hoist_startswith(name, "trusted.overlay.");
}

static void copy_xattrs(int sfd, int dfd)
{
	char list[XATTR_LIST_MAX_LEN];
	ssize_t n = flistxattr(sfd, list, sizeof(list));
	if (n <= 0)
		return;
	_cleanup_free_ char *val = hoist_xmalloc(XATTR_VALUE_MAX_LEN);
	for (char *p = list; p < list + n; p += strlen(p) + 1) {
		if (!xattr_copied(p))
			continue;
		ssize_t vl = fgetxattr(sfd, p, val, XATTR_VALUE_MAX_LEN);
		if (vl >= 0)
			(void)fsetxattr(dfd, p, val, (size_t)vl, 0);
	}
}

/* Ownership, mode, times of dname (in ddir) from st. Failures to set an
 * owner outside the mapping leave the entry container root's, as unpacking
 * a layer does. chown before chmod: chown clears setuid bits. */
static void set_meta(const struct mat *mt, int ddir, const char *dname, const struct stat *st)
{
	if (mt->a->idmap->mode != HOIST_IDMODE_SINGLE)
		(void)fchownat(ddir, dname, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW);
	if (!S_ISLNK(st->st_mode))
		(void)fchmodat(ddir, dname, st->st_mode & 07777, 0);
	struct timespec ts[2] = {st->st_atim, st->st_mtim};
	(void)utimensat(ddir, dname, ts, AT_SYMLINK_NOFOLLOW);
}

static int copy_data(struct mat *mt, int sfd, int dfd, const char *path, struct hoist_error *err)
{
	if (ioctl(dfd, FICLONE, sfd) == 0) {
		mt->out->reflinked++;
		return 0;
	}
	bool use_cfr = true;
	for (;;) {
		ssize_t n = -1;
		if (use_cfr) {
			n = copy_file_range(sfd, NULL, dfd, NULL, 1 << 30, 0);
			if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == EOPNOTSUPP ||
				      errno == ENOSYS)) {
				use_cfr = false;
				continue;
			}
		} else {
			char buf[65536];
			n = read(sfd, buf, sizeof(buf));
			if (n > 0 && hoist_write_all(dfd, buf, (size_t)n) < 0)
				n = -1;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return hoist_error_set(err, -errno, "copying '%s': %s", path,
					       strerror(errno));
		if (n == 0)
			break;
		mt->out->bytes += (uint64_t)n;
	}
	mt->out->copied++;
	return 0;
}

static int copy_dir(struct mat *mt, int sdir, int ddir, const char *rel, unsigned depth,
		    struct hoist_error *err);

/* Whether path is a proper ancestor of one of skip. */
static bool skip_below(const char *const *skip, const char *path)
{
	size_t n = strlen(path);
	for (size_t i = 0; skip && skip[i]; i++)
		if (n == 0 || (strncmp(skip[i], path, n) == 0 && skip[i][n] == '/'))
			return true;
	return false;
}

int snap_clear_except(int dfd, const char *rel, const char *const *skip, unsigned depth,
		      struct hoist_error *err)
{
	_cleanup_strv_ struct hoist_strv names = HOIST_STRV_INIT;
	int r = list_sorted(dfd, &names);
	if (r < 0)
		return hoist_error_set(err, r, "listing '%s': %s", rel[0] ? rel : "/",
				       strerror(-r));
	for (size_t i = 0; r == 0 && i < names.n; i++) {
		_cleanup_free_ char *path = join(rel, names.v[i]);
		if (snap_skipped(skip, path))
			continue;
		struct stat st;
		if (skip_below(skip, path) && depth < MAX_DEPTH &&
		    fstatat(dfd, names.v[i], &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISDIR(st.st_mode)) {
			_cleanup_close_ int fd = openat(
			    dfd, names.v[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0)
				return hoist_error_set(err, -errno, "opening '%s': %s", path,
						       strerror(errno));
			r = snap_clear_except(fd, path, skip, depth + 1, err);
			continue;
		}
		if ((r = hoist_rm_rf_at(dfd, names.v[i])) < 0)
			return hoist_error_set(err, r, "removing '%s': %s", path, strerror(-r));
	}
	return r;
}

/* Empty directory dfd: its lower is opaque, nothing below shows through. */
static int clear_dir(const struct mat *mt, int dfd, const char *path, struct hoist_error *err)
{
	return snap_clear_except(dfd, strcmp(path, "/") == 0 ? "" : path, mt->a->skip, 1, err);
}

static int copy_entry(struct mat *mt, int sdir, int ddir, const char *name, const char *path,
		      unsigned depth, struct hoist_error *err)
{
	struct stat st, dst;
	int r;
	if (snap_skipped(mt->a->skip, path))
		return 0;
	if (fstatat(sdir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return hoist_error_set(err, -errno, "stat '%s': %s", path, strerror(errno));
	bool dexists = fstatat(ddir, name, &dst, AT_SYMLINK_NOFOLLOW) == 0;
	if (is_whiteout(&st) && dexists && S_ISDIR(dst.st_mode) && skip_below(mt->a->skip, path)) {
		_cleanup_close_ int fd =
		    openat(ddir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return hoist_error_set(err, -errno, "opening '%s': %s", path,
					       strerror(errno));
		return snap_clear_except(fd, path, mt->a->skip, depth, err);
	}
	if (is_whiteout(&st)) {
		r = dexists ? hoist_rm_rf_at(ddir, name) : 0;
		return r < 0 ? hoist_error_set(err, r, "removing '%s': %s", path, strerror(-r)) : 0;
	}
	/* A kept path lies below (in-place): the image cannot replace its
	 * directory, nor delete it (a mount point's parent stays). */
	if (dexists && S_ISDIR(dst.st_mode) && skip_below(mt->a->skip, path) &&
	    !(S_ISDIR(st.st_mode) && !is_whiteout(&st)))
		return 0;
	if (dexists && !(S_ISDIR(st.st_mode) && S_ISDIR(dst.st_mode))) {
		if ((r = hoist_rm_rf_at(ddir, name)) < 0)
			return hoist_error_set(err, r, "removing '%s': %s", path, strerror(-r));
		dexists = false;
	}
	mt->out->entries++;

	if (S_ISDIR(st.st_mode)) {
		if (depth >= MAX_DEPTH)
			return hoist_error_set(err, -ELOOP, "'%s': too deep", path);
		if (!dexists && mkdirat(ddir, name, 0700) < 0)
			return hoist_error_set(err, -errno, "mkdir '%s': %s", path,
					       strerror(errno));
		_cleanup_close_ int sfd =
		    openat(sdir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		_cleanup_close_ int dfd =
		    openat(ddir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sfd < 0 || dfd < 0)
			return hoist_error_set(err, -errno, "opening '%s': %s", path,
					       strerror(errno));
		if (dexists && fd_opaque(sfd) && (r = clear_dir(mt, dfd, path, err)) < 0)
			return r;
		if ((r = copy_dir(mt, sfd, dfd, path, depth + 1, err)) < 0)
			return r;
		copy_xattrs(sfd, dfd);
		/* Times last: filling the directory changed them. */
		set_meta(mt, ddir, name, &st);
		return 0;
	}
	if (S_ISREG(st.st_mode)) {
		if (st.st_nlink > 1)
			for (size_t i = 0; i < mt->n_links; i++)
				if (mt->links[i].ino == st.st_ino) {
					if (linkat(mt->rootfd, mt->links[i].path, ddir, name, 0) <
					    0)
						return hoist_error_set(err, -errno, "link '%s': %s",
								       path, strerror(errno));
					return 0;
				}
		_cleanup_close_ int sfd = openat(sdir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (sfd < 0)
			return hoist_error_set(err, -errno, "opening '%s': %s", path,
					       strerror(errno));
		_cleanup_close_ int dfd =
		    openat(ddir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (dfd < 0)
			return hoist_error_set(err, -errno, "creating '%s': %s", path,
					       strerror(errno));
		if ((r = copy_data(mt, sfd, dfd, path, err)) < 0)
			return r;
		copy_xattrs(sfd, dfd);
		if (st.st_nlink > 1) {
			mt->links =
			    hoist_xrealloc(mt->links, (mt->n_links + 1) * sizeof(*mt->links));
			mt->links[mt->n_links++] =
			    (struct link_seen){st.st_ino, hoist_xstrdup(path)};
		}
	} else if (S_ISLNK(st.st_mode)) {
		char target[REC_LINK_MAX + 1];
		ssize_t n = readlinkat(sdir, name, target, sizeof(target) - 1);
		if (n < 0)
			return hoist_error_set(err, -errno, "readlink '%s': %s", path,
					       strerror(errno));
		target[n] = '\0';
		if (symlinkat(target, ddir, name) < 0)
			return hoist_error_set(err, -errno, "symlink '%s': %s", path,
					       strerror(errno));
	} else if (S_ISFIFO(st.st_mode)) {
		if (mknodat(ddir, name, S_IFIFO | 0600, 0) < 0)
			return hoist_error_set(err, -errno, "mkfifo '%s': %s", path,
					       strerror(errno));
	} else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
		/* Only real root has device nodes in its lowers (rootfs.c). */
		if (mt->a->idmap->mode != HOIST_IDMODE_ROOT)
			return 0;
		if (mknodat(ddir, name, st.st_mode & (S_IFMT | 07777), st.st_rdev) < 0)
			return hoist_error_set(err, -errno, "mknod '%s': %s", path,
					       strerror(errno));
	} else {
		return 0; /* sockets: no tar form, nothing to carry */
	}
	set_meta(mt, ddir, name, &st);
	return 0;
}

static int copy_dir(struct mat *mt, int sdir, int ddir, const char *rel, unsigned depth,
		    struct hoist_error *err)
{
	_cleanup_strv_ struct hoist_strv names = HOIST_STRV_INIT;
	int r = list_sorted(sdir, &names);
	if (r < 0)
		return hoist_error_set(err, r, "listing '%s': %s", rel[0] ? rel : "/",
				       strerror(-r));
	for (size_t i = 0; i < names.n; i++) {
		_cleanup_free_ char *path = join(rel, names.v[i]);
		if ((r = copy_entry(mt, sdir, ddir, names.v[i], path, depth, err)) < 0)
			return r;
	}
	return 0;
}

/* ---- the index: what the tree held before the command ---------------- */

struct rec_writer {
	const char *const *skip;
	int fd;
	struct hoist_buf b;
	uint64_t n;
};

static int rec_flush(struct rec_writer *w)
{
	if (w->b.len && hoist_write_all(w->fd, w->b.data, w->b.len) < 0)
		return -errno;
	hoist_buf_reset(&w->b);
	return 0;
}

static void rec_fill(struct rec_hdr *h, const struct stat *st, unsigned depth)
{
	memset(h, 0, sizeof(*h));
	h->size = (uint64_t)st->st_size;
	h->ino = (uint64_t)st->st_ino;
	h->mtime_sec = st->st_mtim.tv_sec;
	h->mtime_nsec = (uint32_t)st->st_mtim.tv_nsec;
	h->ctime_sec = st->st_ctim.tv_sec;
	h->ctime_nsec = (uint32_t)st->st_ctim.tv_nsec;
	h->mode = st->st_mode;
	h->uid = st->st_uid;
	h->gid = st->st_gid;
	h->depth = depth;
}

/* Pre-order, names sorted: the order the diff walk visits the tree in. */
static int record_dir(struct rec_writer *w, int dfd, const char *rel, unsigned depth,
		      struct hoist_error *err)
{
	_cleanup_strv_ struct hoist_strv names = HOIST_STRV_INIT;
	int r = list_sorted(dfd, &names);
	if (r < 0)
		return hoist_error_set(err, r, "listing '%s': %s", rel[0] ? rel : "/",
				       strerror(-r));
	for (size_t i = 0; i < names.n; i++) {
		const char *name = names.v[i];
		_cleanup_free_ char *path = join(rel, name);
		struct stat st;
		struct rec_hdr h;
		if (snap_skipped(w->skip, path))
			continue;
		char target[REC_LINK_MAX + 1];
		if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return hoist_error_set(err, -errno, "stat '%s': %s", path, strerror(errno));
		rec_fill(&h, &st, depth);
		if (S_ISDIR(st.st_mode))
			dir_btime(dfd, name, &h.btime_sec, &h.btime_nsec);
		h.name_len = (uint32_t)strlen(name);
		if (S_ISLNK(st.st_mode)) {
			ssize_t n = readlinkat(dfd, name, target, sizeof(target) - 1);
			if (n < 0)
				return hoist_error_set(err, -errno, "readlink '%s': %s", path,
						       strerror(errno));
			h.link_len = (uint32_t)n;
		}
		if (hoist_buf_add(&w->b, &h, sizeof(h)) < 0 ||
		    hoist_buf_add(&w->b, name, h.name_len) < 0 ||
		    hoist_buf_add(&w->b, target, h.link_len) < 0)
			return hoist_error_set(err, -E2BIG, "snapshot index: buffer full");
		if (++w->n > HOIST_TAR_MAX_ENTRIES)
			return hoist_error_set(err, -E2BIG,
					       "the image has more than %llu entries to snapshot",
					       (unsigned long long)HOIST_TAR_MAX_ENTRIES);
		if (w->b.len >= (1u << 20) && (r = rec_flush(w)) < 0)
			return hoist_error_set(err, r, "writing the snapshot index: %s",
					       strerror(-r));
		if (S_ISDIR(st.st_mode)) {
			if (depth >= MAX_DEPTH)
				return hoist_error_set(err, -ELOOP, "'%s': too deep", path);
			_cleanup_close_ int fd =
			    openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0)
				return hoist_error_set(err, -errno, "opening '%s': %s", path,
						       strerror(errno));
			if ((r = record_dir(w, fd, path, depth + 1, err)) < 0)
				return r;
		}
	}
	return 0;
}

int snap_materialize_fn(void *arg, void *out, struct hoist_error *err)
{
	const struct snap_copy_args *a = arg;
	struct snap_copy_out *o = out;
	struct mat mt = {.a = a, .out = o};
	int r = 0;

	memset(o, 0, sizeof(*o));
	_cleanup_close_ int rootfd = open(a->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return hoist_error_set(err, -errno, "opening '%s': %s", a->root, strerror(errno));
	mt.rootfd = rootfd;
	struct stat top;
	bool have_top = false;
	for (size_t i = 0; r == 0 && a->lowers[i]; i++) {
		_cleanup_close_ int sfd = open(a->lowers[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (sfd < 0) {
			r = hoist_error_set(err, -errno, "opening '%s': %s", a->lowers[i],
					    strerror(errno));
			break;
		}
		if (fd_opaque(sfd))
			r = clear_dir(&mt, rootfd, "/", err);
		if (r == 0)
			r = copy_dir(&mt, sfd, rootfd, "", 1, err);
		if (r == 0 && fstat(sfd, &top) == 0)
			have_top = true;
		for (size_t j = 0; j < mt.n_links; j++)
			free(mt.links[j].path);
		free(mt.links);
		mt.links = NULL;
		mt.n_links = 0;
	}
	if (r < 0)
		return hoist_error_prefix(err, "copying the image into '%s'", a->root);
	/* The merged root's own metadata is the top lower's (as overlay shows it). */
	if (have_top) {
		if (a->idmap->mode != HOIST_IDMODE_SINGLE)
			(void)fchown(rootfd, top.st_uid, top.st_gid);
		(void)fchmod(rootfd, top.st_mode & 07777);
		struct timespec ts[2] = {top.st_atim, top.st_mtim};
		(void)futimens(rootfd, ts);
	}

	return a->index ? snap_record(a->root, a->index, a->skip, err) : 0;
}

int snap_record(const char *root, const char *index, const char *const *skip,
		struct hoist_error *err)
{
	int r = 0;
	_cleanup_close_ int rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return hoist_error_set(err, -errno, "opening '%s': %s", root, strerror(errno));
	struct rec_writer w = {.fd = -1, .skip = skip};
	hoist_buf_init(&w.b, (size_t)4 << 20);
	w.fd = open(index, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (w.fd < 0)
		r = hoist_error_set(err, -errno, "creating '%s': %s", index, strerror(errno));
	if (r == 0)
		r = record_dir(&w, rootfd, "", 1, err);
	if (r == 0 && (r = rec_flush(&w)) < 0)
		hoist_error_set(err, r, "writing '%s': %s", index, strerror(-r));
	if (w.fd >= 0)
		close(w.fd);
	hoist_buf_release(&w.b);
	return r;
}

/* ---- the change set ------------------------------------------------- */

static void recs_free(struct rec *recs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(recs[i].name);
		free(recs[i].link);
	}
	free(recs);
}

static int read_exact(int fd, void *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return got == 0 ? 0 : -EBADMSG;
		got += (size_t)n;
	}
	return 1;
}

/* Load the index and link each directory record to the end of its subtree. */
static int index_load(const char *path, struct rec **ret, size_t *ret_n, struct hoist_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return hoist_error_set(err, -errno, "opening '%s': %s", path, strerror(errno));
	struct rec *recs = NULL;
	size_t n = 0, alloc = 0, stack[MAX_DEPTH + 1], depth = 0;
	int r;
	for (;;) {
		struct rec_hdr h;
		if ((r = read_exact(fd, &h, sizeof(h))) <= 0)
			break;
		r = -EBADMSG;
		if (h.name_len == 0 || h.name_len > REC_NAME_MAX || h.link_len > REC_LINK_MAX ||
		    h.depth == 0 || h.depth > depth + 1 || h.depth > MAX_DEPTH ||
		    n >= HOIST_TAR_MAX_ENTRIES)
			break;
		if (n == alloc) {
			alloc = alloc ? alloc * 2 : 1024;
			recs = hoist_xrealloc(recs, alloc * sizeof(*recs));
		}
		struct rec *e = &recs[n];
		memset(e, 0, sizeof(*e));
		e->h = h;
		e->name = hoist_xmalloc(h.name_len + 1);
		e->link = h.link_len || S_ISLNK(h.mode) ? hoist_xmalloc(h.link_len + 1) : NULL;
		n++;
		if (read_exact(fd, e->name, h.name_len) != 1 ||
		    (h.link_len && read_exact(fd, e->link, h.link_len) != 1))
			break;
		e->name[h.name_len] = '\0';
		if (e->link)
			e->link[h.link_len] = '\0';
		/* Close the subtrees this record is not inside of. */
		while (depth >= h.depth)
			recs[stack[--depth]].end = n - 1;
		stack[depth++] = n - 1;
		r = 1;
	}
	if (r < 0) {
		recs_free(recs, n);
		return hoist_error_set(err, r, "reading the snapshot index '%s': %s", path,
				       r == -EBADMSG ? "malformed" : strerror(-r));
	}
	while (depth > 0)
		recs[stack[--depth]].end = n;
	*ret = recs;
	*ret_n = n;
	return 0;
}

struct dwalk {
	const struct snap_diff_args *a;
	struct rec *recs;
	struct layer_emit em;
};

static bool differs(const struct rec *b, const struct stat *st, const char *link)
{
	if (b->h.mode != st->st_mode || b->h.uid != st->st_uid || b->h.gid != st->st_gid ||
	    b->h.ino != (uint64_t)st->st_ino || b->h.size != (uint64_t)st->st_size ||
	    b->h.mtime_sec != st->st_mtim.tv_sec || b->h.mtime_nsec != st->st_mtim.tv_nsec ||
	    b->h.ctime_sec != st->st_ctim.tv_sec || b->h.ctime_nsec != st->st_ctim.tv_nsec)
		return true;
	return link && (!b->link || strcmp(b->link, link) != 0);
}

static int diff_dir(struct dwalk *wk, int dfd, const char *rel, size_t bfirst, size_t bend,
		    unsigned depth, struct hoist_error *err);

/* Entry name (path) as it is now; b: its record from before, or NULL (new). */
static int diff_entry(struct dwalk *wk, int dfd, const char *name, const char *path,
		      const struct rec *b, unsigned depth, struct hoist_error *err)
{
	struct stat st;
	int r;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return hoist_error_set(err, -errno, "stat '%s': %s", path, strerror(errno));
	struct layer_emit *em = &wk->em;
	struct hoist_entry e;
	emit_entry_init(em, &st, path, &e);
	bool stub = (!b || wk->a->stubs_in_index) && emit_is_stub(em, path);

	if (S_ISDIR(st.st_mode)) {
		if (depth >= MAX_DEPTH)
			return hoist_error_set(err, -ELOOP, "'%s': too deep", path);
		_cleanup_close_ int fd =
		    openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return hoist_error_set(err, -errno, "opening '%s': %s", path,
					       strerror(errno));
		/* The same directory (inode) as before: compare what is below.
		 * Else it replaced a file or a deleted directory, which overlayfs
		 * marks opaque; everything below is new. */
		bool same = b && S_ISDIR(b->h.mode) && b->h.ino == (uint64_t)st.st_ino;
		if (same && b->h.btime_sec) {
			int64_t bsec;
			uint32_t bnsec;
			dir_btime(dfd, name, &bsec, &bnsec);
			same = bsec == b->h.btime_sec && bnsec == b->h.btime_nsec;
		}
		bool changed = !same || differs(b, &st, NULL);
		/* Making the hidden stub in an image directory changed its times,
		 * nothing else (as in the overlay walk, diff.c). */
		if (changed && same && emit_is_hidden_parent(em, path))
			changed = b->h.mode != st.st_mode || b->h.uid != st.st_uid ||
				  b->h.gid != st.st_gid;
		size_t mark = em->n_pending;
		/* Unchanged (or a stub): written only if something below is. */
		if ((r = emit_dir(em, &e, !changed || stub, b && !same, err)) < 0)
			return r;
		size_t first = 0, end = 0;
		if (same) {
			first = (size_t)(b - wk->recs) + 1;
			end = b->end;
		}
		if ((r = diff_dir(wk, fd, path, first, end, depth + 1, err)) < 0)
			return r;
		emit_drop_pending(em, mark);
		return 0;
	}

	char target[REC_LINK_MAX + 1];
	if (S_ISLNK(st.st_mode)) {
		ssize_t n = readlinkat(dfd, name, target, sizeof(target) - 1);
		if (n < 0)
			return hoist_error_set(err, -errno, "readlink '%s': %s", path,
					       strerror(errno));
		target[n] = '\0';
	}
	if (b && !differs(b, &st, S_ISLNK(st.st_mode) ? target : NULL))
		return 0;
	if (stub && S_ISREG(st.st_mode) && st.st_size == 0)
		return 0;
	return emit_nondir(em, dfd, name, &st, &e, S_ISLNK(st.st_mode) ? target : NULL, err);
}

/*
 * Merge the directory's sorted names with its children in the index
 * (records bfirst..bend, in the same order): a name only in the index was
 * deleted and becomes a whiteout at the place an overlay whiteout would
 * have sorted.
 */
static int diff_dir(struct dwalk *wk, int dfd, const char *rel, size_t bfirst, size_t bend,
		    unsigned depth, struct hoist_error *err)
{
	_cleanup_strv_ struct hoist_strv names = HOIST_STRV_INIT;
	int r = list_sorted(dfd, &names);
	if (r < 0)
		return hoist_error_set(err, r, "listing '%s': %s", rel[0] ? rel : "/",
				       strerror(-r));
	size_t i = 0, j = bfirst;
	while (i < names.n || j < bend) {
		int c = i == names.n ? 1 : j >= bend ? -1 : strcmp(names.v[i], wk->recs[j].name);
		const char *name = c <= 0 ? names.v[i] : wk->recs[j].name;
		_cleanup_free_ char *path = join(rel, name);
		if (c < 0 && snap_skipped(wk->a->skip, path)) {
			i++;
			continue;
		}
		if (c > 0) {
			if ((r = emit_whiteout(&wk->em, path, err)) < 0)
				return r;
		} else if ((r = diff_entry(wk, dfd, name, path, c == 0 ? &wk->recs[j] : NULL, depth,
					   err)) < 0) {
			return r;
		}
		if (c <= 0)
			i++;
		if (c >= 0)
			j = wk->recs[j].end > j ? wk->recs[j].end : j + 1;
	}
	return 0;
}

int snap_diff_fn(void *arg, void *out, struct hoist_error *err)
{
	const struct snap_diff_args *a = arg;
	struct upper_diff_out *o = out;
	struct dwalk wk = {.a = a,
			   .em = {.stubs = a->stubs, .hidden = a->hidden, .mode = a->idmap->mode}};
	size_t n = 0;
	int r;

	_cleanup_close_ int fd = open(a->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return hoist_error_set(err, -errno, "opening '%s': %s", a->root, strerror(errno));
	if ((r = index_load(a->index, &wk.recs, &n, err)) < 0)
		return r;
	r = hoist_layer_writer_new(a->store, a->layer_opts, &wk.em.w, err);
	if (r == 0)
		r = diff_dir(&wk, fd, "", 0, n, 1, err);
	emit_release(&wk.em);
	recs_free(wk.recs, n);
	if (r < 0) {
		if (wk.em.w)
			hoist_layer_writer_abort(wk.em.w);
		return hoist_error_prefix(err, "writing the layer of the run");
	}
	o->empty = wk.em.n_written == 0;
	return hoist_layer_writer_finish(wk.em.w, &o->desc, o->diff_id, err);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one unpacker: every path that writes a layer's (or any untrusted
 * tar's) entries to disk goes through hoist_layer_unpack(). Snapshots
 * (snapshot.c) and the sandbox's per-layer root filesystems
 * (src/sandbox/rootfs.c) used to have an unpacker each, and only one of them
 * checked a whiteout's name before acting on it: ".wh..." (a whiteout of
 * "..") made the other delete the parent of the layer's directory, every
 * other layer's tree with it. Now one rule set decides what an entry is
 * (hoist_whiteout_parse) before any file system call, and the same pass
 * (paths.c) that refuses a path through a symlink at index time refuses it
 * here too.
 *
 * Paths are opened below a directory fd with openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS): one system call that cannot leave the root nor
 * follow a symlink the tar planted. Where openat2 is missing (before 5.6, or
 * a seccomp filter refusing it), the walk goes one component at a time with
 * O_NOFOLLOW, which is the same rule. The last component is always acted on
 * with an *at() call relative to its parent's fd, and it is never "", "."
 * or "..": tar paths are cleaned by the reader, and whiteout names are
 * checked before they are used.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "layer-private.h"

#define WH_PREFIX ".wh."
#define WH_META_PREFIX ".wh..wh."
#define WH_OPAQUE ".wh..wh..opq"

/* ---- the whiteout rules ------------------------------------------------ */

int hoist_whiteout_parse(const char *path, char **ret_target, struct hoist_error *err)
{
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	size_t dlen = slash ? (size_t)(slash - path) : 0;
	const char *victim;

	/* A directory on the way named like a whiteout: "a/.wh.b/c" would
	 * create inside what the same layer says is deleted, and the
	 * directory itself reads as a whiteout once written into a layer. */
	for (const char *s = path; s < base;) {
		const char *next = strchr(s, '/');
		if (hoist_startswith(s, WH_PREFIX))
			return hoist_error_set(err, -EBADMSG,
					       "entry '%.512s': bad whiteout: a directory on its "
					       "path is named like a whiteout ('.wh.')",
					       path);
		s = next + 1;
	}
	if (!hoist_startswith(base, WH_PREFIX)) {
		if (ret_target)
			*ret_target = NULL;
		return HOIST_WHITEOUT_NONE;
	}
	if (strcmp(base, WH_OPAQUE) == 0) {
		if (ret_target)
			*ret_target = hoist_xstrndup(path, dlen);
		return HOIST_WHITEOUT_OPAQUE;
	}
	if (hoist_startswith(base, WH_META_PREFIX)) {
		/* AUFS metadata (".wh..wh.plnk", ".wh..wh.aufs"): Docker skips it. */
		if (ret_target)
			*ret_target = NULL;
		return HOIST_WHITEOUT_META;
	}
	victim = base + strlen(WH_PREFIX);
	if (!victim[0] || strcmp(victim, ".") == 0 || strcmp(victim, "..") == 0)
		return hoist_error_set(
		    err, -EBADMSG,
		    "entry '%.512s': bad whiteout: it names %s, not a file in its "
		    "directory",
		    path,
		    !victim[0]	? "nothing"
		    : victim[1] ? "the parent directory ('..')"
				: "the directory itself ('.')");
	if (ret_target)
		*ret_target = dlen ? hoist_xasprintf("%.*s/%s", (int)dlen, path, victim)
				   : hoist_xstrdup(victim);
	return HOIST_WHITEOUT_FILE;
}

/* ---- safe tree operations --------------------------------------------- */

struct unpacker {
	int rootfd;
	const char *name; /* the layer, for errors */
	const struct hoist_unpack_ops *ops;
	unsigned flags;
	bool no_openat2;
	char *parent_path; /* cached parent directory and its fd */
	int parent_fd;
	struct dir_time {
		char *path;
		int64_t mtime;
	} * times;
	size_t n_times;
	char buf[65536];
};

static void parent_cache_drop(struct unpacker *u)
{
	if (u->parent_fd >= 0)
		close(u->parent_fd);
	u->parent_fd = -1;
	free(u->parent_path);
	u->parent_path = NULL;
}

static int through_error(struct unpacker *u, const char *entry, struct hoist_error *err)
{
	return hoist_error_set(err, -ELOOP,
			       "'%s': entry '%.512s': path goes through a symlink or a "
			       "non-directory",
			       u->name, entry);
}

/* One component at a time with O_NOFOLLOW, creating missing directories
 * (0755, as a tar extractor would) when create. */
static int walk_beneath(struct unpacker *u, const char *dir, bool create, const char *entry,
			struct hoist_error *err)
{
	int fd = fcntl(u->rootfd, F_DUPFD_CLOEXEC, 3);
	const char *s = dir;

	if (fd < 0)
		return hoist_error_set(err, -errno, "'%s': dup: %s", u->name, strerror(errno));
	while (*s) {
		const char *slash = strchr(s, '/');
		size_t n = slash ? (size_t)(slash - s) : strlen(s);
		_cleanup_free_ char *comp = hoist_xstrndup(s, n);
		int next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT && create) {
			if (mkdirat(fd, comp, 0755) < 0 && errno != EEXIST) {
				int e = errno;
				close(fd);
				return hoist_error_set(err, -e,
						       "'%s': entry '%.512s': mkdir '%s': %s",
						       u->name, entry, dir, strerror(e));
			}
			next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			/* A parent the layer does not list: 0755, as a tar
			 * unpacker makes it, whatever our umask. */
			if (next >= 0 && fchmod(next, 0755) < 0) {
				int e = errno;
				close(next);
				close(fd);
				return hoist_error_set(err, -e,
						       "'%s': entry '%.512s': chmod '%s': %s",
						       u->name, entry, dir, strerror(e));
			}
		}
		if (next < 0) {
			int e = errno;
			close(fd);
			if (e == ELOOP || e == ENOTDIR)
				return through_error(u, entry, err);
			if (e == ENOENT && !create)
				return -ENOENT; /* no message: callers may expect it */
			return hoist_error_set(err, -e, "'%s': entry '%.512s': open '%s': %s",
					       u->name, entry, dir, strerror(e));
		}
		close(fd);
		fd = next;
		s += n;
		if (*s == '/')
			s++;
	}
	return fd;
}

/*
 * Open directory `dir` (cleaned, relative, "" for the root) below the root,
 * never through a symlink. Returns a new fd; -ENOENT without a message when
 * it is missing and !create.
 */
static int open_beneath(struct unpacker *u, const char *dir, bool create, const char *entry,
			struct hoist_error *err)
{
	if (!dir[0]) {
		int fd = fcntl(u->rootfd, F_DUPFD_CLOEXEC, 3);
		return fd < 0
			   ? hoist_error_set(err, -errno, "'%s': dup: %s", u->name, strerror(errno))
			   : fd;
	}
	if (!u->no_openat2) {
		struct open_how how = {.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
				       .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
						  RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV};
		long fd = syscall(SYS_openat2, u->rootfd, dir, &how, sizeof(how));
		if (fd >= 0)
			return (int)fd;
		if (errno == ELOOP || errno == ENOTDIR || errno == EXDEV)
			return through_error(u, entry, err);
		if (errno == ENOSYS || errno == EPERM || errno == E2BIG)
			u->no_openat2 = true; /* old kernel or a seccomp filter */
		else if (errno != ENOENT && errno != EAGAIN)
			return hoist_error_set(err, -errno, "'%s': entry '%.512s': open '%s': %s",
					       u->name, entry, dir, strerror(errno));
		else if (errno == ENOENT && !create)
			return -ENOENT;
	}
	return walk_beneath(u, dir, create, entry, err);
}

/* The parent of an entry, via the cache when consecutive entries share it. */
static int parent_fd(struct unpacker *u, const char *parent, const char *entry,
		     struct hoist_error *err)
{
	int fd;
	if (u->parent_path && strcmp(u->parent_path, parent) == 0)
		return u->parent_fd;
	parent_cache_drop(u);
	fd = open_beneath(u, parent, true, entry, err);
	if (fd < 0)
		return fd;
	u->parent_path = hoist_xstrdup(parent);
	u->parent_fd = fd;
	return fd;
}

/*
 * Make room at (pfd, base) for a new entry; a directory stays for a
 * directory (*ret_is_dir). pfd is the cached parent: removing one of its
 * children leaves it valid, and the cache never points below it.
 */
static int clear_slot(int pfd, const char *base, bool for_dir, bool *ret_is_dir)
{
	struct stat st;
	*ret_is_dir = false;
	if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (S_ISDIR(st.st_mode)) {
		if (for_dir) {
			*ret_is_dir = true;
			return 0;
		}
		return hoist_rm_rf_at(pfd, base);
	}
	return unlinkat(pfd, base, 0) < 0 ? -errno : 0;
}

/* ---- entries ----------------------------------------------------------- */

static bool xattr_allowed(const char *name)
{
	/* A layer must never forge overlay metadata (opaque, redirect) nor
	 * set what only the kernel or real root may. */
	return !hoist_startswith(name, "trusted.") && !hoist_startswith(name, "system.") &&
	       !hoist_startswith(name, "user.overlay.");
}

/* Ownership, mode, xattrs and time of (pfd, base), as the flags say. */
static int apply_meta(struct unpacker *u, int pfd, const char *base, const struct hoist_entry *e,
		      struct hoist_error *err)
{
	bool exact = u->flags & HOIST_UNPACK_EXACT_MODES;
	bool link = e->type == HOIST_ENTRY_SYMLINK;
	mode_t m = e->mode & (exact ? 07777 : 0777);

	if (u->flags & HOIST_UNPACK_OWNERSHIP)
		/* Ids outside the mapping fail with EINVAL; the entry stays root's. */
		(void)fchownat(pfd, base, e->uid, e->gid, AT_SYMLINK_NOFOLLOW);
	if (!link) {
		if (!exact)
			m |= e->type == HOIST_ENTRY_DIR ? 0700 : 0600;
		if (fchmodat(pfd, base, m, 0) < 0)
			return hoist_error_set(err, -errno, "'%s': entry '%.512s': chmod: %s",
					       u->name, e->path, strerror(errno));
	}
	if ((u->flags & HOIST_UNPACK_XATTRS) && !link && e->n_xattrs) {
		char path[64];
		_cleanup_close_ int fd = openat(pfd, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		for (size_t i = 0; fd >= 0 && i < e->n_xattrs; i++)
			if (xattr_allowed(e->xattrs[i].name))
				(void)lsetxattr(path, e->xattrs[i].name, e->xattrs[i].value,
						e->xattrs[i].len, 0);
	}
	if (e->type == HOIST_ENTRY_DIR) {
		if (u->flags & HOIST_UNPACK_ALL_TIMES) {
			/* set last: creating the children changes it */
			u->times = hoist_xrealloc(u->times, (u->n_times + 1) * sizeof(*u->times));
			u->times[u->n_times].path = hoist_xstrdup(e->path);
			u->times[u->n_times++].mtime = e->mtime;
		}
	} else if (!link || (u->flags & HOIST_UNPACK_ALL_TIMES)) {
		struct timespec ts[2] = {{e->mtime, 0}, {e->mtime, 0}};
		(void)utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW);
	}
	return 0;
}

static int copy_content(struct unpacker *u, struct hoist_tar_reader *r, int fd,
			const struct hoist_entry *e, struct hoist_error *err)
{
	for (;;) {
		ssize_t n = hoist_tar_reader_read(r, u->buf, sizeof(u->buf), err);
		if (n < 0)
			return (int)n;
		if (n == 0)
			return 0;
		int rc = hoist_write_all(fd, u->buf, (size_t)n);
		if (rc < 0)
			return hoist_error_set(err, rc, "'%s': entry '%.512s': write: %s", u->name,
					       e->path, strerror(-rc));
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

static int make_hardlink(struct unpacker *u, int dfd, const char *base, const struct hoist_entry *e,
			 struct hoist_error *err)
{
	const char *slash = strrchr(e->linkname, '/');
	const char *tbase = slash ? slash + 1 : e->linkname;
	_cleanup_free_ char *tdir =
	    slash ? hoist_xstrndup(e->linkname, (size_t)(slash - e->linkname)) : hoist_xstrdup("");
	_cleanup_close_ int tfd = open_beneath(u, tdir, false, e->path, err);
	bool strict = u->flags & HOIST_UNPACK_STRICT_LINKS;

	if (tfd == -ENOENT && !strict)
		return 0; /* target not on disk (a device node): the index has it */
	if (tfd < 0)
		return tfd == -ENOENT ? hoist_error_set(err, -ENOENT,
							"'%s': entry '%.512s': hard link to "
							"'%.512s': target not in this layer",
							u->name, e->path, e->linkname)
				      : tfd;
	/* No AT_SYMLINK_FOLLOW: a link to a symlink links the symlink itself. */
	if (linkat(tfd, tbase, dfd, base, 0) == 0)
		return 0;
	if (errno == ENOENT && !strict)
		return 0;
	if (errno == ENOENT)
		return hoist_error_set(err, -ENOENT,
				       "'%s': entry '%.512s': hard link to '%.512s': target not in "
				       "this layer",
				       u->name, e->path, e->linkname);
	if (errno != EMLINK && errno != EXDEV && errno != EPERM && errno != EOPNOTSUPP)
		return hoist_error_set(err, -errno, "'%s': entry '%.512s': hard link: %s", u->name,
				       e->path, strerror(errno));
	/* Filesystems without hardlinks (or EMLINK): a copy is good enough here. */
	_cleanup_close_ int in = openat(tfd, tbase, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	_cleanup_close_ int out = -1;
	int rc;
	if (in < 0)
		return hoist_error_set(err, -errno, "'%s': entry '%.512s': hard link: %s", u->name,
				       e->path, strerror(errno));
	out = openat(dfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0 || (rc = copy_fd(in, out)) < 0) {
		rc = out < 0 ? -errno : rc;
		return hoist_error_set(err, rc, "'%s': entry '%.512s': copy for a hard link: %s",
				       u->name, e->path, strerror(-rc));
	}
	return apply_meta(u, dfd, base, e, err);
}

static int make_entry(struct unpacker *u, struct hoist_tar_reader *r, const struct hoist_entry *e,
		      const char *parent, const char *base, struct hoist_error *err)
{
	int dfd = parent_fd(u, parent, e->path, err);
	bool is_dir;
	int rc;

	if (dfd < 0)
		return dfd;
	if ((e->type == HOIST_ENTRY_CHAR || e->type == HOIST_ENTRY_BLOCK) &&
	    !(u->flags & HOIST_UNPACK_DEVICES))
		return 0; /* rootless: the index has it (and /dev is a tmpfs) */
	if (e->type == HOIST_ENTRY_FIFO && !(u->flags & HOIST_UNPACK_FIFOS))
		return 0;
	rc = clear_slot(dfd, base, e->type == HOIST_ENTRY_DIR, &is_dir);
	if (rc < 0)
		return hoist_error_set(err, rc, "'%s': entry '%.512s': replacing what is there: %s",
				       u->name, e->path, strerror(-rc));
	switch (e->type) {
	case HOIST_ENTRY_DIR:
		if (!is_dir && mkdirat(dfd, base, 0700) < 0)
			return hoist_error_set(err, -errno, "'%s': entry '%.512s': mkdir: %s",
					       u->name, e->path, strerror(errno));
		return apply_meta(u, dfd, base, e, err);
	case HOIST_ENTRY_FILE: {
		_cleanup_close_ int fd =
		    openat(dfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			return hoist_error_set(err, -errno, "'%s': entry '%.512s': create: %s",
					       u->name, e->path, strerror(errno));
		rc = copy_content(u, r, fd, e, err);
		if (rc < 0)
			return rc;
		return apply_meta(u, dfd, base, e, err);
	}
	case HOIST_ENTRY_SYMLINK:
		if (symlinkat(e->linkname ? e->linkname : "", dfd, base) < 0)
			return hoist_error_set(err, -errno, "'%s': entry '%.512s': symlink: %s",
					       u->name, e->path, strerror(errno));
		return apply_meta(u, dfd, base, e, err);
	case HOIST_ENTRY_HARDLINK:
		return make_hardlink(u, dfd, base, e, err);
	case HOIST_ENTRY_FIFO:
	case HOIST_ENTRY_CHAR:
	case HOIST_ENTRY_BLOCK: {
		mode_t t = e->type == HOIST_ENTRY_FIFO	 ? S_IFIFO
			   : e->type == HOIST_ENTRY_CHAR ? S_IFCHR
							 : S_IFBLK;
		if (mknodat(dfd, base, t | 0600, makedev(e->devmajor, e->devminor)) < 0)
			return hoist_error_set(err, -errno, "'%s': entry '%.512s': mknod: %s",
					       u->name, e->path, strerror(errno));
		return apply_meta(u, dfd, base, e, err);
	}
	}
	return 0;
}

/* A whiteout (its name checked) or opaque marker, through the caller's hooks. */
static int make_whiteout(struct unpacker *u, const struct hoist_entry *e, enum hoist_whiteout kind,
			 const char *parent, const char *target, struct hoist_error *err)
{
	const struct hoist_unpack_ops *o = u->ops;
	int dfd, rc;

	if (kind == HOIST_WHITEOUT_FILE && !o->whiteout)
		return 0;
	if (kind == HOIST_WHITEOUT_OPAQUE && !o->opaque)
		return 0;
	if (kind != HOIST_WHITEOUT_FILE && kind != HOIST_WHITEOUT_OPAQUE)
		return 0;
	dfd = parent_fd(u, parent, e->path, err);
	if (dfd < 0)
		return dfd;
	if (kind == HOIST_WHITEOUT_OPAQUE)
		rc = o->opaque(o->ctx, dfd, err);
	else {
		const char *victim = strrchr(target, '/');
		bool unused;
		victim = victim ? victim + 1 : target;
		/* an earlier entry of this layer at the same name goes */
		rc = clear_slot(dfd, victim, false, &unused);
		if (rc < 0)
			return hoist_error_set(err, rc, "'%s': entry '%.512s': removing '%s': %s",
					       u->name, e->path, target, strerror(-rc));
		rc = o->whiteout(o->ctx, dfd, victim, err);
	}
	if (rc < 0)
		return hoist_error_prefix(err, "'%s': entry '%.512s'", u->name, e->path);
	return 0;
}

static void set_dir_times(struct unpacker *u)
{
	for (size_t i = u->n_times; i-- > 0;) {
		const char *slash = strrchr(u->times[i].path, '/');
		_cleanup_free_ char *dir =
		    slash ? hoist_xstrndup(u->times[i].path, (size_t)(slash - u->times[i].path))
			  : hoist_xstrdup("");
		_cleanup_close_ int pfd = open_beneath(u, dir, false, u->times[i].path, NULL);
		struct timespec ts[2] = {{u->times[i].mtime, 0}, {u->times[i].mtime, 0}};
		if (pfd >= 0)
			(void)utimensat(pfd, slash ? slash + 1 : u->times[i].path, ts,
					AT_SYMLINK_NOFOLLOW);
	}
}

int hoist_layer_unpack(struct hoist_tar_reader *r, int rootfd, const char *name,
		       const struct hoist_unpack_ops *ops, struct hoist_error *err)
{
	static const struct hoist_unpack_ops none = {0};
	struct unpacker *u = hoist_xcalloc(1, sizeof(*u));
	struct layer_paths *paths = layer_paths_new();
	struct hoist_entry e = {0};
	int rc;

	u->rootfd = rootfd;
	u->name = name;
	u->ops = ops ? ops : &none;
	u->flags = u->ops->flags;
	u->parent_fd = -1;
	for (;;) {
		_cleanup_free_ char *parent = NULL, *target = NULL;
		const char *slash, *base;
		int kind;

		rc = hoist_tar_reader_next(r, &e, err);
		if (rc <= 0)
			break;
		/* What the entry is, before anything is done with its name. */
		kind = hoist_whiteout_parse(e.path, &target, err);
		if (kind < 0) {
			rc = hoist_error_prefix(err, "'%s'", name);
			break;
		}
		if (kind == HOIST_WHITEOUT_META)
			continue;
		slash = strrchr(e.path, '/');
		base = slash ? slash + 1 : e.path;
		parent =
		    slash ? hoist_xstrndup(e.path, (size_t)(slash - e.path)) : hoist_xstrdup("");
		/* The index pass's rule (paths.c), so that an index is only made
		 * for a layer whose content can be made, and it fails the same
		 * way whether or not a tree is written. */
		rc = layer_paths_check(
		    paths, name, e.path, &e,
		    kind == HOIST_WHITEOUT_NONE ? LAYER_PATHS_ENTRY : LAYER_PATHS_WHITEOUT, err);
		if (rc < 0)
			break;
		if (rootfd >= 0) {
			rc = kind == HOIST_WHITEOUT_NONE
				 ? make_entry(u, r, &e, parent, base, err)
				 : make_whiteout(u, &e, (enum hoist_whiteout)kind, parent, target,
						 err);
			if (rc < 0)
				break;
		}
		if (u->ops->entry) {
			rc = u->ops->entry(u->ops->ctx, r, &e, (enum hoist_whiteout)kind, target,
					   err);
			if (rc < 0)
				break;
		}
	}
	hoist_entry_release(&e);
	if (rc == 0 && rootfd >= 0)
		set_dir_times(u);
	for (size_t i = 0; i < u->n_times; i++)
		free(u->times[i].path);
	free(u->times);
	parent_cache_drop(u);
	layer_paths_free(paths);
	free(u);
	return rc;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Opening the store, its root, locking and atomic small-file writes. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store-private.h"

char *hoist_store_default_root(const char *root)
{
	const char *e;

	if (root && *root)
		return hoist_xstrdup(root);
	e = getenv("HOIST_ROOT");
	if (e && *e)
		return hoist_xstrdup(e);
	if (geteuid() == 0)
		return hoist_xstrdup("/var/lib/hoist");
	e = getenv("XDG_DATA_HOME");
	/* The XDG spec says relative values are invalid and must be ignored. */
	if (e && e[0] == '/')
		return hoist_xasprintf("%s/hoist", e);
	e = getenv("HOME");
	if (!e || !*e) {
		struct passwd *pw = getpwuid(geteuid());
		e = pw ? pw->pw_dir : "/";
	}
	return hoist_xasprintf("%s/.local/share/hoist", e);
}

/* mkdir -p for the root path itself (which comes from the user). */
static int mkdir_p(const char *path)
{
	_cleanup_free_ char *p = hoist_xstrdup(path);

	for (char *q = p + 1; *q; q++) {
		if (*q != '/')
			continue;
		*q = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return -errno;
		*q = '/';
	}
	if (mkdir(p, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int open_subdir(int dirfd, const char *name, mode_t mode)
{
	if (mkdirat(dirfd, name, mode) < 0 && errno != EEXIST)
		return -errno;
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	return fd < 0 ? -errno : fd;
}

int hoist_store_open(const char *root, struct hoist_store **ret, struct hoist_error *err)
{
	struct hoist_store *s;
	char real[PATH_MAX];
	int r;

	if (!root || !*root)
		return hoist_error_set(err, -EINVAL, "no store root given");
	r = mkdir_p(root);
	if (r < 0)
		return hoist_error_set(err, r, "cannot create store '%s': %s", root, strerror(-r));
	if (!realpath(root, real))
		return hoist_error_set(err, -errno, "cannot resolve store '%s': %s", root,
				       strerror(errno));

	s = hoist_xcalloc(1, sizeof(*s));
	s->root = hoist_xstrdup(real);
	s->dirfd = s->blobsfd = s->tmpfd = s->lock_fd = s->tags_lock_fd = -1;
	s->lease_fd = s->lease_dirfd = -1;
	for (size_t i = 0; i < ARRAY_SIZE(s->areafd); i++)
		s->areafd[i] = -1;
	s->use_tmpfile = -1;

	s->dirfd = open(real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd < 0) {
		r = hoist_error_set(err, -errno, "cannot open store '%s': %s", real,
				    strerror(errno));
		goto fail;
	}
	const char *dirs[] = {"blobs", "cache", "snapshots", "statcache"};
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		if (mkdirat(s->dirfd, dirs[i], 0755) < 0 && errno != EEXIST) {
			r = hoist_error_set(err, -errno, "cannot create '%s/%s': %s", real, dirs[i],
					    strerror(errno));
			goto fail;
		}
	}
	s->blobsfd = open_subdir(s->dirfd, "blobs/sha256", 0755);
	if (s->blobsfd < 0) {
		r = hoist_error_set(err, s->blobsfd, "cannot open '%s/blobs/sha256': %s", real,
				    strerror(-s->blobsfd));
		goto fail;
	}
	s->tmpfd = open_subdir(s->dirfd, "tmp", 0700);
	if (s->tmpfd < 0) {
		r = hoist_error_set(err, s->tmpfd, "cannot open '%s/tmp': %s", real,
				    strerror(-s->tmpfd));
		goto fail;
	}
	s->lock_fd = openat(s->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (s->lock_fd < 0 && (errno == EACCES || errno == EROFS))
		s->lock_fd = openat(s->dirfd, "lock", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (s->lock_fd < 0) {
		r = hoist_error_set(err, -errno, "cannot open '%s/lock': %s", real,
				    strerror(errno));
		goto fail;
	}
	/* A read-only store (lock opened O_RDONLY) has nothing we could remove. */
	if (faccessat(s->dirfd, "tmp", W_OK, AT_EACCESS) == 0)
		(void)hoist_store_reap(s, NULL, NULL, NULL);
	*ret = s;
	return 0;
fail:
	hoist_store_free(s);
	return r;
}

void hoist_store_free(struct hoist_store *s)
{
	if (!s)
		return;
	store_lease_release(s);
	const int fds[] = {s->dirfd, s->blobsfd, s->tmpfd, s->lock_fd, s->tags_lock_fd};
	for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	for (size_t i = 0; i < ARRAY_SIZE(s->areafd); i++)
		if (s->areafd[i] >= 0)
			close(s->areafd[i]);
	free(s->root);
	free(s);
}

const char *hoist_store_root(const struct hoist_store *s)
{
	return s->root;
}

int hoist_store_dirfd(const struct hoist_store *s)
{
	return s->dirfd;
}

/* ---- areas ------------------------------------------------------------- */

static const char *const area_names[HOIST_STORE_AREA_COUNT] = {
    [HOIST_STORE_BLOBS] = "blobs/sha256",
    [HOIST_STORE_TAGS] = "tags.json",
    [HOIST_STORE_CACHE] = "cache",
    [HOIST_STORE_SNAPSHOTS] = "snapshots",
    [HOIST_STORE_ROOTFS] = "rootfs",
    [HOIST_STORE_STATCACHE] = "statcache",
    [HOIST_STORE_CACHEMOUNTS] = "cachemounts",
    [HOIST_STORE_LOGS] = "logs",
    [HOIST_STORE_TMP] = "tmp",
};

const char *hoist_store_area_name(enum hoist_store_area area)
{
	return (unsigned)area < HOIST_STORE_AREA_COUNT ? area_names[area] : NULL;
}

int hoist_store_area_fd(struct hoist_store *s, enum hoist_store_area area, struct hoist_error *err)
{
	if ((unsigned)area >= HOIST_STORE_AREA_COUNT || area == HOIST_STORE_TAGS)
		return hoist_error_set(err, -ENOTDIR, "store area %d is not a directory",
				       (int)area);
	if (area == HOIST_STORE_BLOBS)
		return s->blobsfd;
	if (area == HOIST_STORE_TMP)
		return s->tmpfd;
	if (s->areafd[area] < 0) {
		int fd = open_subdir(s->dirfd, area_names[area], 0755);
		if (fd < 0)
			return hoist_error_set(err, fd, "cannot open '%s/%s': %s", s->root,
					       area_names[area], strerror(-fd));
		s->areafd[area] = fd;
	}
	return s->areafd[area];
}

char *hoist_store_area_path(struct hoist_store *s, enum hoist_store_area area, const char *sub)
{
	const char *name = hoist_store_area_name(area);
	if (!name)
		return NULL;
	if (sub && *sub)
		return hoist_xasprintf("%s/%s/%s", s->root, name, sub);
	return hoist_xasprintf("%s/%s", s->root, name);
}

/* ---- locking ----------------------------------------------------------- */

/*
 * One flock on ROOT/lock per store handle, with a stack so that nested
 * lock/unlock pairs (an explicit hoist_store_lock() around calls that lock
 * internally) work: the file holds the strongest mode on the stack.
 * Downgrading EX -> SH is fine; the rare upgrade SH -> EX is not atomic
 * (flock drops the shared lock first), which is why tag updates under a
 * shared lock use ROOT/tags.lock instead of upgrading (see tags.c).
 */
static int wanted_mode(const struct hoist_store *s)
{
	int mode = 0;
	for (int i = 0; i < s->lock_depth; i++)
		mode = s->lock_stack[i] ? LOCK_EX : (mode ? mode : LOCK_SH);
	return mode;
}

static int apply_mode(struct hoist_store *s, int mode)
{
	if (mode == s->lock_held)
		return 0;
	while (flock(s->lock_fd, mode ? mode : LOCK_UN) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	s->lock_held = mode;
	return 0;
}

int store_lock_push(struct hoist_store *s, bool exclusive, struct hoist_error *err)
{
	int r;

	if (s->lock_depth >= STORE_LOCK_DEPTH_MAX)
		return hoist_error_set(err, -EDEADLK, "store locks nested too deeply");
	s->lock_stack[s->lock_depth++] = exclusive;
	/* Never weaken what is already held: an EX anywhere below keeps EX. */
	int mode = wanted_mode(s);
	if (s->lock_held == LOCK_EX)
		mode = LOCK_EX;
	r = apply_mode(s, mode);
	if (r < 0) {
		s->lock_depth--;
		return hoist_error_set(err, r, "cannot lock store '%s': %s", s->root, strerror(-r));
	}
	return 0;
}

void store_lock_pop(struct hoist_store *s)
{
	if (s->lock_depth <= 0)
		return;
	s->lock_depth--;
	(void)apply_mode(s, wanted_mode(s));
}

int hoist_store_lock(struct hoist_store *s, bool exclusive, struct hoist_error *err)
{
	return store_lock_push(s, exclusive, err);
}

void hoist_store_unlock(struct hoist_store *s)
{
	store_lock_pop(s);
}

/* ---- small atomic files ------------------------------------------------ */

void store_tmp_name(const char *prefix, char *buf, size_t size)
{
	uint64_t rnd = 0;
	if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		rnd = (uint64_t)getpid() << 32 ^ (uint64_t)(uintptr_t)buf;
	snprintf(buf, size, "%s%016llx", prefix, (unsigned long long)rnd);
}

int store_write_atomic(struct hoist_store *s, int dirfd, const char *name, const void *data,
		       size_t len, struct hoist_error *err)
{
	_cleanup_close_ int fd = -1;
	char tmp[64];
	int r;

	int tmpfd = hoist_store_lease_fd(s, err);
	if (tmpfd < 0)
		return tmpfd;
	for (int tries = 0;; tries++) {
		store_tmp_name("file-", tmp, sizeof(tmp));
		fd = openat(tmpfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd >= 0)
			break;
		if (errno != EEXIST || tries > 16)
			return hoist_error_set(err, -errno,
					       "cannot create a temporary file in '%s': %s",
					       s->lease_path, strerror(errno));
	}
	r = hoist_write_all(fd, data, len);
	if (r >= 0 && fsync(fd) < 0)
		r = -errno;
	if (r >= 0 && renameat(tmpfd, tmp, dirfd, name) < 0)
		r = -errno;
	if (r < 0) {
		unlinkat(tmpfd, tmp, 0);
		return hoist_error_set(err, r, "cannot write '%s': %s", name, strerror(-r));
	}
	if (fsync(dirfd) < 0)
		return hoist_error_set(err, -errno, "cannot sync the directory of '%s': %s", name,
				       strerror(errno));
	return 0;
}

/* ---- removing trees ---------------------------------------------------- */

/*
 * Snapshots hold image files as they were unpacked, including directories
 * without write or search permission for us: give ourselves u+rwx on each
 * directory before descending, never following symlinks.
 */
int store_rm_rf_at(int parent_fd, const char *name)
{
	struct stat st;
	int r = 0;

	if (fstatat(parent_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode)) {
		if (unlinkat(parent_fd, name, 0) < 0 && errno != ENOENT)
			return -errno;
		return 0;
	}
	if ((st.st_mode & 0700) != 0700)
		(void)fchmodat(parent_fd, name, (st.st_mode & 07777) | 0700, 0);
	int fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		r = -errno;
		close(fd);
		return r;
	}
	struct hoist_strv names = HOIST_STRV_INIT;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		hoist_strv_push(&names, de->d_name);
	}
	/* Children are removed through the same fd, so keep d open until done. */
	for (size_t i = 0; i < names.n; i++) {
		int q = store_rm_rf_at(dirfd(d), names.v[i]);
		if (q < 0 && r == 0)
			r = q;
	}
	hoist_strv_release(&names);
	closedir(d);
	if (unlinkat(parent_fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT && r == 0)
		r = -errno;
	return r;
}

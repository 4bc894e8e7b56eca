/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Leases: a running command's claim on the store (containerd's leases are
 * the model). ROOT/tmp/<id>.lease is flock'd by its process for as long as
 * it runs, and ROOT/tmp/<id>/ holds its temporary files. Liveness is the
 * flock, never an age: the kernel drops it when the process dies, however
 * it dies, so the next command can tell a leftover from a file in use.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store-private.h"

#define LEASE_SUFFIX ".lease"

void store_lease_release(struct hoist_store *s)
{
	if (s->lease_dirfd >= 0)
		close(s->lease_dirfd);
	/* Closing the last fd drops the flock; the next command reaps the rest. */
	if (s->lease_fd >= 0) {
		char name[STORE_LEASE_ID_MAX + sizeof(LEASE_SUFFIX)];
		snprintf(name, sizeof(name), "%s%s", s->lease_id, LEASE_SUFFIX);
		/* Tidy up on a clean exit; a fork child sharing the lease keeps it. */
		if (s->lease_path && getpid() == s->lease_pid) {
			(void)store_rm_rf_at(s->tmpfd, s->lease_id);
			(void)unlinkat(s->tmpfd, name, 0);
		}
		close(s->lease_fd);
	}
	s->lease_fd = s->lease_dirfd = -1;
	free(s->lease_path);
	s->lease_path = NULL;
}

bool store_is_lease_name(const char *name, bool *ret_is_file)
{
	size_t n = strlen(name);
	bool file = n > strlen(LEASE_SUFFIX) && hoist_endswith(name, LEASE_SUFFIX);
	size_t idlen = file ? n - strlen(LEASE_SUFFIX) : n;
	/* "p" <digits> "-" <16 hex> */
	if (idlen < 19 || name[0] != 'p')
		return false;
	size_t i = 1;
	while (i < idlen && name[i] >= '0' && name[i] <= '9')
		i++;
	if (i == 1 || i >= idlen || name[i] != '-' || idlen - i - 1 != 16)
		return false;
	for (i++; i < idlen; i++)
		if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
			return false;
	if (ret_is_file)
		*ret_is_file = file;
	return true;
}

/*
 * Link an unnamed, already locked file into ROOT/tmp as <id>.lease, so no
 * other process can ever see the lease unlocked while we live.
 */
static int lease_create(struct hoist_store *s, struct hoist_error *err)
{
	char name[STORE_LEASE_ID_MAX + sizeof(LEASE_SUFFIX)];
	char proc[64];
	int r;

	_cleanup_close_ int fd = openat(s->tmpfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return hoist_error_set(err, -errno,
				       "cannot create a lease in '%s/tmp' (O_TMPFILE): %s", s->root,
				       strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		return hoist_error_set(err, -errno, "cannot lock a lease in '%s/tmp': %s", s->root,
				       strerror(errno));
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	for (int tries = 0;; tries++) {
		char rnd[32];
		store_tmp_name("", rnd, sizeof(rnd));
		snprintf(s->lease_id, sizeof(s->lease_id), "p%d-%s", (int)getpid(), rnd);
		snprintf(name, sizeof(name), "%s%s", s->lease_id, LEASE_SUFFIX);
		if (linkat(AT_FDCWD, proc, s->tmpfd, name, AT_SYMLINK_FOLLOW) == 0)
			break;
		if (errno != EEXIST || tries > 16)
			return hoist_error_set(err, -errno, "cannot create lease '%s/tmp/%s': %s",
					       s->root, name, strerror(errno));
	}
	/* The directory comes after the lease file: a directory without one is
	 * a leftover of a reaper that was interrupted. */
	if (mkdirat(s->tmpfd, s->lease_id, 0700) < 0 ||
	    (s->lease_dirfd = openat(s->tmpfd, s->lease_id,
				     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		r = -errno;
		(void)unlinkat(s->tmpfd, name, 0);
		return hoist_error_set(err, r, "cannot create '%s/tmp/%s': %s", s->root,
				       s->lease_id, strerror(-r));
	}
	s->lease_fd = TAKE_FD(fd);
	s->lease_pid = getpid();
	s->lease_path = hoist_xasprintf("%s/tmp/%s", s->root, s->lease_id);
	return 0;
}

/* A pull's or push's worker threads write blobs at once: one lease each handle. */
static pthread_mutex_t lease_lock = PTHREAD_MUTEX_INITIALIZER;

int hoist_store_lease_fd(struct hoist_store *s, struct hoist_error *err)
{
	int r = 0;
	pthread_mutex_lock(&lease_lock);
	if (s->lease_dirfd < 0)
		r = lease_create(s, err);
	pthread_mutex_unlock(&lease_lock);
	return r < 0 ? r : s->lease_dirfd;
}

const char *hoist_store_lease_path(struct hoist_store *s, struct hoist_error *err)
{
	if (hoist_store_lease_fd(s, err) < 0)
		return NULL;
	return s->lease_path;
}

int hoist_store_tmpdir(struct hoist_store *s, const char *prefix, char **ret_path,
		       struct hoist_error *err)
{
	const char *base = hoist_store_lease_path(s, err);
	if (!base)
		return err ? err->code : -EIO;
	_cleanup_free_ char *p = hoist_xasprintf("%s/%sXXXXXX", base, prefix);
	if (!mkdtemp(p))
		return hoist_error_set(err, -errno, "creating a temporary directory in '%s': %s",
				       base, strerror(errno));
	*ret_path = TAKE_PTR(p);
	return 0;
}

/* ---- other processes' leases ---------------------------------------------- */

/*
 * Try to lock the lease file: success means its process is gone. The
 * returned fd keeps the lock (so two reapers never both remove); -1 when
 * the lease is alive or missing.
 */
static int lease_try_lock(struct hoist_store *s, const char *file)
{
	int fd = openat(s->tmpfd, file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

bool store_lease_alive(struct hoist_store *s, const char *id)
{
	char name[STORE_LEASE_ID_MAX + sizeof(LEASE_SUFFIX)];
	if (strcmp(id, s->lease_id) == 0 && s->lease_fd >= 0)
		return true;
	snprintf(name, sizeof(name), "%s%s", id, LEASE_SUFFIX);
	int fd = lease_try_lock(s, name);
	if (fd >= 0) {
		close(fd);
		return false;
	}
	return faccessat(s->tmpfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

int64_t store_oldest_live_lease(struct hoist_store *s, size_t *ret_live)
{
	/* A new open file: a dup would share the directory offset. */
	_cleanup_close_ int fd = openat(s->tmpfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int64_t oldest = -1;
	size_t live = 0;

	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (d) {
		fd = -1;
		struct dirent *de;
		while ((de = readdir(d))) {
			bool file;
			struct stat st;
			if (!store_is_lease_name(de->d_name, &file) || !file)
				continue;
			if (s->lease_fd >= 0 &&
			    strncmp(de->d_name, s->lease_id, strlen(s->lease_id)) == 0 &&
			    de->d_name[strlen(s->lease_id)] == '.')
				continue;
			int lfd = lease_try_lock(s, de->d_name);
			if (lfd >= 0) {
				close(lfd);
				continue;
			}
			if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
				continue;
			live++;
			if (oldest < 0 || st.st_mtime < oldest)
				oldest = st.st_mtime;
		}
		closedir(d);
	}
	if (ret_live)
		*ret_live = live;
	return oldest;
}

static int remove_tree(struct hoist_store *s, const char *name,
		       int (*remove)(void *arg, const char *path), void *arg)
{
	int r = store_rm_rf_at(s->tmpfd, name);
	if (r < 0 && remove) {
		_cleanup_free_ char *p = hoist_xasprintf("%s/tmp/%s", s->root, name);
		r = remove(arg, p);
	}
	return r;
}

int hoist_store_reap(struct hoist_store *s, int (*remove)(void *arg, const char *path), void *arg,
		     struct hoist_reap_stats *ret)
{
	struct hoist_reap_stats st = {0};
	_cleanup_strv_ struct hoist_strv names = HOIST_STRV_INIT;
	/* A new open file: a dup would share the directory offset. */
	_cleanup_close_ int fd = openat(s->tmpfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;

	if (fd < 0 || !(d = fdopendir(fd)))
		return -errno;
	fd = -1;
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			hoist_strv_push(&names, de->d_name);
	closedir(d);

	for (size_t i = 0; i < names.n; i++) {
		const char *n = names.v[i];
		bool file;
		if (store_is_lease_name(n, &file)) {
			if (!file) {
				/* A directory whose lease file is gone: an interrupted reap. */
				_cleanup_free_ char *lf = hoist_xasprintf("%s%s", n, LEASE_SUFFIX);
				struct stat dst;
				/* (gone already when its lease came first in this listing) */
				if (fstatat(s->tmpfd, n, &dst, AT_SYMLINK_NOFOLLOW) == 0 &&
				    faccessat(s->tmpfd, lf, F_OK, AT_SYMLINK_NOFOLLOW) < 0 &&
				    errno == ENOENT && remove_tree(s, n, remove, arg) == 0)
					st.leases++;
				continue;
			}
			_cleanup_close_ int lfd = lease_try_lock(s, n);
			if (lfd < 0)
				continue;
			_cleanup_free_ char *id =
			    hoist_xstrndup(n, strlen(n) - strlen(LEASE_SUFFIX));
			if (remove_tree(s, id, remove, arg) < 0)
				continue; /* keep the lease file: the tree is still to go */
			if (unlinkat(s->tmpfd, n, 0) == 0)
				st.leases++;
		} else if (hoist_startswith(n, "run-")) {
			/* Run directories of hoist before leases flock themselves, just
			 * after mkdtemp: one made in the last minute may not be yet. */
			_cleanup_close_ int rfd =
			    openat(s->tmpfd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			struct stat rst;
			if (rfd >= 0 && fstat(rfd, &rst) == 0 && rst.st_ctime < time(NULL) - 60 &&
			    flock(rfd, LOCK_EX | LOCK_NB) == 0 &&
			    remove_tree(s, n, remove, arg) == 0)
				st.legacy++;
		}
	}
	if (ret)
		*ret = st;
	return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Seals of the unpacked layers under ROOT/rootfs/<mode>/: a layer's tree is
 * the lower directory of every later RUN on that layer, so a file changed
 * there (by hand, by a tool, by a bug) would go silently into later builds,
 * --no-cache ones included. When a tree is complete, a digest of every
 * entry's metadata is written to "<hex>.seal" beside it: path, type, mode,
 * owner, size, mtime, ctime, inode and link target. Any write, chmod, chown,
 * rename, link or unlink inside the tree changes a ctime (which no user can
 * set back), so a tree whose digest differs was changed after unpacking:
 * hoist_rootfs_prepare() discards it and unpacks the layer again, and
 * `cache verify` (hoist_rootfs_verify) reports and discards it. Checking
 * costs an lstat per entry, no reading of content. The top directory's own
 * times are left out: renaming the tree into place changes them.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hoist/layer.h"
#include "hoist/util.h"
#include "sandbox-private.h"

#define SEAL_SUFFIX ".seal"
/* "hoist-rootfs-seal-1 sha256:<hex>\n" */
#define SEAL_TAG "hoist-rootfs-seal-1 "

struct seal_walk {
	struct hoist_sha256 h;
	char path[4096];
	int err;
};

static void add_entry(struct seal_walk *w, int dfd, const char *name, const struct stat *st,
		      bool top)
{
	char line[256];
	int n =
	    snprintf(line, sizeof(line), "%o %u %u %lld %lld.%ld %lld.%ld %llu\n",
		     (unsigned)st->st_mode, (unsigned)st->st_uid, (unsigned)st->st_gid,
		     (long long)st->st_size, top ? 0LL : (long long)st->st_mtim.tv_sec,
		     top ? 0L : st->st_mtim.tv_nsec, top ? 0LL : (long long)st->st_ctim.tv_sec,
		     top ? 0L : st->st_ctim.tv_nsec, top ? 0ULL : (unsigned long long)st->st_ino);
	hoist_sha256_update(&w->h, w->path, strlen(w->path) + 1);
	hoist_sha256_update(&w->h, line, (size_t)n);
	if (S_ISLNK(st->st_mode)) {
		char target[4096];
		ssize_t k = readlinkat(dfd, name, target, sizeof(target));
		if (k > 0)
			hoist_sha256_update(&w->h, target, (size_t)k);
	}
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Entries in name order, depth first; w->path is the directory's path. */
static void walk_dir(struct seal_walk *w, int dfd)
{
	_cleanup_strv_ struct hoist_strv names = HOIST_STRV_INIT;
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		w->err = -errno;
		return;
	}
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			hoist_strv_push(&names, de->d_name);
	closedir(d);
	if (names.n)
		qsort(names.v, names.n, sizeof(char *), name_cmp);
	size_t base = strlen(w->path);
	for (size_t i = 0; i < names.n && !w->err; i++) {
		struct stat st;
		if (fstatat(dfd, names.v[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
			w->err = -errno;
			break;
		}
		if (base + 1 + strlen(names.v[i]) >= sizeof(w->path)) {
			w->err = -ENAMETOOLONG;
			break;
		}
		snprintf(w->path + base, sizeof(w->path) - base, "/%s", names.v[i]);
		add_entry(w, dfd, names.v[i], &st, false);
		if (S_ISDIR(st.st_mode)) {
			int sub = openat(dfd, names.v[i],
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0) {
				w->err = -errno;
				break;
			}
			walk_dir(w, sub);
			close(sub);
		}
		w->path[base] = '\0';
	}
}

struct seal_args {
	const char *dir;
};

/* In the user namespace of the tree's mode: its directories may be 0700 of other ids. */
static int seal_fn(void *arg, void *out, struct hoist_error *err)
{
	const struct seal_args *a = arg;
	struct seal_walk w = {.path = ""};
	struct stat st;

	_cleanup_close_ int fd = open(a->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		return hoist_error_set(err, -errno, "opening '%s': %s", a->dir, strerror(errno));
	hoist_sha256_init(&w.h);
	add_entry(&w, fd, ".", &st, true);
	walk_dir(&w, fd);
	char digest[HOIST_DIGEST_MAX];
	hoist_sha256_final(&w.h, digest);
	if (w.err < 0)
		return hoist_error_set(err, w.err, "reading '%s': %s", a->dir, strerror(-w.err));
	memcpy(out, digest, HOIST_DIGEST_MAX);
	return 0;
}

int rootfs_seal_compute(const struct hoist_idmap *m, const char *dir, char ret[HOIST_DIGEST_MAX],
			struct hoist_error *err)
{
	struct seal_args a = {dir};
	return userns_call(m, seal_fn, &a, ret, HOIST_DIGEST_MAX, err);
}

int rootfs_seal_open(const char *dir, struct hoist_error *err)
{
	_cleanup_free_ char *p = hoist_xasprintf("%s" SEAL_SUFFIX, dir);
	int fd = open(p, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return hoist_error_set(err, -errno, "opening '%s': %s", p, strerror(errno));
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			int r = -errno;
			close(fd);
			return hoist_error_set(err, r, "locking '%s': %s", p, strerror(-r));
		}
	}
	return fd;
}

bool rootfs_seal_matches(int seal_fd, const char *digest)
{
	char buf[sizeof(SEAL_TAG) + HOIST_DIGEST_MAX + 2] = "";
	ssize_t n = pread(seal_fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	size_t t = strlen(SEAL_TAG);
	return strncmp(buf, SEAL_TAG, t) == 0 && strncmp(buf + t, digest, strlen(digest)) == 0 &&
	       buf[t + strlen(digest)] == '\n';
}

int rootfs_seal_write(int seal_fd, const char *digest)
{
	char buf[sizeof(SEAL_TAG) + HOIST_DIGEST_MAX + 2];
	int n = snprintf(buf, sizeof(buf), SEAL_TAG "%s\n", digest);
	if (ftruncate(seal_fd, 0) < 0 || pwrite(seal_fd, buf, (size_t)n, 0) != n ||
	    fsync(seal_fd) < 0)
		return -errno;
	return 0;
}

/* ---- cache verify ------------------------------------------------------- */

static int verify_mode(struct hoist_store *s, enum hoist_idmode mode, struct hoist_buf *report,
		       size_t *problems)
{
	const char *mname = hoist_idmode_name(mode);
	_cleanup_free_ char *base = hoist_store_area_path(s, HOIST_STORE_ROOTFS, mname);
	_cleanup_strv_ struct hoist_strv names = HOIST_STRV_INIT;
	struct hoist_idmap m;
	struct hoist_error e = {0};

	DIR *d = opendir(base);
	if (!d)
		return 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (strlen(de->d_name) == HOIST_SHA256_HEX)
			hoist_strv_push(&names, de->d_name);
	closedir(d);
	if (!names.n)
		return 0;
	if (hoist_idmap_detect(mode, &m, &e) < 0) {
		hoist_buf_addf(report,
			       "leftover: cannot check 'rootfs/%s' as this user (%s): %zu tree%s\n",
			       mname, e.msg, names.n, names.n == 1 ? "" : "s");
		return 0;
	}
	for (size_t i = 0; i < names.n; i++) {
		_cleanup_free_ char *dir = hoist_xasprintf("%s/%s", base, names.v[i]);
		char now[HOIST_DIGEST_MAX];
		_cleanup_close_ int seal = rootfs_seal_open(dir, &e);
		if (seal < 0) {
			hoist_buf_addf(report, "%s\n", e.msg);
			(*problems)++;
			continue;
		}
		int r = rootfs_seal_compute(&m, dir, now, &e);
		if (r >= 0 && rootfs_seal_matches(seal, now))
			continue;
		hoist_buf_addf(report,
			       "unpacked layer 'rootfs/%s/%s' differs from the layer as it was "
			       "unpacked%s%s: discarded, it is unpacked again when needed\n",
			       mname, names.v[i], r < 0 ? ": " : "", r < 0 ? e.msg : "");
		(*problems)++;
		(void)sandbox_remove_tree(&m, dir, NULL);
		(void)ftruncate(seal, 0);
	}
	return 0;
}

int hoist_rootfs_verify(struct hoist_store *s, struct hoist_buf *report, size_t *ret_problems,
			struct hoist_error *err)
{
	static const enum hoist_idmode modes[] = {HOIST_IDMODE_ROOT, HOIST_IDMODE_SUBUID,
						  HOIST_IDMODE_SINGLE};
	size_t problems = 0;
	/* Shared: gc (exclusive) must not remove trees under us. */
	int r = hoist_store_lock(s, false, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < ARRAY_SIZE(modes); i++)
		verify_mode(s, modes[i], report, &problems);
	hoist_store_unlock(s);
	*ret_problems = problems;
	return 0;
}

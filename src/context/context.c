/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The build context: a directory fd plus the ignore rules, and a walker
 * that lists what Docker (BuildKit) would send. Everything is opened
 * relative to directory fds with O_NOFOLLOW, so a symlink in the context is
 * an entry, never a way out of it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>

#include "hoist/context.h"
#include "hoist/util.h"

struct hoist_context {
	int dirfd;
	struct hoist_ignore *ig;
	char *ignore_path;
};

void hoist_context_free(struct hoist_context *ctx)
{
	if (!ctx)
		return;
	if (ctx->dirfd >= 0)
		close(ctx->dirfd);
	hoist_ignore_free(ctx->ig);
	free(ctx->ignore_path);
	free(ctx);
}

static void context_freep(struct hoist_context **ctx)
{
	hoist_context_free(*ctx);
}

/* Read an ignore file; returns 0 and *ret NULL when it does not exist. */
static int read_optional(int dirfd, const char *path, char **ret, size_t *ret_len,
			 struct hoist_error *err)
{
	int r = hoist_read_file_at(dirfd, path, HOIST_IGNORE_MAX_SIZE, ret, ret_len, err);
	if (r == -ENOENT || r == -ENOTDIR) {
		hoist_error_clear(err);
		*ret = NULL;
		return 0;
	}
	return r;
}

int hoist_context_open(const char *dir, const char *dockerfile, struct hoist_context **ret,
		       struct hoist_error *err)
{
	_cleanup_(context_freep) struct hoist_context *ctx = NULL;
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	int r;

	ctx = hoist_xcalloc(1, sizeof(*ctx));
	ctx->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ctx->dirfd < 0)
		return hoist_error_set(err, -errno, "cannot open context directory '%s': %s", dir,
				       strerror(errno));

	/* BuildKit prefers "<Dockerfile>.dockerignore" beside the Dockerfile. */
	if (dockerfile) {
		_cleanup_free_ char *p = hoist_xasprintf("%s.dockerignore", dockerfile);
		if ((r = read_optional(AT_FDCWD, p, &data, &len, err)) < 0)
			return r;
		if (data)
			ctx->ignore_path = TAKE_PTR(p);
	}
	if (!data) {
		if ((r = read_optional(ctx->dirfd, ".dockerignore", &data, &len, err)) < 0)
			return hoist_error_prefix(err, "context '%s'", dir);
		if (data)
			ctx->ignore_path = hoist_xasprintf("%s/.dockerignore", dir);
	}
	if (data) {
		r = hoist_ignore_parse(data, len, ctx->ignore_path, &ctx->ig, err);
		if (r < 0)
			return r;
	}
	*ret = TAKE_PTR(ctx);
	return 0;
}

int hoist_context_dirfd(const struct hoist_context *ctx)
{
	return ctx->dirfd;
}

const struct hoist_ignore *hoist_context_ignore(const struct hoist_context *ctx)
{
	return ctx->ig;
}

const char *hoist_context_ignore_path(const struct hoist_context *ctx)
{
	return ctx->ignore_path;
}

/* ---- walking ------------------------------------------------------------ */

struct level {
	size_t len; /* length of this directory's path in walker.path */
	struct stat st;
	bool emitted; /* visited already (false: excluded, entered for exceptions) */
};

/*
 * The walk's lstat calls are most of a no-op rebuild's time (20,000 files:
 * ~20,000 fstatat, ~90 % of its system calls). A directory's entries are
 * stat'ed by two threads, each taking STAT_CHUNK names at a time, into an
 * array indexed like the sorted names; visiting stays on the caller's
 * thread in that order, so the result does not depend on which thread
 * stat'ed what. The helper starts on the first directory with at least
 * STAT_PARALLEL_MIN entries and is joined before hoist_context_walk()
 * returns: no thread outlives the walk (the sandbox clones later).
 */
#define STAT_PARALLEL_MIN 64
#define STAT_CHUNK 16

struct stat_job {
	int dfd;
	char **names;
	struct stat *st;
	int *errs; /* 0 or an errno per name */
	size_t n;
	size_t next; /* atomic: the next name to take */
};

struct stat_helper {
	pthread_t tid;
	bool started, stop;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct stat_job *job; /* set by the walker, cleared by the helper when done */
	unsigned long posted, finished;
};

struct walker {
	const struct hoist_context *ctx;
	struct stat_helper helper;
	hoist_context_visit_fn fn;
	void *userdata;
	struct hoist_error *err;
	size_t count;
	unsigned depth;
	size_t len;
	char path[PATH_MAX];
	struct level levels[HOIST_CONTEXT_MAX_DEPTH];
};

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

/* Read a directory's names in byte order (fd is taken over). */
static int read_names(struct walker *w, int fd, DIR **ret_dir, struct hoist_strv *names)
{
	DIR *d = fdopendir(fd);
	struct dirent *de;

	if (!d) {
		int r = -errno;
		close(fd);
		return hoist_error_set(w->err, r, "cannot read directory '%s': %s",
				       w->len ? w->path : ".", strerror(-r));
	}
	*ret_dir = d;
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de)
			break;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (++w->count > HOIST_CONTEXT_MAX_ENTRIES)
			return hoist_error_set(w->err, -E2BIG,
					       "build context has more than %zu entries",
					       HOIST_CONTEXT_MAX_ENTRIES);
		hoist_strv_push(names, de->d_name);
	}
	if (errno != 0)
		return hoist_error_set(w->err, -errno, "cannot read directory '%s': %s",
				       w->len ? w->path : ".", strerror(errno));
	if (names->n > 1)
		qsort(names->v, names->n, sizeof(char *), cmp_names);
	return 0;
}

/* Visit the excluded parents that were entered but not yet visited. */
static int emit_pending(struct walker *w)
{
	for (unsigned i = 0; i < w->depth; i++) {
		struct level *lv = &w->levels[i];
		if (lv->emitted)
			continue;
		char save = w->path[lv->len];
		w->path[lv->len] = '\0';
		int r = w->fn(w->path, &lv->st, w->userdata);
		w->path[lv->len] = save;
		lv->emitted = true;
		if (r != 0)
			return r;
	}
	return 0;
}

static void stat_some(struct stat_job *j)
{
	for (;;) {
		size_t i = __atomic_fetch_add(&j->next, STAT_CHUNK, __ATOMIC_RELAXED);
		if (i >= j->n)
			return;
		size_t end = i + STAT_CHUNK < j->n ? i + STAT_CHUNK : j->n;
		for (; i < end; i++)
			j->errs[i] =
			    fstatat(j->dfd, j->names[i], &j->st[i], AT_SYMLINK_NOFOLLOW) < 0 ? errno
											     : 0;
	}
}

static void *helper_main(void *arg)
{
	struct stat_helper *h = arg;
	pthread_mutex_lock(&h->mu);
	for (;;) {
		while (!h->stop && h->finished == h->posted)
			pthread_cond_wait(&h->cv, &h->mu);
		if (h->stop)
			break;
		struct stat_job *j = h->job;
		pthread_mutex_unlock(&h->mu);
		stat_some(j);
		pthread_mutex_lock(&h->mu);
		h->finished = h->posted;
		pthread_cond_broadcast(&h->cv);
	}
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

static void helper_stop(struct stat_helper *h)
{
	if (!h->started)
		return;
	pthread_mutex_lock(&h->mu);
	h->stop = true;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
	pthread_join(h->tid, NULL);
	h->started = false;
	pthread_cond_destroy(&h->cv);
	pthread_mutex_destroy(&h->mu);
}

/* lstat every name into j (two threads for a large directory). */
static void stat_all(struct walker *w, struct stat_job *j)
{
	struct stat_helper *h = &w->helper;
	if (j->n >= STAT_PARALLEL_MIN && !h->started) {
		pthread_mutex_init(&h->mu, NULL);
		pthread_cond_init(&h->cv, NULL);
		/* Without the helper the walk is only slower. */
		h->started = pthread_create(&h->tid, NULL, helper_main, h) == 0;
		if (!h->started) {
			pthread_cond_destroy(&h->cv);
			pthread_mutex_destroy(&h->mu);
		}
	}
	if (j->n < STAT_PARALLEL_MIN || !h->started) {
		stat_some(j);
		return;
	}
	pthread_mutex_lock(&h->mu);
	h->job = j;
	h->posted++;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
	stat_some(j);
	pthread_mutex_lock(&h->mu);
	while (h->finished != h->posted)
		pthread_cond_wait(&h->cv, &h->mu);
	pthread_mutex_unlock(&h->mu);
}

static int walk_dir(struct walker *w, int fd);

static int enter(struct walker *w, int parentfd, const char *name, const struct stat *st,
		 bool emitted)
{
	struct stat now;
	int fd, r;

	if (w->depth >= HOIST_CONTEXT_MAX_DEPTH)
		return hoist_error_set(w->err, -ELOOP, "'%s' is nested deeper than %d directories",
				       w->path, HOIST_CONTEXT_MAX_DEPTH);
	fd = openat(parentfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return hoist_error_set(w->err, -errno, "cannot open directory '%s': %s", w->path,
				       strerror(errno));
	/* Refuse a directory swapped (say, for a symlink) after we looked at it. */
	if (fstat(fd, &now) < 0 || now.st_dev != st->st_dev || now.st_ino != st->st_ino) {
		close(fd);
		return hoist_error_set(w->err, -ESTALE, "directory '%s' changed during the walk",
				       w->path);
	}
	w->levels[w->depth] = (struct level){.len = w->len, .st = *st, .emitted = emitted};
	w->depth++;
	r = walk_dir(w, fd);
	w->depth--;
	return r;
}

static int visit_entry(struct walker *w, int dfd, const char *name, const struct stat *stp,
		       int stat_errno)
{
	const struct hoist_ignore *ig = w->ctx->ig;
	size_t nlen = strlen(name), old = w->len;
	struct stat st;
	int m = 0, r;

	if (old + (old ? 1 : 0) + nlen >= sizeof(w->path))
		return hoist_error_set(w->err, -ENAMETOOLONG,
				       "path in the build context is too long: '%s/%s'", w->path,
				       name);
	if (old)
		w->path[w->len++] = '/';
	memcpy(w->path + w->len, name, nlen + 1);
	w->len += nlen;

	if (stat_errno) {
		r = -stat_errno;
		if (r == -ENOENT) {
			/* Removed since readdir: it is simply not there any more. */
			r = 0;
			goto out;
		}
		r = hoist_error_set(w->err, r, "cannot stat '%s': %s", w->path, strerror(-r));
		goto out;
	}
	st = *stp;
	if (ig) {
		m = hoist_ignore_match_ex(ig, w->path, 0, w->err);
		if (m < 0) {
			r = hoist_error_prefix(w->err, "matching '%s'", w->path);
			goto out;
		}
	}
	if (m) {
		r = 0;
		if (S_ISDIR(st.st_mode) && hoist_ignore_descend(ig, w->path))
			r = enter(w, dfd, name, &st, false);
		goto out;
	}
	if ((r = emit_pending(w)) != 0)
		goto out;
	if ((r = w->fn(w->path, &st, w->userdata)) != 0)
		goto out;
	if (S_ISDIR(st.st_mode))
		r = enter(w, dfd, name, &st, true);
out:
	w->len = old;
	w->path[old] = '\0';
	return r;
}

static int walk_dir(struct walker *w, int fd)
{
	_cleanup_(closedirp) DIR *d = NULL;
	_cleanup_strv_ struct hoist_strv names = HOIST_STRV_INIT;
	int r;

	if ((r = read_names(w, fd, &d, &names)) < 0)
		return r;
	if (!names.n)
		return 0;
	_cleanup_free_ struct stat *st = hoist_xmalloc(names.n * sizeof(*st));
	_cleanup_free_ int *errs = hoist_xmalloc(names.n * sizeof(*errs));
	struct stat_job j = {
	    .dfd = dirfd(d), .names = names.v, .st = st, .errs = errs, .n = names.n};
	stat_all(w, &j);
	for (size_t i = 0; i < names.n; i++)
		if ((r = visit_entry(w, dirfd(d), names.v[i], &st[i], errs[i])) != 0)
			return r;
	return 0;
}

int hoist_context_walk(const struct hoist_context *ctx, hoist_context_visit_fn fn, void *userdata,
		       struct hoist_error *err)
{
	_cleanup_free_ struct walker *w = NULL;
	int fd;

	/* A fresh open file description: a dup would share the read offset. */
	fd = openat(ctx->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return hoist_error_set(err, -errno, "cannot open the build context: %s",
				       strerror(errno));
	w = hoist_xcalloc(1, sizeof(*w));
	w->ctx = ctx;
	w->fn = fn;
	w->userdata = userdata;
	w->err = err;
	int r = walk_dir(w, fd);
	helper_stop(&w->helper);
	return r;
}

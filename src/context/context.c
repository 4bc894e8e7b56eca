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

/*
 * The walk runs in batches of up to BATCH_MAX entries (small: their memory
 * is fresh, and fresh pages are what a short process pays most for), in
 * three phases:
 *
 *  1. list (this thread): read directories depth first, names sorted, and
 *     match each path against the ignore rules. readdir's d_type says which
 *     names are directories, so the walk needs no stat to know where to go;
 *     a directory to enter is opened (O_NOFOLLOW) and fstat'ed, which also
 *     means a directory swapped for a symlink is never followed. Excluded
 *     entries that need not be entered are dropped here, unstat'ed.
 *  2. stat: lstat every other entry of the batch, on two threads taking
 *     STAT_CHUNK entries at a time. On a no-op rebuild these 20,000 fstatat
 *     calls are most of the walk; one hand-off per batch (not one per
 *     directory, as before) keeps both threads busy.
 *  3. visit (this thread), in order: the result does not depend on which
 *     thread stat'ed what.
 *
 * The helper thread starts with the first batch that has STAT_PARALLEL_MIN
 * entries to stat and is joined before hoist_context_walk() returns: no
 * thread outlives the walk (the sandbox clones later). A directory's fd
 * stays open until its batch is stat'ed; a batch is also cut when
 * BATCH_FDS finished directories wait for that, bounding the open fds.
 */
#define BATCH_MAX 1024
#define BATCH_FDS 256
#define BATCH_PATHS ((size_t)64 << 10)
#define STAT_PARALLEL_MIN 64
#define STAT_CHUNK 32

enum {
	BENT_STAT = 1 << 0,    /* lstat it in phase 2 (st is not filled yet) */
	BENT_ENTERED = 1 << 1, /* a directory the walk went into */
	BENT_EXCLUDED = 1 << 2 /* excluded, entered only for exceptions below */
};

struct bent {
	size_t path_off; /* in batch.paths, NUL-terminated */
	size_t name_off; /* the base name, within the path */
	int dfd;	 /* the parent directory, for lstat */
	int err;	 /* errno of the lstat, or 0 */
	unsigned depth;
	unsigned flags;
	struct stat st;
};

struct batch {
	struct bent *v;
	size_t n;
	struct hoist_buf paths;
	int fds[BATCH_FDS]; /* finished directories, closed after phase 2 */
	size_t n_fds;
	size_t next;	   /* atomic: the next entry for phase 2 */
	unsigned long seq; /* the helper's job number, when helped */
	bool posted, helped;
};

struct stat_helper {
	pthread_t tid;
	bool started, stop;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct batch *jobs[2];		/* by job number % 2 */
	unsigned long posted, finished; /* job numbers */
};

/* A directory being listed: its sorted names, and the next to take. */
struct dlevel {
	int fd;
	size_t path_len; /* length of this directory's path in walker.path */
	struct hoist_buf names;
	struct name_ref {
		uint32_t off;
		unsigned char type; /* d_type */
	} * refs;
	size_t n, cap, next;
};

/* Phase 3's view of the directories above the entry being visited. */
struct level {
	size_t len; /* length of this directory's path */
	struct stat st;
	bool emitted; /* visited already (false: excluded, entered for exceptions) */
};

struct walker {
	const struct hoist_context *ctx;
	struct stat_helper helper;
	hoist_context_visit_fn fn;
	void *userdata;
	struct hoist_error *err;
	size_t count;
	struct batch slots[2], *batch; /* batch: the one phase 1 fills */
	unsigned depth;		       /* open dlevels */
	struct dlevel dirs[HOIST_CONTEXT_MAX_DEPTH + 1];
	unsigned vdepth; /* phase 3 levels */
	struct level levels[HOIST_CONTEXT_MAX_DEPTH + 1];
	size_t len;
	char path[PATH_MAX];
	char dents[32768];
};

static int cmp_refs(const void *a, const void *b, void *names)
{
	return strcmp((const char *)names + ((const struct name_ref *)a)->off,
		      (const char *)names + ((const struct name_ref *)b)->off);
}

/* Read a directory's names in byte order into l (fd stays open). */
static int read_names(struct walker *w, struct dlevel *l)
{
	hoist_buf_reset(&l->names);
	l->n = l->next = 0;
	for (;;) {
		ssize_t got = getdents64(l->fd, w->dents, sizeof(w->dents));
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return hoist_error_set(w->err, -errno, "cannot read directory '%s': %s",
					       w->len ? w->path : ".", strerror(errno));
		if (got == 0)
			break;
		for (ssize_t pos = 0; pos < got;) {
			const struct dirent64 *de = (const void *)(w->dents + pos);
			pos += de->d_reclen;
			const char *nm = de->d_name;
			if (nm[0] == '.' && (!nm[1] || (nm[1] == '.' && !nm[2])))
				continue;
			if (++w->count > HOIST_CONTEXT_MAX_ENTRIES)
				return hoist_error_set(w->err, -E2BIG,
						       "build context has more than %zu entries",
						       HOIST_CONTEXT_MAX_ENTRIES);
			if (l->n == l->cap) {
				l->cap = l->cap ? l->cap * 2 : 64;
				l->refs = hoist_xrealloc(l->refs, l->cap * sizeof(*l->refs));
			}
			l->refs[l->n].off = (uint32_t)l->names.len;
			l->refs[l->n].type = de->d_type;
			l->n++;
			if (hoist_buf_add(&l->names, nm, strlen(nm) + 1) < 0)
				return hoist_error_set(w->err, -E2BIG,
						       "directory '%s' has too many names",
						       w->len ? w->path : ".");
		}
	}
	if (l->n > 1)
		qsort_r(l->refs, l->n, sizeof(*l->refs), cmp_refs, l->names.data);
	return 0;
}

/* ---- phase 2 ---- */

static void stat_some(struct batch *b)
{
	for (;;) {
		size_t i = __atomic_fetch_add(&b->next, STAT_CHUNK, __ATOMIC_RELAXED);
		if (i >= b->n)
			return;
		size_t end = i + STAT_CHUNK < b->n ? i + STAT_CHUNK : b->n;
		for (; i < end; i++) {
			struct bent *e = &b->v[i];
			if (e->flags & BENT_STAT)
				e->err = fstatat(e->dfd, b->paths.data + e->name_off, &e->st,
						 AT_SYMLINK_NOFOLLOW) < 0
					     ? errno
					     : 0;
		}
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
		struct batch *b = h->jobs[h->finished % 2];
		pthread_mutex_unlock(&h->mu);
		stat_some(b);
		pthread_mutex_lock(&h->mu);
		h->finished++;
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

/* Start phase 2 of b: on the helper too when it is large enough. */
static void post(struct walker *w, struct batch *b)
{
	struct stat_helper *h = &w->helper;
	size_t todo = 0;
	for (size_t i = 0; i < b->n; i++)
		todo += (b->v[i].flags & BENT_STAT) != 0;
	b->next = 0;
	b->posted = true;
	b->helped = false;
	if (todo >= STAT_PARALLEL_MIN && !h->started) {
		pthread_mutex_init(&h->mu, NULL);
		pthread_cond_init(&h->cv, NULL);
		/* Without the helper the walk is only slower. */
		h->started = pthread_create(&h->tid, NULL, helper_main, h) == 0;
		if (!h->started) {
			pthread_cond_destroy(&h->cv);
			pthread_mutex_destroy(&h->mu);
		}
	}
	if (!h->started || !todo)
		return;
	pthread_mutex_lock(&h->mu);
	b->seq = h->posted;
	b->helped = true;
	h->jobs[h->posted % 2] = b;
	h->posted++;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
}

/* Finish phase 2 of b: every entry is stat'ed, and the helper is done with
 * it (so it may be refilled) once it has passed b's job number. */
static void finish(struct walker *w, struct batch *b)
{
	struct stat_helper *h = &w->helper;
	stat_some(b);
	if (!b->helped)
		return;
	pthread_mutex_lock(&h->mu);
	while (h->finished <= b->seq)
		pthread_cond_wait(&h->cv, &h->mu);
	pthread_mutex_unlock(&h->mu);
}

/* ---- phase 3 ---- */

/* Visit the excluded parents that were entered but not yet visited. */
static int emit_pending(struct walker *w, char *path)
{
	for (unsigned i = 0; i < w->vdepth; i++) {
		struct level *lv = &w->levels[i];
		if (lv->emitted)
			continue;
		char save = path[lv->len];
		path[lv->len] = '\0';
		int r = w->fn(path, &lv->st, w->userdata);
		path[lv->len] = save;
		lv->emitted = true;
		if (r != 0)
			return r;
	}
	return 0;
}

static int visit_batch(struct walker *w, struct batch *b)
{
	int r;
	for (size_t i = 0; i < b->n; i++) {
		struct bent *e = &b->v[i];
		char *path = b->paths.data + e->path_off;
		if (e->depth < w->vdepth)
			w->vdepth = e->depth;
		if (e->err) {
			if (e->err == ENOENT)
				continue; /* removed since readdir: simply not there any more */
			return hoist_error_set(w->err, -e->err, "cannot stat '%s': %s", path,
					       strerror(e->err));
		}
		/* A name readdir called a non-directory that is one now: the walk
		 * did not go into it, and cannot pretend it has nothing in it. */
		if ((e->flags & BENT_STAT) && S_ISDIR(e->st.st_mode))
			return hoist_error_set(w->err, -ESTALE,
					       "'%s' changed during the walk (now a directory)",
					       path);
		if (!(e->flags & BENT_EXCLUDED)) {
			if ((r = emit_pending(w, path)) != 0)
				return r;
			if ((r = w->fn(path, &e->st, w->userdata)) != 0)
				return r;
		}
		if (e->flags & BENT_ENTERED)
			w->levels[w->vdepth++] =
			    (struct level){.len = strlen(path),
					   .st = e->st,
					   .emitted = !(e->flags & BENT_EXCLUDED)};
	}
	return 0;
}

/* Phases 2 and 3 of a posted batch, which is then empty again. */
static int complete(struct walker *w, struct batch *b)
{
	int r = 0;
	if (b->posted) {
		finish(w, b);
		r = visit_batch(w, b);
	}
	for (size_t i = 0; i < b->n_fds; i++)
		close(b->fds[i]);
	b->n = b->n_fds = 0;
	b->posted = false;
	hoist_buf_reset(&b->paths);
	return r;
}

/*
 * Hand the full batch to phase 2 and continue phase 1 in the other one,
 * once that one's own phases 2 and 3 are over: listing overlaps stat'ing.
 */
static int rotate(struct walker *w)
{
	struct batch *full = w->batch, *other = full == &w->slots[0] ? &w->slots[1] : &w->slots[0];
	post(w, full);
	w->batch = other;
	return complete(w, other);
}

/* ---- phase 1 ---- */

static struct bent *batch_add(struct walker *w, int dfd, size_t name_len, unsigned flags)
{
	struct batch *b = w->batch;
	struct bent *e = &b->v[b->n++];
	e->path_off = b->paths.len;
	e->name_off = b->paths.len + w->len - name_len;
	e->dfd = dfd;
	e->err = 0;
	e->depth = w->depth - 1;
	e->flags = flags;
	hoist_buf_add(&b->paths, w->path, w->len + 1);
	return e;
}

/* Open the directory at the end of w->path and make it the deepest level. */
static int enter(struct walker *w, int parentfd, const char *name, struct stat *st)
{
	if (w->depth > HOIST_CONTEXT_MAX_DEPTH)
		return hoist_error_set(w->err, -ELOOP, "'%s' is nested deeper than %d directories",
				       w->path, HOIST_CONTEXT_MAX_DEPTH);
	int fd = openat(parentfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && (errno == ENOTDIR || errno == ELOOP))
		return hoist_error_set(w->err, -ESTALE,
				       "'%s' changed during the walk (no longer a directory)",
				       w->path);
	if (fd < 0)
		return hoist_error_set(w->err, -errno, "cannot open directory '%s': %s", w->path,
				       strerror(errno));
	if (fstat(fd, st) < 0) {
		int r = -errno;
		close(fd);
		return hoist_error_set(w->err, r, "cannot stat '%s': %s", w->path, strerror(-r));
	}
	struct dlevel *l = &w->dirs[w->depth++];
	l->fd = fd;
	l->path_len = w->len;
	return read_names(w, l);
}

/* Take the next name of the deepest directory into the batch. */
static int list_next(struct walker *w)
{
	struct dlevel *l = &w->dirs[w->depth - 1];
	const struct hoist_ignore *ig = w->ctx->ig;
	int r, m = 0;

	w->len = l->path_len;
	w->path[w->len] = '\0';
	if (l->next == l->n) {
		/* Done with it; its fd serves phase 2 until the batch is flushed. */
		w->batch->fds[w->batch->n_fds++] = l->fd;
		w->depth--;
		return 0;
	}
	struct name_ref ref = l->refs[l->next++];
	const char *name = l->names.data + ref.off;
	size_t nlen = strlen(name), old = w->len;
	if (old + (old ? 1 : 0) + nlen >= sizeof(w->path))
		return hoist_error_set(w->err, -ENAMETOOLONG,
				       "path in the build context is too long: '%s/%s'", w->path,
				       name);
	if (old)
		w->path[w->len++] = '/';
	memcpy(w->path + w->len, name, nlen + 1);
	w->len += nlen;

	struct stat st;
	bool have_st = false, is_dir = ref.type == DT_DIR;
	if (ref.type == DT_UNKNOWN) {
		/* File systems without d_type: stat here to know where to go. */
		if (fstatat(l->fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				return 0;
			return hoist_error_set(w->err, -errno, "cannot stat '%s': %s", w->path,
					       strerror(errno));
		}
		have_st = true;
		is_dir = S_ISDIR(st.st_mode);
	}
	if (ig) {
		m = hoist_ignore_match_ex(ig, w->path, 0, w->err);
		if (m < 0)
			return hoist_error_prefix(w->err, "matching '%s'", w->path);
	}
	if (m && !(is_dir && hoist_ignore_descend(ig, w->path)))
		return 0;

	unsigned flags = m ? BENT_EXCLUDED : 0;
	if (is_dir) {
		int dfd = l->fd;
		if ((r = enter(w, dfd, name, &st)) < 0)
			return r;
		/* The directory's own entry, at its parent's depth. */
		w->depth--;
		struct bent *e = batch_add(w, dfd, nlen, flags | BENT_ENTERED);
		w->depth++;
		e->st = st;
		return 0;
	}
	struct bent *e = batch_add(w, l->fd, nlen, flags | (have_st ? 0 : BENT_STAT));
	if (have_st)
		e->st = st;
	return 0;
}

static int walk(struct walker *w, int rootfd)
{
	int r;

	w->dirs[0].fd = rootfd;
	w->dirs[0].path_len = 0;
	w->depth = 1;
	if ((r = read_names(w, &w->dirs[0])) < 0)
		return r;
	while (w->depth) {
		if ((r = list_next(w)) < 0)
			return r;
		struct batch *b = w->batch;
		if (b->n == BATCH_MAX || b->n_fds == BATCH_FDS || b->paths.len >= BATCH_PATHS)
			if ((r = rotate(w)) != 0)
				return r;
	}
	/* The last batch listed, then the one before it, in that order of
	 * phase 2 but the other order of visits. */
	struct batch *last = w->batch;
	post(w, last);
	w->batch = last == &w->slots[0] ? &w->slots[1] : &w->slots[0];
	if ((r = complete(w, w->batch)) != 0)
		return r;
	return complete(w, last);
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
	for (unsigned i = 0; i < 2; i++) {
		w->slots[i].v = hoist_xmalloc(BATCH_MAX * sizeof(*w->slots[i].v));
		hoist_buf_init(&w->slots[i].paths, BATCH_PATHS + PATH_MAX + 1);
	}
	w->batch = &w->slots[0];
	/* Names of one directory: offsets are 32-bit. */
	for (unsigned i = 0; i <= HOIST_CONTEXT_MAX_DEPTH; i++)
		hoist_buf_init(&w->dirs[i].names, (size_t)UINT32_MAX);
	int r = walk(w, fd);
	helper_stop(&w->helper);
	/* After an error: the directories still open, and those the batches held. */
	while (w->depth)
		close(w->dirs[--w->depth].fd);
	for (unsigned i = 0; i < 2; i++)
		for (size_t j = 0; j < w->slots[i].n_fds; j++)
			close(w->slots[i].fds[j]);
	for (unsigned i = 0; i <= HOIST_CONTEXT_MAX_DEPTH; i++) {
		hoist_buf_release(&w->dirs[i].names);
		free(w->dirs[i].refs);
	}
	for (unsigned i = 0; i < 2; i++) {
		hoist_buf_release(&w->slots[i].paths);
		free(w->slots[i].v);
	}
	return r;
}

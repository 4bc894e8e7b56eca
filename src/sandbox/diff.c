/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The change set of a run: the overlay upper directory, walked alone (never
 * the merged tree, so the cost follows what the command changed, not the
 * image size) and streamed into one layer: overlay whiteouts (char 0/0)
 * become ".wh.NAME", opaque directories get ".wh..wh..opq", ownership is
 * what the container saw, entries are sorted, and the mount points the
 * sandbox had to create are left out (as BuildKit drops its mount stubs).
 */
#include <dirent.h>
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

struct walk {
	const struct upper_diff_args *a;
	struct layer_emit em;
};

bool emit_is_stub(const struct layer_emit *em, const char *path)
{
	for (const char *const *s = em->stubs; s && *s; s++)
		if (strcmp(*s, path) == 0)
			return true;
	return false;
}

bool emit_is_hidden_parent(const struct layer_emit *em, const char *path)
{
	size_t len = strlen(path);
	const char *h = em->hidden;
	if (!h || strncmp(h, path, len) != 0 || h[len] != '/')
		return false;
	for (const char *const *s = em->stubs; s && *s; s++) {
		const char *slash = strrchr(*s, '/');
		size_t dl = slash ? (size_t)(slash - *s) : 0;
		if (strcmp(*s, h) != 0 && dl == len && strncmp(*s, path, len) == 0)
			return false;
	}
	return true;
}

void emit_entry_init(const struct layer_emit *em, const struct stat *st, const char *path,
		     struct hoist_entry *e)
{
	*e = (struct hoist_entry){
	    .path = (char *)path, .mode = st->st_mode & 07777, .mtime = st->st_mtim.tv_sec};
	/* In root and subuid mode the walk runs with the run's own mapping, so
	 * stat already shows container ids; a single-uid container has only 0. */
	if (em->mode != HOIST_IDMODE_SINGLE) {
		e->uid = st->st_uid;
		e->gid = st->st_gid;
	}
}

int emit_flush_pending(struct layer_emit *em, struct hoist_error *err)
{
	int r = 0;
	for (size_t i = 0; i < em->n_pending; i++) {
		if (r == 0 && (r = hoist_layer_add(em->w, &em->pending[i], -1, err)) == 0)
			em->n_written++;
		hoist_entry_release(&em->pending[i]);
	}
	em->n_pending = 0;
	return r;
}

int emit_dir(struct layer_emit *em, struct hoist_entry *e, bool hold, bool opaque,
	     struct hoist_error *err)
{
	int r;
	e->type = HOIST_ENTRY_DIR;
	if (hold && em->n_pending < EMIT_MAX_DEPTH) {
		hoist_entry_copy(&em->pending[em->n_pending++], e);
		return 0;
	}
	if ((r = emit_flush_pending(em, err)) < 0 || (r = hoist_layer_add(em->w, e, -1, err)) < 0)
		return r;
	em->n_written++;
	return opaque ? hoist_layer_add_opaque(em->w, e->path, err) : 0;
}

void emit_drop_pending(struct layer_emit *em, size_t mark)
{
	while (em->n_pending > mark)
		hoist_entry_release(&em->pending[--em->n_pending]);
}

int emit_whiteout(struct layer_emit *em, const char *path, struct hoist_error *err)
{
	int r = emit_flush_pending(em, err);
	if (r < 0)
		return r;
	em->n_written++;
	return hoist_layer_add_whiteout(em->w, path, err);
}

/* A regular file: content from dfd/name without following a link. File
 * capabilities (setcap in a RUN) belong to the layer, as Docker's
 * SCHILY.xattr.security.capability. */
static int emit_file(struct layer_emit *em, int dfd, const char *name, const struct stat *st,
		     struct hoist_entry *e, struct hoist_error *err)
{
	if (st->st_nlink > 1) {
		for (size_t i = 0; i < em->n_links; i++)
			if (em->links[i].dev == st->st_dev && em->links[i].ino == st->st_ino) {
				e->type = HOIST_ENTRY_HARDLINK;
				e->linkname = em->links[i].path;
				return hoist_layer_add(em->w, e, -1, err);
			}
		em->links = hoist_xrealloc(em->links, (em->n_links + 1) * sizeof(*em->links));
		em->links[em->n_links++] =
		    (struct emit_link){st->st_dev, st->st_ino, hoist_xstrdup(e->path)};
	}
	_cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return hoist_error_set(err, -errno, "opening '%s': %s", e->path, strerror(errno));
	e->type = HOIST_ENTRY_FILE;
	e->size = (uint64_t)st->st_size;
	char cap[256];
	struct hoist_xattr x = {.name = (char *)"security.capability", .value = cap};
	ssize_t cl = fgetxattr(fd, x.name, cap, sizeof(cap));
	if (cl > 0) {
		x.len = (size_t)cl;
		e->xattrs = &x;
		e->n_xattrs = 1;
	}
	int r = hoist_layer_add(em->w, e, fd, err);
	e->xattrs = NULL; /* x is gone when we return */
	e->n_xattrs = 0;
	return r;
}

int emit_nondir(struct layer_emit *em, int dfd, const char *name, const struct stat *st,
		struct hoist_entry *e, const char *target, struct hoist_error *err)
{
	if (S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0))
		return emit_whiteout(em, e->path, err);
	if (S_ISSOCK(st->st_mode))
		return 0; /* no tar form; Docker leaves them out too */
	char buf[4097];
	if (S_ISLNK(st->st_mode) && !target) {
		ssize_t n = readlinkat(dfd, name, buf, sizeof(buf) - 1);
		if (n < 0)
			return hoist_error_set(err, -errno, "readlink '%s': %s", e->path,
					       strerror(errno));
		buf[n] = '\0';
		target = buf;
	}
	int r = emit_flush_pending(em, err);
	if (r < 0)
		return r;
	em->n_written++;
	if (S_ISREG(st->st_mode))
		return emit_file(em, dfd, name, st, e, err);
	if (S_ISLNK(st->st_mode)) {
		e->type = HOIST_ENTRY_SYMLINK;
		e->linkname = (char *)target;
		e->mode = 0777;
	} else if (S_ISFIFO(st->st_mode)) {
		e->type = HOIST_ENTRY_FIFO;
	} else {
		e->type = S_ISCHR(st->st_mode) ? HOIST_ENTRY_CHAR : HOIST_ENTRY_BLOCK;
		e->devmajor = major(st->st_rdev);
		e->devminor = minor(st->st_rdev);
	}
	return hoist_layer_add(em->w, e, -1, err);
}

void emit_release(struct layer_emit *em)
{
	for (size_t i = 0; i < em->n_pending; i++)
		hoist_entry_release(&em->pending[i]);
	em->n_pending = 0;
	for (size_t i = 0; i < em->n_links; i++)
		free(em->links[i].path);
	free(em->links);
	em->links = NULL;
	em->n_links = 0;
}

static int cmp_str(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

static int walk_dir(struct walk *wk, int dfd, const char *rel, unsigned depth,
		    struct hoist_error *err);

/* Whether path, a directory of the image above the hidden stub, still has
 * the mode and owner of the top-most lower that has it: then only making
 * the stub copied it up. Its mtime is not compared: the stub changed it. */
static bool hidden_parent_unchanged(const struct walk *wk, const char *path, const struct stat *up)
{
	const char *const *lowers = wk->a->lowers;
	if (!lowers || !emit_is_hidden_parent(&wk->em, path))
		return false;
	size_t n = 0;
	while (lowers[n])
		n++;
	while (n-- > 0) {
		_cleanup_free_ char *p = hoist_xasprintf("%s/%s", lowers[n], path);
		struct stat st;
		if (lstat(p, &st) < 0)
			continue;
		return S_ISDIR(st.st_mode) && st.st_mode == up->st_mode &&
		       st.st_uid == up->st_uid && st.st_gid == up->st_gid;
	}
	return false;
}

static int walk_entry(struct walk *wk, int dfd, const char *name, const char *path, unsigned depth,
		      struct hoist_error *err)
{
	struct layer_emit *em = &wk->em;
	struct stat st;
	int r;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return hoist_error_set(err, -errno, "stat '%s': %s", path, strerror(errno));

	struct hoist_entry e;
	emit_entry_init(em, &st, path, &e);
	bool stub = emit_is_stub(em, path);

	if (S_ISDIR(st.st_mode)) {
		if (depth >= EMIT_MAX_DEPTH)
			return hoist_error_set(err, -ELOOP, "'%s': too deep", path);
		_cleanup_close_ int fd =
		    openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return hoist_error_set(err, -errno, "opening '%s': %s", path,
					       strerror(errno));
		char v[8];
		bool opaque = fgetxattr(fd, "user.overlay.opaque", v, sizeof(v)) > 0 ||
			      fgetxattr(fd, "trusted.overlay.opaque", v, sizeof(v)) > 0;
		size_t mark = em->n_pending;
		/* A stub directory is written only if something below it is; so is
		 * an image directory that overlayfs copied up only because the
		 * hidden stub was made in it. */
		bool hold = !opaque && (stub || hidden_parent_unchanged(wk, path, &st));
		if ((r = emit_dir(em, &e, hold, opaque, err)) < 0 ||
		    (r = walk_dir(wk, fd, path, depth + 1, err)) < 0)
			return r;
		emit_drop_pending(em, mark);
		return 0;
	}
	if (stub && S_ISREG(st.st_mode) && st.st_size == 0)
		return 0;
	return emit_nondir(em, dfd, name, &st, &e, NULL, err);
}

static int walk_dir(struct walk *wk, int dfd, const char *rel, unsigned depth,
		    struct hoist_error *err)
{
	_cleanup_strv_ struct hoist_strv names = HOIST_STRV_INIT;
	int fd = fcntl(dfd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			hoist_strv_push(&names, de->d_name);
	closedir(d);
	if (names.n > 1)
		qsort(names.v, names.n, sizeof(char *), cmp_str);
	for (size_t i = 0; i < names.n; i++) {
		_cleanup_free_ char *path =
		    rel[0] ? hoist_xasprintf("%s/%s", rel, names.v[i]) : hoist_xstrdup(names.v[i]);
		int r = walk_entry(wk, dfd, names.v[i], path, depth, err);
		if (r < 0)
			return r;
	}
	return 0;
}

int upper_diff_fn(void *arg, void *out, struct hoist_error *err)
{
	const struct upper_diff_args *a = arg;
	struct upper_diff_out *o = out;
	struct walk wk = {.a = a,
			  .em = {.stubs = a->stubs, .hidden = a->hidden, .mode = a->idmap->mode}};
	int r;

	_cleanup_close_ int fd = open(a->upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return hoist_error_set(err, -errno, "opening '%s': %s", a->upper, strerror(errno));
	r = hoist_layer_writer_new(a->store, a->layer_opts, &wk.em.w, err);
	if (r < 0)
		return r;
	r = walk_dir(&wk, fd, "", 0, err);
	emit_release(&wk.em);
	if (r < 0) {
		hoist_layer_writer_abort(wk.em.w);
		return hoist_error_prefix(err, "writing the layer of the run");
	}
	o->empty = wk.em.n_written == 0;
	return hoist_layer_writer_finish(wk.em.w, &o->desc, o->diff_id, err);
}

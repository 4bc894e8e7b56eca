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

#define MAX_DEPTH 256

struct link_seen {
	dev_t dev;
	ino_t ino;
	char *path;
};

struct walk {
	const struct upper_diff_args *a;
	struct hoist_layer_writer *w;
	struct hoist_entry pending[MAX_DEPTH]; /* stub directories not written yet */
	size_t n_pending;
	struct link_seen *links;
	size_t n_links;
	size_t n_written;
};

/*
 * Add a regular file's entry (e: name, mode, owner, times already set) and
 * its content, read from dfd/name without following a link. File
 * capabilities (setcap in a RUN) belong to the layer, as Docker's
 * SCHILY.xattr.security.capability. Shared by the overlay diff and the
 * full-tree comparison (snapcopy.c).
 */
int sandbox_layer_add_file(struct hoist_layer_writer *w, int dfd, const char *name,
			   const char *path, const struct stat *st, struct hoist_entry *e,
			   struct hoist_error *err)
{
	_cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return hoist_error_set(err, -errno, "opening '%s': %s", path, strerror(errno));
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
	int r = hoist_layer_add(w, e, fd, err);
	e->xattrs = NULL; /* x is gone when we return */
	e->n_xattrs = 0;
	return r;
}

static bool is_stub(const struct walk *wk, const char *path)
{
	for (const char *const *s = wk->a->stubs; s && *s; s++)
		if (strcmp(*s, path) == 0)
			return true;
	return false;
}

static int flush_pending(struct walk *wk, struct hoist_error *err)
{
	for (size_t i = 0; i < wk->n_pending; i++) {
		int r = hoist_layer_add(wk->w, &wk->pending[i], -1, err);
		hoist_entry_release(&wk->pending[i]);
		if (r < 0) {
			for (size_t j = i + 1; j < wk->n_pending; j++)
				hoist_entry_release(&wk->pending[j]);
			wk->n_pending = 0;
			return r;
		}
		wk->n_written++;
	}
	wk->n_pending = 0;
	return 0;
}

static void fill_owner(const struct walk *wk, const struct stat *st, struct hoist_entry *e)
{
	/* In root and subuid mode the walk runs with the run's own mapping, so
	 * stat already shows container ids; a single-uid container has only 0. */
	if (wk->a->idmap->mode == HOIST_IDMODE_SINGLE) {
		e->uid = e->gid = 0;
	} else {
		e->uid = st->st_uid;
		e->gid = st->st_gid;
	}
}

static int cmp_str(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

static int walk_dir(struct walk *wk, int dfd, const char *rel, unsigned depth,
		    struct hoist_error *err);

static int walk_entry(struct walk *wk, int dfd, const char *name, const char *path, unsigned depth,
		      struct hoist_error *err)
{
	struct stat st;
	int r;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return hoist_error_set(err, -errno, "stat '%s': %s", path, strerror(errno));

	if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) {
		if ((r = flush_pending(wk, err)) < 0)
			return r;
		wk->n_written++;
		return hoist_layer_add_whiteout(wk->w, path, err);
	}

	struct hoist_entry e = {
	    .path = (char *)path, .mode = st.st_mode & 07777, .mtime = st.st_mtim.tv_sec};
	fill_owner(wk, &st, &e);
	bool stub = is_stub(wk, path);

	if (S_ISDIR(st.st_mode)) {
		if (depth >= MAX_DEPTH)
			return hoist_error_set(err, -ELOOP, "'%s': too deep", path);
		_cleanup_close_ int fd =
		    openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return hoist_error_set(err, -errno, "opening '%s': %s", path,
					       strerror(errno));
		char v[8];
		bool opaque = fgetxattr(fd, "user.overlay.opaque", v, sizeof(v)) > 0 ||
			      fgetxattr(fd, "trusted.overlay.opaque", v, sizeof(v)) > 0;
		e.type = HOIST_ENTRY_DIR;
		size_t mark = wk->n_pending;
		if (stub && !opaque && wk->n_pending < MAX_DEPTH) {
			/* Written only if something below it is. */
			hoist_entry_copy(&wk->pending[wk->n_pending++], &e);
		} else {
			if ((r = flush_pending(wk, err)) < 0)
				return r;
			if ((r = hoist_layer_add(wk->w, &e, -1, err)) < 0)
				return r;
			wk->n_written++;
			if (opaque && (r = hoist_layer_add_opaque(wk->w, path, err)) < 0)
				return r;
		}
		r = walk_dir(wk, fd, path, depth + 1, err);
		if (r < 0)
			return r;
		if (wk->n_pending > mark) {
			/* The stub held nothing of its own: drop it. */
			hoist_entry_release(&wk->pending[--wk->n_pending]);
		}
		return 0;
	}

	if (stub && S_ISREG(st.st_mode) && st.st_size == 0)
		return 0;
	if ((r = flush_pending(wk, err)) < 0)
		return r;
	wk->n_written++;

	if (S_ISREG(st.st_mode)) {
		if (st.st_nlink > 1) {
			for (size_t i = 0; i < wk->n_links; i++)
				if (wk->links[i].dev == st.st_dev &&
				    wk->links[i].ino == st.st_ino) {
					e.type = HOIST_ENTRY_HARDLINK;
					e.linkname = wk->links[i].path;
					return hoist_layer_add(wk->w, &e, -1, err);
				}
			wk->links =
			    hoist_xrealloc(wk->links, (wk->n_links + 1) * sizeof(*wk->links));
			wk->links[wk->n_links++] =
			    (struct link_seen){st.st_dev, st.st_ino, hoist_xstrdup(path)};
		}
		return sandbox_layer_add_file(wk->w, dfd, name, path, &st, &e, err);
	}
	if (S_ISLNK(st.st_mode)) {
		char target[4097];
		ssize_t n = readlinkat(dfd, name, target, sizeof(target) - 1);
		if (n < 0)
			return hoist_error_set(err, -errno, "readlink '%s': %s", path,
					       strerror(errno));
		target[n] = '\0';
		e.type = HOIST_ENTRY_SYMLINK;
		e.linkname = target;
		e.mode = 0777;
		return hoist_layer_add(wk->w, &e, -1, err);
	}
	if (S_ISFIFO(st.st_mode)) {
		e.type = HOIST_ENTRY_FIFO;
		return hoist_layer_add(wk->w, &e, -1, err);
	}
	if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
		e.type = S_ISCHR(st.st_mode) ? HOIST_ENTRY_CHAR : HOIST_ENTRY_BLOCK;
		e.devmajor = major(st.st_rdev);
		e.devminor = minor(st.st_rdev);
		return hoist_layer_add(wk->w, &e, -1, err);
	}
	/* Sockets have no tar form; Docker leaves them out too. */
	wk->n_written--;
	return 0;
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
	struct walk wk = {.a = a};
	int r;

	_cleanup_close_ int fd = open(a->upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return hoist_error_set(err, -errno, "opening '%s': %s", a->upper, strerror(errno));
	r = hoist_layer_writer_new(a->store, a->layer_opts, &wk.w, err);
	if (r < 0)
		return r;
	r = walk_dir(&wk, fd, "", 0, err);
	for (size_t i = 0; i < wk.n_pending; i++)
		hoist_entry_release(&wk.pending[i]);
	for (size_t i = 0; i < wk.n_links; i++)
		free(wk.links[i].path);
	free(wk.links);
	if (r < 0) {
		hoist_layer_writer_abort(wk.w);
		return hoist_error_prefix(err, "writing the layer of the run");
	}
	o->empty = wk.n_written == 0;
	return hoist_layer_writer_finish(wk.w, &o->desc, o->diff_id, err);
}

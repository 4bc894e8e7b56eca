/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The merged filesystem view of include/hoist/fstree.h: nodes with sorted
 * children, their paths, symlink resolution inside the tree, and opening a
 * file's content (unpacking a lazy snapshot first). Applying layers is
 * layers.c's.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fstree-private.h"

/* The name lives in the same allocation, after the node: trees of tens of
 * thousands of nodes are made and freed by every build. */
static struct hoist_fsnode *node_new(const char *name, struct hoist_fsnode *parent)
{
	size_t len = strlen(name);
	struct hoist_fsnode *n = hoist_xmalloc(sizeof(*n) + len + 1);
	memset(n, 0, sizeof(*n));
	n->name = memcpy((char *)(n + 1), name, len + 1);
	n->parent = parent;
	n->e.type = HOIST_ENTRY_DIR;
	n->e.mode = 0755;
	return n;
}

void fsnode_free(struct hoist_fsnode *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n_kids; i++)
		fsnode_free(n->kids[i]);
	free(n->kids);
	free(n->src);
	hoist_entry_release(&n->e);
	free(n);
}

static void clear_kids(struct hoist_fsnode *n)
{
	for (size_t i = 0; i < n->n_kids; i++)
		fsnode_free(n->kids[i]);
	n->n_kids = 0;
}

struct hoist_fstree *hoist_fstree_new(unsigned flags)
{
	struct hoist_fstree *t = hoist_xcalloc(1, sizeof(*t));
	t->root = node_new("", NULL);
	t->flags = flags;
	return t;
}

void hoist_fstree_free(struct hoist_fstree *t)
{
	if (!t)
		return;
	fsnode_free(t->root);
	hoist_strv_release(&t->roots);
	hoist_strv_release(&t->ready);
	free(t);
}

static size_t kid_pos(const struct hoist_fsnode *dir, const char *name, bool *found)
{
	size_t lo = 0, hi = dir->n_kids;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(dir->kids[mid]->name, name);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

struct hoist_fsnode *hoist_fstree_child(const struct hoist_fsnode *dir, const char *name)
{
	bool found;
	size_t p = kid_pos(dir, name, &found);
	return found ? dir->kids[p] : NULL;
}

struct hoist_fsnode *hoist_fstree_put(struct hoist_fsnode *dir, const char *name,
				      const struct hoist_entry *e, const char *src)
{
	bool found;
	size_t p = kid_pos(dir, name, &found);
	struct hoist_fsnode *n;

	if (found) {
		n = dir->kids[p];
		if (n->e.type == HOIST_ENTRY_DIR && e->type != HOIST_ENTRY_DIR)
			clear_kids(n);
		hoist_entry_release(&n->e);
		free(n->src);
		n->src = NULL;
	} else {
		n = node_new(name, dir);
		if (dir->n_kids == dir->alloc_kids) {
			dir->alloc_kids = dir->alloc_kids ? dir->alloc_kids * 2 : 8;
			dir->kids = hoist_xrealloc(dir->kids, dir->alloc_kids * sizeof(*dir->kids));
		}
		memmove(dir->kids + p + 1, dir->kids + p, (dir->n_kids - p) * sizeof(*dir->kids));
		dir->kids[p] = n;
		dir->n_kids++;
	}
	hoist_entry_copy(&n->e, e);
	free(n->e.path);
	n->e.path = NULL;
	n->src = src ? hoist_xstrdup(src) : NULL;
	return n;
}

void hoist_fstree_touch(struct hoist_fsnode *n, unsigned gen)
{
	n->gen = gen;
	for (struct hoist_fsnode *p = n->parent; p; p = p->parent)
		p->gen_below = gen;
}

bool fsnode_detach(struct hoist_fsnode *n)
{
	bool found;
	struct hoist_fsnode *dir = n->parent;
	if (!dir)
		return false;
	size_t p = kid_pos(dir, n->name, &found);
	if (!found)
		return false;
	memmove(dir->kids + p, dir->kids + p + 1, (dir->n_kids - p - 1) * sizeof(*dir->kids));
	dir->n_kids--;
	n->parent = NULL;
	return true;
}

void hoist_fstree_remove(struct hoist_fsnode *n)
{
	if (fsnode_detach(n))
		fsnode_free(n);
}

/* "a/b" or "/a/b"; the root is "" or "/". */
static char *node_path(const struct hoist_fsnode *n, bool absolute)
{
	size_t len = 0;
	for (const struct hoist_fsnode *p = n; p->parent; p = p->parent)
		len += strlen(p->name) + 1;
	if (len == 0)
		return hoist_xstrdup(absolute ? "/" : "");
	/* Filled from the end: each name preceded by its '/'. */
	char *s = hoist_xmalloc(len + 1);
	size_t at = len;
	s[len] = '\0';
	for (const struct hoist_fsnode *p = n; p->parent; p = p->parent) {
		size_t k = strlen(p->name);
		at -= k;
		memcpy(s + at, p->name, k);
		s[--at] = '/';
	}
	if (!absolute)
		memmove(s, s + 1, len);
	return s;
}

char *hoist_fstree_node_path(const struct hoist_fsnode *n)
{
	return node_path(n, false);
}

char *hoist_fstree_node_abspath(const struct hoist_fsnode *n)
{
	return node_path(n, true);
}

int hoist_fstree_resolve(struct hoist_fstree *t, const char *path, unsigned flags,
			 struct hoist_fsnode **ret, struct hoist_fsnode **ret_parent,
			 char **ret_name, struct hoist_strv *links)
{
	bool strict = t->flags & HOIST_FSTREE_STRICT_DOTS;
	struct hoist_fsnode *cur = t->root;
	_cleanup_free_ char *rest = hoist_xstrdup(path);
	int n_links = 0;

	if (ret_parent)
		*ret_parent = NULL;
	if (ret_name)
		*ret_name = NULL;
	for (;;) {
		char *p = rest;
		while (*p == '/')
			p++;
		if (!*p) {
			*ret = cur;
			return 0;
		}
		char *slash = strchr(p, '/');
		_cleanup_free_ char *comp =
		    slash ? hoist_xstrndup(p, (size_t)(slash - p)) : hoist_xstrdup(p);
		const char *after = slash ? slash : p + strlen(p);
		bool last = true;
		for (const char *q = after; *q; q++)
			if (*q != '/') {
				last = false;
				break;
			}
		if (strict && cur->e.type != HOIST_ENTRY_DIR)
			return -ENOTDIR;
		if (strcmp(comp, ".") == 0 || strcmp(comp, "..") == 0) {
			if (comp[1] == '.' && cur->parent)
				cur = cur->parent;
			memmove(rest, after, strlen(after) + 1);
			continue;
		}
		if (cur->e.type != HOIST_ENTRY_DIR)
			return -ENOTDIR;
		struct hoist_fsnode *child = hoist_fstree_child(cur, comp);
		if (!child) {
			if (last) {
				if (ret_parent)
					*ret_parent = cur;
				if (ret_name)
					*ret_name = TAKE_PTR(comp);
			}
			return -ENOENT;
		}
		if (child->e.type == HOIST_ENTRY_SYMLINK &&
		    (!last || (flags & HOIST_FSTREE_FOLLOW))) {
			if (++n_links > HOIST_FSTREE_MAX_SYMLINKS)
				return -ELOOP;
			if (links)
				hoist_strv_take(links, hoist_fstree_node_abspath(child));
			const char *target = child->e.linkname ? child->e.linkname : "";
			/* Splice: target + the rest; an absolute target restarts at the root. */
			char *next = hoist_xasprintf("%s%s", target, after);
			free(rest);
			rest = next;
			if (target[0] == '/')
				cur = t->root;
			continue;
		}
		cur = child;
		memmove(rest, after, strlen(after) + 1);
	}
}

/* Whether path is root or below it. */
static bool path_in(const char *path, const char *root)
{
	size_t n = strlen(root);
	return strncmp(path, root, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

/*
 * Make sure the snapshot holding host path `path` (if any) has its content.
 * Roots found ready are remembered so that opening many files costs string
 * compares, not syscalls.
 */
static int ensure_content(struct hoist_fstree *t, const char *path)
{
	struct hoist_error err = {0};
	if (!t->store)
		return 0;
	for (size_t i = 0; i < t->ready.n; i++)
		if (path_in(path, t->ready.v[i]))
			return 0;
	int r = hoist_snapshot_materialize_path(t->store, path, &err);
	if (r < 0)
		return r;
	/* Remember the snapshot root: "<store>/snapshots/<hex>/root". */
	const char *root = hoist_store_root(t->store);
	size_t n = strlen(root) + strlen("/snapshots/") + 64 + strlen("/root");
	if (strlen(path) >= n && path_in(path, root) &&
	    hoist_startswith(path + strlen(root), "/snapshots/") && (path[n] == '/' || !path[n]))
		hoist_strv_take(&t->ready, hoist_xstrndup(path, n));
	return 0;
}

int hoist_fstree_open(struct hoist_fstree *t, const struct hoist_fsnode *n)
{
	int r;
	if (n->e.type != HOIST_ENTRY_FILE || !n->src)
		return -EINVAL;
	if (!(t->flags & HOIST_FSTREE_LAYER_CONTENT) || n->layer == 0) {
		if ((r = ensure_content(t, n->src)) < 0)
			return r;
		int fd = open(n->src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		return fd < 0 ? -errno : fd;
	}
	if (n->layer > t->roots.n)
		return -EINVAL;
	if ((r = ensure_content(t, t->roots.v[n->layer - 1])) < 0)
		return r;
	_cleanup_close_ int rfd =
	    open(t->roots.v[n->layer - 1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rfd < 0)
		return -errno;
	/* The content path must stay inside the snapshot and never follow a
	 * symlink (the snapshot holds the image's own, untrusted ones). */
	struct open_how how = {.flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC,
			       .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS};
	long fd = syscall(SYS_openat2, rfd, n->src, &how, sizeof(how));
	return fd < 0 ? -errno : (int)fd;
}

int hoist_fstree_read_file(struct hoist_fstree *t, const char *path, size_t max, char **ret,
			   size_t *ret_len)
{
	struct hoist_fsnode *n;
	int r = hoist_fstree_resolve(t, path, HOIST_FSTREE_FOLLOW, &n, NULL, NULL, NULL);
	if (r < 0)
		return r;
	if (n->e.type != HOIST_ENTRY_FILE)
		return -EISDIR;
	_cleanup_close_ int fd = hoist_fstree_open(t, n);
	if (fd < 0)
		return fd;
	if (n->e.size > max)
		return -EFBIG;
	struct hoist_buf b = HOIST_BUF_INIT;
	hoist_buf_init(&b, max);
	char chunk[8192];
	for (;;) {
		ssize_t k = read(fd, chunk, sizeof(chunk));
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 || hoist_buf_add(&b, chunk, (size_t)k) < 0) {
			hoist_buf_release(&b);
			return -EIO;
		}
		if (k == 0)
			break;
	}
	if (!b.data)
		hoist_buf_add(&b, "", 0);
	*ret = hoist_buf_detach(&b, ret_len);
	return 0;
}

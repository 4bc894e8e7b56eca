/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The merged filesystem of a stage as metadata only. Built from layer
 * snapshots (whiteouts and opaque markers applied), changed by COPY/ADD/
 * WORKDIR, and written back as a layer holding just what a step changed.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "build-private.h"

#define MAX_SYMLINKS 40

static struct fsnode *node_new(const char *name, struct fsnode *parent)
{
	struct fsnode *n = hoist_xcalloc(1, sizeof(*n));
	n->name = hoist_xstrdup(name);
	n->parent = parent;
	return n;
}

static void node_free(struct fsnode *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n_kids; i++)
		node_free(n->kids[i]);
	free(n->kids);
	free(n->name);
	free(n->src);
	hoist_entry_release(&n->e);
	free(n);
}

struct fstree *fstree_new(void)
{
	struct fstree *t = hoist_xcalloc(1, sizeof(*t));
	t->root = node_new("", NULL);
	t->root->e.type = HOIST_ENTRY_DIR;
	t->root->e.mode = 0755;
	return t;
}

void fstree_free(struct fstree *t)
{
	if (!t)
		return;
	node_free(t->root);
	free(t);
}

static size_t kid_pos(const struct fsnode *dir, const char *name, bool *found)
{
	size_t lo = 0, hi = dir->n_kids;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
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

struct fsnode *fsnode_child(const struct fsnode *dir, const char *name)
{
	bool found;
	size_t p = kid_pos(dir, name, &found);
	return found ? dir->kids[p] : NULL;
}

static void clear_kids(struct fsnode *n)
{
	for (size_t i = 0; i < n->n_kids; i++)
		node_free(n->kids[i]);
	n->n_kids = 0;
}

struct fsnode *fsnode_put(struct fsnode *dir, const char *name, const struct hoist_entry *e,
			  const char *src)
{
	bool found;
	size_t p = kid_pos(dir, name, &found);
	struct fsnode *n;

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

void fsnode_touch(struct fsnode *n, unsigned gen)
{
	n->gen = gen;
	for (struct fsnode *p = n->parent; p; p = p->parent)
		p->gen_below = gen;
}

void fsnode_remove(struct fsnode *n)
{
	struct fsnode *dir = n->parent;
	bool found;
	if (!dir)
		return;
	size_t p = kid_pos(dir, n->name, &found);
	if (!found)
		return;
	memmove(dir->kids + p, dir->kids + p + 1, (dir->n_kids - p - 1) * sizeof(*dir->kids));
	dir->n_kids--;
	node_free(n);
}

char *fsnode_path(const struct fsnode *n)
{
	if (!n->parent)
		return hoist_xstrdup("");
	_cleanup_free_ char *pp = fsnode_path(n->parent);
	if (!*pp)
		return hoist_xstrdup(n->name);
	return hoist_xasprintf("%s/%s", pp, n->name);
}

/* Walk a cleaned relative path literally (no symlinks), optionally creating dirs. */
static struct fsnode *lookup_literal(struct fstree *t, const char *path, bool create_parents,
				     const char **ret_last)
{
	struct fsnode *cur = t->root;
	const char *p = path;
	for (;;) {
		const char *slash = strchr(p, '/');
		if (!slash) {
			*ret_last = p;
			return cur;
		}
		_cleanup_free_ char *comp = hoist_xstrndup(p, (size_t)(slash - p));
		struct fsnode *next = fsnode_child(cur, comp);
		if (!next || next->e.type != HOIST_ENTRY_DIR) {
			if (!create_parents)
				return NULL;
			struct hoist_entry e = {.type = HOIST_ENTRY_DIR, .mode = 0755};
			next = fsnode_put(cur, comp, &e, NULL);
		}
		cur = next;
		p = slash + 1;
	}
}

int fstree_apply_snapshot(struct fstree *t, const struct hoist_snapshot *snap,
			  struct hoist_error *err)
{
	/* Whiteouts and opaque markers hide lower layers only: apply them first. */
	for (size_t i = 0; i < snap->n_entries; i++) {
		const struct hoist_snapshot_entry *se = &snap->entries[i];
		const char *last;
		if (!se->whiteout && !se->opaque)
			continue;
		struct fsnode *dir = lookup_literal(t, se->e.path, false, &last);
		if (!dir)
			continue;
		struct fsnode *n = fsnode_child(dir, last);
		if (!n)
			continue;
		if (se->whiteout)
			fsnode_remove(n);
		else
			clear_kids(n);
	}
	for (size_t i = 0; i < snap->n_entries; i++) {
		const struct hoist_snapshot_entry *se = &snap->entries[i];
		const char *last;
		if (se->whiteout || se->opaque)
			continue;
		if (!se->e.path || !*se->e.path)
			continue;
		struct fsnode *dir = lookup_literal(t, se->e.path, true, &last);
		if (!dir || !*last)
			continue;
		_cleanup_free_ char *src = NULL;
		if (se->e.type == HOIST_ENTRY_FILE)
			src = hoist_xasprintf("%s/%s", snap->root, se->e.path);
		fsnode_put(dir, last, &se->e, src);
	}
	(void)err;
	return 0;
}

int fstree_from_image(struct hoist_store *s, const struct hoist_image *img, struct fstree **ret,
		      struct hoist_error *err)
{
	struct fstree *t = fstree_new();
	json_t *diff_ids = json_object_get(json_object_get(img->config, "rootfs"), "diff_ids");

	if (json_array_size(diff_ids) != img->n_layers) {
		fstree_free(t);
		return hoist_error_set(err, -EBADMSG,
				       "image config has %zu diff_ids for %zu layers",
				       json_array_size(diff_ids), img->n_layers);
	}
	for (size_t i = 0; i < img->n_layers; i++) {
		const char *diff_id = json_string_value(json_array_get(diff_ids, i));
		struct hoist_snapshot snap = {0};
		int r;
		if (!diff_id) {
			fstree_free(t);
			return hoist_error_set(err, -EBADMSG, "image config has a bad diff_id");
		}
		r = hoist_snapshot_unpack(s, &img->layers[i], diff_id, err);
		if (r >= 0)
			r = hoist_snapshot_load(s, diff_id, &snap, err);
		if (r < 0) {
			fstree_free(t);
			return r;
		}
		r = fstree_apply_snapshot(t, &snap, err);
		hoist_snapshot_release(&snap);
		if (r < 0) {
			fstree_free(t);
			return r;
		}
	}
	*ret = t;
	return 0;
}

int fstree_resolve(struct fstree *t, const char *path, bool follow_last, struct fsnode **ret,
		   struct fsnode **ret_parent, char **ret_name)
{
	struct fsnode *cur = t->root;
	_cleanup_free_ char *rest = hoist_xstrdup(path);
	int links = 0;

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
		char *after = slash ? slash : p + strlen(p);
		bool last = true;
		for (const char *q = after; *q; q++)
			if (*q != '/') {
				last = false;
				break;
			}
		if (strcmp(comp, ".") == 0) {
			memmove(rest, after, strlen(after) + 1);
			continue;
		}
		if (strcmp(comp, "..") == 0) {
			if (cur->parent)
				cur = cur->parent;
			memmove(rest, after, strlen(after) + 1);
			continue;
		}
		if (cur->e.type != HOIST_ENTRY_DIR)
			return -ENOTDIR;
		struct fsnode *child = fsnode_child(cur, comp);
		if (!child) {
			if (last) {
				if (ret_parent)
					*ret_parent = cur;
				if (ret_name)
					*ret_name = TAKE_PTR(comp);
			}
			return -ENOENT;
		}
		if (child->e.type == HOIST_ENTRY_SYMLINK && (!last || follow_last)) {
			if (++links > MAX_SYMLINKS)
				return -ELOOP;
			const char *target = child->e.linkname ? child->e.linkname : "";
			char *nrest = hoist_xasprintf("%s/%s", target, after);
			if (target[0] == '/')
				cur = t->root;
			free(rest);
			rest = nrest;
			continue;
		}
		cur = child;
		memmove(rest, after, strlen(after) + 1);
	}
}

int fstree_mkdir_p(struct fstree *t, const char *path, uint32_t uid, uint32_t gid, int64_t mtime,
		   struct fsnode **ret)
{
	for (int guard = 0; guard < 4096; guard++) {
		struct fsnode *n = NULL, *parent = NULL;
		_cleanup_free_ char *name = NULL;
		int r = fstree_resolve(t, path, true, &n, &parent, &name);
		if (r == 0) {
			if (n->e.type != HOIST_ENTRY_DIR)
				return -ENOTDIR;
			*ret = n;
			return 0;
		}
		if (r == -ENOENT && parent) {
			struct hoist_entry e = {
			    .type = HOIST_ENTRY_DIR,
			    .mode = 0755,
			    .uid = uid,
			    .gid = gid,
			    .mtime = mtime,
			};
			struct fsnode *d = fsnode_put(parent, name, &e, NULL);
			fsnode_touch(d, t->gen);
			*ret = d;
			return 0;
		}
		if (r != -ENOENT)
			return r;
		/* An intermediate component is missing: create the parent first. */
		_cleanup_free_ char *clean = go_path_clean(path);
		char *slash = strrchr(clean, '/');
		if (!slash || slash == clean)
			return -ENOENT;
		*slash = '\0';
		struct fsnode *pd;
		r = fstree_mkdir_p(t, clean, uid, gid, mtime, &pd);
		if (r < 0)
			return r;
	}
	return -ELOOP;
}

struct writectx {
	struct hoist_layer_writer *w;
	unsigned gen;
	struct hoist_buf path;
	struct fstree *t;
};

static int write_node(struct writectx *c, struct fsnode *n, struct hoist_error *err)
{
	size_t saved = c->path.len;
	int r = 0;

	if (n->parent) {
		if (c->path.len)
			hoist_buf_addc(&c->path, '/');
		hoist_buf_adds(&c->path, n->name);
		if (n->gen == c->gen || n->gen_below == c->gen) {
			struct hoist_entry e = n->e;
			e.path = c->path.data;
			_cleanup_close_ int fd = -1;
			if (e.type == HOIST_ENTRY_FILE) {
				if (!n->src)
					return hoist_error_set(err, -EIO, "no content for '%s'",
							       c->path.data);
				fd = open(n->src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
				if (fd < 0)
					return hoist_error_set(err, -errno, "opening '%s': %s",
							       n->src, strerror(errno));
			}
			r = hoist_layer_add(c->w, &e, fd, err);
			if (r < 0)
				return r;
		}
	}
	if (n->e.type == HOIST_ENTRY_DIR && (n->gen_below == c->gen || n->gen == c->gen))
		for (size_t i = 0; i < n->n_kids && r >= 0; i++)
			r = write_node(c, n->kids[i], err);
	c->path.len = saved;
	if (c->path.data)
		c->path.data[saved] = '\0';
	return r;
}

int fstree_write_layer(struct fstree *t, struct hoist_store *s, const struct hoist_layer_opts *lo,
		       unsigned gen, struct hoist_descriptor *ret_desc,
		       char ret_diff_id[HOIST_DIGEST_MAX], struct hoist_error *err)
{
	struct writectx c = {.gen = gen, .t = t};
	int r = hoist_layer_writer_new(s, lo, &c.w, err);
	if (r < 0)
		return r;
	hoist_buf_init(&c.path, 1 << 20);
	r = write_node(&c, t->root, err);
	hoist_buf_release(&c.path);
	if (r < 0) {
		hoist_layer_writer_abort(c.w);
		return r;
	}
	return hoist_layer_writer_finish(c.w, ret_desc, ret_diff_id, err);
}

int fstree_read_file(struct fstree *t, const char *path, size_t max, char **ret)
{
	struct fsnode *n;
	int r = fstree_resolve(t, path, true, &n, NULL, NULL);
	if (r < 0)
		return r;
	if (n->e.type != HOIST_ENTRY_FILE || !n->src)
		return -ENOENT;
	return hoist_read_file_at(AT_FDCWD, n->src, max, ret, NULL, NULL);
}

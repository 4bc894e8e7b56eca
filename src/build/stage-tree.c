/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The build's side of a stage's filesystem (the merged tree itself is
 * src/fstree/, used with no flags: whiteouts first, hardlinks kept,
 * content as host paths): mkdir -p for COPY/ADD/WORKDIR, and writing what a
 * step changed back as a layer.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "build-private.h"

int stage_tree_mkdir_p(struct hoist_fstree *t, const char *path, uint32_t uid, uint32_t gid,
		       int64_t mtime, struct hoist_fsnode **ret)
{
	for (int guard = 0; guard < 4096; guard++) {
		struct hoist_fsnode *n = NULL, *parent = NULL;
		_cleanup_free_ char *name = NULL;
		int r =
		    hoist_fstree_resolve(t, path, HOIST_FSTREE_FOLLOW, &n, &parent, &name, NULL);
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
			struct hoist_fsnode *d = hoist_fstree_put(parent, name, &e, NULL);
			hoist_fstree_touch(d, t->gen);
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
		struct hoist_fsnode *pd;
		r = stage_tree_mkdir_p(t, clean, uid, gid, mtime, &pd);
		if (r < 0)
			return r;
	}
	return -ELOOP;
}

struct writectx {
	struct hoist_layer_writer *w;
	unsigned gen;
	struct hoist_buf path;
	struct hoist_fstree *t;
};

static int write_node(struct writectx *c, struct hoist_fsnode *n, struct hoist_error *err)
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
				fd = hoist_fstree_open(c->t, n);
				if (fd < 0)
					return hoist_error_set(err, fd, "opening '%s': %s", n->src,
							       strerror(-fd));
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

int stage_tree_write_layer(struct hoist_fstree *t, struct hoist_store *s,
			   const struct hoist_layer_opts *lo, unsigned gen,
			   struct hoist_descriptor *ret_desc, char ret_diff_id[HOIST_DIGEST_MAX],
			   struct hoist_error *err)
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

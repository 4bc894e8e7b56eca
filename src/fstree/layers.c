/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Layers applied to a merged tree (include/hoist/fstree.h): walking to an
 * entry's parent without following symlinks, whiteouts and opaque markers
 * under the tree's policy flags, the refusal of entries that go through a
 * symlink (within a layer and across layers), and a whole image's tree
 * with the marker that its stack of layers merged cleanly. The nodes
 * themselves, resolution and content are fstree.c's.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "fstree-private.h"

/*
 * Walk to the parent directory of a relative, cleaned path literally (no
 * symlinks); with create, missing or non-directory components become
 * directories 0755. *ret_last points into path. NULL when absent (or too
 * deep under HOIST_FSTREE_DEPTH_LIMIT).
 */
struct walk_check {
	size_t layer;		    /* the layer being applied */
	struct hoist_fsnode *block; /* out: the node the path may not go through */
};

/*
 * A node a layer's entry may not pass on its way: a symlink (another
 * runtime would follow it, clamped to the root, and land somewhere this
 * tree does not), or a non-directory the same layer made (the unpacker
 * refuses both). A lower layer's other non-directory is replaced by a
 * directory, as overlayfs shows a directory over a file.
 */
static bool blocks(const struct hoist_fsnode *n, size_t layer)
{
	return n->e.type == HOIST_ENTRY_SYMLINK ||
	       (n->e.type != HOIST_ENTRY_DIR && layer > 0 && n->layer == layer);
}

static struct hoist_fsnode *walk_parent_checked(struct hoist_fstree *t, const char *path,
						bool create, const char **ret_last,
						struct walk_check *chk)
{
	struct hoist_fsnode *cur = t->root;
	const char *p = path;
	size_t depth = 0;

	for (;;) {
		while (*p == '/')
			p++;
		const char *slash = strchr(p, '/');
		if (!slash) {
			*ret_last = p;
			return cur;
		}
		if (++depth > HOIST_FSTREE_MAX_DEPTH && (t->flags & HOIST_FSTREE_DEPTH_LIMIT))
			return NULL;
		_cleanup_free_ char *comp = hoist_xstrndup(p, (size_t)(slash - p));
		struct hoist_fsnode *next = hoist_fstree_child(cur, comp);
		if (chk && next && blocks(next, chk->layer)) {
			chk->block = next;
			return NULL;
		}
		if (!next || next->e.type != HOIST_ENTRY_DIR) {
			if (!create)
				return NULL;
			/* Missing, or a later layer put a directory where a file was:
			 * an existing node keeps the layer that wrote it. */
			struct hoist_entry e = {.type = HOIST_ENTRY_DIR, .mode = 0755};
			next = hoist_fstree_put(cur, comp, &e, NULL);
		}
		cur = next;
		p = slash + 1;
	}
}

static struct hoist_fsnode *walk_parent(struct hoist_fstree *t, const char *path, bool create,
					const char **ret_last)
{
	return walk_parent_checked(t, path, create, ret_last, NULL);
}

struct hoist_fsnode *hoist_fstree_lookup(struct hoist_fstree *t, const char *path)
{
	const char *last;
	while (*path == '/')
		path++;
	if (!*path)
		return t->root;
	struct hoist_fsnode *dir = walk_parent(t, path, false, &last);
	if (!dir || !*last)
		return dir;
	return hoist_fstree_child(dir, last);
}

static bool is_below(const struct hoist_fsnode *n, const struct hoist_fsnode *top)
{
	for (n = n->parent; n; n = n->parent)
		if (n == top)
			return true;
	return false;
}

static struct hoist_fsnode *add_checked(struct hoist_fstree *t, const struct hoist_entry *e,
					size_t layer, struct walk_check *chk)
{
	const char *last;
	struct hoist_fsnode *dir = walk_parent_checked(t, e->path, true, &last, chk);
	if (!dir || !*last)
		return NULL;
	struct hoist_entry m = *e; /* shallow: hoist_fstree_put copies it */
	if (e->type == HOIST_ENTRY_HARDLINK && (t->flags & HOIST_FSTREE_HARDLINKS_AS_FILES) &&
	    e->linkname) {
		/* The target as it is before this entry replaces its node (whose
		 * old subtree goes: a target below it is no target). */
		struct hoist_fsnode *old = hoist_fstree_child(dir, last);
		struct hoist_fsnode *target = hoist_fstree_lookup(t, e->linkname);
		if (target && old && is_below(target, old))
			target = NULL;
		if (target && target->e.type == HOIST_ENTRY_FILE) {
			m.type = HOIST_ENTRY_FILE;
			m.size = target->e.size;
			m.mode = target->e.mode;
			m.linkname = NULL;
		}
	}
	_cleanup_free_ char *src = NULL;
	if (m.type == HOIST_ENTRY_FILE) {
		if ((t->flags & HOIST_FSTREE_LAYER_CONTENT) && layer > 0)
			src = hoist_xstrdup(e->path);
		else if (layer > 0 && layer <= t->roots.n)
			src = hoist_xasprintf("%s/%s", t->roots.v[layer - 1], e->path);
	}
	struct hoist_fsnode *n = hoist_fstree_put(dir, last, &m, src);
	n->layer = layer;
	return n;
}

struct hoist_fsnode *hoist_fstree_add(struct hoist_fstree *t, const struct hoist_entry *e,
				      size_t layer)
{
	return add_checked(t, e, layer, NULL);
}

/*
 * Walk `rest` (relative components, "" for none) down from directory
 * `from` literally, for the first node that blocks (see blocks()); NULL
 * when none does, or when the path stops existing (nothing to go through).
 * *ret_len is how much of rest leads to the blocking node.
 */
static struct hoist_fsnode *block_below(struct hoist_fsnode *from, const char *rest, size_t layer,
					size_t *ret_len)
{
	const char *p = rest;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		_cleanup_free_ char *comp = hoist_xstrndup(p, n);
		struct hoist_fsnode *next = hoist_fstree_child(from, comp);
		if (!next)
			return NULL;
		if (blocks(next, layer)) {
			*ret_len = (size_t)(p + n - rest);
			return next;
		}
		if (next->e.type != HOIST_ENTRY_DIR)
			return NULL;
		from = next;
		p += n;
		if (*p == '/')
			p++;
	}
	return NULL;
}

/* What a whiteout or opaque marker hid while the build's policy applied
 * them ahead of the layer's entries: kept until the layer is done, since
 * an entry before the marker in the tar went through it (see check_gone). */
struct gone {
	struct hoist_fsnode *n; /* detached, with its subtree */
	char *path;		/* where it was */
	size_t at;		/* the index of the entry that hid it */
};

struct apply {
	struct hoist_fstree *t;
	const struct hoist_snapshot *snap;
	size_t layer;
	struct gone *gone;
	size_t n_gone, alloc_gone;
};

static bool has_symlink(const struct hoist_fsnode *n)
{
	if (n->e.type == HOIST_ENTRY_SYMLINK)
		return true;
	for (size_t i = 0; i < n->n_kids; i++)
		if (has_symlink(n->kids[i]))
			return true;
	return false;
}

/* Take n out of the tree: freed, or kept in the gone list when it holds a symlink. */
static void hide(struct apply *a, struct hoist_fsnode *n, size_t at)
{
	if (!has_symlink(n)) {
		hoist_fstree_remove(n);
		return;
	}
	char *path = hoist_fstree_node_path(n); /* while it still has its parents */
	if (!fsnode_detach(n)) {
		free(path);
		return;
	}
	if (a->n_gone == a->alloc_gone) {
		a->alloc_gone = a->alloc_gone ? a->alloc_gone * 2 : 8;
		a->gone = hoist_xrealloc(a->gone, a->alloc_gone * sizeof(*a->gone));
	}
	a->gone[a->n_gone++] = (struct gone){n, path, at};
}

static void apply_release(struct apply *a)
{
	for (size_t i = 0; i < a->n_gone; i++) {
		fsnode_free(a->gone[i].n);
		free(a->gone[i].path);
	}
	free(a->gone);
}

/* The entry's name as in the tar, for messages. */
static char *tar_name(const struct hoist_snapshot_entry *se)
{
	const char *p = se->e.path ? se->e.path : "";
	if (se->opaque)
		return *p ? hoist_xasprintf("%s/.wh..wh..opq", p) : hoist_xstrdup(".wh..wh..opq");
	if (!se->whiteout)
		return hoist_xstrdup(p);
	const char *slash = strrchr(p, '/');
	if (!slash)
		return hoist_xasprintf(".wh.%s", p);
	return hoist_xasprintf("%.*s/.wh.%s", (int)(slash - p), p, slash + 1);
}

/*
 * The error for an entry of this layer whose path (its directory, or with
 * what "hardlink target" its target's directory `dir`) goes through b,
 * reached by the first len bytes of dir.
 */
static int blocked(struct apply *a, const struct hoist_snapshot_entry *se, const char *what,
		   const char *dir, size_t len, const struct hoist_fsnode *b,
		   struct hoist_error *err)
{
	_cleanup_free_ char *name = tar_name(se);
	_cleanup_free_ char *from = b->layer == a->layer ? hoist_xstrdup("this layer")
				    : b->layer		 ? hoist_xasprintf("layer %zu", b->layer)
							 : hoist_xstrdup("a lower layer");
	if (b->e.type == HOIST_ENTRY_SYMLINK)
		return hoist_error_set(err, -ELOOP,
				       "layer %zu ('%s'): entry '%s': %s goes through the "
				       "symlink '/%.*s' (from %s)",
				       a->layer, a->snap->diff_id, name, what, (int)len, dir, from);
	return hoist_error_set(err, -ELOOP,
			       "layer %zu ('%s'): entry '%s': %s goes through '/%.*s', which "
			       "is not a directory",
			       a->layer, a->snap->diff_id, name, what, (int)len, dir);
}

/* Check directory dir (relative) of entry i: in the tree, and in what the
 * layer's own markers after it hid (the build's policy applied those first). */
static int check_dir(struct apply *a, size_t i, const char *what, const char *dir,
		     struct hoist_error *err)
{
	const struct hoist_snapshot_entry *se = &a->snap->entries[i];
	size_t len = 0;
	struct hoist_fsnode *b = block_below(a->t->root, dir, a->layer, &len);
	if (b)
		return blocked(a, se, what, dir, len, b, err);
	for (size_t k = 0; k < a->n_gone; k++) {
		const struct gone *g = &a->gone[k];
		size_t n = strlen(g->path);
		if (g->at <= i || strncmp(dir, g->path, n) != 0 || (dir[n] && dir[n] != '/'))
			continue;
		/* In tar order this entry came first: the hidden node was there. */
		if (g->n->e.type == HOIST_ENTRY_SYMLINK)
			return blocked(a, se, what, dir, n, g->n, err);
		if (g->n->e.type != HOIST_ENTRY_DIR)
			continue;
		const char *rest = dir[n] ? dir + n + 1 : "";
		b = block_below(g->n, rest, a->layer, &len);
		if (b)
			return blocked(a, se, what, dir, (size_t)(rest - dir) + len, b, err);
	}
	return 0;
}

static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? hoist_xstrndup(path, (size_t)(slash - path)) : hoist_xstrdup("");
}

/*
 * Entry i's paths, before it is applied: the directory it sits in (for an
 * opaque marker, the directory it names), and a hardlink's target's
 * directory, must not go through a symlink of this or a lower layer, nor a
 * non-directory of this layer (the unpacker's rule, for snapshots indexed
 * before the index pass checked it). A regular entry's own directory is
 * checked by the walk that adds it (add_entry).
 */
static int check_marks(struct apply *a, size_t i, bool with_dir, struct hoist_error *err)
{
	const struct hoist_snapshot_entry *se = &a->snap->entries[i];
	int rc = 0;
	if (!se->e.path)
		return 0;
	if (se->opaque) {
		rc = check_dir(a, i, "path", se->e.path, err);
	} else if (se->whiteout || with_dir) {
		_cleanup_free_ char *dir = dir_of(se->e.path);
		rc = check_dir(a, i, "path", dir, err);
	}
	if (rc >= 0 && !se->whiteout && !se->opaque && se->e.type == HOIST_ENTRY_HARDLINK &&
	    se->e.linkname) {
		_cleanup_free_ char *tdir = dir_of(se->e.linkname);
		_cleanup_free_ char *what =
		    hoist_xasprintf("its hardlink target '%s'", se->e.linkname);
		rc = check_dir(a, i, what, tdir, err);
	}
	return rc;
}

/* Add entry i, its directory checked on the walk that makes it. */
static int add_entry(struct apply *a, size_t i, struct hoist_error *err)
{
	const struct hoist_snapshot_entry *se = &a->snap->entries[i];
	struct walk_check chk = {.layer = a->layer};
	int rc = check_marks(a, i, a->n_gone > 0, err);
	if (rc < 0)
		return rc;
	if (!add_checked(a->t, &se->e, a->layer, &chk) && chk.block) {
		_cleanup_free_ char *dir = dir_of(se->e.path);
		_cleanup_free_ char *bp = hoist_fstree_node_path(chk.block);
		return blocked(a, se, "path", dir, strlen(bp), chk.block, err);
	}
	return 0;
}

static void whiteout(struct apply *a, const char *path, size_t at)
{
	const char *last;
	struct hoist_fsnode *dir = walk_parent(a->t, path, false, &last);
	struct hoist_fsnode *n = dir && *last ? hoist_fstree_child(dir, last) : NULL;
	if (n)
		hide(a, n, at);
}

/* Entry order: hide what lower layers put below the directory. */
static void opaque_lower(struct hoist_fstree *t, const char *path, size_t layer)
{
	struct hoist_fsnode *dir = *path ? hoist_fstree_lookup(t, path) : t->root;
	if (!dir || dir->e.type != HOIST_ENTRY_DIR)
		return;
	for (size_t i = 0; i < dir->n_kids;) {
		if (dir->kids[i]->layer < layer)
			hoist_fstree_remove(dir->kids[i]);
		else
			i++;
	}
}

static int apply_entry_order(struct apply *a, struct hoist_error *err)
{
	for (size_t i = 0; i < a->snap->n_entries; i++) {
		const struct hoist_snapshot_entry *se = &a->snap->entries[i];
		int rc = se->whiteout || se->opaque ? check_marks(a, i, false, err)
						    : add_entry(a, i, err);
		if (rc < 0)
			return rc;
		if (se->whiteout)
			whiteout(a, se->e.path, i);
		else if (se->opaque)
			opaque_lower(a->t, se->e.path, a->layer);
	}
	return 0;
}

static int apply_markers_first(struct apply *a, struct hoist_error *err)
{
	const struct hoist_snapshot *snap = a->snap;
	/* Whiteouts and opaque markers hide lower layers only: apply them first. */
	for (size_t i = 0; i < snap->n_entries; i++) {
		const struct hoist_snapshot_entry *se = &snap->entries[i];
		if (se->whiteout) {
			whiteout(a, se->e.path, i);
		} else if (se->opaque) {
			const char *last;
			struct hoist_fsnode *dir = walk_parent(a->t, se->e.path, false, &last);
			struct hoist_fsnode *n = dir ? hoist_fstree_child(dir, last) : NULL;
			while (n && n->n_kids)
				hide(a, n->kids[n->n_kids - 1], i);
		}
	}
	/* Then the entries, each path checked where the tar has it. */
	for (size_t i = 0; i < snap->n_entries; i++) {
		const struct hoist_snapshot_entry *se = &snap->entries[i];
		int rc = 0;
		if (se->whiteout || se->opaque)
			rc = check_marks(a, i, false, err);
		else if (se->e.path && *se->e.path)
			rc = add_entry(a, i, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int hoist_fstree_apply_snapshot(struct hoist_fstree *t, const struct hoist_snapshot *snap,
				struct hoist_error *err)
{
	hoist_strv_push(&t->roots, snap->root);
	/* Layers count from 1 so that implied directories (0) are always
	 * lower for opaque markers. */
	struct apply a = {.t = t, .snap = snap, .layer = t->roots.n};
	int rc = t->flags & HOIST_FSTREE_ENTRY_ORDER ? apply_entry_order(&a, err)
						     : apply_markers_first(&a, err);
	apply_release(&a);
	return rc;
}

/*
 * The marker that this exact stack of layers merged cleanly:
 * "snapshots/<top diffID hex>/stack1-<sha256 of the diffIDs>" (the "1" is
 * the version of the rule; a stricter rule would start over). It lives in
 * the top layer's snapshot, so pruning that snapshot drops it. NULL when
 * the image has no layers or its diffIDs are not usable.
 */
static char *stack_marker(const struct hoist_image *img)
{
	const json_t *ids = json_object_get(json_object_get(img->config, "rootfs"), "diff_ids");
	size_t n = json_array_size(ids);
	struct hoist_sha256 h;
	char d[HOIST_DIGEST_MAX];
	const char *top;

	if (n == 0 || n != img->n_layers)
		return NULL;
	top = json_string_value(json_array_get(ids, n - 1));
	if (!top || !hoist_digest_valid(top) || !hoist_startswith(top, "sha256:"))
		return NULL;
	hoist_sha256_init(&h);
	for (size_t i = 0; i < n; i++) {
		const char *id = json_string_value(json_array_get(ids, i));
		if (!id) {
			hoist_sha256_final(&h, d);
			return NULL;
		}
		hoist_sha256_update(&h, id, strlen(id));
		hoist_sha256_update(&h, "\n", 1);
	}
	hoist_sha256_final(&h, d);
	return hoist_xasprintf("snapshots/%s/stack1-%s", top + 7, d + 7);
}

bool hoist_fstree_image_checked(struct hoist_store *s, const struct hoist_image *img)
{
	_cleanup_free_ char *m = stack_marker(img);
	struct stat st;
	if (img->n_layers == 0)
		return true;
	return m && fstatat(hoist_store_dirfd(s), m, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

int hoist_fstree_from_image(struct hoist_store *s, const struct hoist_image *img, unsigned flags,
			    struct hoist_fstree **ret, struct hoist_error *err)
{
	const json_t *ids = json_object_get(json_object_get(img->config, "rootfs"), "diff_ids");
	if (json_array_size(ids) != img->n_layers)
		return hoist_error_set(err, -EBADMSG,
				       "image config has %zu diff_ids for %zu layers",
				       json_array_size(ids), img->n_layers);
	struct hoist_fstree *t = hoist_fstree_new(flags);
	for (size_t i = 0; i < img->n_layers; i++) {
		const char *diff_id = json_string_value(json_array_get(ids, i));
		struct hoist_snapshot snap = {0};
		int r;
		if (!diff_id || !hoist_digest_valid(diff_id)) {
			hoist_fstree_free(t);
			return hoist_error_set(err, -EBADMSG, "image config has a bad diff_id");
		}
		/* Index only: content is unpacked by the first open that needs it. */
		if (hoist_startswith(diff_id, "sha256:"))
			r = hoist_snapshot_index(s, &img->layers[i], diff_id, err);
		else
			r = hoist_snapshot_unpack(s, &img->layers[i], diff_id, err);
		if (r >= 0)
			r = hoist_snapshot_load(s, diff_id, &snap, err);
		if (r < 0)
			hoist_error_prefix(err, "layer %zu", i + 1);
		else
			r = hoist_fstree_apply_snapshot(t, &snap, err);
		hoist_snapshot_release(&snap);
		if (r < 0) {
			hoist_fstree_free(t);
			return r;
		}
	}
	/* Remembered so that a build whose steps need no tree can still
	 * refuse a bad base cheaply (hoist_fstree_image_checked). Best
	 * effort: without the marker the next build checks again. */
	_cleanup_free_ char *m = stack_marker(img);
	if (m) {
		int fd = openat(hoist_store_dirfd(s), m,
				O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd >= 0)
			close(fd);
	}
	t->store = s;
	*ret = t;
	return 0;
}

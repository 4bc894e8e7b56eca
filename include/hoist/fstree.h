/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * A merged filesystem view: an image's layer snapshots applied bottom first
 * (whiteouts delete, opaque markers hide lower layers), kept as metadata
 * in a tree of nodes with sorted children, plus where each regular file's
 * content lives. Symlinks resolve against this tree only, so a link to
 * "/lib/x" means the image's /lib, never the host's.
 *
 * Two workflows use it with different policies, chosen per tree with
 * enum hoist_fstree_flags: the build engine (a stage's filesystem that
 * COPY/ADD/WORKDIR change and that is written back as a layer: whiteouts
 * first, hardlinks kept, content as host paths) and minimize (a read-only
 * view the ELF closure walks: entry order, hardlinks read as files, content
 * opened beneath each layer's snapshot, "file/.." is -ENOTDIR). What only
 * one of them does (mkdir -p and layer writing; globs, ELF reads, trees from
 * a host directory) stays in that module, on top of this one.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hoist/error.h"
#include "hoist/layer.h"
#include "hoist/oci.h"
#include "hoist/store.h"
#include "hoist/util.h"

#define HOIST_FSTREE_MAX_SYMLINKS 40 /* per resolution, as Linux's MAXSYMLINKS */
#define HOIST_FSTREE_MAX_DEPTH 256   /* directories, with HOIST_FSTREE_DEPTH_LIMIT */

enum hoist_fstree_flags {
	/*
	 * Apply a layer's whiteouts and opaque markers in entry order, each
	 * node remembering the layer that wrote it, an opaque marker removing
	 * only lower layers' children (an opaque marker at the root counts).
	 * Without it, all of a layer's whiteouts and opaque markers go first,
	 * then its entries (they hide lower layers only, as the OCI spec says).
	 */
	HOIST_FSTREE_ENTRY_ORDER = 1 << 0,
	/* A hardlink to a regular file reads as a regular file with its
	 * target's type, size and mode and its own content path (the unpacker
	 * made the link); without it, hardlinks stay hardlinks. */
	HOIST_FSTREE_HARDLINKS_AS_FILES = 1 << 1,
	/* Image content is the layer number plus the path inside that layer's
	 * snapshot, opened beneath it (hoist_fstree_open); without it, an
	 * absolute host path. */
	HOIST_FSTREE_LAYER_CONTENT = 1 << 2,
	/* Resolution: "." or ".." after a non-directory is -ENOTDIR, as the
	 * kernel has it; without it, "file/.." is the file's parent. */
	HOIST_FSTREE_STRICT_DOTS = 1 << 3,
	/* Entries below more than HOIST_FSTREE_MAX_DEPTH directories are dropped. */
	HOIST_FSTREE_DEPTH_LIMIT = 1 << 4,
};

enum hoist_fstree_resolve_flags {
	HOIST_FSTREE_FOLLOW = 1 << 0, /* follow a symlink in the last component too */
};

struct hoist_fsnode {
	char *name; /* stored with the node (one allocation) */
	struct hoist_fsnode *parent;
	struct hoist_fsnode **kids; /* sorted by strcmp(name) */
	size_t n_kids, alloc_kids;
	struct hoist_entry e; /* metadata; e.path is unused (NULL) */
	/*
	 * A regular file's content: with HOIST_FSTREE_LAYER_CONTENT and a
	 * layer > 0, the path inside roots.v[layer - 1]; else an absolute host
	 * path (a snapshot file, a context file, a temp file). NULL: none.
	 */
	char *src;
	size_t layer;	    /* the layer that wrote the node (1-based); 0: none */
	unsigned gen;	    /* the build: the step that last wrote this node */
	unsigned gen_below; /* the build: the step that last wrote something below */
	void *aux;	    /* the caller's (the build's context trees: a struct ctxent) */
};

struct hoist_fstree {
	struct hoist_fsnode *root;
	unsigned flags;		 /* enum hoist_fstree_flags */
	unsigned gen;		 /* the build: current step generation */
	struct hoist_strv roots; /* the applied snapshots' roots, by layer - 1 */
	/*
	 * Set by hoist_fstree_from_image (its snapshots are index-only) and by
	 * callers whose trees take content paths from such a tree:
	 * hoist_fstree_open() then makes a snapshot's content on the first
	 * open of a file in it. NULL: all content is already on disk.
	 */
	struct hoist_store *store;
	struct hoist_strv ready; /* snapshot roots known to have their content */
};

/* An empty tree (a root directory 0755). Free with hoist_fstree_free() (NULL ok). */
struct hoist_fstree *hoist_fstree_new(unsigned flags);
void hoist_fstree_free(struct hoist_fstree *t);

/*
 * The tree of an image: each layer's snapshot index made
 * (hoist_snapshot_index; blobs must be in the store) and applied bottom
 * first; a layer's content is unpacked only when hoist_fstree_open() first
 * opens one of its files (t->store is s, which must outlive the tree and
 * every tree its content paths are copied into). *ret is new, written only
 * on success. A layer the unpacker would refuse (hoist_snapshot_index) or
 * whose entries go through a lower layer's symlink
 * (hoist_fstree_apply_snapshot) fails here, whether or not any content is
 * ever read; the error names the layer ("layer 2 ...") and the entry.
 */
int hoist_fstree_from_image(struct hoist_store *s, const struct hoist_image *img, unsigned flags,
			    struct hoist_fstree **ret, struct hoist_error *err);
/*
 * Whether hoist_fstree_from_image() has already merged this exact stack of
 * layers without error (it leaves a marker in the store, in the top layer's
 * snapshot); true for an image with no layers. For callers that need no
 * tree but must not pass a bad base on (a build's FROM): when this is
 * false, make the tree.
 */
bool hoist_fstree_image_checked(struct hoist_store *s, const struct hoist_image *img);
/*
 * Apply one layer's snapshot as layer t->roots.n + 1 (snap->root is
 * copied). Layers are untrusted: an entry whose directory (for an opaque
 * marker, the directory it names; for a hardlink, also its target's
 * directory) goes through a symlink of this or a lower layer, or through a
 * non-directory of this layer, is -ELOOP with a message naming the layer's
 * diffID and the entry. Containerd and Docker would follow such a symlink
 * (clamped to the root) while the snapshots, unpacked one layer each, hold
 * the entry where the tar put it: the two would name different files, so
 * the image is refused rather than read one of the two ways. Paths are
 * checked where the tar has them, also under the build's policy that
 * applies markers first. On error the tree holds the layer in part: free it.
 */
int hoist_fstree_apply_snapshot(struct hoist_fstree *t, const struct hoist_snapshot *snap,
				struct hoist_error *err);
/*
 * Put one entry at e->path (relative, cleaned, as snapshot entries are) as
 * layer `layer` wrote it: missing or non-directory parents become
 * directories 0755, a regular file's content is e->path inside that
 * layer's root (HOIST_FSTREE_LAYER_CONTENT) or below it on the host, and
 * hardlinks follow HOIST_FSTREE_HARDLINKS_AS_FILES. Returns the node, or
 * NULL when the path names no entry (or is too deep).
 */
struct hoist_fsnode *hoist_fstree_add(struct hoist_fstree *t, const struct hoist_entry *e,
				      size_t layer);

struct hoist_fsnode *hoist_fstree_child(const struct hoist_fsnode *dir, const char *name);
/*
 * Create or replace child `name` of dir (a replaced directory that stops
 * being one loses its subtree) with a copy of e (e->path is not kept) and
 * of src. The node's layer, gen and aux are the caller's to set.
 */
struct hoist_fsnode *hoist_fstree_put(struct hoist_fsnode *dir, const char *name,
				      const struct hoist_entry *e, const char *src);
/* Unlink n from its parent and free it with its subtree (the root is kept). */
void hoist_fstree_remove(struct hoist_fsnode *n);
/* Mark n written in generation gen, and its ancestors written below. */
void hoist_fstree_touch(struct hoist_fsnode *n, unsigned gen);
/* A node's path: "usr/lib" ("" for the root). New string. */
char *hoist_fstree_node_path(const struct hoist_fsnode *n);
/* A node's absolute path: "/usr/lib" ("/" for the root). New string. */
char *hoist_fstree_node_abspath(const struct hoist_fsnode *n);

/* Literal lookup: no symlink followed anywhere. NULL when absent. */
struct hoist_fsnode *hoist_fstree_lookup(struct hoist_fstree *t, const char *path);
/*
 * Resolve path inside the tree: at most HOIST_FSTREE_MAX_SYMLINKS symlinks,
 * an absolute target restarts at the tree's root, ".." stops there; the last
 * component is followed with HOIST_FSTREE_FOLLOW. 0 with *ret the node, or
 * -ENOENT, -ENOTDIR, -ELOOP. On -ENOENT where just the last component is
 * missing, *ret_parent is the directory that would hold it and *ret_name
 * (new) its name; else they are NULL. Each symlink passed is appended to
 * links as its absolute path. ret_parent, ret_name and links may be NULL.
 */
int hoist_fstree_resolve(struct hoist_fstree *t, const char *path, unsigned flags,
			 struct hoist_fsnode **ret, struct hoist_fsnode **ret_parent,
			 char **ret_name, struct hoist_strv *links);

/*
 * Open a regular file's content read-only: beneath its layer's snapshot
 * with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) (the snapshot holds
 * the image's own, untrusted symlinks), or its host path with O_NOFOLLOW.
 * With t->store, a snapshot's content is unpacked first if it is not yet
 * (a host path inside any snapshot of the store counts, whichever tree it
 * came from). This is the only way to read image content: never open a
 * node's src directly. Returns the fd or a negative errno (-EINVAL: no
 * content).
 */
int hoist_fstree_open(struct hoist_fstree *t, const struct hoist_fsnode *n);
/*
 * Read a small regular file (following symlinks inside the tree) into *ret
 * (NUL-terminated, caller frees; its length in *ret_len, which may be
 * NULL). -EISDIR for a non-file, -EFBIG above max, < 0 when absent.
 */
int hoist_fstree_read_file(struct hoist_fstree *t, const char *path, size_t max, char **ret,
			   size_t *ret_len);

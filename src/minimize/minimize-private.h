/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* The merged filesystem view shared by the resolver and the workflow. */

#include "hoist/layer.h"
#include "hoist/minimize.h"

/* A file larger than this is never read as an ELF object (it is still copied). */
#define MINIMIZE_MAX_ELF_SIZE ((uint64_t)2 << 30)
#define MINIMIZE_MAX_SYMLINKS 40

struct mnode {
	char *name;
	struct mnode *parent;
	struct mnode **kids; /* sorted by name */
	size_t n_kids, alloc;
	struct hoist_entry e; /* metadata; e.path is unused (NULL) */
	size_t layer;	      /* which root holds the content of a regular file */
	char *rel;	      /* content path relative to that root */
};

struct hoist_minimize_tree {
	struct mnode *root;
	struct hoist_strv roots; /* absolute content roots, one per layer */
};

/* Absolute path of a node ("/usr/lib"; "/" for the root). New string. */
char *mnode_path(const struct mnode *n);
struct mnode *mnode_child(const struct mnode *dir, const char *name);

/* Literal lookup: no symlink followed anywhere. NULL when absent. */
struct mnode *tree_lookup(struct hoist_minimize_tree *t, const char *path);

/*
 * Resolve path inside the tree (absolute symlink targets restart at the
 * tree's root, ".." stops there), following the last component when
 * follow_last. Each symlink met is appended to `links` (physical paths,
 * may be NULL). -ENOENT, -ENOTDIR or -ELOOP when it does not resolve.
 */
int tree_resolve(struct hoist_minimize_tree *t, const char *path, bool follow_last,
		 struct hoist_strv *links, struct mnode **ret);

/* Physical paths matching an absolute glob (fnmatch per component). */
void tree_glob(struct hoist_minimize_tree *t, const char *pattern, struct hoist_strv *out);

/* Open a regular file's content read-only. Returns an fd or a negative errno. */
int tree_open(struct hoist_minimize_tree *t, const struct mnode *n);

/* Read a small regular file (follows symlinks inside the tree). */
int tree_read_file(struct hoist_minimize_tree *t, const char *path, size_t max, char **ret,
		   size_t *ret_len);

/* Sum of regular-file sizes. */
uint64_t tree_bytes(const struct mnode *n);

/* Parse a node's content as ELF: 0 with *ret, -ENOEXEC when not ELF, < 0 else. */
int tree_read_elf(struct hoist_minimize_tree *t, const struct mnode *n, const char *path,
		  struct hoist_elf_info *ret, struct hoist_error *err);

/* ---- a string set (open addressing) ---------------------------------- */

struct strset {
	char **slots;
	size_t n, alloc;
};
/* Add s (copied); returns true when it was new. */
bool strset_add(struct strset *set, const char *s);
bool strset_has(const struct strset *set, const char *s);
void strset_release(struct strset *set);

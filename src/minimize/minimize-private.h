/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* The merged filesystem view shared by the resolver and the workflow. */

#include "hoist/fstree.h"
#include "hoist/layer.h"
#include "hoist/minimize.h"

/* A file larger than this is never read as an ELF object (it is still copied). */
#define MINIMIZE_MAX_ELF_SIZE ((uint64_t)2 << 30)

/*
 * The closure's view of an image: the shared merged tree (hoist/fstree.h)
 * with minimize's policy (MINIMIZE_TREE_FLAGS).
 */
struct hoist_minimize_tree {
	struct hoist_fstree *fs;
};

/*
 * Entry order within a layer, hardlinks read as the regular files the
 * unpacker made, content opened beneath each snapshot, "file/.." fails as
 * the kernel has it, and paths at most HOIST_FSTREE_MAX_DEPTH deep.
 */
#define MINIMIZE_TREE_FLAGS                                                                        \
	(HOIST_FSTREE_ENTRY_ORDER | HOIST_FSTREE_HARDLINKS_AS_FILES | HOIST_FSTREE_LAYER_CONTENT | \
	 HOIST_FSTREE_STRICT_DOTS | HOIST_FSTREE_DEPTH_LIMIT)

/* Physical paths matching an absolute glob (fnmatch per component). */
void tree_glob(struct hoist_minimize_tree *t, const char *pattern, struct hoist_strv *out);

/* Sum of regular-file sizes. */
uint64_t tree_bytes(const struct hoist_fsnode *n);

/* Parse a node's content as ELF: 0 with *ret, -ENOEXEC when not ELF, < 0 else. */
int tree_read_elf(struct hoist_minimize_tree *t, const struct hoist_fsnode *n, const char *path,
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

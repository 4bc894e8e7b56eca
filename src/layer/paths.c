/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The index pass's view of one layer's tree: what the unpacker would have on
 * disk after each entry (directories, symlinks, other non-directories), so
 * that an entry the unpacker refuses (its parent path goes through a symlink
 * or a non-directory an earlier entry made) is refused while indexing too,
 * with the same rule. Otherwise a build that reads only metadata would take
 * an image whose content can never be made, or that another runtime reads
 * through the symlink.
 *
 * Nodes are keyed by (parent node, name) in one open-addressing table, so a
 * 10,000-entry base costs one hash probe per path component (and most
 * entries share their parent with the one before: that one is cached). A
 * node that is replaced by one of another kind gets a new number, which
 * drops its old subtree without walking it, as the unpacker's rm -rf does.
 */
#include <errno.h>
#include <string.h>

#include "layer-private.h"

/* Nodes a layer may make (entries plus implied parents), to bound memory. */
#define PATHS_MAX_NODES ((uint32_t)16 << 20)

enum { KIND_DIR, KIND_SYMLINK, KIND_OTHER };

struct pnode {
	uint32_t parent;   /* node number; 0 is the root */
	uint32_t name_off; /* into names */
	uint32_t name_len;
	uint32_t hash;
	uint8_t kind;
};

struct layer_paths {
	struct pnode *nodes; /* nodes[0] is the root */
	uint32_t n_nodes, alloc_nodes;
	uint32_t *slots;  /* node number + 1; 0 is empty */
	uint32_t n_slots; /* a power of two, at least twice n_nodes */
	char *names;
	size_t names_len, names_alloc;
	/* The last parent directory walked, while nothing has been replaced. */
	char *cache_path;
	size_t cache_len;
	uint32_t cache_node;
};

struct layer_paths *layer_paths_new(void)
{
	struct layer_paths *p = hoist_xcalloc(1, sizeof(*p));
	p->alloc_nodes = 1024;
	p->nodes = hoist_xcalloc(p->alloc_nodes, sizeof(*p->nodes));
	p->n_nodes = 1; /* the root, a directory */
	p->n_slots = 2048;
	p->slots = hoist_xcalloc(p->n_slots, sizeof(*p->slots));
	return p;
}

void layer_paths_free(struct layer_paths *p)
{
	if (!p)
		return;
	free(p->nodes);
	free(p->slots);
	free(p->names);
	free(p->cache_path);
	free(p);
}

/* FNV-1a over the parent number and the name. */
static uint32_t hash_of(uint32_t parent, const char *name, size_t len)
{
	uint32_t h = 2166136261u;
	for (int i = 0; i < 4; i++) {
		h ^= (parent >> (8 * i)) & 0xff;
		h *= 16777619u;
	}
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)name[i];
		h *= 16777619u;
	}
	return h;
}

/* The slot holding (parent, name), or the empty slot where it would go. */
static uint32_t find_slot(const struct layer_paths *p, uint32_t parent, const char *name,
			  size_t len, uint32_t h)
{
	uint32_t mask = p->n_slots - 1;
	for (uint32_t i = h & mask;; i = (i + 1) & mask) {
		uint32_t v = p->slots[i];
		if (!v)
			return i;
		const struct pnode *n = &p->nodes[v - 1];
		if (n->hash == h && n->parent == parent && n->name_len == len &&
		    memcmp(p->names + n->name_off, name, len) == 0)
			return i;
	}
}

static void grow_slots(struct layer_paths *p)
{
	uint32_t old_n = p->n_slots;
	uint32_t *old = p->slots;
	p->n_slots *= 2;
	p->slots = hoist_xcalloc(p->n_slots, sizeof(*p->slots));
	for (uint32_t i = 0; i < old_n; i++) {
		if (!old[i])
			continue;
		uint32_t mask = p->n_slots - 1, j = p->nodes[old[i] - 1].hash & mask;
		while (p->slots[j])
			j = (j + 1) & mask;
		p->slots[j] = old[i];
	}
	free(old);
}

/*
 * Put a node of `kind` at (parent, name) into slot `slot` (from find_slot),
 * replacing what was there. Returns its number, or 0 past the node limit.
 */
static uint32_t put_node(struct layer_paths *p, uint32_t slot, uint32_t parent, const char *name,
			 size_t len, uint32_t h, uint8_t kind)
{
	bool fresh = p->slots[slot] == 0;
	if (p->n_nodes >= PATHS_MAX_NODES || p->names_len + len > UINT32_MAX)
		return 0;
	if (p->n_nodes == p->alloc_nodes) {
		p->alloc_nodes *= 2;
		p->nodes = hoist_xrealloc(p->nodes, (size_t)p->alloc_nodes * sizeof(*p->nodes));
	}
	if (p->names_len + len > p->names_alloc) {
		p->names_alloc = p->names_alloc ? p->names_alloc * 2 : 65536;
		if (p->names_alloc < p->names_len + len)
			p->names_alloc = p->names_len + len;
		p->names = hoist_xrealloc(p->names, p->names_alloc);
	}
	memcpy(p->names + p->names_len, name, len);
	uint32_t num = p->n_nodes++;
	p->nodes[num] = (struct pnode){.parent = parent,
				       .name_off = (uint32_t)p->names_len,
				       .name_len = (uint32_t)len,
				       .hash = h,
				       .kind = kind};
	p->names_len += len;
	p->slots[slot] = num + 1;
	if (fresh && (uint64_t)p->n_nodes * 2 > p->n_slots)
		grow_slots(p);
	return num;
}

/*
 * Walk `dir` (relative, cleaned, "" for the root) from the root. With
 * create, missing directories are made (the unpacker makes them 0755);
 * without, a missing one ends the walk with *ret 0 and no error. A symlink
 * or a non-directory on the way is -ELOOP.
 */
static int walk(struct layer_paths *p, const char *name, const char *entry, const char *what,
		const char *dir, bool create, uint32_t *ret, struct hoist_error *err)
{
	size_t dlen = strlen(dir);
	uint32_t cur = 0;
	const char *s = dir;

	if (p->cache_path && p->cache_len == dlen && memcmp(p->cache_path, dir, dlen) == 0) {
		*ret = p->cache_node;
		return 0;
	}
	while (*s) {
		const char *slash = strchr(s, '/');
		size_t n = slash ? (size_t)(slash - s) : strlen(s);
		uint32_t h = hash_of(cur, s, n);
		uint32_t slot = find_slot(p, cur, s, n, h);
		if (!p->slots[slot]) {
			if (!create) {
				*ret = 0;
				return 0; /* nothing there: nothing to go through */
			}
			cur = put_node(p, slot, cur, s, n, h, KIND_DIR);
			if (!cur)
				return hoist_error_set(err, -E2BIG, "'%s': too many paths", name);
		} else {
			const struct pnode *node = &p->nodes[p->slots[slot] - 1];
			int upto = (int)(s + n - dir);
			if (node->kind == KIND_SYMLINK)
				return hoist_error_set(err, -ELOOP,
						       "'%s': entry '%s': %s goes through the "
						       "symlink '%.*s'",
						       name, entry, what, upto, dir);
			if (node->kind != KIND_DIR)
				return hoist_error_set(err, -ELOOP,
						       "'%s': entry '%s': %s goes through '%.*s', "
						       "which is not a directory",
						       name, entry, what, upto, dir);
			cur = p->slots[slot] - 1;
		}
		s += n;
		if (*s == '/')
			s++;
	}
	if (create) {
		free(p->cache_path);
		p->cache_path = hoist_xstrndup(dir, dlen);
		p->cache_len = dlen;
		p->cache_node = cur;
	}
	*ret = cur;
	return 0;
}

int layer_paths_check(struct layer_paths *p, const char *name, const char *tar_path,
		      const struct hoist_entry *e, enum layer_paths_what what,
		      struct hoist_error *err)
{
	const char *slash = strrchr(tar_path, '/');
	_cleanup_free_ char *dir =
	    slash ? hoist_xstrndup(tar_path, (size_t)(slash - tar_path)) : hoist_xstrdup("");
	const char *base = slash ? slash + 1 : tar_path;
	uint32_t parent;
	int rc;

	if (what != LAYER_PATHS_ENTRY)
		/* Whiteouts and opaque markers change nothing on disk (they are
		 * for the merge), but the directory they name must be real. */
		return walk(p, name, tar_path, "path", dir, false, &parent, err);
	if ((rc = walk(p, name, tar_path, "path", dir, true, &parent, err)) < 0)
		return rc;
	if (e->type == HOIST_ENTRY_HARDLINK && e->linkname) {
		/* The unpacker opens the target's directory the same way. */
		const char *ts = strrchr(e->linkname, '/');
		_cleanup_free_ char *tdir =
		    ts ? hoist_xstrndup(e->linkname, (size_t)(ts - e->linkname))
		       : hoist_xstrdup("");
		_cleanup_free_ char *target =
		    hoist_xasprintf("its hardlink target '%s'", e->linkname);
		uint32_t unused;
		if ((rc = walk(p, name, tar_path, target, tdir, false, &unused, err)) < 0)
			return rc;
	}

	size_t len = strlen(base);
	uint8_t kind = e->type == HOIST_ENTRY_DIR	? KIND_DIR
		       : e->type == HOIST_ENTRY_SYMLINK ? KIND_SYMLINK
							: KIND_OTHER;
	uint32_t h = hash_of(parent, base, len);
	uint32_t slot = find_slot(p, parent, base, len, h);
	if (p->slots[slot] && kind == KIND_DIR && p->nodes[p->slots[slot] - 1].kind == KIND_DIR)
		return 0; /* a directory entry over a directory keeps what is below */
	if (p->slots[slot]) {
		/* A replaced node may be on the cached path (or below it). */
		free(p->cache_path);
		p->cache_path = NULL;
	}
	if (!put_node(p, slot, parent, base, len, h, kind))
		return hoist_error_set(err, -E2BIG, "'%s': too many paths", name);
	return 0;
}

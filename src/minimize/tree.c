/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The merged, read-only filesystem of an image: layer snapshots applied
 * bottom first (whiteouts delete, opaque markers hide the lower layers'
 * children), kept as metadata plus the location of each regular file's
 * content in its snapshot. Symlinks are resolved against this tree only,
 * so a link to "/lib/x" means the image's /lib, never the host's.
 */
#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "minimize-private.h"

#define MAX_DEPTH 256

static struct mnode *node_new(const char *name, struct mnode *parent)
{
	struct mnode *n = hoist_xcalloc(1, sizeof(*n));
	n->name = hoist_xstrdup(name);
	n->parent = parent;
	n->e.type = HOIST_ENTRY_DIR;
	n->e.mode = 0755;
	return n;
}

static void node_free(struct mnode *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n_kids; i++)
		node_free(n->kids[i]);
	free(n->kids);
	free(n->name);
	free(n->rel);
	hoist_entry_release(&n->e);
	free(n);
}

static void clear_kids(struct mnode *n)
{
	for (size_t i = 0; i < n->n_kids; i++)
		node_free(n->kids[i]);
	free(n->kids);
	n->kids = NULL;
	n->n_kids = n->alloc = 0;
}

void hoist_minimize_tree_free(struct hoist_minimize_tree *t)
{
	if (!t)
		return;
	node_free(t->root);
	hoist_strv_release(&t->roots);
	free(t);
}

static struct hoist_minimize_tree *tree_new(void)
{
	struct hoist_minimize_tree *t = hoist_xcalloc(1, sizeof(*t));
	t->root = node_new("", NULL);
	return t;
}

static size_t kid_pos(const struct mnode *dir, const char *name, bool *found)
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

struct mnode *mnode_child(const struct mnode *dir, const char *name)
{
	bool found;
	size_t p = kid_pos(dir, name, &found);
	return found ? dir->kids[p] : NULL;
}

static struct mnode *kid_get(struct mnode *dir, const char *name, bool create)
{
	bool found;
	size_t p = kid_pos(dir, name, &found);
	if (found)
		return dir->kids[p];
	if (!create)
		return NULL;
	if (dir->n_kids == dir->alloc) {
		dir->alloc = dir->alloc ? dir->alloc * 2 : 8;
		dir->kids = hoist_xrealloc(dir->kids, dir->alloc * sizeof(*dir->kids));
	}
	memmove(dir->kids + p + 1, dir->kids + p, (dir->n_kids - p) * sizeof(*dir->kids));
	dir->kids[p] = node_new(name, dir);
	dir->n_kids++;
	return dir->kids[p];
}

static void kid_remove(struct mnode *dir, const char *name)
{
	bool found;
	size_t p = kid_pos(dir, name, &found);
	if (!found)
		return;
	node_free(dir->kids[p]);
	memmove(dir->kids + p, dir->kids + p + 1, (dir->n_kids - p - 1) * sizeof(*dir->kids));
	dir->n_kids--;
}

char *mnode_path(const struct mnode *n)
{
	struct hoist_buf b = HOIST_BUF_INIT;
	const struct mnode *chain[MAX_DEPTH + 1];
	size_t depth = 0;

	for (; n && n->parent && depth < ARRAY_SIZE(chain); n = n->parent)
		chain[depth++] = n;
	if (depth == 0)
		return hoist_xstrdup("/");
	while (depth > 0) {
		hoist_buf_addc(&b, '/');
		hoist_buf_adds(&b, chain[--depth]->name);
	}
	return hoist_buf_detach(&b, NULL);
}

/*
 * Walk to the parent of a relative, cleaned path (as snapshot entries are),
 * creating directories when asked. *ret_last points into path.
 */
static struct mnode *walk_parent(struct hoist_minimize_tree *t, const char *path, bool create,
				 const char **ret_last)
{
	struct mnode *cur = t->root;
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
		if (++depth > MAX_DEPTH)
			return NULL;
		_cleanup_free_ char *comp = hoist_xstrndup(p, (size_t)(slash - p));
		struct mnode *next = kid_get(cur, comp, create);
		if (!next)
			return NULL;
		if (next->e.type != HOIST_ENTRY_DIR) {
			if (!create)
				return NULL;
			/* A later layer put a directory where a file was. */
			clear_kids(next);
			hoist_entry_release(&next->e);
			memset(&next->e, 0, sizeof(next->e));
			next->e.type = HOIST_ENTRY_DIR;
			next->e.mode = 0755;
		}
		cur = next;
		p = slash + 1;
	}
}

struct mnode *tree_lookup(struct hoist_minimize_tree *t, const char *path)
{
	const char *last;
	while (*path == '/')
		path++;
	if (!*path)
		return t->root;
	struct mnode *dir = walk_parent(t, path, false, &last);
	if (!dir || !*last)
		return dir && !*last ? dir : NULL;
	return mnode_child(dir, last);
}

/* Put one entry (path relative, cleaned) from layer `layer`. */
static void tree_put(struct hoist_minimize_tree *t, const struct hoist_entry *e, size_t layer)
{
	const char *last;
	struct mnode *dir = walk_parent(t, e->path, true, &last);
	if (!dir || !*last)
		return;
	struct mnode *n = kid_get(dir, last, true);
	struct hoist_entry copy;
	hoist_entry_copy(&copy, e);
	free(copy.path);
	copy.path = NULL;
	if (e->type != HOIST_ENTRY_DIR)
		clear_kids(n);
	free(n->rel);
	n->rel = NULL;
	if (e->type == HOIST_ENTRY_HARDLINK) {
		/* Content: the unpacker made the link (or a copy) at e->path;
		 * metadata: the target's, as a regular file. */
		struct mnode *target = tree_lookup(t, e->linkname);
		if (target && target->e.type == HOIST_ENTRY_FILE) {
			copy.type = HOIST_ENTRY_FILE;
			copy.size = target->e.size;
			copy.mode = target->e.mode;
			free(copy.linkname);
			copy.linkname = NULL;
		}
	}
	hoist_entry_release(&n->e);
	n->e = copy;
	n->layer = layer;
	if (n->e.type == HOIST_ENTRY_FILE)
		n->rel = hoist_xstrdup(e->path);
}

static void tree_whiteout(struct hoist_minimize_tree *t, const char *path)
{
	const char *last;
	struct mnode *dir = walk_parent(t, path, false, &last);
	if (dir && *last)
		kid_remove(dir, last);
}

/* Opaque: hide what lower layers put below the directory. */
static void tree_opaque(struct hoist_minimize_tree *t, const char *path, size_t layer)
{
	struct mnode *dir = *path ? tree_lookup(t, path) : t->root;
	if (!dir || dir->e.type != HOIST_ENTRY_DIR)
		return;
	for (size_t i = 0; i < dir->n_kids;) {
		if (dir->kids[i]->layer < layer) {
			node_free(dir->kids[i]);
			memmove(dir->kids + i, dir->kids + i + 1,
				(dir->n_kids - i - 1) * sizeof(*dir->kids));
			dir->n_kids--;
		} else {
			i++;
		}
	}
}

int hoist_minimize_tree_from_image(struct hoist_store *s, const struct hoist_image *img,
				   struct hoist_minimize_tree **ret, struct hoist_error *err)
{
	const json_t *ids = json_object_get(json_object_get(img->config, "rootfs"), "diff_ids");
	if (json_array_size(ids) != img->n_layers)
		return hoist_error_set(err, -EBADMSG,
				       "image config has %zu diff_ids for %zu layers",
				       json_array_size(ids), img->n_layers);
	struct hoist_minimize_tree *t = tree_new();
	for (size_t i = 0; i < img->n_layers; i++) {
		const char *diff_id = json_string_value(json_array_get(ids, i));
		struct hoist_snapshot snap = {0};
		int r;
		if (!diff_id || !hoist_digest_valid(diff_id)) {
			hoist_minimize_tree_free(t);
			return hoist_error_set(err, -EBADMSG, "image config has a bad diff_id");
		}
		r = hoist_snapshot_unpack(s, &img->layers[i], diff_id, err);
		if (r >= 0)
			r = hoist_snapshot_load(s, diff_id, &snap, err);
		if (r < 0) {
			hoist_minimize_tree_free(t);
			return r;
		}
		hoist_strv_push(&t->roots, snap.root);
		/* Layer numbers start at 1 so that the implicit root (0) is
		 * always "lower" for opaque markers. */
		for (size_t k = 0; k < snap.n_entries; k++) {
			const struct hoist_snapshot_entry *se = &snap.entries[k];
			if (se->whiteout)
				tree_whiteout(t, se->e.path);
			else if (se->opaque)
				tree_opaque(t, se->e.path, i + 1);
			else
				tree_put(t, &se->e, i + 1);
		}
		hoist_snapshot_release(&snap);
	}
	*ret = t;
	return 0;
}

static int walk_dir(struct hoist_minimize_tree *t, int dfd, const char *rel, int depth,
		    struct hoist_error *err)
{
	_cleanup_close_ int fd =
	    openat(dfd, rel[0] ? rel : ".", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return hoist_error_set(err, -errno, "opening '%s': %s", rel, strerror(errno));
	if (depth > MAX_DEPTH)
		return hoist_error_set(err, -ELOOP, "'%s': too deep", rel);
	DIR *d = fdopendir(fd);
	if (!d)
		return hoist_error_set(err, -errno, "opening '%s': %s", rel, strerror(errno));
	fd = -1; /* owned by d */
	struct dirent *de;
	int r = 0;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		_cleanup_free_ char *path =
		    rel[0] ? hoist_xasprintf("%s/%s", rel, de->d_name) : hoist_xstrdup(de->d_name);
		struct stat st;
		if (fstatat(dfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		struct hoist_entry e = {.path = path,
					.mode = st.st_mode & 07777,
					.uid = st.st_uid,
					.gid = st.st_gid,
					.mtime = st.st_mtim.tv_sec};
		char target[4096];
		if (S_ISDIR(st.st_mode)) {
			e.type = HOIST_ENTRY_DIR;
		} else if (S_ISREG(st.st_mode)) {
			e.type = HOIST_ENTRY_FILE;
			e.size = (uint64_t)st.st_size;
		} else if (S_ISLNK(st.st_mode)) {
			ssize_t n = readlinkat(dfd, path, target, sizeof(target) - 1);
			if (n < 0)
				continue;
			target[n] = '\0';
			e.type = HOIST_ENTRY_SYMLINK;
			e.linkname = target;
		} else {
			continue;
		}
		tree_put(t, &e, 0);
		if (e.type == HOIST_ENTRY_DIR && (r = walk_dir(t, dfd, path, depth + 1, err)) < 0)
			break;
	}
	closedir(d);
	return r;
}

int hoist_minimize_tree_from_dir(const char *dir, struct hoist_minimize_tree **ret,
				 struct hoist_error *err)
{
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return hoist_error_set(err, -errno, "opening '%s': %s", dir, strerror(errno));
	struct hoist_minimize_tree *t = tree_new();
	hoist_strv_push(&t->roots, dir);
	int r = walk_dir(t, dfd, "", 0, err);
	if (r < 0) {
		hoist_minimize_tree_free(t);
		return r;
	}
	*ret = t;
	return 0;
}

int tree_resolve(struct hoist_minimize_tree *t, const char *path, bool follow_last,
		 struct hoist_strv *links, struct mnode **ret)
{
	struct mnode *cur = t->root;
	_cleanup_free_ char *rest = hoist_xstrdup(path);
	int n_links = 0;

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
		if (cur->e.type != HOIST_ENTRY_DIR)
			return -ENOTDIR;
		if (strcmp(comp, ".") == 0 || strcmp(comp, "..") == 0) {
			if (comp[1] == '.' && cur->parent)
				cur = cur->parent;
			memmove(rest, after, strlen(after) + 1);
			continue;
		}
		struct mnode *child = mnode_child(cur, comp);
		if (!child)
			return -ENOENT;
		if (child->e.type == HOIST_ENTRY_SYMLINK && (!last || follow_last)) {
			if (++n_links > MINIMIZE_MAX_SYMLINKS)
				return -ELOOP;
			if (links)
				hoist_strv_take(links, mnode_path(child));
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

static void glob_rec(struct hoist_minimize_tree *t, struct mnode *dir, const char *pat,
		     struct hoist_strv *out)
{
	while (*pat == '/')
		pat++;
	if (!*pat) {
		hoist_strv_take(out, mnode_path(dir));
		return;
	}
	const char *slash = strchr(pat, '/');
	_cleanup_free_ char *comp =
	    slash ? hoist_xstrndup(pat, (size_t)(slash - pat)) : hoist_xstrdup(pat);
	const char *rest = slash ? slash : "";
	bool magic = strpbrk(comp, "*?[") != NULL;

	for (size_t i = 0; i < dir->n_kids; i++) {
		struct mnode *k = dir->kids[i];
		if (magic ? fnmatch(comp, k->name, FNM_PERIOD) != 0 : strcmp(comp, k->name) != 0)
			continue;
		bool more = false;
		for (const char *q = rest; *q; q++)
			if (*q != '/')
				more = true;
		if (!more) {
			hoist_strv_take(out, mnode_path(k));
			continue;
		}
		/* A directory on the way may be a symlink: continue from where
		 * it leads, inside the tree. */
		struct mnode *d = k;
		if (k->e.type == HOIST_ENTRY_SYMLINK) {
			_cleanup_free_ char *kp = mnode_path(k);
			if (tree_resolve(t, kp, true, NULL, &d) < 0)
				continue;
		}
		if (d->e.type == HOIST_ENTRY_DIR)
			glob_rec(t, d, rest, out);
	}
}

void tree_glob(struct hoist_minimize_tree *t, const char *pattern, struct hoist_strv *out)
{
	glob_rec(t, t->root, pattern, out);
}

int tree_open(struct hoist_minimize_tree *t, const struct mnode *n)
{
	if (n->e.type != HOIST_ENTRY_FILE || !n->rel || n->layer >= t->roots.n + 1)
		return -EINVAL;
	/* Layer 0 is the single root of a directory tree; images count from 1. */
	const char *root = t->roots.v[n->layer ? n->layer - 1 : 0];
	_cleanup_close_ int rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rfd < 0)
		return -errno;
	/* The content path must stay inside the snapshot and never follow a
	 * symlink (the snapshot holds the image's own, untrusted ones). */
	struct open_how how = {.flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC,
			       .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS};
	long fd = syscall(SYS_openat2, rfd, n->rel, &how, sizeof(how));
	if (fd < 0 && errno == ENOSYS)
		return -ENOSYS;
	return fd < 0 ? -errno : (int)fd;
}

int tree_read_file(struct hoist_minimize_tree *t, const char *path, size_t max, char **ret,
		   size_t *ret_len)
{
	struct mnode *n;
	int r = tree_resolve(t, path, true, NULL, &n);
	if (r < 0)
		return r;
	if (n->e.type != HOIST_ENTRY_FILE)
		return -EISDIR;
	_cleanup_close_ int fd = tree_open(t, n);
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

uint64_t tree_bytes(const struct mnode *n)
{
	uint64_t sum = n->e.type == HOIST_ENTRY_FILE ? n->e.size : 0;
	for (size_t i = 0; i < n->n_kids; i++)
		sum += tree_bytes(n->kids[i]);
	return sum;
}

int tree_read_elf(struct hoist_minimize_tree *t, const struct mnode *n, const char *path,
		  struct hoist_elf_info *ret, struct hoist_error *err)
{
	if (n->e.type != HOIST_ENTRY_FILE || n->e.size < 16)
		return -ENOEXEC;
	if (n->e.size > MINIMIZE_MAX_ELF_SIZE)
		return -ENOEXEC;
	_cleanup_close_ int fd = tree_open(t, n);
	if (fd < 0)
		return hoist_error_set(err, fd, "opening '%s': %s", path, strerror(-fd));
	unsigned char magic[4];
	if (pread(fd, magic, 4, 0) != 4 || memcmp(magic, "\177ELF", 4) != 0)
		return -ENOEXEC;
	struct stat st;
	if (fstat(fd, &st) < 0 || st.st_size < 16)
		return -ENOEXEC;
	void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (m == MAP_FAILED)
		return hoist_error_set(err, -errno, "reading '%s': %s", path, strerror(errno));
	int r = hoist_minimize_elf_parse(m, (size_t)st.st_size, path, ret, err);
	munmap(m, (size_t)st.st_size);
	return r;
}

/* ---- string set ------------------------------------------------------ */

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static size_t slot_of(char **slots, size_t alloc, const char *s)
{
	size_t i = (size_t)hash_str(s) & (alloc - 1);
	while (slots[i] && strcmp(slots[i], s) != 0)
		i = (i + 1) & (alloc - 1);
	return i;
}

bool strset_has(const struct strset *set, const char *s)
{
	if (!set->alloc)
		return false;
	return set->slots[slot_of(set->slots, set->alloc, s)] != NULL;
}

bool strset_add(struct strset *set, const char *s)
{
	if ((set->n + 1) * 2 > set->alloc) {
		size_t alloc = set->alloc ? set->alloc * 2 : 64;
		char **slots = hoist_xcalloc(alloc, sizeof(*slots));
		for (size_t i = 0; i < set->alloc; i++)
			if (set->slots[i])
				slots[slot_of(slots, alloc, set->slots[i])] = set->slots[i];
		free(set->slots);
		set->slots = slots;
		set->alloc = alloc;
	}
	size_t i = slot_of(set->slots, set->alloc, s);
	if (set->slots[i])
		return false;
	set->slots[i] = hoist_xstrdup(s);
	set->n++;
	return true;
}

void strset_release(struct strset *set)
{
	for (size_t i = 0; i < set->alloc; i++)
		free(set->slots[i]);
	free(set->slots);
	memset(set, 0, sizeof(*set));
}

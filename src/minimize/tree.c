/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Minimize's side of the merged view of an image (the shared tree is
 * src/fstree/, used here with MINIMIZE_TREE_FLAGS): trees from images and
 * host directories, globs, sizes and ELF reads over it, and a string set.
 */
#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "minimize-private.h"

void hoist_minimize_tree_free(struct hoist_minimize_tree *t)
{
	if (!t)
		return;
	hoist_fstree_free(t->fs);
	free(t);
}

int hoist_minimize_tree_from_image(struct hoist_store *s, const struct hoist_image *img,
				   struct hoist_minimize_tree **ret, struct hoist_error *err)
{
	struct hoist_fstree *fs;
	int r = hoist_fstree_from_image(s, img, MINIMIZE_TREE_FLAGS, &fs, err);
	if (r < 0)
		return r;
	struct hoist_minimize_tree *t = hoist_xcalloc(1, sizeof(*t));
	t->fs = fs;
	*ret = t;
	return 0;
}

static int walk_dir(struct hoist_fstree *t, int dfd, const char *rel, int depth,
		    struct hoist_error *err)
{
	_cleanup_close_ int fd =
	    openat(dfd, rel[0] ? rel : ".", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return hoist_error_set(err, -errno, "opening '%s': %s", rel, strerror(errno));
	if (depth > HOIST_FSTREE_MAX_DEPTH)
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
		hoist_fstree_add(t, &e, 1);
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
	struct hoist_minimize_tree *t = hoist_xcalloc(1, sizeof(*t));
	/* One root, the directory itself: its entries are layer 1. */
	t->fs = hoist_fstree_new(MINIMIZE_TREE_FLAGS);
	hoist_strv_push(&t->fs->roots, dir);
	int r = walk_dir(t->fs, dfd, "", 0, err);
	if (r < 0) {
		hoist_minimize_tree_free(t);
		return r;
	}
	*ret = t;
	return 0;
}

static void glob_rec(struct hoist_minimize_tree *t, struct hoist_fsnode *dir, const char *pat,
		     struct hoist_strv *out)
{
	while (*pat == '/')
		pat++;
	if (!*pat) {
		hoist_strv_take(out, hoist_fstree_node_abspath(dir));
		return;
	}
	const char *slash = strchr(pat, '/');
	_cleanup_free_ char *comp =
	    slash ? hoist_xstrndup(pat, (size_t)(slash - pat)) : hoist_xstrdup(pat);
	const char *rest = slash ? slash : "";
	bool magic = strpbrk(comp, "*?[") != NULL;

	for (size_t i = 0; i < dir->n_kids; i++) {
		struct hoist_fsnode *k = dir->kids[i];
		if (magic ? fnmatch(comp, k->name, FNM_PERIOD) != 0 : strcmp(comp, k->name) != 0)
			continue;
		bool more = false;
		for (const char *q = rest; *q; q++)
			if (*q != '/')
				more = true;
		if (!more) {
			hoist_strv_take(out, hoist_fstree_node_abspath(k));
			continue;
		}
		/* A directory on the way may be a symlink: continue from where
		 * it leads, inside the tree. */
		struct hoist_fsnode *d = k;
		if (k->e.type == HOIST_ENTRY_SYMLINK) {
			_cleanup_free_ char *kp = hoist_fstree_node_abspath(k);
			if (hoist_fstree_resolve(t->fs, kp, HOIST_FSTREE_FOLLOW, &d, NULL, NULL,
						 NULL) < 0)
				continue;
		}
		if (d->e.type == HOIST_ENTRY_DIR)
			glob_rec(t, d, rest, out);
	}
}

void tree_glob(struct hoist_minimize_tree *t, const char *pattern, struct hoist_strv *out)
{
	glob_rec(t, t->fs->root, pattern, out);
}

uint64_t tree_bytes(const struct hoist_fsnode *n)
{
	uint64_t sum = n->e.type == HOIST_ENTRY_FILE ? n->e.size : 0;
	for (size_t i = 0; i < n->n_kids; i++)
		sum += tree_bytes(n->kids[i]);
	return sum;
}

int tree_read_elf(struct hoist_minimize_tree *t, const struct hoist_fsnode *n, const char *path,
		  struct hoist_elf_info *ret, struct hoist_error *err)
{
	if (n->e.type != HOIST_ENTRY_FILE || n->e.size < 16)
		return -ENOEXEC;
	if (n->e.size > MINIMIZE_MAX_ELF_SIZE)
		return -ENOEXEC;
	_cleanup_close_ int fd = hoist_fstree_open(t->fs, n);
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

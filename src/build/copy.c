/* SPDX-License-Identifier: Apache-2.0 */
/*
 * COPY and ADD with BuildKit's rules: sources resolved inside the source
 * root (`..` and symlinks clamped), Go filepath.Match wildcards, a directory
 * source copies its contents, a trailing '/' (or several sources) makes the
 * destination a directory, missing parents are created with the --chown
 * owner and existing directories keep theirs. What only ADD does (tars,
 * URLs) is add.c's.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "build-private.h"
#include "hoist/ignore.h"

void copy_req_release(struct copy_req *r)
{
	if (r->downloads) {
		for (size_t i = 0; i < r->srcs.n; i++)
			free(r->downloads[i]);
		free(r->downloads);
		r->downloads = NULL;
	}
	hoist_strv_release(&r->srcs);
	free(r->dest);
	r->dest = NULL;
	hoist_strv_release(&r->excludes);
	hoist_strv_release(&r->hd_names);
	hoist_strv_release(&r->hd_files);
	hoist_strv_release(&r->pivots);
	free(r->links);
	r->links = NULL;
	r->n_links = r->alloc_links = 0;
}

static bool is_url(const char *s)
{
	return hoist_startswith(s, "http://") || hoist_startswith(s, "https://");
}

/* ---- selection -------------------------------------------------------- */

struct match {
	struct hoist_fsnode *node;
	char *path; /* cleaned path in the source tree, "" for its root */
};

struct matches {
	struct match *v;
	size_t n;
};

static void matches_release(struct matches *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i].path);
	free(m->v);
}

static void matches_push(struct matches *m, struct hoist_fsnode *n, const char *path)
{
	m->v = hoist_xrealloc(m->v, (m->n + 1) * sizeof(*m->v));
	m->v[m->n].node = n;
	m->v[m->n].path = hoist_xstrdup(path);
	m->n++;
}

/* Glob components of `pattern` below dir (path so far `prefix`). */
static int glob_rec(struct hoist_fstree *t, struct hoist_fsnode *dir, const char *prefix,
		    const char *pattern, struct matches *out)
{
	const char *slash = strchr(pattern, '/');
	_cleanup_free_ char *comp =
	    slash ? hoist_xstrndup(pattern, (size_t)(slash - pattern)) : hoist_xstrdup(pattern);
	const char *rest = slash ? slash + 1 : NULL;

	if (dir->e.type != HOIST_ENTRY_DIR)
		return 0;
	for (size_t i = 0; i < dir->n_kids; i++) {
		struct hoist_fsnode *k = dir->kids[i];
		int m = go_path_match(comp, k->name);
		if (m < 0)
			return m;
		if (!m)
			continue;
		_cleanup_free_ char *p =
		    *prefix ? hoist_xasprintf("%s/%s", prefix, k->name) : hoist_xstrdup(k->name);
		struct hoist_fsnode *target = k;
		if (k->e.type == HOIST_ENTRY_SYMLINK) {
			_cleanup_free_ char *abs = hoist_xasprintf("/%s", p);
			if (hoist_fstree_resolve(t, abs, HOIST_FSTREE_FOLLOW, &target, NULL, NULL,
						 NULL) < 0)
				target = k;
			if (!rest)
				target = k->e.type == HOIST_ENTRY_SYMLINK && target ? target : k;
		}
		if (rest) {
			int r = glob_rec(t, target, p, rest, out);
			if (r < 0)
				return r;
		} else {
			matches_push(out, target, p);
		}
	}
	return 0;
}

static int select_sources(struct copy_req *r, const char *src, struct matches *out,
			  struct hoist_error *err)
{
	_cleanup_free_ char *abs = hoist_xasprintf("/%s", src);
	_cleanup_free_ char *clean = go_path_clean(abs);
	const char *rel = clean + 1;

	if (!has_wildcards(rel)) {
		struct hoist_fsnode *n;
		int k =
		    hoist_fstree_resolve(r->from, clean, HOIST_FSTREE_FOLLOW, &n, NULL, NULL, NULL);
		if (k < 0)
			return hoist_error_set_at(err, -ENOENT, r->file, r->in->line, 0,
						  "%s %s: \"%s\" not found%s", r->in->keyword, src,
						  clean, r->ctx ? " in the build context" : "");
		matches_push(out, n, rel);
		return 0;
	}
	/* Literal leading components are resolved (symlinks followed), then globbed. */
	int k = glob_rec(r->from, r->from->root, "", rel, out);
	if (k < 0)
		return hoist_error_set_at(err, k, r->file, r->in->line, 0, "%s: bad pattern '%s'",
					  r->in->keyword, src);
	/* BuildKit accepts a wildcard that matches nothing (see case 52). */
	return 0;
}

/* ---- hashing ----------------------------------------------------------- */

/*
 * hash_node runs for every file of a COPY (20,000 in the reference build,
 * on every no-op rebuild too), so it neither allocates nor calls printf:
 * the path is built in one buffer as the walk goes down and cut back on
 * the way up, and numbers are formatted by hand. The bytes hashed must
 * stay exactly those of key_add() and the old "%d %o %llu" meta, or every
 * cached COPY in existing stores would miss.
 */

/* v in base 8 or 10 at out (room for 22 digits); returns the length. */
static size_t fmt_uint(char *out, uint64_t v, unsigned base)
{
	char tmp[24];
	size_t n = 0, len = 0;

	do {
		tmp[n++] = (char)('0' + v % base);
		v /= base;
	} while (v);
	while (n)
		out[len++] = tmp[--n];
	return len;
}

/* key_add() with the "<label length>:<label>=" part given as a constant
 * (prefix, e.g. "4:path=") and the value's length formatted here. */
static void key_field(struct keyhash *k, const char *prefix, const void *data, size_t len)
{
	char hdr[48];
	size_t n = strlen(prefix);

	memcpy(hdr, prefix, n);
	n += fmt_uint(hdr + n, len, 10);
	hdr[n++] = ':';
	key_put(k, hdr, n);
	key_put(k, data, len);
}

/* The path relative to the COPY source: on the stack unless a path is
 * longer than that, then on the heap (freed by pathbuf_release). */
struct pathbuf {
	char *p;
	size_t len, cap;
	char *heap;
	char stack[1024];
};

static void pathbuf_init(struct pathbuf *b)
{
	b->p = b->stack;
	b->len = 0;
	b->cap = sizeof(b->stack);
	b->heap = NULL;
	b->p[0] = '\0';
}

static void pathbuf_release(struct pathbuf *b)
{
	free(b->heap);
}

/* Appends "/name" ("name" at the top); returns the old length to cut back to. */
static size_t pathbuf_push(struct pathbuf *b, const char *name)
{
	size_t old = b->len, nl = strlen(name), need = old + (old ? 1 : 0) + nl + 1;

	if (need > b->cap) {
		size_t cap = b->cap * 2 > need ? b->cap * 2 : need;
		char *h = hoist_xmalloc(cap);
		memcpy(h, b->p, old + 1);
		free(b->heap);
		b->heap = b->p = h;
		b->cap = cap;
	}
	if (old)
		b->p[b->len++] = '/';
	memcpy(b->p + b->len, name, nl + 1);
	b->len += nl;
	return old;
}

static void pathbuf_pop(struct pathbuf *b, size_t old)
{
	b->len = old;
	b->p[old] = '\0';
}

static int hash_node(struct copy_req *r, struct keyhash *k, struct hoist_fsnode *n,
		     struct pathbuf *rel, const struct hoist_ignore *ex, struct hoist_error *err)
{
	if (ex && rel->len && hoist_ignore_match(ex, rel->p) > 0)
		return 0;
	/* "%d %o %llu" of type, mode and size */
	char meta[80];
	size_t ml = 0;
	int type = (int)n->e.type;
	if (type < 0)
		meta[ml++] = '-';
	ml += fmt_uint(meta + ml, type < 0 ? -(uint64_t)type : (uint64_t)type, 10);
	meta[ml++] = ' ';
	ml += fmt_uint(meta + ml, (unsigned)n->e.mode, 8);
	meta[ml++] = ' ';
	ml += fmt_uint(meta + ml, (unsigned long long)n->e.size, 10);
	key_field(k, "4:path=", rel->p, rel->len);
	key_field(k, "4:meta=", meta, ml);
	if (n->e.type == HOIST_ENTRY_SYMLINK)
		key_add(k, "link", n->e.linkname);
	if (n->e.type == HOIST_ENTRY_FILE && n->aux) {
		int e = ctxfiles_hash(r->ctx, n->aux, err);
		if (e < 0)
			return e;
		char sha[HOIST_DIGEST_MAX];
		ctxent_digest(n->aux, sha);
		key_field(k, "3:sha=", sha, strlen(sha));
	}
	if (n->e.type == HOIST_ENTRY_DIR)
		for (size_t i = 0; i < n->n_kids; i++) {
			size_t old = pathbuf_push(rel, n->kids[i]->name);
			int e = hash_node(r, k, n->kids[i], rel, ex, err);
			pathbuf_pop(rel, old);
			if (e < 0)
				return e;
		}
	return 0;
}

/*
 * --parents copies the source's parent directories too: their metadata is
 * part of the result, so it is part of the key.
 */
static void hash_ancestors(struct copy_req *r, struct keyhash *k, const char *path)
{
	_cleanup_free_ char *abs = hoist_xasprintf("/%s", path);
	for (char *slash = strrchr(abs, '/'); slash && slash != abs; slash = strrchr(abs, '/')) {
		struct hoist_fsnode *n;
		*slash = '\0';
		if (hoist_fstree_resolve(r->from, abs, HOIST_FSTREE_FOLLOW, &n, NULL, NULL, NULL) ==
		    0) {
			char meta[64];
			snprintf(meta, sizeof(meta), "%d %o", (int)n->e.type, n->e.mode);
			key_add(k, "parent-dir", abs);
			key_add(k, "parent-meta", meta);
		}
	}
}

/*
 * --exclude on a selected source itself (`COPY --exclude=*.txt hom* /d/`):
 * matched against its path in the source and against its base name.
 */
static bool match_excluded(const struct hoist_ignore *ex, const char *path)
{
	if (!ex || !*path)
		return false;
	const char *slash = strrchr(path, '/');
	return hoist_ignore_match(ex, path) > 0 || (slash && hoist_ignore_match(ex, slash + 1) > 0);
}

static int compile_excludes(struct copy_req *r, struct hoist_ignore **ret, struct hoist_error *err)
{
	*ret = NULL;
	if (!r->excludes.n)
		return 0;
	return hoist_ignore_new((const char *const *)r->excludes.v, r->excludes.n, ret, err);
}

int copy_hash_sources(struct copy_req *r, struct keyhash *k, struct hoist_error *err)
{
	struct hoist_ignore *ex = NULL;
	int e = compile_excludes(r, &ex, err);
	if (e < 0)
		return e;
	r->downloads = hoist_xcalloc(r->srcs.n + 1, sizeof(char *));
	for (size_t i = 0; i < r->srcs.n && e >= 0; i++) {
		const char *src = r->srcs.v[i];
		key_add(k, "src", src);
		if (r->add && is_url(src)) {
			e = add_download(r, i, src, err);
			if (e >= 0) {
				char d[HOIST_DIGEST_MAX];
				struct hoist_sha256 h;
				_cleanup_close_ int fd =
				    open(r->downloads[i], O_RDONLY | O_CLOEXEC);
				char buf[65536];
				ssize_t n;
				hoist_sha256_init(&h);
				while (fd >= 0 && (n = read(fd, buf, sizeof(buf))) > 0)
					hoist_sha256_update(&h, buf, (size_t)n);
				hoist_sha256_final(&h, d);
				key_add(k, "url-sha", d);
			}
			continue;
		}
		if (!r->ctx)
			continue; /* --from sources: the source's key covers them */
		struct matches m = {0};
		e = select_sources(r, src, &m, err);
		for (size_t j = 0; j < m.n && e >= 0; j++) {
			if (match_excluded(ex, m.v[j].path))
				continue;
			key_add(k, "match", m.v[j].path);
			if (r->in->parents)
				hash_ancestors(r, k, m.v[j].path);
			struct pathbuf rel;
			pathbuf_init(&rel);
			e = hash_node(r, k, m.v[j].node, &rel, ex, err);
			pathbuf_release(&rel);
		}
		matches_release(&m);
	}
	for (size_t i = 0; i < r->hd_files.n && e >= 0; i++) {
		struct stat st;
		key_add(k, "heredoc", r->hd_names.v[i]);
		if (stat(r->hd_files.v[i], &st) < 0)
			return hoist_error_set(err, -errno, "heredoc '%s': %s", r->hd_names.v[i],
					       strerror(errno));
		char d[HOIST_DIGEST_MAX];
		_cleanup_free_ char *data = NULL;
		size_t len = 0;
		e = hoist_read_file_at(AT_FDCWD, r->hd_files.v[i], (size_t)st.st_size + 1, &data,
				       &len, err);
		if (e >= 0) {
			hoist_sha256_digest(data, len, d);
			key_add(k, "heredoc-sha", d);
		}
	}
	hoist_ignore_free(ex);
	return e;
}

/* ---- copying ----------------------------------------------------------- */

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

static void apply_owner_mode(struct copy_req *r, struct hoist_entry *e)
{
	if (r->has_chown) {
		e->uid = r->uid;
		e->gid = r->gid;
	} else if (r->from_context) {
		e->uid = 0;
		e->gid = 0;
	}
	if (r->chmod >= 0 && e->type != HOIST_ENTRY_SYMLINK)
		e->mode = (uint32_t)r->chmod;
}

/* The content path and size of a source node (hardlinks resolved). */
static struct hoist_fsnode *content_node(struct copy_req *r, struct hoist_fsnode *n)
{
	if (n->e.type == HOIST_ENTRY_HARDLINK && n->e.linkname) {
		_cleanup_free_ char *abs = hoist_xasprintf("/%s", n->e.linkname);
		struct hoist_fsnode *t;
		if (hoist_fstree_resolve(r->from, abs, 0, &t, NULL, NULL, NULL) == 0 &&
		    t->e.type == HOIST_ENTRY_FILE)
			return t;
	}
	return n;
}

/* ---- hard links --------------------------------------------------------- */

/*
 * Files of one source that are hard links of each other in the context
 * (same inode, size, mtime and ctime) become one file and hard links to it
 * in the layer, as BuildKit's copy (fsutil) links them within one source
 * (`COPY . /ctx/`; two sources of one COPY are copied apart, so are
 * their links). The file is the group's first path in the layer's order
 * (a tar hard link must follow its target); the others link to it. Only
 * context sources: a stage's or image's hard links are read as files.
 */
struct copy_link {
	const struct ctxent *ce;
	struct hoist_fsnode *node; /* the copy in the stage tree */
	char *path;		   /* its path, filled when grouping */
};

static void links_note(struct copy_req *r, struct hoist_fsnode *src, struct hoist_fsnode *n)
{
	if (!r->from_context || !src->aux || n->e.type != HOIST_ENTRY_FILE)
		return;
	if (r->n_links == r->alloc_links) {
		r->alloc_links = r->alloc_links ? r->alloc_links * 2 : 64;
		r->links = hoist_xrealloc(r->links, r->alloc_links * sizeof(*r->links));
	}
	r->links[r->n_links++] = (struct copy_link){.ce = src->aux, .node = n};
}

static bool same_inode(const struct ctxent *a, const struct ctxent *b)
{
	return a->ino == b->ino && a->size == b->size && a->mtime_ns == b->mtime_ns &&
	       a->ctime_ns == b->ctime_ns;
}

/* A path's byte as the stage tree orders paths: depth first, names in byte
 * order, so '/' sorts after the end and before every other byte. */
static unsigned tree_byte(char c)
{
	return c == '/' ? 1 : c ? (unsigned char)c + 1u : 0;
}

static int cmp_tree_path(const char *a, const char *b)
{
	for (;; a++, b++) {
		unsigned x = tree_byte(*a), y = tree_byte(*b);
		if (x != y || !x)
			return x < y ? -1 : x > y;
	}
}

static int cmp_link(const void *x, const void *y)
{
	const struct copy_link *a = x, *b = y;
	if (a->ce->ino != b->ce->ino)
		return a->ce->ino < b->ce->ino ? -1 : 1;
	return cmp_tree_path(a->path, b->path);
}

/* Turn the noted files that share an inode into hard links; forget them. */
static void links_apply(struct copy_req *r)
{
	size_t n = r->n_links;
	r->n_links = 0;
	if (n < 2)
		return;
	for (size_t i = 0; i < n; i++)
		r->links[i].path = hoist_fstree_node_path(r->links[i].node);
	qsort(r->links, n, sizeof(*r->links), cmp_link);
	for (size_t i = 0, first = 0; i < n; i++) {
		struct copy_link *l = &r->links[i];
		if (i == first || !same_inode(r->links[first].ce, l->ce)) {
			first = i;
			continue;
		}
		l->node->e.type = HOIST_ENTRY_HARDLINK;
		free(l->node->e.linkname);
		l->node->e.linkname = hoist_xstrdup(r->links[first].path);
	}
	for (size_t i = 0; i < n; i++)
		free(r->links[i].path);
}

static int copy_node(struct copy_req *r, struct hoist_fstree *t, struct hoist_fsnode *src,
		     struct hoist_fsnode *dstdir, const char *name, const char *rel,
		     const struct hoist_ignore *ex, struct hoist_error *err)
{
	if (ex && *rel && hoist_ignore_match(ex, rel) > 0)
		return 0;
	struct hoist_fsnode *cn = content_node(r, src);
	struct hoist_entry e = cn->e;
	e.path = NULL;
	if (e.type == HOIST_ENTRY_HARDLINK)
		return hoist_error_set_at(err, -ENOENT, r->file, r->in->line, 0,
					  "%s: hardlink target of '%s' not found", r->in->keyword,
					  rel);
	if (src->e.type == HOIST_ENTRY_SYMLINK)
		e = src->e;
	apply_owner_mode(r, &e);
	if (e.type == HOIST_ENTRY_DIR) {
		struct hoist_fsnode *d = hoist_fstree_child(dstdir, name);
		if (!d || d->e.type != HOIST_ENTRY_DIR) {
			d = hoist_fstree_put(dstdir, name, &e, NULL);
		} else {
			d->e.mode = e.mode;
			d->e.uid = e.uid;
			d->e.gid = e.gid;
			d->e.mtime = e.mtime;
		}
		hoist_fstree_touch(d, t->gen);
		for (size_t i = 0; i < src->n_kids; i++) {
			_cleanup_free_ char *p =
			    *rel ? hoist_xasprintf("%s/%s", rel, src->kids[i]->name)
				 : hoist_xstrdup(src->kids[i]->name);
			int k = copy_node(r, t, src->kids[i], d, src->kids[i]->name, p, ex, err);
			if (k < 0)
				return k;
		}
		return 0;
	}
	struct hoist_fsnode *n =
	    hoist_fstree_put(dstdir, name, &e, e.type == HOIST_ENTRY_FILE ? cn->src : NULL);
	n->aux = NULL;
	hoist_fstree_touch(n, t->gen);
	links_note(r, src, n);
	return 0;
}

/* Copy a directory's contents into dest (created if missing, kept if present). */
static int copy_dir_contents(struct copy_req *r, struct hoist_fstree *t, struct hoist_fsnode *src,
			     const char *dest, const struct hoist_ignore *ex,
			     struct hoist_error *err)
{
	struct hoist_fsnode *d;
	int k = stage_tree_mkdir_p(t, dest, r->has_chown ? r->uid : 0, r->has_chown ? r->gid : 0,
				   r->mtime_now, &d);
	if (k < 0)
		return hoist_error_set_at(err, k, r->file, r->in->line, 0,
					  "%s: cannot create directory '%s': %s", r->in->keyword,
					  dest, strerror(-k));
	hoist_fstree_touch(d, t->gen);
	for (size_t i = 0; i < src->n_kids; i++) {
		k = copy_node(r, t, src->kids[i], d, src->kids[i]->name, src->kids[i]->name, ex,
			      err);
		if (k < 0)
			return k;
	}
	return 0;
}

/* Where a single non-directory source lands: its directory and name. */
static int file_target(struct copy_req *r, struct hoist_fstree *t, const char *srcname,
		       struct hoist_fsnode **ret_dir, char **ret_name, struct hoist_error *err)
{
	uint32_t uid = r->has_chown ? r->uid : 0, gid = r->has_chown ? r->gid : 0;
	struct hoist_fsnode *n;
	int k;

	if (!r->dest_is_dir) {
		if (hoist_fstree_resolve(t, r->dest, HOIST_FSTREE_FOLLOW, &n, NULL, NULL, NULL) ==
			0 &&
		    n->e.type == HOIST_ENTRY_DIR) {
			*ret_dir = n;
			*ret_name = hoist_xstrdup(srcname);
			return 0;
		}
		_cleanup_free_ char *clean = go_path_clean(r->dest);
		char *slash = strrchr(clean, '/');
		*ret_name = hoist_xstrdup(slash + 1);
		if (slash == clean)
			slash[1] = '\0';
		else
			*slash = '\0';
		k = stage_tree_mkdir_p(t, clean, uid, gid, r->mtime_now, ret_dir);
	} else {
		*ret_name = hoist_xstrdup(srcname);
		k = stage_tree_mkdir_p(t, r->dest, uid, gid, r->mtime_now, ret_dir);
	}
	if (k < 0) {
		free(*ret_name);
		*ret_name = NULL;
		return hoist_error_set_at(err, k, r->file, r->in->line, 0,
					  "%s: cannot create the parents of '%s': %s",
					  r->in->keyword, r->dest, strerror(-k));
	}
	hoist_fstree_touch(*ret_dir, t->gen);
	return 0;
}

/*
 * --parents (BuildKit): the matched path keeps its directories below the
 * source root, or below the `/./` pivot, under the destination directory.
 * The parent directories are copied with their source metadata (owner as
 * for every copied entry); existing destination directories are kept.
 */
static int copy_with_parents(struct copy_req *r, struct hoist_fstree *t, struct hoist_fsnode *sn,
			     const char *path, const char *pivot, const struct hoist_ignore *ex,
			     struct hoist_error *err)
{
	const char *rel = path;
	size_t pl = strlen(pivot);
	struct hoist_fsnode *d;
	int k;

	if (pl && strncmp(path, pivot, pl) == 0 && (path[pl] == '/' || path[pl] == '\0'))
		rel = path[pl] == '/' ? path + pl + 1 : path + pl;
	if (!*rel)
		return sn->e.type == HOIST_ENTRY_DIR
			   ? copy_dir_contents(r, t, sn, r->dest, ex, err)
			   : hoist_error_set_at(err, -EINVAL, r->file, r->in->line, 0,
						"%s --parents: "
						"nothing below the "
						"pivot in '%s'",
						r->in->keyword, path);
	k = stage_tree_mkdir_p(t, r->dest, r->has_chown ? r->uid : 0, r->has_chown ? r->gid : 0,
			       r->mtime_now, &d);
	if (k < 0)
		return hoist_error_set_at(err, k, r->file, r->in->line, 0,
					  "%s: cannot create directory '%s': %s", r->in->keyword,
					  r->dest, strerror(-k));
	hoist_fstree_touch(d, t->gen);
	/* The source directory that holds rel's first component. */
	_cleanup_free_ char *srcdir = hoist_xasprintf("/%.*s", (int)(rel - path), path);
	const char *p = rel, *slash;
	while ((slash = strchr(p, '/'))) {
		_cleanup_free_ char *comp = hoist_xstrndup(p, (size_t)(slash - p));
		char *next = hoist_xasprintf("%s/%s", strcmp(srcdir, "/") == 0 ? "" : srcdir, comp);
		free(srcdir);
		srcdir = next;
		struct hoist_fsnode *sd, *dd = hoist_fstree_child(d, comp);
		if (!dd || dd->e.type != HOIST_ENTRY_DIR) {
			struct hoist_entry e = {
			    .type = HOIST_ENTRY_DIR, .mode = 0755, .mtime = r->mtime_now};
			if (hoist_fstree_resolve(r->from, srcdir, HOIST_FSTREE_FOLLOW, &sd, NULL,
						 NULL, NULL) == 0 &&
			    sd->e.type == HOIST_ENTRY_DIR) {
				e.mode = sd->e.mode;
				e.mtime = sd->e.mtime;
				e.uid = sd->e.uid;
				e.gid = sd->e.gid;
			}
			apply_owner_mode(r, &e);
			dd = hoist_fstree_put(d, comp, &e, NULL);
		}
		hoist_fstree_touch(dd, t->gen);
		d = dd;
		p = slash + 1;
	}
	return copy_node(r, t, sn, d, p, path, ex, err);
}

/* ---- driver ------------------------------------------------------------- */

int copy_run(struct copy_req *r, struct hoist_fstree *t, struct hoist_error *err)
{
	struct hoist_ignore *ex = NULL;
	int k = compile_excludes(r, &ex, err);
	if (k < 0)
		return k;

	for (size_t i = 0; i < r->srcs.n && k >= 0; i++) {
		const char *src = r->srcs.v[i];
		if (r->add && is_url(src)) {
			char nb[256];
			struct stat st;
			const char *bn = add_url_basename(src, nb, sizeof(nb));
			if (!r->downloads || !r->downloads[i] || stat(r->downloads[i], &st) < 0) {
				k = hoist_error_set_at(err, -EIO, r->file, r->in->line, 0,
						       "ADD %s: not downloaded", src);
				break;
			}
			struct hoist_entry e = {.type = HOIST_ENTRY_FILE,
						.mode = 0600,
						.size = (uint64_t)st.st_size,
						.mtime = st.st_mtim.tv_sec};
			apply_owner_mode(r, &e);
			struct hoist_fsnode *dir;
			_cleanup_free_ char *name = NULL;
			k = file_target(r, t, bn, &dir, &name, err);
			if (k < 0)
				break;
			struct hoist_fsnode *n = hoist_fstree_put(dir, name, &e, r->downloads[i]);
			hoist_fstree_touch(n, t->gen);
			continue;
		}
		struct matches m = {0};
		k = select_sources(r, src, &m, err);
		for (size_t j = 0; j < m.n && k >= 0; j++) {
			struct hoist_fsnode *sn = m.v[j].node;
			if (match_excluded(ex, m.v[j].path))
				continue;
			if (r->in->parents) {
				const char *pivot = i < r->pivots.n ? r->pivots.v[i] : "";
				k = copy_with_parents(r, t, sn, m.v[j].path, pivot, ex, err);
				continue;
			}
			if (sn->e.type == HOIST_ENTRY_DIR) {
				k = copy_dir_contents(r, t, sn, r->dest, ex, err);
				continue;
			}
			if (r->add && sn->e.type == HOIST_ENTRY_FILE && sn->src && r->ctx) {
				unsigned char head[512];
				_cleanup_close_ int fd = hoist_fstree_open(r->from, sn);
				ssize_t n = fd >= 0 ? pread(fd, head, sizeof(head), 0) : -1;
				bool compressed;
				if (n > 0 && add_archive_magic(head, (size_t)n, &compressed)) {
					k = add_extract_tar(r, t, fd, m.v[j].path, compressed, err);
					if (k <= 0)
						continue;
					k = 0; /* not a tar: copy as a file */
				}
			}
			struct hoist_fsnode *dir;
			_cleanup_free_ char *name = NULL;
			const char *leaf = *m.v[j].path ? base_name(m.v[j].path) : sn->name;
			k = file_target(r, t, leaf, &dir, &name, err);
			if (k < 0)
				break;
			k = copy_node(r, t, sn, dir, name, "", NULL, err);
		}
		/* Hard links within the source (all its matches). */
		links_apply(r);
		matches_release(&m);
	}
	for (size_t i = 0; i < r->hd_files.n && k >= 0; i++) {
		struct stat st;
		if (stat(r->hd_files.v[i], &st) < 0) {
			k = hoist_error_set(err, -errno, "heredoc '%s': %s", r->hd_names.v[i],
					    strerror(errno));
			break;
		}
		/* BuildKit's Mkfile: mode 0644 (or --chmod), owner 0:0 (or --chown). */
		struct hoist_entry e = {.type = HOIST_ENTRY_FILE,
					.mode = 0644,
					.size = (uint64_t)st.st_size,
					.mtime = r->mtime_now};
		bool fc = r->from_context;
		r->from_context = true;
		apply_owner_mode(r, &e);
		r->from_context = fc;
		struct hoist_fsnode *dir;
		_cleanup_free_ char *name = NULL;
		k = file_target(r, t, base_name(r->hd_names.v[i]), &dir, &name, err);
		if (k < 0)
			break;
		struct hoist_fsnode *n = hoist_fstree_put(dir, name, &e, r->hd_files.v[i]);
		hoist_fstree_touch(n, t->gen);
	}
	hoist_ignore_free(ex);
	return k;
}

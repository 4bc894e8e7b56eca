/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The context's kept files (after .dockerignore) and a stat cache, like
 * git's index: a file whose path, size, mtime, ctime and inode are unchanged
 * is not read again; its sha256 comes from ROOT/statcache/<key>.
 *
 * Stat cache format: a header line, then one record per line:
 *   hoist-statcache 2 <written-ns>\n
 *   <size> <mtime-ns> <ctime-ns> <ino> <sha256-hex> <path>\n
 * Paths holding a newline are never cached.
 *
 * Racy entries (git's "racy git" problem): a file changed in the same
 * timestamp tick as the stat we recorded keeps the same size, mtime and
 * ctime, so its record would look clean while the content is new. Such a
 * change can only happen to a file whose mtime or ctime is not strictly
 * older than the moment the stat cache was written. Those records are not
 * trusted: the file is hashed again and the cache rewritten with a later
 * write time, after which the entry is clean. The write time is compared at
 * whole-second granularity (and taken from the coarse clock the kernel
 * stamps files with), so a file system with coarse timestamps or a
 * different clock tick cannot hide a change.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "build-private.h"

#define STATCACHE_MAX ((size_t)256 << 20)
#define STATCACHE_MAGIC "hoist-statcache 2 "
#define CTX_MAX_ENTRIES 5000000

/* path is never owned: it points into ctxfiles.cache_data (loaded records)
 * or at a context entry's path in the arena (records added by this build). */
struct statcache_rec {
	const char *path;
	uint64_t size, ino;
	int64_t mtime_ns, ctime_ns;
	size_t seq; /* position before sorting: ties keep the newest */
	char hex[HOIST_SHA256_HEX + 1];
};

/* Paths of the context's entries, packed in large chunks: one malloc per
 * path was a third of a no-op rebuild's allocations. */
struct ctxarena {
	struct ctxarena *next;
	size_t used, cap;
	char data[];
};

#define ARENA_CHUNK ((size_t)256 << 10)

static int64_t ns_of(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000LL + ts->tv_nsec;
}

static char *arena_strndup(struct ctxfiles *c, const char *s, size_t len)
{
	struct ctxarena *a = c->arena;
	if (!a || a->cap - a->used < len + 1) {
		size_t cap = len + 1 > ARENA_CHUNK ? len + 1 : ARENA_CHUNK;
		a = hoist_xmalloc(sizeof(*a) + cap);
		a->next = c->arena;
		a->used = 0;
		a->cap = cap;
		c->arena = a;
	}
	char *p = a->data + a->used;
	memcpy(p, s, len);
	p[len] = '\0';
	a->used += len + 1;
	return p;
}

static int rec_cmp(const void *a, const void *b)
{
	const struct statcache_rec *x = a, *y = b;
	int k = strcmp(x->path, y->path);
	return k ? k : (x->seq > y->seq) - (x->seq < y->seq);
}

static int ent_cmp(const void *a, const void *b)
{
	return strcmp((*(struct ctxent *const *)a)->path, (*(struct ctxent *const *)b)->path);
}

char *statcache_path(struct hoist_store *s, const char *abs_root)
{
	char d[HOIST_DIGEST_MAX];
	hoist_sha256_digest(abs_root, strlen(abs_root), d);
	return hoist_xasprintf("%s/statcache/%s", hoist_store_root(s), d + 7);
}

/* Room for one more record at the end (amortised doubling). */
static struct statcache_rec *cache_append(struct ctxfiles *c)
{
	if (c->n_cache == c->alloc_cache) {
		c->alloc_cache = c->alloc_cache ? c->alloc_cache * 2 : 256;
		c->cache = hoist_xrealloc(c->cache, c->alloc_cache * sizeof(*c->cache));
	}
	struct statcache_rec *r = &c->cache[c->n_cache++];
	memset(r, 0, sizeof(*r));
	return r;
}

/* Sort every record and drop duplicate paths (a path appended twice in one
 * build, or twice in a hand-edited file), keeping the last one appended. */
static void cache_sort(struct ctxfiles *c)
{
	/* Stable by construction: ties are broken by position, so "last wins". */
	for (size_t i = 0; i < c->n_cache; i++)
		c->cache[i].seq = i;
	/* A stat cache as written is sorted already: no need to sort (glibc's
	 * merge sort copies every record n log n times even then). */
	bool sorted = true;
	for (size_t i = 1; i < c->n_cache && sorted; i++)
		sorted = strcmp(c->cache[i - 1].path, c->cache[i].path) < 0;
	if (sorted) {
		c->n_sorted = c->n_cache;
		return;
	}
	qsort(c->cache, c->n_cache, sizeof(*c->cache), rec_cmp);
	size_t o = 0;
	for (size_t i = 0; i < c->n_cache; i++) {
		if (i + 1 < c->n_cache && strcmp(c->cache[i].path, c->cache[i + 1].path) == 0)
			continue;
		c->cache[o++] = c->cache[i];
	}
	c->n_cache = c->n_sorted = o;
}

/* A decimal field ending in a space; *p moves past the space. */
static bool parse_u64_field(char **p, char *end, uint64_t *ret)
{
	uint64_t v = 0;
	char *q = *p;
	if (q == end || *q < '0' || *q > '9')
		return false;
	for (; q < end && *q >= '0' && *q <= '9'; q++) {
		unsigned d = (unsigned)(*q - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	if (q == end || *q != ' ')
		return false;
	*p = q + 1;
	*ret = v;
	return true;
}

static bool parse_i64_field(char **p, char *end, int64_t *ret)
{
	bool neg = *p < end && **p == '-';
	uint64_t v;
	if (neg)
		(*p)++;
	if (!parse_u64_field(p, end, &v) || v > (uint64_t)INT64_MAX)
		return false;
	*ret = neg ? -(int64_t)v : (int64_t)v;
	return true;
}

static bool is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* One record line (NUL-terminated at end); false for a malformed one. */
static bool parse_rec(char *p, char *end, struct statcache_rec *rec)
{
	if (!parse_u64_field(&p, end, &rec->size) || !parse_i64_field(&p, end, &rec->mtime_ns) ||
	    !parse_i64_field(&p, end, &rec->ctime_ns) || !parse_u64_field(&p, end, &rec->ino))
		return false;
	if (end - p < HOIST_SHA256_HEX + 2 || p[HOIST_SHA256_HEX] != ' ' ||
	    !is_hex(p, HOIST_SHA256_HEX))
		return false;
	memcpy(rec->hex, p, HOIST_SHA256_HEX);
	rec->hex[HOIST_SHA256_HEX] = '\0';
	rec->path = p + HOIST_SHA256_HEX + 1;
	return true;
}

static void load_statcache(struct ctxfiles *c)
{
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	if (hoist_read_file_at(AT_FDCWD, c->cache_path, STATCACHE_MAX, &data, &len, NULL) < 0)
		return;
	char *p = data, *end = data + len;
	/* No header (an older format) or a bad one: start afresh. */
	char *hnl = memchr(p, '\n', len);
	int64_t written;
	if (!hnl || !hoist_startswith(p, STATCACHE_MAGIC))
		return;
	*hnl = ' '; /* the field parser wants a separator after the number */
	p += strlen(STATCACHE_MAGIC);
	if (!parse_i64_field(&p, hnl + 1, &written) || written < 0)
		return;
	c->cache_written_ns = written;
	p = hnl + 1;
	/* Records are about 110 bytes: size the array once. */
	c->alloc_cache = len / 96 + 16;
	c->cache = hoist_xmalloc(c->alloc_cache * sizeof(*c->cache));
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			break;
		*nl = '\0';
		struct statcache_rec rec;
		if (parse_rec(p, nl, &rec))
			*cache_append(c) = rec;
		p = nl + 1;
	}
	c->cache_data = TAKE_PTR(data);
	cache_sort(c);
}

static int visit(const char *relpath, const struct stat *st, void *userdata)
{
	struct ctxfiles *c = userdata;
	if (!relpath[0] || strcmp(relpath, ".") == 0)
		return 0;
	if (c->n >= CTX_MAX_ENTRIES)
		return -E2BIG;
	if (c->n == c->alloc) {
		c->alloc = c->alloc ? c->alloc * 2 : 256;
		c->v = hoist_xrealloc(c->v, c->alloc * sizeof(*c->v));
	}
	struct ctxent *e = &c->v[c->n++];
	e->path = arena_strndup(c, relpath, strlen(relpath));
	e->link = NULL;
	e->size = (uint64_t)st->st_size;
	e->ino = (uint64_t)st->st_ino;
	e->mtime_ns = ns_of(&st->st_mtim);
	e->ctime_ns = ns_of(&st->st_ctim);
	e->mode = st->st_mode;
	e->uid = st->st_uid;
	e->gid = st->st_gid;
	e->hashed = false;
	e->sha[0] = '\0';
	if (S_ISLNK(st->st_mode)) {
		char buf[4096];
		ssize_t n = readlinkat(c->dirfd, relpath, buf, sizeof(buf) - 1);
		if (n < 0)
			n = 0;
		buf[n] = '\0';
		e->link = hoist_xstrdup(buf);
	}
	return 0;
}

int ctxfiles_load(struct hoist_store *s, const struct hoist_context *ctx, const char *abs_root,
		  struct ctxfiles **ret, struct hoist_error *err)
{
	struct ctxfiles *c = hoist_xcalloc(1, sizeof(*c));
	int r;

	c->dirfd = hoist_context_dirfd(ctx);
	c->abs_root = hoist_xstrdup(abs_root);
	c->cache_path = statcache_path(s, abs_root);
	load_statcache(c);
	/* The last build's context is the best guess at this one's size (a few
	 * more for the directories, which the stat cache does not hold). */
	if (c->n_cache) {
		c->alloc = c->n_cache + c->n_cache / 8 + 64;
		c->v = hoist_xmalloc(c->alloc * sizeof(*c->v));
	}
	r = hoist_context_walk(ctx, visit, c, err);
	if (r == -E2BIG)
		r = hoist_error_set(err, r, "build context has more than %d entries",
				    CTX_MAX_ENTRIES);
	if (r < 0) {
		ctxfiles_free(c);
		return r;
	}
	c->by_path = hoist_xcalloc(c->n ? c->n : 1, sizeof(*c->by_path));
	bool sorted = true;
	for (size_t i = 0; i < c->n; i++) {
		c->by_path[i] = &c->v[i];
		if (i && sorted && strcmp(c->v[i - 1].path, c->v[i].path) > 0)
			sorted = false;
	}
	/* The walk's order is byte order per directory, which is the order of
	 * whole paths unless a name sorts below '/' ("a.b" against "a/b"). */
	if (!sorted)
		qsort(c->by_path, c->n, sizeof(*c->by_path), ent_cmp);
	*ret = c;
	return 0;
}

void ctxfiles_free(struct ctxfiles *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i].link);
	free(c->v);
	free(c->by_path);
	while (c->arena) {
		struct ctxarena *next = c->arena->next;
		free(c->arena);
		c->arena = next;
	}
	free(c->cache);
	free(c->cache_data);
	free(c->cache_path);
	free(c->abs_root);
	free(c);
}

struct ctxent *ctxfiles_find(struct ctxfiles *c, const char *path)
{
	size_t lo = 0, hi = c->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int k = strcmp(c->by_path[mid]->path, path);
		if (k == 0)
			return c->by_path[mid];
		if (k < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Only the sorted prefix is searched: records appended by this build are for
 * paths that missed, and each context entry is hashed at most once. */
static struct statcache_rec *cache_find(struct ctxfiles *c, const char *path)
{
	size_t lo = 0, hi = c->n_sorted;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int k = strcmp(c->cache[mid].path, path);
		if (k == 0)
			return &c->cache[mid];
		if (k < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

bool statcache_racy(int64_t written_ns, int64_t mtime_ns, int64_t ctime_ns)
{
	int64_t limit = written_ns - written_ns % 1000000000LL;
	return mtime_ns >= limit || ctime_ns >= limit;
}

int ctxfiles_hash(struct ctxfiles *c, struct ctxent *e, struct hoist_error *err)
{
	if (e->hashed)
		return 0;
	struct statcache_rec *rec = cache_find(c, e->path);
	if (rec && rec->size == e->size && rec->ino == e->ino && rec->mtime_ns == e->mtime_ns &&
	    rec->ctime_ns == e->ctime_ns &&
	    !statcache_racy(c->cache_written_ns, rec->mtime_ns, rec->ctime_ns)) {
		memcpy(e->sha, "sha256:", 7);
		memcpy(e->sha + 7, rec->hex, HOIST_SHA256_HEX + 1);
		e->hashed = true;
		return 0;
	}

	_cleanup_close_ int fd = openat(c->dirfd, e->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return hoist_error_set(err, -errno, "reading '%s' in the build context: %s",
				       e->path, strerror(errno));
	struct hoist_sha256 h;
	char buf[65536];
	hoist_sha256_init(&h);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e2 = errno;
			hoist_sha256_release(&h);
			return hoist_error_set(err, -e2, "reading '%s' in the build context: %s",
					       e->path, strerror(e2));
		}
		if (n == 0)
			break;
		hoist_sha256_update(&h, buf, (size_t)n);
	}
	hoist_sha256_final(&h, e->sha);
	e->hashed = true;

	if (strchr(e->path, '\n'))
		return 0;
	if (!rec) {
		/* Appended unsorted: a cold context misses on every file, and
		 * sorting per insertion made that quadratic (20,000 files: 6 s). */
		rec = cache_append(c);
		rec->path = e->path;
	}
	rec->size = e->size;
	rec->ino = e->ino;
	rec->mtime_ns = e->mtime_ns;
	rec->ctime_ns = e->ctime_ns;
	memcpy(rec->hex, e->sha + 7, HOIST_SHA256_HEX);
	rec->hex[HOIST_SHA256_HEX] = '\0';
	c->cache_dirty = true;
	return 0;
}

void ctxfiles_save(struct ctxfiles *c)
{
	if (!c || !c->cache_dirty)
		return;
	cache_sort(c);
	struct hoist_buf b = HOIST_BUF_INIT;
	_cleanup_free_ char *dir = NULL, *tmp = NULL;
	hoist_buf_init(&b, STATCACHE_MAX);
	struct timespec now, coarse;
	clock_gettime(CLOCK_REALTIME, &now);
	clock_gettime(CLOCK_REALTIME_COARSE, &coarse);
	int64_t written = ns_of(&now) < ns_of(&coarse) ? ns_of(&now) : ns_of(&coarse);
	if (hoist_buf_addf(&b, STATCACHE_MAGIC "%" PRId64 "\n", written) < 0)
		goto out;
	for (size_t i = 0; i < c->n_cache; i++) {
		const struct statcache_rec *r = &c->cache[i];
		if (hoist_buf_addf(&b, "%" PRIu64 " %" PRId64 " %" PRId64 " %" PRIu64 " %s %s\n",
				   r->size, r->mtime_ns, r->ctime_ns, r->ino, r->hex, r->path) < 0)
			goto out;
	}
	dir = hoist_xstrdup(c->cache_path);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	(void)mkdir(dir, 0755);
	tmp = hoist_xasprintf("%s.tmp.%d", c->cache_path, (int)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		goto out;
	if (hoist_write_all(fd, b.data ? b.data : "", b.len) < 0) {
		close(fd);
		unlink(tmp);
		goto out;
	}
	close(fd);
	/* The stat cache is an optimisation: a lost write only costs a re-read. */
	if (rename(tmp, c->cache_path) < 0)
		unlink(tmp);
	c->cache_dirty = false;
out:
	hoist_buf_release(&b);
}

struct hoist_fstree *ctxfiles_tree(struct ctxfiles *c)
{
	struct hoist_fstree *t = hoist_fstree_new(0);
	struct hoist_buf src = HOIST_BUF_INIT;
	/* The walk lists a directory's entries together: remember the last
	 * parent instead of resolving every path from the root. */
	struct hoist_fsnode *last_dir = t->root;
	const char *last_prefix = "";
	size_t last_len = 0, root_len = strlen(c->abs_root);
	char comp[NAME_MAX + 1];

	for (size_t i = 0; i < c->n; i++) {
		struct ctxent *ce = &c->v[i];
		struct hoist_entry e = {0};
		struct hoist_fsnode *dir = t->root;
		const char *p = ce->path, *slash, *base = strrchr(p, '/');
		size_t dlen = base ? (size_t)(base - p) : 0;

		if (dlen == last_len && memcmp(p, last_prefix, dlen) == 0) {
			dir = last_dir;
			p = base ? base + 1 : p;
		} else {
			while ((slash = strchr(p, '/'))) {
				size_t n = (size_t)(slash - p);
				if (n >= sizeof(comp))
					n = sizeof(comp) - 1; /* a name is at most NAME_MAX */
				memcpy(comp, p, n);
				comp[n] = '\0';
				struct hoist_fsnode *next = hoist_fstree_child(dir, comp);
				if (!next || next->e.type != HOIST_ENTRY_DIR) {
					struct hoist_entry de = {.type = HOIST_ENTRY_DIR,
								 .mode = 0755};
					next = hoist_fstree_put(dir, comp, &de, NULL);
				}
				dir = next;
				p = slash + 1;
			}
			last_dir = dir;
			last_prefix = ce->path;
			last_len = dlen;
		}
		if (S_ISDIR(ce->mode))
			e.type = HOIST_ENTRY_DIR;
		else if (S_ISLNK(ce->mode))
			e.type = HOIST_ENTRY_SYMLINK;
		else if (S_ISREG(ce->mode))
			e.type = HOIST_ENTRY_FILE;
		else
			continue; /* sockets, fifos, devices: BuildKit's context sync skips them */
		e.mode = ce->mode & 07777;
		e.uid = ce->uid;
		e.gid = ce->gid;
		e.mtime = ce->mtime_ns / 1000000000LL;
		if (ce->mtime_ns < 0 && ce->mtime_ns % 1000000000LL)
			e.mtime--; /* tv_sec rounds down */
		e.size = e.type == HOIST_ENTRY_FILE ? ce->size : 0;
		e.linkname = ce->link;
		if (e.type == HOIST_ENTRY_FILE) {
			src.len = 0;
			hoist_buf_add(&src, c->abs_root, root_len);
			hoist_buf_addc(&src, '/');
			hoist_buf_adds(&src, ce->path);
		}
		struct hoist_fsnode *n =
		    hoist_fstree_put(dir, p, &e, e.type == HOIST_ENTRY_FILE ? src.data : NULL);
		n->aux = ce;
	}
	hoist_buf_release(&src);
	return t;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The context's kept files (after .dockerignore) and a stat cache, like
 * git's index: a file whose path, size, mtime, ctime and inode are unchanged
 * is not read again; its sha256 comes from ROOT/statcache/<key>.
 *
 * Stat cache format (version 3, binary, native byte order, mapped read-only
 * rather than read and parsed: a no-op rebuild looks up every record, and
 * parsing a 20,000-line text cache into fresh heap memory cost ~25 ms):
 *   struct statcache_head
 *   struct statcache_disk[n]   sorted by strcmp(path), no duplicates
 *   paths, each NUL-terminated, strings_len bytes in all
 * The file's length must be exactly that; every record's path must lie in
 * the string table and end in its NUL; the records must be strictly sorted.
 * Anything else (a short write, a version 2 text cache, another byte order)
 * is ignored as a whole: the files are hashed again and a new cache
 * written. Paths holding a newline are never cached.
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
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

#include "build-private.h"

#define STATCACHE_MAX ((size_t)256 << 20)
#define STATCACHE_MAGIC "hoist-statcache\n"
#define STATCACHE_VERSION 3
#define STATCACHE_BOM 0x01020304u
#define CTX_MAX_ENTRIES 5000000

struct statcache_head {
	char magic[16]; /* STATCACHE_MAGIC, no NUL */
	uint32_t version;
	uint32_t byte_order; /* STATCACHE_BOM as the writer stored it */
	int64_t written_ns;
	uint64_t n;	      /* records */
	uint64_t strings_len; /* bytes of paths after the records */
	uint64_t reserved[2];
};

struct statcache_disk {
	uint64_t size, ino;
	int64_t mtime_ns, ctime_ns;
	uint32_t path_off, path_len; /* in the string table, NUL at off + len */
	char hex[HOIST_SHA256_HEX];
};

_Static_assert(sizeof(struct statcache_head) == 64, "stat cache header layout");
_Static_assert(sizeof(struct statcache_disk) == 104, "stat cache record layout");

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
	return hoist_store_area_path(s, HOIST_STORE_STATCACHE, d + 7);
}

/* Room for one more record at the end (amortised doubling). */
static struct statcache_rec *cache_append(struct ctxfiles *c)
{
	if (c->n_new == c->alloc_new) {
		c->alloc_new = c->alloc_new ? c->alloc_new * 2 : 256;
		c->fresh = hoist_xrealloc(c->fresh, c->alloc_new * sizeof(*c->fresh));
	}
	struct statcache_rec *r = &c->fresh[c->n_new++];
	memset(r, 0, sizeof(*r));
	return r;
}

static void rec_set(struct statcache_rec *r, const char *path, uint64_t size, uint64_t ino,
		    int64_t mtime_ns, int64_t ctime_ns, const char *hex)
{
	r->path = path;
	r->size = size;
	r->ino = ino;
	r->mtime_ns = mtime_ns;
	r->ctime_ns = ctime_ns;
	memcpy(r->hex, hex, HOIST_SHA256_HEX);
	r->hex[HOIST_SHA256_HEX] = '\0';
}

static const char *disk_path(const struct ctxfiles *c, const struct statcache_disk *d)
{
	return c->disk_strings + d->path_off;
}

/* Map the stat cache and check its shape; on any doubt, leave it unused. */
static void load_statcache(struct ctxfiles *c)
{
	_cleanup_close_ int fd = open(c->cache_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size < sizeof(struct statcache_head) ||
	    (uint64_t)st.st_size > STATCACHE_MAX)
		return;
	size_t len = (size_t)st.st_size;
	void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
	if (map == MAP_FAILED)
		return;
	const struct statcache_head *h = map;
	const struct statcache_disk *recs = (const void *)(h + 1);
	uint64_t body = len - sizeof(*h);
	if (memcmp(h->magic, STATCACHE_MAGIC, sizeof(h->magic)) != 0 ||
	    h->version != STATCACHE_VERSION || h->byte_order != STATCACHE_BOM ||
	    h->written_ns < 0 || h->n > body / sizeof(*recs) ||
	    h->strings_len != body - h->n * sizeof(*recs) || h->strings_len > UINT32_MAX)
		goto bad;
	const char *strings = (const char *)(recs + h->n), *prev = NULL;
	for (uint64_t i = 0; i < h->n; i++) {
		const struct statcache_disk *d = &recs[i];
		if ((uint64_t)d->path_off + d->path_len >= h->strings_len ||
		    strings[d->path_off + d->path_len] != '\0')
			goto bad;
		if (prev && strcmp(prev, strings + d->path_off) >= 0)
			goto bad;
		prev = strings + d->path_off;
	}
	c->disk_map = map;
	c->disk_len = len;
	c->disk = recs;
	c->n_disk = (size_t)h->n;
	c->disk_strings = strings;
	c->cache_written_ns = h->written_ns;
	return;
bad:
	munmap(map, len);
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
	e->hex = NULL;
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
	if (c->n_disk) {
		c->alloc = c->n_disk + c->n_disk / 8 + 64;
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
	free(c->fresh);
	if (c->disk_map)
		munmap(c->disk_map, c->disk_len);
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

/*
 * The mapped records only: records appended by this build are for paths
 * that missed, and each context entry is hashed at most once. Lookups come
 * in (nearly) path order, so the record after the last hit is tried first.
 */
static const struct statcache_disk *cache_find(struct ctxfiles *c, const char *path)
{
	size_t lo = 0, hi = c->n_disk;
	if (c->disk_hint < c->n_disk) {
		const struct statcache_disk *d = &c->disk[c->disk_hint];
		int k = strcmp(disk_path(c, d), path);
		if (k == 0) {
			c->disk_hint++;
			return d;
		}
		if (k < 0)
			lo = c->disk_hint + 1;
		else
			hi = c->disk_hint;
	}
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int k = strcmp(disk_path(c, &c->disk[mid]), path);
		if (k == 0) {
			c->disk_hint = mid + 1;
			return &c->disk[mid];
		}
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
	if (e->hex)
		return 0;
	const struct statcache_disk *d = cache_find(c, e->path);
	if (d && d->size == e->size && d->ino == e->ino && d->mtime_ns == e->mtime_ns &&
	    d->ctime_ns == e->ctime_ns &&
	    !statcache_racy(c->cache_written_ns, d->mtime_ns, d->ctime_ns)) {
		e->hex = d->hex;
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
	char digest[HOIST_DIGEST_MAX];
	hoist_sha256_final(&h, digest);
	e->hex = arena_strndup(c, digest + 7, HOIST_SHA256_HEX);

	if (strchr(e->path, '\n'))
		return 0;
	/* Appended unsorted (a cold context misses on every file; sorting per
	 * insertion made that quadratic), merged over the mapped ones on save. */
	rec_set(cache_append(c), e->path, e->size, e->ino, e->mtime_ns, e->ctime_ns, e->hex);
	c->cache_dirty = true;
	return 0;
}

int statcache_write(const char *path, int64_t written_ns, const struct statcache_rec *recs,
		    size_t n)
{
	struct hoist_buf b = HOIST_BUF_INIT;
	_cleanup_free_ char *dir = NULL, *tmp = NULL;
	struct statcache_head h = {.version = STATCACHE_VERSION,
				   .byte_order = STATCACHE_BOM,
				   .written_ns = written_ns,
				   .n = n};
	size_t strings = 0;
	int r = -EFBIG;

	memcpy(h.magic, STATCACHE_MAGIC, sizeof(h.magic));
	for (size_t i = 0; i < n; i++)
		strings += strlen(recs[i].path) + 1;
	if (strings > UINT32_MAX ||
	    sizeof(h) + n * sizeof(struct statcache_disk) + strings > STATCACHE_MAX)
		return r;
	h.strings_len = strings;
	hoist_buf_init(&b, STATCACHE_MAX);
	hoist_buf_add(&b, &h, sizeof(h));
	uint32_t off = 0;
	for (size_t i = 0; i < n; i++) {
		struct statcache_disk d = {.size = recs[i].size,
					   .ino = recs[i].ino,
					   .mtime_ns = recs[i].mtime_ns,
					   .ctime_ns = recs[i].ctime_ns,
					   .path_off = off,
					   .path_len = (uint32_t)strlen(recs[i].path)};
		memcpy(d.hex, recs[i].hex, HOIST_SHA256_HEX);
		hoist_buf_add(&b, &d, sizeof(d));
		off += d.path_len + 1;
	}
	for (size_t i = 0; i < n; i++)
		hoist_buf_add(&b, recs[i].path, strlen(recs[i].path) + 1);

	dir = hoist_xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	(void)mkdir(dir, 0755);
	tmp = hoist_xasprintf("%s.tmp.%d", path, (int)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	r = hoist_write_all(fd, b.data, b.len);
	close(fd);
	if (r >= 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
out:
	hoist_buf_release(&b);
	return r;
}

/*
 * The new cache: the mapped records and this build's, merged by path, this
 * build's winning (a file re-hashed because it changed). Records of paths
 * that left the context are kept: another Dockerfile's .dockerignore may
 * keep them.
 */
void ctxent_digest(const struct ctxent *e, char out[HOIST_DIGEST_MAX])
{
	memcpy(out, "sha256:", 7);
	memcpy(out + 7, e->hex, HOIST_SHA256_HEX);
	out[7 + HOIST_SHA256_HEX] = '\0';
}

void ctxfiles_save(struct ctxfiles *c)
{
	if (!c || !c->cache_dirty)
		return;
	for (size_t i = 0; i < c->n_new; i++)
		c->fresh[i].seq = i;
	qsort(c->fresh, c->n_new, sizeof(*c->fresh), rec_cmp);
	_cleanup_free_ struct statcache_rec *all =
	    hoist_xmalloc((c->n_disk + c->n_new + 1) * sizeof(*all));
	size_t n = 0, i = 0, j = 0;
	while (i < c->n_disk || j < c->n_new) {
		/* Of several records for one path appended, the last is newest. */
		if (j + 1 < c->n_new && strcmp(c->fresh[j].path, c->fresh[j + 1].path) == 0) {
			j++;
			continue;
		}
		int k = i == c->n_disk	? 1
			: j == c->n_new ? -1
					: strcmp(disk_path(c, &c->disk[i]), c->fresh[j].path);
		if (k < 0) {
			const struct statcache_disk *d = &c->disk[i++];
			rec_set(&all[n++], disk_path(c, d), d->size, d->ino, d->mtime_ns,
				d->ctime_ns, d->hex);
		} else {
			if (k == 0)
				i++;
			all[n++] = c->fresh[j++];
		}
	}
	struct timespec now, coarse;
	clock_gettime(CLOCK_REALTIME, &now);
	clock_gettime(CLOCK_REALTIME_COARSE, &coarse);
	int64_t written = ns_of(&now) < ns_of(&coarse) ? ns_of(&now) : ns_of(&coarse);
	/* The stat cache is an optimisation: a lost write only costs a re-read. */
	(void)statcache_write(c->cache_path, written, all, n);
	c->cache_dirty = false;
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

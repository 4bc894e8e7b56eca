/* SPDX-License-Identifier: Apache-2.0 */
/* Garbage collection (mark from tags and cache records, sweep) and verification. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store-private.h"

/* Indexes may nest; real ones are one or two levels deep. */
#define WALK_DEPTH_MAX 16

/* ---- a set of 64-hex names -------------------------------------------- */

struct hexset {
	char (*slot)[HOIST_SHA256_HEX + 1];
	size_t cap, n;
};

static uint64_t hex_hash(const char *hex)
{
	/* Digests are uniformly distributed already: their first bits are a hash. */
	uint64_t h = 0;
	for (int i = 0; i < 16; i++) {
		char c = hex[i];
		h = h << 4 | (uint64_t)(c <= '9' ? c - '0' : c - 'a' + 10);
	}
	return h;
}

static bool hexset_has(const struct hexset *set, const char *hex)
{
	if (!set->cap)
		return false;
	for (size_t i = hex_hash(hex) & (set->cap - 1);; i = (i + 1) & (set->cap - 1)) {
		if (!set->slot[i][0])
			return false;
		if (memcmp(set->slot[i], hex, HOIST_SHA256_HEX) == 0)
			return true;
	}
}

static void hexset_insert_raw(struct hexset *set, const char *hex)
{
	size_t i = hex_hash(hex) & (set->cap - 1);
	while (set->slot[i][0])
		i = (i + 1) & (set->cap - 1);
	memcpy(set->slot[i], hex, HOIST_SHA256_HEX);
	set->slot[i][HOIST_SHA256_HEX] = '\0';
	set->n++;
}

/* Returns true when hex was not in the set before. */
static bool hexset_add(struct hexset *set, const char *hex)
{
	if (hexset_has(set, hex))
		return false;
	if ((set->n + 1) * 2 > set->cap) {
		struct hexset bigger = {NULL, set->cap ? set->cap * 2 : 256, 0};
		bigger.slot = hoist_xcalloc(bigger.cap, sizeof(*bigger.slot));
		for (size_t i = 0; i < set->cap; i++)
			if (set->slot[i][0])
				hexset_insert_raw(&bigger, set->slot[i]);
		free(set->slot);
		*set = bigger;
	}
	hexset_insert_raw(set, hex);
	return true;
}

static void hexset_release(struct hexset *set)
{
	free(set->slot);
	set->slot = NULL;
	set->cap = set->n = 0;
}

static bool is_hex64(const char *s)
{
	for (int i = 0; i < HOIST_SHA256_HEX; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static bool name_is_hex64(const char *s)
{
	return strlen(s) == HOIST_SHA256_HEX && is_hex64(s);
}

/* ---- marking ----------------------------------------------------------- */

/* Only blobs that look like JSON documents are parsed; layers are skipped cheaply. */
static bool blob_looks_like_json(struct hoist_store *s, const char *digest)
{
	_cleanup_close_ int fd = hoist_store_blob_open(s, digest, NULL);
	struct stat st;
	char head[64];

	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size == 0 ||
	    (uint64_t)st.st_size > HOIST_MAX_JSON_BLOB)
		return false;
	ssize_t n = read(fd, head, sizeof(head));
	for (ssize_t i = 0; i < n; i++) {
		if (head[i] == ' ' || head[i] == '\n' || head[i] == '\r' || head[i] == '\t')
			continue;
		return head[i] == '{';
	}
	return false;
}

static void mark_digest(struct hoist_store *s, struct hexset *set, const char *digest, int depth);

static void mark_descriptor(struct hoist_store *s, struct hexset *set, json_t *desc, int depth)
{
	const char *d = json_string_value(json_object_get(desc, "digest"));
	if (d && hoist_digest_valid(d))
		mark_digest(s, set, d, depth);
}

static void mark_descriptors(struct hoist_store *s, struct hexset *set, json_t *arr, int depth)
{
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v) mark_descriptor(s, set, v, depth);
}

/* Walk an OCI/Docker manifest, index or image config for what it references. */
static void mark_document(struct hoist_store *s, struct hexset *set, json_t *doc, int depth)
{
	size_t i;
	json_t *v;

	mark_descriptors(s, set, json_object_get(doc, "manifests"), depth);
	mark_descriptor(s, set, json_object_get(doc, "config"), depth);
	mark_descriptors(s, set, json_object_get(doc, "layers"), depth);
	mark_descriptors(s, set, json_object_get(doc, "blobs"), depth);
	mark_descriptor(s, set, json_object_get(doc, "subject"), depth);
	/* An image config's diffIDs name its layers' snapshots. */
	json_t *rootfs = json_object_get(doc, "rootfs");
	json_array_foreach(json_object_get(rootfs, "diff_ids"), i, v)
	{
		const char *d = json_string_value(v);
		if (d && hoist_digest_valid(d))
			hexset_add(set, d + 7);
	}
}

static void mark_digest(struct hoist_store *s, struct hexset *set, const char *digest, int depth)
{
	if (!hexset_add(set, digest + 7) || depth >= WALK_DEPTH_MAX)
		return;
	if (!blob_looks_like_json(s, digest))
		return;
	json_t *doc = NULL;
	if (store_blob_json(s, digest, &doc, NULL) < 0)
		return;
	/*
	 * Only objects shaped like documents matter; a JSON blob that is
	 * something else simply references nothing.
	 */
	if (json_is_object(doc))
		mark_document(s, set, doc, depth + 1);
	json_decref(doc);
}

/* Cache records may reference blobs anywhere: every digest string counts. */
static void mark_json_strings(struct hoist_store *s, struct hexset *set, json_t *j)
{
	const char *k;
	size_t i;
	json_t *v;

	if (json_is_string(j)) {
		const char *d = json_string_value(j);
		if (hoist_digest_valid(d))
			mark_digest(s, set, d, 0);
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, v) mark_json_strings(s, set, v);
	} else if (json_is_object(j)) {
		json_object_foreach(j, k, v) mark_json_strings(s, set, v);
	}
}

static int mark_all(struct hoist_store *s, struct hexset *set, struct hoist_error *err)
{
	json_auto_t *tags = NULL;
	struct hoist_cache_entry *entries = NULL;
	size_t n = 0;
	const char *k;
	json_t *v;
	int r;

	r = store_tags_read(s, &tags, err);
	if (r < 0)
		return r;
	json_object_foreach(tags, k, v)
	{
		const char *d = json_string_value(v);
		if (d && hoist_digest_valid(d))
			mark_digest(s, set, d, 0);
	}
	r = hoist_store_cache_list(s, &entries, &n, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		json_t *j = json_loads(entries[i].json, 0, NULL);
		mark_json_strings(s, set, j);
		json_decref(j);
	}
	hoist_store_cache_entries_free(entries, n);
	return 0;
}

/* ---- sweeping ---------------------------------------------------------- */

static int for_each_entry(int dirfd_, const char *sub, struct hoist_strv *ret)
{
	int fd = openat(dirfd_, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		int r = -errno;
		close(fd);
		return r;
	}
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			hoist_strv_push(ret, de->d_name);
	closedir(d);
	return 0;
}

static int drop_cache_records(struct hoist_store *s, uint64_t *removed)
{
	_cleanup_strv_ struct hoist_strv subs = HOIST_STRV_INIT;
	int r = for_each_entry(s->dirfd, "cache", &subs);
	if (r < 0)
		return r;
	for (size_t i = 0; i < subs.n; i++) {
		_cleanup_strv_ struct hoist_strv recs = HOIST_STRV_INIT;
		_cleanup_free_ char *sub = hoist_xasprintf("cache/%s", subs.v[i]);
		if (for_each_entry(s->dirfd, sub, &recs) < 0)
			continue;
		for (size_t j = 0; j < recs.n; j++) {
			_cleanup_free_ char *p = hoist_xasprintf("%s/%s", sub, recs.v[j]);
			if (unlinkat(s->dirfd, p, 0) == 0 && name_is_hex64(recs.v[j]))
				(*removed)++;
		}
		(void)unlinkat(s->dirfd, sub, AT_REMOVEDIR);
	}
	return 0;
}

static bool older_than(int dirfd_, const char *name, time_t cutoff)
{
	struct stat st;
	return fstatat(dirfd_, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_mtime < cutoff;
}

/* The first 64 characters of name as a hex digest, if they are one. */
static bool hex_prefix(const char *name, char out[HOIST_SHA256_HEX + 1])
{
	if (strlen(name) < HOIST_SHA256_HEX || !is_hex64(name))
		return false;
	memcpy(out, name, HOIST_SHA256_HEX);
	out[HOIST_SHA256_HEX] = '\0';
	return true;
}

static int sweep_blobs(struct hoist_store *s, const struct hexset *set, time_t keep_from,
		       struct hoist_gc_stats *st, struct hoist_error *err)
{
	_cleanup_strv_ struct hoist_strv blobs = HOIST_STRV_INIT;
	int r = for_each_entry(s->dirfd, "blobs/sha256", &blobs);
	if (r < 0)
		return hoist_error_set(err, r, "cannot read '%s/blobs/sha256': %s", s->root,
				       strerror(-r));
	for (size_t i = 0; i < blobs.n; i++) {
		struct stat sb;
		if (!name_is_hex64(blobs.v[i]) || hexset_has(set, blobs.v[i]))
			continue;
		if (fstatat(s->blobsfd, blobs.v[i], &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(sb.st_mode))
			continue;
		/* Written while a command that holds a lease runs: its own until it
		 * tags it or exits (a writer outside the store lock, or one that
		 * took its lease before the lock). */
		if (keep_from >= 0 && sb.st_mtime >= keep_from)
			continue;
		if (unlinkat(s->blobsfd, blobs.v[i], 0) == 0) {
			st->blobs_removed++;
			st->bytes_removed += (uint64_t)sb.st_size;
		}
	}
	(void)fsync(s->blobsfd);
	return 0;
}

/*
 * Snapshots are named by diffID (possibly with a suffix for their
 * metadata); names that are not are the layer code's temp entries and only
 * go once they are stale.
 */
static void sweep_snapshots(struct hoist_store *s, const struct hexset *set, time_t cutoff,
			    struct hoist_gc_stats *st)
{
	_cleanup_strv_ struct hoist_strv snaps = HOIST_STRV_INIT;
	int sfd = hoist_store_area_fd(s, HOIST_STORE_SNAPSHOTS, NULL);
	if (sfd < 0 || for_each_entry(sfd, ".", &snaps) < 0)
		return;
	for (size_t i = 0; i < snaps.n; i++) {
		const char *n = snaps.v[i];
		char h[HOIST_SHA256_HEX + 1];
		bool hex = hex_prefix(n, h);
		if (hex ? hexset_has(set, h) : !older_than(sfd, n, cutoff))
			continue;
		if (store_rm_rf_at(sfd, n) == 0 && hex && strlen(n) == HOIST_SHA256_HEX)
			st->snapshots_removed++;
	}
}

/*
 * ROOT/rootfs/<mode>/<diffid-hex> trees (and their "<hex>.seal") go with the
 * last image or record whose config lists the diffID, like snapshots.
 */
static void sweep_rootfs(struct hoist_store *s, const struct hexset *set, time_t cutoff,
			 struct hoist_gc_stats *st)
{
	_cleanup_strv_ struct hoist_strv modes = HOIST_STRV_INIT;
	int rfd = hoist_store_area_fd(s, HOIST_STORE_ROOTFS, NULL);
	if (rfd < 0 || for_each_entry(rfd, ".", &modes) < 0)
		return;
	for (size_t m = 0; m < modes.n; m++) {
		_cleanup_strv_ struct hoist_strv trees = HOIST_STRV_INIT;
		_cleanup_close_ int mfd =
		    openat(rfd, modes.v[m], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (mfd < 0 || for_each_entry(mfd, ".", &trees) < 0)
			continue;
		for (size_t i = 0; i < trees.n; i++) {
			const char *n = trees.v[i];
			char h[HOIST_SHA256_HEX + 1];
			bool hex = hex_prefix(n, h);
			if (hex ? hexset_has(set, h) : !older_than(mfd, n, cutoff))
				continue;
			if (store_rm_rf_at(mfd, n) == 0 && hex && strlen(n) == HOIST_SHA256_HEX)
				st->rootfs_removed++;
		}
	}
}

/* With --all, the areas that only make builds faster go too. */
static void drop_area(struct hoist_store *s, enum hoist_store_area area)
{
	_cleanup_strv_ struct hoist_strv names = HOIST_STRV_INIT;
	int fd = hoist_store_area_fd(s, area, NULL);
	if (fd < 0 || for_each_entry(fd, ".", &names) < 0)
		return;
	for (size_t i = 0; i < names.n; i++)
		(void)store_rm_rf_at(fd, names.v[i]);
}

/*
 * ROOT/tmp: leases of processes that have exited go with their
 * directories (hoist_store_reap); live ones stay whatever their age.
 * Other names are temp files of hoist versions before leases.
 */
static void sweep_tmp(struct hoist_store *s, time_t cutoff)
{
	_cleanup_strv_ struct hoist_strv tmps = HOIST_STRV_INIT;
	(void)hoist_store_reap(s, NULL, NULL, NULL);
	if (for_each_entry(s->dirfd, "tmp", &tmps) < 0)
		return;
	for (size_t i = 0; i < tmps.n; i++)
		if (!store_is_lease_name(tmps.v[i], NULL) &&
		    older_than(s->tmpfd, tmps.v[i], cutoff))
			(void)store_rm_rf_at(s->tmpfd, tmps.v[i]);
}

int hoist_store_gc(struct hoist_store *s, bool all, struct hoist_gc_stats *ret,
		   struct hoist_error *err)
{
	struct hoist_gc_stats st = {0};
	struct hexset set = {0};
	time_t cutoff = time(NULL) - STORE_STALE_TMP_SECONDS;
	int r;

	r = store_lock_push(s, true, err);
	if (r < 0)
		return r;
	if (all) {
		r = drop_cache_records(s, &st.cache_removed);
		if (r < 0) {
			hoist_error_set(err, r, "cannot remove cache records: %s", strerror(-r));
			goto out;
		}
		drop_area(s, HOIST_STORE_STATCACHE);
		drop_area(s, HOIST_STORE_CACHEMOUNTS);
	}
	r = mark_all(s, &set, err);
	if (r < 0)
		goto out;
	int64_t oldest = store_oldest_live_lease(s, NULL);
	r = sweep_blobs(s, &set, oldest >= 0 ? (time_t)oldest - 1 : -1, &st, err);
	if (r < 0)
		goto out;
	sweep_snapshots(s, &set, cutoff, &st);
	sweep_rootfs(s, &set, cutoff, &st);
	sweep_tmp(s, cutoff);
	r = 0;
out:
	store_lock_pop(s);
	hexset_release(&set);
	if (r >= 0 && ret)
		*ret = st;
	return r;
}

/* ---- verification ------------------------------------------------------ */

static int rehash(int dirfd_, const char *name, char out[HOIST_DIGEST_MAX])
{
	_cleanup_close_ int fd = openat(dirfd_, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct hoist_sha256 h;
	char buf[65536];

	if (fd < 0)
		return -errno;
	hoist_sha256_init(&h);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int r = -errno;
			hoist_sha256_release(&h);
			return r;
		}
		if (n == 0)
			break;
		hoist_sha256_update(&h, buf, (size_t)n);
	}
	hoist_sha256_final(&h, out);
	return 0;
}

struct verify {
	struct hoist_store *s;
	struct hoist_buf *report;
	size_t problems;
};

static __attribute__((format(printf, 2, 3))) void problem(struct verify *v, const char *fmt, ...)
{
	va_list ap;
	char line[1024];
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (v->report)
		hoist_buf_addf(v->report, "%s\n", line);
	v->problems++;
}

static void verify_blobs(struct verify *v)
{
	_cleanup_strv_ struct hoist_strv names = HOIST_STRV_INIT;
	int r = for_each_entry(v->s->dirfd, "blobs/sha256", &names);
	if (r < 0) {
		problem(v, "cannot read 'blobs/sha256': %s", strerror(-r));
		return;
	}
	for (size_t i = 0; i < names.n; i++) {
		const char *n = names.v[i];
		char actual[HOIST_DIGEST_MAX];
		struct stat st;
		if (!name_is_hex64(n)) {
			problem(v, "unexpected file 'blobs/sha256/%s': not a digest", n);
			continue;
		}
		if (fstatat(v->s->blobsfd, n, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode)) {
			problem(v, "blob 'sha256:%s' is not a regular file", n);
			continue;
		}
		r = rehash(v->s->blobsfd, n, actual);
		if (r < 0)
			problem(v, "cannot read blob 'sha256:%s': %s", n, strerror(-r));
		else if (strcmp(actual + 7, n) != 0)
			problem(v, "blob 'sha256:%s' is corrupt: its content hashes to '%s'", n,
				actual);
	}
}

static void need_blob(struct verify *v, const char *what, const char *digest)
{
	if (!hoist_digest_valid(digest))
		problem(v, "%s: invalid digest '%s'", what, digest);
	else if (!hoist_store_blob_exists(v->s, digest))
		problem(v, "%s: blob '%s' is missing", what, digest);
}

/* A tagged manifest must have its config and layers; an index may be partial. */
static void verify_image(struct verify *v, const char *name, const char *digest, int depth)
{
	json_t *doc = NULL;
	struct hoist_error e = {0};
	size_t i;
	json_t *d;

	if (depth >= WALK_DEPTH_MAX || !hoist_store_blob_exists(v->s, digest))
		return;
	if (store_blob_json(v->s, digest, &doc, &e) < 0) {
		/* corrupt blobs are reported by verify_blobs already */
		if (e.code != -EBADMSG || !strstr(e.msg, "corrupt"))
			problem(v, "tag '%s': %s", name, e.msg);
		return;
	}
	json_array_foreach(json_object_get(doc, "manifests"), i, d)
	{
		const char *m = json_string_value(json_object_get(d, "digest"));
		if (m && hoist_store_blob_exists(v->s, m))
			verify_image(v, name, m, depth + 1);
	}
	json_t *config = json_object_get(doc, "config");
	if (config) {
		const char *c = json_string_value(json_object_get(config, "digest"));
		_cleanup_free_ char *what = hoist_xasprintf("tag '%s' config", name);
		need_blob(v, what, c ? c : "");
	}
	json_array_foreach(json_object_get(doc, "layers"), i, d)
	{
		const char *l = json_string_value(json_object_get(d, "digest"));
		_cleanup_free_ char *what = hoist_xasprintf("tag '%s' layer %zu", name, i);
		need_blob(v, what, l ? l : "");
	}
	json_decref(doc);
}

static void verify_tags(struct verify *v)
{
	json_auto_t *tags = NULL;
	struct hoist_error e = {0};
	const char *k;
	json_t *val;

	if (store_tags_read(v->s, &tags, &e) < 0) {
		problem(v, "%s", e.msg);
		return;
	}
	json_object_foreach(tags, k, val)
	{
		const char *d = json_string_value(val);
		_cleanup_free_ char *what = hoist_xasprintf("tag '%s'", k);
		if (!d) {
			problem(v, "%s: value is not a digest string", what);
			continue;
		}
		need_blob(v, what, d);
		verify_image(v, k, d, 0);
	}
}

/*
 * In a cache record, digest strings name blobs that must be in the store,
 * except under keys that name something else by digest: diffIDs (snapshot
 * names), cache keys and parents (keys of other records), i.e. keys
 * containing "diff", "key" or "parent" (any case).
 */
static bool names_non_blob(const char *k)
{
	return strcasestr(k, "diff") || strcasestr(k, "key") || strcasestr(k, "parent");
}

static void verify_record_refs(struct verify *v, const char *key, const char *member, json_t *j)
{
	const char *k;
	size_t i;
	json_t *val;

	if (json_is_string(j)) {
		if (hoist_digest_valid(json_string_value(j)) && !names_non_blob(member)) {
			_cleanup_free_ char *what = hoist_xasprintf("cache record '%s'", key);
			need_blob(v, what, json_string_value(j));
		}
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, val) verify_record_refs(v, key, member, val);
	} else if (json_is_object(j)) {
		json_object_foreach(j, k, val) verify_record_refs(v, key, k, val);
	}
}

static void verify_cache(struct verify *v)
{
	_cleanup_strv_ struct hoist_strv subs = HOIST_STRV_INIT;
	if (for_each_entry(v->s->dirfd, "cache", &subs) < 0) {
		problem(v, "cannot read 'cache'");
		return;
	}
	for (size_t i = 0; i < subs.n; i++) {
		_cleanup_strv_ struct hoist_strv recs = HOIST_STRV_INIT;
		_cleanup_free_ char *sub = hoist_xasprintf("cache/%s", subs.v[i]);
		if (strlen(subs.v[i]) != 2 || for_each_entry(v->s->dirfd, sub, &recs) < 0) {
			problem(v, "unexpected entry '%s'", sub);
			continue;
		}
		for (size_t j = 0; j < recs.n; j++) {
			_cleanup_free_ char *p = hoist_xasprintf("%s/%s", sub, recs.v[j]);
			_cleanup_free_ char *data = NULL;
			size_t len;
			if (!name_is_hex64(recs.v[j]) || strncmp(recs.v[j], subs.v[i], 2) != 0) {
				problem(v, "unexpected file '%s'", p);
				continue;
			}
			if (hoist_read_file_at(v->s->dirfd, p, HOIST_MAX_JSON_BLOB, &data, &len,
					       NULL) < 0) {
				problem(v, "cache record 'sha256:%s' is unreadable", recs.v[j]);
				continue;
			}
			json_t *jj = json_loadb(data, len, 0, NULL);
			if (!jj) {
				problem(v, "cache record 'sha256:%s' is not valid json", recs.v[j]);
				continue;
			}
			_cleanup_free_ char *key = hoist_xasprintf("sha256:%s", recs.v[j]);
			verify_record_refs(v, key, "", jj);
			json_decref(jj);
		}
	}
}

static __attribute__((format(printf, 2, 3))) void leftover(struct verify *v, const char *fmt, ...)
{
	va_list ap;
	char line[1024];
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (v->report)
		hoist_buf_addf(v->report, "leftover: %s\n", line);
}

/*
 * A lease held by a live process is in use, not a problem. One whose
 * process has exited is a leftover (the next command removes it; this one
 * already tried when it opened the store): not damage either, but worth a
 * line. Other names come from hoist before leases.
 */
static void verify_tmp(struct verify *v)
{
	_cleanup_strv_ struct hoist_strv names = HOIST_STRV_INIT;
	if (for_each_entry(v->s->dirfd, "tmp", &names) < 0)
		return;
	for (size_t i = 0; i < names.n; i++) {
		const char *n = names.v[i];
		bool file;
		if (store_is_lease_name(n, &file)) {
			_cleanup_free_ char *id =
			    file ? hoist_xstrndup(n, strlen(n) - strlen(".lease"))
				 : hoist_xstrdup(n);
			if (!store_lease_alive(v->s, id))
				leftover(v,
					 "'tmp/%s' of a process that has exited (not removable "
					 "by this user?)",
					 n);
			continue;
		}
		leftover(v,
			 "temporary file 'tmp/%s' of an older hoist (prune removes it after "
			 "an hour)",
			 n);
	}
}

int hoist_store_verify(struct hoist_store *s, struct hoist_buf *report, struct hoist_error *err)
{
	struct verify v = {s, report, 0};
	int r;

	/* Shared: tags and records cannot change under us, gc cannot run. */
	r = store_lock_push(s, false, err);
	if (r < 0)
		return r;
	verify_blobs(&v);
	verify_tags(&v);
	verify_cache(&v);
	verify_tmp(&v);
	store_lock_pop(s);
	if (v.problems)
		return hoist_error_set(err, -EBADMSG, "store '%s' has %zu problem%s", s->root,
				       v.problems, v.problems == 1 ? "" : "s");
	return 0;
}

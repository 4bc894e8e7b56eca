/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the content-addressed store: blobs, tags, cache records, gc, verify. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "hoist/store.h"
#include "hoist/util.h"
#include "../tap.h"
#include "../tmpstore.h"

static char *make_root(void)
{
	char tmpl[] = "/tmp/hoist-test-store-XXXXXX";
	const char *base = getenv("TMPDIR");
	char *dir;
	if (base && *base) {
		dir = hoist_xasprintf("%s/hoist-test-store-XXXXXX", base);
	} else {
		dir = hoist_xstrdup(tmpl);
	}
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		exit(1);
	}
	return dir;
}

static int count_entries(const char *root, const char *sub)
{
	char *p = hoist_xasprintf("%s/%s", root, sub);
	DIR *d = opendir(p);
	int n = 0;
	struct dirent *de;
	free(p);
	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static struct hoist_store *open_store(const char *root)
{
	struct hoist_store *s = NULL;
	struct hoist_error err = {0};
	if (hoist_store_open(root, &s, &err) < 0) {
		printf("Bail out! cannot open store: %s\n", err.msg);
		exit(1);
	}
	return s;
}

static void test_default_root(void)
{
	char *r = hoist_store_default_root("/x/y");
	tap_ok(strcmp(r, "/x/y") == 0, "default_root: explicit root wins");
	free(r);
	setenv("HOIST_ROOT", "/from/env", 1);
	r = hoist_store_default_root(NULL);
	tap_ok(strcmp(r, "/from/env") == 0, "default_root: HOIST_ROOT");
	free(r);
	unsetenv("HOIST_ROOT");
	r = hoist_store_default_root(NULL);
	if (geteuid() == 0) {
		tap_ok(strcmp(r, "/var/lib/hoist") == 0, "default_root: /var/lib/hoist as root");
	} else {
		setenv("XDG_DATA_HOME", "/xdg", 1);
		free(r);
		r = hoist_store_default_root(NULL);
		tap_ok(strcmp(r, "/xdg/hoist") == 0, "default_root: XDG_DATA_HOME");
	}
	free(r);
}

static void test_blobs(const char *root)
{
	struct hoist_store *s = open_store(root);
	struct hoist_error err = {0};
	char d[HOIST_DIGEST_MAX], want[HOIST_DIGEST_MAX];
	char *data = NULL;
	size_t len = 0;
	int r;

	hoist_sha256_digest("hello", 5, want);
	tap_ok(!hoist_store_blob_exists(s, want), "blob absent before put");
	r = hoist_store_blob_put(s, "hello", 5, d, &err);
	tap_ok(r == 0 && strcmp(d, want) == 0, "blob_put returns the sha256 digest");
	tap_ok(hoist_store_blob_exists(s, want), "blob exists after put");
	tap_ok(hoist_store_blob_size(s, want) == 5, "blob_size");
	r = hoist_store_blob_put(s, "hello", 5, d, &err);
	tap_ok(r == 0, "blob_put is idempotent");
	r = hoist_store_blob_read(s, want, 100, &data, &len, &err);
	tap_ok(r == 0 && len == 5 && memcmp(data, "hello", 5) == 0, "blob_read gives the bytes");
	free(data);
	data = NULL;
	r = hoist_store_blob_read(s, want, 4, &data, &len, &err);
	tap_ok(r == -EFBIG, "blob_read bounded by max (%d)", r);
	char *path = hoist_store_blob_path(s, want);
	char *expect = hoist_xasprintf("%s/blobs/sha256/%s", hoist_store_root(s), want + 7);
	tap_ok(path && strcmp(path, expect) == 0, "blob_path");
	free(path);
	free(expect);
	tap_ok(hoist_store_blob_path(s, "sha256:nothex") == NULL, "blob_path rejects junk");
	int fd = hoist_store_blob_open(s, want, &err);
	char buf[8] = {0};
	tap_ok(fd >= 0 && read(fd, buf, sizeof(buf)) == 5 && memcmp(buf, "hello", 5) == 0,
	       "blob_open reads");
	if (fd >= 0) {
		int fl = fcntl(fd, F_GETFD);
		tap_ok(fl >= 0 && (fl & FD_CLOEXEC), "blob_open sets O_CLOEXEC");
		close(fd);
	}
	hoist_sha256_digest("nope", 4, d);
	tap_ok(hoist_store_blob_open(s, d, &err) == -ENOENT, "blob_open of a missing blob");
	tap_ok(hoist_store_blob_size(s, d) == -ENOENT, "blob_size of a missing blob");

	/* streaming writer */
	struct hoist_blob_writer *w = NULL;
	r = hoist_store_blob_begin(s, &w, &err);
	tap_ok(r == 0, "writer begin");
	for (int i = 0; i < 1000; i++)
		hoist_blob_writer_write(w, "0123456789", 10, &err);
	tap_ok(hoist_blob_writer_size(w) == 10000, "writer size");
	{
		char *big = hoist_xmalloc(10000);
		for (int i = 0; i < 1000; i++)
			memcpy(big + i * 10, "0123456789", 10);
		hoist_sha256_digest(big, 10000, want);
		free(big);
	}
	r = hoist_blob_writer_commit(w, want, d, &err);
	tap_ok(r == 0 && strcmp(d, want) == 0 && hoist_store_blob_size(s, want) == 10000,
	       "writer commit with the expected digest");

	r = hoist_store_blob_begin(s, &w, &err);
	hoist_blob_writer_write(w, "aborted", 7, &err);
	hoist_blob_writer_abort(w);
	hoist_sha256_digest("aborted", 7, d);
	tap_ok(!hoist_store_blob_exists(s, d) && tmpstore_count_tmp(root) == 0,
	       "writer abort leaves nothing");

	/* digest mismatch: nothing enters the store, no temp file left */
	int before = count_entries(root, "blobs/sha256");
	r = hoist_store_blob_begin(s, &w, &err);
	hoist_blob_writer_write(w, "evil", 4, &err);
	hoist_sha256_digest("good", 4, want);
	hoist_error_clear(&err);
	r = hoist_blob_writer_commit(w, want, d, &err);
	tap_ok(r == -EBADMSG && strstr(err.msg, "digest mismatch"), "mismatch is -EBADMSG: %s",
	       err.msg);
	hoist_sha256_digest("evil", 4, d);
	tap_ok(!hoist_store_blob_exists(s, d) && !hoist_store_blob_exists(s, want),
	       "mismatch leaves no blob");
	tap_ok(count_entries(root, "blobs/sha256") == before, "mismatch adds no file to blobs");
	tap_ok(tmpstore_count_tmp(root) == 0, "mismatch leaves no temp file");

	/* a corrupt blob is caught on read */
	r = hoist_store_blob_put(s, "{\"a\":1}", 7, d, &err);
	path = hoist_store_blob_path(s, d);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	(void)!write(fd, "{", 1);
	(void)!pwrite(fd, "X", 1, 3);
	close(fd);
	free(path);
	data = NULL;
	r = hoist_store_blob_read(s, d, 100, &data, &len, &err);
	tap_ok(r == -EBADMSG, "blob_read verifies the digest");
	free(data);
	/* re-putting the content repairs it */
	r = hoist_store_blob_put(s, "{\"a\":1}", 7, d, &err);
	data = NULL;
	r = hoist_store_blob_read(s, d, 100, &data, &len, &err);
	tap_ok(r == 0, "re-putting a corrupt blob repairs it");
	free(data);
	hoist_store_free(s);
}

static void test_tags(const char *root)
{
	struct hoist_store *s = open_store(root);
	struct hoist_error err = {0};
	char d1[HOIST_DIGEST_MAX], d2[HOIST_DIGEST_MAX], got[HOIST_DIGEST_MAX];
	struct hoist_tag *tags = NULL;
	size_t n = 0;
	int r;

	hoist_store_blob_put(s, "m1", 2, d1, &err);
	hoist_store_blob_put(s, "m2", 2, d2, &err);
	r = hoist_store_tag_set(s, "busybox", d1, &err);
	tap_ok(r == 0, "tag_set busybox");
	r = hoist_store_tag_get(s, "docker.io/library/busybox:latest", got, &err);
	tap_ok(r == 0 && strcmp(got, d1) == 0, "tag_get by normalized name");
	r = hoist_store_tag_get(s, "busybox:latest", got, &err);
	tap_ok(r == 0 && strcmp(got, d1) == 0, "tag_get by familiar name");
	r = hoist_store_tag_set(s, "localhost:5000/a/b:t", d2, &err);
	r = hoist_store_tag_set(s, "busybox", d2, &err);
	r = hoist_store_tag_get(s, "busybox", got, &err);
	tap_ok(r == 0 && strcmp(got, d2) == 0, "tag_set replaces");
	r = hoist_store_tag_get(s, "nothere", got, &err);
	tap_ok(r == -ENOENT, "tag_get of an unknown name is -ENOENT");
	r = hoist_store_tag_set(s, "Bad/Name", d1, &err);
	tap_ok(r == -EINVAL, "tag_set rejects a bad name");
	char missing[HOIST_DIGEST_MAX];
	hoist_sha256_digest("never stored", 12, missing);
	r = hoist_store_tag_set(s, "dangling", missing, &err);
	tap_ok(r == -ENOENT, "tag_set refuses a digest that is not in the store");
	r = hoist_store_tag_list(s, &tags, &n, &err);
	tap_ok(r == 0 && n == 2 && strcmp(tags[0].name, "docker.io/library/busybox:latest") == 0 &&
		   strcmp(tags[1].name, "localhost:5000/a/b:t") == 0 &&
		   strcmp(tags[1].digest, d2) == 0,
	       "tag_list sorted");
	hoist_store_tags_free(tags, n);
	r = hoist_store_tag_remove(s, "busybox", &err);
	tap_ok(r == 0, "tag_remove");
	r = hoist_store_tag_remove(s, "busybox", &err);
	tap_ok(r == -ENOENT, "tag_remove twice is -ENOENT");
	r = hoist_store_tag_list(s, &tags, &n, &err);
	tap_ok(r == 0 && n == 1, "one tag left");
	hoist_store_tags_free(tags, n);

	/* resolve */
	r = hoist_store_resolve(s, "localhost:5000/a/b:t", got, &err);
	tap_ok(r == 0 && strcmp(got, d2) == 0, "resolve by name");
	char prefix[20];
	snprintf(prefix, sizeof(prefix), "%.12s", d2 + 7);
	r = hoist_store_resolve(s, prefix, got, &err);
	tap_ok(r == 0 && strcmp(got, d2) == 0, "resolve by a digest prefix");
	r = hoist_store_resolve(s, d2, got, &err);
	tap_ok(r == 0 && strcmp(got, d2) == 0, "resolve by a full digest");
	r = hoist_store_resolve(s, "sha256:ffffffffffff", got, &err);
	tap_ok(r == -ENOENT, "resolve of an unknown prefix is -ENOENT");
	tap_ok(tmpstore_count_tmp(root) == 0, "tag updates leave no temp file");
	hoist_store_free(s);
}

static void test_cache(const char *root)
{
	struct hoist_store *s = open_store(root);
	struct hoist_error err = {0};
	char k1[HOIST_DIGEST_MAX], k2[HOIST_DIGEST_MAX];
	char *json = NULL;
	struct hoist_cache_entry *e = NULL;
	size_t n = 0;
	int r;

	hoist_sha256_digest("key1", 4, k1);
	hoist_sha256_digest("key2", 4, k2);
	r = hoist_store_cache_get(s, k1, &json, &err);
	tap_ok(r == -ENOENT, "cache_get of a missing record");
	r = hoist_store_cache_put(s, k1, "{\"x\":1}", &err);
	tap_ok(r == 0, "cache_put");
	r = hoist_store_cache_get(s, k1, &json, &err);
	tap_ok(r == 0 && strcmp(json, "{\"x\":1}") == 0, "cache_get");
	free(json);
	r = hoist_store_cache_put(s, k1, "{\"x\":2}", &err);
	r = hoist_store_cache_get(s, k1, &json, &err);
	tap_ok(r == 0 && strcmp(json, "{\"x\":2}") == 0, "cache_put replaces");
	free(json);
	r = hoist_store_cache_put(s, k2, "not json", &err);
	tap_ok(r == -EINVAL, "cache_put rejects non-json");
	r = hoist_store_cache_put(s, "sha256:xyz", "{}", &err);
	tap_ok(r == -EINVAL, "cache_put rejects a bad key");
	r = hoist_store_cache_put(s, k2, "[1]", &err);
	char *p = hoist_xasprintf("%s/cache/%.2s/%s", root, k2 + 7, k2 + 7);
	tap_ok(access(p, F_OK) == 0, "record at cache/<2>/<64>");
	free(p);
	r = hoist_store_cache_list(s, &e, &n, &err);
	bool sorted = n == 2 && strcmp(e[0].key, e[1].key) < 0;
	tap_ok(r == 0 && sorted && e[0].mtime > 0, "cache_list has both records, sorted");
	hoist_store_cache_entries_free(e, n);
	tap_ok(tmpstore_count_tmp(root) == 0, "cache writes leave no temp file");
	hoist_store_free(s);
}

/* Put a JSON document and return its digest. */
static void put_json(struct hoist_store *s, json_t *j, char d[HOIST_DIGEST_MAX])
{
	char *t = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	struct hoist_error err = {0};
	if (hoist_store_blob_put(s, t, strlen(t), d, &err) < 0) {
		printf("Bail out! %s\n", err.msg);
		exit(1);
	}
	free(t);
	json_decref(j);
}

static json_t *desc(const char *mt, const char *digest)
{
	return json_pack("{s:s,s:s,s:i}", "mediaType", mt, "digest", digest, "size", 1);
}

/* A fake image: n layers + config + manifest. Returns the manifest digest. */
static void fake_image(struct hoist_store *s, const char *tag, char man[HOIST_DIGEST_MAX],
		       char layers[][HOIST_DIGEST_MAX], int n, char config[HOIST_DIGEST_MAX])
{
	struct hoist_error err = {0};
	static int serial;
	json_t *jl = json_array(), *diff = json_array();
	serial++;
	for (int i = 0; i < n; i++) {
		char content[64], dd[HOIST_DIGEST_MAX];
		snprintf(content, sizeof(content), "\x1f\x8blayer %d %d", serial, i);
		hoist_store_blob_put(s, content, strlen(content), layers[i], &err);
		json_array_append_new(
		    jl, desc("application/vnd.oci.image.layer.v1.tar+gzip", layers[i]));
		hoist_sha256_digest(content + 2, strlen(content + 2), dd);
		json_array_append_new(diff, json_string(dd));
	}
	put_json(s,
		 json_pack("{s:s,s:s,s:{s:s,s:o}}", "architecture", "amd64", "os", "linux",
			   "rootfs", "type", "layers", "diff_ids", diff),
		 config);
	put_json(s,
		 json_pack("{s:i,s:s,s:o,s:o}", "schemaVersion", 2, "mediaType",
			   "application/vnd.oci.image.manifest.v1+json", "config",
			   desc("application/vnd.oci.image.config.v1+json", config), "layers", jl),
		 man);
	if (tag)
		hoist_store_tag_set(s, tag, man, &err);
}

static void test_gc(const char *root)
{
	struct hoist_store *s = open_store(root);
	struct hoist_error err = {0};
	char m1[HOIST_DIGEST_MAX], c1[HOIST_DIGEST_MAX], l1[2][HOIST_DIGEST_MAX];
	char m2[HOIST_DIGEST_MAX], c2[HOIST_DIGEST_MAX], l2[2][HOIST_DIGEST_MAX];
	char m3[HOIST_DIGEST_MAX], c3[HOIST_DIGEST_MAX], l3[1][HOIST_DIGEST_MAX];
	char m4[HOIST_DIGEST_MAX], c4[HOIST_DIGEST_MAX], l4[1][HOIST_DIGEST_MAX];
	char idx[HOIST_DIGEST_MAX], loose[HOIST_DIGEST_MAX], key[HOIST_DIGEST_MAX];
	struct hoist_gc_stats st;
	int r;

	fake_image(s, "gc/kept:1", m1, l1, 2, c1);
	fake_image(s, NULL, m2, l2, 2, c2); /* reachable only from an index */
	fake_image(s, NULL, m3, l3, 1, c3); /* reachable only from a cache record */
	fake_image(s, NULL, m4, l4, 1, c4); /* unreachable */
	json_t *ms = json_array();
	json_array_append_new(ms, desc("application/vnd.oci.image.manifest.v1+json", m2));
	put_json(s,
		 json_pack("{s:i,s:s,s:o}", "schemaVersion", 2, "mediaType",
			   "application/vnd.oci.image.index.v1+json", "manifests", ms),
		 idx);
	hoist_store_tag_set(s, "gc/index", idx, &err);
	hoist_store_blob_put(s, "loose", 5, loose, &err);
	hoist_sha256_digest("a cache key", 11, key);
	char *rec = hoist_xasprintf("{\"result\":{\"manifest\":\"%s\"},\"odd\":[\"x\",\"%s\"]}", m3,
				    "sha256:not-a-digest");
	hoist_store_cache_put(s, key, rec, &err);
	free(rec);

	/* snapshots: one for a kept diffID, one orphan, a fresh and a stale temp */
	json_t *cfg = NULL;
	{
		char *data = NULL;
		size_t len;
		hoist_store_blob_read(s, c1, HOIST_MAX_JSON_BLOB, &data, &len, &err);
		cfg = json_loads(data, 0, NULL);
		free(data);
	}
	const char *kept_diff = json_string_value(
	    json_array_get(json_object_get(json_object_get(cfg, "rootfs"), "diff_ids"), 0));
	char *snap_kept = hoist_xasprintf("%s/snapshots/%s", root, kept_diff + 7);
	char orphan_hex[HOIST_DIGEST_MAX];
	hoist_sha256_digest("orphan", 6, orphan_hex);
	char *snap_orphan = hoist_xasprintf("%s/snapshots/%s", root, orphan_hex + 7);
	mkdir(snap_kept, 0755);
	mkdir(snap_orphan, 0755);
	/* unwritable content, as unpacked images have */
	char *sub = hoist_xasprintf("%s/ro", snap_orphan);
	mkdir(sub, 0755);
	char *f = hoist_xasprintf("%s/ro/file", snap_orphan);
	close(open(f, O_CREAT | O_WRONLY | O_CLOEXEC, 0400));
	chmod(sub, 0500);
	free(f);
	free(sub);
	/* unpacked trees for RUN: one of a kept diffID (with its seal), one orphan */
	char *rootfs_kept = hoist_xasprintf("%s/rootfs/root/%s", root, kept_diff + 7);
	char *seal_kept = hoist_xasprintf("%s/rootfs/root/%s.seal", root, kept_diff + 7);
	char *rootfs_orphan = hoist_xasprintf("%s/rootfs/root/%s", root, orphan_hex + 7);
	char *seal_orphan = hoist_xasprintf("%s/rootfs/root/%s.seal", root, orphan_hex + 7);
	char *rootfs_legacy = hoist_xasprintf("%s/rootfs/root/tmp-0123456789abcdef-1", root);
	char *rootfs_area = hoist_store_area_path(s, HOIST_STORE_ROOTFS, NULL);
	mkdir(rootfs_area, 0700);
	free(rootfs_area);
	char *rootfs_mode = hoist_store_area_path(s, HOIST_STORE_ROOTFS, "root");
	mkdir(rootfs_mode, 0700);
	free(rootfs_mode);
	mkdir(rootfs_kept, 0755);
	mkdir(rootfs_orphan, 0755);
	mkdir(rootfs_legacy, 0755);
	close(open(seal_kept, O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
	close(open(seal_orphan, O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
	struct timespec older[2] = {{time(NULL) - 7200, 0}, {time(NULL) - 7200, 0}};
	utimensat(AT_FDCWD, rootfs_legacy, older, 0);
	char *stale = hoist_xasprintf("%s/tmp/blob-stale", root);
	close(open(stale, O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
	struct timespec old[2] = {{time(NULL) - 7200, 0}, {time(NULL) - 7200, 0}};
	utimensat(AT_FDCWD, stale, old, 0);
	char *fresh = hoist_xasprintf("%s/tmp/blob-fresh", root);
	close(open(fresh, O_CREAT | O_WRONLY | O_CLOEXEC, 0644));

	r = hoist_store_gc(s, false, &st, &err);
	tap_ok(r == 0, "gc runs: %s", r ? err.msg : "");
	bool kept = true;
	const char *must[] = {m1, c1, l1[0], l1[1], idx, m2, c2, l2[0], l2[1], m3, c3, l3[0]};
	for (size_t i = 0; i < ARRAY_SIZE(must); i++)
		kept = kept && hoist_store_blob_exists(s, must[i]);
	tap_ok(kept, "gc keeps everything reachable from tags, indexes and cache records");
	tap_ok(!hoist_store_blob_exists(s, m4) && !hoist_store_blob_exists(s, c4) &&
		   !hoist_store_blob_exists(s, l4[0]) && !hoist_store_blob_exists(s, loose),
	       "gc removes unreachable blobs");
	tap_ok(st.blobs_removed >= 4, "gc counts removed blobs (%llu)",
	       (unsigned long long)st.blobs_removed);
	tap_ok(access(snap_kept, F_OK) == 0, "gc keeps a snapshot of a tagged image's diffID");
	tap_ok(access(snap_orphan, F_OK) != 0 && st.snapshots_removed == 1,
	       "gc removes an orphan snapshot with read-only contents");
	tap_ok(access(rootfs_kept, F_OK) == 0 && access(seal_kept, F_OK) == 0,
	       "gc keeps the unpacked tree of a tagged image's diffID");
	tap_ok(access(rootfs_orphan, F_OK) != 0 && access(seal_orphan, F_OK) != 0 &&
		   st.rootfs_removed == 1,
	       "gc removes an unpacked tree no image needs, with its seal (%llu)",
	       (unsigned long long)st.rootfs_removed);
	tap_ok(access(rootfs_legacy, F_OK) != 0, "gc removes an old unpack temp of older hoist");
	free(rootfs_kept);
	free(seal_kept);
	free(rootfs_orphan);
	free(seal_orphan);
	free(rootfs_legacy);
	tap_ok(access(stale, F_OK) != 0, "gc removes a stale temp file");
	tap_ok(access(fresh, F_OK) == 0, "gc keeps a fresh temp file");
	unlink(fresh);

	/* all=true drops the cache record, then m3's image goes */
	r = hoist_store_gc(s, true, &st, &err);
	tap_ok(r == 0 && st.cache_removed == 1, "gc --all drops cache records");
	tap_ok(!hoist_store_blob_exists(s, m3) && !hoist_store_blob_exists(s, l3[0]) &&
		   hoist_store_blob_exists(s, m1),
	       "gc --all removes what only the cache kept");

	/* removing the tags frees everything */
	hoist_store_tag_remove(s, "gc/kept:1", &err);
	hoist_store_tag_remove(s, "gc/index", &err);
	r = hoist_store_gc(s, false, &st, &err);
	tap_ok(r == 0 && !hoist_store_blob_exists(s, m1) && !hoist_store_blob_exists(s, l2[0]) &&
		   access(snap_kept, F_OK) != 0,
	       "after rmi, gc frees the images");
	json_decref(cfg);
	free(snap_kept);
	free(snap_orphan);
	free(stale);
	free(fresh);
	hoist_store_free(s);
}

static void test_verify(const char *root)
{
	struct hoist_store *s = open_store(root);
	struct hoist_error err = {0};
	struct hoist_buf rep = HOIST_BUF_INIT;
	char m[HOIST_DIGEST_MAX], c[HOIST_DIGEST_MAX], l[2][HOIST_DIGEST_MAX];
	int r;

	fake_image(s, "verify/me", m, l, 2, c);
	r = hoist_store_verify(s, &rep, &err);
	tap_ok(r == 0 && rep.len == 0, "verify: sound store (%s)", rep.data ? rep.data : "");

	/* flip a byte in a layer */
	char *p = hoist_store_blob_path(s, l[1]);
	int fd = open(p, O_RDWR | O_CLOEXEC);
	char b;
	(void)!pread(fd, &b, 1, 4);
	b ^= 0x01;
	(void)!pwrite(fd, &b, 1, 4);
	close(fd);
	free(p);
	hoist_buf_reset(&rep);
	r = hoist_store_verify(s, &rep, &err);
	tap_ok(r == -EBADMSG && rep.data && strstr(rep.data, l[1] + 7) &&
		   strstr(rep.data, "corrupt"),
	       "verify detects a corrupted blob");
	hoist_buf_reset(&rep);

	/* tag pointing at a missing blob: remove the manifest behind the store's back */
	p = hoist_store_blob_path(s, l[1]);
	unlink(p);
	free(p);
	hoist_buf_reset(&rep);
	r = hoist_store_verify(s, &rep, &err);
	tap_ok(r == -EBADMSG && rep.data && strstr(rep.data, "missing") && strstr(rep.data, l[1]),
	       "verify detects a missing layer");
	p = hoist_store_blob_path(s, m);
	unlink(p);
	free(p);
	hoist_buf_reset(&rep);
	r = hoist_store_verify(s, &rep, &err);
	tap_ok(r == -EBADMSG && rep.data && strstr(rep.data, "docker.io/verify/me:latest") &&
		   strstr(rep.data, "missing"),
	       "verify detects a tag pointing at a missing blob");
	/* cache record with a missing digest */
	hoist_store_tag_remove(s, "verify/me", &err);
	char key[HOIST_DIGEST_MAX];
	hoist_sha256_digest("k", 1, key);
	/* a diffID and a parent key are not blobs: only "config" is a problem */
	char *rec = hoist_xasprintf("{\"config\":\"%s\",\"diff_id\":\"%s\",\"parentKey\":\"%s\"}",
				    m, l[1], key);
	hoist_store_cache_put(s, key, rec, &err);
	free(rec);
	hoist_buf_reset(&rep);
	r = hoist_store_verify(s, &rep, &err);
	tap_ok(r == -EBADMSG && rep.data && strstr(rep.data, "cache record") &&
		   strstr(rep.data, m) && !strstr(rep.data, l[1]) &&
		   strchr(rep.data, '\n') == rep.data + rep.len - 1,
	       "verify detects a cache record pointing at a missing blob");
	hoist_buf_release(&rep);
	hoist_store_free(s);
}

#define N_PROCS 8
#define N_TAGS 50

static void test_concurrency(const char *root)
{
	struct hoist_store *s = open_store(root);
	struct hoist_error err = {0};
	char d[HOIST_DIGEST_MAX];
	pid_t pids[N_PROCS];

	hoist_store_blob_put(s, "target", 6, d, &err);
	hoist_store_free(s);
	for (int p = 0; p < N_PROCS; p++) {
		pids[p] = fork();
		if (pids[p] == 0) {
			/* each process opens its own handle: flock is per open file */
			struct hoist_store *cs = open_store(root);
			int bad = 0;
			for (int i = 0; i < N_TAGS; i++) {
				char name[64];
				snprintf(name, sizeof(name), "conc/p%d:t%d", p, i);
				if (hoist_store_tag_set(cs, name, d, NULL) < 0)
					bad++;
				/* half of them hold a shared lock (as a build does) */
				if (p % 2 && i == N_TAGS / 2) {
					hoist_store_lock(cs, false, NULL);
					for (int j = 0; j < 3; j++) {
						snprintf(name, sizeof(name), "conc/p%d:s%d", p, j);
						if (hoist_store_tag_set(cs, name, d, NULL) < 0)
							bad++;
					}
					hoist_store_unlock(cs);
				}
			}
			hoist_store_free(cs);
			_exit(bad ? 1 : 0);
		}
	}
	bool all_ok = true;
	for (int p = 0; p < N_PROCS; p++) {
		int status = 0;
		waitpid(pids[p], &status, 0);
		all_ok = all_ok && WIFEXITED(status) && WEXITSTATUS(status) == 0;
	}
	tap_ok(all_ok, "8 concurrent processes set their tags without errors");
	s = open_store(root);
	struct hoist_tag *tags = NULL;
	size_t n = 0;
	hoist_store_tag_list(s, &tags, &n, &err);
	size_t conc = 0;
	for (size_t i = 0; i < n; i++)
		if (hoist_startswith(tags[i].name, "docker.io/conc/"))
			conc++;
	size_t want = N_PROCS * N_TAGS + (N_PROCS / 2) * 3;
	tap_ok(conc == want, "all %zu concurrent tags are present (%zu)", want, conc);
	hoist_store_tags_free(tags, n);
	hoist_store_free(s);
}

static void test_lock_nesting(const char *root)
{
	struct hoist_store *s = open_store(root);
	struct hoist_error err = {0};
	char d[HOIST_DIGEST_MAX];
	tap_ok(hoist_store_lock(s, true, &err) == 0, "explicit exclusive lock");
	hoist_store_blob_put(s, "nest", 4, d, &err);
	tap_ok(hoist_store_tag_set(s, "nested", d, &err) == 0, "tag_set under an explicit lock");
	tap_ok(hoist_store_tag_get(s, "nested", d, &err) == 0, "tag_get under an explicit lock");
	hoist_store_unlock(s);
	/* another handle (another process) can take the lock now */
	pid_t pid = fork();
	if (pid == 0) {
		struct hoist_store *o = open_store(root);
		int r = hoist_store_gc(o, false, NULL, NULL);
		hoist_store_free(o);
		_exit(r == 0 ? 0 : 1);
	}
	int status = 0;
	waitpid(pid, &status, 0);
	tap_ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "lock released after unlock");
	hoist_store_free(s);
}

static void test_areas(const char *root)
{
	struct hoist_store *s = open_store(root);
	struct hoist_error err = {0};

	char *p = hoist_store_area_path(s, HOIST_STORE_ROOTFS, "subuid");
	char *want = hoist_xasprintf("%s/rootfs/subuid", hoist_store_root(s));
	tap_ok(strcmp(p, want) == 0, "area path of rootfs/subuid: %s", p);
	free(p);
	free(want);
	p = hoist_store_area_path(s, HOIST_STORE_BLOBS, NULL);
	tap_ok(hoist_endswith(p, "/blobs/sha256"), "area path of the blobs: %s", p);
	free(p);
	tap_ok(strcmp(hoist_store_area_name(HOIST_STORE_TAGS), "tags.json") == 0,
	       "the tags area is tags.json");
	tap_ok(hoist_store_area_fd(s, HOIST_STORE_TAGS, &err) == -ENOTDIR,
	       "tags.json has no directory fd");
	int fd = hoist_store_area_fd(s, HOIST_STORE_CACHEMOUNTS, &err);
	struct stat st;
	p = hoist_store_area_path(s, HOIST_STORE_CACHEMOUNTS, NULL);
	tap_ok(fd >= 0 && stat(p, &st) == 0 && S_ISDIR(st.st_mode),
	       "an area's directory is made on first use");
	tap_ok(hoist_store_area_fd(s, HOIST_STORE_CACHEMOUNTS, &err) == fd,
	       "and its fd is kept by the store");
	free(p);
	hoist_store_free(s);
}

/* A child that takes a lease and a temp dir, then dies as a kill -9 would. */
static pid_t lease_child(const char *root, int ready_fd, bool wait_for_kill)
{
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	struct hoist_store *c = open_store(root);
	char *dir = NULL;
	if (hoist_store_tmpdir(c, "build-", &dir, NULL) < 0)
		_exit(1);
	char *f = hoist_xasprintf("%s/half-written", dir);
	close(open(f, O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
	(void)!write(ready_fd, "x", 1);
	if (wait_for_kill)
		pause();
	_exit(0); /* no hoist_store_free: the lease is left as a killed process leaves it */
}

static void *put_in_thread(void *arg)
{
	char d[HOIST_DIGEST_MAX];
	char data[32];
	int n = snprintf(data, sizeof(data), "thread %p", arg);
	return (void *)(intptr_t)hoist_store_blob_put(arg, data, (size_t)n, d, NULL);
}

/* A pull's worker threads write blobs through one handle at once: one lease. */
static void test_lease_threads(const char *root)
{
	struct hoist_store *s = open_store(root);
	pthread_t t[8];
	bool ok = true;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++)
		pthread_create(&t[i], NULL, put_in_thread, s);
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		void *r;
		pthread_join(t[i], &r);
		ok = ok && (intptr_t)r == 0;
	}
	char *tmp = hoist_store_area_path(s, HOIST_STORE_TMP, NULL);
	tap_ok(ok && tmpstore_count_dir(tmp) == 2,
	       "threads writing through one handle share one lease (%d entries in tmp)",
	       tmpstore_count_dir(tmp));
	free(tmp);
	hoist_store_free(s);
}

static void test_leases(const char *root)
{
	struct hoist_store *s = open_store(root);
	struct hoist_error err = {0};
	struct hoist_reap_stats rs = {0};
	struct hoist_buf rep = HOIST_BUF_INIT;
	char d[HOIST_DIGEST_MAX];
	int pfd[2];
	char x;

	tap_ok(pipe2(pfd, O_CLOEXEC) == 0, "pipe");
	pid_t pid = lease_child(root, pfd[1], false);
	(void)!read(pfd[0], &x, 1);
	waitpid(pid, NULL, 0);
	tap_ok(tmpstore_count_tmp(root) == 1, "a dead process's lease holds its temp file");
	int r = hoist_store_reap(s, NULL, NULL, &rs);
	tap_ok(r == 0 && rs.leases == 1,
	       "reap removes the lease of a process that has exited (%d, %llu)", r,
	       (unsigned long long)rs.leases);
	char *tmp = hoist_store_area_path(s, HOIST_STORE_TMP, NULL);
	tap_ok(tmpstore_count_dir(tmp) == 0, "and nothing is left in tmp");
	free(tmp);

	pid = lease_child(root, pfd[1], true);
	(void)!read(pfd[0], &x, 1);
	sleep(1); /* the blob below is newer than the child's lease */
	hoist_store_blob_put(s, "young and unreferenced", 22, d, &err);
	tap_ok(hoist_store_reap(s, NULL, NULL, &rs) == 0 && rs.leases == 0 &&
		   tmpstore_count_tmp(root) >= 1,
	       "reap leaves a live process's lease and its temp files alone");
	tap_ok(hoist_store_verify(s, &rep, &err) == 0 &&
		   !(rep.data && strstr(rep.data, "leftover")),
	       "verify: a live lease is neither a problem nor a leftover (%s)",
	       rep.data ? rep.data : "");
	hoist_buf_release(&rep);
	struct hoist_gc_stats st;
	hoist_store_gc(s, false, &st, &err);
	tap_ok(hoist_store_blob_exists(s, d), "gc keeps a blob younger than a live lease");
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	hoist_store_free(s);
	s = open_store(root); /* opening the store reaps */
	tap_ok(tmpstore_count_tmp(root) == 0, "the next command removes the killed one's files");
	hoist_store_gc(s, false, &st, &err);
	tap_ok(!hoist_store_blob_exists(s, d), "gc removes the blob once the lease is gone");
	close(pfd[0]);
	close(pfd[1]);
	hoist_store_free(s);
}

int main(void)
{
	tap_plan_auto();
	char *root = make_root();
	char *sub;

	test_default_root();
	test_blobs(root);
	test_tags(root);
	test_cache(root);
	sub = hoist_xasprintf("%s/gc", root);
	test_gc(sub);
	free(sub);
	sub = hoist_xasprintf("%s/verify", root);
	test_verify(sub);
	free(sub);
	sub = hoist_xasprintf("%s/conc", root);
	test_concurrency(sub);
	free(sub);
	sub = hoist_xasprintf("%s/areas", root);
	test_areas(sub);
	free(sub);
	sub = hoist_xasprintf("%s/leases", root);
	test_leases(sub);
	free(sub);
	sub = hoist_xasprintf("%s/lease-threads", root);
	test_lease_threads(sub);
	free(sub);
	sub = hoist_xasprintf("%s/locking", root);
	test_lock_nesting(sub);
	free(sub);
	tmpstore_rm_rf(root);
	free(root);
	return tap_done();
}

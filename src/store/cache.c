/* SPDX-License-Identifier: Apache-2.0 */
/* Build cache records: ROOT/cache/<2 hex>/<64 hex>, each a small JSON value. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store-private.h"

char *store_cache_path(const char *key)
{
	if (!hoist_digest_valid(key))
		return NULL;
	const char *hex = key + 7;
	return hoist_xasprintf("cache/%.2s/%s", hex, hex);
}

int hoist_store_cache_get(struct hoist_store *s, const char *key, char **ret_json,
			  struct hoist_error *err)
{
	_cleanup_free_ char *path = store_cache_path(key);
	_cleanup_free_ char *data = NULL;
	size_t len;
	int r;

	if (!path)
		return hoist_error_set(err, -EINVAL, "invalid cache key '%s'", key);
	r = hoist_read_file_at(s->dirfd, path, HOIST_MAX_JSON_BLOB, &data, &len, err);
	if (r == -ENOENT)
		return hoist_error_set(err, -ENOENT, "no cache record for '%s'", key);
	if (r < 0)
		return r;
	if (strlen(data) != len)
		return hoist_error_set(err, -EBADMSG, "cache record '%s' is corrupt", key);
	*ret_json = TAKE_PTR(data);
	return 0;
}

int hoist_store_cache_put(struct hoist_store *s, const char *key, const char *json,
			  struct hoist_error *err)
{
	_cleanup_free_ char *path = store_cache_path(key);
	_cleanup_close_ int dfd = -1;
	json_error_t jerr;
	char sub[3];
	int r;

	if (!path)
		return hoist_error_set(err, -EINVAL, "invalid cache key '%s'", key);
	size_t len = strlen(json);
	if (len > HOIST_MAX_JSON_BLOB)
		return hoist_error_set(err, -EFBIG,
				       "cache record for '%s' is larger than %zu bytes", key,
				       HOIST_MAX_JSON_BLOB);
	json_t *j = json_loadb(json, len, 0, &jerr);
	if (!j)
		return hoist_error_set(err, -EINVAL, "cache record for '%s' is not json: %s", key,
				       jerr.text);
	json_decref(j);

	memcpy(sub, key + 7, 2);
	sub[2] = '\0';
	/* Shared: gc (exclusive) must not sweep while a record lands. */
	r = store_lock_push(s, false, err);
	if (r < 0)
		return r;
	int cfd = openat(s->dirfd, "cache", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cfd >= 0) {
		if (mkdirat(cfd, sub, 0755) < 0 && errno != EEXIST)
			r = -errno;
		if (r == 0) {
			dfd = openat(cfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
			if (dfd < 0)
				r = -errno;
		}
		close(cfd);
	} else {
		r = -errno;
	}
	if (r < 0) {
		store_lock_pop(s);
		return hoist_error_set(err, r, "cannot create '%s/cache/%s': %s", s->root, sub,
				       strerror(-r));
	}
	r = store_write_atomic(s, dfd, key + 7, json, len, err);
	store_lock_pop(s);
	return r;
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct hoist_cache_entry *)a)->key,
		      ((const struct hoist_cache_entry *)b)->key);
}

static bool hex_name(const char *s, size_t len)
{
	if (strlen(s) != len)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

int hoist_store_cache_list(struct hoist_store *s, struct hoist_cache_entry **ret, size_t *ret_n,
			   struct hoist_error *err)
{
	_cleanup_close_ int cfd = -1;
	struct hoist_cache_entry *list = NULL;
	size_t n = 0, alloc = 0;
	DIR *d;
	struct dirent *de;

	cfd = openat(s->dirfd, "cache", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cfd < 0)
		return hoist_error_set(err, -errno, "cannot open '%s/cache': %s", s->root,
				       strerror(errno));
	d = fdopendir(TAKE_FD(cfd));
	if (!d)
		return hoist_error_set(err, -errno, "cannot read '%s/cache': %s", s->root,
				       strerror(errno));
	while ((de = readdir(d))) {
		if (!hex_name(de->d_name, 2))
			continue;
		int sfd =
		    openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (sfd < 0)
			continue;
		DIR *sd = fdopendir(sfd);
		if (!sd) {
			close(sfd);
			continue;
		}
		struct dirent *e;
		while ((e = readdir(sd))) {
			struct stat st;
			char *data = NULL;
			size_t len;
			if (!hex_name(e->d_name, HOIST_SHA256_HEX) ||
			    strncmp(e->d_name, de->d_name, 2) != 0)
				continue;
			if (fstatat(dirfd(sd), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
			    !S_ISREG(st.st_mode))
				continue;
			/* A record that vanished (gc) or is unreadable is simply not listed. */
			if (hoist_read_file_at(dirfd(sd), e->d_name, HOIST_MAX_JSON_BLOB, &data,
					       &len, NULL) < 0)
				continue;
			if (n == alloc) {
				alloc = alloc ? alloc * 2 : 16;
				list = hoist_xrealloc(list, alloc * sizeof(*list));
			}
			memcpy(list[n].key, "sha256:", 7);
			memcpy(list[n].key + 7, e->d_name, HOIST_SHA256_HEX + 1);
			list[n].json = data;
			list[n].mtime = (int64_t)st.st_mtime;
			n++;
		}
		closedir(sd);
	}
	closedir(d);
	if (n)
		qsort(list, n, sizeof(*list), cmp_entry);
	*ret = list ? list : hoist_xcalloc(1, sizeof(*list));
	*ret_n = n;
	return 0;
}

void hoist_store_cache_entries_free(struct hoist_cache_entry *e, size_t n)
{
	if (!e)
		return;
	for (size_t i = 0; i < n; i++)
		free(e[i].json);
	free(e);
}

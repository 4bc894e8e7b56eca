/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Where a tagged image came from: ROOT/origins/<sha256-hex of the tag name>,
 * one small JSON record per tag ({"name", "digest", "source", "mirror",
 * "time"}), written like every store file (temp, fsync, rename, fsync the
 * directory). A record belongs to the tag only while the tag still names
 * the digest it records: a later build or `tag` that moves the name makes
 * it stale, and readers ignore it. Kept beside tags.json rather than in it
 * so that the tag index keeps its one-string-per-name format.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "hoist/ref.h"
#include "store-private.h"

#define MAX_ORIGIN_FILE ((size_t)16 << 10)

static char *origin_file(const char *name, struct hoist_error *err)
{
	struct hoist_ref ref;
	char d[HOIST_DIGEST_MAX];
	if (hoist_ref_parse(name, &ref, err) < 0)
		return NULL;
	_cleanup_free_ char *norm = hoist_ref_string(&ref);
	hoist_ref_release(&ref);
	hoist_sha256_digest(norm, strlen(norm), d);
	return hoist_xstrdup(d + 7);
}

int hoist_store_origin_set(struct hoist_store *s, const char *name, const char *digest,
			   const char *source, bool mirror, struct hoist_error *err)
{
	_cleanup_free_ char *file = origin_file(name, err);
	_cleanup_close_ int dfd = -1;

	if (!file)
		return err ? err->code : -EINVAL;
	if (!hoist_digest_valid(digest))
		return hoist_error_set(err, -EINVAL, "invalid digest '%s'", digest);
	if (mkdirat(s->dirfd, "origins", 0755) < 0 && errno != EEXIST)
		return hoist_error_set(err, -errno, "cannot create '%s/origins': %s", s->root,
				       strerror(errno));
	dfd = openat(s->dirfd, "origins", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (dfd < 0)
		return hoist_error_set(err, -errno, "cannot open '%s/origins': %s", s->root,
				       strerror(errno));
	json_auto_t *j =
	    json_pack("{s:s, s:s, s:s, s:b, s:I}", "name", name, "digest", digest, "source", source,
		      "mirror", mirror, "time", (json_int_t)time(NULL));
	_cleanup_free_ char *text = j ? json_dumps(j, JSON_SORT_KEYS) : NULL;
	if (!text)
		return hoist_error_set(err, -ENOMEM, "cannot serialize the origin of '%s'", name);
	return store_write_atomic(s, dfd, file, text, strlen(text), err);
}

int hoist_store_origin_get(struct hoist_store *s, const char *name, const char *digest,
			   struct hoist_origin *ret)
{
	_cleanup_free_ char *file = origin_file(name, NULL);
	_cleanup_free_ char *path = NULL;
	_cleanup_free_ char *data = NULL;
	size_t len;

	memset(ret, 0, sizeof(*ret));
	if (!file)
		return -EINVAL;
	path = hoist_xasprintf("origins/%s", file);
	if (hoist_read_file_at(s->dirfd, path, MAX_ORIGIN_FILE, &data, &len, NULL) < 0)
		return -ENOENT;
	json_auto_t *j = json_loadb(data, len, 0, NULL);
	const char *dg = json_string_value(json_object_get(j, "digest"));
	const char *src = json_string_value(json_object_get(j, "source"));
	if (!dg || !src || strcmp(dg, digest) != 0)
		return -ENOENT; /* unknown, or the tag has moved since */
	snprintf(ret->source, sizeof(ret->source), "%s", src);
	ret->mirror = json_is_true(json_object_get(j, "mirror"));
	ret->time = json_integer_value(json_object_get(j, "time"));
	return 0;
}

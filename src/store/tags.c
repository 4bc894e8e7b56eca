/* SPDX-License-Identifier: Apache-2.0 */
/* The tag index ROOT/tags.json: normalized reference -> manifest/index digest. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "hoist/ref.h"
#include "store-private.h"

/* Tags are stored under the normalized form, whatever spelling the caller used. */
static int normalize(const char *name, char **ret, struct hoist_error *err)
{
	struct hoist_ref ref;
	int r = hoist_ref_parse(name, &ref, err);
	if (r < 0)
		return r;
	*ret = hoist_ref_string(&ref);
	hoist_ref_release(&ref);
	return 0;
}

int store_tags_read(struct hoist_store *s, json_t **ret, struct hoist_error *err)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	json_error_t jerr;
	int r;

	r = hoist_read_file_at(s->dirfd, "tags.json", STORE_MAX_TAGS_FILE, &data, &len, err);
	if (r == -ENOENT) {
		hoist_error_clear(err);
		*ret = json_object();
		return 0;
	}
	if (r < 0)
		return r;
	json_t *j = json_loadb(data, len, 0, &jerr);
	if (!j || !json_is_object(j)) {
		json_decref(j);
		return hoist_error_set(err, -EBADMSG, "'%s/tags.json' is corrupt: %s", s->root,
				       j ? "not an object" : jerr.text);
	}
	*ret = j;
	return 0;
}

static int tags_write(struct hoist_store *s, json_t *tags, struct hoist_error *err)
{
	_cleanup_free_ char *text = json_dumps(tags, JSON_SORT_KEYS | JSON_INDENT(2));
	if (!text)
		return hoist_error_set(err, -ENOMEM, "cannot serialize the tag index");
	size_t len = strlen(text);
	/* json_dumps gives no trailing newline; add one for people who cat it. */
	_cleanup_free_ char *line = hoist_xasprintf("%s\n", text);
	return store_write_atomic(s, s->dirfd, "tags.json", line, len + 1, err);
}

/*
 * Writers of tags.json must exclude each other. A handle that holds no lock
 * takes ROOT/lock exclusively. One that already holds it shared (a build
 * pins the store against gc that way) must not upgrade, because flock's
 * upgrade drops the shared lock first and gc could slip in; it serializes
 * with other shared holders on ROOT/tags.lock instead. Exclusive holders of
 * ROOT/lock conflict with every shared holder, so both paths exclude each
 * other.
 */
static int tags_write_lock(struct hoist_store *s, bool *ret_tags_lock, struct hoist_error *err)
{
	int r;

	*ret_tags_lock = false;
	if (s->lock_held != LOCK_SH)
		return store_lock_push(s, true, err);
	r = store_lock_push(s, false, err);
	if (r < 0)
		return r;
	if (s->tags_lock_fd < 0) {
		s->tags_lock_fd =
		    openat(s->dirfd, "tags.lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
		if (s->tags_lock_fd < 0) {
			r = -errno;
			store_lock_pop(s);
			return hoist_error_set(err, r, "cannot open '%s/tags.lock': %s", s->root,
					       strerror(-r));
		}
	}
	while (flock(s->tags_lock_fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			r = -errno;
			store_lock_pop(s);
			return hoist_error_set(err, r, "cannot lock '%s/tags.lock': %s", s->root,
					       strerror(-r));
		}
	}
	*ret_tags_lock = true;
	return 0;
}

static void tags_write_unlock(struct hoist_store *s, bool tags_lock)
{
	if (tags_lock)
		(void)flock(s->tags_lock_fd, LOCK_UN);
	store_lock_pop(s);
}

int hoist_store_tag_set(struct hoist_store *s, const char *name, const char *digest,
			struct hoist_error *err)
{
	_cleanup_free_ char *norm = NULL;
	json_auto_t *tags = NULL;
	bool tl;
	int r;

	r = normalize(name, &norm, err);
	if (r < 0)
		return r;
	if (!hoist_digest_valid(digest))
		return hoist_error_set(err, -EINVAL, "invalid digest '%s'", digest);
	r = tags_write_lock(s, &tl, err);
	if (r < 0)
		return r;
	/* Checked under the lock, so gc cannot remove the blob before the tag lands. */
	if (!hoist_store_blob_exists(s, digest)) {
		r = hoist_error_set(err, -ENOENT, "cannot tag '%s': blob '%s' is not in the store",
				    norm, digest);
		goto out;
	}
	r = store_tags_read(s, &tags, err);
	if (r < 0)
		goto out;
	json_t *cur = json_object_get(tags, norm);
	if (json_is_string(cur) && strcmp(json_string_value(cur), digest) == 0)
		goto out;
	json_object_set_new(tags, norm, json_string(digest));
	r = tags_write(s, tags, err);
out:
	tags_write_unlock(s, tl);
	return r;
}

int hoist_store_tag_get(struct hoist_store *s, const char *name, char ret_digest[HOIST_DIGEST_MAX],
			struct hoist_error *err)
{
	_cleanup_free_ char *norm = NULL;
	json_auto_t *tags = NULL;
	int r;

	r = normalize(name, &norm, err);
	if (r < 0)
		return r;
	r = store_lock_push(s, false, err);
	if (r < 0)
		return r;
	r = store_tags_read(s, &tags, err);
	store_lock_pop(s);
	if (r < 0)
		return r;
	json_t *v = json_object_get(tags, norm);
	if (!v)
		return hoist_error_set(err, -ENOENT, "no such image '%s'", name);
	if (!json_is_string(v) || !hoist_digest_valid(json_string_value(v)))
		return hoist_error_set(err, -EBADMSG, "tag '%s' in '%s/tags.json' is corrupt", norm,
				       s->root);
	memcpy(ret_digest, json_string_value(v), strlen(json_string_value(v)) + 1);
	return 0;
}

int hoist_store_tag_remove(struct hoist_store *s, const char *name, struct hoist_error *err)
{
	_cleanup_free_ char *norm = NULL;
	json_auto_t *tags = NULL;
	bool tl;
	int r;

	r = normalize(name, &norm, err);
	if (r < 0)
		return r;
	r = tags_write_lock(s, &tl, err);
	if (r < 0)
		return r;
	r = store_tags_read(s, &tags, err);
	if (r < 0)
		goto out;
	if (!json_object_get(tags, norm)) {
		r = hoist_error_set(err, -ENOENT, "no such image '%s'", name);
		goto out;
	}
	json_object_del(tags, norm);
	r = tags_write(s, tags, err);
out:
	tags_write_unlock(s, tl);
	return r;
}

static int cmp_tag(const void *a, const void *b)
{
	return strcmp(((const struct hoist_tag *)a)->name, ((const struct hoist_tag *)b)->name);
}

int hoist_store_tag_list(struct hoist_store *s, struct hoist_tag **ret, size_t *ret_n,
			 struct hoist_error *err)
{
	json_auto_t *tags = NULL;
	const char *k;
	json_t *v;
	int r;

	r = store_lock_push(s, false, err);
	if (r < 0)
		return r;
	r = store_tags_read(s, &tags, err);
	store_lock_pop(s);
	if (r < 0)
		return r;
	size_t n = 0, cap = json_object_size(tags);
	struct hoist_tag *list = hoist_xcalloc(cap ? cap : 1, sizeof(*list));
	json_object_foreach(tags, k, v)
	{
		/* Skip entries a hand edit broke; `hoist cache verify` reports them. */
		if (!json_is_string(v) || !hoist_digest_valid(json_string_value(v)))
			continue;
		list[n].name = hoist_xstrdup(k);
		memcpy(list[n].digest, json_string_value(v), strlen(json_string_value(v)) + 1);
		n++;
	}
	qsort(list, n, sizeof(*list), cmp_tag);
	*ret = list;
	*ret_n = n;
	return 0;
}

void hoist_store_tags_free(struct hoist_tag *tags, size_t n)
{
	if (!tags)
		return;
	for (size_t i = 0; i < n; i++)
		free(tags[i].name);
	free(tags);
}

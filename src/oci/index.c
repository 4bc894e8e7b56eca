/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Image indexes: join single-platform images into one multi-platform
 * document (an OCI image index or a Docker manifest list). The serialiser
 * works on descriptors only, so the registry client can build an index from
 * remote manifests without pulling their layers; hoist_index_create() feeds
 * it from the store.
 */
#include <errno.h>
#include <string.h>

#include "oci-private.h"

static int copy_str(char *dst, size_t size, const char *v, const char *what,
		    struct hoist_error *err)
{
	if (strlen(v) >= size)
		return hoist_error_set(err, -EBADMSG, "%s '%.64s' is too long", what, v);
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

int hoist_index_config_platform(const json_t *config, struct hoist_platform *ret,
				char ret_os_version[64], struct hoist_error *err)
{
	const char *os = json_string_value(json_object_get(config, "os"));
	const char *arch = json_string_value(json_object_get(config, "architecture"));
	const char *var = json_string_value(json_object_get(config, "variant"));
	const char *osv = json_string_value(json_object_get(config, "os.version"));
	struct hoist_platform p = {0};
	char v[64] = "";
	int r;

	if (!os || !*os || !arch || !*arch)
		return hoist_error_set(err, -EBADMSG,
				       "image config names no platform (os and architecture)");
	r = copy_str(p.os, sizeof(p.os), os, "os", err);
	if (r >= 0)
		r = copy_str(p.architecture, sizeof(p.architecture), arch, "architecture", err);
	if (r >= 0 && var)
		r = copy_str(p.variant, sizeof(p.variant), var, "variant", err);
	if (r >= 0 && osv)
		r = copy_str(v, sizeof(v), osv, "os.version", err);
	if (r < 0)
		return r;
	oci_platform_normalize(&p);
	*ret = p;
	if (ret_os_version)
		memcpy(ret_os_version, v, sizeof(v));
	return 0;
}

static bool is_index_type(const char *mt)
{
	return !strcmp(mt, HOIST_MT_OCI_INDEX) || !strcmp(mt, HOIST_MT_DOCKER_LIST);
}

static json_t *platform_json(const struct hoist_index_entry *e)
{
	json_t *p = json_object();
	json_object_set_new(p, "architecture", json_string(e->platform.architecture));
	json_object_set_new(p, "os", json_string(e->platform.os));
	if (e->platform.variant[0])
		json_object_set_new(p, "variant", json_string(e->platform.variant));
	if (e->os_version[0])
		json_object_set_new(p, "os.version", json_string(e->os_version));
	return p;
}

static int add_annotations(json_t *doc, const char *const *annotations, struct hoist_error *err)
{
	json_t *a = json_object();
	for (size_t i = 0; annotations && annotations[i]; i++) {
		const char *eq = strchr(annotations[i], '=');
		if (!eq || eq == annotations[i]) {
			json_decref(a);
			return hoist_error_set(err, -EINVAL, "annotation '%s' is not KEY=VALUE",
					       annotations[i]);
		}
		_cleanup_free_ char *k =
		    hoist_xstrndup(annotations[i], (size_t)(eq - annotations[i]));
		/* Later values win, as repeated --annotation flags do elsewhere. */
		json_object_set_new(a, k, json_string(eq + 1));
	}
	if (json_object_size(a) > 0)
		json_object_set_new(doc, "annotations", a);
	else
		json_decref(a);
	return 0;
}

int hoist_index_build(const struct hoist_index_entry *entries, size_t n,
		      enum hoist_index_format fmt, const char *const *annotations, char **ret_json,
		      size_t *ret_len, struct hoist_error *err)
{
	const char *mt = fmt == HOIST_INDEX_DOCKER ? HOIST_MT_DOCKER_LIST : HOIST_MT_OCI_INDEX;
	json_auto_t *doc = json_object();
	json_t *list = json_array();
	int r;

	json_object_set_new(doc, "schemaVersion", json_integer(2));
	json_object_set_new(doc, "mediaType", json_string(mt));
	json_object_set_new(doc, "manifests", list);
	if (n == 0)
		return hoist_error_set(err, -EINVAL, "an index needs at least one image");
	if (n > HOIST_INDEX_MAX_ENTRIES)
		return hoist_error_set(err, -E2BIG, "an index may have at most %d entries",
				       HOIST_INDEX_MAX_ENTRIES);
	if (fmt == HOIST_INDEX_DOCKER && annotations && annotations[0])
		return hoist_error_set(err, -EINVAL,
				       "a Docker manifest list cannot carry annotations "
				       "(use the OCI format)");
	for (size_t i = 0; i < n; i++) {
		const struct hoist_index_entry *e = &entries[i];
		const char *emt =
		    e->desc.media_type[0] ? e->desc.media_type : HOIST_MT_OCI_MANIFEST;
		char pf[128];
		bool dup = false;

		hoist_platform_format(&e->platform, pf, sizeof(pf));
		if (!hoist_digest_valid(e->desc.digest) || e->desc.size < 0)
			return hoist_error_set(err, -EINVAL, "entry for '%s' has no valid digest",
					       pf);
		if (is_index_type(emt))
			return hoist_error_set(err, -EINVAL,
					       "'%s' is an index: an index entry must be an image "
					       "manifest",
					       e->desc.digest);
		if (!e->platform.os[0] || !e->platform.architecture[0])
			return hoist_error_set(err, -EINVAL, "image '%s' has no platform",
					       e->desc.digest);
		for (size_t j = 0; j < i; j++) {
			const struct hoist_index_entry *o = &entries[j];
			if (!hoist_platform_equal(&o->platform, &e->platform) ||
			    strcmp(o->os_version, e->os_version) != 0)
				continue;
			if (strcmp(o->desc.digest, e->desc.digest) != 0)
				return hoist_error_set(err, -EINVAL,
						       "platform '%s' given twice ('%s' and '%s')",
						       pf, o->desc.digest, e->desc.digest);
			dup = true;
			break;
		}
		if (dup)
			continue;
		json_t *d = json_object();
		json_object_set_new(d, "mediaType", json_string(emt));
		json_object_set_new(d, "digest", json_string(e->desc.digest));
		json_object_set_new(d, "size", json_integer(e->desc.size));
		json_object_set_new(d, "platform", platform_json(e));
		json_array_append_new(list, d);
	}
	r = add_annotations(doc, annotations, err);
	if (r < 0)
		return r;
	char *s = hoist_json_canonical(doc);
	*ret_len = strlen(s);
	*ret_json = s;
	return 0;
}

/* ---- from the store ------------------------------------------------------ */

struct entry_list {
	struct hoist_index_entry *v;
	size_t n, alloc;
};

static int list_add(struct entry_list *l, const struct hoist_index_entry *e,
		    struct hoist_error *err)
{
	if (l->n >= HOIST_INDEX_MAX_ENTRIES)
		return hoist_error_set(err, -E2BIG, "an index may have at most %d entries",
				       HOIST_INDEX_MAX_ENTRIES);
	if (l->n == l->alloc) {
		l->alloc = l->alloc ? l->alloc * 2 : 8;
		l->v = hoist_xrealloc(l->v, l->alloc * sizeof(*l->v));
	}
	l->v[l->n++] = *e;
	return 0;
}

/* Copy the entries of an index in the store. */
static int add_from_index(const json_t *doc, const char *digest, struct entry_list *l,
			  struct hoist_error *err)
{
	json_t *m = json_object_get(doc, "manifests"), *d;
	size_t i;
	int r;

	if (!json_is_array(m))
		return hoist_error_set(err, -EBADMSG, "index '%s' has no manifests", digest);
	json_array_foreach(m, i, d)
	{
		struct hoist_index_entry e = {0};
		r = oci_parse_descriptor(d, &e.desc, digest, err);
		if (r < 0)
			return r;
		if (!oci_descriptor_platform(d, &e.platform))
			return hoist_error_set(err, -EBADMSG,
					       "entry '%s' of index '%s' has no platform",
					       e.desc.digest, digest);
		oci_platform_normalize(&e.platform);
		const char *osv = json_string_value(
		    json_object_get(json_object_get(d, "platform"), "os.version"));
		if (osv && copy_str(e.os_version, sizeof(e.os_version), osv, "os.version", err) < 0)
			return -EBADMSG;
		r = list_add(l, &e, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int add_from_manifest(struct hoist_store *s, const json_t *doc,
			     const struct hoist_index_item *it, struct entry_list *l,
			     struct hoist_error *err)
{
	struct hoist_index_entry e = {0};
	const char *mt = json_string_value(json_object_get(doc, "mediaType"));
	int64_t size;
	int r;

	if (!json_is_object(json_object_get(doc, "config")) ||
	    !json_is_array(json_object_get(doc, "layers")))
		return hoist_error_set(err, -EBADMSG, "'%s' is not an image manifest", it->digest);
	size = hoist_store_blob_size(s, it->digest);
	if (size < 0)
		return hoist_error_set(err, (int)size, "manifest '%s' is not in the store",
				       it->digest);
	snprintf(e.desc.media_type, sizeof(e.desc.media_type), "%s",
		 mt ? mt : HOIST_MT_OCI_MANIFEST);
	memcpy(e.desc.digest, it->digest, sizeof(e.desc.digest));
	e.desc.size = size;
	if (it->platform) {
		e.platform = *it->platform;
		oci_platform_normalize(&e.platform);
	} else {
		struct hoist_descriptor cfg;
		json_auto_t *config = NULL;
		r = oci_parse_descriptor(json_object_get(doc, "config"), &cfg, it->digest, err);
		if (r < 0)
			return r;
		r = oci_load_json(s, cfg.digest, cfg.size, &config, err);
		if (r < 0)
			return hoist_error_prefix(err, "config of '%s'", it->digest);
		r = hoist_index_config_platform(config, &e.platform, e.os_version, err);
		if (r < 0)
			return hoist_error_prefix(err, "'%s'", it->digest);
	}
	return list_add(l, &e, err);
}

int hoist_index_create(struct hoist_store *s, const struct hoist_index_item *items, size_t n,
		       enum hoist_index_format fmt, const char *const *annotations,
		       struct hoist_descriptor *ret, struct hoist_error *err)
{
	struct entry_list l = {0};
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	char digest[HOIST_DIGEST_MAX];
	int r = 0;

	for (size_t i = 0; i < n && r >= 0; i++) {
		json_auto_t *doc = NULL;
		if (!hoist_digest_valid(items[i].digest)) {
			r = hoist_error_set(err, -EINVAL, "invalid digest '%s'", items[i].digest);
			break;
		}
		r = oci_load_json(s, items[i].digest, -1, &doc, err);
		if (r < 0)
			break;
		if (oci_is_index(doc))
			r = add_from_index(doc, items[i].digest, &l, err);
		else
			r = add_from_manifest(s, doc, &items[i], &l, err);
	}
	if (r >= 0)
		r = hoist_index_build(l.v, l.n, fmt, annotations, &data, &len, err);
	if (r >= 0)
		r = hoist_store_blob_put(s, data, len, digest, err);
	if (r >= 0) {
		memset(ret, 0, sizeof(*ret));
		snprintf(ret->media_type, sizeof(ret->media_type), "%s",
			 fmt == HOIST_INDEX_DOCKER ? HOIST_MT_DOCKER_LIST : HOIST_MT_OCI_INDEX);
		memcpy(ret->digest, digest, sizeof(digest));
		ret->size = (int64_t)len;
	}
	free(l.v);
	return r < 0 ? r : 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Multi-platform indexes made in the registry: `hoist manifest push
 * --from-spec` reads manifest-tool's YAML spec and joins images that other
 * machines pushed (one per architecture) into one tag, fetching only their
 * manifests, never their layers. Also a plain manifest PUT.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <yaml.h>

#include "registry-private.h"

/* ---- spec parsing ------------------------------------------------------- */

struct yctx {
	yaml_document_t *doc;
	const char *file;
	struct hoist_error *err;
};

static int yfail(struct yctx *y, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int yfail(struct yctx *y, const yaml_node_t *n, const char *fmt, ...)
{
	int line = n ? (int)n->start_mark.line + 1 : 0;
	int col = n ? (int)n->start_mark.column + 1 : 0;
	char msg[HOIST_ERROR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return hoist_error_set_at(y->err, -EBADMSG, y->file, line, col, "%s", msg);
}

static yaml_node_t *ynode(struct yctx *y, int id)
{
	return yaml_document_get_node(y->doc, id);
}

/* The value of a scalar node, or NULL (also for one holding a NUL byte). */
static const char *yscalar(const yaml_node_t *n)
{
	if (!n || n->type != YAML_SCALAR_NODE)
		return NULL;
	const char *v = (const char *)n->data.scalar.value;
	if (strlen(v) != n->data.scalar.length)
		return NULL;
	return v;
}

/* The value under `key` in a mapping node, or NULL. The last one wins. */
static yaml_node_t *yget(struct yctx *y, const yaml_node_t *map, const char *key)
{
	yaml_node_t *found = NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		const char *k = yscalar(ynode(y, p->key));
		if (k && strcmp(k, key) == 0)
			found = ynode(y, p->value);
	}
	return found;
}

static int yget_string(struct yctx *y, const yaml_node_t *map, const char *key, bool required,
		       const char **ret)
{
	yaml_node_t *n = yget(y, map, key);
	*ret = NULL;
	if (!n) {
		if (required)
			return yfail(y, map, "missing '%s'", key);
		return 0;
	}
	*ret = yscalar(n);
	if (!*ret)
		return yfail(y, n, "'%s' must be a string", key);
	return 0;
}

static int parse_platform(struct yctx *y, const yaml_node_t *n, struct hoist_spec_part *part)
{
	const char *os, *arch, *variant;
	int r;

	if (n->type != YAML_MAPPING_NODE)
		return yfail(y, n, "'%s' must be a mapping", "platform");
	r = yget_string(y, n, "os", true, &os);
	if (r >= 0)
		r = yget_string(y, n, "architecture", true, &arch);
	if (r >= 0)
		r = yget_string(y, n, "variant", false, &variant);
	if (r < 0)
		return r;
	_cleanup_free_ char *s = variant && *variant
				     ? hoist_xasprintf("%s/%s/%s", os, arch, variant)
				     : hoist_xasprintf("%s/%s", os, arch);
	r = hoist_platform_parse(s, &part->platform, NULL);
	if (r < 0)
		return yfail(y, n, "invalid platform '%s'", s);
	part->has_platform = true;
	return 0;
}

static int parse_root(struct yctx *y, const yaml_node_t *root, struct hoist_spec *spec)
{
	yaml_node_t *tags, *mans;
	const char *image;
	int r;

	if (root->type != YAML_MAPPING_NODE)
		return yfail(y, root, "%s",
			     "a spec must be a mapping with 'image' and 'manifests'");
	r = yget_string(y, root, "image", true, &image);
	if (r < 0)
		return r;
	spec->image = hoist_xstrdup(image);

	tags = yget(y, root, "tags");
	if (tags) {
		if (tags->type != YAML_SEQUENCE_NODE)
			return yfail(y, tags, "'%s' must be a list", "tags");
		for (yaml_node_item_t *i = tags->data.sequence.items.start;
		     i < tags->data.sequence.items.top; i++) {
			yaml_node_t *t = ynode(y, *i);
			const char *v = yscalar(t);
			if (!v || !*v)
				return yfail(y, t ? t : tags, "%s", "a tag must be a string");
			if (spec->tags.n >= HOIST_SPEC_MAX_TAGS)
				return yfail(y, t, "%s", "too many tags");
			hoist_strv_push(&spec->tags, v);
		}
	}

	mans = yget(y, root, "manifests");
	if (!mans)
		return yfail(y, root, "missing '%s'", "manifests");
	if (mans->type != YAML_SEQUENCE_NODE)
		return yfail(y, mans, "'%s' must be a list", "manifests");
	size_t n = (size_t)(mans->data.sequence.items.top - mans->data.sequence.items.start);
	if (n == 0)
		return yfail(y, mans, "'%s' is empty", "manifests");
	if (n > HOIST_SPEC_MAX_PARTS)
		return yfail(y, mans, "%s", "too many manifests");
	spec->parts = hoist_xcalloc(n, sizeof(*spec->parts));
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *m = ynode(y, mans->data.sequence.items.start[i]);
		struct hoist_spec_part *part = &spec->parts[spec->n_parts];
		yaml_node_t *pl;

		if (!m || m->type != YAML_MAPPING_NODE)
			return yfail(y, m ? m : mans, "%s", "a manifests item must be a mapping");
		r = yget_string(y, m, "image", true, &image);
		if (r < 0)
			return r;
		part->line = (int)m->start_mark.line + 1;
		part->image = hoist_xstrdup(image);
		spec->n_parts++;
		pl = yget(y, m, "platform");
		if (pl) {
			r = parse_platform(y, pl, part);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int hoist_spec_parse(const char *data, size_t len, const char *file, struct hoist_spec *ret,
		     struct hoist_error *err)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	struct yctx y = {.doc = &doc, .file = file, .err = err};
	int r;

	memset(ret, 0, sizeof(*ret));
	if (len > HOIST_SPEC_MAX_SIZE)
		return hoist_error_set_at(err, -EFBIG, file, 0, 0, "spec is larger than %zu bytes",
					  HOIST_SPEC_MAX_SIZE);
	if (!yaml_parser_initialize(&parser))
		return hoist_error_set(err, -ENOMEM, "cannot initialise the YAML parser");
	yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
	if (!yaml_parser_load(&parser, &doc)) {
		r = hoist_error_set_at(err, -EBADMSG, file, (int)parser.problem_mark.line + 1,
				       (int)parser.problem_mark.column + 1, "invalid YAML: %s",
				       parser.problem ? parser.problem : "parse error");
		yaml_parser_delete(&parser);
		return r;
	}
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	if (!root)
		r = hoist_error_set_at(err, -EBADMSG, file, 0, 0, "empty spec");
	else
		r = parse_root(&y, root, ret);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return r < 0 ? r : 0;
}

void hoist_spec_release(struct hoist_spec *spec)
{
	if (!spec)
		return;
	free(spec->image);
	hoist_strv_release(&spec->tags);
	for (size_t i = 0; i < spec->n_parts; i++)
		free(spec->parts[i].image);
	free(spec->parts);
	memset(spec, 0, sizeof(*spec));
}

/* ---- pushing ------------------------------------------------------------ */

int hoist_registry_put_manifest(const struct hoist_registry_opts *opts, const char *ref,
				const void *data, size_t len, const char *media_type,
				char ret_digest[HOIST_DIGEST_MAX], struct hoist_error *err)
{
	struct hoist_ref rf = {0};
	struct reg_client *c = NULL;
	struct hoist_registry_manifest m = {.data = (char *)data, .len = len};
	int r;

	if (len > HOIST_REGISTRY_MAX_MANIFEST)
		return hoist_error_set(err, -EFBIG, "manifest is larger than %zu bytes",
				       HOIST_REGISTRY_MAX_MANIFEST);
	snprintf(m.media_type, sizeof(m.media_type), "%s", media_type);
	hoist_sha256_digest(data, len, m.digest);
	r = reg_open(opts, ref, &rf, &c, err);
	if (r < 0)
		return r;
	if (rf.digest && strcmp(rf.digest, m.digest) != 0) {
		r = hoist_error_set(err, -EINVAL,
				    "'%s' names another digest than the manifest's '%s'", ref,
				    m.digest);
	} else {
		CURL *h = reg_handle_new();
		r = reg_put_manifest(c, h, rf.path, rf.tag ? rf.tag : m.digest, &m, err);
		curl_easy_cleanup(h);
	}
	if (r >= 0 && ret_digest)
		memcpy(ret_digest, m.digest, HOIST_DIGEST_MAX);
	reg_client_free(c);
	hoist_ref_release(&rf);
	return r < 0 ? r : 0;
}

/* Mount a blob from another repository of the same registry. */
static int mount_blob(struct reg_client *c, CURL *h, const char *from, const char *to,
		      const struct hoist_descriptor *d, struct hoist_error *err)
{
	_cleanup_free_ char *scope =
	    hoist_xasprintf("repository:%s:pull,push repository:%s:pull", to, from);
	_cleanup_free_ char *url =
	    hoist_xasprintf("/v2/%s/blobs/uploads/?mount=%s&from=%s", to, d->digest, from);
	struct reg_req req = {.method = "POST", .url = url, .scope = scope, .body_fd = -1};
	_cleanup_(reg_resp_release) struct reg_resp resp = {0};
	int r = reg_do(c, h, &req, &resp, err);
	if (r < 0)
		return r;
	if (resp.status == 201) {
		reg_progress(c, HOIST_REGISTRY_EV_MOUNTED, d->digest, d->media_type,
			     (uint64_t)d->size, (uint64_t)d->size, from);
		return 0;
	}
	if (resp.status == 202) {
		/* The registry opened an upload instead: close it, we have nothing to send. */
		_cleanup_free_ char *loc = reg_resp_header(&resp, "Location");
		if (loc && *loc) {
			_cleanup_free_ char *abs = reg_url_resolve(c, loc);
			struct reg_req del = {
			    .method = "DELETE", .url = abs, .scope = scope, .body_fd = -1};
			_cleanup_(reg_resp_release) struct reg_resp dresp = {0};
			(void)reg_do(c, h, &del, &dresp, NULL);
		}
		return hoist_error_set(err, -EPROTO,
				       "registry '%s' did not mount blob '%s' from '%s' into '%s'",
				       c->host, d->digest, from, to);
	}
	return reg_fail(&resp, err, "mounting blob '%s' from '%s'", d->digest, from);
}

/* Make manifest m of repository `from` available in `to` (same registry). */
static int link_manifest(struct reg_client *c, CURL *h, const char *from, const char *to,
			 const struct hoist_registry_manifest *m, struct hoist_error *err)
{
	struct reg_blob_list l = {0};
	_cleanup_free_ char *scope = reg_scope(to, "pull,push");
	int r = reg_collect_blobs(m, &l, err);

	for (size_t i = 0; r >= 0 && i < l.n; i++) {
		bool exists = false;
		r = reg_blob_exists(c, h, to, scope, l.v[i].digest, &exists, err);
		if (r >= 0 && !exists)
			r = mount_blob(c, h, from, to, &l.v[i], err);
	}
	free(l.v);
	if (r >= 0)
		r = reg_put_manifest(c, h, to, m->digest, m, err);
	return r;
}

static int fetch_config_platform(struct reg_client *c, CURL *h, const char *path,
				 const struct hoist_registry_manifest *m,
				 struct hoist_index_entry *e, struct hoist_error *err)
{
	json_auto_t *doc = json_loadb(m->data, m->len, 0, NULL);
	json_auto_t *cfg = NULL;
	struct hoist_descriptor d;
	char got[HOIST_DIGEST_MAX];
	int r;

	r = reg_parse_descriptor(json_object_get(doc, "config"), &d, err);
	if (r < 0)
		return hoist_error_prefix(err, "config of manifest '%s'", m->digest);
	_cleanup_free_ char *url = hoist_xasprintf("/v2/%s/blobs/%s", path, d.digest);
	_cleanup_free_ char *scope = reg_scope(path, "pull");
	struct reg_req req = {.method = "GET",
			      .url = url,
			      .scope = scope,
			      .body_fd = -1,
			      .max_body = HOIST_MAX_JSON_BLOB,
			      .idempotent = true,
			      .follow = true};
	_cleanup_(reg_resp_release) struct reg_resp resp = {0};
	r = reg_do(c, h, &req, &resp, err);
	if (r < 0)
		return r;
	if (resp.status != 200)
		return reg_fail(&resp, err, "fetching config '%s' of '%s'", d.digest, path);
	hoist_sha256_digest(resp.body.data ? resp.body.data : "", resp.body.len, got);
	if (strcmp(got, d.digest) != 0)
		return hoist_error_set(err, -EBADMSG, "config '%s' does not match its digest",
				       d.digest);
	cfg = json_loadb(resp.body.data ? resp.body.data : "", resp.body.len, 0, NULL);
	if (!json_is_object(cfg))
		return hoist_error_set(err, -EBADMSG, "config '%s' is not a JSON object", d.digest);
	return hoist_index_config_platform(cfg, &e->platform, e->os_version, err);
}

struct entries {
	struct hoist_index_entry *v;
	size_t n, alloc;
	bool all_docker;
};

static int entries_add(struct entries *l, const struct hoist_index_entry *e,
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
	if (strcmp(e->desc.media_type, HOIST_MT_DOCKER_MANIFEST) != 0)
		l->all_docker = false;
	return 0;
}

static bool entry_platform(json_t *entry, struct hoist_index_entry *e)
{
	json_t *pj = json_object_get(entry, "platform");
	const char *os = json_string_value(json_object_get(pj, "os"));
	const char *arch = json_string_value(json_object_get(pj, "architecture"));
	const char *var = json_string_value(json_object_get(pj, "variant"));
	const char *osv = json_string_value(json_object_get(pj, "os.version"));

	if (!os || !arch || (osv && strlen(osv) >= sizeof(e->os_version)))
		return false;
	_cleanup_free_ char *s = var && *var ? hoist_xasprintf("%s/%s/%s", os, arch, var)
					     : hoist_xasprintf("%s/%s", os, arch);
	if (hoist_platform_parse(s, &e->platform, NULL) < 0)
		return false;
	snprintf(e->os_version, sizeof(e->os_version), "%s", osv ? osv : "");
	return true;
}

/* The entries one spec part contributes (linked into `target` when elsewhere). */
static int add_part(struct reg_client *c, CURL *h, const struct hoist_spec_part *part,
		    const struct hoist_ref *target, struct entries *l, struct hoist_error *err)
{
	struct hoist_ref pr = {0};
	struct hoist_registry_manifest m = {0};
	bool elsewhere;
	int r;

	r = hoist_ref_parse(part->image, &pr, err);
	if (r < 0)
		return r;
	if (strcmp(pr.domain, target->domain) != 0) {
		r = hoist_error_set(err, -EXDEV,
				    "'%s' is on another registry than '%s/%s': push it there first",
				    part->image, target->domain, target->path);
		goto out;
	}
	elsewhere = strcmp(pr.path, target->path) != 0;
	r = reg_fetch_manifest(c, h, pr.path, pr.digest ? pr.digest : pr.tag, &m, err);
	if (r < 0)
		goto out;
	if (reg_is_index(m.media_type)) {
		json_auto_t *doc = json_loadb(m.data, m.len, 0, NULL);
		json_t *d;
		size_t i;
		json_array_foreach(json_object_get(doc, "manifests"), i, d)
		{
			struct hoist_index_entry e = {0};
			r = reg_parse_descriptor(d, &e.desc, err);
			if (r < 0)
				goto out;
			if (!entry_platform(d, &e)) {
				r = hoist_error_set(err, -EBADMSG,
						    "entry '%s' of index '%s' has no platform",
						    e.desc.digest, part->image);
				goto out;
			}
			if (elsewhere) {
				struct hoist_registry_manifest child = {0};
				r = reg_fetch_manifest(c, h, pr.path, e.desc.digest, &child, err);
				if (r >= 0)
					r = link_manifest(c, h, pr.path, target->path, &child, err);
				hoist_registry_manifest_release(&child);
				if (r < 0)
					goto out;
			}
			r = entries_add(l, &e, err);
			if (r < 0)
				goto out;
		}
	} else {
		struct hoist_index_entry e = {0};
		snprintf(e.desc.media_type, sizeof(e.desc.media_type), "%s", m.media_type);
		memcpy(e.desc.digest, m.digest, sizeof(e.desc.digest));
		e.desc.size = (int64_t)m.len;
		if (part->has_platform)
			e.platform = part->platform;
		else
			r = fetch_config_platform(c, h, pr.path, &m, &e, err);
		if (r >= 0 && elsewhere)
			r = link_manifest(c, h, pr.path, target->path, &m, err);
		if (r >= 0)
			r = entries_add(l, &e, err);
	}
out:
	if (r < 0)
		hoist_error_prefix(err, "'%s'", part->image);
	hoist_registry_manifest_release(&m);
	hoist_ref_release(&pr);
	return r;
}

int hoist_registry_push_spec(const struct hoist_registry_opts *opts, const struct hoist_spec *spec,
			     const enum hoist_index_format *fmt, const char *const *annotations,
			     char ret_digest[HOIST_DIGEST_MAX], struct hoist_error *err)
{
	struct hoist_ref target = {0};
	struct reg_client *c = NULL;
	struct entries l = {.all_docker = true};
	struct hoist_registry_manifest idx = {0};
	CURL *h = NULL;
	int r;

	if (!spec->image || spec->n_parts == 0)
		return hoist_error_set(err, -EINVAL, "the spec names no image or no manifests");
	r = hoist_ref_parse(spec->image, &target, err);
	if (r < 0)
		goto out;
	if (target.digest) {
		r = hoist_error_set(
		    err, -EINVAL, "the spec's image '%s' must be a tag, not a digest", spec->image);
		goto out;
	}
	r = reg_client_new(opts, target.domain, &c, err);
	if (r < 0)
		goto out;
	h = reg_handle_new();
	for (size_t i = 0; i < spec->n_parts && r >= 0; i++)
		r = add_part(c, h, &spec->parts[i], &target, &l, err);
	if (r < 0)
		goto out;
	/* A Docker list cannot carry annotations: asking for some means OCI. */
	bool want_docker = l.all_docker && !(annotations && annotations[0]);
	enum hoist_index_format f = HOIST_INDEX_OCI;
	if (fmt)
		f = *fmt;
	else if (want_docker)
		f = HOIST_INDEX_DOCKER;
	r = hoist_index_build(l.v, l.n, f, annotations, &idx.data, &idx.len, err);
	if (r < 0)
		goto out;
	snprintf(idx.media_type, sizeof(idx.media_type), "%s",
		 f == HOIST_INDEX_DOCKER ? HOIST_MT_DOCKER_LIST : HOIST_MT_OCI_INDEX);
	hoist_sha256_digest(idx.data, idx.len, idx.digest);
	r = reg_put_manifest(c, h, target.path, target.tag, &idx, err);
	for (size_t i = 0; r >= 0 && i < spec->tags.n; i++) {
		/* An extra tag is a bare tag of the same repository. */
		_cleanup_free_ char *full =
		    hoist_xasprintf("%s/%s:%s", target.domain, target.path, spec->tags.v[i]);
		struct hoist_ref tr = {0};
		r = hoist_ref_parse(full, &tr, err);
		if (r >= 0 && (tr.digest || strcmp(tr.path, target.path) != 0))
			r = hoist_error_set(err, -EINVAL, "invalid tag '%s'", spec->tags.v[i]);
		if (r >= 0)
			r = reg_put_manifest(c, h, target.path, tr.tag, &idx, err);
		hoist_ref_release(&tr);
	}
	if (r >= 0 && ret_digest)
		memcpy(ret_digest, idx.digest, HOIST_DIGEST_MAX);
out:
	if (r < 0)
		hoist_error_prefix(err, "pushing '%s'", spec->image ? spec->image : "");
	if (h)
		curl_easy_cleanup(h);
	hoist_registry_manifest_release(&idx);
	free(l.v);
	reg_client_free(c);
	hoist_ref_release(&target);
	return r < 0 ? r : 0;
}

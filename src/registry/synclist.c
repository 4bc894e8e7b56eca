/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The YAML image list `skopeo sync --src yaml` reads, as a source of
 * `hoist sync`: registry -> images (name -> tags or digests; an empty list
 * means every tag) and images-by-tag-regex (name -> a POSIX extended regex
 * over the tag list), with tls-verify. Keys hoist does not implement
 * (credentials, cert-dir, images-by-semver) are refused with file:line, so
 * a list never copies less than its author meant. Tag lists come from the
 * registry's /v2/NAME/tags/list, following its Link header, bounded.
 */
#include <errno.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <yaml.h>

#include "registry-private.h"

struct sctx {
	yaml_document_t *doc;
	const char *file;
	struct hoist_error *err;
};

static int sfail(struct sctx *y, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int sfail(struct sctx *y, const yaml_node_t *n, const char *fmt, ...)
{
	char msg[HOIST_ERROR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return hoist_error_set_at(y->err, -EBADMSG, y->file, n ? (int)n->start_mark.line + 1 : 0,
				  n ? (int)n->start_mark.column + 1 : 0, "%s", msg);
}

static yaml_node_t *snode(struct sctx *y, int id)
{
	return yaml_document_get_node(y->doc, id);
}

/* A scalar's value, or NULL (also for one holding a NUL byte). */
static const char *sscalar(const yaml_node_t *n)
{
	if (!n || n->type != YAML_SCALAR_NODE)
		return NULL;
	const char *v = (const char *)n->data.scalar.value;
	return strlen(v) == n->data.scalar.length ? v : NULL;
}

static struct hoist_sync_entry *add_entry(struct hoist_synclist *l, const char *repo, int line,
					  bool insecure)
{
	l->v = hoist_xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	struct hoist_sync_entry *e = &l->v[l->n++];
	memset(e, 0, sizeof(*e));
	e->repo = hoist_xstrdup(repo);
	e->line = line;
	e->insecure = insecure;
	return e;
}

/* "REGISTRY/NAME", checked as a reference (no tag or digest of its own). */
static int repo_name(struct sctx *y, const yaml_node_t *n, const char *reg, const char *name,
		     char **ret)
{
	struct hoist_ref rf = {0};
	if (strpbrk(name, ":@"))
		return sfail(y, n, "'%s': give tags in the list, not in the name", name);
	_cleanup_free_ char *full = hoist_xasprintf("%s/%s", reg, name);
	if (!*name || hoist_ref_parse(full, &rf, NULL) < 0)
		return sfail(y, n, "'%s' is not an image name", name);
	hoist_ref_release(&rf);
	*ret = TAKE_PTR(full);
	return 0;
}

static int parse_images(struct sctx *y, const yaml_node_t *map, const char *reg, bool insecure,
			struct hoist_synclist *l)
{
	if (map->type != YAML_MAPPING_NODE)
		return sfail(y, map, "'images' of '%s' must be a mapping (name: [tags])", reg);
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = snode(y, p->key), *v = snode(y, p->value);
		const char *name = sscalar(k);
		_cleanup_free_ char *repo = NULL;
		if (!name)
			return sfail(y, k, "%s", "an image name must be a string");
		if (repo_name(y, k, reg, name, &repo) < 0)
			return -EBADMSG;
		if (l->n >= HOIST_SYNCLIST_MAX_IMAGES)
			return sfail(y, k, "more than %d images", HOIST_SYNCLIST_MAX_IMAGES);
		if (!v || v->type != YAML_SEQUENCE_NODE)
			return sfail(y, v ? v : k, "'%s': give a list of tags ([] for every tag)",
				     name);
		struct hoist_sync_entry *e =
		    add_entry(l, repo, (int)k->start_mark.line + 1, insecure);
		for (yaml_node_item_t *i = v->data.sequence.items.start;
		     i < v->data.sequence.items.top; i++) {
			yaml_node_t *t = snode(y, *i);
			const char *tag = sscalar(t);
			_cleanup_free_ char *ref = NULL;
			struct hoist_ref rf = {0};
			if (!tag || !*tag)
				return sfail(y, t ? t : v, "'%s': a tag must be a string", name);
			if (e->refs.n >= HOIST_SYNCLIST_MAX_REFS)
				return sfail(y, t, "'%s': more than %d tags", name,
					     HOIST_SYNCLIST_MAX_REFS);
			ref = hoist_xasprintf("%s%c%s", repo,
					      hoist_startswith(tag, "sha256:") ? '@' : ':', tag);
			if (hoist_ref_parse(ref, &rf, NULL) < 0 ||
			    (hoist_startswith(tag, "sha256:") && !hoist_digest_valid(tag)))
				return sfail(y, t, "'%s' is not a tag or digest", tag);
			hoist_ref_release(&rf);
			hoist_strv_push(&e->refs, ref);
		}
		e->all_tags = e->refs.n == 0;
	}
	return 0;
}

static int parse_regexes(struct sctx *y, const yaml_node_t *map, const char *reg, bool insecure,
			 struct hoist_synclist *l)
{
	if (map->type != YAML_MAPPING_NODE)
		return sfail(y, map,
			     "'images-by-tag-regex' of '%s' must be a mapping (name: regex)", reg);
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = snode(y, p->key), *v = snode(y, p->value);
		const char *name = sscalar(k), *re = sscalar(v);
		_cleanup_free_ char *repo = NULL;
		regex_t rx;
		if (!name)
			return sfail(y, k, "%s", "an image name must be a string");
		if (repo_name(y, k, reg, name, &repo) < 0)
			return -EBADMSG;
		if (!re || !*re || strlen(re) > HOIST_SYNCLIST_MAX_REGEX)
			return sfail(y, v ? v : k,
				     "'%s': the tag regex must be a string of 1 to %d bytes", name,
				     HOIST_SYNCLIST_MAX_REGEX);
		/* Go's RE2 (skopeo) and POSIX ERE agree on the simple patterns
		 * these lists use; what POSIX cannot compile is refused here. */
		if (l->n >= HOIST_SYNCLIST_MAX_IMAGES)
			return sfail(y, k, "more than %d images", HOIST_SYNCLIST_MAX_IMAGES);
		if (regcomp(&rx, re, REG_EXTENDED | REG_NOSUB) != 0)
			return sfail(y, v, "'%s' is not a POSIX extended regular expression", re);
		regfree(&rx);
		struct hoist_sync_entry *e =
		    add_entry(l, repo, (int)k->start_mark.line + 1, insecure);
		e->tag_regex = hoist_xstrdup(re);
	}
	return 0;
}

static int parse_registry(struct sctx *y, const yaml_node_t *k, const yaml_node_t *v,
			  struct hoist_synclist *l)
{
	const char *reg = sscalar(k);
	bool insecure = false, any = false;
	struct hoist_ref rf = {0};

	if (!reg || !*reg)
		return sfail(y, k, "%s", "a registry name must be a string");
	_cleanup_free_ char *probe = hoist_xasprintf("%s/x", reg);
	if (strchr(reg, '/') || hoist_ref_parse(probe, &rf, NULL) < 0)
		return sfail(y, k, "'%s' is not a registry host", reg);
	hoist_ref_release(&rf);
	if (!v || v->type != YAML_MAPPING_NODE)
		return sfail(y, v ? v : k,
			     "'%s' must be a mapping (images, images-by-tag-regex, ...)", reg);
	/* tls-verify first: it applies to every image of the registry. */
	for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top;
	     p++) {
		const char *key = sscalar(snode(y, p->key));
		if (key && !strcmp(key, "tls-verify")) {
			const char *b = sscalar(snode(y, p->value));
			if (!b || (strcmp(b, "true") && strcmp(b, "false")))
				return sfail(y, snode(y, p->value), "%s",
					     "'tls-verify' must be true or false");
			insecure = !strcmp(b, "false");
		}
	}
	for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *kn = snode(y, p->key), *vn = snode(y, p->value);
		const char *key = sscalar(kn);
		int r = 0;
		if (!key)
			return sfail(y, kn, "%s", "a key must be a string");
		if (!strcmp(key, "images")) {
			r = parse_images(y, vn, reg, insecure, l);
			any = true;
		} else if (!strcmp(key, "images-by-tag-regex")) {
			r = parse_regexes(y, vn, reg, insecure, l);
			any = true;
		} else if (!strcmp(key, "tls-verify")) {
			continue;
		} else if (!strcmp(key, "credentials")) {
			return sfail(
			    y, kn, "%s",
			    "'credentials' are not read from a sync list: run 'hoist login "
			    "HOST' (the Docker config's credentials are used)");
		} else if (!strcmp(key, "cert-dir")) {
			return sfail(y, kn, "%s",
				     "'cert-dir' is not supported: use --tls-ca FILE or certs.d");
		} else {
			return sfail(y, kn,
				     "unknown key '%s' (hoist reads images, "
				     "images-by-tag-regex and tls-verify)",
				     key);
		}
		if (r < 0)
			return r;
	}
	if (!any)
		return sfail(y, k, "'%s' lists no images", reg);
	return 0;
}

int hoist_synclist_parse(const char *data, size_t len, const char *file, struct hoist_synclist *ret,
			 struct hoist_error *err)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	struct sctx y = {.doc = &doc, .file = file, .err = err};
	int r = 0;

	memset(ret, 0, sizeof(*ret));
	if (len > HOIST_SYNCLIST_MAX_SIZE)
		return hoist_error_set_at(err, -EFBIG, file, 0, 0, "larger than %zu bytes",
					  (size_t)HOIST_SYNCLIST_MAX_SIZE);
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
	if (!root || root->type != YAML_MAPPING_NODE)
		r = sfail(&y, root, "%s", "a sync list is a mapping of registries to images");
	for (yaml_node_pair_t *p = root ? root->data.mapping.pairs.start : NULL;
	     r >= 0 && p && p < root->data.mapping.pairs.top; p++)
		r = parse_registry(&y, snode(&y, p->key), snode(&y, p->value), ret);
	if (r >= 0 && ret->n == 0)
		r = sfail(&y, root, "%s", "the sync list names no image");
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	if (r < 0)
		hoist_synclist_release(ret);
	return r < 0 ? r : 0;
}

void hoist_synclist_release(struct hoist_synclist *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].repo);
		free(l->v[i].tag_regex);
		hoist_strv_release(&l->v[i].refs);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* ---- tag lists -------------------------------------------------------------- */

/* The next page from a Link header: `</v2/...?last=x&n=y>; rel="next"`. */
static char *link_next(const struct reg_resp *resp)
{
	_cleanup_free_ char *l = reg_resp_header(resp, "Link");
	if (!l || !strstr(l, "rel=\"next\""))
		return NULL;
	const char *a = strchr(l, '<'), *b = a ? strchr(a, '>') : NULL;
	if (!a || !b || b - a < 2)
		return NULL;
	return hoist_xstrndup(a + 1, (size_t)(b - a - 1));
}

int hoist_registry_list_tags(const struct hoist_registry_opts *opts, const char *repo,
			     struct hoist_strv *ret, struct hoist_error *err)
{
	struct hoist_ref rf = {0};
	struct reg_client *c = NULL;
	int r = reg_open(opts, repo, &rf, &c, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *scope = reg_scope(rf.path, "pull");
	_cleanup_free_ char *url = hoist_xasprintf("/v2/%s/tags/list", rf.path);
	CURL *h = reg_handle_new();
	for (int page = 0; r >= 0 && url; page++) {
		if (page >= HOIST_SYNCLIST_MAX_PAGES) {
			r = hoist_error_set(err, -EFBIG, "'%s': more than %d pages of tags", repo,
					    HOIST_SYNCLIST_MAX_PAGES);
			break;
		}
		struct reg_req req = {.method = "GET",
				      .url = url,
				      .scope = scope,
				      .body_fd = -1,
				      .idempotent = true,
				      .follow = true};
		_cleanup_(reg_resp_release) struct reg_resp resp = {0};
		r = reg_do(c, h, &req, &resp, err);
		if (r < 0)
			break;
		if (resp.status != 200) {
			r = reg_fail(&resp, err, "listing the tags of '%s'", repo);
			break;
		}
		json_auto_t *doc =
		    json_loadb(resp.body.data ? resp.body.data : "", resp.body.len, 0, NULL);
		json_t *tags = json_object_get(doc, "tags"), *t;
		size_t i;
		if (!json_is_object(doc) || (tags && !json_is_array(tags) && !json_is_null(tags))) {
			r = hoist_error_set(err, -EPROTO,
					    "'%s': the tag list is not {\"tags\": [...]}", repo);
			break;
		}
		json_array_foreach(tags, i, t)
		{
			if (!json_is_string(t))
				continue;
			if (ret->n >= HOIST_SYNCLIST_MAX_REFS) {
				r = hoist_error_set(err, -EFBIG, "'%s' has more than %d tags", repo,
						    HOIST_SYNCLIST_MAX_REFS);
				break;
			}
			hoist_strv_push(ret, json_string_value(t));
		}
		free(url);
		url = link_next(&resp);
	}
	curl_easy_cleanup(h);
	reg_client_free(c);
	hoist_ref_release(&rf);
	return r < 0 ? r : 0;
}

int hoist_synclist_expand(const struct hoist_registry_opts *opts, const struct hoist_synclist *l,
			  const char *file, struct hoist_strv *ret, struct hoist_error *err)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct hoist_sync_entry *e = &l->v[i];
		if (!e->all_tags && !e->tag_regex) {
			for (size_t j = 0; j < e->refs.n; j++)
				hoist_strv_push(ret, e->refs.v[j]);
			continue;
		}
		_cleanup_strv_ struct hoist_strv tags = HOIST_STRV_INIT;
		int r = hoist_registry_list_tags(opts, e->repo, &tags, err);
		if (r < 0)
			return hoist_error_prefix(err, "%s:%d", file, e->line);
		regex_t rx;
		if (e->tag_regex && regcomp(&rx, e->tag_regex, REG_EXTENDED | REG_NOSUB) != 0)
			return hoist_error_set_at(err, -EINVAL, file, e->line, 0, "bad regex '%s'",
						  e->tag_regex);
		size_t before = ret->n;
		for (size_t j = 0; j < tags.n; j++)
			if (!e->tag_regex || regexec(&rx, tags.v[j], 0, NULL, 0) == 0)
				hoist_strv_take(ret, hoist_xasprintf("%s:%s", e->repo, tags.v[j]));
		if (e->tag_regex)
			regfree(&rx);
		if (ret->n == before)
			return hoist_error_set_at(
			    err, -ENOENT, file, e->line, 0, "'%s' has no tag%s%s%s", e->repo,
			    e->tag_regex ? " matching '" : "", e->tag_regex ? e->tag_regex : "",
			    e->tag_regex ? "'" : "");
	}
	return 0;
}

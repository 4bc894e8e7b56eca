/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Read-only remote operations: fetch a manifest (content negotiation and
 * digest verification), inspect, exists, and small blob fetches.
 */
#include <errno.h>
#include <string.h>

#include "registry-private.h"

char *reg_scope(const char *path, const char *actions)
{
	return hoist_xasprintf("repository:%s:%s", path, actions);
}

int reg_open(const struct hoist_registry_opts *opts, const char *ref, struct hoist_ref *ret_ref,
	     struct reg_client **ret, struct hoist_error *err)
{
	int r = hoist_ref_parse(ref, ret_ref, err);
	if (r < 0)
		return r;
	r = reg_client_new(opts, ret_ref->domain, ret, err);
	if (r < 0) {
		hoist_ref_release(ret_ref);
		return r;
	}
	return 0;
}

void reg_manifest_media_type(json_t *doc, const char *content_type, char *out, size_t size)
{
	const char *mt = json_string_value(json_object_get(doc, "mediaType"));
	_cleanup_free_ char *ct = NULL;

	if (!mt && content_type && *content_type) {
		ct = hoist_xstrndup(content_type, strcspn(content_type, "; "));
		if (strcmp(ct, "application/json") != 0 && strcmp(ct, "text/plain") != 0)
			mt = ct;
	}
	if (!mt) /* OCI allows mediaType to be absent: guess from the shape */
		mt = json_object_get(doc, "manifests") ? HOIST_MT_OCI_INDEX : HOIST_MT_OCI_MANIFEST;
	snprintf(out, size, "%s", mt);
}

void hoist_registry_manifest_release(struct hoist_registry_manifest *m)
{
	if (!m)
		return;
	free(m->data);
	m->data = NULL;
	m->len = 0;
}

int reg_fetch_manifest(struct reg_client *c, CURL *h, const char *path, const char *reference,
		       struct hoist_registry_manifest *ret, struct hoist_error *err)
{
	_cleanup_free_ char *url = hoist_xasprintf("/v2/%s/manifests/%s", path, reference);
	_cleanup_free_ char *scope = reg_scope(path, "pull");
	struct reg_req req = {.method = "GET",
			      .url = url,
			      .scope = scope,
			      .body_fd = -1,
			      .accept = REG_ACCEPT_MANIFESTS,
			      .max_body = HOIST_REGISTRY_MAX_MANIFEST,
			      .idempotent = true,
			      .follow = true};
	_cleanup_(reg_resp_release) struct reg_resp resp = {0};
	char digest[HOIST_DIGEST_MAX];
	int r;

	r = reg_do(c, h, &req, &resp, err);
	if (r < 0) {
		if (r == -EPROTO && strstr(err ? err->msg : "", "too large"))
			return hoist_error_set(err, -EFBIG,
					       "manifest '%s' of '%s' is larger than %zu bytes",
					       reference, path, HOIST_REGISTRY_MAX_MANIFEST);
		return r;
	}
	if (resp.status != 200)
		return reg_fail(&resp, err, "fetching manifest '%s' of '%s/%s'", reference, c->host,
				path);
	hoist_sha256_digest(resp.body.data ? resp.body.data : "", resp.body.len, digest);
	if (hoist_startswith(reference, "sha256:")) {
		if (strcmp(digest, reference) != 0)
			return hoist_error_set(err, -EBADMSG,
					       "manifest '%s' of '%s' does not match its digest "
					       "(got '%s')",
					       reference, path, digest);
	} else {
		_cleanup_free_ char *dcd = reg_resp_header(&resp, "Docker-Content-Digest");
		if (dcd && hoist_startswith(dcd, "sha256:") && strcmp(dcd, digest) != 0)
			return hoist_error_set(
			    err, -EBADMSG,
			    "manifest '%s' of '%s' does not match the digest the "
			    "registry announced ('%s', got '%s')",
			    reference, path, dcd, digest);
	}
	json_auto_t *doc = json_loadb(resp.body.data ? resp.body.data : "", resp.body.len,
				      JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(doc))
		return hoist_error_set(err, -EBADMSG, "manifest '%s' of '%s' is not a JSON object",
				       reference, path);
	if (json_integer_value(json_object_get(doc, "schemaVersion")) != 2)
		return hoist_error_set(err, -EPROTONOSUPPORT,
				       "manifest '%s' of '%s' is not schema version 2", reference,
				       path);
	_cleanup_free_ char *ct = reg_resp_header(&resp, "Content-Type");
	reg_manifest_media_type(doc, ct, ret->media_type, sizeof(ret->media_type));
	if (strcmp(ret->media_type, HOIST_MT_OCI_MANIFEST) &&
	    strcmp(ret->media_type, HOIST_MT_OCI_INDEX) &&
	    strcmp(ret->media_type, HOIST_MT_DOCKER_MANIFEST) &&
	    strcmp(ret->media_type, HOIST_MT_DOCKER_LIST))
		return hoist_error_set(err, -EPROTONOSUPPORT,
				       "manifest '%s' of '%s' has unsupported media type '%s'",
				       reference, path, ret->media_type);
	memcpy(ret->digest, digest, sizeof(digest));
	if (!resp.body.data)
		hoist_buf_adds(&resp.body, "");
	ret->data = hoist_buf_detach(&resp.body, &ret->len);
	return 0;
}

int hoist_registry_inspect(const struct hoist_registry_opts *opts, const char *ref,
			   struct hoist_registry_manifest *ret, struct hoist_error *err)
{
	struct hoist_ref rf = {0};
	struct reg_client *c = NULL;
	int r = reg_open(opts, ref, &rf, &c, err);
	if (r < 0)
		return r;
	CURL *h = reg_handle_new();
	memset(ret, 0, sizeof(*ret));
	r = reg_fetch_manifest(c, h, rf.path, rf.digest ? rf.digest : rf.tag, ret, err);
	curl_easy_cleanup(h);
	reg_client_free(c);
	hoist_ref_release(&rf);
	return r;
}

int hoist_registry_manifest_exists(const struct hoist_registry_opts *opts, const char *ref,
				   char ret_digest[HOIST_DIGEST_MAX], struct hoist_error *err)
{
	struct hoist_ref rf = {0};
	struct reg_client *c = NULL;
	int r = reg_open(opts, ref, &rf, &c, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *url =
	    hoist_xasprintf("/v2/%s/manifests/%s", rf.path, rf.digest ? rf.digest : rf.tag);
	_cleanup_free_ char *scope = reg_scope(rf.path, "pull");
	struct reg_req req = {.method = "HEAD",
			      .url = url,
			      .scope = scope,
			      .body_fd = -1,
			      .accept = REG_ACCEPT_MANIFESTS,
			      .idempotent = true};
	_cleanup_(reg_resp_release) struct reg_resp resp = {0};
	CURL *h = reg_handle_new();
	r = reg_do(c, h, &req, &resp, err);
	curl_easy_cleanup(h);
	if (r >= 0) {
		if (resp.status == 200) {
			_cleanup_free_ char *d = reg_resp_header(&resp, "Docker-Content-Digest");
			if (ret_digest)
				snprintf(ret_digest, HOIST_DIGEST_MAX, "%s",
					 d && hoist_digest_valid(d) ? d : "");
			r = 1;
		} else if (resp.status == 404) {
			r = 0;
		} else {
			r = reg_fail(&resp, err, "checking manifest '%s'", ref);
		}
	}
	reg_client_free(c);
	hoist_ref_release(&rf);
	return r;
}

int hoist_registry_fetch_blob(const struct hoist_registry_opts *opts, const char *ref,
			      const char *digest, size_t max, char **ret, size_t *ret_len,
			      struct hoist_error *err)
{
	struct hoist_ref rf = {0};
	struct reg_client *c = NULL;
	char got[HOIST_DIGEST_MAX];

	if (!hoist_digest_valid(digest))
		return hoist_error_set(err, -EINVAL, "invalid digest '%s'", digest);
	int r = reg_open(opts, ref, &rf, &c, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *url = hoist_xasprintf("/v2/%s/blobs/%s", rf.path, digest);
	_cleanup_free_ char *scope = reg_scope(rf.path, "pull");
	struct reg_req req = {.method = "GET",
			      .url = url,
			      .scope = scope,
			      .body_fd = -1,
			      .max_body = max,
			      .idempotent = true,
			      .follow = true};
	_cleanup_(reg_resp_release) struct reg_resp resp = {0};
	CURL *h = reg_handle_new();
	r = reg_do(c, h, &req, &resp, err);
	curl_easy_cleanup(h);
	if (r >= 0 && resp.status != 200)
		r = reg_fail(&resp, err, "fetching blob '%s'", digest);
	if (r >= 0) {
		hoist_sha256_digest(resp.body.data ? resp.body.data : "", resp.body.len, got);
		if (strcmp(got, digest) != 0)
			r = hoist_error_set(err, -EBADMSG, "blob '%s' does not match its digest",
					    digest);
	}
	if (r >= 0) {
		if (!resp.body.data)
			hoist_buf_adds(&resp.body, "");
		*ret = hoist_buf_detach(&resp.body, ret_len);
	}
	reg_client_free(c);
	hoist_ref_release(&rf);
	return r < 0 ? r : 0;
}

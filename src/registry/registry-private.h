/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Internals shared by the registry client's source files. */

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <curl/curl.h>
#include <jansson.h>

#include "hoist/ref.h"
#include "hoist/registry.h"
#include "hoist/regconf.h"

/* Registry replies are untrusted: bound what we keep of them. */
#define REG_MAX_HEADERS ((size_t)64 << 10)
#define REG_MAX_SMALL_BODY ((size_t)1 << 20) /* errors, tokens, status replies */
#define REG_MIN_CHUNK ((size_t)64 << 10)
#define REG_DEFAULT_CHUNK ((size_t)8 << 20)

#define REG_ACCEPT_MANIFESTS                                                                       \
	HOIST_MT_OCI_MANIFEST ", " HOIST_MT_OCI_INDEX ", " HOIST_MT_DOCKER_MANIFEST                \
			      ", " HOIST_MT_DOCKER_LIST

enum reg_auth_scheme { REG_AUTH_NONE, REG_AUTH_BASIC, REG_AUTH_BEARER };

struct reg_token {
	char *scope;
	char *token; /* secret */
	int64_t expires;
};

/* One registry host, shared by the worker threads of one operation. */
struct reg_client {
	const struct hoist_registry_opts *opts;
	char *host;	     /* as named in the reference: "docker.io", "127.0.0.1:5000" */
	char *api_host;	     /* where the API lives: "registry-1.docker.io" */
	char *base;	     /* "https://api_host" or "http://..." after the ping */
	bool insecure;	     /* listed insecure: unverified TLS and HTTP allowed */
	bool loopback;	     /* loopback: HTTP allowed */
	struct hoist_buf ca; /* PEM bundle (system + extra CAs) or empty */
	char *user;	     /* credentials, or NULL for anonymous */
	char *secret;	     /* secret: never logged */

	/*
	 * Set by reg_run_pool when one job has failed for good: the other
	 * jobs' transfers abort at their next progress callback and no retry
	 * starts (__atomic_* access; cleared when the pool returns).
	 */
	int cancel;

	pthread_mutex_t lock; /* guards the fields below and progress calls */
	enum reg_auth_scheme scheme;
	char *realm;
	char *service;
	struct reg_token *tokens;
	size_t n_tokens;
};

/* A request; fields left zero take defaults. */
struct reg_req {
	const char *method; /* "GET", "HEAD", "PUT", "PATCH", "POST", "DELETE" */
	const char *url;    /* absolute, or a path starting with '/' below base */
	const char *scope;  /* "repository:x:pull" (space-separated), or NULL */
	const char *accept;
	const char *content_type;
	const char *content_range;
	/* Body from memory ... */
	const void *body;
	size_t body_len;
	/* ... or from a file range. */
	int body_fd; /* -1 when unused */
	uint64_t body_off;
	uint64_t body_fd_len;
	size_t max_body; /* response body cap; 0 = REG_MAX_SMALL_BODY */
	/* Stream the response body instead of keeping it (on 2xx only). */
	int (*sink)(void *ud, const void *data, size_t len);
	void (*sink_reset)(void *ud); /* before a retry */
	void *sink_ud;
	/* Called with bytes sent so far (uploads). */
	void (*on_sent)(void *ud, uint64_t n);
	void *on_sent_ud;
	bool idempotent; /* retry on 429, 5xx and dropped connections */
	bool follow;	 /* follow redirects (blob GETs) */
	bool no_auth;	 /* never add an Authorization header */
};

struct reg_resp {
	long status;
	struct hoist_buf headers; /* header lines of the final response */
	struct hoist_buf body;
	CURLcode curl_code; /* transport error, when the request failed without a reply */
};

void reg_resp_release(struct reg_resp *r);
/* Value of a header of the final response (new string), or NULL. */
char *reg_resp_header(const struct reg_resp *r, const char *name);

/* Create a client for `host`: credentials, TLS, scheme by pinging /v2/. */
int reg_client_new(const struct hoist_registry_opts *opts, const char *host,
		   struct reg_client **ret, struct hoist_error *err);
/* Same, where registries.conf may also allow HTTP and unverified TLS. */
int reg_client_open(const struct hoist_registry_opts *opts, const char *host, bool insecure,
		    struct reg_client **ret, struct hoist_error *err);
/* Same, with explicit credentials instead of the Docker config (login). */
int reg_client_new_creds(const struct hoist_registry_opts *opts, const char *host, const char *user,
			 const char *secret, struct reg_client **ret, struct hoist_error *err);
void reg_client_free(struct reg_client *c);

/* A new easy handle (the caller curl_easy_cleanup()s it). */
CURL *reg_handle_new(void);

/*
 * Perform a request: adds auth (answering one 401 challenge), retries
 * transient failures when req->idempotent. Returns 0 when an HTTP reply
 * arrived (any status: the caller judges it), negative errno otherwise.
 */
int reg_do(struct reg_client *c, CURL *h, const struct reg_req *req, struct reg_resp *resp,
	   struct hoist_error *err);

/* One transfer to an absolute URL with an explicit auth header line (or
 * NULL): no challenge handling, no retries. 0 when a reply arrived. */
int reg_perform_raw(struct reg_client *c, CURL *h, const struct reg_req *req, const char *url,
		    const char *auth, struct reg_resp *resp);

/* Turn an unexpected reply into an error (status, registry error code). */
int reg_fail(const struct reg_resp *resp, struct hoist_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Absolute URL for a Location header value. New string. */
char *reg_url_resolve(const struct reg_client *c, const char *loc);

/* Emit a progress event (takes c->lock). */
void reg_progress(struct reg_client *c, enum hoist_registry_event ev, const char *digest,
		  const char *media_type, uint64_t done, uint64_t total, const char *message);

/* Run fn(i) for i in [0,n) on up to opts->concurrency threads, each with its own handle. */
typedef int (*reg_job_fn)(struct reg_client *c, CURL *h, size_t i, void *ud,
			  struct hoist_error *err);
int reg_run_pool(struct reg_client *c, size_t n, reg_job_fn fn, void *ud, struct hoist_error *err);

/* ---- auth.c ---- */

/* Credentials for host from the Docker config; both NULL when none. */
int reg_creds_lookup(const struct hoist_registry_opts *opts, const char *host, char **ret_user,
		     char **ret_secret, struct hoist_error *err);
/* Parse a WWW-Authenticate value into the client (takes no lock). */
int reg_parse_challenge(struct reg_client *c, const char *value);
/* Get a Bearer token for scope (cached). *ret is a new string. */
int reg_token_get(struct reg_client *c, CURL *h, const char *scope, bool refresh, char **ret,
		  struct hoist_error *err);
/* base64 helpers (new strings). */
char *reg_b64_encode(const void *data, size_t len);
char *reg_b64_decode(const char *s, size_t *ret_len);

/* ---- sources.c: which repositories of a registry hold a blob ---- */

void reg_sources_add(struct hoist_store *s, const char *digest, const char *repo_with_host);
/* A repository path (without host) on `host` other than `exclude` holding digest. */
char *reg_sources_find(struct hoist_store *s, const char *digest, const char *host,
		       const char *exclude);

/* ---- remote.c ---- */

/* Parse ref and open a client for its registry. */
int reg_open(const struct hoist_registry_opts *opts, const char *ref, struct hoist_ref *ret_ref,
	     struct reg_client **ret, struct hoist_error *err);
/* "repository:PATH:ACTIONS". New string. */
char *reg_scope(const char *path, const char *actions);
/*
 * GET a manifest by tag or digest, bounded and verified (against `reference`
 * when it is a digest, else against Docker-Content-Digest when given).
 */
int reg_fetch_manifest(struct reg_client *c, CURL *h, const char *path, const char *reference,
		       struct hoist_registry_manifest *ret, struct hoist_error *err);
/* The media type of a manifest document: its mediaType, else the header's, else a guess. */
void reg_manifest_media_type(json_t *doc, const char *content_type, char *out, size_t size);

/* ---- mirrors.c: registries.conf applied to a pull ---- */

/* opts->offline or $HOIST_OFFLINE. */
bool reg_offline(const struct hoist_registry_opts *opts);

/* The source a pull or inspect uses: plan, client, and its top manifest. */
struct reg_source {
	struct hoist_regconf conf;   /* the plan's rules point into its file names */
	struct hoist_pull_plan plan; /* every source considered; plan.name is what to tag */
	const struct hoist_pull_source *used;
	struct hoist_ref ref; /* the reference fetched (mirror or location) */
	struct reg_client *c;
	struct hoist_registry_manifest top;
};
void reg_source_release(struct reg_source *s);

/*
 * Resolve `ref` through registries.conf and open the first source that
 * answers with the manifest (`ref`'s tag or digest); on failure of all,
 * the error names each source tried and why.
 */
int reg_source_open(const struct hoist_registry_opts *opts, const char *ref, CURL *h,
		    struct reg_source *ret, struct hoist_error *err);

/* ---- pull.c helpers shared with push ---- */

struct reg_blob_list {
	struct hoist_descriptor *v;
	size_t n;
};
/* Append unless the digest is already listed. */
void reg_blob_list_add(struct reg_blob_list *l, const struct hoist_descriptor *d);
/* Read a descriptor object (sha256 digests only). */
int reg_parse_descriptor(json_t *j, struct hoist_descriptor *d, struct hoist_error *err);
/* Config and layers of an image manifest. */
int reg_collect_blobs(const struct hoist_registry_manifest *m, struct reg_blob_list *l,
		      struct hoist_error *err);
bool reg_is_index(const char *media_type);

/* ---- push.c helpers shared with spec.c ---- */

/* HEAD a blob in repository `path`: *ret true on 200, false on 404. */
int reg_blob_exists(struct reg_client *c, CURL *h, const char *path, const char *scope,
		    const char *digest, bool *ret, struct hoist_error *err);
/* PUT a manifest's exact bytes under `reference` (tag or digest). */
int reg_put_manifest(struct reg_client *c, CURL *h, const char *path, const char *reference,
		     const struct hoist_registry_manifest *m, struct hoist_error *err);

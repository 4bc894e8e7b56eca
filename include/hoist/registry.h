/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The OCI distribution client: pull, push, inspect and "exists" against any
 * registry that speaks the distribution API (Docker Hub, GHCR, ECR, Harbor,
 * distribution). Transfers use libcurl easy handles, several blobs at once
 * (a small pool of worker threads, each with its own handle). Every function
 * here joins its threads and finishes its transfers before returning, so a
 * caller may clone() afterwards (STYLE rule 11).
 *
 * Auth comes from the Docker config ($DOCKER_CONFIG/config.json or
 * ~/.docker/config.json: `auths`, `credsStore`, `credHelpers`). TLS is
 * verified against the system CAs plus /etc/docker/certs.d/HOST/ca.crt and
 * opts->tls_ca; plain HTTP is used only for loopback hosts and hosts listed
 * in opts->insecure (see docs/registry.md). Secrets never appear in errors
 * or progress events.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hoist/error.h"
#include "hoist/oci.h"
#include "hoist/store.h"
#include "hoist/util.h"

/* Largest manifest or index accepted from a registry (untrusted input). */
#define HOIST_REGISTRY_MAX_MANIFEST ((size_t)4 << 20)

enum hoist_registry_event {
	HOIST_REGISTRY_EV_START,    /* a blob transfer begins (total = size) */
	HOIST_REGISTRY_EV_BYTES,    /* bytes moved so far (done/total) */
	HOIST_REGISTRY_EV_DONE,	    /* blob transferred and verified */
	HOIST_REGISTRY_EV_EXISTS,   /* already present: skipped (push HEAD, or pull in store) */
	HOIST_REGISTRY_EV_MOUNTED,  /* cross-repository mount succeeded */
	HOIST_REGISTRY_EV_RETRY,    /* a transient failure; `message` says why */
	HOIST_REGISTRY_EV_MANIFEST, /* a manifest or index was fetched or written */
};

struct hoist_registry_progress {
	enum hoist_registry_event event;
	const char *digest;	/* the blob or manifest, never NULL */
	const char *media_type; /* may be "" */
	uint64_t done;		/* bytes so far */
	uint64_t total;		/* size, 0 when unknown */
	const char *message;	/* retry reason etc., or NULL; never holds secrets */
};

/*
 * Progress hook. It is called with an internal lock held, from the calling
 * thread or a worker thread, one call at a time; it must not call back into
 * this module.
 */
typedef void (*hoist_registry_progress_fn)(const struct hoist_registry_progress *p, void *userdata);

/*
 * When a command pulls an image it needs (--pull). Callers that look in
 * the store first (build, chain, stack, run) honour MISSING and ALWAYS;
 * hoist_registry_pull() itself refuses to run under NEVER.
 */
enum hoist_pull_policy {
	HOIST_PULL_MISSING = 0, /* only what is not in the store (default) */
	HOIST_PULL_ALWAYS,	/* ask the registry even for images in the store */
	HOIST_PULL_NEVER,	/* never: an image not in the store is an error */
};

struct hoist_registry_opts {
	/* Hosts ("host" or "host:port") where plain HTTP and unverified TLS are
	 * allowed, NULL-terminated, may be NULL. $HOIST_INSECURE_REGISTRIES
	 * (comma-separated) adds to it. Loopback hosts may always use HTTP. */
	const char *const *insecure;
	const char *tls_ca;	       /* extra PEM CA bundle, or NULL */
	const char *docker_config_dir; /* NULL: $DOCKER_CONFIG, else ~/.docker */
	const char *certs_dir;	       /* NULL: $HOIST_CERTS_DIR, else /etc/docker/certs.d */
	unsigned concurrency;	       /* blobs in flight; 0 means 3 */
	size_t chunk_size;	       /* first PATCH size; 0 means 8 MiB */
	size_t monolithic_max;	       /* blobs up to this go in one PUT; 0 means chunk_size */
	unsigned retries;	       /* per request, for transient errors; 0 means 4 */
	bool all_platforms;	       /* pull: every entry of an index, not one platform */
	/* registries.conf for pulls (docs/airgap.md): NULL reads
	 * $HOIST_REGISTRIES_CONF, else podman's files (hoist_regconf_load). */
	const char *registries_conf;
	/* Never contact a registry: every operation that would fails, naming
	 * the image and where it would have been looked for. $HOIST_OFFLINE
	 * (any value but "" and "0") sets it too. */
	bool offline;
	enum hoist_pull_policy pull;
	hoist_registry_progress_fn progress;
	void *progress_userdata;
};

/* What a pull fetched. */
struct hoist_pull_result {
	char digest[HOIST_DIGEST_MAX];		/* what the reference names (index or manifest) */
	char media_type[128];			/* its media type */
	char manifest_digest[HOIST_DIGEST_MAX]; /* the platform manifest chosen (= digest for a
						   single manifest; "" with all_platforms) */
	char source[512]; /* where it came from: the mirror or location used */
};

/*
 * Pull `ref` ("host/name:tag", "name@sha256:...", Docker's defaults) into
 * the store: the manifest or index, then for the chosen platform (NULL means
 * the host's; all of them with opts->all_platforms) the manifest, config and
 * layers. Blobs already in the store are not fetched. Every manifest and blob
 * is verified against its digest while it streams, through the store's blob
 * writer: a mismatch fails with -EBADMSG and nothing unverified is stored.
 * On success the normalized reference is tagged to the top-level digest and
 * the source repository is remembered for later cross-repository mounts.
 * ret may be NULL.
 *
 * Where it is fetched from follows registries.conf (opts->registries_conf,
 * include/hoist/regconf.h): the mirrors of the matching [[registry]] in
 * order, then its location. A source that cannot be reached or does not
 * have the manifest is passed over for the next; a blocked name is -EACCES
 * naming the rule. An alias or search registry that resolves the name to
 * another one tags that name too. With opts->offline nothing is contacted:
 * -ENETUNREACH naming the image and the sources it would have come from;
 * with opts->pull NEVER, -ENOENT naming the image.
 */
int hoist_registry_pull(struct hoist_store *s, const struct hoist_registry_opts *opts,
			const char *ref, const struct hoist_platform *platform,
			struct hoist_pull_result *ret, struct hoist_error *err);

/*
 * Push a local image to `dest_ref`. `src` is a local name (normalized like a
 * reference and looked up in the tags) or a "sha256:..." digest of a manifest
 * or index in the store. When dest_ref is NULL the image goes to the
 * registry its own name says. Blobs go first (HEAD, then a cross-repository
 * mount when the store knows another repository of that registry holding
 * the blob, else a monolithic or chunked upload), then each child manifest
 * of an index by digest, then the top-level document under the tag: a failed
 * push never leaves a manifest whose blobs are missing. The pushed digest is
 * written to ret_digest (may be NULL).
 */
int hoist_registry_push(struct hoist_store *s, const struct hoist_registry_opts *opts,
			const char *src, const char *dest_ref, char ret_digest[HOIST_DIGEST_MAX],
			struct hoist_error *err);

/*
 * HEAD the manifest `ref` names. Returns 1 when it exists, 0 when the
 * registry answers 404, negative errno on any other failure. The digest
 * (from Docker-Content-Digest, may be "") goes to ret_digest (may be NULL).
 */
int hoist_registry_manifest_exists(const struct hoist_registry_opts *opts, const char *ref,
				   char ret_digest[HOIST_DIGEST_MAX], struct hoist_error *err);

/* A remote manifest or index as the registry serves it. */
struct hoist_registry_manifest {
	char *data; /* exact bytes (NUL-terminated for convenience), owned */
	size_t len;
	char media_type[128];
	char digest[HOIST_DIGEST_MAX]; /* sha256 of data, verified against the reference */
};
void hoist_registry_manifest_release(struct hoist_registry_manifest *m);

/*
 * Fetch the manifest or index `ref` names (verified, bounded by
 * HOIST_REGISTRY_MAX_MANIFEST), without touching any store. Free with
 * hoist_registry_manifest_release().
 */
int hoist_registry_inspect(const struct hoist_registry_opts *opts, const char *ref,
			   struct hoist_registry_manifest *ret, struct hoist_error *err);

/*
 * Fetch a small blob (an image config) of the repository `ref` names,
 * verified, bounded by max. *ret is a new NUL-terminated string.
 */
int hoist_registry_fetch_blob(const struct hoist_registry_opts *opts, const char *ref,
			      const char *digest, size_t max, char **ret, size_t *ret_len,
			      struct hoist_error *err);

/*
 * Log in: check user/password against `registry` (a host, or a URL as
 * Docker accepts) and store them in the Docker config (its credsStore
 * helper when one is configured, else a base64 `auths` entry; the file is
 * written atomically with mode 0600). Logout removes them; -ENOENT when
 * there was nothing to remove.
 */
int hoist_registry_login(const struct hoist_registry_opts *opts, const char *registry,
			 const char *user, const char *password, struct hoist_error *err);
int hoist_registry_logout(const struct hoist_registry_opts *opts, const char *registry,
			  struct hoist_error *err);

/* ---- multi-platform indexes (src/registry/spec.c) -------------------- */

/*
 * Write a manifest or index (its exact bytes, `media_type`) to the registry
 * under `ref` (a tag, or a digest that must equal the bytes' digest). The
 * blobs and child manifests it names must already be in that repository.
 * The digest written goes to ret_digest (may be NULL).
 */
int hoist_registry_put_manifest(const struct hoist_registry_opts *opts, const char *ref,
				const void *data, size_t len, const char *media_type,
				char ret_digest[HOIST_DIGEST_MAX], struct hoist_error *err);

/* Bounds on a manifest-tool spec file (untrusted input). */
#define HOIST_SPEC_MAX_SIZE ((size_t)1 << 20)
#define HOIST_SPEC_MAX_PARTS 256
#define HOIST_SPEC_MAX_TAGS 64

/* One `manifests:` item of a spec. */
struct hoist_spec_part {
	char *image; /* reference of a manifest (or index) already in the registry */
	bool has_platform;
	struct hoist_platform platform; /* normalised; valid when has_platform */
	int line;			/* 1-based line of the item, for messages */
};

/*
 * A manifest-tool YAML spec:
 *
 *   image: registry/name:tag        # the index to write
 *   tags: [v1, v1.0]                # optional extra tags
 *   manifests:
 *     - image: registry/name:tag-arm64
 *       platform: {architecture: arm64, os: linux, variant: v8}
 *
 * `platform` may be left out (it is then read from the image config);
 * unknown keys are ignored, as manifest-tool does.
 */
struct hoist_spec {
	char *image;
	struct hoist_strv tags;
	struct hoist_spec_part *parts;
	size_t n_parts;
};

/*
 * Parse a spec document (at most HOIST_SPEC_MAX_SIZE bytes, at most
 * HOIST_SPEC_MAX_PARTS manifests and HOIST_SPEC_MAX_TAGS tags). `file` names
 * it in errors (line and column are set). *ret is zeroed first; free it with
 * hoist_spec_release() (also after a failure).
 */
int hoist_spec_parse(const char *data, size_t len, const char *file, struct hoist_spec *ret,
		     struct hoist_error *err);
void hoist_spec_release(struct hoist_spec *spec);

/*
 * Join the parts a spec names into one index and push only the index (plus
 * its extra tags): the parts must already be in the spec image's registry.
 * No layer is pulled: each part's manifest is fetched for its digest, size
 * and media type (and its config only when the spec gives no platform). A
 * part that is an index contributes its entries. A part in another
 * repository of the same registry is linked in by cross-repository blob
 * mounts and a PUT of its manifest by digest; another registry is -EXDEV.
 * `fmt` NULL chooses Docker's manifest list when every part is a Docker
 * manifest and no annotation is given, else an OCI index. ret_digest may be
 * NULL.
 */
int hoist_registry_push_spec(const struct hoist_registry_opts *opts, const struct hoist_spec *spec,
			     const enum hoist_index_format *fmt, const char *const *annotations,
			     char ret_digest[HOIST_DIGEST_MAX], struct hoist_error *err);

/* ---- sync lists (src/registry/synclist.c) ---------------------------- */

/* Bounds on a skopeo-style sync list (untrusted input). */
#define HOIST_SYNCLIST_MAX_SIZE ((size_t)1 << 20)
#define HOIST_SYNCLIST_MAX_IMAGES 1000 /* image entries in one list */
#define HOIST_SYNCLIST_MAX_REFS 10000  /* tags of one image, listed or named */
#define HOIST_SYNCLIST_MAX_REGEX 1024
#define HOIST_SYNCLIST_MAX_PAGES 100 /* tag list pages followed by Link */

/* One image of a sync list: named tags/digests, every tag, or a tag regex. */
struct hoist_sync_entry {
	char *repo;		/* "REGISTRY/NAME", normalized by hoist_ref_parse later */
	struct hoist_strv refs; /* "REGISTRY/NAME:TAG" or "@sha256:..." as listed */
	bool all_tags;		/* `NAME: []`: every tag the registry lists */
	char *tag_regex;	/* images-by-tag-regex: POSIX ERE over the tag list, or NULL */
	bool insecure;		/* tls-verify: false for its registry */
	int line;		/* where the image is named, for errors */
};
struct hoist_synclist {
	struct hoist_sync_entry *v;
	size_t n;
};

/*
 * Parse the YAML `skopeo sync --src yaml` reads: a mapping of registry
 * hosts, each with `images` (name -> list of tags or sha256 digests, `[]`
 * for every tag), `images-by-tag-regex` (name -> regex) and `tls-verify`.
 * `credentials`, `cert-dir`, `images-by-semver` and any other key are
 * refused with file:line:column (-EBADMSG), as is anything past the
 * HOIST_SYNCLIST_* bounds. Nothing is contacted. On failure *ret is empty;
 * else free it with hoist_synclist_release().
 */
int hoist_synclist_parse(const char *data, size_t len, const char *file, struct hoist_synclist *ret,
			 struct hoist_error *err);
void hoist_synclist_release(struct hoist_synclist *l);

/*
 * The references a parsed list stands for, appended to ret in list order:
 * named tags as they are, `[]` and regex entries through the registry's
 * tag list (hoist_registry_list_tags). An entry whose regex matches no tag
 * is -ENOENT at its file:line. The caller makes insecure entries' hosts
 * insecure in opts first.
 */
int hoist_synclist_expand(const struct hoist_registry_opts *opts, const struct hoist_synclist *l,
			  const char *file, struct hoist_strv *ret, struct hoist_error *err);

/*
 * The tags of repository `repo` ("host/name"), from /v2/NAME/tags/list and
 * its Link pages (at most HOIST_SYNCLIST_MAX_PAGES pages and
 * HOIST_SYNCLIST_MAX_REFS tags), appended to ret. Under opts->offline it
 * fails without contacting anything. The registry named is asked directly:
 * registries.conf rewrites apply to pulls, not to listing.
 */
int hoist_registry_list_tags(const struct hoist_registry_opts *opts, const char *repo,
			     struct hoist_strv *ret, struct hoist_error *err);

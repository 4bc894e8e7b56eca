/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Chained Dockerfile folders (elementary-robotics/atom's `docker/` layout):
 * a folder holds `NN-Dockerfile-<descriptor>` files, built in numeric order,
 * each `FROM $BASE_IMAGE` of the previous step's result, with optional
 * per-platform args files `<descriptor>-<platform>-args` (one K=V per line)
 * passed as build args. Several folders are stacked in the order given.
 *
 * Every step is an ordinary hoist_build_run() in the same process and store:
 * the previous result is handed to the next step as BASE_IMAGE=<manifest
 * digest>, so nothing goes through a registry between steps, and an
 * unchanged step is a cache hit. See docs/chain.md.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hoist/build.h"
#include "hoist/error.h"
#include "hoist/oci.h"
#include "hoist/store.h"
#include "hoist/util.h"

struct hoist_registry_opts;

/* Bounds on what a folder may hold (untrusted input). */
#define HOIST_CHAIN_MAX_STEPS 256	     /* Dockerfiles per folder */
#define HOIST_CHAIN_MAX_ARGS_FILE (64 << 10) /* bytes of one args file */
#define HOIST_CHAIN_MAX_ARGS 256	     /* K=V lines of one args file */
#define HOIST_CHAIN_MAX_PLATFORMS 16

/* One Dockerfile of a folder. */
struct hoist_chain_step {
	char *folder;		/* the folder as given */
	char *file;		/* "NN-Dockerfile-descriptor" */
	char *path;		/* folder/file */
	char *descriptor;	/* "descriptor" */
	unsigned number;	/* NN */
	char *args_path;	/* folder/descriptor-PLATFORM-args when it exists, else NULL */
	struct hoist_strv args; /* its K=V lines */
};

/*
 * Parse an args file: one K=V per line; blank lines and lines whose first
 * non-blank character is '#' are skipped; leading and trailing blanks of a
 * line are dropped; a value that is exactly "" or '' means the empty string.
 * A line without '=' or with an invalid key is -EBADMSG (file:line in err).
 * Lines are appended to *ret as "K=V" (the caller releases it). Bounded by
 * HOIST_CHAIN_MAX_ARGS_FILE and HOIST_CHAIN_MAX_ARGS.
 */
int hoist_chain_args_parse(const char *data, size_t len, const char *file, struct hoist_strv *ret,
			   struct hoist_error *err);

/*
 * The name Atom's args files use for a platform: "amd64", "aarch64" (for
 * arm64), else the OCI architecture ("arm" plus the variant, e.g. "armv7").
 * Writes at most size bytes.
 */
void hoist_chain_platform_name(const struct hoist_platform *p, char *buf, size_t size);

/*
 * Parse a platform as Atom (amd64, aarch64) or OCI ("linux/arm64") names it.
 */
int hoist_chain_platform_parse(const char *s, struct hoist_platform *ret, struct hoist_error *err);

/*
 * List a folder's steps in numeric order (ties: by file name), with the args
 * file for `platform_name` (hoist_chain_platform_name(); NULL: no args
 * files) read and parsed. Files that do not match `NN-Dockerfile-<descr>`
 * are ignored; two steps with the same number and descriptor cannot exist.
 * An empty folder is -ENOENT. *ret is a new array (hoist_chain_steps_free()).
 */
int hoist_chain_scan(const char *folder, const char *platform_name, struct hoist_chain_step **ret,
		     size_t *ret_n, struct hoist_error *err);
void hoist_chain_steps_free(struct hoist_chain_step *steps, size_t n);

enum hoist_chain_event_kind {
	HOIST_CHAIN_STEP_BEGIN, /* a step is about to build */
	HOIST_CHAIN_STEP_DONE,	/* it built: digest, steps, steps_cached are set */
	HOIST_CHAIN_INDEX,	/* the multi-platform index was written (digest) */
	HOIST_CHAIN_PUSHED,	/* a tag was pushed (ref, digest) */
};

struct hoist_chain_event {
	enum hoist_chain_event_kind kind;
	const struct hoist_chain_step *step; /* BEGIN / DONE */
	const char *platform;		     /* Atom name of the platform being built */
	size_t index, total;		     /* 1-based position in the whole chain */
	const char *digest;		     /* DONE: the step's manifest digest */
	const char *tag;		     /* DONE: the intermediate tag (or NULL); PUSHED: ref */
	int steps, steps_cached;	     /* DONE: Dockerfile steps run / cache hits */
};
typedef void (*hoist_chain_event_fn)(const struct hoist_chain_event *ev, void *userdata);

enum hoist_chain_tag_style {
	/* NAME:chain-<folder>-<NN>-<descriptor>-<platform> (NAME: the repo of tags[0]) */
	HOIST_CHAIN_TAG_CHAIN = 0,
	/* REPO:base-<file>-<folder>-<platform>, as build.sh names them (compat) */
	HOIST_CHAIN_TAG_BUILDSH,
	HOIST_CHAIN_TAG_NONE, /* intermediates are kept by digest only */
};

struct hoist_chain_opts {
	const char *const *folders; /* NULL-terminated, built in this order; required */
	const char *base;	    /* BASE_IMAGE of the first step (a name or digest); required */
	const char *context_dir;    /* NULL: "." */
	/* Platforms to build; none: the host. With several, the final result is
	 * an index of the per-platform chains. */
	const struct hoist_platform *platforms;
	size_t n_platforms;
	const char *const *tags;       /* final names, NULL-terminated, may be NULL */
	const char *const *build_args; /* "K=V" for every step, before the args files */
	const char *const *labels;     /* "K=V" on every step's result */
	enum hoist_chain_tag_style tag_style;
	const char *tag_repo; /* repository for intermediate tags; NULL: that of tags[0] */
	bool no_cache;
	int64_t source_date_epoch; /* as hoist_build_opts (-1: default) */
	bool push;		   /* push every final tag (needs registry); with a production
				      image, the production tags */

	/*
	 * Minimize + production (hoist/minimize.h), one platform only: the
	 * chain's result is minimized onto production_base (a name or digest;
	 * pulled when missing and registry is set), with the extra locations of
	 * the last folder's `minimize-<platform>-args` file if it exists
	 * (ADDITIONAL_LIB_LOCATIONS, ADDITIONAL_FILES, PRODUCTION_PACKAGES:
	 * comma lists, as atom's utilities take them), and tagged
	 * production_tags.
	 */
	const char *production_base;
	const char *const *production_tags;

	/* Passed to every hoist_build_run(). */
	const struct hoist_registry_opts *registry; /* FROM pulls and --push */
	const char *network;
	const char *identity;
	const char *isolation; /* as hoist_build_opts.isolation */
	int output_fd;
	hoist_build_event_fn on_build_event;
	hoist_chain_event_fn on_event;
	void *userdata;
};

/* opts with every field at its default (source_date_epoch = -1). */
void hoist_chain_opts_init(struct hoist_chain_opts *o);

struct hoist_chain_result {
	char digest[HOIST_DIGEST_MAX]; /* final manifest (one platform) or index */
	size_t n_steps;		       /* Dockerfiles built, over all platforms */
	size_t n_rebuilt;	       /* of which at least one step was not a cache hit */
	int steps, steps_cached;       /* Dockerfile steps over the whole chain */
	char production_digest[HOIST_DIGEST_MAX]; /* with production_base, else "" */
	uint64_t source_bytes, production_bytes;  /* compressed layer bytes before / after */
};

/*
 * Build the chain: for each platform, every step of every folder in order,
 * the first FROM opts->base and each later one FROM the previous result's
 * manifest digest (build arg BASE_IMAGE), with the build args of
 * opts->build_args then the step's args file. Intermediate results are
 * tagged as opts->tag_style says. On success the final digest (an index
 * with several platforms) is tagged with opts->tags and, with opts->push,
 * pushed to each of them. On failure err names the Dockerfile and what went
 * wrong; the results of the steps before it stay in the store.
 */
int hoist_chain_build(struct hoist_store *s, const struct hoist_chain_opts *opts,
		      struct hoist_chain_result *ret, struct hoist_error *err);

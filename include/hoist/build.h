/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The build engine: Dockerfile + context -> an image in the store.
 *
 * The engine parses the Dockerfile (hoist/dockerfile.h, hoist/instructions.h),
 * picks the stages the target needs, and runs them step by step. Every step
 * has a cache key (sha256 over the parent key, the platform, the instruction
 * after expansion, and for COPY/ADD the content of exactly the sources it
 * selects); a hit reuses the recorded image state without redoing the step.
 * Each filesystem-changing step writes one layer. Nothing is printed:
 * progress and warnings go through the callback in the options.
 *
 * A stat cache (ROOT/statcache/<sha256 of the context's absolute path>)
 * remembers the sha256 of context files by path, size, mtime, ctime and
 * inode, so a no-op rebuild re-reads no file.
 */

#include <stdbool.h>
#include <stdint.h>

#include "hoist/error.h"
#include "hoist/oci.h"
#include "hoist/store.h"

struct hoist_registry_opts;

enum hoist_build_event_kind {
	HOIST_BUILD_EVENT_STEP,	   /* a step finished (cached or done) */
	HOIST_BUILD_EVENT_WARNING, /* e.g. an unused --build-arg */
	HOIST_BUILD_EVENT_DONE,	   /* the final image is committed */
	HOIST_BUILD_EVENT_LOG,	   /* a sandbox line ("sandbox: identity mode ...") */
	HOIST_BUILD_EVENT_OUTPUT,  /* the tail of a failed RUN's output (text) */
};

struct hoist_build_event {
	enum hoist_build_event_kind kind;
	const char *stage; /* stage name, or its index as text */
	int stage_index;
	int step;	  /* 1-based within the stage (0 is the FROM) */
	int n_steps;	  /* steps in the stage, FROM included */
	const char *text; /* "COPY a.txt /x", a warning, or the final digest */
	bool cached;
	double seconds; /* time the step took */
};

typedef void (*hoist_build_event_fn)(const struct hoist_build_event *ev, void *userdata);

struct hoist_build_opts {
	const char *context_dir; /* required */
	const char *dockerfile;	 /* NULL: CONTEXT/Dockerfile */
	const char *target;	 /* NULL: the last stage */
	const char *const
	    *build_args;	   /* NULL-terminated "K=V" (or "K": from the env), may be NULL */
	const char *const *labels; /* NULL-terminated "K=V" added to the final image */
	const char *const *tags;   /* NULL-terminated names tagged after success */
	const struct hoist_platform *platform; /* NULL: the host */
	bool no_cache; /* do not look up cache records (still writes them) */
	/*
	 * Clamp every timestamp to this epoch (>= 0). -1: use SOURCE_DATE_EPOCH
	 * from the build args, then from the environment, else none.
	 */
	int64_t source_date_epoch;
	hoist_build_event_fn on_event; /* may be NULL */
	void *userdata;

	/* RUN (src/build/run.c, docs/build.md) */
	const char *const *secrets; /* NULL-terminated "id=ID,src=FILE" (--secret) */
	const char *network;	    /* default RUN network: NULL/"host"/"default" or "none" */
	const char *identity;	    /* sandbox identity mode name; NULL: auto */
	/* isolation rung name (auto, sandbox, userns-shared-proc, in-place);
	 * NULL: $HOIST_ISOLATION, else auto (docs/sandbox.md) */
	const char *isolation;
	int output_fd; /* > 0: RUN output is also streamed here */
	/* FROM / COPY --from images missing from the store are pulled with these
	 * options; NULL: never pull. `pull`: check the registry even when the
	 * image is in the store. */
	const struct hoist_registry_opts *registry;
	bool pull;
	/* Layer compression: an enum hoist_layer_compression (0 gzip, 1 zstd),
	 * and its level (0: that compression's default). Every layer of the
	 * result has it, the base's too, also when the steps are cache hits of
	 * a build in another one: the same image a cold build gives (a blob per
	 * layer and compression is made once and remembered; docs/build.md). */
	int compression;
	int compression_level;
};

struct hoist_build_result {
	struct hoist_descriptor manifest; /* the final image's manifest in the store */
	char config_digest[HOIST_DIGEST_MAX];
	int steps;	  /* steps run, FROMs excluded */
	int steps_cached; /* of which cache hits */
};

/* opts with every field at its default (source_date_epoch = -1). */
void hoist_build_opts_init(struct hoist_build_opts *o);

/*
 * Run a build. On success the final image's config and manifest are in the
 * store, *ret is filled, and opts->tags are set (only after everything
 * succeeded: a failed build never leaves a partial tag). On failure err holds
 * "FILE:LINE: what is wrong"; the store may hold new complete blobs and cache
 * records of the steps that succeeded, never a torn blob.
 */
int hoist_build_run(struct hoist_store *s, const struct hoist_build_opts *opts,
		    struct hoist_build_result *ret, struct hoist_error *err);

/* ---- several platforms (src/build/multi.c) ----------------------------- */

/* Largest number of platforms one multi-platform build takes. */
#define HOIST_BUILD_MAX_PLATFORMS 32

struct hoist_build_multi_result {
	struct hoist_descriptor index; /* the index (or manifest list) in the store */
	size_t n;
	/* per platform, in the order given: each image's result */
	struct hoist_build_result images[HOIST_BUILD_MAX_PLATFORMS];
	int steps, steps_cached; /* summed over the platforms */
};

/*
 * Parse a --platform list "linux/amd64,linux/arm64,arm/v7" (each as
 * hoist_platform_parse() normalises it; blanks around commas are allowed)
 * into plats[HOIST_BUILD_MAX_PLATFORMS]. -EINVAL on an empty or bad entry
 * or one given twice (after normalisation), -E2BIG on too many.
 */
int hoist_build_platforms_parse(const char *list, struct hoist_platform *plats, size_t *ret_n,
				struct hoist_error *err);

/*
 * Build the Dockerfile once per platform in `plats` (1 <= n <=
 * HOIST_BUILD_MAX_PLATFORMS, no two equal; opts->platform is ignored), then
 * join the images into an index of format `fmt` (entries labelled with the
 * target platforms, in the order given) and tag it with opts->tags. Each
 * platform sees its own TARGET* args; stages they share (FROM
 * --platform=$BUILDPLATFORM without TARGET* args) are cache hits after the
 * first. Events carry the platform in front of the stage name ("linux/arm64
 * build"); a warning repeated by every platform is passed on once. A
 * failure names the platform; no tag is set then. *ret is filled on success.
 *
 * `jobs` platforms are built at once (0: the number of CPUs; never more
 * than n). With one, they are built one after the other in this process.
 * With more, each platform's build runs in a forked worker process
 * (hoist/worker.h) with its own store handle; the workers' events reach
 * opts->on_event from this process only, and their RUN output (with
 * opts->output_fd > 0) is written there a line at a time with the platform
 * in front ("[linux/arm64] ..."). After a platform fails no other starts;
 * those running finish. Call it with no other thread running (a fork
 * copies only the caller's). With SOURCE_DATE_EPOCH the index is the same
 * whatever `jobs` is.
 *
 * One shared store lock is held from the first build until the index is
 * tagged, so `hoist cache prune` cannot collect the platform images
 * (committed, referenced by no tag yet) meanwhile.
 */
int hoist_build_run_multi(struct hoist_store *s, const struct hoist_build_opts *opts,
			  const struct hoist_platform *plats, size_t n, enum hoist_index_format fmt,
			  unsigned jobs, struct hoist_build_multi_result *ret,
			  struct hoist_error *err);

/*
 * A build event as a worker's message (hoist/worker.h: 6 ints, 2 strings;
 * m->type is left to the caller) and back, for callers that run builds in
 * forked workers. unpack returns -EBADMSG on a message too short or an
 * unknown kind; ev's strings point into m.
 */
struct hoist_worker_msg;
void hoist_build_event_pack(const struct hoist_build_event *ev, struct hoist_worker_msg *m);
int hoist_build_event_unpack(const struct hoist_worker_msg *m, struct hoist_build_event *ev);

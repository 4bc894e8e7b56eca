/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Private to the build module: RUN steps (run.c) through the sandbox, and
 * base images pulled from a registry (remote.c). The engine owns the stage
 * state; these files get what they need through struct run_req and return
 * the step's key, history text and layer.
 */

#include <stdbool.h>
#include <stdint.h>

#include "build-private.h"
#include "hoist/build.h"
#include "hoist/instructions.h"
#include "hoist/oci.h"
#include "hoist/store.h"
#include "hoist/util.h"

/* Per-build RUN state (the identity mapping, detected on the first RUN). */
struct runstate;
void runstate_free(struct runstate *rs);

struct run_mount; /* a parsed --mount */

struct run_req {
	/* filled by the engine */
	const struct hoist_instr *in;
	const char *file; /* Dockerfile name for errors */
	const struct hoist_build_opts *o;
	const struct hoist_platform *plat;
	const char *abs_ctx; /* the context directory (bind mounts) */
	const char *tmpdir;  /* the build's temporary directory */
	unsigned *tmp_counter;
	int64_t sde;			  /* SOURCE_DATE_EPOCH or -1 */
	struct hoist_image *img;	  /* the stage's image; run_exec adds the layer */
	const struct hoist_strv *args;	  /* "K=V": ARG values over Env (stagestate) */
	const struct hoist_strv *argdecl; /* names of the stage's ARGs (history) */
	const char *stage;		  /* stage name for events */
	int stage_index, step, n_steps;

	/* made by run_prepare() */
	char key[HOIST_DIGEST_MAX]; /* the step's cache key */
	char *text;		    /* progress text ("RUN ...") */
	char *history;		    /* created_by, BuildKit's wording */
	struct hoist_strv argv;
	struct hoist_strv env;
	bool net_none;
	struct run_mount *mounts;
	size_t n_mounts;
};

/*
 * Expand the RUN's flags, build argv (SHELL-wrapped shell form, exec form,
 * heredocs), the environment (image Env plus the ARGs in scope), the mounts,
 * the history text, and the cache key over parent_key, the platform, the
 * command, every ARG in scope, the network mode and the mount specs (secret
 * ids only). Fills r's "made by" fields; run_req_release() frees them.
 */
int run_prepare(struct run_req *r, const char *parent_key, struct hoist_error *err);

/*
 * Run the prepared command in the sandbox on r->img's layers and append the
 * resulting layer (possibly empty, as BuildKit 20.10) to r->img. The history
 * entry is the caller's. A non-zero exit status fails with "FILE:LINE: RUN
 * ... exited with status N" after an HOIST_BUILD_EVENT_OUTPUT event carrying
 * the tail of the command's output. *rs is created on first use.
 */
int run_exec(struct hoist_store *s, struct runstate **rs, struct run_req *r,
	     struct hoist_error *err);

void run_req_release(struct run_req *r);

/*
 * A base image `name` (a normalized reference string) that is not in the
 * store, or any with opts->pull: pull it through opts->registry and write
 * the digest the reference names to ret_digest. Without opts->registry,
 * -ENOENT with the not-found message.
 */
int build_pull(struct hoist_store *s, const struct hoist_build_opts *o, const char *name,
	       const struct hoist_platform *plat, char ret_digest[HOIST_DIGEST_MAX],
	       struct hoist_error *err);

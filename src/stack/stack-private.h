/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Between the stack scheduler (sched.c, the parent process) and one image's
 * job (build.c, run inside a forked worker).
 */

#include "hoist/stack.h"

enum stack_job_outcome {
	STACK_JOB_BUILT = 1,
	STACK_JOB_UPTODATE = 2,
};

struct stack_job {
	struct hoist_store *s; /* the worker's own handle */
	const struct hoist_stack_spec *spec;
	/* on_event / userdata: where the job's stack events go (the worker's
	 * forwarder); on_build_event is not used */
	const struct hoist_stack_opts *o;
	size_t i;			/* the image */
	enum hoist_stack_reason reason; /* why the plan builds it */
	const char *tag;
	char *const *hashes; /* input hash of every image */
	/* The digest each image resolved to in this run ("" when not known):
	 * the worker's copy, so the job may fill in its parent's. */
	char (*digests)[HOIST_DIGEST_MAX];
	int log_fd; /* RUN output also goes here (> 0), else -1 */
	hoist_build_event_fn on_build;
	void *build_userdata;
};

/*
 * One image's job: the up-to-date check, its parent in the store (pulled
 * when needed, tagged under its local names), the build, the push. Emits
 * BUILD / BUILT / UPTODATE / PUSHED through j->o->on_event. Returns a
 * stack_job_outcome and fills ret_digest, or a negative errno with err set.
 */
int stack_job_run(const struct stack_job *j, char ret_digest[HOIST_DIGEST_MAX],
		  struct hoist_error *err);

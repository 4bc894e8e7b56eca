/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The build context: a directory filtered by its .dockerignore (or by
 * <Dockerfile>.dockerignore beside the Dockerfile, as BuildKit does).
 */

#include <sys/stat.h>

#include "hoist/error.h"
#include "hoist/ignore.h"

struct hoist_context;

/*
 * Open a context directory. dockerfile (may be NULL) is the Dockerfile's path,
 * used to find "<dockerfile>.dockerignore" first. *ret is new
 * (hoist_context_free()).
 */
int hoist_context_open(const char *dir, const char *dockerfile, struct hoist_context **ret,
		       struct hoist_error *err);
void hoist_context_free(struct hoist_context *ctx);

/* The directory fd of the context root (owned by ctx). */
int hoist_context_dirfd(const struct hoist_context *ctx);
/* The compiled ignore rules, or NULL when there is no ignore file. */
const struct hoist_ignore *hoist_context_ignore(const struct hoist_context *ctx);

/*
 * Visit every kept entry under the root in sorted (byte) order, depth first,
 * with its path relative to the root and its lstat. Directories are visited
 * before their contents. Returning non-zero from fn stops the walk and is
 * returned.
 */
typedef int (*hoist_context_visit_fn)(const char *relpath, const struct stat *st, void *userdata);
int hoist_context_walk(const struct hoist_context *ctx, hoist_context_visit_fn fn, void *userdata,
		       struct hoist_error *err);

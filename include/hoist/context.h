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

/* Bounds on what a walk accepts (paths are also bounded by PATH_MAX). */
#define HOIST_CONTEXT_MAX_DEPTH 256
#define HOIST_CONTEXT_MAX_ENTRIES ((size_t)1 << 22)

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
/* The path of the ignore file in use (as opened), or NULL. */
const char *hoist_context_ignore_path(const struct hoist_context *ctx);

/*
 * Visit every kept entry under the root in sorted (byte) order, depth first,
 * with its path relative to the root and its lstat. Directories are visited
 * before their contents. Returning non-zero from fn stops the walk and is
 * returned.
 */
/*
 * Only entries the ignore file keeps are visited. An excluded directory is
 * skipped whole unless an exception may re-include something below it (see
 * hoist_ignore_descend()); then it is entered, and it is visited itself just
 * before its first kept descendant, as BuildKit sends the parents of files
 * it sends. Symlinks are visited, never followed. The Dockerfile and the
 * ignore file get no special treatment: like BuildKit, they are in the
 * context only when the patterns keep them.
 */
typedef int (*hoist_context_visit_fn)(const char *relpath, const struct stat *st, void *userdata);
int hoist_context_walk(const struct hoist_context *ctx, hoist_context_visit_fn fn, void *userdata,
		       struct hoist_error *err);

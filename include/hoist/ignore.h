/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * .dockerignore matching with Docker's exact semantics (moby/patternmatcher):
 * patterns are cleaned, `!` marks exceptions, `**` spans directories, a
 * pattern matches the path or any parent prefix of it, and the last matching
 * pattern wins.
 */

#include <stdbool.h>
#include <stddef.h>

#include "hoist/error.h"

struct hoist_ignore;

/* Compile patterns (copied). *ret is new; free with hoist_ignore_free(). */
int hoist_ignore_new(const char *const *patterns, size_t n, struct hoist_ignore **ret,
		     struct hoist_error *err);
/*
 * Parse .dockerignore text as Docker's ReadAll does (BOM, comments, blanks,
 * `!` spacing, leading `/`) and compile it. filename is for error positions.
 */
int hoist_ignore_parse(const char *data, size_t len, const char *filename,
		       struct hoist_ignore **ret, struct hoist_error *err);
/* ReadAll alone: the cleaned pattern list (NULL-terminated, hoist_strv_free()). */
int hoist_ignore_read_patterns(const char *data, size_t len, const char *filename, char ***ret,
			       struct hoist_error *err);
void hoist_ignore_free(struct hoist_ignore *ig);

/*
 * Is `path` (slash-separated, relative to the context root, no leading "./")
 * excluded. Returns 1 excluded, 0 kept, negative errno on a bad pattern.
 */
int hoist_ignore_match(const struct hoist_ignore *ig, const char *path);

/* True when some exception could re-include something below an excluded dir. */
bool hoist_ignore_has_exceptions(const struct hoist_ignore *ig);

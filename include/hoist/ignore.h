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

/*
 * Bounds on untrusted input. A line longer than HOIST_IGNORE_MAX_LINE fails
 * as Go's bufio.Scanner does; the others are hoist's own limits.
 */
#define HOIST_IGNORE_MAX_SIZE ((size_t)1 << 20) /* bytes of one ignore file */
#define HOIST_IGNORE_MAX_LINE 65535		/* bytes of one line */
#define HOIST_IGNORE_MAX_PATTERNS 65536		/* patterns in one matcher */
#define HOIST_IGNORE_MAX_PATTERN 4096		/* bytes of one pattern */

enum hoist_ignore_match_flags {
	/*
	 * patternmatcher's deprecated Matches(): a parent directory is only
	 * tried at the depth of the pattern ("a*" vs "ab/c" tries "ab" only).
	 * Without it, hoist_ignore_match*() are MatchesOrParentMatches().
	 */
	HOIST_IGNORE_MATCH_LEGACY = 1 << 0,
};

/*
 * hoist_ignore_match() with flags and an error: path is cleaned like Go's
 * filepath.Clean first ("." never matches). Returns 1 excluded, 0 kept, or
 * -EINVAL with err naming the pattern when a pattern that had to be tried
 * does not compile (patternmatcher compiles lazily, so a bad pattern only
 * fails the paths that reach it).
 */
int hoist_ignore_match_ex(const struct hoist_ignore *ig, const char *path, unsigned flags,
			  struct hoist_error *err);

/*
 * For an excluded directory `dir` (clean, relative): may an exception
 * pattern re-include something below it, so that a walker must enter it?
 * BuildKit's rule: never without exceptions; always when an exception has a
 * wildcard; otherwise when an exception names a path under dir.
 */
bool hoist_ignore_descend(const struct hoist_ignore *ig, const char *dir);

/* Is pattern well-formed for Go's filepath.Match (the check New() makes). */
bool hoist_ignore_pattern_valid(const char *pattern);

/* Go's filepath.Clean (Unix). Returns a new string (free()). */
char *hoist_ignore_clean_path(const char *path);

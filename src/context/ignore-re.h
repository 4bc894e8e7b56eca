/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * A small regular-expression engine for the one job .dockerignore needs:
 * moby/patternmatcher turns each pattern into a Go (RE2 syntax) regexp and
 * matches paths with it, so to be Docker-exact we parse that same regexp text
 * with RE2's rules and run it as a Thompson NFA (linear in the path, no
 * backtracking blow-up on patterns like "a*a*a*a*b").
 *
 * Supported: literals and escapes (\a \f \t \n \r \v, octal, \xHH,
 * punctuation), `.`, `^`, `$`, \A \z \b \B, \Q...\E, classes with ranges,
 * negation, Perl classes (\d \s \w and negations) and POSIX [:name:] groups,
 * `*` and `?` on single atoms, and the one group patternmatcher emits for
 * "**" (any text then a slash, optional). Unicode groups (backslash-p) are
 * rejected as unsupported: a .dockerignore that needs them is not worth a
 * Unicode table.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ire_prog;

/*
 * Compile the regexp text re[0..len). On failure returns -EINVAL and points
 * *ret_reason at a static description (RE2's wording where it has one).
 */
int ire_compile(const char *re, size_t len, struct ire_prog **ret, const char **ret_reason);
void ire_free(struct ire_prog *p);

/*
 * Does the regexp match s[0..e) exactly (as Go's MatchString on a pattern
 * anchored with ^ and $ would) for some e in ends? ends are byte offsets,
 * ascending, each <= len. One pass over s serves every end.
 */
bool ire_match_ends(const struct ire_prog *p, const char *s, size_t len, const size_t *ends,
		    size_t nends);

/* Go's utf8.DecodeRune: invalid input decodes as U+FFFD of width 1. n > 0. */
size_t ire_decode_rune(const char *s, size_t n, uint32_t *ret);
/* UTF-8 encode r (a valid rune) into out; returns the width. */
size_t ire_encode_rune(uint32_t r, char out[4]);

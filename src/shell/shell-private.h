/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Internals of the shell module, shared by shell.c, pattern.c and utf8.c. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hoist/error.h"
#include "hoist/util.h"

#define R_ERROR 0xFFFD
#define R_BOM 0xFEFF

/* Pattern matching costs at most this many thread steps per expansion. */
#define SHELL_MATCH_BUDGET ((uint64_t)64 << 20)

/* Decode one rune like Go's utf8.DecodeRune: bad input is (U+FFFD, 1); len > 0. */
size_t shell_decode_rune(const unsigned char *s, size_t len, int32_t *ret);
/* Encode r (U+FFFD for anything that is not a scalar value); returns the length. */
size_t shell_encode_rune(int32_t r, char out[4]);
/* Go's unicode.IsLetter, IsDigit, IsSpace. */
bool shell_is_letter(int32_t r);
bool shell_is_digit(int32_t r);
bool shell_is_space(int32_t r);

struct shell_match {
	struct hoist_error *err;
	uint64_t budget; /* thread steps left */
};

/*
 * ${V#p} (greedy: ${V##p}), ${V%p} (${V%%p}) and ${V/p/r} (all: ${V//p/r})
 * on value, appended to out (whose cap bounds the result). p is the word
 * with its escapes kept; BuildKit's pattern syntax is `*`, `?` and `\`
 * escapes of `*`, `?`, `\`, `}` and `/`. Errors: -EBADMSG (invalid escape),
 * -E2BIG (out is full, or the step budget is spent), with m->err set.
 */
int shell_trim_prefix(struct shell_match *m, const char *pat, size_t plen, const char *value,
		      size_t vlen, bool greedy, struct hoist_buf *out);
int shell_trim_suffix(struct shell_match *m, const char *pat, size_t plen, const char *value,
		      size_t vlen, bool greedy, struct hoist_buf *out);
int shell_replace(struct shell_match *m, const char *pat, size_t plen, const char *repl,
		  size_t rlen, const char *value, size_t vlen, bool all, struct hoist_buf *out);

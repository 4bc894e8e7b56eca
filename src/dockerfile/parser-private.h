/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Private helpers of the Dockerfile parser. BuildKit is written in Go and
 * its observable behaviour leans on Go's string semantics (UTF-8 decoding
 * with U+FFFD for bad bytes, unicode.IsSpace, strconv.Quote, ...); these
 * helpers reproduce exactly the parts the parser needs.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hoist/dockerfile.h"
#include "hoist/util.h"

#define DF_RUNE_ERROR 0xFFFDu

/* ---- gostr.c: Go string semantics ----------------------------------- */

/* utf8.DecodeRune: an invalid or short sequence gives U+FFFD, width 1. */
uint32_t df_decode_rune(const char *s, size_t len, size_t *ret_width);
/* Append the UTF-8 encoding of r (invalid runes as U+FFFD). */
int df_buf_add_rune(struct hoist_buf *b, uint32_t r);
/* unicode.IsSpace on a rune. */
bool df_rune_is_space(uint32_t r);
/* unicode.IsSpace(rune(c)) on one byte, as BuildKit's byte loops do. */
bool df_byte_is_space(unsigned char c);
/* Byte length of the unicode space rune starting at s, or 0. */
size_t df_space_prefix(const char *s, size_t len);
/* Byte length of the unicode space rune ending at s+len, or 0. */
size_t df_space_suffix(const char *s, size_t len);
/* strings.TrimSpace / TrimLeftFunc(unicode.IsSpace), in place on (s, len). */
void df_trim_space(const char **s, size_t *len);
void df_trim_left_space(const char **s, size_t *len);
/* unicode.IsPrint. */
bool df_rune_is_print(uint32_t r);
/* unicode.IsLetter || unicode.IsDigit, and unicode.IsDigit (approximate
 * beyond ASCII: the C.UTF-8 locale's classes). */
bool df_rune_is_alnum(uint32_t r);
bool df_rune_is_digit(uint32_t r);
/* strings.ToLower into a new NUL-terminated string (caller frees). */
char *df_to_lower(const char *s, size_t len, size_t *ret_len);
/* Append strconv.Quote(s) to out. */
int df_quote(struct hoist_buf *out, const char *s, size_t len);

/* ---- args.c: BuildKit's line parsers -------------------------------- */

struct df_ctx {
	char escape; /* '\\' or '`' */
};

/* A list of argument strings; each may hold NUL bytes (JSON "\u0000"). */
struct df_args {
	char **v;
	size_t *lens;
	size_t n, alloc;
};
void df_args_push(struct df_args *a, const char *s, size_t len);
void df_args_release(struct df_args *a);

/*
 * Parse a JSON array of strings the way BuildKit's parseJSON does (Go's
 * json.Decoder: the first value only, trailing text ignored). Returns 0 and
 * fills *ret on success, -EINVAL when the text is not such a JSON value (the
 * caller falls back to shell form), -EBADMSG when it is valid JSON but holds
 * a non-string element (an error for the user).
 */
int df_parse_json_array(const char *s, size_t len, struct df_args *ret);

/*
 * newNodeFromLine: split `line` into command, flags and arguments and build
 * the instruction node. On error returns a negative errno with a message
 * (no position) in err.
 */
int df_node_from_line(const struct df_ctx *ctx, const char *line, size_t len,
		      struct hoist_df_node **ret, struct hoist_error *err);

/* ---- heredoc.c ------------------------------------------------------ */

/* Can this instruction node carry heredocs (RUN/COPY/ADD, also under ONBUILD, not JSON). */
bool df_node_can_contain_heredoc(const struct hoist_df_node *n);
/*
 * heredocsFromLine: the heredoc words of an instruction line, in order.
 * *ret is an array of *ret_n heredocs with empty content.
 */
int df_heredocs_from_line(const char *line, size_t len, struct hoist_df_heredoc **ret,
			  size_t *ret_n, struct hoist_error *err);

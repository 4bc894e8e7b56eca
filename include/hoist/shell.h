/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Shell-style word expansion as BuildKit's shell.Lex does it for ARG, ENV,
 * FROM, COPY, ADD, WORKDIR, ... ($V, ${V}, ${V:-x}, ${V-x}, ${V:+x}, ${V+x},
 * ${V:?msg}, ${V?msg}, ${V#p}, ${V##p}, ${V%p}, ${V%%p}, ${V/a/b}, ${V//a/b},
 * quotes, escapes, word splitting).
 */

#include <stdbool.h>

#include "hoist/error.h"

/*
 * Variable lookup: return the value of name, or NULL when it is unset. An
 * empty string means "set but empty".
 */
typedef const char *(*hoist_shell_lookup_fn)(const char *name, void *userdata);

enum hoist_shell_flags {
	HOIST_SHELL_RAW_QUOTES = 1 << 0,     /* keep quote characters in the output */
	HOIST_SHELL_SKIP_UNSET_ENV = 1 << 1, /* leave $UNSET references as written */
	/*
	 * Treat quotes as ordinary characters (BuildKit's SkipProcessQuotes);
	 * the escape character and $ are still processed.
	 */
	HOIST_SHELL_SKIP_PROCESS_QUOTES = 1 << 2,
	HOIST_SHELL_RAW_ESCAPES = 1 << 3, /* keep escape characters in the output */
};

/* Default bound on the expanded result (and on each split word). */
#define HOIST_SHELL_MAX_OUTPUT ((size_t)8 << 20)
/* Bound on ${...} nesting, so hostile input cannot exhaust the stack. */
#define HOIST_SHELL_MAX_DEPTH 64

struct hoist_shell {
	char escape;		      /* '\\' or '`'; 0 means '\\' */
	unsigned flags;		      /* enum hoist_shell_flags */
	hoist_shell_lookup_fn lookup; /* NULL: every variable is unset */
	void *userdata;
	size_t max_output; /* 0 means HOIST_SHELL_MAX_OUTPUT */
};

/*
 * Errors (both functions; err gets "failed to process '<word>': <why>"):
 *   -EBADMSG  syntax: unterminated quote or ${, bad substitution, unsupported
 *             modifier, invalid escape in a # % / pattern
 *   -EINVAL   ${V?msg} / ${V:?msg} with V unset (or empty): the message is
 *             "V: msg" (or "V: is not allowed to be unset/empty")
 *   -E2BIG    the result passed max_output, ${ nesting passed
 *             HOIST_SHELL_MAX_DEPTH, or a pattern match took too many steps
 * Input that is not valid UTF-8 is read as Go does: each bad byte becomes
 * U+FFFD where BuildKit's lexer would turn it into one.
 */

/*
 * Expand one word (ProcessWord): the result is one string, no splitting.
 * *ret is new, caller frees; it is written only on success.
 */
int hoist_shell_expand_word(const struct hoist_shell *sh, const char *word, char **ret,
			    struct hoist_error *err);

/*
 * Expand and split into words (ProcessWords): unquoted expansions split on
 * whitespace, quoted ones do not. *ret is a new NULL-terminated vector
 * (hoist_strv_free()).
 */
int hoist_shell_expand_words(const struct hoist_shell *sh, const char *word, char ***ret,
			     struct hoist_error *err);

/* Lookup over a NULL-terminated "K=V" array (the last K wins). userdata is the array. */
const char *hoist_shell_lookup_envp(const char *name, void *userdata);

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
	HOIST_SHELL_SKIP_PROCESS_QUOTES = 1 << 2, /* process neither quotes nor escapes */
};

struct hoist_shell {
	char escape;                 /* '\\' or '`' */
	unsigned flags;              /* enum hoist_shell_flags */
	hoist_shell_lookup_fn lookup;
	void *userdata;
};

/*
 * Expand one word (ProcessWord): the result is one string, no splitting.
 * *ret is new, caller frees.
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

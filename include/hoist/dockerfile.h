/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The Dockerfile parser: text -> a tree of nodes shaped exactly like
 * BuildKit's parser.Node, so that hoist_df_node_dump() prints what Go's
 * Node.Dump() prints. Instruction semantics (typed instructions, flag
 * parsing) live in hoist/instructions.h and work on this tree.
 */

#include <stdbool.h>
#include <stddef.h>

#include "hoist/error.h"
#include "hoist/util.h"

/* Limits on untrusted input. */
#define HOIST_DF_MAX_SIZE ((size_t)8 << 20) /* whole Dockerfile */
#define HOIST_DF_MAX_LINE ((size_t)1 << 20) /* one logical line */
#define HOIST_DF_MAX_INSTRUCTIONS 100000

struct hoist_df_heredoc {
	char *name;	    /* terminator word, quotes removed */
	char *content;	    /* raw body, including the final newline */
	bool expand;	    /* false when the terminator word was quoted */
	bool chomp;	    /* <<- : leading tabs stripped */
	int fd;		    /* N<< , 0 when not given */
	size_t content_len; /* bytes in content (it may hold NUL bytes) */
};

/*
 * One node. For an instruction (a child of the root), `value` is the
 * lower-cased keyword, `next` chains the arguments (each a node whose value
 * is one argument; ONBUILD's `next` holds a nested instruction node in
 * `children[0]`-less form exactly as BuildKit does: next->children[0]).
 * Heredocs hang on the top-level instruction node, also for ONBUILD RUN <<X;
 * the nested ONBUILD instruction shares its parent's start/end lines.
 */
struct hoist_df_node {
	char *value;
	struct hoist_df_node *next;
	struct hoist_df_node **children;
	size_t n_children;
	struct hoist_df_heredoc *heredocs;
	size_t n_heredocs;
	bool json;	/* Attributes["json"]: exec (JSON array) form */
	char *original; /* the logical line as written, continuations joined */
	char **flags;	/* NULL-terminated, may be NULL: "--from=a", ... */
	size_t n_flags;
	int start_line; /* 1-based */
	int end_line;
	char **prev_comment; /* NULL-terminated comment lines just before, or NULL */
	size_t value_len;    /* bytes in value: a JSON "\u0000" puts NUL bytes in it */
	size_t original_len; /* bytes in original */
};

struct hoist_df_directive {
	char *name; /* lower-cased: "syntax", "escape", "check" */
	char *value;
	int line;
};

struct hoist_df_warning {
	char *msg;
	int line;
};

struct hoist_df_ast {
	struct hoist_df_node *root; /* root->children are the instructions */
	char escape;		    /* '\\' or '`' */
	struct hoist_df_directive *directives;
	size_t n_directives;
	struct hoist_df_warning *warnings; /* e.g. empty continuation lines */
	size_t n_warnings;
};

/*
 * Parse a Dockerfile held in memory (need not be NUL-terminated). `filename`
 * is used only in error positions. On success *ret is a new AST the caller
 * frees with hoist_df_ast_free(). Errors are "FILE:LINE: message" in err.
 */
int hoist_df_parse(const char *data, size_t len, const char *filename, struct hoist_df_ast **ret,
		   struct hoist_error *err);
/* Read and parse a file (bounded by HOIST_DF_MAX_SIZE). */
int hoist_df_parse_file(const char *path, struct hoist_df_ast **ret, struct hoist_error *err);

void hoist_df_ast_free(struct hoist_df_ast *ast);
void hoist_df_node_free(struct hoist_df_node *n);

/*
 * Append the BuildKit Node.Dump() text of `n` (an instruction node) to out,
 * without a trailing newline. For the whole file, dump each root child on
 * its own line.
 */
int hoist_df_node_dump(const struct hoist_df_node *n, struct hoist_buf *out);
int hoist_df_ast_dump(const struct hoist_df_ast *ast, struct hoist_buf *out);

/*
 * The JSON AST (jansson json_t *, new reference): escape token, directives,
 * warnings, and per instruction: cmd, flags, args, json form, start/end
 * line, original text, heredocs, and nested ONBUILD instruction.
 */
struct json_t;
struct json_t *hoist_df_ast_to_json(const struct hoist_df_ast *ast);

/*
 * Heredoc helpers exposed for tests, following BuildKit:
 * ParseHeredoc(word) -> name/expand/chomp/fd, or 0 with *ret_is_heredoc false.
 */
int hoist_df_parse_heredoc_word(const char *word, bool *ret_is_heredoc,
				struct hoist_df_heredoc *ret);
void hoist_df_heredoc_release(struct hoist_df_heredoc *h);

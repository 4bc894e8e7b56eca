/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Typed Dockerfile instructions, made from the parser's node tree the way
 * BuildKit's `instructions.Parse` does: per-instruction fields, BFlags-style
 * flag parsing (`--flag=value`, bool flags, unknown flags are errors), and
 * the split into build stages. Words are kept as written: expansion of
 * variables happens later, in the build engine, with the state of the stage
 * at that point (ENV `X=new Y=$X` must see the old X).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hoist/dockerfile.h"
#include "hoist/error.h"
#include "hoist/util.h"

enum hoist_instr_kind {
	HOIST_INSTR_FROM,
	HOIST_INSTR_ARG,
	HOIST_INSTR_ENV,
	HOIST_INSTR_LABEL,
	HOIST_INSTR_COPY,
	HOIST_INSTR_ADD,
	HOIST_INSTR_RUN,
	HOIST_INSTR_WORKDIR,
	HOIST_INSTR_USER,
	HOIST_INSTR_EXPOSE,
	HOIST_INSTR_VOLUME,
	HOIST_INSTR_CMD,
	HOIST_INSTR_ENTRYPOINT,
	HOIST_INSTR_SHELL,
	HOIST_INSTR_STOPSIGNAL,
	HOIST_INSTR_HEALTHCHECK,
	HOIST_INSTR_ONBUILD,
	HOIST_INSTR_MAINTAINER,
};

/* A key with an optional value (ENV, LABEL, ARG). */
struct hoist_kv {
	char *key;
	char *value; /* NULL for `ARG NAME` without a default */
};

/* Heredoc body attached to RUN/COPY/ADD (copied from the node). */
struct hoist_instr_heredoc {
	char *name;
	char *content;
	bool expand;
	bool chomp;
	int fd;
};

struct hoist_healthcheck {
	bool none;		/* HEALTHCHECK NONE: Test = ["NONE"] */
	struct hoist_strv test; /* "CMD"/"CMD-SHELL" followed by the command */
	int64_t interval;	/* nanoseconds, 0 = inherit default */
	int64_t timeout;
	int64_t start_period;
	int64_t start_interval;
	int64_t retries;
	bool has_interval, has_timeout, has_start_period, has_start_interval, has_retries;
};

/*
 * One instruction. Only the fields of its kind are set; the rest stay
 * zero. Strings are owned by the instruction.
 */
struct hoist_instr {
	enum hoist_instr_kind kind;
	const char *keyword; /* "COPY", upper-case, static */
	int line, end_line;
	char *original; /* the line as written (continuations joined) */

	/* FROM */
	char *image;
	char *stage_name; /* lower-cased `AS name`, or NULL */
	char *platform;	  /* --platform, or NULL */

	/* COPY / ADD: sources (at least one unless heredocs) and dest */
	struct hoist_strv srcs;
	char *dest;
	char *from;  /* --from (COPY) */
	char *chown; /* --chown */
	char *chmod; /* --chmod */
	bool link;   /* --link */
	bool parents;
	struct hoist_strv excludes; /* --exclude, repeatable */
	char *checksum;		    /* --checksum (ADD) */
	bool keep_git_dir;	    /* --keep-git-dir (ADD) */

	/* RUN */
	struct hoist_strv mounts; /* --mount, repeatable */
	char *network;
	char *security;

	/* RUN / CMD / ENTRYPOINT / SHELL / VOLUME / EXPOSE / ONBUILD: the words */
	struct hoist_strv args;
	bool json; /* exec (JSON) form */

	/* ENV / LABEL / ARG */
	struct hoist_kv *kvs;
	size_t n_kvs;

	/* WORKDIR / USER / STOPSIGNAL / MAINTAINER: the single argument;
	 * ONBUILD: the trigger's text as written after the keyword */
	char *arg;

	struct hoist_healthcheck health;

	struct hoist_instr_heredoc *heredocs;
	size_t n_heredocs;
};

void hoist_instr_release(struct hoist_instr *i);

/* A build stage: its FROM and the instructions after it. */
struct hoist_stage {
	struct hoist_instr from;
	char *name; /* lower-cased stage name or NULL */
	struct hoist_instr *cmds;
	size_t n_cmds;
};

struct hoist_dockerfile {
	char *filename;
	struct hoist_instr *meta_args; /* ARGs before the first FROM */
	size_t n_meta_args;
	struct hoist_stage *stages;
	size_t n_stages;
	char escape;
};

/*
 * Turn one instruction node (a child of the AST root) into *ret, which the
 * caller releases with hoist_instr_release(). Errors are "FILE:LINE: ..."
 * (filename may be NULL).
 */
int hoist_instr_parse(const struct hoist_df_node *node, const char *filename,
		      struct hoist_instr *ret, struct hoist_error *err);

/*
 * Parse every instruction and split the file into stages as BuildKit does:
 * only ARG may precede the first FROM ("no build stage in current context"
 * otherwise), stage names must be unique and valid. *ret is new
 * (hoist_dockerfile_free()).
 */
int hoist_dockerfile_from_ast(const struct hoist_df_ast *ast, const char *filename,
			      struct hoist_dockerfile **ret, struct hoist_error *err);
void hoist_dockerfile_free(struct hoist_dockerfile *df);

/* Index of the stage named `name` (case-insensitive), or -1. */
int hoist_dockerfile_find_stage(const struct hoist_dockerfile *df, const char *name);

/*
 * Go's time.ParseDuration ("1m30s", "1.5h", "300ms", "-2us") into
 * nanoseconds. -EINVAL on junk, -ERANGE on overflow.
 */
int hoist_parse_duration(const char *s, int64_t *ret_ns);
/* Go's Duration.String() ("1m0s", "1.5s", "0s"). */
void hoist_format_duration(int64_t ns, char *buf, size_t size);

/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The thin CLI: main.c dispatches to one file per command. Commands parse
 * their options, call the library, and are the only code that prints.
 * Exit status: 0 success, 1 operation failed, 2 usage error.
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "hoist/error.h"

enum {
	HOIST_EXIT_OK = 0,
	HOIST_EXIT_FAIL = 1,
	HOIST_EXIT_USAGE = 2,
};

struct hoist_command {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv); /* argv[0] is the command name */
};

/* Global options parsed by main() before the command. */
struct hoist_global_opts {
	const char *root; /* --root DIR, or NULL (then HOIST_ROOT, then the default) */
	bool debug;
};
extern struct hoist_global_opts hoist_global;

/* Print "hoist: <formatted error>" to stderr and return HOIST_EXIT_FAIL. */
int cli_fail(const struct hoist_error *err);
/* Print "hoist CMD: message" plus a hint to run --help; return HOIST_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * For getopt_long() commands: print one line, "hoist CMD: unknown option
 * 'ARG'" (or "option 'ARG' needs a value" when missing_value), then the
 * options that exist, from longopts and their short letters in shortopts,
 * with hint (or NULL) in between; return HOIST_EXIT_USAGE.
 */
struct option;
int cli_unknown_option(const char *cmd, const char *arg, bool missing_value,
		       const struct option *longopts, const char *shortopts, const char *hint);
/* True when argv[i] is -h or --help. */
bool cli_is_help(const char *arg);
/*
 * An option with a value at argv[*i]: "--name VALUE", "--name=VALUE", or
 * "SHORT VALUE" when shortname is non-NULL. Returns 1 and sets *ret_value
 * (advancing *i past a separate value), 0 when argv[*i] is another option,
 * -1 when the value is missing.
 */
int cli_opt_value(int argc, char **argv, int *i, const char *longname, const char *shortname,
		  const char **ret_value);

int cmd_dockerfile(int argc, char **argv);
int cmd_context(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_save(int argc, char **argv);
int cmd_load(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_build(int argc, char **argv);
int cmd_images(int argc, char **argv);
int cmd_tag(int argc, char **argv);
int cmd_rmi(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_cache(int argc, char **argv);

/* Store helpers for commands (cli-store.c). */
struct hoist_store;
/* Open the store at --root / $HOIST_ROOT / the default; prints and returns NULL on error. */
struct hoist_store *cli_store_open(void);
/* 4.26MB, as Docker prints sizes (decimal units, 3 significant digits). */
void cli_human_size(uint64_t bytes, char *buf, size_t size);
/* "2 hours ago", as Docker prints ages. */
void cli_human_since(int64_t seconds, char *buf, size_t size);

/* ---- registry commands (registry_opts.c, cmd_pull.c, cmd_push.c, ...) ---- */
#include "hoist/registry.h"
#include "hoist/util.h"

struct cli_progress_row {
	char digest[HOIST_DIGEST_MAX];
	char state[16];
	uint64_t done, total;
};
/* Options every registry command takes, and its progress display. */
struct cli_registry {
	struct hoist_registry_opts opts;
	struct hoist_strv insecure;
	const char *progress_mode; /* plain, tty, quiet, auto */
	bool tty;
	struct cli_progress_row *rows;
	size_t n_rows, drawn;
	double last_draw;
};
void cli_registry_init(struct cli_registry *r);
void cli_registry_release(struct cli_registry *r);
/* Consume argv[*i] (and its value) when it is a registry option: 1 taken,
 * 0 not ours, -1 after printing a usage error. */
int cli_registry_arg(struct cli_registry *r, const char *cmd, int argc, char **argv, int *i);
/* Options ready for the library (progress hook installed). */
const struct hoist_registry_opts *cli_registry_finish(struct cli_registry *r);
/* Final redraw of the progress table. */
void cli_registry_done(struct cli_registry *r);
const char *cli_registry_options_help(void);
/*
 * --pull[=never|missing|always] at argv[*i] (build, run, chain, stack):
 * alone it means always, as buildx's boolean; a separate value is taken
 * only when it is one of the words. 1 taken, 0 not ours, -1 after a usage
 * error.
 */
int cli_pull_arg(struct cli_registry *r, const char *cmd, int argc, char **argv, int *i);
/*
 * --cache-from SPEC / --cache-to SPEC at argv[*i] (build, chain, stack):
 * parsed into from[]/to[] (at most CLI_MAX_CACHE each). 1 taken, 0 not
 * ours, -1 after a usage error. Release with cli_cache_specs_release().
 */
#define CLI_MAX_CACHE 8
struct hoist_cache_spec;
struct cli_cache {
	struct hoist_cache_spec *from, *to; /* CLI_MAX_CACHE each */
	size_t n_from, n_to;
};
void cli_cache_init(struct cli_cache *c);
int cli_cache_arg(struct cli_cache *c, const char *cmd, int argc, char **argv, int *i);
void cli_cache_release(struct cli_cache *c);
#define CLI_CACHE_HELP                                                                             \
	"  --cache-from SPEC       also look steps up in a cache (repeatable):\n"                  \
	"                          type=registry,ref=REF, REF, type=local,src=DIR\n"               \
	"  --cache-to SPEC         export the step records: type=registry,ref=REF\n"               \
	"                          [,mode=min|max], type=local,dest=DIR, type=inline\n"

/* Open the store (--root etc.); prints and returns NULL on error. */
struct hoist_store *cli_registry_store_open(void);

int cmd_pull(int argc, char **argv);
int cmd_push(int argc, char **argv);
int cmd_login(int argc, char **argv);
int cmd_logout(int argc, char **argv);
int cmd_manifest(int argc, char **argv);
int cmd_sync(int argc, char **argv);
int cmd_minimize(int argc, char **argv);
int cmd_chain(int argc, char **argv);
int cmd_stack(int argc, char **argv);
/* `hoist inspect docker://REF [--raw] [--platform P]`; argv as cmd_inspect's. */
int cli_inspect_remote(int argc, char **argv);

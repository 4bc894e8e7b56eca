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
/* True when argv[i] is -h or --help. */
bool cli_is_help(const char *arg);

int cmd_dockerfile(int argc, char **argv);
int cmd_context(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_save(int argc, char **argv);
int cmd_load(int argc, char **argv);
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
/* `hoist inspect docker://REF [--raw] [--platform P]`; argv as cmd_inspect's. */
int cli_inspect_remote(int argc, char **argv);

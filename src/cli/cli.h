/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The thin CLI: main.c dispatches to one file per command. Commands parse
 * their options, call the library, and are the only code that prints.
 * Exit status: 0 success, 1 operation failed, 2 usage error.
 */

#include <stdbool.h>
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

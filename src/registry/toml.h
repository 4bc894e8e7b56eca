/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * A reader for the subset of TOML that registries.conf files use (Debian 12
 * packages no C TOML library): comments, `[table]` and `[[array.of.tables]]`
 * headers with bare dotted names, `key = value` with bare or quoted keys, and
 * values that are basic or literal strings, booleans, or arrays of strings
 * (which may span lines). Everything else (numbers, dates, inline tables,
 * multi-line strings, dotted keys) is refused with "FILE:LINE:COL: what is
 * wrong", never guessed at. Input is bounded (TOML_MAX_*).
 */

#include <stdbool.h>
#include <stddef.h>

#include "hoist/error.h"

#define TOML_MAX_SIZE ((size_t)1 << 20) /* bytes in one file */
#define TOML_MAX_LINE 4096		/* bytes in one line */
#define TOML_MAX_TABLES 1024		/* table headers in one file */
#define TOML_MAX_ARRAY 256		/* items in one array */
#define TOML_MAX_KEYS 4096		/* keys in one table */

enum toml_type { TOML_STRING, TOML_BOOL, TOML_ARRAY };

struct toml_value {
	enum toml_type type;
	const char *str;    /* TOML_STRING */
	bool b;		    /* TOML_BOOL */
	char *const *items; /* TOML_ARRAY: n strings */
	size_t n;
};

/*
 * What the reader found, in file order. `table` gets the header's dotted
 * name ("registry.mirror") and whether it was `[[...]]`; keys before any
 * header belong to the root table (name ""). A callback returning < 0 stops
 * the parse with that value (it sets err itself, usually with the line).
 * Values and names are only valid during the call.
 */
struct toml_handler {
	int (*table)(void *ud, const char *name, bool array, int line, struct hoist_error *err);
	int (*keyval)(void *ud, const char *key, const struct toml_value *v, int line,
		      struct hoist_error *err);
};

/* Parse data (len bytes, need not be NUL-terminated); `file` names it in errors. */
int toml_parse(const char *data, size_t len, const char *file, const struct toml_handler *h,
	       void *ud, struct hoist_error *err);

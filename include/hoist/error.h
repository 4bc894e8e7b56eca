/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Errors. Every fallible function returns an int: >= 0 on success, a
 * negative errno on failure (-EBADMSG for malformed input or a digest
 * mismatch, -EPROTO for a registry protocol violation). Where the user needs
 * context, the function also takes a caller-owned `struct hoist_error *err`
 * (may be NULL) and fills it. The message buffer is fixed-size so that the
 * error path never allocates. Callers add context on the way up with
 * hoist_error_prefix(). Only the CLI prints.
 */

#include <stdarg.h>
#include <stddef.h>

#define HOIST_ERROR_MSG_MAX 1024
#define HOIST_ERROR_FILE_MAX 512

struct hoist_error {
	int code;			 /* negative errno, 0 when unset */
	char file[HOIST_ERROR_FILE_MAX]; /* input file the error is about, or "" */
	int line;			 /* 1-based line in file, 0 when unknown */
	int column;			 /* 1-based column, 0 when unknown */
	int http_status;		 /* HTTP status of a failed request, or 0 */
	char msg[HOIST_ERROR_MSG_MAX];	 /* lower-case, no trailing full stop */
};

/* Reset err to "no error". err may be NULL. */
void hoist_error_clear(struct hoist_error *err);

/*
 * Record an error and return `code` (a negative errno) so callers can write
 * `return hoist_error_set(err, -EINVAL, "bad thing '%s'", x);`. err may be
 * NULL. The message is formatted like printf.
 */
int hoist_error_set(struct hoist_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int hoist_error_setv(struct hoist_error *err, int code, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Same, with a position in an input file (file may be NULL, line/col 0). */
int hoist_error_set_at(struct hoist_error *err, int code, const char *file, int line, int column,
		       const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/*
 * Add context in front of the existing message ("pulling 'x': <old>").
 * Returns err->code (or -EIO if err was never set), so a caller can write
 * `return hoist_error_prefix(err, "copying '%s'", p);`.
 */
int hoist_error_prefix(struct hoist_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Format the error for a user: "FILE:LINE:COL: message" (position parts are
 * left out when unknown). Writes at most size bytes including the NUL.
 */
void hoist_error_format(const struct hoist_error *err, char *buf, size_t size);

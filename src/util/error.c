/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hoist/error.h"

void hoist_error_clear(struct hoist_error *err)
{
	if (!err)
		return;
	err->code = 0;
	err->file[0] = '\0';
	err->line = 0;
	err->column = 0;
	err->http_status = 0;
	err->msg[0] = '\0';
}

int hoist_error_setv(struct hoist_error *err, int code, const char *fmt, va_list ap)
{
	if (code >= 0)
		code = -EIO;
	if (!err)
		return code;
	hoist_error_clear(err);
	err->code = code;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	return code;
}

int hoist_error_set(struct hoist_error *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	code = hoist_error_setv(err, code, fmt, ap);
	va_end(ap);
	return code;
}

int hoist_error_set_at(struct hoist_error *err, int code, const char *file, int line, int column,
		       const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	code = hoist_error_setv(err, code, fmt, ap);
	va_end(ap);
	if (err) {
		if (file)
			snprintf(err->file, sizeof(err->file), "%s", file);
		err->line = line;
		err->column = column;
	}
	return code;
}

int hoist_error_prefix(struct hoist_error *err, const char *fmt, ...)
{
	char prefix[HOIST_ERROR_MSG_MAX];
	char old[HOIST_ERROR_MSG_MAX];
	va_list ap;

	if (!err)
		return -EIO;
	if (err->code >= 0)
		err->code = -EIO;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	/* Compose by hand: truncation of a long message is intended here. */
	{
		size_t n = strnlen(prefix, sizeof(err->msg) - 1);
		memcpy(err->msg, prefix, n);
		if (old[0] && n + 2 < sizeof(err->msg)) {
			size_t m = strnlen(old, sizeof(err->msg) - n - 3);
			memcpy(err->msg + n, ": ", 2);
			memcpy(err->msg + n + 2, old, m);
			n += 2 + m;
		}
		err->msg[n] = '\0';
	}
	return err->code;
}

void hoist_error_format(const struct hoist_error *err, char *buf, size_t size)
{
	const char *msg;

	if (!size)
		return;
	msg = err->msg[0] ? err->msg : strerror(err->code < 0 ? -err->code : EIO);
	if (err->file[0] && err->line > 0 && err->column > 0)
		snprintf(buf, size, "%s:%d:%d: %s", err->file, err->line, err->column, msg);
	else if (err->file[0] && err->line > 0)
		snprintf(buf, size, "%s:%d: %s", err->file, err->line, msg);
	else if (err->file[0])
		snprintf(buf, size, "%s: %s", err->file, msg);
	else
		snprintf(buf, size, "%s", msg);
}

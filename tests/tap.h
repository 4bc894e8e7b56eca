/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * A tiny TAP producer for unit tests. A test that cannot run calls
 * tap_skip_all(reason): it exits 77 (meson's "skipped"), or 1 when
 * HOIST_TEST_NO_SKIP is set, as CI does, so that nothing is silently skipped.
 */

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

static int tap_n;
static int tap_failed;

static inline void tap_plan_auto(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
}

static inline __attribute__((format(printf, 2, 3))) bool tap_ok(bool cond, const char *fmt, ...)
{
	va_list ap;
	tap_n++;
	printf("%s %d - ", cond ? "ok" : "not ok", tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!cond)
		tap_failed++;
	return cond;
}

static inline __attribute__((format(printf, 1, 2))) void tap_diag(const char *fmt, ...)
{
	va_list ap;
	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static inline int tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

static inline __attribute__((noreturn)) void tap_skip_all(const char *reason)
{
	if (getenv("HOIST_TEST_NO_SKIP")) {
		printf("Bail out! skipped in CI: %s\n", reason);
		exit(1);
	}
	printf("1..0 # SKIP %s\n", reason);
	exit(77);
}

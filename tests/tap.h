/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * A tiny TAP producer for unit tests. A test that cannot run calls
 * tap_skip_all(reason): the plan "1..0 # SKIP reason" and exit 0, which meson
 * reports as skipped, or a bail-out and exit 1 when HOIST_TEST_NO_SKIP is
 * set, as CI does, so that nothing is silently skipped. (Not exit 77: that
 * is the skip of meson's exitcode protocol; Debian 12's meson 1.0 calls a
 * TAP test that exits 77 an ERROR.)
 */

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
	exit(0);
}

/*
 * tap_corpora(need): $HOIST_CORPORA, the test corpora (tests/corpora, or the
 * copy meson was set up with -Dcorpora=DIR), once NEED, a path inside it,
 * was found there. When it was not, the test cannot run: tap_skip_all, with
 * the path and why. Call it for each input before the first tap_ok. The
 * string is the environment's: do not free it.
 */
static inline const char *tap_corpora(const char *need)
{
	const char *dir = getenv("HOIST_CORPORA");
	char reason[4096];
	struct stat st;

	if (!dir || !*dir)
		tap_skip_all("HOIST_CORPORA is not set");
	snprintf(reason, sizeof(reason), "%s/%s", dir, need);
	if (stat(reason, &st) < 0) {
		int e = errno;
		snprintf(reason, sizeof(reason), "corpus '%s/%s': %s", dir, need, strerror(e));
		tap_skip_all(reason);
	}
	return dir;
}

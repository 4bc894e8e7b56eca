/* SPDX-License-Identifier: Apache-2.0 */
/* hoist_build_platforms_parse: the --platform list of a multi-platform build. */
#include <errno.h>
#include <string.h>

#include "../tap.h"
#include "hoist/build.h"

static void one(const char *list, int want_rc, const char *want)
{
	struct hoist_platform p[HOIST_BUILD_MAX_PLATFORMS];
	struct hoist_error err = {0};
	char got[1024] = "", ps[96];
	size_t n = 0;
	int rc = hoist_build_platforms_parse(list, p, &n, &err);
	if (rc == 0)
		for (size_t i = 0; i < n; i++) {
			hoist_platform_format(&p[i], ps, sizeof(ps));
			if (i)
				strncat(got, " ", sizeof(got) - strlen(got) - 1);
			strncat(got, ps, sizeof(got) - strlen(got) - 1);
		}
	if (!tap_ok(rc == want_rc && (rc < 0 || strcmp(got, want) == 0), "'%s' -> %d '%s'", list,
		    rc, rc < 0 ? err.msg : got))
		tap_diag("want %d '%s'", want_rc, want);
}

int main(void)
{
	char big[HOIST_BUILD_MAX_PLATFORMS * 16 + 64] = "";
	tap_plan_auto();
	one("linux/amd64", 0, "linux/amd64");
	one("linux/amd64,linux/arm64,linux/arm/v7", 0, "linux/amd64 linux/arm64 linux/arm/v7");
	one("x86_64, aarch64 ,armhf", 0, "linux/amd64 linux/arm64 linux/arm/v7");
	one("linux/arm64/v8,linux/riscv64,linux/ppc64le,linux/s390x,linux/arm/v6", 0,
	    "linux/arm64 linux/riscv64 linux/ppc64le linux/s390x linux/arm/v6");
	one("linux/arm64,aarch64", -EINVAL, "");
	one("linux/amd64,", -EINVAL, "");
	one(",linux/amd64", -EINVAL, "");
	one("linux/amd64,,linux/arm64", -EINVAL, "");
	one("", -EINVAL, "");
	one("linux/amd64,no/such/thing/x", -EINVAL, "");
	/* one more than the limit, all different (variants v0..v32 of arm) */
	for (int i = 0; i <= HOIST_BUILD_MAX_PLATFORMS; i++) {
		char e[16];
		snprintf(e, sizeof(e), "%slinux/arm/v%d", i ? "," : "", i + 1);
		strncat(big, e, sizeof(big) - strlen(big) - 1);
	}
	one(big, -E2BIG, "");
	return tap_done();
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for registries.conf: the input is one file's text, parsed
 * twice into one configuration (as a main file and a drop-in that
 * replaces its tables), then a few names of every shape are resolved
 * against it. Resolution must succeed or fail cleanly, and every source it
 * returns must be a non-empty reference.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hoist/regconf.h"
#include "hoist/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = {
    "busybox",
    "debian:bookworm",
    "opensuse/leap",
    ("docker.io/library/alpine@sha256:0123456789abcdef0123456789abcdef0123456789abcdef"
     "0123456789abcdef"),
    "a.example.com/ns/repo:tag",
    "127.0.0.1:5000/x/y",
    "localhost/z",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hoist_regconf c;
	struct hoist_error err;

	hoist_regconf_init(&c);
	if (hoist_regconf_parse(&c, (const char *)data, size, "a.conf", &err) == 0)
		(void)hoist_regconf_parse(&c, (const char *)data, size, "b.conf", &err);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct hoist_pull_plan p;
		if (hoist_regconf_plan(&c, names[i], &p, &err) == 0) {
			for (size_t k = 0; k < p.n; k++)
				if (!p.v[k].ref || !*p.v[k].ref || !p.v[k].name)
					abort();
			free(hoist_pull_plan_describe(&p));
		}
		hoist_pull_plan_release(&p);
	}
	hoist_regconf_release(&c);
	return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for manifest-tool YAML specs (`hoist manifest push
 * --from-spec`). Any input either parses into a spec whose invariants hold
 * (an image, 1..HOIST_SPEC_MAX_PARTS parts each with an image, platforms
 * that format back to a parseable string) or fails with an error message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hoist/oci.h"
#include "hoist/registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hoist_spec spec;
	struct hoist_error err = {0};

	if (hoist_spec_parse((const char *)data, size, "fuzz.yml", &spec, &err) == 0) {
		if (!spec.image || spec.n_parts == 0 || spec.n_parts > HOIST_SPEC_MAX_PARTS ||
		    spec.tags.n > HOIST_SPEC_MAX_TAGS)
			abort();
		for (size_t i = 0; i < spec.n_parts; i++) {
			if (!spec.parts[i].image || spec.parts[i].line < 1)
				abort();
			if (spec.parts[i].has_platform) {
				char buf[128];
				struct hoist_platform p;
				hoist_platform_format(&spec.parts[i].platform, buf, sizeof(buf));
				if (hoist_platform_parse(buf, &p, NULL) != 0 ||
				    !hoist_platform_equal(&p, &spec.parts[i].platform))
					abort();
			}
		}
	} else if (!err.msg[0]) {
		abort();
	}
	hoist_spec_release(&spec);
	return 0;
}

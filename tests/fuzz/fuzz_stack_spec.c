/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for datahub stack specs (`hoist stack`) and change_ignore.json.
 * Any input either parses into a spec whose invariants hold (at most
 * HOIST_STACK_MAX_IMAGES images, each with an image_name; parents resolved;
 * `order` a permutation with every parent before its children) or fails
 * with an error message. A plan over it with an arbitrary change list never
 * crashes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hoist/stack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hoist_stack_spec spec;
	struct hoist_error err = {0};

	if (hoist_stack_spec_parse((const char *)data, size, "fuzz.yml", &spec, &err) == 0) {
		size_t n = spec.n_images;
		if (n > HOIST_STACK_MAX_IMAGES)
			abort();
		char *seen = calloc(n ? n : 1, 1);
		for (size_t k = 0; k < n; k++) {
			size_t i = spec.order[k];
			const struct hoist_stack_image *img = &spec.images[i];
			if (i >= n || seen[i] || !img->name || !img->image_name)
				abort();
			if (img->parent != SIZE_MAX && (img->parent >= n || !seen[img->parent]))
				abort();
			seen[i] = 1;
		}
		free(seen);
		struct hoist_strv changed = HOIST_STRV_INIT;
		hoist_strv_push(&changed, n ? spec.images[0].name : "x");
		hoist_strv_push(&changed, "spec.yml");
		struct hoist_stack_plan plan;
		if (hoist_stack_plan(&spec, &changed, NULL, &plan, &err) == 0)
			hoist_stack_plan_release(&plan);
		hoist_strv_release(&changed);
	} else if (err.msg[0] == '\0') {
		abort();
	}
	hoist_stack_spec_release(&spec);

	/* The same bytes as change_ignore.json. */
	memset(&spec, 0, sizeof(spec));
	hoist_stack_change_ignore_parse((const char *)data, size, "fuzz.json", &spec, &err);
	hoist_stack_spec_release(&spec);
	return 0;
}

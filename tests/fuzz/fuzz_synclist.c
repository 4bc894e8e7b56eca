/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for skopeo-style sync lists (`hoist sync yaml:FILE`). Any
 * input either parses into a list whose invariants hold (1..MAX images,
 * each with a repository, a line, and either named references, every tag
 * or a regex) or fails with an error message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hoist/registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hoist_synclist l;
	struct hoist_error err = {0};

	if (hoist_synclist_parse((const char *)data, size, "fuzz.yml", &l, &err) == 0) {
		if (l.n == 0 || l.n > HOIST_SYNCLIST_MAX_IMAGES)
			abort();
		for (size_t i = 0; i < l.n; i++) {
			const struct hoist_sync_entry *e = &l.v[i];
			if (!e->repo || e->line < 1 || e->refs.n > HOIST_SYNCLIST_MAX_REFS)
				abort();
			if ((e->refs.n > 0) + e->all_tags + (e->tag_regex != NULL) != 1)
				abort();
			for (size_t j = 0; j < e->refs.n; j++)
				if (strncmp(e->refs.v[j], e->repo, strlen(e->repo)) != 0)
					abort();
		}
	} else if (!err.msg[0]) {
		abort();
	}
	hoist_synclist_release(&l);
	return 0;
}

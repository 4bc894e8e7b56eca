/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for image references. The input is one reference string (cut
 * at the first NUL). A parsed reference must print back to a string that
 * parses to the same fields (normalization is idempotent), and its familiar
 * form must parse to the same reference too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hoist/ref.h"
#include "hoist/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

static void check_same(const struct hoist_ref *a, const char *s)
{
	struct hoist_ref b;
	if (hoist_ref_parse(s, &b, NULL) != 0)
		abort();
	if (!same(a->domain, b.domain) || !same(a->path, b.path) || !same(a->tag, b.tag) ||
	    !same(a->digest, b.digest))
		abort();
	hoist_ref_release(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hoist_ref r;
	char *s = hoist_xstrndup((const char *)data, size);

	if (hoist_ref_parse(s, &r, NULL) == 0) {
		char *full = hoist_ref_string(&r);
		char *fam = hoist_ref_familiar(&r);
		char *repo = hoist_ref_repository(&r);
		check_same(&r, full);
		check_same(&r, fam);
		free(full);
		free(fam);
		free(repo);
		hoist_ref_release(&r);
	}
	free(s);
	return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for WWW-Authenticate challenges (src/registry/auth.c), the
 * header a registry (or anything answering in its name) sends with a 401.
 * The input is one header value; a Bearer challenge must give a realm, a
 * Basic one neither realm nor service. No request is made.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hoist/util.h"
#include "registry-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reg_client c;
	char *value = hoist_xstrndup((const char *)data, size);

	memset(&c, 0, sizeof(c));
	if (reg_parse_challenge(&c, value) == 0) {
		if (c.scheme == REG_AUTH_BEARER && !c.realm)
			abort();
		if (c.scheme == REG_AUTH_BASIC && (c.realm || c.service))
			abort();
		/* A second challenge replaces the first (a token refresh). */
		reg_parse_challenge(&c, value);
	}
	free(c.realm);
	free(c.service);
	free(value);
	return 0;
}

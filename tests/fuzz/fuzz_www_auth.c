/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for WWW-Authenticate challenges (src/registry/auth.c), the
 * header a registry (or anything answering in its name) sends with a 401.
 * The input is one header value; a Bearer challenge must give a realm, a
 * Basic one neither realm nor service. Without escapes in the value, the
 * realm must be one whole value of it (not cut short: a realm over the
 * 4 KiB bound is refused, it used to be truncated). No request is made.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hoist/util.h"
#include "registry-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* v occurs in s ending where a value ends: a quote, ',', ' ' or the end. */
static bool whole_value(const char *s, const char *v)
{
	size_t n = strlen(v);
	for (const char *p = s; (p = strstr(p, v)); p++)
		if (p[n] == '\0' || p[n] == '"' || p[n] == ',' || p[n] == ' ')
			return true;
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reg_client c;
	char *value = hoist_xstrndup((const char *)data, size);

	memset(&c, 0, sizeof(c));
	if (reg_parse_challenge(&c, value) == 0) {
		if (c.scheme == REG_AUTH_BEARER && !c.realm)
			abort();
		if (c.realm && !strchr(value, '\\') && !whole_value(value, c.realm))
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
